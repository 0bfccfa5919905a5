"""Under systemd: sd_notify (READY, STATUS, WATCHDOG, RELOADING, STOPPING),
socket activation, credentials and state directories, SIGHUP reloads,
journald priority prefixes, the units and make install."""

import os
import re
import shutil
import signal
import stat
import subprocess
import time

from itest import *  # noqa: F401,F403


@test
def notify_ready_status_watchdog_reload_stopping(env):
    env.fake.add_release("P")
    n = harness.Notify(env.dir)
    try:
        d = env.daemon(env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "200000"})
        t_ready, _ = n.first(lambda m: "READY=1" in m)
        token_time = [e["time"] for e in env.fake.log if e["endpoint"] == "token"][0]
        assert t_ready > token_time, "READY=1 before a token was held"
        assert n.first(lambda m: m.startswith("STATUS=serving"), 5)
        time.sleep(1.0)
        wd = [m for m in n.texts() if m == "WATCHDOG=1"]
        assert 5 <= len(wd) <= 25, len(wd)      # every 100 ms
        ok_json(d.ask("START P"))
        d.proc.send_signal(signal.SIGHUP)
        t_rel, m = n.first(lambda m: "RELOADING=1" in m)
        assert re.search(r"(^|\n)MONOTONIC_USEC=\d+($|\n)", m), m   # in the same message
        usec = int(re.search(r"MONOTONIC_USEC=(\d+)", m).group(1))
        assert abs(usec / 1e6 - time.monotonic()) < 5
        assert n.first(lambda m: m.startswith("READY=1"), 5)  # after the reload
        assert [x for x in n.texts() if "READY=1" in x].__len__() == 2
        d.term()
        assert n.first(lambda m: "STOPPING=1" in m, 5)
        assert d.stop() == 0
    finally:
        n.close()


@test
def no_token_at_start_ready_after_the_first_attempt_status_says_why(env):
    # Contract 1.2: READY=1 once orchd listens and its first token request
    # has an outcome, good or bad (a READY that waited for a token made
    # systemd time the start out and restart orchd in a loop).
    env.fake.add_release("P")
    env.fake.fault("token", status=503, times=None)
    n = harness.Notify(env.dir)
    try:
        d = env.daemon(env={"NOTIFY_SOCKET": n.path}, wait_ready=False)
        d.wait_ready()
        t_ready, _ = n.first(lambda m: "READY=1" in m, 10)
        token_time = [e["time"] for e in env.fake.log if e["endpoint"] == "token"][0]
        assert t_ready > token_time, "READY=1 before the first token request had an outcome"
        assert n.first(lambda m: "STATUS=no access token: Identity answered HTTP 503" in m, 5)
        err(d.ask("START P", timeout=30), "UNAVAILABLE", "503")
        env.fake.faults.clear()
        assert n.first(lambda m: m.startswith("STATUS=serving"), 40)      # retried with backoff
        ok_json(d.ask("START P"))
        assert len([m for m in n.texts() if "READY=1" in m]) == 1
    finally:
        n.close()


@test
def refused_secret_ready_with_status_err_auth(env):
    env.fake.add_release("P")
    n = harness.Notify(env.dir)
    try:
        d = env.daemon(env={"NOTIFY_SOCKET": n.path}, wait_ready=False,
                       auth={"client_secret_file": env.write("wrong", "not-the-secret\n")})
        assert n.first(lambda m: "READY=1" in m, 10), "no READY=1 with a refused secret"
        assert n.first(lambda m: m.startswith("STATUS=token refused: invalid_client; "
                                              "check client_id and the secret"), 5)
        d.wait_ready()
        err(d.ask("START P"), "AUTH", "invalid_client")
        assert d.proc.poll() is None
    finally:
        n.close()


@test
def socket_activation(env):
    env.fake.add_release("P")
    passed = os.path.join(env.dir, "activated.sock")
    own = os.path.join(env.dir, "orchd.sock")
    d = env.daemon(argv=["systemd-socket-activate", "-l", passed], sock=passed)
    ok_json(d.ask("START P"))
    assert not os.path.exists(own), "orchd bound its own socket despite the passed one"
    assert "the socket systemd passed" in d.log()


@test
def secret_from_credentials_directory(env):
    env.fake.add_release("P")
    creds = os.path.join(env.dir, "creds")
    os.mkdir(creds)
    with open(os.path.join(creds, "client_secret"), "w") as f:
        f.write(env.secret + "\n")
    d = env.daemon(auth={"client_secret_file": None}, env={"CREDENTIALS_DIRECTORY": creds})
    ok_json(d.ask("START P"))


@test
def refresh_token_in_state_directory(env):
    env.fake.add_release("P")
    state = os.path.join(env.dir, "state")
    os.mkdir(state)
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    harness.SECRETS_SEEN.append(rt)
    with open(os.path.join(state, "refresh_token"), "w") as f:
        f.write(rt)
    d = env.daemon(auth={"grant": "refresh_token"}, env={"STATE_DIRECTORY": state})
    ok_json(d.ask("START P"))
    assert open(os.path.join(state, "refresh_token")).read().strip() != rt   # rotated there


