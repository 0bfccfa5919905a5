"""Admission (contract 1.2, design.md 4b "Admission" and "Reads and the
tenant's budget"): the rules decide before a place, a byte or a call is
spent; one peer holds at most its share of max_queue places and of
max_pending_bytes; a closed connection drops its requests without side
effects at once; DENIED names only what the request named; reads waiting
for a max_single_reads slot cost no CPU; lookups that settle an ambiguous
START come before sweeps, and one folder named two ways is swept once.

Several tests run a client as uid 65534 (nobody): they need root, as the
access tests do, and say so when skipped."""

import json
import os
import random
import socket
import threading
import time
import urllib.parse

from itest import *  # noqa: F401,F403

NOBODY = 65534


def _as_root():
    if os.geteuid() != 0:
        print("     (skipped: needs root to run a client as another user)")
        return False
    return True


def client_as(d, uid, timeout=10.0):
    """A harness client whose connection orchd sees as uid's (SO_PEERCRED
    is taken at connect): a forked child takes uid, connects, and hands the
    connected socket back over a socketpair. The caller has made the
    socket's directory and the socket itself reachable for uid."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:                                   # the child: syscalls only, then _exit
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            socket.send_fds(theirs, [b"x"], [s.fileno()])
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        ours.settimeout(10)
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    except OSError:
        fds = []
    finally:
        ours.close()
        _, status = os.waitpid(pid, 0)
    assert fds and status == 0, f"a client as uid {uid} could not connect to {d.sock}"
    c = harness.Client.__new__(harness.Client)
    c.sock = socket.socket(fileno=fds[0])
    c.sock.settimeout(timeout)
    c.buf = b""
    c.timeout = timeout
    return c


def stats(d):
    return ok_json(d.ask("STATS"))


def cpu_seconds(pid):
    """utime + stime of pid so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def instrumented():
    """True when orchd runs under a sanitizer or a wrapper (valgrind):
    memory and CPU are then the tool's as much as orchd's."""
    if harness.WRAP:
        return True
    with open(os.path.join(harness.BUILD, "orchd"), "rb") as f:
        return b"__asan_init" in f.read()


def small_quarantine():
    # ASan keeps freed memory in quarantine (256 MB by default): keep it
    # small so that RSS shows what orchd holds.
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"}


class Peak:
    """Samples orchd's RSS (kB) and STATS' inflight in a thread, keeping the
    highest of each, until stopped."""

    def __init__(self, d):
        self.d = d
        self.rss = rss_kb(d.proc.pid)
        self.inflight = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        c = self.d.client(30)
        try:
            while not self.stop_ev.is_set():
                self.rss = max(self.rss, rss_kb(self.d.proc.pid))
                self.inflight = max(self.inflight, ok_json(c.ask("STATS", 30))["inflight"])
                time.sleep(0.02)
        except (OSError, TimeoutError, AssertionError):
            return      # orchd is gone: the test says why
        finally:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.thread.join()


class Reader:
    """Reads answer lines of a connection in a thread: (time, line) each."""

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

    def wait(self, n, timeout):
        assert wait_for(lambda: len(self.lines) >= n, timeout), \
            f"{len(self.lines)} of {n} answers within {timeout} s"
        return [line for _, line in self.lines]


def codes(answers):
    """{"OK": n, "ERR BUSY": n, ...} of answer lines, tags stripped."""
    out = {}
    for a in answers:
        words = a.split(" ", 3)
        if words[0].startswith("@"):
            words = words[1:]
        k = words[0] if words[0] == "OK" else " ".join(words[:2])
        out[k] = out.get(k, 0) + 1
    return out


# ---- the rules decide first -------------------------------------------

