"""Requests orchd refuses and the errors it passes on: bad and too long
lines, not found and ambiguous names, folders, missing scopes and roles,
Orchestrator's rejections, TLS and https-only URLs, config errors."""

import os
import subprocess

from itest import *  # noqa: F401,F403


@test
def bad_requests(env):
    d = env.daemon()
    c = d.client()
    err(c.ask("FROB"), "BAD_REQUEST", "unknown verb")
    err(c.ask("START"), "BAD_REQUEST", "process")
    err(c.ask('START {"process":1}'), "BAD_REQUEST", '"process" must be a string')
    err(c.ask('START {"process":"A","colour":1}'), "BAD_REQUEST", "unknown key")
    err(c.ask('START {"process":"A"'), "BAD_REQUEST", "invalid JSON")
    err(c.ask('START {"process":"A","input":[1]}'), "BAD_REQUEST", "input")
    err(c.ask('START {"process":"A","count":0}'), "BAD_REQUEST", "count")
    err(c.ask('START {"process":"A","priority":"Urgent"}'), "BAD_REQUEST", "priority")
    err(c.ask(start_json(process="A", reference="x" * 129)), "BAD_REQUEST", "128")
    err(c.ask('START {"process":"a\\u0001b"}'), "BAD_REQUEST", "control character")
    err(c.ask('START {"process":"A","folder":"Sh\\nared"}'), "BAD_REQUEST", "control character")
    err(c.ask('START A B C'), "BAD_REQUEST", "too many")
    err(c.ask('@bad!tag PING'), "BAD_REQUEST", "tag")
    c.send(b"START \xff\xfe\n")
    err(c.line(), "BAD_REQUEST", "UTF-8")
    c.send(b"PI\x00NG\n")
    err(c.line(), "BAD_REQUEST", "NUL")
    assert ok_json(c.ask("ping")) == {"pong": True}     # verbs are case-insensitive
    assert ok_json(c.ask("@a.b-C_9 PING\r"), "@a.b-C_9 OK ") == {"pong": True}
    assert "verbs" in ok_json(c.ask("HELP"))
    assert env.fake.count("releases") == 0 and env.fake.count("start") == 0


@test
def too_long_line_is_answered_and_closed(env):
    d = env.daemon(server={"max_line": "1024"})
    c = d.client()
    c.send("PING\n" + "x" * 5000)
    assert c.line() == 'OK {"pong":true}'
    err(c.line(), "TOO_LONG", "max_line")
    assert c.closed()
    # A line of exactly max_line bytes is fine; one more byte is not.
    c2 = d.client()
    err(c2.ask("START " + "p" * (1024 - 6)), "NOT_FOUND")
    c3 = d.client()
    err(c3.ask("START " + "p" * (1024 - 5)), "TOO_LONG")
    assert d.ask("PING") == 'OK {"pong":true}'


@test
def not_found_and_ambiguous(env):
    env.fake.add_release("Twin")
    env.fake.add_release("Twin")
    d = env.daemon()
    err(d.ask("START Nope"), "NOT_FOUND", '"Nope"', '"Shared"')
    err(d.ask("START Twin"), "AMBIGUOUS", '"Twin"')
    assert env.fake.count("start") == 0
    assert "$top=2" in env.fake.log[-1]["path"]


@test
def odata_quotes_are_doubled(env):
    env.fake.add_release("O'Brien's Bot")
    d = env.daemon()
    a = ok_json(d.ask(start_json(process="O'Brien's Bot")))
    assert a["process"] == "O'Brien's Bot"
    path = [e for e in env.fake.log if e["endpoint"] == "releases"][0]["path"]
    assert "O%27%27Brien%27%27s" in path, path


@test
def folder_headers(env):
    env.fake.add_release("P", "Shared/Finance")
    env.fake.add_release("P", "Français/Équipe")
    d = env.daemon()
    ok_json(d.ask("START P Shared/Finance"))
    ok_json(d.ask(start_json(process="P", folder="Français/Équipe")))
    a = ok_json(d.ask(start_json(process="P", folder=2)))
    assert a["folder"] == 2
    starts = [e["headers"] for e in env.fake.log if e["endpoint"] == "start"]
    assert starts[0] == {"X-UIPATH-FolderPath": "Shared/Finance"}, starts[0]
    assert starts[1] == {"X-UIPATH-FolderPath-Encoded": "RgByAGEAbgDnAGEAaQBzAC8AyQBxAHUAaQBwAGUA"}, starts[1]
    assert starts[2] == {"X-UIPATH-OrganizationUnitId": "2"}, starts[2]
    assert [j["folder"] for j in env.fake.jobs] == ["Shared/Finance", "Français/Équipe", "Shared/Finance"]


@test
def folder_errors(env):
    env.fake.add_release("P")
    d = env.daemon()
    err(d.ask("START P Nowhere"), "FOLDER", "1100", "Nowhere")
    d2env = env.config(orchestrator={"folder": None})
    d.stop()
    d2 = env.daemon(d2env)
    err(d2.ask("START P"), "FOLDER", "no folder")
    assert env.fake.count("start") == 0


@test
def missing_scope_names_the_scopes(env):
    env.fake.add_release("P")
    d = env.daemon(app_config(env, "jobsonly", ["OR.Jobs.Write"]))
    err(d.ask("START P"), "SCOPE", "OR.Execution or OR.Execution.Read", "holds: OR.Jobs.Write")
    assert env.fake.count("token") == 1      # a 403 with a fresh token is not worth a refresh
    assert env.fake.count("start") == 0


@test
def missing_folder_role_says_so(env):
    env.fake.add_release("P", "Shared/Finance")
    env.fake.apps["app"].folders = {"Shared"}
    d = env.daemon()
    err(d.ask("START P Shared/Finance"), "SCOPE", "role", "Processes.View", "Shared/Finance")


@test
def rejected_quotes_orchestrator(env):
    env.fake.add_release("P")
    d = env.daemon()
    env.fake.fault("start", status=409, body={
        "message": "Couldn't find any user with unattended robot permissions in the current folder",
        "errorCode": 2818})
    err(d.ask("START P"), "REJECTED", "unattended robot", "2818", "409")
    assert len(env.fake.jobs) == 0


@test
def tls_verified_with_test_ca_and_refused_without(env):
    env.fake.add_release("P")
    d = env.daemon(ca=False)
    err(d.ask("START P"), "UNAVAILABLE", "certificate")
    assert env.fake.count("start") == 0 and env.fake.count("token") == 0


@test
def config_errors_have_file_and_line(env):
    bad = env.write("bad.conf", "[orchestrator]\nurl = ftp://x\ncolour = blue\ntimeout = -3\n"
                    "[auth]\nclient_id = a\ngrant = magic\n[nope]\nx = 1\n", 0o644)
    p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "-c", bad], capture_output=True, text=True)
    assert p.returncode == 1
    for want in (f"{bad}:2: url", f"{bad}:3: unknown key \"colour\"", f"{bad}:4: timeout",
                 f"{bad}:7: grant", f"{bad}:9: unknown section [nope]"):
        assert want in p.stderr, (want, p.stderr)


@test
def plain_http_urls_are_refused(env):
    conf = env.config(orchestrator={"url": env.fake.url.replace("https://", "http://")},
                      auth={"token_url": "http://127.0.0.1:1/identity_/connect/token"})
    p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "-c", conf], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "url: expected an https:// URL" in p.stderr and "token_url: expected an https:// URL" in p.stderr
    assert env.fake.count("token") == 0
