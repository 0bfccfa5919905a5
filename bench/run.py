#!/usr/bin/env python3
"""make bench: what a trigger costs through orchd, against the physical floor
and against what a user does without orchd, all in one run against the same
upstream: nginx from Debian on loopback (TLS, HTTP/2) answering the token,
Releases and StartJobs requests with canned JSON.

Measured (several rounds, A and B interleaved, medians reported):
  floor   libcurl alone: one warm connection, sequential (latency), and the
          multi interface at 256 concurrent (throughput)          bench/floor.c
  orchd   START over the socket: sequential latency; throughput with 1, 16
          and 256 clients, each pipelining                         bench/load.c
  script  a shell script per trigger: curl for a token, for the release key,
          for StartJobs (the approach of the project's origin)
  orchd's CPU per trigger (utime+stime / triggers), its RSS idle, under load
  and with 1,000 idle clients.
Writes a table to stdout, bench/results/latest.json and a latency CDF
(bench/results/latency.png, gnuplot). --smoke: a tiny run that only checks
that the harness works (used by make check).
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
from testlib import free_port, make_ca, rss_kb  # noqa: E402

RELEASE = "01b7cf62-98e0-4a69-9a65-be7514643229"
PREFIX = "/acme/DefaultTenant/orchestrator_"


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


TOKEN = b64({"alg": "RS256", "typ": "at+jwt"}) + "." + b64(
    {"sub": "bench", "scope": "OR.Jobs.Write OR.Execution.Read OR.Queues.Write", "exp": 4102444800}) + ".c2ln"
# The AddQueueItem body orchd sends for "ENQUEUE Bench" (bench/queue.py's floor sends the same).
QUEUE_BODY = '{"itemData":{"Name":"Bench","Reference":"orchd-0123456789abcdef01234567"}}'



def nginx_conf(d, port, keepalive_s=600):
    token = json.dumps({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer",
                        "scope": "OR.Jobs.Write OR.Execution.Read"})
    rel = json.dumps({"@odata.context": "x#Releases", "value": [{"Key": RELEASE, "Name": "Bench"}]})
    job = json.dumps({"@odata.context": "x#Jobs", "value": [
        {"Key": "3c1f0000-0000-0000-0000-000000000000", "Id": 4711, "State": "Pending"}]})
    item = json.dumps({"@odata.context": "x#QueueItems", "Id": 991, "QueueDefinitionId": 7,
                       "Key": "9a1f0000-0000-0000-0000-000000000000", "Status": "New",
                       "Reference": "orchd-0123456789abcdef01234567", "Priority": "Normal",
                       "SpecificContent": None, "Output": None, "ProcessingException": None})

    def q(s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout {keepalive_s}s;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    http2_max_concurrent_streams 1024;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    default_type application/json;
    location = /identity_/connect/token {{ return 200 {q(token)}; }}
    location = {PREFIX}/odata/Releases {{ return 200 {q(rel)}; }}
    # Orchestrator reads the whole body before it answers; "return" would
    # answer at once (rewrite phase) and reset the HTTP/2 stream while the
    # client still sends. Here the mirror reads the body (precontent phase),
    # then the static handler finds no file (a root that cannot exist) and
    # the 404 becomes the answer.
    location = {PREFIX}/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs {{
      mirror /read-body;
      mirror_request_body on;
      root /nonexistent/orchd-bench;
      error_page 404 =201 @job;
    }}
    location @job {{ return 201 {q(job)}; }}
    location = {PREFIX}/odata/Queues/UiPathODataSvc.AddQueueItem {{
      mirror /read-body;
      mirror_request_body on;
      root /nonexistent/orchd-bench;
      error_page 404 =201 @item;
    }}
    location @item {{ return 201 {q(item)}; }}
    location = /read-body {{ internal; return 204; }}
  }}
}}
"""


