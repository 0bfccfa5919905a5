"""Big inputs and big outputs through attachments (contract 1.2, design.md
4b "The rest of a job's life"; docs/orchestrator.md "Attachments"): an
input over 10,000 characters is uploaded (POST /odata/Attachments, a PUT to
the blob store on another host) and started with InputFile; a job's
OutputFile is read for JOB, WAIT and START with wait, within max_output.
The blob store is the fake's second HTTPS server, on 127.0.0.2."""

import json
import os
import socket
import subprocess
import threading
import time

import fake_orch

from itest import *  # noqa: F401,F403

BIG_SCOPES = ["OR.Jobs.Write", "OR.Jobs.Read", "OR.Execution.Read", "OR.Folders.Write", "OR.Folders.Read"]


def big_daemon(env, scopes=BIG_SCOPES, **kw):
    env.fake.add_release("P")
    return env.daemon(conf=app_config(env, "bigapp", scopes, **kw))


def compact(obj):
    """The input as orchd serializes it (cJSON: compact, UTF-8 as is)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def big_input(chars=50000):
    """An object whose compact JSON is exactly chars characters, with
    non-ASCII text in it."""
    head = {"Invoice": "Überweisung €", "n": 42}
    filler = chars - len(compact({**head, "s": ""}))
    return {**head, "s": "x" * filler}


def start_bodies(fake):
    return [json.loads(e["body"])["startInfo"] for e in fake.log if e["endpoint"] == "start"]


def assert_blob_uri_secret(env, d):
    assert env.fake.blob_sig not in d.log(), "the blob URI's signature reached the log"


@test
def big_input_goes_as_a_file_to_another_host(env):
    d = big_daemon(env)
    inp = big_input()
    assert len(compact(inp)) == 50000
    a = ok_json(d.ask(start_json(process="P", input=inp)))
    jid = a["jobs"][0]["id"]
    f = env.fake
    assert f.count("attach_create") == 1 and f.count("blob_put") == 1 and f.count("start") == 1, f.counts
    job = next(j for j in f.jobs if j["Id"] == jid)
    # The job's input is exactly what was sent, byte for byte.
    assert job["_input"] == compact(inp)
    si = start_bodies(f)[0]
    assert si["InputFile"] == job["InputFile"] and "InputArguments" not in si, si
    # The attachment was made in the job's folder, with a .json name.
    create = next(e for e in f.log if e["endpoint"] == "attach_create")
    assert create["headers"].get("X-UIPATH-FolderPath-Encoded") or create["headers"].get("X-UIPATH-FolderPath")
    assert json.loads(create["body"])["Name"].endswith(".json")
    # Exactly the listed headers and no token: RequiresAuth was false.
    put = f.blob_log[0]
    hdrs = {k.lower(): v for k, v in put["headers"].items()}
    assert put["method"] == "PUT" and put["auth"] is None, put
    assert hdrs["x-ms-blob-type"] == "BlockBlob" and put["len"] == len(compact(inp).encode())
    assert "content-type" not in hdrs and "expect" not in hdrs, hdrs
    assert_blob_uri_secret(env, d)
    # A small input is still sent inline.
    ok_json(d.ask(start_json(process="P", input={"small": 1})))
    assert f.count("attach_create") == 1 and start_bodies(f)[1]["InputArguments"] == '{"small":1}'
    assert ok_json(d.ask("STATS"))["attachments"] == {"uploaded": 1, "downloaded": 0, "failed": 0, "waiting": 0}
    p = orchctl(d, "metrics")
    assert "orchd_attachments_uploaded_total 1\n" in p.stdout, p.stdout


@test
def big_input_bearer_only_when_requires_auth(env):
    env.fake.blob_requires_auth = True
    d = big_daemon(env)
    inp = big_input()
    jid = started_id(d, input=inp)
    f = env.fake
    put = f.blob_log[0]
    # The fake's blob store accepted it only with a valid token of ours.
    assert put["auth"] and put["auth"].startswith("Bearer ") and put["auth"][7:] in f.tokens
    assert next(j for j in f.jobs if j["Id"] == jid)["_input"] == compact(inp)
    # And without RequiresAuth the next upload carries none (the store
    # refuses a token it did not ask for).
    f.blob_requires_auth = False
    started_id(d, input=inp)
    assert f.blob_log[1]["auth"] is None and len(f.jobs) == 2


@test
def big_input_put_failing_once_is_retried(env):
    d = big_daemon(env)
    env.fake.fault("blob_put", status=503, times=1)
    inp = big_input()
    jid = started_id(d, input=inp)
    f = env.fake
    assert f.count("blob_put") == 2 and f.count("attach_create") == 1 and f.count("start") == 1, f.counts
    assert len(f.jobs) == 1 and f.jobs[0]["Id"] == jid and f.jobs[0]["_input"] == compact(inp)


@test
def big_input_put_always_failing_starts_nothing(env):
    d = big_daemon(env)
    env.fake.fault("blob_put", status=503, times=None)
    e = err(d.ask(start_json(process="P", input=big_input()), timeout=30), "UNAVAILABLE", "blob store",
            "127.0.0.2", "not started")
    assert "sig" not in e
    f = env.fake
    assert f.count("blob_put") >= 2 and f.count("start") == 0 and not f.jobs, f.counts
    assert ok_json(d.ask("STATS"))["attachments"]["failed"] == 1
    # A refusal (the store wants x-ms-blob-type and is not told) is not
    # retried, and starts nothing either.
    f.faults.clear()
    f.blob_headers = {}
    err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "HTTP 400", "not started")
    assert f.count("start") == 0 and not f.jobs
    assert_blob_uri_secret(env, d)


@test
def big_input_without_folders_write_is_scope(env):
    d = big_daemon(env, scopes=["OR.Jobs.Write", "OR.Jobs.Read", "OR.Execution.Read"])
    err(d.ask(start_json(process="P", input=big_input())), "SCOPE", "OR.Folders.Write")
    f = env.fake
    assert f.count("attach_create") == 0 and f.count("start") == 0 and not f.blob_log, f.counts
    # Small inputs are unaffected.
    ok_json(d.ask(start_json(process="P", input={"a": 1})))
    assert f.count("start") == 1


@test
def big_input_scope_refused_by_orchestrator(env):
    # The token holds the scope but the app has no role for attachments in
    # the folder: Orchestrator's 403 is SCOPE saying so, nothing is started.
    d = big_daemon(env)
    env.fake.fault("attach_create", status=403, body=fake_orch.NOT_AUTHORIZED, times=None)
    err(d.ask(start_json(process="P", input=big_input())), "SCOPE", "BlobFiles.Create", "Shared")
    assert env.fake.count("attach_create") >= 1 and env.fake.count("start") == 0 and not env.fake.blob_log


@test
def big_input_non_https_blob_uri_refused(env):
    env.fake.blob_scheme = "http"
    d = big_daemon(env)
    err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "https", "127.0.0.2", "not started")
    assert not env.fake.blob_log and env.fake.count("start") == 0
    assert_blob_uri_secret(env, d)


@test
def big_input_injected_blob_headers_refused(env):
    # A header value with CR LF would smuggle a header in: nothing is sent.
    env.fake.blob_headers = {"x-ms-blob-type": "BlockBlob\r\nX-Evil: 1"}
    d = big_daemon(env)
    err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "header", "not started")
    env.fake.blob_headers = {"Bad Name": "x"}
    err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "header")
    env.fake.blob_headers = {f"x-h{i}": "v" for i in range(33)}
    err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "33 headers")
    # Credentials are orchd's to send (the bearer, when RequiresAuth), or
    # nobody's: a listed Authorization would make two.
    for name in ("Authorization", "cookie"):
        env.fake.blob_headers = {"x-ms-blob-type": "BlockBlob", name: "Bearer other"}
        err(d.ask(start_json(process="P", input=big_input())), "REJECTED", "header")
    assert not env.fake.blob_log and env.fake.count("start") == 0


@test
def input_of_10000_characters_still_inline(env):
    d = big_daemon(env)
    f = env.fake
    exact = {"s": "x" * (10000 - len(compact({"s": ""})))}
    assert len(compact(exact)) == 10000
    ok_json(d.ask(start_json(process="P", input=exact)))
    # Characters as Orchestrator counts them (UTF-16), not bytes: 10,000
    # characters of 'é' are 19,992 bytes and still inline.
    accents = {"s": "é" * (10000 - len(compact({"s": ""})))}
    ok_json(d.ask(start_json(process="P", input=accents)))
    assert f.count("attach_create") == 0 and f.count("start") == 2
    bodies = start_bodies(f)
    assert bodies[0]["InputArguments"] == compact(exact) and bodies[1]["InputArguments"] == compact(accents)
    # One character more goes as a file; an emoji is two characters.
    ok_json(d.ask(start_json(process="P", input={"s": "x" * (10001 - len(compact({"s": ""})))})))
    ok_json(d.ask(start_json(process="P", input={"s": "x" * (9998 - len(compact({"s": ""}))) + "😀"})))
    assert f.count("attach_create") == 1 and "InputFile" in start_bodies(f)[2]
    assert "InputFile" not in start_bodies(f)[3] and f.count("start") == 4


@test
def big_input_over_max_line_is_too_long(env):
    # input is bounded only by max_line: raise it for big inputs.
    d = big_daemon(env, server={"max_line": "100000"})
    ok_json(d.ask(start_json(process="P", input=big_input(90000))))
    c = d.client()
    err(c.ask(start_json(process="P", input=big_input(120000))), "TOO_LONG", "max_line")
    assert env.fake.count("start") == 1


@test
def big_input_ambiguous_start_uploads_once(env):
    # StartJobs lost after it created the job: settled by its Reference,
    # the file is not uploaded again.
    d = big_daemon(env, orchestrator={"timeout": "2"})
    env.fake.fault("start", status=502, after_create=True)
    a = ok_json(d.ask(start_json(process="P", input=big_input()), timeout=30))
    f = env.fake
    assert len(f.jobs) == 1 and a["jobs"][0]["id"] == f.jobs[0]["Id"]
    assert f.count("attach_create") == 1 and f.count("blob_put") == 1
    # Refused before it created one: started again with the same file.
    f.fault("start", status=502)
    inp = big_input(30000)
    ok_json(d.ask(start_json(process="P", input=inp), timeout=30))
    assert len(f.jobs) == 2 and f.count("attach_create") == 2 and f.count("blob_put") == 2
    assert f.jobs[1]["_input"] == compact(inp)
    bodies = start_bodies(f)
    assert bodies[-1]["InputFile"] == bodies[-2]["InputFile"] == f.jobs[1]["InputFile"]


def big_output(n=60000):
    return {"Result": "done", "rows": ["r" * 100] * (n // 104), "Name": "Ünïcode"}


def output_job(env, d, out, requires_auth=False):
    """A job that ended Successful with its output in a file."""
    env.fake.blob_requires_auth = requires_auth
    aid = env.fake.add_output_file(compact(out))
    jid = started_id(d)
    env.fake.set_job(jid, State="Successful", OutputArguments=None, OutputFile=aid,
                     EndTime="2026-12-01T10:00:09Z")
    return jid, aid


@test
def output_file_read_for_job_and_wait(env):
    d = big_daemon(env)
    out = big_output()
    jid, aid = output_job(env, d, out)
    rec = ok_json(d.ask(f"JOB {jid}"))["job"]
    assert rec["output"] == out and "output_file" not in rec and rec["state"] == "Successful"
    rec = ok_json(d.ask(f"WAIT {jid}"))["job"]
    assert rec["output"] == out
    get = [e for e in env.fake.log if e["endpoint"] == "attach_get"]
    assert len(get) == 2 and aid in get[0]["path"]
    assert [b["method"] for b in env.fake.blob_log] == ["GET", "GET"] and env.fake.blob_log[0]["auth"] is None
    # With RequiresAuth the GET carries the token.
    jid2, _ = output_job(env, d, {"small": "but in a file"}, requires_auth=True)
    assert ok_json(d.ask(f"JOB {jid2}"))["job"]["output"] == {"small": "but in a file"}
    assert env.fake.blob_log[-1]["auth"].startswith("Bearer ")
    # OutputArguments, when given, wins: no file read.
    jid3 = started_id(d)
    env.fake.set_job(jid3, State="Successful", OutputArguments='{"a":1}', OutputFile=aid)
    assert ok_json(d.ask(f"JOB {jid3}"))["job"]["output"] == {"a": 1}
    assert env.fake.count("attach_get") == 3
    assert ok_json(d.ask("STATS"))["attachments"] == {"uploaded": 0, "downloaded": 3, "failed": 0, "waiting": 0}
    assert_blob_uri_secret(env, d)


@test
def output_file_read_for_start_with_wait(env):
    d = big_daemon(env)
    out = big_output()
    aid = env.fake.add_output_file(compact(out))
    env.fake.job_plan = [(0.3, {"State": "Running"}),
                         (0.8, {"State": "Successful", "OutputArguments": None, "OutputFile": aid})]
    a = ok_json(d.ask(start_json(process="P", wait=30, count=2), timeout=40))
    assert [j["output"] for j in a["jobs"]] == [out, out], [j.get("output_error") for j in a["jobs"]]
    assert env.fake.count("attach_get") == 2


@test
def output_file_over_max_output_is_named(env):
    d = big_daemon(env, raw="[jobs]\nmax_output = 4096\n")
    out = big_output(200000)
    jid, aid = output_job(env, d, out)
    rec = ok_json(d.ask(f"JOB {jid}"))["job"]
    assert rec["output"] is None and rec["output_file"] == aid and "max_output" in rec["output_error"], rec
    assert wait_for(lambda: "max_output" in d.log() and aid in d.log())
    # orchctl tells a person where the output is, and why it is not shown.
    p = orchctl(d, "job", str(jid))
    assert p.returncode == 0 and f"output file: {aid} (not read: " in p.stdout and "max_output" in p.stdout, p
    # Just under the cap is read.
    jid2, _ = output_job(env, d, {"s": "y" * 4000})
    assert ok_json(d.ask(f"WAIT {jid2}"))["job"]["output"] == {"s": "y" * 4000}


@test
def output_file_without_folders_read_is_ok(env):
    d = big_daemon(env, scopes=["OR.Jobs.Write", "OR.Jobs.Read", "OR.Execution.Read"])
    jid, aid = output_job(env, d, big_output())
    rec = ok_json(d.ask(f"JOB {jid}"))["job"]
    assert rec["output"] is None and rec["output_file"] == aid and "OR.Folders.Read" in rec["output_error"]
    assert env.fake.count("attach_get") == 0 and not env.fake.blob_log


@test
def output_file_failed_download_is_ok_with_why(env):
    d = big_daemon(env)
    jid, aid = output_job(env, d, big_output())
    env.fake.fault("blob_get", status=500, times=None)
    rec = ok_json(d.ask(f"JOB {jid}", timeout=30))["job"]
    assert rec["output"] is None and rec["output_file"] == aid and "HTTP 500" in rec["output_error"], rec
    # Not JSON: named too.
    env.fake.faults.clear()
    bad = env.fake.add_output_file("not json")
    env.fake.set_job(jid, OutputFile=bad)
    rec = ok_json(d.ask(f"JOB {jid}"))["job"]
    assert rec["output"] is None and rec["output_file"] == bad and "no JSON object" in rec["output_error"]
    assert wait_for(lambda: f"output file {bad} not read: it holds no JSON object" in d.log())
    assert_blob_uri_secret(env, d)


@test
def output_file_client_gone_reads_nothing_more(env):
    d = big_daemon(env)
    jid, aid = output_job(env, d, big_output())
    env.fake.fault("attach_get", delay=1.0, times=None)
    c = d.client()
    c.send(f"JOB {jid}\nWAIT {jid}\n")
    time.sleep(0.3)
    c.close()
    # The attachment's answer comes after the client left: its blob is not
    # read (a side-effect-free read is dropped with its client).
    time.sleep(2.0)
    assert env.fake.count("attach_get") >= 1 and env.fake.count("blob_get") == 0, env.fake.counts
    assert "JOB" not in d.log() and "WAIT" not in d.log()
    # And a blob read in flight when the client goes.
    env.fake.faults.clear()
    env.fake.fault("blob_get", delay=1.0, times=None)
    c = d.client()
    c.send(f"JOB {jid}\n")
    assert wait_for(lambda: env.fake.count("blob_get") == 1)
    c.close()
    time.sleep(1.5)
    assert ok_json(d.ask("PING")) == {"pong": True}
    assert d.stop() == 0


@test
def big_input_client_gone_during_upload_still_starts(env):
    # START runs to its end when its client goes: the job is started once.
    d = big_daemon(env)
    env.fake.fault("blob_put", delay=1.0)
    c = d.client()
    c.send(start_json(process="P", input=big_input()) + "\n")
    assert wait_for(lambda: env.fake.count("blob_put") == 1)
    c.close()
    assert wait_for(lambda: env.fake.count("start") == 1, 10)
    time.sleep(0.3)
    assert len(env.fake.jobs) == 1 and env.fake.count("attach_create") == 1
    assert d.stop() == 0


@test
def sigterm_during_upload_starts_nothing(env):
    d = big_daemon(env)
    env.fake.fault("blob_put", delay=1.5)
    c = d.client(30)
    c.send(start_json(process="P", input=big_input()) + "\n")
    assert wait_for(lambda: env.fake.count("blob_put") == 1)
    d.term()
    # The PUT in flight finishes; StartJobs is not sent during the drain.
    err(c.line(20), "SHUTDOWN", "not started")
    assert d.stop() == 0
    assert env.fake.count("start") == 0 and not env.fake.jobs


@test
def sigterm_while_upload_waits_to_retry(env):
    # A PUT waiting for its next attempt is answered at once, not at the
    # drain deadline.
    d = big_daemon(env, server={"drain_timeout": "30"})
    env.fake.fault("blob_put", status=503, retry_after=20, times=None)
    c = d.client(30)
    c.send(start_json(process="P", input=big_input()) + "\n")
    assert wait_for(lambda: env.fake.count("blob_put") == 1)
    time.sleep(0.2)
    t0 = time.time()
    d.term()
    err(c.line(20), "SHUTDOWN", "not started")
    assert time.time() - t0 < 5
    assert d.stop() == 0
    assert env.fake.count("start") == 0


@test
def sigterm_during_output_download(env):
    d = big_daemon(env)
    jid, aid = output_job(env, d, big_output())
    env.fake.fault("attach_get", delay=1.0)
    c = d.client(30)
    c.send(f"WAIT {jid}\n")
    assert wait_for(lambda: env.fake.count("attach_get") == 1)
    d.term()
    rec = ok_json(c.line(20))["job"]
    assert rec["output"] is None and rec["output_file"] == aid and "stopping" in rec["output_error"], rec
    assert d.stop() == 0 and env.fake.count("blob_get") == 0


@test
def big_input_orchctl_start_input_at_file(env):
    # --input @FILE of any size (here 2 MB, over what orchctl once read),
    # sent as the file's object; max_line raised for it.
    d = big_daemon(env, server={"max_line": str(4 << 20)})
    inp = big_input(2_000_000)
    path = env.write("in.json", json.dumps(inp, indent=2))
    p = orchctl(d, "start", "P", "--input", "@" + path, "--json")
    assert p.returncode == 0, p.stderr
    jid = json.loads(p.stdout)["jobs"][0]["id"]
    assert next(j for j in env.fake.jobs if j["Id"] == jid)["_input"] == compact(inp)
    # Not an object, not JSON, unreadable: a clear error, nothing sent.
    for text, words in (("[1,2]", "one JSON object"), ("{nope", "not valid JSON")):
        bad = env.write("bad.json", text)
        p = orchctl(d, "start", "P", "--input", "@" + bad)
        assert p.returncode == 2 and "@" + bad in p.stderr and words in p.stderr, p.stderr
    p = orchctl(d, "start", "P", "--input", "@" + env.dir + "/missing.json")
    assert p.returncode == 2 and "cannot read it: No such file or directory" in p.stderr, p.stderr
    assert env.fake.count("start") == 1
    # Bash completion offers files after "--input @", quoted.
    bc = "/usr/share/bash-completion/bash_completion"
    if os.path.exists(bc):
        env.write("my input.json", "{}")
        top = os.path.join(harness.HERE, "..", "..")
        script = (f"cd {env.dir}; source {bc}; source {top}/completion/orchctl; "
                  "COMP_WORDS=(orchctl start P --input @my); COMP_CWORD=4; COMP_LINE=\"${COMP_WORDS[*]}\"; "
                  "COMP_POINT=${#COMP_LINE}; _orchctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
        assert out.stdout.splitlines() == ["@my\\ input.json"], out


@test
def orchctl_input_over_max_line_shows_too_long(env):
    # orchd answers TOO_LONG and closes while orchctl is still sending a
    # file far over max_line (and over the socket's buffers): orchctl must
    # still read that answer, show its hint and exit 11, not "send: Broken
    # pipe" with 3.
    d = big_daemon(env, server={"max_line": "4096"})
    path = env.write("in.json", json.dumps(big_input(2_000_000)))
    p = orchctl(d, "start", "P", "--input", "@" + path)
    assert p.returncode == 11, (p.returncode, p.stderr)
    assert "TOO_LONG" in p.stderr and "max_line" in p.stderr and "Broken pipe" not in p.stderr, p.stderr
    p = orchctl(d, "start", "P", "--input", "@" + path, "--json")
    assert p.returncode == 11, (p.returncode, p.stderr)
    assert p.stdout.startswith("ERR TOO_LONG ") and "max_line" in p.stdout, p.stdout
    # Just over max_line (the whole request fits the socket's buffer) too.
    path = env.write("in2.json", json.dumps(big_input(5000)))
    p = orchctl(d, "start", "P", "--input", "@" + path)
    assert p.returncode == 11 and "max_line" in p.stderr, (p.returncode, p.stderr)
    assert env.fake.count("start") == 0 and ok_json(d.ask("PING")) == {"pong": True}


@test
def orchctl_request_cut_without_answer_says_closed(env):
    # A peer (not orchd) that reads a little of a big request and closes,
    # first with no answer at all, then with half an answer line: orchctl
    # says the connection was closed and gave no answer, and exits 3.
    path = env.write("in.json", json.dumps(big_input(2_000_000)))
    sock = os.path.join(env.dir, "cut.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(2)
    sent = []

    def serve():
        for reply in (b"", b"OK {\"jobs\":"):
            c, _ = srv.accept()
            c.recv(4096)
            sent.append(c.sendall(reply))
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        for _ in range(2):
            p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", sock, "-t", "20", "start", "P",
                                "--input", "@" + path], capture_output=True, text=True, timeout=60)
            assert p.returncode == 3 and p.stdout == "", (p.returncode, p.stdout[:200], p.stderr)
            assert "closed the connection while the request was sent" in p.stderr and "no answer" in p.stderr, \
                p.stderr
        t.join(10)
        assert len(sent) == 2
    finally:
        srv.close()


@test
def orchctl_prints_an_answer_of_megabytes(env):
    # A JOB answer of about 8 MB (an output file under max_output) is read
    # whole and printed as it came with --json.
    d = big_daemon(env)
    out = big_output(8_000_000)
    jid, _ = output_job(env, d, out)
    p = orchctl(d, "job", str(jid), "--json")
    assert p.returncode == 0, (p.returncode, p.stderr[:2000])
    assert len(p.stdout) > 7_900_000, len(p.stdout)
    rec = json.loads(p.stdout)["job"]
    assert rec["id"] == jid and rec["state"] == "Successful" and rec["output"] == out


@test
def sigterm_drain_deadline_ends_blob_transfers(env):
    # Blob transfers still in curl at the drain deadline are ended: the
    # START is SHUTDOWN (StartJobs never sent), the JOB gets its record
    # with output null and why; nothing runs on freed memory after.
    d = big_daemon(env, server={"drain_timeout": "1"})
    jid, aid = output_job(env, d, big_output())
    env.fake.fault("blob_put", delay=4.0)
    env.fake.fault("blob_get", delay=4.0)
    c1, c2 = d.client(30), d.client(30)
    c1.send(start_json(process="P", input=big_input()) + "\n")
    c2.send(f"JOB {jid}\n")
    assert wait_for(lambda: env.fake.count("blob_put") == 1 and env.fake.count("blob_get") == 1)
    t0 = time.time()
    d.term()
    err(c1.line(20), "SHUTDOWN", "not started")
    rec = ok_json(c2.line(20))["job"]
    assert rec["output"] is None and rec["output_file"] == aid and "stopping" in rec["output_error"], rec
    assert time.time() - t0 < 3.5
    assert d.stop() == 0 and env.fake.count("start") == 1   # the one output_job started


@test
def big_input_blob_connections_within_the_descriptor_cap(env):
    # The blob host is another origin, with connections of its own (HTTP/1.1
    # here: one per transfer in flight), but they count against the one
    # cap of curl's connections that descriptors were reserved for: with a
    # descriptor limit of 64, concurrent uploads and downloads are served
    # (or BUSY at the clamp), none fails for want of a descriptor.
    import resource
    env.fake.add_release("P")
    d = env.daemon(conf=app_config(env, "bigapp", BIG_SCOPES),
                   preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
    jid, aid = output_job(env, d, big_output())
    env.fake.fault("blob_put", delay=0.3, times=None)
    env.fake.fault("blob_get", delay=0.3, times=None)
    clients = [d.client(30) for _ in range(24)]
    for i, c in enumerate(clients):
        c.send((start_json(process="P", input=big_input()) if i % 2 else f"JOB {jid}") + "\n")
    answers = [c.line(30) for c in clients]
    for c in clients:
        c.close()
    ok = [a for a in answers if a and a.startswith("OK ")]
    assert all(a.startswith("OK ") or a.startswith("ERR BUSY ") for a in answers), answers
    assert len(ok) >= 12, answers
    for a in ok:
        body = json.loads(a[3:])
        if "job" in body:
            assert body["job"]["output"] == big_output()
    assert "Too many open files" not in d.log()
    assert len(os.listdir(f"/proc/{d.proc.pid}/fd")) < 64


@test
def big_input_blob_transfers_at_most_8_at_once(env):
    # The blob store speaks HTTP/1.1: a connection per transfer. At most 8
    # transfers go to it at once (more would open, and TLS-handshake, a new
    # connection for most); the others wait their turn, and all start.
    d = big_daemon(env)
    env.fake.fault("blob_put", delay=0.4, times=None)
    clients = [d.client(30) for _ in range(20)]
    for c in clients:
        c.send(start_json(process="P", input=big_input()) + "\n")
    for c in clients:
        ok_json(c.line(30))
        c.close()
    f = env.fake
    assert f.count("blob_put") == 20 and len(f.jobs) == 20, f.counts
    assert 2 <= f.blob_max_inflight <= 8, f.blob_max_inflight


@test
def sigterm_answers_uploads_waiting_for_their_turn(env):
    # Uploads waiting for a blob slot have sent nothing there: SIGTERM
    # answers them SHUTDOWN at once; the 8 in flight finish (then SHUTDOWN:
    # no StartJobs during the drain).
    d = big_daemon(env)
    env.fake.fault("blob_put", delay=2.0, times=None)
    c = d.client(30)
    c.send("".join(f"@u{i} " + start_json(process="P", input=big_input()) + "\n" for i in range(12)))
    assert wait_for(lambda: env.fake.count("blob_put") == 8)
    time.sleep(0.2)
    t0 = time.time()
    d.term()
    got = tagged_answers(c, 4, 1.0)       # the four waiting, at once
    got.update(tagged_answers(c, 8, 20))  # the eight in flight, once their PUT ended
    assert all(a.startswith("ERR SHUTDOWN ") and "not started" in a for a in got.values()), got
    assert d.stop() == 0
    assert env.fake.count("blob_put") == 8 and env.fake.count("start") == 0
    assert time.time() - t0 < 4


@test
def an_output_over_8_mib_is_answered_whole(env):
    """One answer may be bigger than the 8 MiB a connection lets pile up
    (a job's output of up to max_output, 16 MiB): the client gets it, and
    is not cut off as one that reads nothing."""
    d = big_daemon(env)
    out = {"Result": "big", "blob": "x" * (12 << 20)}
    jid, _ = output_job(env, d, out)
    c = d.client(60)
    c.send(f"JOB {jid}\nPING\n")
    rec = ok_json(c.line())["job"]
    assert rec["output"] == out and "output_error" not in rec, {k: v for k, v in rec.items() if k != "output"}
    assert c.line() == 'OK {"pong":true}'
    c.close()
    assert "unread" not in d.log(), d.log()


@test
def read_outputs_count_against_max_pending_bytes(env):
    """A job's output read from its file is held until answered: it counts
    as the request's bytes, so that many WAITs of big outputs cannot take
    orchd's memory. Over the peer's quarter, with other requests held, the
    record says so in output_error; a request alone always fits."""
    d = big_daemon(env, orchestrator={"max_pending_bytes": str(2 << 20)})   # a quarter: 512 KiB
    out = big_output(1 << 20)
    jid, aid = output_job(env, d, out)
    # Alone, 1 MiB fits although it is over the quarter.
    assert ok_json(d.ask(f"JOB {jid}"))["job"]["output"] == out
    assert ok_json(d.ask("STATS"))["pending"]["bytes"] == 0
    # Beside a WAIT of the same peer, it does not.
    running = started_id(d)
    env.fake.set_job(running, State="Running")
    w = d.client(30)
    w.send(f"WAIT {running}\n")
    assert wait_for(lambda: ok_json(d.ask("STATS"))["pending"]["bytes"] > 0, 5)
    rec = ok_json(d.ask(f"JOB {jid}"))["job"]
    brief = {k: v for k, v in rec.items() if k != "output"}
    assert rec["output"] is None and rec["output_file"] == aid, brief
    assert "max_pending_bytes" in rec["output_error"], brief
    env.fake.set_job(running, State="Successful")
    assert ok_json(w.line())["job"]["state"] == "Successful"
    w.close()
    assert wait_for(lambda: ok_json(d.ask("STATS"))["pending"]["bytes"] == 0, 5)


@test
def held_answers_keep_their_outputs_bytes(env):
    """An answer waiting behind an earlier untagged request still holds its
    output's bytes (it is memory as much as a line): past the peer's quarter
    of max_pending_bytes, later outputs are not read into answers."""
    d = big_daemon(env, orchestrator={"max_pending_bytes": str(8 << 20)})   # a quarter: 2 MiB
    out = big_output(800000)
    jid, aid = output_job(env, d, out)
    running = started_id(d)
    env.fake.set_job(running, State="Running")
    c = d.client(30)
    c.send(f"WAIT {running}\n" + f"JOB {jid}\n" * 3)
    assert wait_for(lambda: env.fake.count("attach_get") == 3, 10), env.fake.counts
    assert wait_for(lambda: ok_json(d.ask("STATS"))["pending"]["bytes"] > 1500000, 5)
    env.fake.set_job(running, State="Successful")
    assert ok_json(c.line())["job"]["state"] == "Successful"
    recs = [ok_json(c.line())["job"] for _ in range(3)]
    # The three read at once: whichever came last found the quarter taken.
    assert sorted(r["output"] == out for r in recs) == [False, True, True], [r.get("output_error") for r in recs]
    assert any("max_pending_bytes" in (r.get("output_error") or "") for r in recs)
    c.close()
    assert wait_for(lambda: ok_json(d.ask("STATS"))["pending"]["bytes"] == 0, 5)


@test
def a_starts_outputs_fit_alone_only_for_the_first(env):
    """'A request alone always fits' is for one output: a START waiting for
    two jobs holds the first one's, and the second counts against the
    quarter."""
    d = big_daemon(env, orchestrator={"max_pending_bytes": str(2 << 20)})   # a quarter: 512 KiB
    out = big_output(400000)
    aid = env.fake.add_output_file(compact(out))
    env.fake.job_plan = [(0.3, {"State": "Running"}),
                         (0.8, {"State": "Successful", "OutputArguments": None, "OutputFile": aid})]
    a = ok_json(d.ask(start_json(process="P", wait=30, count=2), timeout=40))
    got = sorted(j["output"] == out for j in a["jobs"])
    assert got == [False, True], [j.get("output_error") for j in a["jobs"]]
    assert any("max_pending_bytes" in (j.get("output_error") or "") for j in a["jobs"])