@test
def a_peer_without_rights_cannot_make_another_peers_start_busy(env):
    # uid 65534 has no rule at all: each of its requests is DENIED before
    # it takes a place or causes a read. Orchestrator is slow to answer job
    # reads here, so a read made for it would hold a place for long.
    if not _as_root():
        return
    env.fake.add_release("P")
    os.chmod(env.dir, 0o755)
    d = env.daemon(auth=JOBS, access=["uid:0 *"], server={"socket_mode": "0666"},
                   orchestrator={"max_queue": "1024"})
    ok_json(d.ask("START P"))
    env.fake.fault("job_get", delay=10.0, times=None)
    env.fake.reset_counters()
    ids = random.sample(range(10 ** 6, 10 ** 9), 4096)
    asker = d.client()
    polls = [0]

    def requests():
        polls[0] += 1
        return ok_json(asker.ask("STATS"))["requests"]
    before = requests()
    s = client_as(d, NOBODY)
    s.send("".join(f"JOB {i}\n" for i in ids))
    # Every line was taken once the count holds them besides the STATS.
    assert wait_for(lambda: requests() >= before + 4096 + polls[0] - 1, 20), \
        "orchd did not take the 4,096 lines"
    asker.close()
    s.close()                                       # gone without reading a word
    root = d.client()
    for _ in range(3):
        ok_json(root.ask("START P"))                # not BUSY
    assert wait_for(lambda: ok_json(root.ask("STATS"))["inflight"] == 0, 1.0), \
        f"inflight {ok_json(root.ask('STATS'))['inflight']} a second after the peer left"
    assert env.fake.count("job_get") == 0 and env.fake.count("jobs_query") == 0, env.fake.counts
    # The same, read: every answer is DENIED, at once, whatever the verb
    # and the folder (a path, an id, the default), queue verbs included.
    s = client_as(d, NOBODY, 20)
    forms = [lambda i: f"JOB {i}", lambda i: f"WAIT {i} Shared", lambda i: f"STOP {i} kill",
             lambda i: 'WAIT {"id":%d,"folder":2,"timeout":60}' % i, lambda i: f"ITEM {i}",
             lambda i: "ENQUEUE Invoices", lambda i: "START P"]
    lines = [forms[k % len(forms)](i) for k, i in enumerate(ids)]
    s.send("".join(line + "\n" for line in lines))
    t0 = time.time()
    for line in lines:
        err(s.line(max(1.0, 20 - (time.time() - t0))), "DENIED")
    s.close()
    assert sum(env.fake.counts.get(k, 0) for k in ("job_get", "jobs_query", "stop_job", "queue_item",
                                                   "queue_add", "queue_defs")) == 0, env.fake.counts
    assert env.fake.count("start") == 3 and env.fake.stops == []
    assert ok_json(root.ask("STATS"))["inflight"] == 0
    root.close()


@test
def denied_before_any_read_when_no_rule_could_match_the_folder(env):
    # Rules for another folder, by path and by id: a request whose folder
    # (named by path, by id, or the default) no rule could match is DENIED
    # before its job or item is read. A folder named by id matches only
    # folder=#ID rules and rules without folder=.
    env.fake.add_release("P")
    env.fake.add_release("P", folder="Shared/Finance")
    uid = os.getuid()
    d = env.daemon(auth=JOBS, access=[f"uid:{uid} * folder=Shared/Finance",
                                      f"uid:{uid} queue:* folder=#2"])
    jid = started_id(d, folder="Shared/Finance")
    env.fake.reset_counters()
    for line in (f"JOB {jid}", f"WAIT {jid}", f"STOP {jid}", f"JOB {jid} Shared",
                 '{"id":%d,"folder":2}' % jid, '{"id":%d,"folder":1}' % jid):
        if line.startswith("{"):
            for verb in ("JOB", "WAIT", "STOP"):
                err(d.ask(f"{verb} {line}"), "DENIED")
        else:
            err(d.ask(line), "DENIED")
    for line in ("ITEM 991", 'ITEM {"id":991,"folder":1}', "ENQUEUE Invoices",
                 'ENQUEUE {"queue":"Invoices","folder":"Shared"}'):
        err(d.ask(line), "DENIED")
    calls = {k: v for k, v in env.fake.counts.items() if k not in ("token", "discovery")}
    assert calls == {}, calls                           # not one call
    assert env.fake.stops == []
    assert ok_json(d.ask("STATS"))["inflight"] == 0
    # What the rules allow still works: the path rule, by path.
    assert ok_json(d.ask(f"JOB {jid} Shared/Finance"))["job"]["id"] == jid


