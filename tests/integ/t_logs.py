"""LOGS (contract 1.2, design.md 4b "The rest of a job's life"): a job's
robot log entries read from GET /odata/RobotLogs in the job's folder by id,
with level, after, limit, more and last; access like JOB, decided before
anything is sent when it can be; the 8,192-byte cut; paced with the other
single reads; orchctl logs (--follow) and --logs on start --wait and wait;
the bash completion of all of it."""

import json
import os
import subprocess
import time
import urllib.parse

from itest import *  # noqa: F401,F403

LOGS_SCOPES = ["OR.Jobs.Write", "OR.Execution.Read", "OR.Jobs.Read", "OR.Monitoring.Read"]


def logs_daemon(env, **kw):
    """orchd whose app may read robot logs too."""
    env.fake.add_app("app", env.secret, LOGS_SCOPES)
    return env.daemon(auth={"scope": " ".join(LOGS_SCOPES)}, **kw)


def robot_log_calls(fake):
    return [e for e in fake.log if e["endpoint"] == "robot_logs"]


def query_of(entry):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(entry["path"]).query).items()}


ALL_LEVELS = [("Trace", "t0"), ("Debug", "d1"), ("Info", "i2"), ("Warn", "w3"), ("Error", "e4"),
              ("Fatal", "f5")]


