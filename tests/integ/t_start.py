"""Starting a process: what a trigger costs (one token, one lookup, one
StartJobs), connection reuse, max_inflight, concurrency and pipelining,
tags, and the StartJobs body."""

import json
import time

from itest import *  # noqa: F401,F403


@test
def first_start_costs_one_token_one_lookup_one_start(env):
    key = env.fake.add_release("Invoice Bot")
    d = env.daemon()
    a = ok_json(d.ask('START "Invoice Bot"'))
    assert a["process"] == "Invoice Bot" and a["folder"] == "Shared" and a["release"] == key
    assert len(a["jobs"]) == 1 and a["jobs"][0]["state"] == "Pending"
    assert a["jobs"][0]["id"] == env.fake.jobs[0]["Id"] and a["jobs"][0]["key"] == env.fake.jobs[0]["Key"]
    assert env.fake.counts == {"token": 1, "releases": 1, "start": 1}, env.fake.counts
    env.fake.reset_counters()
    c = d.client()
    for i in range(50):
        ok_json(c.ask('START "Invoice Bot"'))
    assert env.fake.counts == {"start": 50}, env.fake.counts
    assert len(env.fake.jobs) == 51
    stats = ok_json(c.ask("STATS"))
    assert stats["jobs_started"] == 51 and stats["cache"]["hits"] == 50 and stats["cache"]["lookups"] == 1
    assert stats["ok"] == 51 and stats["starts"] == 51 and stats["token_refreshes"] == 1, stats


@test
def connections_are_reused(env):
    env.fake.add_release("P")
    d = env.daemon()
    c = d.client()
    for _ in range(30):
        ok_json(c.ask("START P"))
    # One connection, kept warm (a second may appear for the token request).
    assert env.fake.connections <= 2, env.fake.connections


@test
def idle_connection_reused_by_name_after_resolver_sockets_closed(env):
    # By name: curl's resolver opens and closes a socketpair that orchd must
    # stop watching at once, while a connection's socket stays watched
    # between requests (curl drops it from its poll set when idle). A stale
    # watch on a reused descriptor number loses events: the STARTs hang.
    env.fake.add_release("P")
    d = env.daemon(orchestrator={"url": env.fake.url.replace("127.0.0.1", "localhost")})
    c = d.client()
    for i in range(8):
        ok_json(c.ask("START P", timeout=5))
        time.sleep(0.1 if i % 2 else 0)
    assert env.fake.connections <= 2, env.fake.connections
    # The server closes the idle connection: the next START opens another.
    env.fake.drop_connections()
    time.sleep(0.3)
    ok_json(c.ask("START P", timeout=5))
    ok_json(c.ask("START P", timeout=5))
    assert len(env.fake.jobs) == 10


@test
def connections_curl_closes_are_no_longer_watched(env):
    # 40 STARTs at once on HTTP/1.1 open 40 connections; curl keeps 16 and
    # closes the rest while nobody watches them. Their descriptor numbers come
    # back with the next burst's connections: a watch left on a closed
    # descriptor would take their events and the STARTs would time out.
    env.fake.add_release("P")
    d = env.daemon(orchestrator={"timeout": "4"})
    ok_json(d.ask("START P"))
    for _ in range(3):
        env.fake.fault("start", delay=0.3, times=40)
        clients = [d.client() for _ in range(40)]
        for c in clients:
            c.send("START P\n")
        for c in clients:
            ok_json(c.line(timeout=10))
            c.close()
    assert len(env.fake.jobs) == 121
    assert env.fake.connections >= 60, env.fake.connections   # new ones were opened


@test
def max_inflight_bounds_concurrent_requests(env):
    env.fake.add_release("P")
    d = env.daemon(orchestrator={"max_inflight": "2"})
    ok_json(d.ask("START P"))
    env.fake.fault("start", delay=0.2, times=None)
    clients = [d.client(20) for _ in range(8)]
    for c in clients:
        c.send("START P\n")
    for c in clients:
        ok_json(c.line(20))
    assert env.fake.max_inflight == 2, env.fake.max_inflight
    assert len(env.fake.jobs) == 9


@test
def hundred_concurrent_first_starts_cost_one_token_one_lookup(env):
    env.fake.add_release("Invoice Bot")
    d = env.daemon(wait_ready=False)
    # Connect 100 clients before the daemon has a token or a release key.
    d.wait_socket()
    clients = [d.client(20) for _ in range(100)]
    for c in clients:
        c.send('START "Invoice Bot"\n')
    answers = [c.line(20) for c in clients]
    for a in answers:
        ok_json(a)
    assert env.fake.count("token") == 1, env.fake.counts
    assert env.fake.count("releases") == 1, env.fake.counts
    assert env.fake.count("start") == 100
    ids = {ok_json(a)["jobs"][0]["id"] for a in answers}
    assert len(ids) == 100


@test
def two_hundred_pipelined_requests_answered_in_order(env):
    env.fake.add_release("Invoice Bot")
    env.fake.add_release("Other")
    d = env.daemon()
    c = d.client(30)
    lines = []
    for i in range(200):
        proc = "Invoice Bot" if i % 3 else "Other"
        lines.append(start_json(process=proc, reference=f"r-{i}") if i % 10 else "PING")
    c.send("".join(l + "\n" for l in lines))
    for i in range(200):
        a = c.line(30)
        if i % 10 == 0:
            assert a == 'OK {"pong":true}', (i, a)
        else:
            assert ok_json(a)["reference"] == f"r-{i}", (i, a)
    assert env.fake.count("start") == 180


@test
def tagged_answers_go_out_when_done(env):
    env.fake.add_release("Slow")
    env.fake.add_release("Fast")
    d = env.daemon()
    ok_json(d.ask("START Slow"))
    ok_json(d.ask("START Fast"))
    env.fake.fault("start", delay=1.0)   # the next StartJobs is slow
    c = d.client()
    c.send("START Slow\n@t-1 START Fast\nPING\n")
    first = c.line()
    assert first.startswith("@t-1 OK "), first   # tagged overtakes the slow one
    assert ok_json(c.line())["process"] == "Slow"
    assert c.line() == 'OK {"pong":true}'


@test
def start_body_fields(env):
    env.fake.add_release("P")
    d = env.daemon()
    ok_json(d.ask(start_json(process="P", input={"InvoiceId": 42, "Name": "é"}, count=2,
                             priority="High", reference="inv-42", runtime="Unattended")))
    ok_json(d.ask(start_json(process="P", priority=77)))
    j = env.fake.jobs
    assert len(j) == 3
    assert json.loads(j[0]["InputArguments"]) == {"InvoiceId": 42, "Name": "é"}
    assert j[0]["JobPriority"] == "High" and j[0]["Reference"] == "inv-42"
    assert j[0]["RuntimeType"] == "Unattended"
    assert j[2]["SpecificPriorityValue"] == 77 and j[2]["InputArguments"] == "{}"
