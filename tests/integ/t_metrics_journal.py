"""The Prometheus endpoint (parsed by prometheus_client, loopback only
unless allowed) and the journal's structured fields."""

import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error

from itest import *  # noqa: F401,F403


PROM_PARSE = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
        out[key] = s.value
    out["#type " + fam.name] = fam.type
print(json.dumps(out))
"""


def prom_parse(text):
    """The samples of a Prometheus text, parsed by Debian's prometheus_client."""
    p = subprocess.run(["/usr/bin/python3", "-c", PROM_PARSE], input=text, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@test
def metrics_parse_and_move_with_the_traffic(env):
    env.fake.add_release("P")
    port = free_port()
    d = env.daemon(raw=f"[metrics]\nlisten = 127.0.0.1:{port}\n")
    url = f"http://127.0.0.1:{port}/metrics"
    status, ctype, text = http_get(url)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), ctype
    m0 = prom_parse(text)
    for _ in range(3):
        ok_json(d.ask("START P"))
    err(d.ask("START Nope"), "NOT_FOUND")
    err(d.ask("FROB"), "BAD_REQUEST")
    m1 = prom_parse(http_get(url)[2])
    assert m1["orchd_starts_total"] - m0["orchd_starts_total"] == 4
    assert m1["orchd_starts_ok_total"] == 3 and m1["orchd_jobs_started_total"] == 3
    assert m1["orchd_errors_total{code=NOT_FOUND}"] == 1 and m1["orchd_errors_total{code=BAD_REQUEST}"] == 1
    assert m1["orchd_errors_total{code=DUPLICATE}"] == 0
    assert m1["#type orchd_request_duration_seconds"] == "histogram"
    assert m1["#type orchd_requests"] == "counter" and m1["#type orchd_clients"] == "gauge"
    n = m1["orchd_request_duration_seconds_count"]
    assert n == m1["orchd_request_duration_seconds_bucket{le=+Inf}"] and n >= 5
    assert m1["orchd_request_duration_seconds_bucket{le=30}"] <= n
    assert 0 < m1["orchd_request_duration_seconds_sum"] < 60
    assert 0 <= m1["orchd_token_age_seconds"] < 60
    assert m1["orchd_release_cache_hits_total"] == 2 and m1["orchd_release_lookups_total"] == 2
    # orchctl metrics: the same text from STATS.
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "metrics"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m2 = prom_parse(p.stdout)
    assert m2["orchd_starts_total"] == m1["orchd_starts_total"]
    assert set(k for k in m2 if k.startswith("#type")) == set(k for k in m1 if k.startswith("#type"))
    # No secret in what is served.
    for secret in list(env.fake.tokens) + [env.secret]:
        assert secret not in text and secret not in p.stdout
    # Other paths and methods.
    try:
        http_get(f"http://127.0.0.1:{port}/")
        raise AssertionError("/ answered")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    c = socket.create_connection(("127.0.0.1", port), 5)
    c.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.recv(100).startswith(b"HTTP/1.1 405")
    c.close()
    # Bounded: 16 connections at once; when all are idle, the oldest makes
    # room for a 17th, and the others are closed after 1 s.
    idle = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(16)]
    time.sleep(0.2)
    extra = socket.create_connection(("127.0.0.1", port), 5)
    extra.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
    assert extra.recv(100).startswith(b"HTTP/1.1 200")
    assert all(s.recv(10) == b"" for s in idle)   # the oldest at once, the rest after 1 s
    assert http_get(url)[0] == 200
    # A Unix socket works too.
    path = os.path.join(env.dir, "metrics.sock")
    sock = os.path.join(env.dir, "u.sock")
    d2 = env.daemon(env.config(server={"socket": sock}, raw=f"[metrics]\nlisten = {path}\n",
                               filename="u.conf"), sock=sock)
    u = socket.socket(socket.AF_UNIX)
    u.connect(path)
    u.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = u.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"orchd_uptime_seconds" in data
    assert d2.stop() == 0 and not os.path.exists(path)


