"""START's options of contract 1.2: entry_point, run_as_me, stop_after and
kill_after reach StartJobs as the v20 definition types them (EntryPointPath,
RunAsMe, StopProcessExpression and KillProcessExpression, the last two as
decimal strings), absent ones are not sent, and bad values are refused
before anything is sent."""

import json

from itest import *  # noqa: F401,F403
from t_edge_input import refused_with_no_call


def start_info(env):
    return json.loads([e for e in env.fake.log if e["endpoint"] == "start"][-1]["body"])["startInfo"]


OPTIONS = ("EntryPointPath", "RunAsMe", "StopProcessExpression", "KillProcessExpression")


@test
def start_options_reach_startjobs(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask(start_json(process="P", entry_point="Flows/Ünicode Main.xaml", run_as_me=True,
                             stop_after=3600, kill_after=60)))
    si = start_info(env)
    assert si["EntryPointPath"] == "Flows/Ünicode Main.xaml", si
    assert si["RunAsMe"] is True, si
    assert si["StopProcessExpression"] == "3600" and si["KillProcessExpression"] == "60", si
    job = env.fake.jobs[-1]
    assert job["EntryPointPath"] == "Flows/Ünicode Main.xaml" and job["StopProcessExpression"] == "3600"
    # An explicit false is sent; absent options are not.
    ok_json(d.ask(start_json(process="P", run_as_me=False, stop_after=31536000)))
    si = start_info(env)
    assert si["RunAsMe"] is False and si["StopProcessExpression"] == "31536000", si
    assert "EntryPointPath" not in si and "KillProcessExpression" not in si, si
    ok_json(d.ask("START P"))
    si = start_info(env)
    assert not any(k in si for k in OPTIONS), si
    # The entry point's limit counts characters as Orchestrator does: 512
    # two-byte characters are 512, not 1,024.
    ok_json(d.ask(start_json(process="P", entry_point="é" * 512)))
    assert start_info(env)["EntryPointPath"] == "é" * 512


@test
def bad_start_options_are_refused_with_no_call(env):
    env.fake.add_release("P")
    d = env.daemon()
    refused_with_no_call(env, d, [
        (start_json(process="P", entry_point="x" * 513), '"entry_point" is longer than 512 characters'),
        (start_json(process="P", entry_point="a\u0001b"), "entry_point"),
        (start_json(process="P", entry_point=""), "entry_point"),
        (start_json(process="P", entry_point=7), '"entry_point" must be a string'),
        (start_json(process="P", run_as_me="yes"), '"run_as_me" must be true or false'),
        (start_json(process="P", run_as_me=1), '"run_as_me" must be true or false'),
        (start_json(process="P", stop_after=0), '"stop_after" must be whole seconds from 1 to 31536000'),
        (start_json(process="P", stop_after=31536001), '"stop_after" must be whole seconds'),
        (start_json(process="P", stop_after=1.5), '"stop_after" must be whole seconds'),
        (start_json(process="P", stop_after="60"), '"stop_after" must be whole seconds'),
        (start_json(process="P", kill_after=-5), '"kill_after" must be whole seconds'),
        (start_json(process="P", kill_after=1e300), '"kill_after" must be whole seconds'),
        (start_json(process="P", stop_afer=5), 'unknown key "stop_afer"', "stop_after, kill_after"),
    ])


@test
def orchctl_start_options(env):
    env.fake.add_release("P")
    d = env.daemon()
    p = orchctl(d, "start", "P", "--entry-point", "Flows/Other.xaml", "--run-as-me",
                "--stop-after", "600", "--kill-after", "30", "--json")
    assert p.returncode == 0, (p.returncode, p.stderr)
    si = start_info(env)
    assert (si["EntryPointPath"], si["RunAsMe"], si["StopProcessExpression"], si["KillProcessExpression"]) \
        == ("Flows/Other.xaml", True, "600", "30"), si
    starts = env.fake.count("start")
    for args, words in ((("--stop-after", "soon"), "--stop-after wants a positive number"),
                        (("--kill-after", "0"), "--kill-after wants a positive number")):
        p = orchctl(d, "start", "P", *args)
        assert p.returncode == 2 and words in p.stderr, (p.returncode, p.stderr)
    p = orchctl(d, "start", "P", "--stop-after", "31536001")
    assert p.returncode == 10 and "31536000" in p.stderr + p.stdout, (p.returncode, p.stderr)
    p = orchctl(d, "job", "1", "--run-as-me")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert env.fake.count("start") == starts
