"""Shutdown (contract 1.2, design.md 4b "Shutdown"): a signal only starts
the drain; what was never sent upstream is answered SHUTDOWN at once, not at
the deadline; no callback runs on a closed module on any drain path, a peer
gone before its answer included (AddressSanitizer and valgrind stay quiet:
the runner's check_logs fails on their reports); a failed start cleans up
after itself (uv_loop_close returns 0)."""

import os
import threading
import time

from itest import *  # noqa: F401,F403

SANITIZER_WORDS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "handles left open", "internal:")


def assert_clean(log):
    for bad in SANITIZER_WORDS:
        assert bad not in log, f"{bad!r} in orchd's log:\n{log[-3000:]}"


class Answers:
    """Reads a connection's answer lines in a thread, each with its time."""

    def __init__(self, c):
        self.c = c
        self.lines = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            while True:
                line = self.c.line(120)
                if line is None:
                    return
                self.lines.append((time.time(), line))
        except (OSError, TimeoutError):
            return

    def tagged(self):
        """{tag: (time, answer without the tag)}"""
        out = {}
        for t, line in list(self.lines):
            tag, _, rest = line.partition(" ")
            out[tag[1:]] = (t, rest)
        return out


@test
def drain_after_a_peer_left_touches_nothing_freed(env):
    # The AddressSanitizer report: PING and JOB, the client gone
    # without reading, then SIGTERM; the job read answers 2 s later, into
    # what the drain had freed.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    jid = started_id(d)
    env.fake.fault("job_get", delay=2.0)
    c = d.client()
    c.send(f"PING\nJOB {jid}\n")
    assert wait_for(lambda: env.fake.count("job_get") == 1, 5)
    c.close()
    assert wait_for(lambda: ok_json(d.ask("STATS"))["clients"] == 1, 5)   # the asker alone
    d.term()
    rc = d.stop(20)
    assert rc == 0, f"exit status {rc}:\n{d.log()[-3000:]}"
    assert_clean(d.log())


@test
def drain_with_every_kind_of_request_of_gone_peers_is_clean(env):
    # Peers gone with requests at every stage: a job read in flight, a wait,
    # a STOP, a START and an ENQUEUE sent and slow, a START with wait, reads
    # still waiting for their pacing slot; then SIGTERM. orchd exits 0 with
    # a clean log, and what has an effect anyway (START, STOP, ENQUEUE) ran
    # to its end.
    env.fake.add_release("P")
    env.fake.add_queue("Invoices")
    d = queue_daemon(env, raw="[jobs]\nmax_single_reads = 1\n")
    ok_json(d.ask(start_json(process="P", count=6)))
    ok_json(d.ask("ENQUEUE Invoices"))
    ids = [j["Id"] for j in env.fake.jobs]
    for i in ids:
        env.fake.set_job(i, State="Running")
    started, items = len(env.fake.jobs), len(env.fake.items)
    for ep in ("job_get", "start", "queue_add", "stop_job"):
        env.fake.fault(ep, delay=2.0, times=None)
    c1, c2, c3 = d.client(), d.client(), d.client()
    c1.send(f"@a JOB {ids[0]}\n@b WAIT {ids[1]}\n"
            + "".join(f"@r{k} JOB {k}\n" for k in range(900001, 900021)))
    c2.send(f"@s STOP {ids[2]}\n@p START P\n@e ENQUEUE Invoices\n")
    c3.send(start_json(process="P", wait=True) + "\n")
    assert wait_for(lambda: env.fake.count("start") >= 3 and env.fake.count("queue_add") >= 2
                    and env.fake.count("job_get") >= 1, 10), env.fake.counts
    for c in (c1, c2, c3):
        c.close()
    d.term()
    rc = d.stop(30)
    assert rc == 0, f"exit status {rc}:\n{d.log()[-3000:]}"
    assert_clean(d.log())
    # The START, the START with wait and the ENQUEUE were made; the STOP was
    # sent once its job had been read (or never, if the drain came first).
    assert len(env.fake.jobs) == started + 2 and len(env.fake.items) == items + 1, env.fake.counts
    assert len(env.fake.stops) <= 1


