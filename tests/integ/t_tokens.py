"""Access and refresh tokens: refreshed ahead, Identity outages and their
backoff, revoked and rotated refresh tokens, the refresh token file
(unwritable, EMFILE, locked by another process)."""

import os
import re
import stat
import time

from itest import *  # noqa: F401,F403


@test
def short_tokens_refreshed_ahead_never_used_expired(env):
    env.fake.token_lifetime = 3
    env.fake.add_release("Invoice Bot")
    d = env.daemon()
    c = d.client()
    end = time.time() + 8
    n = 0
    while time.time() < end:
        ok_json(c.ask('START "Invoice Bot"'))
        n += 1
        time.sleep(0.05)
    assert env.fake.expired_uses == 0
    # 8 s of 3 s tokens refreshed at 2..2.4 s: 4 or 5 token requests.
    assert 4 <= env.fake.count("token") <= 6, env.fake.counts
    # No StartJobs was refused and retried: each trigger cost exactly one.
    assert env.fake.count("start") == n, (env.fake.counts, n)


@test
def identity_down_serves_with_the_valid_token_then_unavailable(env):
    env.fake.token_lifetime = 6
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("token", status=503, times=None)
    t0 = time.time()
    while time.time() - t0 < 4:                       # refreshes fail from ~4 s on
        ok_json(d.ask("START P"))
        time.sleep(0.2)
    assert wait_for(lambda: d.ask("START P", timeout=20).startswith("ERR UNAVAILABLE"), 10, 0.2)
    err(d.ask("START P"), "UNAVAILABLE", "503")
    assert env.fake.expired_uses == 0
    env.fake.reset_counters()
    time.sleep(12)
    # Failing, it asks rarely: one request a try, tries 2, 4, 8 ... s apart.
    assert env.fake.count("token") <= 4, env.fake.counts


@test
def revoked_token_replaced_after_one_401(env):
    env.fake.add_release("Invoice Bot")
    d = env.daemon()
    ok_json(d.ask('START "Invoice Bot"'))
    env.fake.revoke_tokens()
    ok_json(d.ask('START "Invoice Bot"'))
    assert env.fake.count("token") == 2
    assert env.fake.count("start") == 3       # one refused with 401, then one retried
    assert len(env.fake.jobs) == 2


@test
def refresh_token_rotation_persisted_and_survives_restart(env):
    env.fake.token_lifetime = 3
    env.fake.add_release("Invoice Bot")
    rt0 = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt0 + "\n")
    conf = env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf})
    d = env.daemon(conf)
    ok_json(d.ask('START "Invoice Bot"'))
    rt1 = open(rtf).read().strip()
    assert rt1 and rt1 != rt0, "rotated refresh token not written"
    assert stat.S_IMODE(os.stat(rtf).st_mode) == 0o600
    assert not os.path.exists(rtf + ".tmp")
    # Let it refresh once more on its own (3 s tokens).
    wait_for(lambda: open(rtf).read().strip() != rt1, 6)
    rt2 = open(rtf).read().strip()
    assert rt2 != rt1
    assert d.stop() == 0
    d2 = env.daemon(conf)
    ok_json(d2.ask('START "Invoice Bot"'))
    assert open(rtf).read().strip() != rt2
    assert not env.fake.revoked_grants, "a rotated refresh token was reused"
    for tok in (rt0, rt1, rt2):
        harness.SECRETS_SEEN.append(tok)


@test
def bad_secret_is_auth_error_without_retry_storm(env):
    env.fake.apps["app"].secret = "something else"
    env.fake.add_release("Invoice Bot")
    d = env.daemon()
    a = d.ask('START "Invoice Bot"')
    err(a, "AUTH", "invalid_client", "client_id or the client secret")
    for _ in range(20):
        err(d.ask('START "Invoice Bot"'), "AUTH")
    assert env.fake.count("token") == 1, env.fake.counts
    assert env.fake.count("releases") == 0
    assert "invalid_client" in d.log()


@test
def used_refresh_token_is_auth_error(env):
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    env.fake.refresh_tokens[rt]["used"] = True
    rtf = env.write("refresh_token", rt)
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}))
    err(d.ask("START X"), "AUTH", "invalid_grant", "orchd login")
    harness.SECRETS_SEEN.append(rt)


@test
def missing_refresh_token_file_is_auth_error(env):
    d = env.daemon(env.config(auth={"grant": "refresh_token",
                                     "refresh_token_file": env.dir + "/none"}))
    err(d.ask("START X"), "AUTH", "orchd login")
    assert env.fake.count("token") == 0


