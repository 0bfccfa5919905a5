"""The release cache: refreshed ahead near its TTL, kept for its grace when
a refresh fails, the state file across restarts, negative answers;
warm connections and no START waiting for a token after SIGHUP."""

import os
import signal
import stat
import time

from itest import *  # noqa: F401,F403


@test
def key_used_near_its_ttl_end_is_refreshed_in_the_background(env):
    env.fake.add_release("P")
    env.fake.add_release("Q")
    d = env.daemon(cache={"release_ttl": "4"})
    t0 = time.time()
    ok_json(d.ask("START P"))
    ok_json(d.ask("START Q"))
    assert env.fake.count("releases") == 2
    time.sleep(max(0, t0 + 3.3 - time.time()))          # the last quarter of the TTL
    ok_json(d.ask("START P"))                            # uses the key, refreshes it behind
    assert wait_for(lambda: len(releases_of(env.fake, "P")) == 2, 3)
    time.sleep(max(0, t0 + 4.6 - time.time()))          # past the first key's TTL
    n_start = env.fake.count("start")
    ok_json(d.ask("START P"))
    assert len(releases_of(env.fake, "P")) == 2          # nothing on this START's path
    log = env.fake.log
    last_lookup = max(i for i, e in enumerate(log) if e in releases_of(env.fake, "P"))
    this_start = max(i for i, e in enumerate(log) if e["endpoint"] == "start")
    assert last_lookup < this_start and env.fake.count("start") == n_start + 1
    # Q was not used in its last quarter: not refreshed, let go at its TTL.
    assert len(releases_of(env.fake, "Q")) == 1
    ok_json(d.ask("START Q"))
    assert len(releases_of(env.fake, "Q")) == 2
    assert ok_json(d.ask("STATS"))["cache"]["refreshes"] == 1


@test
def failing_refresh_keeps_the_key_for_its_grace(env):
    env.fake.add_release("P")
    d = env.daemon(cache={"release_ttl": "4"})
    t0 = time.time()
    ok_json(d.ask("START P"))
    time.sleep(max(0, t0 + 3.2 - time.time()))
    env.fake.fault("releases", status=400, times=None, body={"message": "boom", "errorCode": 1000})
    ok_json(d.ask("START P"))
    assert wait_for(lambda: "refreshing process \"P\"" in d.log(), 3), d.log()
    assert "old key stays in use" in d.log()
    time.sleep(max(0, t0 + 4.4 - time.time()))          # past the TTL, within the grace (1 s)
    ok_json(d.ask("START P"))
    time.sleep(max(0, t0 + 5.5 - time.time()))          # past the grace
    err(d.ask("START P"), "REJECTED", "boom")
    env.fake.faults.clear()
    ok_json(d.ask("START P"))
    assert len(env.fake.jobs) == 4


@test
def restart_starts_a_known_process_without_a_lookup(env):
    env.fake.add_release("P")
    env.fake.add_release("Q", key="11111111-1111-1111-1111-111111111111")
    os.makedirs(os.path.join(env.dir, "state"))
    state = os.path.join(env.dir, "state", "releases")
    conf = env.config(cache={"state_file": state})
    d = env.daemon(conf)
    ok_json(d.ask("START P"))
    ok_json(d.ask("START Q"))
    assert d.stop() == 0
    st = os.stat(state)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    text = open(state).read()
    assert "11111111-1111-1111-1111-111111111111" in text
    for secret in list(env.fake.tokens) + [env.secret]:
        assert secret not in text
    env.fake.reset_counters()
    d2 = env.daemon(conf)
    a = ok_json(d2.ask("START P"))
    assert env.fake.count("releases") == 0 and a["release"] == env.fake.releases[0]["Key"]
    # Q's release was deleted and created again meanwhile: StartJobs says it
    # is gone, and today's rule looks it up once more.
    env.fake.releases = [r for r in env.fake.releases if r["Name"] != "Q"]
    env.fake.add_release("Q", key="22222222-2222-2222-2222-222222222222")
    a = ok_json(d2.ask("START Q"))
    assert a["release"] == "22222222-2222-2222-2222-222222222222"
    assert env.fake.count("releases") == 1 and env.fake.count("start") == 3
    assert d2.stop() == 0
    assert "22222222-2222-2222-2222-222222222222" in open(state).read()
    # Entries past their TTL are refreshed at once, and used meanwhile.
    env.fake.reset_counters()
    conf = env.config(cache={"state_file": state, "release_ttl": "1"}, filename="short.conf")
    time.sleep(1.2)
    d3 = env.daemon(conf)
    assert wait_for(lambda: env.fake.count("releases") == 2, 5)
    ok_json(d3.ask("START P"))
    assert env.fake.count("releases") == 2
    # Under systemd the default is $STATE_DIRECTORY/releases; "state_file ="
    # turns it off.
    assert d3.stop() == 0
    sd = os.path.join(env.dir, "sd")
    os.makedirs(sd)
    d4 = env.daemon(env.config(filename="sd.conf"), env={"STATE_DIRECTORY": sd})
    ok_json(d4.ask("START P"))
    assert d4.stop() == 0
    assert os.path.exists(os.path.join(sd, "releases"))
    d5 = env.daemon(env.config(filename="off.conf", cache={"state_file": ""}),
                    env={"STATE_DIRECTORY": os.path.join(env.dir, "state")})
    os.unlink(state)
    ok_json(d5.ask("START P"))
    assert d5.stop() == 0 and not os.path.exists(state)