@test
def denied_answers_name_only_what_the_request_named(env):
    env.fake.add_release("Payroll")
    env.fake.add_release("Archive")
    qid = env.fake.add_queue("Secret")
    env.fake.add_queue("Other")
    d = queue_daemon(env)
    ok_json(d.ask(start_json(process="Payroll", reference="payroll-ref-77")))
    job = env.fake.jobs[-1]
    env.fake.set_job(job["Id"], State="Successful",
                     OutputArguments=json.dumps({"Salary": "hidden-output-9"}))
    item = ok_json(d.ask(enqueue_json(queue="Secret", reference="secret-ref-55",
                                      content={"k": "hidden-content-3"})))["item"]["id"]
    uid = os.getuid()
    conf = env.config(access=[f"uid:{uid} A*", f"uid:{uid} queue:Other"],
                      auth={"scope": " ".join(QUEUE_SCOPES)},
                      server={"socket": os.path.join(env.dir, "b.sock")}, filename="b.conf")
    d2 = env.daemon(conf, sock=os.path.join(env.dir, "b.sock"))
    secrets = ["Payroll", "payroll-ref-77", job["Key"], "hidden-output-9", "Salary",
               "Secret", "secret-ref-55", "hidden-content-3", f"queue {qid}"]
    answers = [d2.ask(f"JOB {job['Id']}"), d2.ask(f"WAIT {job['Id']}"), d2.ask(f"STOP {job['Id']}"),
               d2.ask('JOB {"id":%d,"folder":1}' % job["Id"]), d2.ask(f"WAIT {job['Id']} Shared"),
               d2.ask(f"ITEM {item}"), d2.ask('ITEM {"id":%d,"folder":"Shared"}' % item)]
    for a in answers:
        err(a, "DENIED")
        for s in secrets:
            assert s not in a, f"{s!r} in {a!r}"
    assert env.fake.stops == []
    # What the peer may read, it reads.
    a = ok_json(d2.ask(start_json(process="Archive")))
    ok_json(d2.ask(f"JOB {a['jobs'][0]['id']}"))


# ---- places and bytes per peer ------------------------------------------

@test
def one_peer_holds_at_most_its_share_of_max_queue(env):
    # max_queue 8 and no max_queue_per_peer: a peer's share is a quarter,
    # 2. Orchestrator is slow to answer job reads, so places stay taken.
    if not _as_root():
        return
    env.fake.add_release("P")
    os.chmod(env.dir, 0o755)
    d = env.daemon(auth=JOBS, access=["uid:0 *", f"uid:{NOBODY} *"], server={"socket_mode": "0666"},
                   orchestrator={"max_queue": "8"})
    ok_json(d.ask(start_json(process="P", count=8)))
    ids = [j["Id"] for j in env.fake.jobs]
    env.fake.fault("job_get", delay=3.0, times=None)
    s = client_as(d, NOBODY, 20)
    rs = Reader(s)
    s.send("".join(f"@s{k} JOB {ids[k]}\n" for k in range(3)))
    assert wait_for(lambda: len(rs.lines) >= 1 or env.fake.count("job_get") >= 3, 5)
    root = d.client(20)
    rr = Reader(root)
    root.send(f"@r0 JOB {ids[3]}\n@r1 JOB {ids[4]}\n@r2 JOB {ids[5]}\n")
    got_s = dict(a.split(" ", 1) for a in rs.wait(3, 20))
    got_r = dict(a.split(" ", 1) for a in rr.wait(3, 20))
    # Each peer's third request is BUSY (nothing sent for it), and answered
    # first, before the slow reads; the others are read and answered.
    err(got_s["@s2"], "BUSY")
    err(got_r["@r2"], "BUSY")
    assert rs.lines[0][1].startswith("@s2 ") and rr.lines[0][1].startswith("@r2 "), (rs.lines, rr.lines)
    for tag in ("@s0", "@s1"):
        assert ok_json(got_s[tag])["job"]["id"] in ids
    for tag in ("@r0", "@r1"):
        assert ok_json(got_r[tag])["job"]["id"] in ids
    # 4 of 8 places were taken: the BUSY answers were the peers' share,
    # not max_queue.
    assert env.fake.count("job_get") == 4, env.fake.counts
    s.close()
    root.close()
    assert ok_json(d.ask("STATS"))["inflight"] == 0