@test
def unwritable_refresh_token_file_fails_closed(env):
    env.fake.add_release("Invoice Bot")
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt)
    # No temporary file can be made (a full disk, as root too).
    faults, fenv = env.faults()
    with open(os.path.join(faults, "mkostemp"), "w") as f:
        f.write("28 -1\n")   # ENOSPC, until removed
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}), env=fenv)
    err(d.ask('START "Invoice Bot"'), "AUTH", "cannot save the rotated refresh token", "fail closed")
    assert env.fake.count("releases") == 0 and env.fake.count("start") == 0
    assert open(rtf).read().strip() == rt
    assert os.listdir(env.dir).count("refresh_token") == 1 and not any(
        n.startswith(".refresh_token.") for n in os.listdir(env.dir)), os.listdir(env.dir)
    harness.SECRETS_SEEN.append(rt)
    # Once the file can be written, the rotation kept in memory is saved
    # (not spent again) and the daemon recovers on its own.
    os.unlink(os.path.join(faults, "mkostemp"))
    assert wait_for(lambda: d.ask('START "Invoice Bot"').startswith("OK "), 40, 0.5)
    assert env.fake.count("token") == 2, env.fake.counts
    assert not env.fake.revoked_grants
    saved = open(rtf).read().strip()
    assert env.fake.refresh_tokens[saved]["used"] is False


@test
def refresh_token_file_written_by_login_is_picked_up(env):
    env.fake.token_lifetime = 3
    env.fake.add_release("P")
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt)
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}))
    ok_json(d.ask("START P"))
    fresh = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    env.write("refresh_token", fresh)              # as "orchd login" would
    assert wait_for(lambda: env.fake.refresh_tokens[fresh]["used"], 6)
    ok_json(d.ask("START P"))
    assert not env.fake.revoked_grants
    harness.SECRETS_SEEN.extend([rt, fresh])


@test(serial=True)   # asserts the gaps between token requests
def token_outage_backs_off_doubling_and_answers_at_once(env):
    env.fake.add_release("P")
    env.fake.fault("token", status=503, times=None)
    d = env.daemon(wait_ready=False)
    d.wait_socket()
    c = d.client()
    t_end = time.time() + 9
    answered = []
    while time.time() < t_end:
        t0 = time.time()
        a = c.ask("START P")
        answered.append(time.time() - t0)
        err(a, "UNAVAILABLE", "503", "next token request in")
        time.sleep(0.1)
    times = [e["time"] for e in env.fake.log if e["endpoint"] == "token"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # About 2 s, then 4, then 8 (each +-20 %): 3 requests in 9 s (the 4th
    # comes 11 s in at the earliest), where a fixed delay made 4 or more.
    assert len(times) == 3, gaps
    assert 1.5 <= gaps[0] <= 2.6 and 3.1 <= gaps[1] <= 5.0, gaps
    # ~80 requests meanwhile, each answered at once, none asking Identity.
    assert max(answered) < 1.0 and len(answered) > 50
    env.fake.faults.clear()
    assert wait_for(lambda: d.ask("START P").startswith("OK "), 12, 0.2)
    assert re.search(r"next attempt in [23] s", d.log()) and re.search(r"next attempt in [45] s", d.log())


@test
def emfile_on_the_token_file_is_temporary(env):
    env.fake.add_release("P")
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt + "\n")
    harness.SECRETS_SEEN.append(rt)
    faults, fenv = env.faults()
    with open(os.path.join(faults, "open"), "w") as f:
        f.write("24 2 /refresh_token\n")      # EMFILE, twice
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}),
                   wait_ready=False, env=fenv)
    d.wait_socket()
    # Tried again 2 s and 4 s later, not in 5 minutes as for a missing file.
    assert wait_for(lambda: d.ask("START P").startswith("OK "), 15, 0.3), d.log()
    log = d.log()
    assert "Too many open files" in log and "orchd login" not in log, log


@test
def token_file_lock_held_elsewhere_is_waited_for(env):
    import fcntl
    env.fake.token_lifetime = 3
    env.fake.add_release("P")
    rt = env.fake.new_refresh_token("app", ["OR.Jobs.Write", "OR.Execution.Read"])
    rtf = env.write("refresh_token", rt + "\n")
    harness.SECRETS_SEEN.append(rt)
    d = env.daemon(env.config(auth={"grant": "refresh_token", "refresh_token_file": rtf}))
    ok_json(d.ask("START P"))
    n = env.fake.count("token")
    # Another process (check, login) holds the lock: no refresh meanwhile.
    with open(rtf) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        time.sleep(3.5)                            # past the refresh time
        assert env.fake.count("token") == n, env.fake.counts
        locked_copy = open(rtf).read().strip()
    # Released: the daemon reads the file again (whatever the holder wrote)
    # and refreshes; no refresh token was spent twice.
    assert wait_for(lambda: env.fake.count("token") > n, 5)
    assert wait_for(lambda: d.ask("START P").startswith("OK "), 10, 0.2)
    for tok in (locked_copy, open(rtf).read().strip()):
        harness.SECRETS_SEEN.append(tok)
    assert not env.fake.revoked_grants
