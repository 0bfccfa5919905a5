#!/usr/bin/env python3
"""orchd at home under a real systemd (contract 1.2, design.md section 4b):
the .deb installed in Debian 12, booted with its own systemd as PID 1 in
systemd-nspawn (tests/systemd/nspawn.py), the fake Orchestrator on the
host's loopback (nspawn shares it), and the scenarios of
tests/systemd/scenarios.py, each in a freshly booted container. Needs root,
systemd-container and mmdebstrap ("make check-systemd" installs them and
builds the .deb). Ends with "N passed, N failed".

  python3 tests/systemd/run.py build/deb [-k substr,substr]
"""

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fake"))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import nspawn      # noqa: E402
import scenarios   # noqa: E402
from fake_orch import Fake  # noqa: E402


def log(msg):
    print(msg, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("debdir", help="where orchd_*.deb is (make deb: build/deb)")
    p.add_argument("-k", default="", help="run only scenarios whose name holds one of these")
    a = p.parse_args()
    debs = glob.glob(os.path.join(a.debdir, "orchd_*.deb"))
    if len(debs) != 1:
        sys.exit(f"want one orchd_*.deb in {a.debdir}, found {debs}")
    deb = os.path.abspath(debs[0])
    chosen = [s for s in scenarios.ALL if not a.k or any(k in s.__name__ for k in a.k.split(","))]

    t0 = time.time()
    base = nspawn.tree(deb, log)
    certdir = tempfile.mkdtemp(prefix="orchd-nspawn-ca-")
    fake = Fake(certdir).start()
    env = scenarios.Env(fake, deb, base)
    root = None
    passed = failed = 0
    try:
        root = nspawn.installed(base, deb, env.setup)
        env.root = root
        log(f"tree and package ready in {time.time() - t0:.1f} s")
        for i, s in enumerate(chosen):
            t = time.time()
            try:
                env.reset()
                s(env, f"orchd-t{os.getpid()}-{i}")
                passed += 1
                log(f"ok   {s.__name__} ({time.time() - t:.1f} s)")
            except Exception:
                failed += 1
                log(f"FAIL {s.__name__} ({time.time() - t:.1f} s)")
                log(env.scrub(traceback.format_exc()))
                if env.last_journal:
                    log("---- the container's journal (orchd and PID 1), last lines:")
                    log(env.scrub(env.last_journal))
    finally:
        fake.stop()
        if root:
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(certdir, ignore_errors=True)
    log(f"scenarios took {time.time() - t0:.0f} s")
    log(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
