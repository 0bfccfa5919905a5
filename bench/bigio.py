#!/usr/bin/env python3
"""make bench-bigio: a big-input START (an input of 50,000 characters) through
orchd against the libcurl floor making the same three requests (POST
Attachments, PUT of the input to the blob URI, StartJobs with InputFile), in
the same run against the same upstream: bench/run.py's nginx (TLS, HTTP/2,
canned answers) answering Attachments too, and a second nginx server on
another host and port (127.0.0.2, HTTP/1.1 as Azure storage speaks) taking
the PUT, reading its whole body first.

Per round, the order swapped every round:
  sequential: floorbig seq (the three requests, one trigger after another)
              and orchd START with the input (p50, p99)
  in flight:  floorbig multi with 16 triggers at once; orchd with 4 clients
              each pipelining 4; orchd's CPU per trigger there
Medians over the rounds are printed and written to bench/results/bigio.json.
--smoke: a tiny run that checks the harness (make bench-smoke).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402
from testlib import free_port  # noqa: E402

ATTACHMENT = "0b6f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b"
# The bench's token also grants OR.Folders.Write (orchd checks it first).
TOKEN = B.b64({"alg": "RS256", "typ": "at+jwt"}) + "." + B.b64(
    {"sub": "bench", "scope": "OR.Jobs.Write OR.Execution.Read OR.Folders.Write", "exp": 4102444800}) + ".c2ln"


def input_line(chars=50000):
    """START with an input whose compact JSON is chars characters."""
    head = {"InvoiceId": 42, "s": ""}
    obj = {"InvoiceId": 42, "s": "x" * (chars - len(json.dumps(head, separators=(",", ":"))))}
    text = json.dumps(obj, separators=(",", ":"))
    assert len(text) == chars
    return "START " + json.dumps({"process": "Bench", "input": obj}, separators=(",", ":")), text


def nginx_conf(d, port, blob_port):
    """bench/run.py's upstream, with attachments and a blob store."""
    conf = B.nginx_conf(d, port).replace(B.TOKEN, TOKEN)
    blob_uri = f"https://127.0.0.2:{blob_port}/blobs/{ATTACHMENT}?sv=2023-01-03&sig=bench"
    att = json.dumps({"Id": ATTACHMENT, "Name": "in.json", "BlobFileAccess": {
        "Uri": blob_uri, "Verb": "PUT", "RequiresAuth": False,
        "Headers": {"Keys": ["x-ms-blob-type"], "Values": ["BlockBlob"]}}})

    def q(s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    extra = f"""    location = {B.PREFIX}/odata/Attachments {{
      mirror /read-body;
      mirror_request_body on;
      root /nonexistent/orchd-bench;
      error_page 404 =201 @attachment;
    }}
    location @attachment {{ return 201 {q(att)}; }}
  }}
  server {{
    listen 127.0.0.2:{blob_port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    client_max_body_size 16m;
    client_body_buffer_size 1m;   # in memory: no temporary file
    # The whole body read (mirror), then 201: a PUT to the static handler
    # is 405, turned into the storage's 201 Created.
    location /blobs/ {{
      mirror /read-body;
      mirror_request_body on;
      root /nonexistent/orchd-bench;
      error_page 404 405 =201 @stored;
    }}
    location @stored {{ return 201 ''; }}
    location = /read-body {{ internal; return 204; }}
  }}
}}
"""
    head, _, _ = conf.rstrip().rpartition("  }\n}")
    return head + extra, blob_uri


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=1000, help="sequential triggers per round")
    ap.add_argument("-t", type=int, default=5000, help="triggers per in-flight run")
    a = ap.parse_args()
    rounds, n_seq, n_thr = (1, 30, 200) if a.smoke else (a.rounds, a.n, a.t)
    d = tempfile.mkdtemp(prefix="orchd-bench-bigio-")
    procs = []
    try:
        nginx, port = B.start_upstream(d)       # the CA, the tools, nginx on run.py's conf
        nginx.send_signal(3)                    # SIGQUIT: replaced by ours, with attachments
        nginx.wait(20)
        blob_port = free_port()
        conf, blob_uri = nginx_conf(d, port, blob_port)
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        nginx = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(nginx)
        for host, p in (("127.0.0.1", port), ("127.0.0.2", blob_port)):
            for _ in range(100):
                try:
                    socket.create_connection((host, p), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", f"{d}/floorbig",
                        f"{HERE}/floorbig.c", "-lcurl"], check=True)
        orch = f"https://127.0.0.1:{port}{B.PREFIX}"
        sock = f"{d}/orchd.sock"
        B.write_orchd_conf(d, port, sock, f"{d}/orchd.conf")
        with open(f"{d}/orchd.conf", "a") as f:
            f.write("max_line = 1048576\n")     # [server] is the last section
        orchd = B.start_orchd(os.path.abspath(f"{a.build}/orchd"), f"{d}/orchd.conf", sock, f"{d}/orchd.log")
        procs.append(orchd)
        line, text = input_line()
        with open(f"{d}/input.json", "w") as f:
            f.write(text)
        # Warm: token, release key, both connections (load fails on an ERR).
        subprocess.run([f"{d}/load", "seq", sock, "10", "/dev/null", line], check=True)
        floor = [f"{d}/floorbig", None, orch, blob_uri, f"{d}/ca.pem", TOKEN, f"{d}/input.json"]

        # The same line answered without Orchestrator (a dotted folder path,
        # refused after the input was read and serialized): what the 50 KB
        # request costs orchd locally (the socket, UTF-8, JSON in and out).
        local_line = line[:-1] + ',"folder":"Shared/../X"}'

        R = {k: [] for k in ("floor_p50", "floor_p99", "orchd_p50", "orchd_p99", "floor_tps", "orchd_tps", "cpu_us",
                             "local_p50")}
        errors = 0
        for r in range(rounds):
            seq = ("floor", "orchd") if r % 2 == 0 else ("orchd", "floor")
            for who in seq:
                out = f"{d}/lat"
                if who == "floor":
                    subprocess.run(floor[:1] + ["seq"] + floor[2:] + [str(n_seq), out], check=True)
                else:
                    subprocess.run([f"{d}/load", "seq", sock, str(n_seq), out, line], check=True)
                v = B.read_lat(out)
                R[f"{who}_p50"].append(B.pct(v, 50))
                R[f"{who}_p99"].append(B.pct(v, 99))
            subprocess.run([f"{d}/load", "seq", sock, str(n_seq), f"{d}/lat", local_line], stderr=subprocess.DEVNULL)
            R["local_p50"].append(B.pct(B.read_lat(f"{d}/lat"), 50))
            for who in seq[::-1]:
                if who == "floor":
                    o = subprocess.run(floor[:1] + ["multi"] + floor[2:] + [str(n_thr), "16"], check=True,
                                       stdout=subprocess.PIPE, text=True).stdout.split()
                else:
                    cpu0 = B.proc_cpu(orchd.pid)
                    o = subprocess.run([f"{d}/load", "conc", sock, str(n_thr), "4", "4", line], check=True,
                                       stdout=subprocess.PIPE, text=True).stdout.split()
                    R["cpu_us"].append((B.proc_cpu(orchd.pid) - cpu0) / int(o[0]) * 1e6)
                    errors += int(o[2])
                R[f"{who}_tps"].append(int(o[0]) / float(o[1]))
        med = {k: statistics.median(v) for k, v in R.items()}
        st = B.stats(sock)
        res = {"rounds": rounds, "input_characters": len(text), "sequential": n_seq, "in_flight_16": n_thr,
               "medians": med, "error_answers": errors, "jobs_started": st["jobs_started"],
               "ratios": {"p50_orchd_over_floor": med["orchd_p50"] / med["floor_p50"],
                          "p99_orchd_over_floor": med["orchd_p99"] / med["floor_p99"],
                          "throughput_orchd_over_floor": med["orchd_tps"] / med["floor_tps"],
                          "p50_floor_plus_local_over_floor": (med["floor_p50"] + med["local_p50"]) / med["floor_p50"]}}
        rt = res["ratios"]
        targets = [("big-input START p50 <= 1.25x the floor's three requests", rt["p50_orchd_over_floor"] <= 1.25),
                   ("throughput, 16 in flight, >= 0.8x the floor", rt["throughput_orchd_over_floor"] >= 0.8),
                   ("no ERR answer", errors == 0)]
        res["targets"] = {name: ok for name, ok in targets}
        print(f"big-input START ({len(text)} characters): {rounds} round(s), medians; nginx upstream "
              "(Orchestrator TLS+HTTP/2, blob store on 127.0.0.2 TLS+HTTP/1.1)")
        print(f"{'':44} {'p50 us':>8} {'p99 us':>8} {'starts/s @16':>13}")
        for who, name in (("floor", "floor: libcurl, create + PUT + StartJobs"),
                          ("orchd", "orchd: START with the input")):
            print(f"{name:44} {med[f'{who}_p50']:8.0f} {med[f'{who}_p99']:8.0f} {med[f'{who}_tps']:13.0f}")
        print(f"{'orchd: the same line answered locally':44} {med['local_p50']:8.0f}   (BAD_REQUEST: the folder)")
        print(f"{'orchd CPU per big-input START, 16 in flight':44} {med['cpu_us']:.1f} us")
        print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in rt.items()))
        for name, ok in targets:
            print(f"  target {'met   ' if ok else 'MISSED'} {name}")
        B.write_results("bigio", res, a.smoke)
        if a.smoke:
            # The harness, not the speed: every START answered OK, each a job.
            assert errors == 0 and med["orchd_tps"] > 0 and med["floor_p50"] > 0
            assert res["jobs_started"] == 11 + rounds * (n_seq + 1 + n_thr), res["jobs_started"]
            print("1 passed, 0 failed")
        return 0
    finally:
        B.stop_all(procs, d)


if __name__ == "__main__":
    sys.exit(main())
