#!/usr/bin/env python3
"""Before and after: two (or more) orchd binaries against one nginx upstream
in the same run, rounds interleaved with the order rotated every round, so
that the machine's drift (it is large on shared cores) hits all alike.

  python3 bench/ab.py OLD/orchd NEW/orchd [--rounds 10] [-n 2000]

For each binary, and for the libcurl floor: the medians over the rounds of
sequential START latency (p50, p99), throughput with 256 pipelining clients,
and orchd's CPU per trigger in that throughput run. The set-up is bench/run.py's.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("-n", type=int, default=2000, help="sequential STARTs per round")
    ap.add_argument("-t", type=int, default=20000, help="STARTs per throughput run")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="orchd-ab-")
    procs = []
    try:
        nginx, port = B.start_upstream(d)
        procs.append(nginx)
        socks = []
        for i, exe in enumerate(a.binaries):
            sock = f"{d}/o{i}.sock"
            B.write_orchd_conf(d, port, sock, f"{d}/o{i}.conf")
            procs.append(subprocess.Popen([os.path.abspath(exe), "-c", f"{d}/o{i}.conf"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            socks.append(sock)
        for s in socks:
            for _ in range(200):
                if os.path.exists(s):
                    break
                time.sleep(0.02)
            subprocess.run([f"{d}/load", "seq", s, "100", "/dev/null"], check=True)
        url = f"https://127.0.0.1:{port}{B.PREFIX}/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs"
        names = ["floor"] + a.binaries
        res = [{"p50": [], "p99": [], "rps": [], "cpu": []} for _ in names]  # by index: a binary may come twice
        for r in range(a.rounds):
            order = list(range(len(names)))
            order = order[r % len(order):] + order[:r % len(order)]
            for k in order:
                lat = f"{d}/lat"
                if k == 0:
                    subprocess.run([f"{d}/floor", "seq", url, f"{d}/ca.pem", B.TOKEN, str(a.n), lat], check=True)
                    out = subprocess.run([f"{d}/floor", "multi", url, f"{d}/ca.pem", B.TOKEN, str(a.t), "256"],
                                         check=True, stdout=subprocess.PIPE, text=True).stdout.split()
                else:
                    sock, pid = socks[k - 1], procs[k].pid
                    subprocess.run([f"{d}/load", "seq", sock, str(a.n), lat], check=True)
                    cpu0 = B.proc_cpu(pid)
                    out = subprocess.run([f"{d}/load", "conc", sock, str(a.t), "256", "4"],
                                         check=True, stdout=subprocess.PIPE, text=True).stdout.split()
                    res[k]["cpu"].append((B.proc_cpu(pid) - cpu0) / int(out[0]) * 1e6)
                v = B.read_lat(lat)
                res[k]["p50"].append(B.pct(v, 50))
                res[k]["p99"].append(B.pct(v, 99))
                res[k]["rps"].append(int(out[0]) / float(out[1]))
        med = statistics.median
        print(f"{a.rounds} rounds, medians; ratios against the floor of the same run")
        print(f"{'':40} {'p50 us':>8} {'p99 us':>8} {'req/s 256':>10} {'CPU us/trig':>12}")
        f50, frps = med(res[0]["p50"]), med(res[0]["rps"])
        for name, x in zip(names, res):
            cpu = f"{med(x['cpu']):12.1f}" if x["cpu"] else f"{'':12}"
            print(f"{name[-40:]:40} {med(x['p50']):8.0f} {med(x['p99']):8.0f} {med(x['rps']):10.0f} {cpu}"
                  + ("" if name == "floor" else
                     f"   p50 {med(x['p50']) / f50:.2f}x, throughput {med(x['rps']) / frps:.2f}x"))
        return 0
    finally:
        B.stop_all(procs, d)


if __name__ == "__main__":
    sys.exit(main())
