"""Orchestrator failing: retries, 429 Retry-After, resets and 502s where a
StartJobs may have happened (never replayed blindly, found by reference),
releases gone, a full queue."""

import re
import time

from itest import *  # noqa: F401,F403


@test
def unavailable_after_retries(env):
    env.fake.add_release("P")
    d = env.daemon()
    env.fake.fault("releases", status=503, times=None)
    a = d.ask("START P", timeout=60)
    err(a, "UNAVAILABLE", "503")
    assert env.fake.count("releases") == 4, env.fake.counts     # bounded attempts
    assert env.fake.count("start") == 0


@test
def rate_limit_retry_after_is_honoured(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("start", status=429, retry_after=1)
    t0 = time.time()
    ok_json(d.ask("START P"))
    assert time.time() - t0 >= 0.9
    assert env.fake.count("start") == 3 and len(env.fake.jobs) == 2


@test
def start_never_replayed_after_502_with_job_created(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("start", status=502, after_create=True)
    err(d.ask(start_json(process="P", reference="inv-42")), "UNKNOWN", "may or may not exist", "inv-42",
        "lacks OR.Jobs.Read")
    assert env.fake.count("start") == 2          # not retried
    assert len(env.fake.jobs) == 2


@test
def curl_does_not_resend_a_start_on_a_reused_connection(env):
    # libcurl resends a request whose reused connection died without an
    # answer; for StartJobs that would start the job twice.
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))                      # the connection is warm now
    env.fake.fault("start", close=True, after_create=True)
    err(d.ask("START P"), "UNKNOWN")
    assert env.fake.count("start") == 2 and len(env.fake.jobs) == 2


@test
def start_never_replayed_after_reset(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("start", reset=True, after_create=True)
    err(d.ask("START P"), "UNKNOWN")
    assert env.fake.count("start") == 2 and len(env.fake.jobs) == 2


@test
def lost_answer_after_create_is_found_by_reference(env):
    env.fake.add_release("P")
    d = env.daemon(auth=RESOLVE)
    first = ok_json(d.ask("START P"))["reference"]
    env.fake.fault("start", status=502, after_create=True)
    a = ok_json(d.ask("START P", timeout=20))
    # Generated: "orchd-" and 96 random bits in hex, new for every START.
    assert re.fullmatch(r"orchd-[0-9a-f]{24}", a["reference"]) and a["reference"] != first
    assert a["jobs"][0]["id"] == env.fake.jobs[-1]["Id"]
    assert env.fake.count("start") == 2 and env.fake.count("jobs_query") == 1
    assert len(env.fake.jobs) == 2 and max(jobs_per_reference(env.fake).values()) == 1
    assert ok_json(d.ask("STATS"))["jobs_started"] == 2


@test
def timeout_after_create_is_found_by_reference(env):
    env.fake.add_release("P")
    d = env.daemon(auth=RESOLVE, orchestrator={"timeout": "1"})
    ok_json(d.ask("START P"))
    env.fake.fault("start", after_create=True, delay=2.5)
    a = ok_json(d.ask(start_json(process="P", reference="inv-7"), timeout=20))
    assert a["reference"] == "inv-7"
    assert len(env.fake.jobs) == 2 and jobs_per_reference(env.fake)["inv-7"] == 1


@test
def ambiguous_failure_without_job_is_started_once_more(env):
    env.fake.add_release("P")
    d = env.daemon(auth=RESOLVE, orchestrator={"timeout": "2"})
    ok_json(d.ask("START P"))
    env.fake.fault("start", reset=True)           # refused before anything was created
    t0 = time.time()
    a = ok_json(d.ask("START P", timeout=30))
    assert time.time() - t0 >= 4.5                 # looked up 1 s, then 2 x timeout later
    assert env.fake.count("jobs_query") == 2 and env.fake.count("start") == 3
    assert len(env.fake.jobs) == 2 and jobs_per_reference(env.fake)[a["reference"]] == 1


@test
def lookup_failure_is_unknown_with_reference(env):
    env.fake.add_release("P")
    d = env.daemon(auth=RESOLVE)
    ok_json(d.ask("START P"))
    env.fake.fault("start", status=502, after_create=True)
    env.fake.fault("jobs_query", status=500, times=None)
    err(d.ask(start_json(process="P", reference="inv-9"), timeout=60), "UNKNOWN", "inv-9",
        "looking it up failed")
    assert env.fake.count("start") == 2 and len(env.fake.jobs) == 2


@test
def release_gone_is_looked_up_again_once(env):
    env.fake.add_release("P", key="11111111-1111-1111-1111-111111111111")
    d = env.daemon()
    a = ok_json(d.ask("START P"))
    assert a["release"] == "11111111-1111-1111-1111-111111111111"
    env.fake.releases.clear()                       # deleted and created again
    env.fake.add_release("P", key="22222222-2222-2222-2222-222222222222")
    a = ok_json(d.ask("START P"))
    assert a["release"] == "22222222-2222-2222-2222-222222222222"
    assert env.fake.count("releases") == 2 and env.fake.count("start") == 3
    env.fake.releases.clear()
    err(d.ask("START P"), "NOT_FOUND")


@test
def busy_when_queue_is_full(env):
    env.fake.add_release("P")
    d = env.daemon(orchestrator={"max_queue": "2", "max_queue_per_peer": "2"})
    ok_json(d.ask("START P"))
    env.fake.fault("start", delay=1.0, times=2)
    c = d.client()
    c.send("START P\nSTART P\nSTART P\n")
    answers = [c.line(), c.line(), c.line()]
    assert [a.split()[0] for a in answers] == ["OK", "OK", "ERR"], answers
    err(answers[2], "BUSY")
    assert len(env.fake.jobs) == 3