@test
def metrics_refuse_non_loopback_unless_allowed(env):
    orchd = os.path.join(harness.BUILD, "orchd")
    port = free_port()
    for listen, words in (("0.0.0.0:%d" % port, "not a loopback address"),
                          ("localhost:%d" % port, "expected HOST:PORT with an IP address"),
                          ("127.0.0.1:0", "expected HOST:PORT"), ("::1:9464", "expected HOST:PORT")):
        conf = env.config(raw=f"[metrics]\nlisten = {listen}\n", filename="bad.conf")
        p = subprocess.run([orchd, "-c", conf], capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and words in p.stderr, (listen, p.stderr)
    env.fake.add_release("P")
    d = env.daemon(raw=f"[metrics]\nlisten = 0.0.0.0:{port}\nallow_remote = 1\n")
    assert http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    d6 = free_port()
    sock = os.path.join(env.dir, "v6.sock")
    env.daemon(env.config(server={"socket": sock}, raw=f"[metrics]\nlisten = [::1]:{d6}\n",
                          filename="v6.conf"), sock=sock)
    try:
        assert http_get(f"http://[::1]:{d6}/metrics")[0] == 200
    except urllib.error.URLError:
        print("     (no IPv6 loopback here: the [::1] listener was accepted, not scraped)")


def journal_entries(sock, want, timeout=10.0):
    """Entries (dicts; a repeated field is a list) from datagrams of the
    journal's native protocol on sock, until want(entries) or timeout."""
    entries, end = [], time.time() + timeout
    sock.settimeout(0.2)
    while time.time() < end and not want(entries):
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        e, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:   # binary form: NAME \n le64 length, data \n
                k = line
                n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
                v = data[nl + 9:nl + 9 + n]
                i = nl + 9 + n + 1
            k, v = k.decode(), v.decode()
            if k in e:
                e[k] = (e[k] if isinstance(e[k], list) else [e[k]]) + [v]
            else:
                e[k] = v
        entries.append(e)
    return entries


def values(e, k):
    v = e.get(k)
    return v if isinstance(v, list) else [v] if v is not None else []


@test
def journal_fields_can_be_filtered_on(env):
    if not shutil.which("unshare") or not shutil.which("mount"):
        print("     (no unshare(1) here: not tested)")
        return
    env.fake.add_release("P")
    # A journal socket of the test's own: orchd runs in a mount namespace of
    # its own where /run/systemd/journal is this directory.
    jdir = os.path.join(env.dir, "journal")
    os.makedirs(jdir)
    os.makedirs("/run/systemd/journal", exist_ok=True)
    jsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    jsock.bind(os.path.join(jdir, "socket"))
    jsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    # stderr is "the journal" when JOURNAL_STREAM names its device and inode.
    logpath = os.path.join(env.dir, f"orchd-{len(env.daemons)}.log")
    open(logpath, "w").close()
    st = os.stat(logpath)
    d = env.daemon(argv=["unshare", "-m", "sh", "-c",
                         f"mount --bind {jdir} /run/systemd/journal && exec \"$@\"", "sh"],
                   env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, auth=JOBS)
    a = ok_json(d.ask(start_json(process="P", reference="inv-42")))
    jid = a["jobs"][0]["id"]
    ok_json(d.ask(f"JOB {jid}"))
    err(d.ask("START Nope"), "NOT_FOUND")

    def done(es):
        return sum(1 for e in es if e.get("ORCHD_VERB") in ("START", "JOB")) >= 3
    es = journal_entries(jsock, done)
    assert done(es), es
    start = next(e for e in es if e.get("ORCHD_VERB") == "START" and e.get("ORCHD_CODE") == "OK")
    assert start["ORCHD_PROCESS"] == "P" and start["ORCHD_FOLDER"] == "Shared"
    assert values(start, "ORCHD_JOB_ID") == [str(jid)] and start["ORCHD_REFERENCE"] == "inv-42"
    assert start["PRIORITY"] == "6" and start["SYSLOG_IDENTIFIER"] == "orchd"
    assert start["MESSAGE"].startswith('START "P" folder (default): OK')
    # "journalctl ORCHD_JOB_ID=<id>": the START and the JOB.
    by_id = [e for e in es if str(jid) in values(e, "ORCHD_JOB_ID")]
    assert {e["ORCHD_VERB"] for e in by_id} == {"START", "JOB"}, by_id
    job = next(e for e in by_id if e["ORCHD_VERB"] == "JOB")
    assert job["ORCHD_STATE"] == "Pending" and job["ORCHD_CODE"] == "OK"
    bad = next(e for e in es if e.get("ORCHD_CODE") == "NOT_FOUND")
    assert bad["PRIORITY"] == "5" and bad["ORCHD_PROCESS"] == "Nope" and "ORCHD_JOB_ID" not in bad
    # Everything went to the journal, nothing to the stream.
    assert any(e.get("MESSAGE", "").startswith("ready") for e in es)
    assert "START" not in d.log(), d.log()
    # No secret in any field.
    for e in es:
        for v in e.values():
            for s in list(env.fake.tokens) + [env.secret]:
                assert s not in str(v)
    jsock.close()