@test
def max_queue_per_peer_sets_a_peers_share(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, orchestrator={"max_queue": "100", "max_queue_per_peer": "3"})
    ok_json(d.ask(start_json(process="P", count=5)))
    ids = [j["Id"] for j in env.fake.jobs]
    env.fake.fault("job_get", delay=2.0, times=None)
    a, b = d.client(20), d.client(20)      # one peer, two connections: one share
    a.send(f"@a0 JOB {ids[0]}\n@a1 JOB {ids[1]}\n")
    assert wait_for(lambda: env.fake.count("job_get") >= 2, 5)
    b.send(f"@b0 JOB {ids[2]}\n@b1 JOB {ids[3]}\n")
    got = tagged_answers(b, 2, 20)
    err(got["b1"], "BUSY")
    assert ok_json(got["b0"])["job"]["id"] == ids[2]
    assert all(ok_json(x)["job"] for x in tagged_answers(a, 2, 20).values())
    assert env.fake.count("job_get") == 3, env.fake.counts
    # The places came back: the peer's share is free again.
    b.send(f"@c0 JOB {ids[4]}\n")
    assert ok_json(tagged_answers(b, 1, 20)["c0"])["job"]["id"] == ids[4]


def _queue_daemon(env, **kw):
    """queue_daemon with ASan's quarantine kept small (RSS is measured)."""
    env.fake.add_app("app", env.secret, QUEUE_SCOPES)
    return env.daemon(auth={"scope": " ".join(QUEUE_SCOPES)}, env=small_quarantine(), **kw)


def _enqueue_lines(prefix, n, size=62000):
    """n tagged ENQUEUEs of about size bytes of content each."""
    pad = "x" * size
    return [f"@{prefix}{k} " + enqueue_json(queue="Invoices", content={"pad": pad, "k": k})
            for k in range(n)]


def _flood_bytes(env, d, budget, per_conn, conns):
    """A peer (root) pipelines tagged 62 KB ENQUEUEs on conns connections
    while AddQueueItem takes 8 s; then uid 65534 sends two. Asserts that the
    peer held at most a quarter of budget at once, that the rest were BUSY,
    and that the other peer was admitted. Returns (RSS before, peak RSS)."""
    env.fake.fault("queue_add", delay=8.0, times=None)
    peak = Peak(d)
    base_rss = peak.rss
    clients = [d.client(60) for _ in range(conns)]
    try:
        readers = [Reader(c) for c in clients]
        batches = [_enqueue_lines(f"c{k}-", per_conn) for k in range(conns)]
        line_len = len(batches[0][0]) + 1
        senders = [threading.Thread(target=c.sock.sendall, args=(("\n".join(b) + "\n").encode(),))
                   for c, b in zip(clients, batches)]
        t0 = time.time()
        for t in senders:
            t.start()
        for t in senders:
            t.join(60)
        sent_in = time.time() - t0
        n = per_conn * conns
        share = budget // 4
        most = share // line_len + 1
        # Each BUSY comes at once; the admitted ones wait for the slow add.
        wait_for(lambda: sum(len(r.lines) for r in readers) >= n - most, 10)
        # The peer held at most its quarter of the budget at once.
        assert peak.inflight * line_len <= share + 2 * line_len, \
            f"{peak.inflight} ENQUEUEs of {line_len} B held at once (a peer's share is {share} B); " \
            f"RSS {base_rss} -> {peak.rss} kB"
        # Another peer is admitted meanwhile.
        s = client_as(d, NOBODY, 30)
        s.send("\n".join(_enqueue_lines("n", 2)) + "\n")
        other = tagged_answers(s, 2, 60)
        s.close()
        answers = [a for r in readers for a in r.wait(per_conn, 90)]
    finally:
        peak.stop()
        for c in clients:
            c.close()
    got = codes(answers)
    print(f"     {n} x {line_len} B sent in {sent_in:.1f} s: {got}; peak inflight {peak.inflight}, "
          f"RSS {base_rss} -> {peak.rss} kB")
    assert set(got) <= {"OK", "ERR BUSY"}, got
    if sent_in < 6:     # all sent while the first admitted ones were held
        assert got.get("ERR BUSY", 0) >= n - most and got.get("OK", 0) >= 1, got
    for a in other.values():
        assert ok_json(a)["item"]["id"]
    return base_rss, peak.rss