@test
def sigterm_answers_unsent_reads_shutdown_at_once(env):
    # 20 JOBs at one read a second, each read taking 3 s: at SIGTERM one or
    # two were sent (answered with their record when it comes); the others
    # never were: SHUTDOWN at once, not at the drain deadline (20 s).
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, server={"drain_timeout": "20"}, raw="[jobs]\nmax_single_reads = 1\n")
    ok_json(d.ask(start_json(process="P", count=20)))
    ids = [j["Id"] for j in env.fake.jobs]
    env.fake.fault("job_get", delay=3.0, times=None)
    c = d.client(30)
    got = Answers(c)
    c.send("".join(f"@j{i} JOB {i}\n" for i in ids))
    assert wait_for(lambda: env.fake.count("job_get") >= 1, 5)
    d.term()
    t0 = time.time()

    def unsent_answered():
        sent = env.fake.count("job_get")
        shut = [t for t, a in got.tagged().values() if a.startswith("ERR SHUTDOWN ")]
        return len(shut) >= len(ids) - sent
    assert wait_for(unsent_answered, 2.0), \
        f"{len(got.lines)} answers within 2 s of SIGTERM, {env.fake.count('job_get')} reads sent: " \
        f"{[a for _, a in got.lines][:3]}"
    rc = d.stop(25)
    took = time.time() - t0
    assert rc == 0 and took < 10, f"exit {rc} {took:.1f} s after SIGTERM (drain_timeout 20)"
    assert wait_for(lambda: len(got.lines) == len(ids), 2), len(got.lines)
    answers = got.tagged()
    sent = env.fake.count("job_get")
    ok = [tag for tag, (_, a) in answers.items() if a.startswith("OK ")]
    shut = [tag for tag, (_, a) in answers.items() if a.startswith("ERR SHUTDOWN ")]
    assert len(ok) == sent and len(shut) == len(ids) - sent, (sent, answers)
    for tag in shut:
        assert answers[tag][0] - t0 < 2.0
    c.close()


@test
def a_failed_start_cleans_up_after_itself(env):
    # A path that exists and is not a socket: orchd says so and exits
    # non-zero, its loop closed cleanly (no "handles left open"), nothing
    # leaked (LeakSanitizer) and the file left alone.
    path = os.path.join(env.dir, "orchd.sock")
    with open(path, "w") as f:
        f.write("not a socket\n")
    d = env.daemon(wait_ready=False)
    rc = d.proc.wait(30)
    log = d.log()
    assert rc != 0 and path in log and "not a socket" in log, (rc, log)
    assert_clean(log)
    with open(path) as f:
        assert f.read() == "not a socket\n"
    os.unlink(path)
    # Another orchd listens there already: the second says so, leaves the
    # first one's socket alone and exits as cleanly.
    first = env.daemon()
    second = env.daemon(wait_ready=False)
    rc = second.proc.wait(30)
    log = second.log()
    assert rc != 0 and path in log and "listening" in log, (rc, log)
    assert_clean(log)
    assert first.ask("PING") == 'OK {"pong":true}'
    assert first.stop() == 0
    assert_clean(first.log())


@test
def sigterm_answers_a_settling_start_unknown_at_once(env):
    # An ambiguous START whose lookup by Reference is not due yet (twice
    # timeout away): SIGTERM answers it UNKNOWN with its reference at once;
    # nothing is looked up or started again during the drain.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, orchestrator={"timeout": "5"}, server={"drain_timeout": "30"})
    ok_json(d.ask("START P"))
    env.fake.fault("start", status=502)                       # nothing created: ambiguous
    c = d.client(30)
    c.send('START {"process":"P","reference":"drain-1"}\n')
    assert wait_for(lambda: env.fake.count("start") == 2, 5)
    time.sleep(1.5)                                           # the first lookup found nothing
    sent = dict(env.fake.counts)
    d.term()
    t0 = time.time()
    a = c.line(10)
    assert a.startswith("ERR UNKNOWN") and "drain-1" in a, a
    assert time.time() - t0 < 2, time.time() - t0
    assert d.stop(10) == 0
    assert env.fake.count("start") == sent.get("start", 0), env.fake.counts
    assert env.fake.count("jobs_query") == sent.get("jobs_query", 0), env.fake.counts


@test
def a_client_that_connected_just_before_sigterm_gets_an_answer(env):
    """A connection accepted just before the signal, whose request was not
    sent yet, is still read for a moment (500 ms after its accept): its
    request is answered SHUTDOWN, not met by a closed socket (under
    systemd, a restart under load answers every request exactly once)."""
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("PING"))
    c = d.client(5)
    assert wait_for(lambda: ok_json(d.ask("STATS"))["clients"] == 2, 5)   # c, and STATS's own
    d.term()
    time.sleep(0.1)
    c.send("START P\n")
    err(c.line(), "SHUTDOWN")
    assert c.closed(3)
    assert d.proc.wait(10) == 0
    assert env.fake.count("start") == 0
