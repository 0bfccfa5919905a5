"""[access] rules: who may start what (uid, groups, folders, resolved
names), what STATS shows a peer, user namespaces, malformed rules, and
names that try to forge log fields."""

import os
import shutil
import subprocess

from itest import *  # noqa: F401,F403


@test
def denied_by_access_rules(env):
    env.fake.add_release("Invoice Bot")
    env.fake.add_release("Payroll")
    uid = os.getuid()
    d = env.daemon(access=[f"uid:{uid} Invoice*", "uid:999999 *"])
    ok_json(d.ask('START "Invoice Bot"'))
    err(d.ask("START Payroll"), "DENIED", f"uid {uid}", "Payroll")
    assert len(env.fake.jobs) == 1
    assert "DENIED" in d.log()


@test
def supplementary_groups_count_for_access(env):
    # A user whose only way in is a supplementary group listed in /etc/group.
    if os.geteuid() != 0:
        print("     (skipped: needs root to make a user)")
        return
    subprocess.run(["groupadd", "-f", "orchdtest"], check=True)
    if subprocess.run(["id", "orchdtest-user"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-G", "orchdtest", "-s", "/bin/false",
                        "orchdtest-user"], check=True)
    import pwd
    pw = pwd.getpwnam("orchdtest-user")
    env.fake.add_release("Invoice Bot")
    env.fake.add_release("Payroll")
    os.chmod(env.dir, 0o755)
    d = env.daemon(access=["group:orchdtest Invoice*"], server={"socket_mode": "0666"})

    # A copy the user can run wherever the checkout lives.
    ctl = shutil.copy(os.path.join(harness.BUILD, "orchctl"), os.path.join(env.dir, "orchctl"))
    os.chmod(ctl, 0o755)

    def start_as_user(process):
        return subprocess.run([ctl, "-s", d.sock,
                               "start", process, "--json"], capture_output=True, text=True,
                              user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    p = start_as_user("Invoice Bot")                       # the group counts, though not primary
    assert p.returncode == 0, p.stdout + p.stderr
    p = start_as_user("Payroll")
    assert p.returncode == 12 and f"uid {pw.pw_uid}" in p.stdout, p.stdout + p.stderr
    err(d.ask('START "Invoice Bot"'), "DENIED")          # root is not in the group
    assert len(env.fake.jobs) == 1


@test
def stats_lists_only_the_processes_a_peer_may_start(env):
    if os.geteuid() != 0:
        print("     (skipped: needs root to run a client as another user)")
        return
    for name in ("P", "Payroll"):
        env.fake.add_release(name)
        env.fake.add_release(name, folder="Shared/Finance")
    os.chmod(env.dir, 0o755)
    d = env.daemon(access=["uid:0 *", "uid:65534 P folder=Shared"], server={"socket_mode": "0666"})
    for line in ("START P", "START Payroll", "START P Shared/Finance"):
        ok_json(d.ask(line))
    assert sorted(ok_json(d.ask("STATS"))["processes"]) == ["P", "Payroll"]
    ctl = shutil.copy(os.path.join(harness.BUILD, "orchctl"), os.path.join(env.dir, "orchctl"))
    os.chmod(ctl, 0o755)
    p = subprocess.run([ctl, "-s", d.sock, "processes"], capture_output=True, text=True,
                       user=65534, group=65534, extra_groups=[], timeout=30)
    assert p.returncode == 0 and p.stdout.split() == ["P"], p


@test
def user_rules_refused_in_a_user_namespace(env):
    if subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True).returncode != 0:
        print("     (no user namespaces on this machine: not tested here)")
        return
    conf = env.config(access=["user:root *"])
    orchd = os.path.join(harness.BUILD, "orchd")
    p = subprocess.run(["unshare", "-U", "-r", *harness.WRAP, orchd, "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert f"{conf}:" in p.stderr and "user namespace" in p.stderr and "PrivateUsers" in p.stderr, p.stderr
    assert "65534" in p.stderr
    # Outside a user namespace the same config starts.
    d = env.daemon(conf)
    assert d.ask("PING") == 'OK {"pong":true}'


@test
def access_rules_limit_folder_count_and_the_resolved_name(env):
    env.fake.add_release("Invoice Bot")
    env.fake.add_release("Invoice Bot", folder="Shared/Finance")
    env.fake.add_release("invoice-secret")      # Name eq '..' ignores case upstream
    d = env.daemon(access=["uid:0 Invoice* folder=Shared max=2",
                           "uid:0 Invoice* folder=#2",
                           f"uid:{os.getuid()} \"Other Bot\" folder=Shared/*"])
    ok_json(d.ask('START "Invoice Bot"'))                         # default folder Shared
    ok_json(d.ask(start_json(process="Invoice Bot", count=2)))
    err(d.ask(start_json(process="Invoice Bot", count=3)), "DENIED", "count")
    err(d.ask('START "Invoice Bot" Shared/Finance'), "DENIED")  # by path: only #2 allows it
    ok_json(d.ask(start_json(process="Invoice Bot", folder=2)))
    err(d.ask(start_json(process="Invoice Bot", folder=1)), "DENIED")
    assert env.fake.count("start") == 3
    # Sent "Invoice-secret" matches Invoice*; Orchestrator resolves it to
    # "invoice-secret", which does not: refused before StartJobs.
    err(d.ask('START Invoice-secret'), "DENIED", "invoice-secret")
    assert env.fake.count("start") == 3 and env.fake.count("releases") == 3
    # Cached now: refused again without any request.
    err(d.ask('START Invoice-secret'), "DENIED")
    assert env.fake.count("releases") == 3 and env.fake.count("start") == 3


@test
def malformed_rules_are_config_errors_with_lines(env):
    for rule, words in (("uid:4294967296 *", "0 to 4294967294"), ("uid:-1 *", "0 to 4294967294"),
                        ("uid:0 * oops", 'unexpected "oops"'), ("uid:0 * max=0", "max=N")):
        conf = env.config(access=[rule])
        p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "-c", conf], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 1 and f"{conf}:" in p.stderr and words in p.stderr, (rule, p.stderr)


@test
def names_cannot_forge_log_fields_and_denials_are_rate_limited(env):
    d = env.daemon(access=["uid:4242 *"])
    c = d.client()
    err(c.ask(start_json(process='x" folder "Fake')), "DENIED")
    for _ in range(200):
        err(c.ask("START P"), "DENIED")
    log = d.log()
    assert 'start "x\\" folder \\"Fake"' in log, log
    assert log.count("DENIED") <= 11, log.count("DENIED")
    # (Control characters in names never get this far: BAD_REQUEST.) What
    # Orchestrator says is quoted too.
    d2 = env.daemon(sock=os.path.join(env.dir, "b.sock"), server={"socket": os.path.join(env.dir, "b.sock")},
                    filename="b.conf")
    env.fake.fault("releases", status=400, body={"message": "bad\x1b[31m\nforged line\u2028", "errorCode": 1000})
    err(d2.ask("START X"), "REJECTED")
    # Info lines are written once per loop turn, after the answers.
    assert wait_for(lambda: "bad\\u001b[31m\\nforged line\\u2028" in d2.log(), 5), d2.log()
    log = d2.log()
    assert "\x1b" not in log and "\u2028" not in log and not any(l.startswith("forged") for l in log.splitlines())
