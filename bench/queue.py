#!/usr/bin/env python3
"""make bench-queue: ENQUEUE beside START, against the same upstream in the
same run (bench/run.py's nginx: TLS, HTTP/2, canned answers), each against
the libcurl floor for its own POST (bench/floor.c with the body orchd sends).

Per round, in an order rotated every round:
  sequential: floor StartJobs, floor AddQueueItem, orchd START, orchd ENQUEUE
              (p50 and p99 of each)
  64 in flight: the floor on the multi interface with 64 at once; orchd with
              4 clients each pipelining 16; and orchd's CPU per request there
Medians over the rounds are printed, written to bench/results/queue.json, and
compared with the goal: ENQUEUE within 1.25x of the floor for the same POST,
as START is. --smoke: a tiny run that checks the harness (make check).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=2000, help="sequential requests per kind and round")
    ap.add_argument("-t", type=int, default=20000, help="requests per kind in each 64-in-flight run")
    a = ap.parse_args()
    rounds, n_seq, n_thr = (1, 100, 1000) if a.smoke else (a.rounds, a.n, a.t)
    d = tempfile.mkdtemp(prefix="orchd-bench-queue-")
    procs = []
    try:
        nginx, port = B.start_upstream(d)
        procs.append(nginx)
        base = f"https://127.0.0.1:{port}{B.PREFIX}/odata"
        urls = {"start": f"{base}/Jobs/UiPath.Server.Configuration.OData.StartJobs",
                "enqueue": f"{base}/Queues/UiPathODataSvc.AddQueueItem"}
        sock = f"{d}/orchd.sock"
        B.write_orchd_conf(d, port, sock, f"{d}/orchd.conf")
        orchd = B.start_orchd(os.path.abspath(f"{a.build}/orchd"), f"{d}/orchd.conf", sock, f"{d}/orchd.log")
        procs.append(orchd)
        lines = {"start": "START Bench", "enqueue": "ENQUEUE Bench"}
        for kind in lines:   # warm: token, release key, connections (load fails on an ERR)
            subprocess.run([f"{d}/load", "seq", sock, "10", "/dev/null", lines[kind]], check=True)
        floor_env = {"start": dict(os.environ), "enqueue": {**os.environ, "FLOOR_BODY": B.QUEUE_BODY}}

        R = {f"{who}_{kind}_{m}": [] for who in ("floor", "orchd") for kind in lines
             for m in ("p50", "p99", "rps")}
        R.update({f"cpu_us_{kind}": [] for kind in lines})
        errors = 0
        for r in range(rounds):
            seq = [("floor", k) for k in lines] + [("orchd", k) for k in lines]
            for who, kind in (seq if r % 2 == 0 else seq[::-1]):
                out = f"{d}/lat"
                if who == "floor":
                    subprocess.run([f"{d}/floor", "seq", urls[kind], f"{d}/ca.pem", B.TOKEN, str(n_seq), out],
                                   check=True, env=floor_env[kind])
                else:
                    subprocess.run([f"{d}/load", "seq", sock, str(n_seq), out, lines[kind]], check=True)
                v = B.read_lat(out)
                R[f"{who}_{kind}_p50"].append(B.pct(v, 50))
                R[f"{who}_{kind}_p99"].append(B.pct(v, 99))
            for who, kind in (seq[::-1] if r % 2 == 0 else seq):
                if who == "floor":
                    o = subprocess.run([f"{d}/floor", "multi", urls[kind], f"{d}/ca.pem", B.TOKEN, str(n_thr), "64"],
                                       check=True, stdout=subprocess.PIPE, text=True, env=floor_env[kind]).stdout.split()
                else:
                    cpu0 = B.proc_cpu(orchd.pid)
                    o = subprocess.run([f"{d}/load", "conc", sock, str(n_thr), "4", "16", lines[kind]],
                                       check=True, stdout=subprocess.PIPE, text=True).stdout.split()
                    R[f"cpu_us_{kind}"].append((B.proc_cpu(orchd.pid) - cpu0) / int(o[0]) * 1e6)
                    errors += int(o[2])
                R[f"{who}_{kind}_rps"].append(int(o[0]) / float(o[1]))
        med = {k: statistics.median(v) for k, v in R.items()}
        st = B.stats(sock)
        res = {"rounds": rounds, "sequential": n_seq, "in_flight_64": n_thr, "medians": med,
               "error_answers": errors, "items_added": st["queue"]["items_added"],
               "ratios": {f"{kind}_{m}_over_floor": med[f"orchd_{kind}_{m}"] / med[f"floor_{kind}_{m}"]
                          for kind in lines for m in ("p50", "p99", "rps")}}
        rt = res["ratios"]
        targets = [("ENQUEUE p50 <= 1.25x its floor", rt["enqueue_p50_over_floor"] <= 1.25),
                   ("START p50 <= 1.25x its floor (same run)", rt["start_p50_over_floor"] <= 1.25),
                   ("no ERR answer", errors == 0)]
        res["targets"] = {name: ok for name, ok in targets}

        print(f"ENQUEUE beside START: {rounds} round(s), medians; upstream nginx (TLS, HTTP/2) on loopback")
        print(f"{'':34} {'p50 us':>8} {'p99 us':>8} {'req/s @64':>10}")
        for who, kind, name in (("floor", "start", "floor: libcurl StartJobs POST"),
                                ("orchd", "start", "orchd: START over the socket"),
                                ("floor", "enqueue", "floor: libcurl AddQueueItem POST"),
                                ("orchd", "enqueue", "orchd: ENQUEUE over the socket")):
            print(f"{name:34} {med[f'{who}_{kind}_p50']:8.0f} {med[f'{who}_{kind}_p99']:8.0f} "
                  f"{med[f'{who}_{kind}_rps']:10.0f}")
        print(f"{'orchd CPU per request, 64 in flight':34} START {med['cpu_us_start']:.1f} us, "
              f"ENQUEUE {med['cpu_us_enqueue']:.1f} us")
        print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in rt.items()))
        for name, ok in targets:
            print(f"  target {'met   ' if ok else 'MISSED'} {name}")
        B.write_results("queue", res, a.smoke)
        if a.smoke:
            # The harness, not the speed: every request answered OK, counted.
            assert errors == 0 and med["orchd_enqueue_rps"] > 0 and med["floor_enqueue_p50"] > 0
            # (load seq sends one more, unmeasured, first)
            assert res["items_added"] == 11 + rounds * (n_seq + 1 + n_thr), res["items_added"]
            print("1 passed, 0 failed")
        return 0
    finally:
        B.stop_all(procs, d)


if __name__ == "__main__":
    sys.exit(main())
