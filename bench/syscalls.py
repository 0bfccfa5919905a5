#!/usr/bin/env python3
"""Syscalls per request, orchd against the libcurl floor, 64 in flight, with
strace -c (bench/run.py's nginx upstream). strace slows both alike; the
counts, not the times, are the figure.

  python3 bench/syscalls.py build/orchd [-n 20000]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as B  # noqa: E402


def table(path, n):
    """{syscall: calls per request} from strace -c output."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[-1] not in ("syscall", "total") and f[0][0].isdigit():
            calls = int(f[3])
            out[f[-1]] = calls / n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("-n", type=int, default=20000)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="orchd-sys-")
    nginx, port = B.start_upstream(d)
    try:
        url = f"https://127.0.0.1:{port}{B.PREFIX}/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs"
        subprocess.run(["strace", "-c", "-f", "-o", f"{d}/floor.st", f"{d}/floor", "multi", url, f"{d}/ca.pem",
                        B.TOKEN, str(a.n), "64"], check=True, stdout=subprocess.DEVNULL)
        sock = f"{d}/o.sock"
        B.write_orchd_conf(d, port, sock, f"{d}/o.conf")
        p = subprocess.Popen([os.path.abspath(a.binary), "-c", f"{d}/o.conf"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        subprocess.run([f"{d}/load", "seq", sock, "20", "/dev/null"], check=True)
        st = subprocess.Popen(["strace", "-c", "-f", "-p", str(p.pid), "-o", f"{d}/orchd.st"])
        time.sleep(0.5)
        subprocess.run([f"{d}/load", "conc", sock, str(a.n), "4", "16"], check=True, stdout=subprocess.DEVNULL)
        st.send_signal(signal.SIGINT)
        st.wait()
        p.send_signal(signal.SIGTERM)
        p.wait()
        fl, orc = table(f"{d}/floor.st", a.n), table(f"{d}/orchd.st", a.n)
        print(f"syscalls per request, 64 in flight ({a.n} requests): floor {sum(fl.values()):.1f}, "
              f"orchd {sum(orc.values()):.1f}")
        for name in sorted(set(fl) | set(orc), key=lambda k: -(orc.get(k, 0) + fl.get(k, 0))):
            if orc.get(name, 0) + fl.get(name, 0) >= 0.05:
                print(f"  {name:20} floor {fl.get(name, 0):6.2f}   orchd {orc.get(name, 0):6.2f}")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
