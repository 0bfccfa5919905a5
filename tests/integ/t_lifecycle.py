"""The daemon's life: the socket's mode, QUIT and half-close, SIGTERM and
the drain deadline, orchctl's output and exit codes, no core dumps."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time

from itest import *  # noqa: F401,F403


@test
def socket_created_with_mode(env):
    d = env.daemon(server={"socket_mode": "0600"})
    assert stat.S_IMODE(os.stat(d.sock).st_mode) == 0o600


@test
def quit_and_half_close(env):
    d = env.daemon()
    c = d.client()
    c.send("PING\nQUIT\nPING\n")
    assert c.line() == 'OK {"pong":true}'
    assert ok_json(c.line()) == {"bye": True}
    assert c.closed()
    c = d.client()
    c.send("PING")                              # no LF, then half-close
    c.sock.shutdown(socket.SHUT_WR)
    assert c.line() == 'OK {"pong":true}'
    assert c.closed()


@test
def sigterm_answers_everything_received(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("start", delay=1.0)
    c = d.client()
    c.send("START P\n")
    time.sleep(0.3)                       # the StartJobs is at the fake now
    d.term()
    ok_json(c.line())                     # answered, not dropped
    rc = d.stop()
    assert rc == 0, rc
    assert not os.path.exists(d.sock)
    assert len(env.fake.jobs) == 2


@test
def sigterm_while_waiting_for_token_answers_shutdown(env):
    env.fake.add_release("P")
    env.fake.fault("token", delay=1.5)
    d = env.daemon(wait_ready=False)
    d.wait_socket()
    c = d.client()
    c.send("START P\nPING\n")
    time.sleep(0.3)
    d.term()
    lines = [c.line(5), c.line(5)]
    err(lines[0], "SHUTDOWN")
    assert lines[1] == 'OK {"pong":true}'
    assert d.stop() == 0
    assert env.fake.count("start") == 0


@test
def orchctl_output_and_exit_codes(env):
    env.fake.add_release("Invoice Bot")
    d = env.daemon()
    ctl = os.path.join(harness.BUILD, "orchctl")

    def run(*args):
        return subprocess.run([ctl, "-s", d.sock, *args], capture_output=True, text=True)
    p = run("start", "Invoice Bot", "--input", '{"InvoiceId":42}', "--reference", "inv-42")
    assert p.returncode == 0 and re.match(r'started job \d+ \(.+\) of "Invoice Bot" in Shared: Pending', p.stdout), p
    p = run("start", "Invoice Bot", "--json", "--priority", "High", "--count", "2")
    assert p.returncode == 0 and len(json.loads(p.stdout)["jobs"]) == 2
    assert env.fake.jobs[-1]["JobPriority"] == "High"
    assert run("start", "Nope").returncode == 13
    assert run("start", "Invoice Bot", "--folder", "Nowhere").returncode == 15
    assert run("start").returncode == 2
    assert run("start", "X", "--input", "[1]").returncode == 2
    assert run("ping").stdout == "pong\n"
    assert json.loads(run("stats", "--json").stdout)["jobs_started"] == 3
    p = subprocess.run([ctl, "-s", env.dir + "/none.sock", "ping"], capture_output=True, text=True)
    assert p.returncode == 3 and "cannot connect" in p.stderr


def _proc_owner(pid):
    """(the process's uid, the owner of its /proc files): the kernel gives
    a process that is not dumpable /proc files owned by root."""
    with open(f"/proc/{pid}/status") as f:
        uid = int(next(l for l in f if l.startswith("Uid:")).split()[1])
    return uid, os.stat(f"/proc/{pid}/status").st_uid


@test
def no_core_dumps_in_any_mode(env):
    if os.geteuid() != 0:
        return
    # Everything a process running as nobody needs, readable by it.
    os.chmod(env.dir, 0o755)
    run = os.path.join(env.dir, "run")
    os.mkdir(run)
    os.chmod(run, 0o777)
    ca = shutil.copy(env.fake.ca, os.path.join(env.dir, "ca.pem"))
    os.chmod(ca, 0o644)
    env.fake.fault("token", delay=3.0, times=None)   # check and the daemon wait for it
    common = {"orchestrator": {"ca_file": ca}, "server": {"socket": os.path.join(run, "s.sock")}}
    cc = env.config(filename="cc.conf", **common)
    rt = env.config(filename="rt.conf", auth={"grant": "refresh_token", "refresh_token_file": run + "/rt",
                                         "redirect_uri": f"http://127.0.0.1:{free_port()}/cb"}, **common)
    for f in ("client_secret", "cc.conf", "rt.conf"):
        os.chmod(os.path.join(env.dir, f), 0o644)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    orchd = os.path.abspath(os.path.join(harness.BUILD, "orchd"))
    for argv in (["login", "-c", rt], ["check", "-c", cc], ["-c", cc]):
        p = subprocess.Popen(as_nobody + [orchd, *argv], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.8)
            assert p.poll() is None, (argv, p.returncode, p.stderr.read())
            uid, owner = _proc_owner(p.pid)
            assert uid == 65534 and owner == 0, (argv, uid, owner)
        finally:
            p.kill()
            p.wait()
            p.stderr.close()


@test
def sigterm_past_the_drain_deadline_answers_everything(env):
    env.fake.token_lifetime = 3
    env.fake.add_release("P")
    env.fake.add_release("Q")
    d = env.daemon(orchestrator={"timeout": "10"}, server={"drain_timeout": "1"})
    ok_json(d.ask("START P"))                     # P's key is cached
    t0 = time.time()
    for ep in ("token", "releases", "start"):
        env.fake.fault(ep, delay=8.0)
    a, b = d.client(), d.client()
    a.send("START P\n")                           # StartJobs hangs
    b.send("START Q\n")                           # the lookup hangs
    # The refresh (2..2.4 s into a 3 s token) hangs too.
    assert wait_for(lambda: env.fake.count("token") == 2, 5), env.fake.counts
    assert env.fake.count("start") == 2 and env.fake.count("releases") == 2
    d.term()
    ts = time.time()
    err(a.line(5), "UNKNOWN", "reference")         # it was sent: may exist
    err(b.line(5), "SHUTDOWN")                    # nothing was started
    assert d.stop(10) == 0
    assert time.time() - ts < 4, time.time() - ts  # the deadline, not the 8 s hangs
    assert a.closed(2) and b.closed(2)
    assert "drain_timeout (1 s) reached" in d.log()
    del t0