@test
def logs_short_and_json_forms_level_filter_and_the_folder_id_header(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    key = env.fake.add_logs(jid, ALL_LEVELS)
    env.fake.reset_counters()
    a = ok_json(d.ask(f"LOGS {jid}"))
    assert a["id"] == jid and a["more"] is False, a
    assert [(e["level"], e["message"]) for e in a["logs"]] == ALL_LEVELS[2:], a
    assert all(e["host"] == "ROBOT-7" and "cut" not in e for e in a["logs"]), a
    times = [e["time"] for e in a["logs"]]
    assert times == sorted(times) and a["last"] == times[-1] and times[0].endswith("Z"), a
    # The job's record first (its Key and folder id), then RobotLogs in
    # that folder by id, the one header RobotLogs takes.
    assert env.fake.count("job_get") == 1 and env.fake.count("robot_logs") == 1, env.fake.counts
    call = robot_log_calls(env.fake)[0]
    assert call["headers"] == {"X-UIPATH-OrganizationUnitId": "1"}, call["headers"]
    q = query_of(call)
    assert q["$filter"] == f"JobKey eq {key} and Level ge '2'", q
    assert q["$orderby"] == "TimeStamp asc" and q["$top"] == "101", q
    # Only the fields an entry is made of (RawMessage repeats them all).
    assert q["$select"] == "TimeStamp,Level,Message,HostMachineName", q
    # The JSON form, the folder by id, a level.
    a = ok_json(d.ask('LOGS {"id":%d,"folder":1,"level":"Error"}' % jid))
    assert [e["message"] for e in a["logs"]] == ["e4", "f5"], a
    a = ok_json(d.ask('LOGS {"id":%d,"folder":"Shared","level":"Trace","limit":10}' % jid))
    assert [e["message"] for e in a["logs"]] == [m for _, m in ALL_LEVELS], a
    assert query_of(robot_log_calls(env.fake)[-1])["$top"] == "11"
    a = ok_json(d.ask(f"LOGS {jid} Shared"))
    assert len(a["logs"]) == 4, a
    # The folder header is the job's folder id even when the request named
    # the folder by path.
    assert {c["headers"].get("X-UIPATH-OrganizationUnitId") for c in robot_log_calls(env.fake)} == {"1"}
    help_ = ok_json(d.ask("HELP"))
    assert any(v.startswith("LOGS <id>") for v in help_["verbs"]), help_
    assert any(v.startswith("LOGS {") and '"level"' in v for v in help_["verbs"]), help_


@test
def logs_pages_with_after_more_and_last_losing_no_entry(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    # No entry yet: last is null without after, the after sent with it.
    a = ok_json(d.ask(f"LOGS {jid}"))
    assert a == {"id": jid, "logs": [], "more": False, "last": None}, a
    after = "2026-12-01T09:00:00.5+01:00"
    a = ok_json(d.ask('LOGS {"id":%d,"after":"%s"}' % (jid, after)))
    assert a["logs"] == [] and a["last"] == after and a["more"] is False, a
    # Seven entries, two pairs of them at one instant each.
    stamps = ["2026-12-01T10:00:00.001Z", "2026-12-01T10:00:00.002Z", "2026-12-01T10:00:00.003Z",
              "2026-12-01T10:00:00.003Z", "2026-12-01T10:00:00.0041234Z", "2026-12-01T10:00:00.005Z",
              "2026-12-01T10:00:00.005Z"]
    env.fake.add_logs(jid, [("Info", f"m{i}", t) for i, t in enumerate(stamps)])
    seen, last, pages = [], None, 0
    while True:
        req = {"id": jid, "limit": 3}
        if last:
            req["after"] = last
        a = ok_json(d.ask("LOGS " + json.dumps(req)))
        pages += 1
        seen += [e["message"] for e in a["logs"]]
        if a["logs"]:
            assert a["last"] == a["logs"][-1]["time"], a
        else:
            assert a["last"] == last, a
        last = a["last"]
        if not a["more"]:
            break
        assert pages < 10
    # A page never ends inside one instant: m2 and m3 (and m5, m6) came
    # together, so after=last lost neither.
    assert seen == [f"m{i}" for i in range(7)], seen
    assert pages == 3, pages
    assert last == "2026-12-01T10:00:00.005Z"
    # The first page stopped before the instant of m2 and m3, and said more.
    first = ok_json(d.ask('LOGS {"id":%d,"limit":3}' % jid))
    assert [e["message"] for e in first["logs"]] == ["m0", "m1"] and first["more"] is True, first
    # TimeStamp as Orchestrator gave it (seven digits kept), sent back unquoted.
    a = ok_json(d.ask('LOGS {"id":%d,"after":"2026-12-01T10:00:00.003Z"}' % jid))
    assert a["logs"][0]["time"] == "2026-12-01T10:00:00.0041234Z", a
    assert query_of(robot_log_calls(env.fake)[-1])["$filter"].endswith(" and TimeStamp gt 2026-12-01T10:00:00.003Z")


@test
def logs_page_stuck_on_one_instant_loses_none_of_it(env):
    """More entries than limit at one time stamp: the page is that instant
    whole (a second RobotLogs read, TimeStamp eq), so after = last loses
    none of them."""
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    t = "2026-12-01T10:00:00.250Z"
    env.fake.add_logs(jid, [("Info", f"s{i}", t) for i in range(5)] +
                      [("Info", "later", "2026-12-01T10:00:01Z")])
    a = ok_json(d.ask('LOGS {"id":%d,"limit":2}' % jid))
    assert [e["message"] for e in a["logs"]] == [f"s{i}" for i in range(5)], a
    assert a["more"] is True and a["last"] == t, a
    calls = robot_log_calls(env.fake)
    assert len(calls) == 2 and query_of(calls[-1])["$filter"].endswith(f" and TimeStamp eq {t}"), calls
    a = ok_json(d.ask('LOGS {"id":%d,"limit":2,"after":"%s"}' % (jid, t)))
    assert [e["message"] for e in a["logs"]] == ["later"] and a["more"] is False, a


@test
def logs_stuck_instant_too_big_for_one_answer_gives_the_first_page(env):
    """When the instant alone cannot be had (here: 1,000 entries of 5 KB,
    over one answer's 4 MiB), the first page is answered as it came,
    rather than an error for ever."""
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    t = "2026-12-01T10:00:00.250Z"
    env.fake.add_logs(jid, [("Info", f"s{i} " + "x" * 5000, t) for i in range(1000)] +
                      [("Info", "later", "2026-12-01T10:00:01Z")])
    a = ok_json(d.ask('LOGS {"id":%d,"limit":2}' % jid))
    assert [e["message"][:3] for e in a["logs"]] == ["s0 ", "s1 "] and a["more"] is True and a["last"] == t, \
        [e["message"][:8] for e in a["logs"]]
    assert env.fake.count("robot_logs") == 2
    a = ok_json(d.ask('LOGS {"id":%d,"limit":2,"after":"%s"}' % (jid, t)))
    assert [e["message"] for e in a["logs"]] == ["later"], a


@test
def logs_limit_bounds_and_bad_requests_send_nothing(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    env.fake.add_logs(jid, [("Info", f"n{i}") for i in range(1002)])
    env.fake.reset_counters()
    bad = [
        ("LOGS", "LOGS <id>"), ("LOGS 0", "id"), ("LOGS x", "id"), (f"LOGS {jid} Shared extra", "too many"),
        (f"LOGS {jid} /Shared", "folder"),
        ('LOGS {"id":%d,"limit":0}' % jid, "limit"), ('LOGS {"id":%d,"limit":1001}' % jid, "1 to 1000"),
        ('LOGS {"id":%d,"limit":1.5}' % jid, "limit"), ('LOGS {"id":%d,"limit":"5"}' % jid, "limit"),
        ('LOGS {"id":%d,"level":"info"}' % jid, "Trace, Debug, Info, Warn, Error, Fatal"),
        ('LOGS {"id":%d,"level":"Verbose"}' % jid, "Trace, Debug, Info, Warn, Error, Fatal"),
        ('LOGS {"id":%d,"level":4}' % jid, "level"),
        ('LOGS {"id":%d,"after":"2026-12-01T10:00:00"}' % jid, "zone"),
        ('LOGS {"id":%d,"after":"yesterday"}' % jid, "after"),
        ('LOGS {"id":%d,"after":"2026-02-30T10:00:00Z"}' % jid, "after"),
        ('LOGS {"id":%d,"levels":"Info"}' % jid, "known: id, folder, level, after, limit"),
        ('LOGS {"id":%d,"timeout":5}' % jid, "known: id, folder, level, after, limit"),
        ('LOGS {"folder":"Shared"}', "\"id\" is required"),
        ('LOGS {"id":%d,"id":%d}' % (jid, jid), "twice"),
    ]
    for line, word in bad:
        err(d.ask(line), "BAD_REQUEST", word)
    calls = {k: v for k, v in env.fake.counts.items() if k not in ("token", "discovery")}
    assert calls == {}, calls
    # The bounds themselves: 1, and 1000 (RobotLogs' own cap on $top, so
    # a full page says more, and leaves its last instant to the next page:
    # more entries of that instant may follow unseen).
    a = ok_json(d.ask('LOGS {"id":%d,"limit":1}' % jid))
    assert len(a["logs"]) == 1 and a["more"] is True, a
    assert query_of(robot_log_calls(env.fake)[-1])["$top"] == "2"
    a = ok_json(d.ask('LOGS {"id":%d,"limit":1000}' % jid))
    assert len(a["logs"]) == 999 and a["more"] is True, len(a["logs"])
    assert query_of(robot_log_calls(env.fake)[-1])["$top"] == "1000"
    a = ok_json(d.ask('LOGS {"id":%d,"limit":999}' % jid))
    assert len(a["logs"]) == 999 and a["more"] is True
    assert query_of(robot_log_calls(env.fake)[-1])["$top"] == "1000"
    a = ok_json(d.ask('LOGS {"id":%d,"limit":1000,"after":"%s"}' % (jid, a["last"])))
    assert [e["message"] for e in a["logs"]] == ["n999", "n1000", "n1001"] and a["more"] is False, a
    # A date alone is midnight UTC, as for ENQUEUE's defer.
    a = ok_json(d.ask('LOGS {"id":%d,"after":"2030-01-01"}' % jid))
    assert a["logs"] == [] and a["last"] == "2030-01-01T00:00:00Z", a


@test
def logs_cut_long_messages_on_a_character_boundary(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    fits = "a" * 8190 + "\u00e9"                       # 8,192 bytes exactly
    two = "a" * 8191 + "\u00e9" + "b"                  # the é would straddle byte 8,192
    four = "a" * 8190 + "\U0001F600" + "tail"          # so would the emoji
    three = "\u20ac" * 3000                            # 9,000 bytes of 3-byte characters
    env.fake.add_logs(jid, [("Info", fits), ("Info", two), ("Info", four), ("Info", three), ("Info", "short")])
    a = ok_json(d.ask(f"LOGS {jid}"))
    got = a["logs"]
    assert got[0]["message"] == fits and "cut" not in got[0]
    assert got[1]["message"] == "a" * 8191 and got[1]["cut"] is True
    assert got[2]["message"] == "a" * 8190 and got[2]["cut"] is True
    assert got[3]["message"] == "\u20ac" * 2730 and got[3]["cut"] is True     # 8,190 bytes
    assert got[4] == {"time": got[4]["time"], "level": "Info", "message": "short", "host": "ROBOT-7"}
    for e in got:
        assert len(e["message"].encode()) <= 8192


@test
def logs_without_the_monitoring_scope_is_err_scope_naming_it(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    env.fake.add_logs(jid, [("Error", "boom")])
    a = err(d.ask(f"LOGS {jid}"), "SCOPE", "OR.Monitoring.Read")
    assert "boom" not in a
    assert env.fake.count("robot_logs") >= 1


@test
def logs_denied_before_any_call_for_a_peer_no_rule_could_allow(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    uid = os.getuid()
    conf = env.config(access=["uid:999999 *", f"uid:{uid} * folder=Shared/Finance"],
                      auth={"scope": " ".join(LOGS_SCOPES)},
                      server={"socket": os.path.join(env.dir, "b.sock")}, filename="b.conf")
    d2 = env.daemon(conf, sock=os.path.join(env.dir, "b.sock"))
    env.fake.reset_counters()
    for line in (f"LOGS {jid}", f"LOGS {jid} Shared", 'LOGS {"id":%d,"folder":1,"level":"Error"}' % jid):
        a = err(d2.ask(line), "DENIED", str(jid))
        assert "P\"" not in a and "robot" not in a.lower(), a
    calls = {k: v for k, v in env.fake.counts.items() if k not in ("token", "discovery")}
    assert calls == {}, calls
    assert ok_json(d2.ask("STATS"))["inflight"] == 0


@test
def logs_denied_for_a_job_whose_process_the_rules_do_not_allow(env):
    env.fake.add_release("Payroll")
    env.fake.add_release("Archive")
    d = logs_daemon(env)
    ok_json(d.ask(start_json(process="Payroll", reference="payroll-ref-77")))
    job = env.fake.jobs[-1]
    env.fake.add_logs(job["Id"], [("Error", "salary of 9001 refused")])
    uid = os.getuid()
    conf = env.config(access=[f"uid:{uid} A*"], auth={"scope": " ".join(LOGS_SCOPES)},
                      server={"socket": os.path.join(env.dir, "b.sock")}, filename="b.conf")
    d2 = env.daemon(conf, sock=os.path.join(env.dir, "b.sock"))
    env.fake.reset_counters()
    for line in (f"LOGS {job['Id']}", 'LOGS {"id":%d,"folder":1}' % job["Id"]):
        a = err(d2.ask(line), "DENIED", str(job["Id"]))
        for s in ("Payroll", "payroll-ref-77", job["Key"], "salary", "9001"):
            assert s not in a, f"{s!r} in {a!r}"
    assert env.fake.count("robot_logs") == 0 and env.fake.count("job_get") == 2
    # What the peer may start, it may read the log of.
    other = ok_json(d2.ask(start_json(process="Archive")))["jobs"][0]["id"]
    env.fake.add_logs(other, [("Warn", "archived")])
    assert [e["message"] for e in ok_json(d2.ask(f"LOGS {other}"))["logs"]] == ["archived"]


@test
def logs_of_an_unknown_job_is_not_found(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    err(d.ask("LOGS 999999"), "NOT_FOUND", "999999")
    err(d.ask(f"LOGS {jid} Shared/Finance"), "NOT_FOUND", str(jid), "Shared/Finance")
    assert env.fake.count("robot_logs") == 0


@test
def logs_retries_a_5xx_on_robotlogs_and_says_unavailable_when_it_stays(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    env.fake.add_logs(jid, [("Error", "once")])
    env.fake.fault("robot_logs", status=503, times=1)
    a = ok_json(d.ask(f"LOGS {jid}", timeout=30))
    assert [e["message"] for e in a["logs"]] == ["once"]
    assert env.fake.count("robot_logs") == 2, env.fake.counts
    env.fake.fault("robot_logs", status=500, times=None)
    err(d.ask(f"LOGS {jid}", timeout=60), "UNAVAILABLE", "500")
    assert env.fake.count("robot_logs") > 3


@test
def logs_reads_count_against_max_single_reads(env):
    env.fake.add_release("P")
    d = logs_daemon(env, raw="[jobs]\nmax_single_reads = 1\n")
    ids = [started_id(d) for _ in range(2)]
    env.fake.reset_counters()
    time.sleep(1.1)  # the bucket is full again: one read now, one a second after
    c = d.client(30)
    c.send("".join(f"@l{i} LOGS {i}\n" for i in ids))
    got = tagged_answers(c, 2, 30)
    c.close()
    for i in ids:
        assert ok_json(got[f"l{i}"])["id"] == i
    reads = sorted(e["time"] for e in env.fake.log if e["endpoint"] in ("job_get", "robot_logs"))
    assert len(reads) == 4, env.fake.counts
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    assert all(g > 0.8 for g in gaps), gaps


@test
def a_closed_connection_drops_its_pending_logs(env):
    env.fake.add_release("P")
    d = logs_daemon(env, raw="[jobs]\nmax_single_reads = 1\n")
    ids = [started_id(d) for _ in range(10)]
    env.fake.reset_counters()
    c = d.client()
    c.send("".join(f"@l{i} LOGS {i}\n" for i in ids))
    assert wait_for(lambda: ok_json(d.ask("STATS"))["inflight"] >= 10, 5)
    c.close()
    assert wait_for(lambda: ok_json(d.ask("STATS"))["inflight"] == 0, 1.0), ok_json(d.ask("STATS"))
    # A read already handed to curl may still reach the fake (slowly under
    # ASan): count once none is in flight, then see that no new one is made.
    assert wait_for(lambda: ok_json(d.ask("STATS"))["http_inflight"] == 0, 5)
    time.sleep(0.5)
    n = env.fake.count("job_get") + env.fake.count("robot_logs")
    time.sleep(3)
    # Nothing was read for them after they left.
    assert env.fake.count("job_get") + env.fake.count("robot_logs") == n, env.fake.counts
    assert n <= 3, env.fake.counts
    assert ok_json(d.ask("STATS"))["job_reads"]["paced"] == 0


@test
def a_logs_waiting_for_its_turn_is_answered_shutdown_at_sigterm(env):
    env.fake.add_release("P")
    d = logs_daemon(env, raw="[jobs]\nmax_single_reads = 1\n")
    ids = [started_id(d) for _ in range(4)]
    c = d.client(15)
    c.send("".join(f"@l{i} LOGS {i}\n" for i in ids))
    assert wait_for(lambda: ok_json(d.ask("STATS"))["job_reads"]["paced"] >= 2, 5)
    sent = len(robot_log_calls(env.fake))
    t0 = time.time()
    d.term()
    got = tagged_answers(c, 4, 10)
    assert time.time() - t0 < 3, time.time() - t0
    # Nothing waiting for its turn is sent after the signal: each LOGS
    # whose RobotLogs was not sent before it is answered SHUTDOWN.
    shut = [a for a in got.values() if a.startswith("ERR SHUTDOWN")]
    assert len(shut) >= 4 - sent and len(shut) >= 3, got
    assert d.proc.wait(20) == 0
    assert len(robot_log_calls(env.fake)) == sent, (sent, robot_log_calls(env.fake))


# ---- orchctl --------------------------------------------------------------

def ctl(d, *args, timeout=60):
    return subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=timeout)


@test
def orchctl_logs_prints_entries_defanged_and_as_json(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    env.fake.add_logs(jid, [("Info", "step one"), ("Error", "bad \x1b[2J thing\nsecond line"),
                            ("Trace", "hidden")])
    p = ctl(d, "logs", str(jid))
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and "Info" in lines[0] and lines[0].endswith("step one"), lines
    assert "ROBOT-7" in lines[0]
    assert lines[1].endswith("bad ?[2J thing?second line") and "Error" in lines[1], lines
    assert "\x1b" not in p.stdout
    p = ctl(d, "logs", str(jid), "--level", "Trace", "--json")
    assert p.returncode == 0, p
    pages = [json.loads(x) for x in p.stdout.splitlines()]
    assert [e["message"] for e in pages[0]["logs"]] == ["step one", "bad \x1b[2J thing\nsecond line", "hidden"]
    assert "\x1b" not in p.stdout
    p = ctl(d, "logs", str(jid), "--level", "Loud")
    assert p.returncode == 10 and "BAD_REQUEST" in p.stderr, p
    assert ctl(d, "logs").returncode == 2 and ctl(d, "logs", "x").returncode == 2
    p = ctl(d, "logs", "999999")
    assert p.returncode == 13, p


@test
def orchctl_logs_follow_until_the_job_faults_exits_4(env):
    env.fake.add_release("P")
    d = logs_daemon(env)
    jid = started_id(d)
    env.fake.plan(jid, [(0.3, {"State": "Running"}), (3.5, {"State": "Faulted", "Info": "boom"})])
    env.fake.add_logs(jid, [("Info", "started")], delay=0.2)
    env.fake.add_logs(jid, [("Warn", "slow vendor")], delay=1.5)
    env.fake.add_logs(jid, [("Error", "vendor not found"), ("Fatal", "job failed")], delay=3.0)
    t0 = time.time()
    p = ctl(d, "logs", str(jid), "--follow", timeout=60)
    assert p.returncode == 4, p
    msgs = [line.rsplit(" ", 1)[-1] for line in p.stdout.splitlines()]
    out = p.stdout
    for m in ("started", "slow vendor", "vendor not found", "job failed"):
        assert out.count(m) == 1, out
    assert out.index("started") < out.index("slow vendor") < out.index("vendor not found"), out
    assert time.time() - t0 >= 3.0 and msgs
    # A final job: one pass, then the status of wait (0 Successful).
    env.fake.add_release("Q")
    ok = started_id(d, process="Q")
    env.fake.set_job(ok, State="Successful")
    p = ctl(d, "logs", str(ok), "--follow")
    assert p.returncode == 0 and p.stdout == "", p


@test
def orchctl_start_wait_logs_of_a_faulted_job_prints_why_and_exits_4(env):
    env.fake.add_release("P")
    env.fake.job_plan = [(0.3, {"State": "Running"}), (1.5, {"State": "Faulted", "Info": "Job failed"})]
    env.fake.logs_plan = [(0.4, "Info", "Processing invoice 42"), (0.8, "Error", "Invoice 42: vendor not found"),
                          (1.0, "Fatal", "Main.xaml failed")]
    d = logs_daemon(env)
    p = ctl(d, "start", "P", "--wait", "--logs")
    assert p.returncode == 4, p
    assert "Faulted" in p.stdout, p
    assert "Invoice 42: vendor not found" in p.stderr and "Main.xaml failed" in p.stderr, p
    assert "Processing invoice" not in p.stdout + p.stderr, p
    jid = env.fake.jobs[-1]["Id"]
    q = query_of(robot_log_calls(env.fake)[-1])
    assert "Level ge '4'" in q["$filter"], q
    # wait --logs, and --json keeps stdout one JSON object.
    p = ctl(d, "wait", str(jid), "--logs", "--json")
    assert p.returncode == 4 and json.loads(p.stdout)["job"]["state"] == "Faulted", p
    assert "vendor not found" in p.stderr, p
    # A Successful job: no log read, nothing printed beyond the record.
    env.fake.job_plan = [(0.2, {"State": "Successful"})]
    env.fake.logs_plan = [(0.1, "Error", "retried and recovered")]
    n = env.fake.count("robot_logs")
    p = ctl(d, "start", "P", "--wait", "--logs")
    assert p.returncode == 0 and "recovered" not in p.stdout + p.stderr, p
    assert env.fake.count("robot_logs") == n
    # Without OR.Monitoring: the exit status stays the job's; the reason is said.
    conf = env.config(auth=JOBS, server={"socket": os.path.join(env.dir, "b.sock")}, filename="b.conf")
    d2 = env.daemon(conf, sock=os.path.join(env.dir, "b.sock"))
    p = ctl(d2, "wait", str(jid), "--logs")
    assert p.returncode == 4 and "SCOPE" in p.stderr and "OR.Monitoring.Read" in p.stderr, p


BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def complete(sock, *words_typed):
    top = os.path.join(harness.HERE, "..", "..")
    words = ["orchctl", "-s", sock, *words_typed]
    script = (f"source {BASH_COMPLETION}; source {top}/completion/orchctl; "
              f"COMP_WORDS=({' '.join(json.dumps(w) for w in words)}); "
              f"COMP_CWORD={len(words) - 1}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; "
              "_orchctl; printf '%s\\0' \"${COMPREPLY[@]}\"")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PATH": os.path.abspath(harness.BUILD) + ":" + os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    return sorted(x for x in p.stdout.split("\0") if x)


@test
def completion_of_logs_and_its_flags(env):
    if not os.path.exists(BASH_COMPLETION):
        print("     (no bash-completion here: not tested)")
        return
    sock = os.path.join(env.dir, "none.sock")
    assert complete(sock, "lo") == ["logs"]
    assert complete(sock, "logs", "--") == sorted(["--folder", "--folder-id", "--level", "--follow", "--json",
                                                  "--help"])
    assert complete(sock, "logs", "1", "--level", "") == ["Debug", "Error", "Fatal", "Info", "Trace", "Warn"]
    assert complete(sock, "logs", "1", "--level", "E") == ["Error"]
    assert "--logs" in complete(sock, "start", "P", "--l")
    assert complete(sock, "wait", "1", "--l") == ["--logs"]
    assert complete(sock, "logs", "1", "--folder", "") == []