@test(serial=True)   # measures RSS
def pending_bytes_are_bounded(env):
    # The default max_pending_bytes (64 MiB): one peer holds at most 16 MiB
    # of request lines; 2,000 ENQUEUEs of 62 KB (124 MB) on two connections
    # mostly get BUSY, and RSS stays under 3 x 64 + 32 MiB.
    if not _as_root():
        return
    env.fake.add_queue("Invoices")
    os.chmod(env.dir, 0o755)
    d = _queue_daemon(env, server={"socket_mode": "0666"})
    ok_json(d.ask("ENQUEUE Invoices"))
    budget = 64 << 20
    base, peak = _flood_bytes(env, d, budget, 1000, 2)
    bound = 3 * budget + (32 << 20)
    if instrumented():
        assert (peak - base) * 1024 <= bound, f"RSS grew {(peak - base) >> 10} MiB"
    else:
        assert peak * 1024 <= bound, f"RSS {peak >> 10} MiB, over 3 x max_pending_bytes + 32 MiB"
    assert ok_json(d.ask("STATS"))["inflight"] == 0


@test(serial=True)   # measures RSS
def max_pending_bytes_bounds_a_peers_bytes_and_rss(env):
    # max_pending_bytes 4 MiB: a peer holds at most 1 MiB of lines, about
    # 16 ENQUEUEs of 62 KB; RSS stays under 3 x 4 + 32 MiB.
    if not _as_root():
        return
    env.fake.add_queue("Invoices")
    os.chmod(env.dir, 0o755)
    budget = 4 << 20
    d = _queue_daemon(env, orchestrator={"max_pending_bytes": str(budget)}, server={"socket_mode": "0666"})
    ok_json(d.ask("ENQUEUE Invoices"))
    base, peak = _flood_bytes(env, d, budget, 1000, 2)
    bound = 3 * budget + (32 << 20)
    if instrumented():
        assert (peak - base) * 1024 <= bound, f"RSS grew {(peak - base) >> 10} MiB"
    else:
        assert peak * 1024 <= bound, f"RSS {peak >> 10} MiB, over 3 x max_pending_bytes + 32 MiB"
    assert ok_json(d.ask("STATS"))["inflight"] == 0


# ---- a closed connection --------------------------------------------------

