#!/usr/bin/env python3
"""orchd's integration tests: the real daemon over its real socket against
the fake Orchestrator. Each test asserts on the answers AND on what the fake
received. The tests live in tests/integ/t_*.py (what they share: itest.py);
this is their runner. Ends with the line "N passed, N failed".

Each test runs in a process of its own (run.py --one NAME), in a process
group of its own, its output printed in one piece when it ends. -j N runs N
at once; tests marked @test(serial=True) run afterwards, one at a time,
with nothing beside them. A test that takes longer than --timeout is killed,
with every process of its group, and counted failed."""

import argparse
import glob
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from itest import TESTS, Env, check_logs  # noqa: E402
from testlib import make_ca  # noqa: E402


def load_tests():
    for path in sorted(glob.glob(os.path.join(HERE, "t_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])
    seen = set()
    for fn in TESTS:
        assert fn.__name__ not in seen, f"two tests named {fn.__name__}"
        seen.add(fn.__name__)
    return TESTS


def run_one(fn):
    """Runs one test here: True when it passed."""
    env = Env(fn.__name__[:20])
    t0 = time.time()
    try:
        fn(env)
        for d in env.daemons:
            if d.proc.poll() is None:
                rc = d.stop()
                assert rc == 0, f"orchd exited with {rc}:\n{d.log()[-3000:]}"
        check_logs(env)
        print(f"ok   {fn.__name__} ({time.time() - t0:.1f} s)", flush=True)
        return True
    except Exception as e:
        print(f"FAIL {fn.__name__}: {e!r}", flush=True)
        traceback.print_exc()
        for d in env.daemons:
            print(f"---- orchd log ({d.log_path}):\n{d.log()[-4000:]}")
        return False
    finally:
        env.close()


class Job:
    """One test running in a child process, its output going to a file."""

    def __init__(self, fn, argv):
        self.name = fn.__name__
        self.out = tempfile.TemporaryFile()
        self.t0 = time.time()
        self.proc = subprocess.Popen(argv + ["--one", self.name], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        self.timed_out = False

    def exited(self):
        """True once the child has exited (it is not reaped yet: its
        process group can still be killed without a race)."""
        try:
            r = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return r is not None

    def kill_group(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def finish(self):
        """Kills whatever the test left in its group, reaps the child,
        prints its output in one piece; True when it passed."""
        self.kill_group()
        rc = self.proc.wait()
        self.out.seek(0)
        text = self.out.read().decode(errors="replace")
        self.out.close()
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        passed = rc == 0 and not self.timed_out
        if not passed and not re.search(rf"^FAIL {re.escape(self.name)}:", text, re.M):
            why = (f"timed out after {time.time() - self.t0:.0f} s, killed" if self.timed_out
                   else f"its process ended with status {rc}")
            print(f"FAIL {self.name}: {why}")
        sys.stdout.flush()
        return passed


def run_all(tests, jobs, timeout, argv, tally):
    """Runs the tests, at most jobs at once, counting them in tally."""
    queue = list(tests)
    running = []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                running.append(Job(queue.pop(0), argv))
            time.sleep(0.05)
            for j in list(running):
                if not j.exited():
                    if time.time() - j.t0 <= timeout:
                        continue
                    j.timed_out = True
                    j.kill_group()
                    os.waitid(os.P_PID, j.proc.pid, os.WEXITED | os.WNOWAIT)
                running.remove(j)
                tally["passed" if j.finish() else "failed"] += 1
    finally:
        for j in running:          # interrupted: nothing may be left running
            j.kill_group()
            j.proc.wait()
            print(f"killed {j.name}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", default="", help="run tests whose name contains this (comma: any of these)")
    ap.add_argument("-j", type=int, default=None,
                    help="tests at once (default: 1 when ORCHD_WRAP is set, else 3); serial ones run alone")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds a test may take before it is killed (default: 300, 900 under ORCHD_WRAP)")
    ap.add_argument("--one", metavar="NAME", help="run exactly this test in this process")
    ap.add_argument("--certdir", help=argparse.SUPPRESS)     # the runner's test CA, shared by its children
    ap.add_argument("--list", action="store_true", help="print the selected tests' names")
    a = ap.parse_args()
    harness.BUILD = a.build
    tests = load_tests()

    if a.one:
        fn = next((fn for fn in tests if fn.__name__ == a.one), None)
        if fn is None:
            print(f"no test named {a.one}", file=sys.stderr)
            return 2
        if a.certdir:
            os.rmdir(harness.CERTDIR)          # made at import, unused
            harness.CERTDIR = a.certdir
        return 0 if run_one(fn) else 1

    selected = [fn for fn in tests if any(k in fn.__name__ for k in a.k.split(","))]
    if a.list:
        for fn in selected:
            print(fn.__name__ + ("   (serial)" if fn.serial else ""))
        return 0
    wrapped = bool(harness.WRAP)
    jobs = max(1, a.j if a.j is not None else 1 if wrapped else 3)
    timeout = a.timeout if a.timeout is not None else 900 if wrapped else 300
    os.rmdir(harness.CERTDIR)
    certdir = tempfile.mkdtemp(prefix="orchd-ca-")
    make_ca(certdir)
    argv = [sys.executable, "-u", os.path.abspath(__file__), "--build", a.build, "--certdir", certdir]

    def terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    tally = {"passed": 0, "failed": 0}
    status = 0
    try:
        run_all([fn for fn in selected if not fn.serial], jobs, timeout, argv, tally)
        run_all([fn for fn in selected if fn.serial], 1, timeout, argv, tally)
    except KeyboardInterrupt:
        print("interrupted: the tests not counted below were killed or did not run", flush=True)
        status = 130
    finally:
        shutil.rmtree(certdir, ignore_errors=True)
    print(f"{tally['passed']} passed, {tally['failed']} failed")
    return status or (1 if tally["failed"] else 0)


if __name__ == "__main__":
    sys.exit(main())