@test
def idle_connection_is_kept_warm_without_api_calls(env):
    env.fake.add_release("P")
    env.fake.idle_close = 2.5            # the front door closes idle connections
    d = env.daemon(orchestrator={"keepalive": "1"})
    ok_json(d.ask("START P"))
    before = env.fake.connections
    time.sleep(6)
    ok_json(d.ask("START P"))
    assert env.fake.connections == before, (before, env.fake.connections)
    assert env.fake.count("discovery") >= 4
    api = sum(env.fake.count(e) for e in ("releases", "start", "job_get", "jobs_query"))
    assert api == 3 and ok_json(d.ask("STATS"))["upkeeps"] >= 4
    # Without upkeep the idle connection dies and the next START opens one.
    sock = os.path.join(env.dir, "cold.sock")
    d2 = env.daemon(env.config(orchestrator={"keepalive": "0"}, server={"socket": sock},
                               filename="cold.conf"), sock=sock)
    ok_json(d2.ask("START P"))
    n = env.fake.connections
    time.sleep(3.5)
    ok_json(d2.ask("START P"))
    assert env.fake.connections > n


@test
def no_start_waits_for_a_token_after_sighup(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask("START P"))
    env.fake.fault("token", delay=3.0)   # the reload's token request is slow
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reloaded" in d.log(), 5)
    t0 = time.time()
    for _ in range(5):
        ok_json(d.ask("START P"))
    assert time.time() - t0 < 1.5
    assert env.fake.count("token") == 2 and len(env.fake.jobs) == 6
    assert wait_for(lambda: d.log().count("new access token") == 2, 10)


@test
def negative_answers_are_cached_and_forgotten_on_sighup(env):
    d = env.daemon(cache={"negative_ttl": "30"})
    for _ in range(5):
        err(d.ask("START Nope"), "NOT_FOUND", "Nope")
    assert env.fake.count("releases") == 1, env.fake.counts
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reloaded" in d.log(), 5)
    err(d.ask("START Nope"), "NOT_FOUND")
    assert env.fake.count("releases") == 2
    # Created upstream meanwhile: found after the reload forgot it.
    err(d.ask("START Later"), "NOT_FOUND")
    env.fake.add_release("Later")
    err(d.ask("START Later"), "NOT_FOUND")     # remembered
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: d.log().count("reloaded") == 2, 5)
    ok_json(d.ask("START Later"))
    d2 = env.daemon(cache={"negative_ttl": "0"}, sock=os.path.join(env.dir, "b.sock"),
                    server={"socket": os.path.join(env.dir, "b.sock")}, filename="b.conf")
    env.fake.reset_counters()
    err(d2.ask("START Nope"), "NOT_FOUND")
    err(d2.ask("START Nope"), "NOT_FOUND")
    assert env.fake.count("releases") == 2
