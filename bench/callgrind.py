#!/usr/bin/env python3
"""Instructions per sequential START, for each orchd binary given, counted
by callgrind (repeatable whatever else the machine does, unlike times):
(total for 3,000 STARTs - total for 1,000) / 2,000, so that start-up and
handshakes cancel out. Same nginx upstream as bench/run.py.

  python3 bench/callgrind.py OLD/orchd NEW/orchd
  CG_LINE="ENQUEUE Bench" python3 bench/callgrind.py build/orchd    (another request)
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402

LINE = os.environ.get("CG_LINE", "START P")
d = tempfile.mkdtemp(prefix="cg-")
nginx, port = B.start_upstream(d)
res = {}
try:
    for binary in sys.argv[1:]:
        for n in (1000, 3000):
            sock = f"{d}/s.sock"
            conf = f"{d}/o.conf"
            B.write_orchd_conf(d, port, sock, conf)
            out = f"{d}/cg.{n}.{len(res)}"
            p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "-c", conf],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(400):
                try:
                    c = socket.socket(socket.AF_UNIX); c.connect(sock); break
                except OSError:
                    time.sleep(0.05)
            f = c.makefile("rwb")
            f.write(b"PING\n"); f.flush(); f.readline()
            for i in range(n):
                f.write(LINE.encode() + b"\n"); f.flush()
                a = f.readline()
                assert a.startswith(b"OK"), a
            c.close()
            p.send_signal(signal.SIGTERM); p.wait()
            total = None
            for line in open(out):
                if line.startswith("totals:") or line.startswith("summary:"):
                    total = int(line.split()[1])
            res[(binary, n)] = total
        print(f"{binary}: {(res[(binary, 3000)] - res[(binary, 1000)]) / 2000:,.0f} instructions per {LINE.split()[0]}",
              flush=True)
finally:
    nginx.terminate()
    nginx.wait()
