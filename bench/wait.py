#!/usr/bin/env python3
"""The wait scenario: N jobs waited at once in one folder, each ending at a
random time within SPREAD seconds, against the fake Orchestrator (TLS on
loopback), with orchd's [jobs] poll_interval and list_budget.

  python3 bench/wait.py [--build build] [--jobs 1000] [--spread 60] [--poll 5] [--budget 20]
  python3 bench/wait.py --smoke         a tiny run that only checks it still works (make check)

Measures the upstream requests by kind (per minute), the delay from each
job's end to its WAIT's answer (p50, p99, max), orchd's CPU and peak RSS.
The naive way (one GET Jobs({Id}) per waiter every poll_interval until it
sees the job final) is counted from the same run's end times: a waiter
started at t0 reads at t0, t0 + poll, ... and sees its job at the first read
after the end, so it makes floor((end - t0) / poll) + 1 reads and answers
(poll / 2 on average) after the end.
"""

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "fake"))
sys.path.insert(0, os.path.join(TOP, "tests"))
from fake_orch import Fake  # noqa: E402
from testlib import rss_kb  # noqa: E402


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--spread", type=float, default=60.0)
    ap.add_argument("--poll", type=int, default=5)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.jobs, a.spread, a.poll = 20, 3.0, 1
    d = tempfile.mkdtemp(prefix="orchd-wait-")
    fake = Fake(d).start()
    secret = "bench-" + os.urandom(6).hex()
    fake.add_app("bench", secret, ["OR.Jobs.Write", "OR.Jobs.Read", "OR.Execution.Read"])
    fake.add_release("P")
    with open(f"{d}/secret", "w") as f:
        f.write(secret + "\n")
    sock = f"{d}/orchd.sock"
    with open(f"{d}/orchd.conf", "w") as f:
        f.write(f"[orchestrator]\nurl = {fake.url}\nfolder = Shared\nca_file = {fake.ca}\n"
                f"[auth]\nclient_id = bench\nclient_secret_file = {d}/secret\n"
                f"scope = OR.Jobs.Write OR.Jobs.Read OR.Execution.Read\n[server]\nsocket = {sock}\n"
                f"[jobs]\npoll_interval = {a.poll}\nlist_budget = {a.budget}\n")
    orchd = subprocess.Popen([os.path.join(a.build, "orchd"), "-c", f"{d}/orchd.conf"],
                             stdout=subprocess.DEVNULL, stderr=open(f"{d}/orchd.log", "w"))
    try:
        for _ in range(200):
            try:
                c = socket.socket(socket.AF_UNIX)
                c.connect(sock)
                break
            except OSError:
                time.sleep(0.05)
        f = c.makefile("rwb")

        def ask(line):
            f.write(line.encode() + b"\n")
            f.flush()
            return f.readline().decode()
        while not ask("PING").startswith("OK"):
            time.sleep(0.1)
        started = json.loads(ask(json.dumps({"process": "P", "count": a.jobs}).join(["START ", ""]))[3:])
        ids = [j["id"] for j in started["jobs"]]
        t0 = time.time()
        ends = {}
        for i in ids:
            end = random.uniform(1.0, a.spread)
            ends[i] = t0 + end
            fake.plan(i, [(0.5, {"State": "Running"}),
                          (end, {"State": "Successful", "OutputArguments": json.dumps({"id": i})})])
        fake.reset_counters()
        cpu0, peak = cpu_s(orchd.pid), [rss_kb(orchd.pid)]
        stop = threading.Event()

        def watch_rss():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(orchd.pid))
                time.sleep(0.2)
        threading.Thread(target=watch_rss, daemon=True).start()
        f.write("".join(f"@w{i} WAIT {i}\n" for i in ids).encode())
        f.flush()
        answered = {}
        while len(answered) < len(ids):
            line = f.readline().decode()
            tag, _, rest = line.partition(" ")
            assert rest.startswith("OK "), line
            rec = json.loads(rest[3:])["job"]
            assert rec["state"] == "Successful" and rec["output"] == {"id": rec["id"]}, rec
            answered[int(tag[2:])] = time.time()
        t1 = time.time()
        stop.set()
        cpu = cpu_s(orchd.pid) - cpu0
        minutes = (t1 - t0) / 60
        counts = dict(fake.counts)
        delays = [answered[i] - ends[i] for i in ids]
        naive_reads = sum(math.floor((ends[i] - t0) / a.poll) + 1 for i in ids)
        orchd_reads = counts.get("job_get", 0) + counts.get("jobs_query", 0)
        times = [e["time"] for e in fake.log if e["endpoint"] == "jobs_query"]
        worst_minute = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
        bound = max(a.poll, math.ceil(a.jobs / 50) * 60 / a.budget) + 1 if a.budget else a.poll + 1
        res = {
            "jobs": a.jobs, "spread_s": a.spread, "poll_interval": a.poll, "list_budget": a.budget,
            "duration_s": round(t1 - t0, 1),
            "requests": {"single_reads": counts.get("job_get", 0), "collection_queries": len(times),
                         "per_minute": {k: round(v / minutes, 1) for k, v in counts.items()}},
            "collection_queries_worst_rolling_minute": worst_minute,
            "naive_single_reads": naive_reads,
            "naive_per_minute": round(naive_reads / minutes, 1),
            "ratio_orchd_over_naive": round(orchd_reads / naive_reads, 4),
            "delay_s": {"p50": round(pct(delays, 50), 2), "p99": round(pct(delays, 99), 2),
                        "max": round(max(delays), 2)},
            "delay_bound_s": bound,
            "naive_delay_s": {"mean": a.poll / 2, "max": a.poll},
            "orchd_cpu_s": round(cpu, 2), "orchd_rss_peak_kb": peak[0],
        }
        goals = [
            ("fewer than 1/20 of the naive reads", orchd_reads * 20 < naive_reads),
            (f"at most list_budget ({a.budget}) collection queries in any minute", worst_minute <= a.budget),
            (f"delay p99 within the contract's bound ({bound:.0f} s)", pct(delays, 99) <= bound),
            ("RSS under 32 MiB", peak[0] < 32 * 1024),
        ]
        print(json.dumps(res, indent=1))
        for name, ok in goals:
            print(f"{'met' if ok else 'NOT MET'}: {name}")
        if not a.smoke:
            os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
            with open(os.path.join(HERE, "results", "wait.json"), "w") as out:
                json.dump({"result": res, "goals": {n: ok for n, ok in goals}}, out, indent=1)
        c.close()
        return 0 if a.smoke or all(ok for _, ok in goals) else 1
    finally:
        orchd.terminate()
        orchd.wait()
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