@test
def a_closed_connection_frees_its_places_within_a_second(env):
    env.fake.add_release("P")
    env.fake.add_release("Q")
    d = env.daemon(auth=JOBS, raw="[jobs]\nmax_single_reads = 1\npoll_interval = 1\n")
    # A START whose client is gone before anything was sent still runs to
    # its end (the lookup of Q, then StartJobs), and is logged.
    c = d.client()
    c.send("START Q\n")
    c.close()
    assert wait_for(lambda: any(j["ReleaseName"] == "Q" for j in env.fake.jobs), 10), env.fake.counts
    assert wait_for(lambda: any('"Q"' in line and "OK" in line for line in d.log().splitlines()), 5), d.log()
    ok_json(d.ask(start_json(process="P", count=50)))
    waited = [j["Id"] for j in env.fake.jobs if j["ReleaseName"] == "P"]
    for i in waited:
        env.fake.set_job(i, State="Running")
    # On three connections: 500 JOBs of distinct ids at one read a second;
    # 50 tagged WAITs in one folder (collection reads); a START with wait
    # whose StartJobs is sent.
    unknown = random.sample(range(10 ** 6, 10 ** 9), 500)
    jobs_c, waits_c, sw_c = d.client(), d.client(), d.client()
    jobs_c.send("".join(f"@j{i} JOB {i}\n" for i in unknown))
    waits_c.send("".join(f"@w{i} WAIT {i}\n" for i in waited))
    env.fake.job_plan = [(0.1, {"State": "Running"})]
    sw_c.send(start_json(process="P", wait=True) + "\n")
    assert wait_for(lambda: (lambda s: s["inflight"] >= 540 and s["waits"] == 51)(stats(d)), 10), \
        {k: stats(d)[k] for k in ("inflight", "waits")}
    assert wait_for(lambda: env.fake.count("job_get") >= 2, 5)
    env.fake.job_plan = None
    started = len(env.fake.jobs)
    for c in (jobs_c, waits_c, sw_c):
        c.close()
    t0 = time.time()
    freed = wait_for(lambda: (lambda s: s["inflight"] == 0 and s["waits"] == 0)(stats(d)), 1.0)
    st = stats(d)
    assert freed, \
        f"{time.time() - t0:.1f} s after the clients left: inflight {st['inflight']}, waits {st['waits']}"
    # A read in flight may end; no read or sweep is made for them after it.
    time.sleep(1.0)
    n = env.fake.count("job_get") + env.fake.count("jobs_query")
    time.sleep(3.0)
    assert env.fake.count("job_get") + env.fake.count("jobs_query") == n, env.fake.counts
    assert len(env.fake.jobs) == started and env.fake.stops == []


# ---- reads waiting for a slot ------------------------------------------

@test(serial=True)   # measures CPU
def pending_reads_cost_no_cpu(env):
    env.fake.add_release("P")
    # max_queue 16384: a peer's share (a quarter) holds the 4,096.
    d = env.daemon(auth=JOBS, orchestrator={"max_queue": "16384"}, raw="[jobs]\nmax_single_reads = 1\n")
    ids = random.sample(range(10 ** 6, 10 ** 9), 4096)
    c = d.client(30)
    t_sent = time.time()
    c.send("".join(f"@j{i} JOB {i}\n" for i in ids))
    assert wait_for(lambda: stats(d)["inflight"] >= 4080, 20), f"inflight {stats(d)['inflight']}"
    time.sleep(0.5)
    pid = d.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.time()
    time.sleep(5.0)
    cpu = (cpu_seconds(pid) - cpu0) / (time.time() - t0)
    reads = env.fake.count("job_get")
    print(f"     4,096 JOBs waiting for a read slot: {cpu * 100:.1f} % of a core, {reads} reads")
    limit = 0.10 if instrumented() else 0.02
    assert cpu < limit, f"orchd used {cpu * 100:.1f} % of a core while the reads waited"
    # Still paced: one read a second.
    assert reads <= time.time() - t_sent + 2, env.fake.counts
    c.close()


