"""What orchd's integration tests share: the TESTS list and the @test
decorator, answer checkers (ok_json, err), request builders and the helpers
used by tests in more than one tests/integ/t_*.py file.

A topic file starts with its stdlib imports and `from itest import *`. Mark a
test @test(serial=True) when it must run with nothing beside it: it measures
RSS, CPU or latency, asserts tight elapsed times, is very heavy, or uses
something global (fixed ports or paths, make install, systemd tools)."""

import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request

import harness
from harness import Env, wait_for
from testlib import free_port, rss_kb

__all__ = ["harness", "Env", "wait_for", "free_port", "rss_kb",
           "TESTS", "test", "ok_json", "err", "start_json",
           "app_config", "RESOLVE", "jobs_per_reference", "flood", "run_check", "check_line",
           "JOBS", "started_id", "DONE", "tagged_answers", "pipelined_waits", "QUEUE_SCOPES",
           "queue_daemon", "enqueue_json", "items_with", "orchctl", "releases_of", "http_get",
           "check_logs"]

TESTS = []


def test(fn=None, *, serial=False):
    """Registers a test: @test, or @test(serial=True) for one that must run
    alone (the runner runs those after the others, one at a time)."""
    def add(f):
        f.serial = serial
        TESTS.append(f)
        return f
    return add(fn) if fn is not None else add


def ok_json(answer, prefix="OK "):
    assert answer and answer.startswith(prefix), f"expected {prefix!r}, got {answer!r}"
    return json.loads(answer[len(prefix):])


def err(answer, code, *words):
    assert answer and answer.startswith(f"ERR {code} "), f"expected ERR {code}, got {answer!r}"
    for w in words:
        assert w in answer, f"{w!r} not in {answer!r}"
    return answer


def start_json(**kw):
    return "START " + json.dumps(kw)


def app_config(env, client_id, scopes, **kw):
    """A config for a new external app of the fake granted only scopes,
    asking for exactly those."""
    secret = f"pw-{client_id}"
    env.fake.add_app(client_id, secret, scopes)
    harness.SECRETS_SEEN.append(secret)
    sf = env.write(f"secret-{client_id}", secret)
    return env.config(auth={"client_id": client_id, "client_secret_file": sf, "scope": " ".join(scopes)},
                      **kw)


RESOLVE = {"scope": "OR.Jobs.Write OR.Jobs.Read OR.Execution.Read"}


def jobs_per_reference(fake):
    refs = {}
    for j in fake.jobs:
        refs[j["Reference"]] = refs.get(j["Reference"], 0) + 1
    return refs


def flood(sock, data, seconds=2.0):
    """Sends as much of data as the peer takes within seconds, never blocking."""
    sock.setblocking(False)
    sent, end = 0, time.time() + seconds
    while sent < len(data) and time.time() < end:
        try:
            sent += sock.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
    sock.setblocking(True)
    return sent


def run_check(env, conf, *args):
    p = subprocess.run([os.path.join(harness.BUILD, "orchd"), "check", "-c", conf, *args],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "ORCHD_WRAP": ""})
    for s in harness.SECRETS_SEEN + list(env.fake.tokens) + list(env.fake.refresh_tokens):
        assert s not in p.stdout + p.stderr, "a secret reached orchd check's output"
    return p


def check_line(out, status, step, *words):
    """The checklist line of step with status, holding every word."""
    for line in out.splitlines():
        if line.startswith(f"{status:<4} {step:<16} ") and all(w in line for w in words):
            return line
    raise AssertionError(f"no {status} line for {step} with {words} in:\n{out}")


# The job verbs read jobs: these tests ask for OR.Jobs.Read too.
JOBS = {"scope": "OR.Jobs.Write OR.Jobs.Read OR.Execution.Read"}


def started_id(d, process="P", **kw):
    return ok_json(d.ask(start_json(process=process, **kw)))["jobs"][0]["id"]


DONE = [(0.3, {"State": "Running", "StartTime": "2026-12-01T10:00:01Z", "HostMachineName": "ROBOT-7"}),
        (1.5, {"State": "Successful", "Info": "Job completed",
               "OutputArguments": json.dumps({"Result": "done", "n": 2})})]


def tagged_answers(c, n, timeout=30):
    """The next n tagged answers on c: {tag: line after the tag}."""
    got = {}
    while len(got) < n:
        tag, _, rest = c.line(timeout).partition(" ")
        got[tag[1:]] = rest
    return got


def pipelined_waits(d, ids, timeout=60):
    """Sends a tagged WAIT per id on one connection; returns {id: record}."""
    c = d.client(timeout)
    c.send("".join(f"@w{i} WAIT {i}\n" for i in ids))
    got = {int(tag[1:]): ok_json(a)["job"] for tag, a in tagged_answers(c, len(ids), timeout).items()}
    c.close()
    return got


QUEUE_SCOPES = ["OR.Jobs.Write", "OR.Execution.Read", "OR.Jobs.Read", "OR.Queues.Write", "OR.Queues.Read"]


def queue_daemon(env, **kw):
    """orchd whose app may add and read queue items too."""
    env.fake.add_app("app", env.secret, QUEUE_SCOPES)
    auth = {"scope": " ".join(QUEUE_SCOPES), **kw.pop("auth", {})}
    return env.daemon(auth=auth, **kw)


def enqueue_json(**kw):
    return "ENQUEUE " + json.dumps(kw)


def items_with(fake, reference):
    return [i for i in fake.items if i["Reference"] == reference]


def orchctl(d, *args):
    return subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, *args],
                          capture_output=True, text=True, timeout=60)


def releases_of(fake, name):
    return [e for e in fake.log if e["endpoint"] == "releases" and f"'{name}'" in urllib.parse.unquote(e["path"])]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def check_logs(env):
    """No secret may reach a log; sanitizers must have stayed quiet."""
    tokens = list(env.fake.tokens) + list(env.fake.refresh_tokens)
    for d in env.daemons:
        text = d.log()
        for s in harness.SECRETS_SEEN + tokens:
            assert s not in text, "a secret or token reached the log"
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "== ERROR SUMMARY: [1-9]"):
            assert not re.search(bad, text), f"{bad} in log:\n{text[-3000:]}"
