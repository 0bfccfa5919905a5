"""A job's life: JOB, WAIT and STOP, orchctl's summaries and exit codes,
shared and collection reads of many waited jobs, 429s on those reads."""

import json
import os
import re
import signal
import subprocess
import time

from itest import *  # noqa: F401,F403


@test
def job_of_a_known_and_an_unknown_id(env):
    env.fake.add_release("P")
    env.fake.add_release("P", folder="Shared/Finance")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    a = ok_json(d.ask(f"JOB {jid}"))
    assert a["folder"] == "Shared"
    rec = a["job"]
    assert rec["id"] == jid and rec["state"] == "Pending" and rec["process"] == "P"
    assert rec["output"] is None and rec["key"] == env.fake.jobs[0]["Key"] and rec["reference"]
    assert set(rec) >= {"info", "created", "started", "ended", "host"}
    # By folder id; another folder does not hold it.
    assert ok_json(d.ask('JOB {"id":%d,"folder":1}' % jid))["folder"] == 1
    err(d.ask(f"JOB {jid} Shared/Finance"), "NOT_FOUND", str(jid), "Shared/Finance")
    err(d.ask("JOB 999999"), "NOT_FOUND", "999999")
    assert env.fake.count("job_get") == 4


@test
def wait_to_successful_with_outputs(env):
    env.fake.add_release("P")
    env.fake.job_plan = DONE
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    t0 = time.time()
    a = ok_json(d.ask(f"WAIT {jid}", timeout=20))
    took = time.time() - t0
    rec = a["job"]
    assert rec["state"] == "Successful" and rec["output"] == {"Result": "done", "n": 2}, rec
    assert rec["info"] == "Job completed" and rec["host"] == "ROBOT-7" and rec["ended"]
    # Read at once, then 1 s and 2 s later: seen ~1.5 s after its end at most.
    assert took < 4.5, took
    assert env.fake.count("job_get") <= 4, env.fake.counts
    stats = ok_json(d.ask("STATS"))
    assert stats["waits"] == 0 and stats["job_reads"]["single"] == env.fake.count("job_get")