@test
def sighup_reload_keeps_clients_and_requests(env):
    env.fake.add_release("P", "Shared")
    env.fake.add_release("P", "Shared/Finance")
    d = env.daemon()
    c = d.client()
    ok_json(c.ask("START P"))
    env.fake.fault("start", delay=1.0)
    c.send("START P\n")
    time.sleep(0.3)
    env.config(orchestrator={"folder": "Shared/Finance"})      # the same path, new content
    d.proc.send_signal(signal.SIGHUP)
    a = ok_json(c.line())                                      # the request in flight finished
    assert a["folder"] == "Shared"
    assert wait_for(lambda: "reloaded" in d.log(), 5)
    b = ok_json(c.ask("START P"))                              # same connection, new default
    assert b["folder"] == "Shared/Finance"
    assert env.fake.jobs[-1]["folder"] == "Shared/Finance"


@test
def sighup_with_broken_config_keeps_the_old_one(env):
    env.fake.add_release("P")
    d = env.daemon()
    c = d.client()
    ok_json(c.ask("START P"))
    env.fake.fault("start", delay=1.0)
    c.send("START P\n")
    time.sleep(0.3)
    env.write("orchd.conf", "[orchestrator]\nurl = https://x\ncolour = red\n", 0o644)
    d.proc.send_signal(signal.SIGHUP)
    ok_json(c.line())
    assert wait_for(lambda: "reload refused" in d.log(), 5)
    assert "unknown key \"colour\"" in d.log() and ":3:" in d.log()
    ok_json(c.ask("START P"))
    assert d.proc.poll() is None


@test
def journald_priority_prefixes(env):
    env.fake.add_release("P")
    d = env.daemon(env={"JOURNAL_STREAM": "8:1234"})
    ok_json(d.ask("START P"))
    err(d.ask("START Nope"), "NOT_FOUND")
    # A START's line is written just after its answer (log_hold).
    assert wait_for(lambda: "START \"Nope\"" in d.log(), 5)
    lines = d.log().splitlines()
    assert any(l.startswith("<6>START \"P\"") for l in lines), lines      # info
    assert any(l.startswith("<5>START \"Nope\"") for l in lines), lines   # notice
    assert not any(l.startswith("orchd:") for l in lines)


@test
def systemd_units_verify_and_score(env):
    unit = open(os.path.join(harness.HERE, "..", "..", "systemd", "orchd.service")).read()
    orchd = os.path.abspath(os.path.join(harness.BUILD, "orchd"))
    with open(os.path.join(env.dir, "orchd.service"), "w") as f:
        f.write(unit.replace("/usr/local/bin/orchd", orchd))
    shutil.copy(os.path.join(harness.HERE, "..", "..", "systemd", "orchd.socket"), env.dir)
    units = [os.path.join(env.dir, "orchd.service"), os.path.join(env.dir, "orchd.socket")]
    p = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", units[0]],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for orchd.service: (\d+\.\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 1.5, f"exposure {m.group(1)} > 1.5"
    # A user namespace would map every client to nobody ([access] breaks);
    # descriptors for max_clients + max_inflight; no core dumps.
    assert not re.search(r"^PrivateUsers=", unit, re.M)
    nofile = re.search(r"^LimitNOFILE=(\d+)$", unit, re.M)
    assert nofile and int(nofile.group(1)) >= 1024 + 256 + 64, "LimitNOFILE"
    assert re.search(r"^LimitCORE=0$", unit, re.M)


@test(serial=True)   # runs make (which may rebuild the shared BUILD)
def make_install_and_uninstall(env):
    top = os.path.abspath(os.path.join(harness.HERE, "..", ".."))
    dest = os.path.join(env.dir, "root")
    make = ["make", "-C", top, f"BUILD={os.path.abspath(harness.BUILD)}", f"DESTDIR={dest}", "PREFIX=/usr"]
    p = subprocess.run(make + ["install"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr

    def mode(path):
        return stat.S_IMODE(os.stat(dest + path).st_mode)
    assert mode("/usr/bin/orchd") == 0o755 and mode("/usr/bin/orchctl") == 0o755
    assert mode("/etc/orchd/orchd.conf") == 0o640 and mode("/etc/orchd/orchd.conf.example") == 0o640
    unit = open(dest + "/usr/lib/systemd/system/orchd.service").read()
    assert "ExecStart=/usr/bin/orchd -c /etc/orchd/orchd.conf" in unit
    for f in ("/usr/lib/systemd/system/orchd.socket", "/usr/lib/sysusers.d/orchd.conf",
              "/usr/lib/tmpfiles.d/orchd.conf", "/usr/share/doc/orchd/README.md"):
        assert os.path.isfile(dest + f), f
    # A second install keeps the admin's config.
    with open(dest + "/etc/orchd/orchd.conf", "a") as f:
        f.write("; edited\n")
    subprocess.run(make + ["install"], capture_output=True, check=True)
    assert open(dest + "/etc/orchd/orchd.conf").read().endswith("; edited\n")
    p = subprocess.run(make + ["uninstall"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(dest + "/usr/bin/orchd")
    assert not os.path.exists(dest + "/usr/lib/systemd/system/orchd.service")
    assert os.path.exists(dest + "/etc/orchd/orchd.conf")       # configs stay