@test(serial=True)   # measures CPU
def pending_reads_cost_no_cpu_at_the_default_pace(env):
    # As above at max_single_reads = 5: a slot every 200 ms.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, orchestrator={"max_queue": "16384"})
    ids = random.sample(range(10 ** 6, 10 ** 9), 4096)
    c = d.client(30)
    c.send("".join(f"@j{i} JOB {i}\n" for i in ids))
    assert wait_for(lambda: stats(d)["inflight"] >= 4000, 20), f"inflight {stats(d)['inflight']}"
    pid = d.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.time()
    time.sleep(5.0)
    cpu = (cpu_seconds(pid) - cpu0) / (time.time() - t0)
    print(f"     4,096 JOBs at 5 reads a second: {cpu * 100:.1f} % of a core")
    limit = 0.10 if instrumented() else 0.02
    assert cpu < limit, f"orchd used {cpu * 100:.1f} % of a core while the reads waited"
    c.close()


# ---- the tenant's budget --------------------------------------------------

@test
def settling_lookups_come_before_sweeps(env):
    # list_budget 2: room for one sweep of the folder's waited jobs and the
    # lookup that settles an ambiguous START. The 4 jobs are waited by path
    # (Shared) and by id (1): one folder, one sweep a poll, so the lookup
    # has its query and the START is answered OK (found by its reference),
    # not UNKNOWN.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS, orchestrator={"timeout": "2"},
                   raw="[jobs]\npoll_interval = 30\nlist_budget = 2\n")
    ok_json(d.ask(start_json(process="P", count=4)))
    ids = [j["Id"] for j in env.fake.jobs]
    for i in ids:
        env.fake.set_job(i, State="Running")
    # orchd reads a job both ways: it knows that Shared is folder 1.
    assert ok_json(d.ask(f"JOB {ids[0]}"))["job"]["id"] == ids[0]
    assert ok_json(d.ask('JOB {"id":%d,"folder":1}' % ids[0]))["job"]["id"] == ids[0]
    c = d.client(60)
    c.send("".join(f"@p{i} WAIT {i}\n" for i in ids)
           + "".join('@i%d WAIT {"id":%d,"folder":1}\n' % (i, i) for i in ids))

    def queries(what):
        return [e for e in env.fake.log
                if e["endpoint"] == "jobs_query" and what in urllib.parse.unquote(e["path"])]
    assert wait_for(lambda: queries("Id in ("), 10), env.fake.counts
    wait_for(lambda: len(queries("Id in (")) >= 2, 1.5)     # a second sweep would come with the first
    env.fake.fault("start", status=502, after_create=True)
    t0 = time.time()
    a = d.ask(start_json(process="P", reference="settle-1"), timeout=30)
    assert a.startswith("OK "), f"{a} (sweeps: {len(queries('Id in ('))})"
    a = ok_json(a)
    assert a["reference"] == "settle-1" and a["jobs"][0]["id"] == env.fake.jobs[-1]["Id"], a
    assert len(env.fake.jobs) == 5 and jobs_per_reference(env.fake)["settle-1"] == 1
    assert time.time() - t0 < 15
    assert len(queries("Reference eq")) == 1, env.fake.counts
    assert len(queries("Id in (")) == 1, f"{len(queries('Id in ('))} sweeps for one folder named two ways"
    c.close()


@test
def a_start_to_wait_for_whose_client_left_during_startjobs_waits_for_nobody(env):
    # The client is gone before StartJobs answered: the job is started (its
    # effect), but nobody is waited for: the places are given back at once
    # and no job read follows.
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    ok_json(d.ask("START P"))                                 # P's key is cached
    env.fake.fault("start", delay=2.0)
    c = d.client()
    c.send('START {"process":"P","count":3,"wait":600}\n')
    assert wait_for(lambda: stats(d)["pending"]["places"] == 3, 5)
    c.close()
    assert wait_for(lambda: len(env.fake.jobs) == 4, 10), env.fake.counts
    assert wait_for(lambda: stats(d)["pending"]["places"] == 0 and stats(d)["inflight"] == 0, 2), stats(d)
    reads = env.fake.count("job_get") + env.fake.count("jobs_query")
    time.sleep(3)
    assert env.fake.count("job_get") + env.fake.count("jobs_query") == reads, env.fake.counts
