#!/usr/bin/env python3
"""make soak: many clients trigger jobs for minutes while the fake
Orchestrator injects random faults (429 with Retry-After, 5xx before and
after the job was created, resets, delays, failing lookups, failing token
requests, 5 s tokens). At the end it checks what must hold whatever the
faults, and prints the figures:

- every request got exactly one answer;
- no reference has two jobs (nothing was started twice);
- an OK answer has its job, an answer that says nothing was started
  (UNAVAILABLE, BUSY, SHUTDOWN, REJECTED...) has none;
- the daemon's RSS and open descriptors are back to their baseline.

SOAK_REQUESTS (default 20000) and SOAK_CLIENTS (default 32) size the run.
"""

import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integ"))
import harness  # noqa: E402
from harness import Env  # noqa: E402
from testlib import rss_kb  # noqa: E402


def tcp_inodes():
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    inodes.add(line.split()[9])
        except OSError:
            pass
    return inodes


def nfds(pid):
    """(descriptors that are not TCP connections, TCP connections): the
    second are libcurl's pool of warm HTTPS connections."""
    tcp = tcp_inodes()
    other = conns = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in tcp:
            conns += 1
        else:
            other += 1
    return other, conns


FAULTS = [
    dict(endpoint="start", status=429, retry_after=0),
    dict(endpoint="start", status=429, retry_after=1),
    dict(endpoint="start", status=503),                       # refused, nothing created
    dict(endpoint="start", status=502, after_create=True),    # created, answer lost
    dict(endpoint="start", reset=True),                       # reset before creating
    dict(endpoint="start", reset=True, after_create=True),    # reset after creating
    dict(endpoint="start", delay=0.5),
    dict(endpoint="releases", status=500),
    dict(endpoint="jobs_query", status=500),
]
# Token requests fail now and then too, rarer: a token lives 5 s here.
TOKEN_FAULT = dict(endpoint="token", status=503)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    harness.BUILD = build
    total = int(os.environ.get("SOAK_REQUESTS", "20000"))
    nclients = int(os.environ.get("SOAK_CLIENTS", "32"))
    env = Env("soak")
    fake = env.fake
    fake.token_lifetime = 5
    procs = [f"Bot {i}" for i in range(5)]
    for p in procs:
        fake.add_release(p)
    d = env.daemon(auth={"scope": "OR.Jobs.Write OR.Jobs.Read OR.Execution.Read"},
                   orchestrator={"timeout": "5"}, cache={"release_ttl": "2"})
    pid = d.proc.pid
    warm = [d.client() for _ in range(nclients)]     # warm: token, keys, connections
    for i, c in enumerate(warm):
        c.send(f'START "{procs[i % len(procs)]}"\n')
    for c in warm:
        c.line(30)
        c.close()
    time.sleep(1)
    base_rss, (base_fds, base_conns) = rss_kb(pid), nfds(pid)
    base_heap = json.loads(d.ask("STATS")[3:])["heap_in_use"]

    stop = threading.Event()

    def inject():
        rnd = random.Random(1)
        last_token_fault = 0
        while not stop.is_set():
            f = rnd.choice(FAULTS)
            if time.time() - last_token_fault > 10:      # an Identity hiccup every 10 s
                f, last_token_fault = TOKEN_FAULT, time.time()
            # Faults of rare endpoints would pile up: at most one waits at a time.
            with fake.lock:
                waiting = sum(1 for x in fake.faults if x.endpoint == f["endpoint"] and x.times)
            if f["endpoint"] == "start" or not waiting:
                fake.fault(**f)
            time.sleep(0.1)
    injector = threading.Thread(target=inject, daemon=True)
    injector.start()

    answers = {}                                     # reference -> answer line
    lock = threading.Lock()
    per_client = total // nclients
    errors = []

    def client(k):
        try:
            c = d.client(timeout=120)
            rnd = random.Random(k)
            sent = 0
            while sent < per_client:
                batch = min(rnd.randint(1, 20), per_client - sent)
                refs = [f"soak-{k}-{sent + i}" for i in range(batch)]
                c.send("".join("START " + json.dumps({"process": rnd.choice(procs), "reference": r}) + "\n"
                               for r in refs))
                for r in refs:
                    line = c.line(120)
                    if line is None:
                        raise RuntimeError("connection closed with requests pending")
                    with lock:
                        answers[r] = line
                sent += batch
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
    for t in threads:
        t.start()
    peak_rss = base_rss
    while any(t.is_alive() for t in threads):
        peak_rss = max(peak_rss, rss_kb(pid))
        time.sleep(0.5)
    elapsed = time.time() - t0
    stop.set()
    injector.join()
    fake.faults.clear()
    stats = json.loads(d.ask("STATS")[3:])
    time.sleep(2)
    end_rss, (end_fds, end_conns) = rss_kb(pid), nfds(pid)
    end_heap = json.loads(d.ask("STATS")[3:])["heap_in_use"]

    sent = per_client * nclients
    codes = {}
    for a in answers.values():
        code = "OK" if a.startswith("OK ") else a.split()[1]
        codes[code] = codes.get(code, 0) + 1
    jobs_per_ref = {}
    for j in fake.jobs:
        jobs_per_ref[j["Reference"]] = jobs_per_ref.get(j["Reference"], 0) + 1
    dups = {r: n for r, n in jobs_per_ref.items() if n > 1}
    ok_without_job = [r for r, a in answers.items() if a.startswith("OK ") and jobs_per_ref.get(r) != 1]
    nothing_started = ("UNAVAILABLE", "BUSY", "SHUTDOWN", "REJECTED", "NOT_FOUND", "AUTH", "SCOPE",
                       "FOLDER", "BAD_REQUEST", "DENIED", "AMBIGUOUS")
    err_with_job = [r for r, a in answers.items()
                    if a.startswith("ERR ") and a.split()[1] in nothing_started and r in jobs_per_ref]
    unknown_created = sum(1 for r, a in answers.items() if a.startswith("ERR UNKNOWN") and r in jobs_per_ref)

    print(f"requests sent          {sent} from {nclients} clients in {elapsed:.1f} s "
          f"({sent / elapsed:.0f}/s)")
    print(f"answers                {len(answers)}  by code: {json.dumps(codes, sort_keys=True)}")
    print(f"jobs in the fake       {sum(jobs_per_ref.get(r, 0) for r in answers)} for the run's references")
    print(f"resolved by lookup     {stats.get('jobs_resolved', '?')}")
    print(f"duplicates             {len(dups)}")
    print(f"OK without one job     {len(ok_without_job)}")
    print(f"'not started' with job {len(err_with_job)}")
    print(f"UNKNOWN that did start {unknown_created} (the caller was told to check)")
    why = {}
    for a in answers.values():
        if a.startswith("ERR "):
            key = " ".join(a.split()[1:7])
            why[key] = why.get(key, 0) + 1
    for k, n in sorted(why.items(), key=lambda x: -x[1])[:6]:
        print(f"  {n:6}  {k} ...")
    print(f"fake saw               {json.dumps(fake.counts, sort_keys=True)}; "
          f"expired tokens used: {fake.expired_uses}")
    print(f"RSS kB                 baseline {base_rss}, peak {peak_rss}, end {end_rss}")
    print(f"heap in use (malloc)   baseline {base_heap // 1024} kB, end {end_heap // 1024} kB")
    print(f"open fds               baseline {base_fds}, end {end_fds} (besides pooled HTTPS "
          f"connections: {base_conns} at baseline, {end_conns} at the end)")
    problems = errors[:5]
    if len(answers) != sent:
        problems.append(f"{sent - len(answers)} requests unanswered")
    if dups:
        problems.append(f"duplicated references: {list(dups)[:5]}")
    if ok_without_job:
        problems.append(f"OK answers without exactly one job: {ok_without_job[:5]}")
    if err_with_job:
        problems.append(f"answers that say nothing started, with a job: {err_with_job[:5]}")
    if end_fds > base_fds:
        problems.append(f"descriptors grew from {base_fds} to {end_fds}")
    # RSS keeps malloc's high-water mark; what is in use must come back.
    if end_heap > base_heap + 1024 * 1024:
        problems.append(f"heap in use grew from {base_heap} to {end_heap} bytes")
    rc = d.stop()
    if rc != 0:
        problems.append(f"orchd exited with {rc}")
    env.close()
    for p in problems:
        print("PROBLEM:", p)
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