def start_upstream(d, keepalive_s=600):
    """In the empty directory d: a test CA, nginx answering on a free port
    (returned with its process once it listens), the floor and load
    programs built, and orchd's client secret. nginx closes connections
    idle for keepalive_s seconds."""
    make_ca(d)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.mkdir(os.path.join(d, sub))
    port = free_port()
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(nginx_conf(d, port, keepalive_s))
    nginx = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    for tool in ("floor", "load"):
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", f"{d}/{tool}",
                        f"{HERE}/{tool}.c"] + (["-lcurl"] if tool == "floor" else []), check=True)
    with open(f"{d}/secret", "w") as f:
        f.write("bench-secret\n")
    return nginx, port


def start_orchd(binary, conf, sock, log):
    """orchd on conf, once its socket exists (stderr to log)."""
    p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.02)
    return p


def write_results(name, res, smoke):
    """A bench's figures: bench/results/NAME.json, or build/bench-NAME-smoke.json for a smoke run
    (never committed)."""
    out = os.path.join(TOP, "build", f"bench-{name}-smoke.json") if smoke else \
        os.path.join(HERE, "results", f"{name}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    return out


def stop_all(procs, d):
    """Stops what a bench started, newest first (nginx, the first, by
    SIGQUIT: a graceful stop; orchd by SIGTERM), and removes d unless
    $BENCH_KEEP is set."""
    for p in procs[::-1]:
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT if p is procs[0] else signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    if os.environ.get("BENCH_KEEP"):
        print("kept", d)
    else:
        shutil.rmtree(d, ignore_errors=True)


def write_orchd_conf(d, port, sock, path):
    with open(path, "w") as f:
        f.write(f"[orchestrator]\nurl = https://127.0.0.1:{port}{PREFIX}\nfolder = Shared\n"
                f"ca_file = {d}/ca.pem\nmax_inflight = 256\n[auth]\nclient_id = bench\n"
                f"client_secret_file = {d}/secret\n[server]\nsocket = {sock}\nmax_clients = 4096\n")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(sock):
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(sock)
        c.sendall(b"STATS\n")
        line = c.makefile().readline()
    assert line.startswith("OK "), line
    return json.loads(line[3:])


def read_lat(path):
    with open(path) as f:
        return [float(x) for x in f if x.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--long", type=int, default=1000000,
                    help="triggers in the memory-growth run (0: skip it)")
    a = ap.parse_args()
    smoke = a.smoke
    rounds = 1 if smoke else a.rounds
    n_seq = 200 if smoke else 3000
    n_thr = 2000 if smoke else 30000
    n_script = 2 if smoke else 20
    n_idle = 50 if smoke else 1000
    n_long = 20000 if smoke else a.long
    build = os.path.abspath(a.build)

    d = tempfile.mkdtemp(prefix="orchd-bench-")
    procs = []
    try:
        nginx, port = start_upstream(d)
        procs.append(nginx)
        base = f"https://127.0.0.1:{port}"
        sock = f"{d}/orchd.sock"
        write_orchd_conf(d, port, sock, f"{d}/orchd.conf")
        orchd = start_orchd(f"{build}/orchd", f"{d}/orchd.conf", sock, f"{d}/orchd.log")
        procs.append(orchd)
        start_url = f"{base}{PREFIX}/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs"
        subprocess.run([f"{d}/load", "seq", sock, "10", "/dev/null"], check=True)   # warm
        time.sleep(0.5)
        rss_idle = rss_kb(orchd.pid)

        # RSS with many idle clients, before any load (after it, RSS keeps
        # malloc's high-water mark).
        idle = subprocess.Popen([f"{d}/load", "idle", sock, str(n_idle)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert idle.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        rss_idle_clients = rss_kb(orchd.pid)
        idle.stdin.close()
        idle.wait()

        peak = [rss_idle_clients]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                try:
                    peak[0] = max(peak[0], rss_kb(orchd.pid))
                except OSError:
                    return
                time.sleep(0.05)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        R = {"floor_seq": [], "orchd_seq": [], "ipc_seq": [], "ping_seq": [], "floor_multi": [], "orchd_1": [], "orchd_16": [],
             "orchd_256": [], "cpu_us": [], "errors": 0}
        lat_floor, lat_orchd = [], []
        for r in range(rounds):
            # A and B interleaved, the order swapped every round.
            # ipc: a bare Unix-socket round trip between two processes, and
            # orchd answering PING: what any local daemon adds, at least.
            runs = [("floor", ["seq", start_url, f"{d}/ca.pem", TOKEN, str(n_seq), f"{d}/lf"]),
                    ("load", ["seq", sock, str(n_seq), f"{d}/lo"]),
                    ("load", ["pingpong", str(n_seq), f"{d}/li"]),
                    ("load", ["seq", sock, str(n_seq), f"{d}/lp", "PING"])]
            for tool, args in (runs if r % 2 == 0 else runs[::-1]):
                subprocess.run([f"{d}/{tool}"] + args, check=True)
            lf, lo = read_lat(f"{d}/lf"), read_lat(f"{d}/lo")
            lat_floor += lf
            lat_orchd += lo
            for key, path in (("floor_seq", "lf"), ("orchd_seq", "lo"), ("ipc_seq", "li"), ("ping_seq", "lp")):
                v = read_lat(f"{d}/{path}")
                R[key].append({k: pct(v, p) for k, p in (("p50", 50), ("p90", 90), ("p99", 99))} | {"max": max(v)})

            out = subprocess.run([f"{d}/floor", "multi", start_url, f"{d}/ca.pem", TOKEN, str(n_thr), "256"],
                                 check=True, stdout=subprocess.PIPE, text=True).stdout.split()
            R["floor_multi"].append(int(out[0]) / float(out[1]))
            cpu0, trig = proc_cpu(orchd.pid), 0
            for clients, depth in ((1, 64), (16, 16), (256, 4)):
                out = subprocess.run([f"{d}/load", "conc", sock, str(n_thr), str(clients), str(depth)],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout.split()
                R[f"orchd_{clients}"].append(int(out[0]) / float(out[1]))
                R["errors"] += int(out[2])
                trig += int(out[0])
            R["cpu_us"].append((proc_cpu(orchd.pid) - cpu0) / trig * 1e6)
        sampling.set()
        sampler.join()

        # Memory over a long run: RSS and the heap in use (STATS) after
        # every tenth; the first tenth sets malloc's high-water mark.
        long_rss, long_heap = [], []
        if n_long:
            step = n_long // 10
            for _ in range(10):
                subprocess.run([f"{d}/load", "conc", sock, str(step), "16", "16"], check=True,
                               stdout=subprocess.DEVNULL)
                long_rss.append(rss_kb(orchd.pid))
                long_heap.append(stats(sock)["heap_in_use"] // 1024)
        # After a burst the idle easy handles are freed (two 10 s periods).
        if not smoke:
            time.sleep(21)
        after_idle = {"rss_kb": rss_kb(orchd.pid), "heap_in_use_kb": stats(sock)["heap_in_use"] // 1024}

        # Without orchd: a script per trigger (token, release key, StartJobs).
        script = f"""set -e
ca={d}/ca.pem; base={base}
tok=$(curl -sf --cacert $ca -d 'grant_type=client_credentials&client_id=bench&client_secret=bench-secret&scope=OR.Jobs.Write%20OR.Execution.Read' $base/identity_/connect/token | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
key=$(curl -sf --cacert $ca -H "Authorization: Bearer $tok" -H 'X-UIPATH-FolderPath: Shared' "$base{PREFIX}/odata/Releases?\\$filter=Name%20eq%20%27Bench%27" | sed 's/.*"Key":"\\([^"]*\\)".*/\\1/')
curl -sf --cacert $ca -H "Authorization: Bearer $tok" -H 'X-UIPATH-FolderPath: Shared' -H 'Content-Type: application/json' -d "{{\\"startInfo\\":{{\\"ReleaseKey\\":\\"$key\\",\\"Strategy\\":\\"ModernJobsCount\\",\\"JobsCount\\":1}}}}" {start_url} >/dev/null
"""
        with open(f"{d}/trigger.sh", "w") as f:
            f.write(script)
        times = []
        for _ in range(n_script):
            t0 = time.perf_counter()
            subprocess.run(["bash", f"{d}/trigger.sh"], check=True)
            times.append((time.perf_counter() - t0) * 1e6)

        med = statistics.median
        res = {
            "rounds": rounds,
            "requests": {"sequential": n_seq, "throughput": n_thr, "script": n_script},
            "floor_latency_us": {k: med(x[k] for x in R["floor_seq"]) for k in ("p50", "p90", "p99", "max")},
            "orchd_latency_us": {k: med(x[k] for x in R["orchd_seq"]) for k in ("p50", "p90", "p99", "max")},
            "p50_by_round_us": {"floor": [x["p50"] for x in R["floor_seq"]],
                                "orchd": [x["p50"] for x in R["orchd_seq"]]},
            "ipc_round_trip_us": {k: med(x[k] for x in R["ipc_seq"]) for k in ("p50", "p90", "p99", "max")},
            "orchd_ping_us": {k: med(x[k] for x in R["ping_seq"]) for k in ("p50", "p90", "p99", "max")},
            "floor_throughput_rps": med(R["floor_multi"]),
            "orchd_throughput_rps": {c: med(R[f"orchd_{c}"]) for c in ("1", "16", "256")},
            "script_per_trigger_us": med(times),
            "orchd_cpu_us_per_trigger": med(R["cpu_us"]),
            "orchd_error_answers": R["errors"],
            "orchd_rss_kb": {"idle": rss_idle, "peak_under_load": peak[0],
                             f"with_{n_idle}_idle_clients": rss_idle_clients},
            "long_run": {"triggers": n_long, "rss_kb_every_tenth": long_rss,
                         "heap_in_use_kb_every_tenth": long_heap},
            "after_load_idle_21s": after_idle,
        }
        fl, ol = res["floor_latency_us"], res["orchd_latency_us"]
        res["ratios"] = {
            "latency_p50_orchd_over_floor": ol["p50"] / fl["p50"],
            "latency_p99_orchd_over_floor": ol["p99"] / fl["p99"],
            "throughput_256_orchd_over_floor": res["orchd_throughput_rps"]["256"] / res["floor_throughput_rps"],
            "script_over_orchd_per_trigger": res["script_per_trigger_us"] / ol["p50"],
            # The least any process between the client and libcurl can
            # reach: the floor plus one Unix-socket round trip.
            "latency_p50_floor_plus_ipc_over_floor": (fl["p50"] + res["ipc_round_trip_us"]["p50"]) / fl["p50"],
        }
        # Growth after the first tenth (which sets malloc's high-water mark).
        growth = max(long_rss[1:]) - long_rss[1] if len(long_rss) > 1 else 0
        rt = res["ratios"]
        targets = [
            ("p50 latency <= 1.25x floor", rt["latency_p50_orchd_over_floor"] <= 1.25),
            ("p99 latency <= 2x floor", rt["latency_p99_orchd_over_floor"] <= 2.0),
            ("throughput at 256 clients >= 0.8x floor", rt["throughput_256_orchd_over_floor"] >= 0.8),
            (">= 50x faster than the script", rt["script_over_orchd_per_trigger"] >= 50),
            (f"RSS <= 16 MiB with {n_idle} idle clients", rss_idle_clients <= 16384),
        ]
        if n_long:
            # "No growth": within 1 MiB after the first tenth, and the heap
            # in use back where it was.
            targets.append((f"no RSS growth over {n_long} triggers (<= 1 MiB after the first tenth)",
                            growth <= 1024))
        res["targets"] = {name: ok for name, ok in targets}

        print(f"orchd benchmark: {rounds} round(s), medians; upstream nginx (TLS, HTTP/2) on loopback")
        print(f"{'':38} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}  (us)")
        for name, x in (("floor: libcurl, one warm connection", fl), ("orchd: START over the socket", ol)):
            print(f"{name:38} {x['p50']:9.0f} {x['p90']:9.0f} {x['p99']:9.0f} {x['max']:9.0f}")
        for name, x in (("ipc: Unix socket round trip", res["ipc_round_trip_us"]),
                        ("orchd: PING over the socket", res["orchd_ping_us"])):
            print(f"{name:38} {x['p50']:9.0f} {x['p90']:9.0f} {x['p99']:9.0f} {x['max']:9.0f}")
        print(f"{'throughput floor (multi, 256)':38} {res['floor_throughput_rps']:9.0f} req/s")
        for c in ("1", "16", "256"):
            print(f"{'throughput orchd, ' + c + ' client(s)':38} {res['orchd_throughput_rps'][c]:9.0f} req/s")
        print(f"{'script per trigger (3 curls)':38} {res['script_per_trigger_us']:9.0f} us")
        print(f"{'orchd CPU per trigger':38} {res['orchd_cpu_us_per_trigger']:9.1f} us")
        print(f"{'orchd ERR answers under load':38} {R['errors']:9} of {rounds * 3 * n_thr}")
        print(f"{'orchd RSS idle / peak / ' + str(n_idle) + ' idle clients':38} "
              f"{rss_idle} / {peak[0]} / {rss_idle_clients} kB")
        if n_long:
            print(f"{'RSS every ' + str(n_long // 10) + ' triggers (kB)':38} " + " ".join(map(str, long_rss)))
            print(f"{'heap in use every ' + str(n_long // 10) + ' (kB)':38} " + " ".join(map(str, long_heap)))
        print(f"{'RSS / heap in use, idle after the load':38} {after_idle['rss_kb']} / {after_idle['heap_in_use_kb']} kB")
        print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in rt.items()))
        for name, ok in targets:
            print(f"  target {'met   ' if ok else 'MISSED'} {name}")

        out_json = os.path.join(TOP, "build", "bench-smoke.json") if smoke else \
            os.path.join(HERE, "results", "latest.json")
        os.makedirs(os.path.dirname(out_json), exist_ok=True)
        with open(out_json, "w") as f:
            json.dump(res, f, indent=2)
        if not smoke and shutil.which("gnuplot"):
            for name, lat in (("floor", lat_floor), ("orchd", lat_orchd)):
                with open(f"{d}/{name}.cdf", "w") as f:
                    v = sorted(lat)
                    for i, x in enumerate(v):
                        if i % max(1, len(v) // 2000) == 0 or i == len(v) - 1:
                            f.write(f"{x} {(i + 1) / len(v)}\n")
            png = os.path.join(HERE, "results", "latency.png")
            subprocess.run(["gnuplot", "-e", f"""set terminal png size 900,500; set output '{png}';
set title 'START latency: orchd vs libcurl floor (same upstream, same run)'; set xlabel 'latency (us)';
set ylabel 'fraction of requests'; set logscale x; set key bottom right; set grid;
plot '{d}/floor.cdf' with lines lw 2 title 'floor: libcurl, warm connection',
     '{d}/orchd.cdf' with lines lw 2 title 'orchd: START over the socket'"""], check=True)
            print(f"wrote {out_json} and {png}")
        # The smoke run checks the harness, not the speed.
        if smoke:
            assert all(v > 0 for v in res["orchd_throughput_rps"].values())
            assert res["floor_throughput_rps"] > 0 and ol["p50"] > 0 and fl["p50"] > 0
            print("1 passed, 0 failed")
        return 0
    finally:
        if len(procs) > 1 and procs[1].poll() is not None:
            print(f"orchd exited with {procs[1].returncode}; its log ends:")
            print(open(f"{d}/orchd.log").read()[-3000:])
        stop_all(procs, d)


if __name__ == "__main__":
    sys.exit(main())
