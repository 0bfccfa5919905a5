"""Requests whose values Orchestrator could read otherwise than orchd's rules
do: folder paths with ".", ".." or empty segments, values outside the enums
of the v20 definition, queue dates that are not RFC 3339 date-times. Each is
refused before anything is sent, or sent in the definition's form."""

import json
import os
import subprocess

from itest import *  # noqa: F401,F403

RUNTIMES = ("NonProduction, Attended, Unattended, Development, Studio, RpaDeveloper, StudioX, "
            "CitizenDeveloper, Headless, StudioPro, RpaDeveloperPro, TestAutomation, AutomationCloud, "
            "Serverless, AutomationKit, ServerlessTestAutomation, AutomationCloudTestAutomation, "
            "AttendedStudioWeb, Hosting, AssistantWeb, ProcessOrchestration, AgentService, AppTest, "
            "PerformanceTest")
STRATEGIES = "All, Specific, RobotCount, JobsCount, ModernJobsCount"


def refused_with_no_call(env, d, cases):
    """Each (line, words) is answered BAD_REQUEST holding words, and the fake
    gets not one request of any kind meanwhile (once orchd's first token,
    asked for at start, has been asked for)."""
    assert wait_for(lambda: env.fake.count("token") == 1, 10), env.fake.counts
    env.fake.reset_counters()
    c = d.client()
    for line, *words in cases:
        err(c.ask(line), "BAD_REQUEST", *words)
    c.close()
    assert env.fake.counts == {} and env.fake.log == [], env.fake.counts


@test
def dotted_folders_are_refused_with_no_call(env):
    env.fake.add_release("P", folder="Shared/Finance")
    env.fake.add_queue("Q", folder="Shared/Finance")
    uid = os.getuid()
    d = queue_daemon(env, access=[f"uid:{uid} * folder=Shared/*", f"uid:{uid} queue:* folder=Shared/*"])
    refused_with_no_call(env, d, [
        ("START P Shared/../Finance", 'has a ".." segment', "nothing was sent"),
        ('START {"process":"P","folder":"Shared/./Finance"}', 'has a "." segment'),
        ("JOB 1 Shared//Finance", "has an empty segment"),
        ('JOB {"id":1,"folder":"Shared/Finance/.."}', 'has a ".." segment'),
        ("WAIT 1 /Shared/Finance", "starts with '/'"),
        ('WAIT {"id":1,"folder":"Shared/Finance/"}', "ends with '/'"),
        ("STOP 1 Shared/../Finance kill", 'has a ".." segment'),
        ('STOP {"id":1,"folder":"Shared/..","kill":true}', 'has a ".." segment'),
        ("ENQUEUE Q Shared/../Finance", 'has a ".." segment'),
        ('ENQUEUE {"queue":"Q","folder":"Shared//Finance"}', "has an empty segment"),
        ("ITEM 1 Shared/./Finance", 'has a "." segment'),
        ('ITEM {"id":1,"folder":"/Shared"}', "starts with '/'"),
    ])
    # The same folder written plainly is served.
    ok_json(d.ask("START P Shared/Finance"))
    ok_json(d.ask("ENQUEUE Q Shared/Finance"))
    assert env.fake.count("start") == 1 and env.fake.count("queue_add") == 1, env.fake.counts


@test
def a_dotted_default_folder_is_a_config_error(env):
    conf = env.config(orchestrator={"folder": "Shared/../Finance"})
    p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "-c", conf], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1 and "folder has a \"..\" segment" in p.stderr, (p.returncode, p.stderr)
    assert env.fake.counts == {}, env.fake.counts


@test
def unlisted_enums_are_refused_with_no_call(env):
    env.fake.add_release("P")
    d = env.daemon()
    refused_with_no_call(env, d, [
        (start_json(process="P", runtime="Robot"), '"runtime" must be one of ' + RUNTIMES, "RuntimeType"),
        (start_json(process="P", strategy="Whatever"), '"strategy" must be one of ' + STRATEGIES),
        (start_json(process="P", runtime="unattended"), "spelled exactly so"),
        (start_json(process="P", runtime="BusinessRule"), "v20 definition"),
        (start_json(process="P", strategy=1), '"strategy" must be one of'),
    ])
    p = orchctl(d, "start", "P", "--runtime", "Robot")
    assert p.returncode == 10 and "PerformanceTest" in p.stderr + p.stdout, (p.returncode, p.stderr)
    assert env.fake.counts == {}, env.fake.counts
    # A listed value reaches StartJobs as written.
    ok_json(d.ask(start_json(process="P", runtime="Unattended", strategy="ModernJobsCount")))
    body = json.loads([e for e in env.fake.log if e["endpoint"] == "start"][-1]["body"])["startInfo"]
    assert body["RuntimeType"] == "Unattended" and body["Strategy"] == "ModernJobsCount", body


@test
def queue_dates_are_sent_as_rfc3339_date_times(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env)
    refused_with_no_call(env, d, [
        (enqueue_json(queue="Invoices", defer="2026-12-01T10:00"), '"defer" has no zone', "add Z"),
        (enqueue_json(queue="Invoices", due="2026-12-01T10:00:00"), '"due" has no zone'),
        (enqueue_json(queue="Invoices", due="2026-12-01T10:00:00.250"), '"due" has no zone'),
        (enqueue_json(queue="Invoices", defer="2026-12-01 10:00Z"), "ISO 8601"),
    ])
    sent = lambda: json.loads(env.fake.log[-1]["body"])["itemData"]  # noqa: E731
    ok_json(d.ask(enqueue_json(queue="Invoices", defer="2026-12-01", due="2026-12-01T10:00Z")))
    assert sent()["DeferDate"] == "2026-12-01T00:00:00Z" and sent()["DueDate"] == "2026-12-01T10:00:00Z", sent()
    item = env.fake.items[-1]
    assert item["DeferDate"] == "2026-12-01T00:00:00Z" and item["DueDate"] == "2026-12-01T10:00:00Z", item
    ok_json(d.ask(enqueue_json(queue="Invoices", defer="2026-12-01T10:00+01:00",
                               due="2026-12-02T10:00:00.5-08:00")))
    assert sent()["DeferDate"] == "2026-12-01T10:00:00+01:00", sent()
    assert sent()["DueDate"] == "2026-12-02T10:00:00.5-08:00", sent()
    p = orchctl(d, "enqueue", "Invoices", "--due", "2026-12-03")
    assert p.returncode == 0, p.stderr
    assert sent()["DueDate"] == "2026-12-03T00:00:00Z", sent()
    p = orchctl(d, "enqueue", "Invoices", "--defer", "2026-12-03T08:00")
    assert p.returncode == 10 and "has no zone" in p.stderr + p.stdout, (p.returncode, p.stderr)
    assert env.fake.count("queue_add") == 3, env.fake.counts
