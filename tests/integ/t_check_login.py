"""orchd check (every step and what it reports) and orchd login (the
authorization-code exchange, its refusals, the token file it writes)."""

import json
import os
import re
import signal
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from itest import *  # noqa: F401,F403


@test
def check_all_good(env):
    env.fake.add_release("Invoice Bot")
    conf = env.config(auth={"scope": "OR.Jobs.Write OR.Execution.Read OR.Jobs.Read"})
    p = run_check(env, conf, "--process", "Invoice Bot")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "FAIL" not in p.stdout and "warn" not in p.stdout, p.stdout
    check_line(p.stdout, "ok", "config", "is valid")
    check_line(p.stdout, "ok", "token endpoint", "answers OAuth")
    check_line(p.stdout, "ok", "scopes", "OR.Jobs.Write OR.Execution.Read OR.Jobs.Read")
    check_line(p.stdout, "ok", "scope: lookup")
    check_line(p.stdout, "ok", "scope: start")
    check_line(p.stdout, "ok", "folder", '"Shared" exists')
    check_line(p.stdout, "ok", "process", env.fake.releases[0]["Key"])
    check_line(p.stdout, "ok", "optional verbs", "JOB, WAIT, START with wait: yes; STOP: yes")
    assert p.stdout.rstrip().endswith("everything orchd needs works")
    j = json.loads(run_check(env, conf, "--json", "--process", "Invoice Bot").stdout)
    assert j["ok"] is True and j["release"] == env.fake.releases[0]["Key"]
    assert "OR.Execution.Read" in j["scopes"]
    assert {s["step"] for s in j["steps"]} >= {"config", "secret", "token", "scopes", "folder", "process"}
    assert env.fake.count("start") == 0            # check never starts a job


@test
def check_missing_execution_scope(env):
    # The project's origin: Releases needs OR.Execution(.Read), not "Processes.View".
    p = run_check(env, app_config(env, "jobsonly", ["OR.Jobs.Write"]))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "scope: lookup", "add scope OR.Execution or OR.Execution.Read",
               "Processes.View")
    check_line(p.stdout, "ok", "scope: start")
    check_line(p.stdout, "FAIL", "folder", "403")


@test
def check_missing_jobs_scope(env):
    p = run_check(env, app_config(env, "readonly", ["OR.Execution.Read"]))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "scope: start", "OR.Jobs or OR.Jobs.Write", "Jobs.Create")
    check_line(p.stdout, "ok", "scope: lookup")
    check_line(p.stdout, "ok", "folder")


@test
def check_reports_the_optional_verbs_without_failing(env):
    p = run_check(env, app_config(env, "startonly", ["OR.Execution.Read", "OR.Jobs.Write"]))
    assert p.returncode == 0, p.stdout           # reading and stopping jobs are optional
    check_line(p.stdout, "warn", "scope: read job", "OR.Jobs.Read", "JOB, WAIT")
    check_line(p.stdout, "ok", "scope: stop job")
    check_line(p.stdout, "ok", "optional verbs", "JOB, WAIT, START with wait: no; STOP: yes")


@test
def check_reports_attachments_and_logs_as_optional(env):
    base = ["OR.Execution.Read", "OR.Jobs.Write", "OR.Jobs.Read"]
    p = run_check(env, app_config(env, "plain", base))
    assert p.returncode == 0, p.stdout              # big inputs, outputs and LOGS are optional
    check_line(p.stdout, "skip", "scope: big input", "OR.Folders or OR.Folders.Write",
               "over 10,000 characters answers SCOPE")
    check_line(p.stdout, "skip", "scope: big output", "OR.Folders or OR.Folders.Read", "output_file")
    check_line(p.stdout, "skip", "scope: logs", "OR.Monitoring or OR.Monitoring.Read", "LOGS answers SCOPE")
    check_line(p.stdout, "ok", "optional verbs", "big inputs: no; big outputs: no; LOGS: no")
    full = base + ["OR.Folders.Write", "OR.Folders.Read", "OR.Monitoring.Read"]
    p = run_check(env, app_config(env, "full", full))
    assert p.returncode == 0, p.stdout
    for step in ("big input", "big output", "logs"):
        check_line(p.stdout, "ok", f"scope: {step}", "is covered")
    check_line(p.stdout, "ok", "optional verbs", "big inputs: yes; big outputs: yes; LOGS: yes")
    # Scopes orchd uses are not reported as unneeded; one it does not use is.
    assert "not used by orchd" not in p.stdout, p.stdout
    p = run_check(env, app_config(env, "more", full + ["OR.Users.Read"]))
    check_line(p.stdout, "warn", "least privilege", "not used by orchd: OR.Users.Read;")