@test
def wait_to_faulted_and_stopped_with_orchctl_exit_codes(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    faulted, stopped, ok = started_id(d), started_id(d), started_id(d)
    env.fake.plan(faulted, [(0.5, {"State": "Faulted", "Info": "Invoice 42 not found",
                                   "JobError": {"Code": "Robot.Exception", "Title": "Boom", "Detail": "d"}})])
    env.fake.plan(stopped, [(0.5, {"State": "Stopped", "Info": "stopped by a user"})])
    env.fake.plan(ok, [(0.5, {"State": "Successful"})])
    ctl = [os.path.join(harness.BUILD, "orchctl"), "-s", d.sock]
    p = subprocess.run(ctl + ["wait", str(faulted)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 4 and "Faulted" in p.stdout and "Invoice 42 not found" in p.stdout, p
    p = subprocess.run(ctl + ["wait", str(stopped), "--json"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 5 and json.loads(p.stdout)["job"]["state"] == "Stopped", p
    p = subprocess.run(ctl + ["wait", str(ok)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "Successful" in p.stdout, p
    a = ok_json(d.ask(f"JOB {faulted}"))
    assert a["job"]["error"] == {"code": "Robot.Exception", "title": "Boom", "detail": "d"}
    p = subprocess.run(ctl + ["job", str(faulted)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "info: Invoice 42 not found" in p.stdout, p
    p = subprocess.run(ctl + ["wait", "999999"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 13, p                    # NOT_FOUND


@test
def orchctl_summaries_show_errors_outputs_and_no_terminal_escapes(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    ctl = [os.path.join(harness.BUILD, "orchctl"), "-s", d.sock]
    jid = started_id(d)
    # A robot's text may hold escapes: OSC (retitle), CSI as C0 and as C1.
    env.fake.plan(jid, [(0.3, {"State": "Faulted", "Info": "bad\x1b]0;owned\x07 \u009b2J",
                               "JobError": {"Code": "Robot.Exception", "Title": "Boom", "Detail": "d\x1b[2J"},
                               "OutputArguments": json.dumps({"note": "a\x1bb\u009b"})})])
    p = subprocess.run(ctl + ["wait", str(jid)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 4, p
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]", p.stdout), repr(p.stdout)
    assert "info: bad?]0;owned? ??2J" in p.stdout, p.stdout
    assert "error: Robot.Exception: Boom: d?[2J" in p.stdout, p.stdout
    assert 'output: {"note":"a\\u001bb??"}' in p.stdout, p.stdout
    # --json passes the answer as it is (escaped JSON).
    p = subprocess.run(ctl + ["job", str(jid), "--json"], capture_output=True, text=True, timeout=30)
    assert json.loads(p.stdout)["job"]["info"] == "bad\x1b]0;owned\x07 \u009b2J"
    # An ERR answer quoting Orchestrator is defanged too.
    env.fake.fault("start", status=409, body={"message": "no robot\x1b[2J here", "errorCode": 2818})
    p = subprocess.run(ctl + ["start", "P"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 18 and "\x1b" not in p.stderr and "no robot" in p.stderr, p
    # start --wait prints each job's final record.
    env.fake.job_plan = DONE
    p = subprocess.run(ctl + ["start", "P", "--count", "2", "--wait", "--timeout", "20"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.count(": Successful\n") == 2, p
    assert p.stdout.count('output: {"Result":"done","n":2}') == 2 and "info: Job completed" in p.stdout, p


@test
def a_job_read_without_a_state_is_read_again_not_the_end(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    env.fake.fault("job_get", status=200, body={"html": "<p>proxy</p>"}, times=1)
    err(d.ask(f"JOB {jid}"), "UNAVAILABLE", "no State")
    env.fake.fault("job_get", status=200, body={"html": "<p>proxy</p>"}, times=1)
    env.fake.plan(jid, [(1.0, {"State": "Successful"})])
    assert ok_json(d.ask(f"WAIT {jid}", timeout=20))["job"]["state"] == "Successful"


@test
def wait_timeout_stops_nothing(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    env.fake.plan(jid, [(0.2, {"State": "Running"})])
    t0 = time.time()
    err(d.ask('WAIT {"id":%d,"timeout":2}' % jid, timeout=10), "TIMEOUT", str(jid), "Running", "not stopped")
    assert 1.9 <= time.time() - t0 < 4
    assert env.fake.stops == [] and env.fake.jobs[0]["State"] == "Running"
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "wait", str(jid),
                        "--timeout", "1"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 23, p


@test
def fifty_waiters_share_one_jobs_reads(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    env.fake.plan(jid, [(0.2, {"State": "Running"}), (3.0, {"State": "Successful"})])
    clients = [d.client(20) for _ in range(50)]
    for c in clients:
        c.send(f"WAIT {jid}\n")
    answers = [ok_json(c.line(20)) for c in clients]
    assert all(a["job"]["state"] == "Successful" for a in answers)
    # What one waiter needs: a read at once, then 1, 2 and 4 s later.
    assert env.fake.count("job_get") <= 5, env.fake.counts
    for c in clients:
        c.close()


@test
def stop_soft_kill_and_a_final_job(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    a, b, c = started_id(d), started_id(d), started_id(d)
    env.fake.set_job(c, State="Successful")
    s = ok_json(d.ask(f"STOP {a}"))
    assert s["stopping"] is True and s["strategy"] == "SoftStop" and s["job"]["id"] == a and s["folder"] == "Shared"
    s = ok_json(d.ask('STOP {"id":%d,"kill":true}' % b))
    assert s["strategy"] == "Kill"
    assert env.fake.stops == [(a, "SoftStop"), (b, "Kill")], env.fake.stops
    s = ok_json(d.ask(f"STOP {c} kill"))
    assert s["stopping"] is False and "strategy" not in s
    assert len(env.fake.stops) == 2 and env.fake.count("stop_job") == 2
    assert ok_json(d.ask(f"WAIT {a}", timeout=10))["job"]["state"] == "Stopped"
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "stop", str(c)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "nothing sent" in p.stdout, p


@test
def job_verbs_name_the_missing_scope(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    conf = app_config(env, "nojobs", ["OR.Execution.Read", "OR.Jobs.Write"], filename="n.conf",
                      server={"socket": os.path.join(env.dir, "nojobs.sock")})
    d2 = env.daemon(conf, sock=os.path.join(env.dir, "nojobs.sock"))
    err(d2.ask(f"JOB {jid}"), "SCOPE", "OR.Jobs.Read")
    conf = app_config(env, "readonly", ["OR.Execution.Read", "OR.Jobs.Read"], filename="r.conf",
                      server={"socket": os.path.join(env.dir, "readonly.sock")})
    d3 = env.daemon(conf, sock=os.path.join(env.dir, "readonly.sock"))
    env.fake.plan(jid, [(0.0, {"State": "Running"})])
    err(d3.ask(f"STOP {jid}"), "SCOPE", "OR.Jobs.Write")
    assert env.fake.stops == []


@test
def another_process_job_is_denied_without_its_record(env):
    env.fake.add_release("P")
    env.fake.add_release("Secret")
    d = env.daemon(auth=JOBS)
    secret = started_id(d, "Secret")
    mine = started_id(d, "P")
    d2 = env.daemon(env.config(access=["uid:0 P"], server={"socket": os.path.join(env.dir, "b.sock")},
                               auth=JOBS, filename="b.conf"), sock=os.path.join(env.dir, "b.sock"))
    a = d2.ask(f"JOB {secret}")
    err(a, "DENIED")
    assert "Secret" not in a and str(env.fake.jobs[0]["Key"]) not in a
    err(d2.ask(f"WAIT {secret}"), "DENIED")
    err(d2.ask(f"STOP {secret}"), "DENIED")
    assert env.fake.stops == []
    ok_json(d2.ask(f"JOB {mine}"))


@test
def wait_is_answered_at_sigterm(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    c = d.client()
    c.send(f"WAIT {jid}\n")
    assert wait_for(lambda: ok_json(d.ask("STATS"))["waits"] == 1, 5)
    d.term()
    err(c.line(5), "SHUTDOWN", str(jid), "not stopped")
    assert d.stop() == 0
    assert env.fake.stops == []


@test
def a_tagged_wait_does_not_hold_up_a_start(env):
    env.fake.add_release("P")
    env.fake.job_plan = [(2.0, {"State": "Successful"})]
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    c = d.client(15)
    c.send(f"@w WAIT {jid}\nSTART P\n")
    first = c.line()
    assert first.startswith("OK ") and ok_json(first)["jobs"], first    # the START, at once
    second = c.line()
    assert second.startswith("@w OK ") and ok_json(second, "@w OK ")["job"]["state"] == "Successful"


@test
def start_with_wait_answers_the_final_records(env):
    env.fake.add_release("P")
    env.fake.job_plan = DONE
    d = env.daemon(auth=JOBS)
    a = ok_json(d.ask(start_json(process="P", count=2, wait=True), timeout=20))
    assert len(a["jobs"]) == 2 and a["process"] == "P" and a["folder"] == "Shared" and a["release"]
    assert all(j["state"] == "Successful" and j["output"] == {"Result": "done", "n": 2} for j in a["jobs"])
    assert {j["id"] for j in a["jobs"]} == {j["Id"] for j in env.fake.jobs}
    # Out of time: TIMEOUT names each unfinished job; nothing is stopped.
    env.fake.job_plan = [(0.1, {"State": "Running"})]
    e = err(d.ask(start_json(process="P", wait=2), timeout=20), "TIMEOUT", "were not stopped")
    jid = env.fake.jobs[-1]["Id"]
    assert f"{jid} (Running)" in e or f"{jid} (Pending)" in e, e
    assert env.fake.stops == []
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "start", "P", "--wait",
                        "--timeout", "1"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 23, p
    env.fake.job_plan = [(0.5, {"State": "Faulted", "Info": "boom"})]
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "start", "P", "--wait"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 4, p


@test
def two_hundred_jobs_waited_in_one_folder_read_together(env):
    import random
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, raw="[jobs]\npoll_interval = 2\nlist_budget = 20\n")
    ok_json(d.ask(start_json(process="P", count=200)))
    ids = [j["Id"] for j in env.fake.jobs]
    for i in ids:
        env.fake.plan(i, [(random.uniform(0.5, 6.0), {"State": "Successful",
                                                      "OutputArguments": json.dumps({"id": i})})])
    got = pipelined_waits(d, ids)
    assert all(got[i]["state"] == "Successful" and got[i]["output"] == {"id": i} for i in ids)
    times = [e["time"] for e in env.fake.log if e["endpoint"] == "jobs_query"]
    assert times, "no collection query"
    worst = max(sum(1 for u in times if t <= u < t + 60) for t in times)
    assert worst <= 20, f"{worst} collection queries in a minute"
    assert max(env.fake.collection_sizes) <= 50 and len(env.fake.collection_sizes) == len(times)
    # One read of its own per ended job (for its outputs), and the few
    # early reads before the folder had four waits.
    assert 200 <= env.fake.count("job_get") <= 203, env.fake.counts
    stats = ok_json(d.ask("STATS"))
    assert stats["job_reads"]["collection"] == len(times) and stats["waits"] == 0
    print(f"     200 waits: {len(times)} collection queries (sizes {env.fake.collection_sizes}), "
          f"{env.fake.count('job_get')} single reads")


@test
def collection_429_falls_back_to_single_reads_without_a_hot_loop(env):
    env.fake.add_release("P")
    env.fake.collection_limit = 1
    env.fake.collection_retry_after = 3
    d = env.daemon(auth=JOBS, raw="[jobs]\npoll_interval = 1\n")
    ok_json(d.ask(start_json(process="P", count=10)))
    ids = [j["Id"] for j in env.fake.jobs]
    for i in ids:
        env.fake.plan(i, [(2.5, {"State": "Successful"})])
    t0 = time.time()
    got = pipelined_waits(d, ids)
    assert all(r["state"] == "Successful" for r in got.values())
    took = time.time() - t0
    assert env.fake.collection_429s >= 1 and env.fake.count("jobs_query") <= 4, env.fake.counts
    # Single reads meanwhile stay within max_single_reads (5 a second) plus
    # one output read per job.
    assert env.fake.count("job_get") <= 5 * (took + 1) + 10, (env.fake.counts, took)
    assert ok_json(d.ask("STATS"))["job_reads"]["rate_limited"] >= 1
    assert "rate limited (429)" in d.log()


@test
def a_refused_collection_query_answers_each_wait_by_its_own_read(env):
    # The token lacks OR.Jobs.Read: the folder's collection query is
    # refused, and so is each job's own read, which names the scope.
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask(start_json(process="P", count=6)))
    ids = [j["Id"] for j in env.fake.jobs]
    c = d.client(30)
    c.send("".join(f"@w{i} WAIT {i}\n" for i in ids))
    got = tagged_answers(c, len(ids))
    for a in got.values():
        err(a, "SCOPE", "OR.Jobs.Read")
    assert env.fake.count("jobs_query") >= 1, env.fake.counts
    assert ok_json(d.ask("STATS"))["waits"] == 0


@test
def unknown_ids_among_many_waits_are_not_found_the_rest_wait_on(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, raw="[jobs]\npoll_interval = 2\n")
    ok_json(d.ask(start_json(process="P", count=4)))
    ids = [j["Id"] for j in env.fake.jobs]
    unknown = [990001, 990002, 990003]
    c = d.client(30)
    c.send("".join(f"@w{i} WAIT {i}\n" for i in ids + unknown))
    got = tagged_answers(c, len(unknown))
    assert sorted(got) == [f"w{i}" for i in unknown], got
    for i in unknown:
        err(got[f"w{i}"], "NOT_FOUND", str(i))
    assert env.fake.count("jobs_query") >= 1, env.fake.counts
    assert ok_json(d.ask("STATS"))["waits"] == len(ids)
    for i in ids:
        env.fake.set_job(i, State="Successful")
    got = tagged_answers(c, len(ids))
    assert all(ok_json(a)["job"]["state"] == "Successful" for a in got.values())


@test
def a_wait_keeps_its_reads_across_sighup_and_takes_the_new_interval(env):
    env.fake.add_release("P")
    conf = env.config(auth=JOBS, raw="[jobs]\npoll_interval = 60\n")
    d = env.daemon(conf)
    jid = started_id(d)
    env.fake.plan(jid, [(0.2, {"State": "Running"}), (9.0, {"State": "Successful"})])
    c = d.client(30)
    c.send(f'@w WAIT {{"id":{jid},"timeout":30}}\n')
    assert wait_for(lambda: env.fake.count("job_get") >= 1)
    env.config(auth=JOBS, raw="[jobs]\npoll_interval = 1\n")
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reloaded" in d.log(), 5)
    # Reads 1, 2 and 4 s apart at first, then every poll_interval: with
    # the old 60 s the end (at 9 s) would be seen past the wait's timeout.
    a = ok_json(tagged_answers(c, 1, 25)["w"])
    assert a["job"]["state"] == "Successful"
    # One read a second at most after the reload: no storm of re-reads.
    assert env.fake.count("job_get") <= 14, env.fake.counts


@test
def waits_count_against_max_queue(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, orchestrator={"max_queue": "3", "max_queue_per_peer": "3"})
    jid = started_id(d)
    c = d.client(30)
    c.send("".join(f"@w{i} WAIT {jid}\n" for i in range(3)) + f"@j JOB {jid}\n@s START P\n")
    got = tagged_answers(c, 2)
    err(got["j"], "BUSY")
    err(got["s"], "BUSY")
    assert len(env.fake.jobs) == 1
    env.fake.set_job(jid, State="Successful")
    got = tagged_answers(c, 3)
    assert all(ok_json(a)["job"]["state"] == "Successful" for a in got.values())
    # Nothing waits now: a START that waits for more jobs than max_queue
    # fits alone, and weighs them meanwhile.
    c.send('@s START {"process":"P","count":5,"wait":true}\n')
    assert wait_for(lambda: len(env.fake.jobs) == 6)
    c.send(f"@j JOB {jid}\n")
    err(tagged_answers(c, 1)["j"], "BUSY")
    for j in env.fake.jobs:
        env.fake.set_job(j["Id"], State="Successful")
    a = ok_json(tagged_answers(c, 1)["s"])
    assert [j["state"] for j in a["jobs"]] == ["Successful"] * 5
    assert ok_json(d.ask(f"JOB {jid}"))["job"]["state"] == "Successful"
    assert ok_json(d.ask("STATS"))["inflight"] == 0


@test
def a_start_to_wait_for_jobs_without_ids_of_their_own_is_unknown(env):
    # A StartJobs answer (a proxy's, a bug's) whose jobs carry no Id, or one
    # Id twice: orchd cannot wait for them (a waited job is known by its
    # id; two waits on one job freed each other under ASan). It answers
    # UNKNOWN with the reference, and stays well.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    ok_json(d.ask("START P"))                                 # P's key is cached
    env.fake.fault("start", status=201, body={"value": [{"State": "Pending"}, {"State": "Pending"}]})
    err(d.ask('START {"process":"P","count":2,"wait":30,"reference":"r-1"}', timeout=10),
        "UNKNOWN", "r-1")
    env.fake.fault("start", status=201, body={"value": [{"Id": 7, "State": "Pending"},
                                                        {"Id": 7, "State": "Pending"}]})
    err(d.ask('START {"process":"P","count":2,"wait":30,"reference":"r-2"}', timeout=10),
        "UNKNOWN", "r-2")
    assert ok_json(d.ask("PING"))["pong"] is True
    assert ok_json(d.ask("STATS"))["inflight"] == 0
