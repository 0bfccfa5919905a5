#!/usr/bin/env python3
"""make demo: the fake Orchestrator on 127.0.0.1:18443, orchd with
conf/orchd.demo.conf, a few jobs started with orchctl, one that faults and
its robot log (LOGS), what the fake received, then everything stopped."""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fake"))
from fake_orch import Fake  # noqa: E402

DEMO = "build/demo"


def say(text):
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    build = ap.parse_args().build
    shutil.rmtree(DEMO, ignore_errors=True)
    os.makedirs(DEMO)
    say("starting the fake Orchestrator on https://127.0.0.1:18443 (TLS, a CA made for this run)")
    fake = Fake(DEMO).start(port=18443)
    fake.add_app("demo-app", "demo-secret", ["OR.Jobs.Write", "OR.Execution.Read", "OR.Jobs.Read",
                                             "OR.Monitoring.Read"])
    fake.add_release("Invoice Bot", "Shared")
    fake.add_release("Payroll", "Shared/Finance")
    with open(f"{DEMO}/client_secret", "w") as f:
        f.write("demo-secret\n")
    os.chmod(f"{DEMO}/client_secret", 0o600)

    say("starting orchd -c conf/orchd.demo.conf")
    log = open(f"{DEMO}/orchd.log", "w")
    orchd = subprocess.Popen([f"{build}/orchd", "-c", "conf/orchd.demo.conf"], stdout=log,
                             stderr=subprocess.STDOUT)
    ctl = [f"{build}/orchctl", "-s", f"{DEMO}/orchd.sock"]
    rc = 1
    try:
        for _ in range(100):
            if subprocess.run(ctl + ["ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        for args in (["ping"],
                     ["start", "Invoice Bot", "--input", '{"InvoiceId":42}', "--reference", "inv-42"],
                     ["start", "Invoice Bot", "--priority", "High"],
                     ["start", "Payroll", "--folder", "Shared/Finance", "--json"],
                     ["start", "No Such Process"],
                     ["stats"]):
            print("$ orchctl " + " ".join(a if " " not in a and "{" not in a else repr(a) for a in args),
                  flush=True)
            p = subprocess.run(ctl + args, capture_output=True, text=True)
            sys.stdout.write(p.stdout + p.stderr)
            print(f"(exit status {p.returncode})", flush=True)

        say("a job that faults: why, from its robot log (LOGS)")
        fake.job_plan = [(0.3, {"State": "Running", "HostMachineName": "ROBOT-7"}),
                         (1.5, {"State": "Faulted", "Info": "Job faulted: see the robot log"})]
        fake.logs_plan = [(0.4, "Info", "Invoice Bot execution started"),
                          (0.6, "Info", "Reading invoice 43 from the mailbox"),
                          (1.0, "Error", "Vendor 'ACME GmbH' not found in the ERP"),
                          (1.2, "Fatal", "Invoice Bot execution ended with an error")]
        for args in (["start", "Invoice Bot", "--wait", "--logs"], ["logs", "JOB", "--level", "Trace"]):
            if "JOB" in args:
                args[args.index("JOB")] = str(fake.jobs[-1]["Id"])
            print("$ orchctl " + " ".join(a if " " not in a else repr(a) for a in args), flush=True)
            p = subprocess.run(ctl + args, capture_output=True, text=True)
            sys.stdout.write(p.stdout + p.stderr)
            print(f"(exit status {p.returncode})", flush=True)
        fake.job_plan = fake.logs_plan = None

        say("what the fake Orchestrator received")
        for e in fake.log:
            print(f"{e['method']:4} {e['path'][:110]}  {e['headers'] or ''}")
        print(f"jobs created: {[(j['Id'], j['ReleaseName'], j['folder']) for j in fake.jobs]}")
        print(f"{len(fake.jobs)} jobs cost {fake.count('token')} token request(s), "
              f"{fake.count('releases')} release lookup(s) and {fake.count('start')} StartJobs call(s): "
              "a repeated process is a cache hit")
        rc = 0
    finally:
        say("stopping orchd (SIGTERM) and the fake")
        orchd.terminate()
        status = orchd.wait(30)
        log.close()
        fake.stop()
        print(f"orchd exited with {status}; its log:")
        sys.stdout.write(open(f"{DEMO}/orchd.log").read())
    return rc if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