@test
def check_invalid_client(env):
    env.fake.apps["app"].secret = "rotated-elsewhere"
    p = run_check(env, env.config())
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "token", "invalid_client", "client secret is wrong")


@test
def check_invalid_scope_causes(env):
    # A scope the app was not granted.
    p = run_check(env, env.config(auth={"scope": "OR.Jobs.Write OR.Folders.Read"}))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "token", "invalid_scope", "not granted to the external app")
    # OR.X together with OR.X.Read.
    env.fake.apps["app"].scopes |= {"OR.Jobs", "OR.Jobs.Read"}
    p = run_check(env, env.config(auth={"scope": "OR.Jobs OR.Jobs.Read OR.Execution.Read"}))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "token", "invalid_scope", "OR.Jobs together with OR.Jobs.Read")
    # offline_access with client credentials: caught before asking anybody.
    p = run_check(env, env.config(auth={"scope": "OR.Jobs.Write offline_access"}))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "config", "offline_access cannot be asked with client_credentials")
    assert env.fake.count("token") == 2


@test
def check_wrong_token_url(env):
    p = run_check(env, env.config(auth={"token_url": env.fake.base + "/identity/connect/token"}))
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "token endpoint", "HTTP 404", "without an OAuth answer",
               "https://cloud.uipath.com/identity_/connect/token", "standalone")


@test
def check_unknown_folder_and_no_role(env):
    env.fake.apps["app"].folders = {"Shared"}
    p = run_check(env, env.config(), "--folder", "Nowhere")
    assert p.returncode == 1
    check_line(p.stdout, "ok", "folder", '"Shared" exists')
    check_line(p.stdout, "FAIL", "folder", '"Nowhere" does not exist', "1100")
    p = run_check(env, env.config(), "--folder", "Shared/Finance")
    check_line(p.stdout, "FAIL", "folder", "role with Processes.View", '"Shared/Finance"')
    p = run_check(env, env.config(), "--process", "Nope")
    check_line(p.stdout, "FAIL", "process", "NOT_FOUND")


@test
def check_reports_every_config_problem(env):
    bad = env.write("bad.conf", "[orchestrator]\ntimeout = x\n[auth]\nclient_id = a\ncolour = 1\n", 0o644)
    p = run_check(env, bad)
    assert p.returncode == 1
    check_line(p.stdout, "FAIL", "config", f"{bad}:2: timeout")
    check_line(p.stdout, "FAIL", "config", f"{bad}:5: unknown key")
    check_line(p.stdout, "FAIL", "config", "url is required")


class Login:
    """orchd login as a subprocess, with the test as the browser."""

    def __init__(self, env, conf, *args):
        self.env = env
        self.p = subprocess.Popen([os.path.join(harness.BUILD, "orchd"), "login", "-c", conf, *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.url = None
        while True:
            line = self.p.stdout.readline()
            assert line, "orchd login printed no URL: " + self.p.stderr.read()
            if line.startswith("  https://"):
                self.url = line.strip()
                break

    def authorize(self):
        """Follows the authorize URL like a browser; returns the redirect Location."""
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.env.fake.ca)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **kw):
                return None
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
        try:
            opener.open(self.url)
        except urllib.error.HTTPError as e:
            assert e.code == 302, e
            return e.headers["Location"]
        raise AssertionError("no redirect from authorize")

    def deliver(self, location):
        import urllib.request
        try:
            with urllib.request.urlopen(location, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def finish(self):
        out, err = self.p.communicate(timeout=30)
        return self.p.returncode, out, err


def login_config(env, port, rtf):
    return env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf,
                            "redirect_uri": f"http://127.0.0.1:{port}/callback"})


@test
def login_end_to_end_and_daemon_uses_the_token(env):
    env.fake.add_release("P")
    rtf = os.path.join(env.dir, "state", "refresh_token")
    os.mkdir(os.path.dirname(rtf))
    conf = login_config(env, free_port(), rtf)
    lg = Login(env, conf)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(lg.url).query)
    assert q["code_challenge_method"] == ["S256"] and len(q["state"][0]) >= 16
    assert "offline_access" in q["scope"][0].split()
    loc = lg.authorize()
    status, page = lg.deliver(loc)
    assert status == 200 and "close this window" in page
    rc, out, err_ = lg.finish()
    assert rc == 0, err_
    assert "scopes granted: OR.Jobs.Write OR.Execution.Read" in out, out
    assert stat.S_IMODE(os.stat(rtf).st_mode) == 0o600
    rt = open(rtf).read().strip()
    assert env.fake.refresh_tokens[rt]["used"] is False
    harness.SECRETS_SEEN.append(rt)
    assert rt not in out + err_
    d = env.daemon(conf)
    ok_json(d.ask("START P"))
    assert env.fake.refresh_tokens[rt]["used"] is True


@test
def sighup_picks_up_a_new_refresh_token_at_once(env):
    env.fake.add_release("P")
    rtf = os.path.join(env.dir, "refresh_token")
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}))
    err(d.ask("START P"), "AUTH", "orchd login")
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    harness.SECRETS_SEEN.append(rt)
    env.write("refresh_token", rt)
    d.proc.send_signal(signal.SIGHUP)
    # Without SIGHUP the next attempt would come after 300 s.
    assert wait_for(lambda: d.ask("START P").startswith("OK "), 5, 0.1)


@test
def login_refuses_wrong_state_and_used_code(env):
    rtf = os.path.join(env.dir, "refresh_token")
    port = free_port()
    lg = Login(env, login_config(env, port, rtf))
    loc = lg.authorize()
    forged = re.sub(r"state=[^&]*", "state=forged", loc)
    status, page = lg.deliver(forged)
    assert status == 400 and "state" in page
    # Refused, and still waiting: the real redirect then works.
    assert lg.p.poll() is None
    status, page = lg.deliver(loc)
    assert status == 200, page
    rc, out, err_ = lg.finish()
    assert rc == 0 and "state does not match" in err_, err_
    harness.SECRETS_SEEN.append(open(rtf).read().strip())
    os.unlink(rtf)
    # A code used once (here by someone else first) is refused by Identity.
    lg = Login(env, login_config(env, port, rtf))
    loc = lg.authorize()
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
    env.fake.codes[code]["used"] = True
    status, page = lg.deliver(loc)
    rc, out, err_ = lg.finish()
    assert rc == 1 and "invalid_grant" in err_ and "already used" in err_, err_
    assert not os.path.exists(rtf)


@test
def login_no_listen_takes_a_pasted_address(env):
    rtf = os.path.join(env.dir, "refresh_token")
    lg = Login(env, login_config(env, free_port(), rtf), "--no-listen")
    loc = lg.authorize()
    lg.p.stdin.write(loc + "\n")
    lg.p.stdin.flush()
    rc, out, err_ = lg.finish()
    assert rc == 0, err_
    harness.SECRETS_SEEN.append(open(rtf).read().strip())


@test
def check_as_root_keeps_the_token_files_owner_and_mode(env):
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt + "\n", 0o640)
    harness.SECRETS_SEEN.append(rt)
    if os.geteuid() == 0:
        os.chown(rtf, 65534, 65534)
    conf = env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf})
    p = subprocess.run([*harness.WRAP, os.path.join(harness.BUILD, "orchd"), "check", "-c", conf],
                       capture_output=True, text=True, timeout=60)
    new = open(rtf).read().strip()
    harness.SECRETS_SEEN.append(new)
    assert new != rt, p.stdout + p.stderr          # check spent and rotated it
    st = os.stat(rtf)
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert [n for n in os.listdir(env.dir) if n.startswith(".refresh_token")] == []


@test
def login_serves_one_exchange_and_refuses_strangers(env):
    rtf = os.path.join(env.dir, "refresh_token")
    port = free_port()
    lg = Login(env, login_config(env, port, rtf))
    loc = lg.authorize()
    base = loc.split("?")[0]
    # Any local process can send these: refused, logged escaped, still waiting.
    status, page = lg.deliver(base + "?error=access_denied&error_description=%1b%5b31mgotcha%0a&state=x")
    assert status == 400
    status, page = lg.deliver(re.sub(r"state=[^&]*", "state=forged", loc))
    assert status == 400
    assert lg.p.poll() is None
    # The real one, then a reload of it while the code is being exchanged.
    env.fake.fault("token", delay=1.0)
    first = {}
    t = threading.Thread(target=lambda: first.update(r=lg.deliver(loc)))
    t.start()
    time.sleep(0.3)
    try:
        again = lg.deliver(loc)
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        again = (None, repr(e))                    # the listener is closed: fine too
    t.join()
    assert first["r"][0] == 200, first
    assert again[0] in (None, 409), again
    rc, out, err_ = lg.finish()
    assert rc == 0, err_
    assert "\x1b" not in err_ and "\\u001b[31mgotcha\\n" in err_, err_
    assert env.fake.count("token") == 1            # one exchange
    harness.SECRETS_SEEN.append(open(rtf).read().strip())


@test
def login_refuses_a_redirect_uri_off_loopback(env):
    rtf = os.path.join(env.dir, "refresh_token")
    conf = env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf,
                            "redirect_uri": "http://0.0.0.0:8765/callback"})
    p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "login", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "redirect_uri: expected http:// on a loopback address" in p.stderr
