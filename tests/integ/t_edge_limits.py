"""Limits at the edges (design.md 4b, "Names, files and text from outside"):
idle connections cannot keep a scraper out of /metrics, and a small
descriptor limit still serves dozens of clients and recovers when they go."""

import os
import re
import resource
import socket
import time

from itest import *  # noqa: F401,F403


def _nofile(n):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def _scrape(port, timeout=5.0):
    """One GET /metrics on a new connection: (status line, seconds taken)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        s.close()
    return data.split(b"\r\n", 1)[0].decode(errors="replace"), time.monotonic() - t0


class _Holders:
    """n idle connections to port: half send nothing, half a request head
    that never ends. top_up() reopens each one orchd closed."""

    def __init__(self, port, n):
        self.port, self.opened = port, 0
        self.socks = [self.open(i) for i in range(n)]

    def open(self, i):
        s = socket.create_connection(("127.0.0.1", self.port), 5)
        if i % 2:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        self.opened += 1
        return s

    def top_up(self):
        for i, s in enumerate(self.socks):
            try:
                gone = s.recv(10) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                s.close()
                self.socks[i] = self.open(i)

    def close(self):
        for s in self.socks:
            s.close()


@test(serial=True)
def metrics_idle_holders_do_not_keep_scrapes_out(env):
    port = free_port()
    d = env.daemon(raw=f"[metrics]\nlisten = 127.0.0.1:{port}\n")
    # A lone idle connection is closed once its second for the head is over.
    s = socket.create_connection(("127.0.0.1", port), 5)
    t0 = time.monotonic()
    assert s.recv(10) == b""
    waited = time.monotonic() - t0
    s.close()
    assert 0.8 <= waited <= 2.0, f"an idle connection was closed after {waited:.2f} s, not 1 s"
    # Sixteen holders, reopened as orchd closes them, and 24 scrapes one
    # after another: each is answered within 2 s.
    holders = _Holders(port, 16)
    time.sleep(0.2)
    results = []
    try:
        for _ in range(24):
            results.append(_scrape(port))
            time.sleep(0.05)
            holders.top_up()
    finally:
        holders.close()
    slow = [(i, st, round(t, 2)) for i, (st, t) in enumerate(results) if not st.endswith("200 OK") or t > 2.0]
    assert not slow, f"scrapes not answered within 2 s (index, status, seconds): {slow}"
    assert holders.opened > 16, "orchd never closed an idle holder"
    assert _scrape(port)[0].endswith("200 OK")
    assert ok_json(d.ask("PING")) == {"pong": True}


def _fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _answer(c, line=None):
    """The next answer on c (to line, sent first when given), or the BUSY
    orchd said at connect, or None when the connection ended without one."""
    try:
        if line is not None:
            c.send(line + "\n")
    except OSError:
        pass
    try:
        return c.line()
    except OSError:
        return c.buf.decode().partition("\n")[0] or None


@test
def clients_served_under_a_descriptor_limit_of_64(env):
    env.fake.add_release("P")
    d = env.daemon(preexec=_nofile(64))
    m = re.search(r"max_clients 1024 is more than the descriptor limit \(64\) allows.*using (\d+)", d.log())
    assert m, d.log()
    allowed = int(m.group(1))
    assert allowed >= 20, f"only {allowed} clients at a descriptor limit of 64"
    ok_json(d.ask("START P"))
    # Twenty clients one after another, each closed before the next comes.
    for i in range(20):
        c = d.client()
        a = _answer(c, "START P")
        c.close()
        assert a and a.startswith("OK "), f"client {i} one after another got {a!r}"
    # Twenty at once: as many as the clamp allows are served, the rest get a
    # clean BUSY.
    clients = [d.client() for _ in range(20)]
    for c in clients:
        c.send("START P\n")
    answers = [_answer(c) for c in clients]
    for c in clients:
        c.close()
    served = [a for a in answers if a and a.startswith("OK ")]
    busy = [a for a in answers if a and a.startswith("ERR BUSY ")]
    assert len(served) == min(20, allowed) and len(served) + len(busy) == 20, answers
    before = _fds(d.proc.pid)   # with curl's warm connections
    # Three hundred connections opened, used and closed one after another:
    # each is served (a closed one's place comes back a loop turn after its
    # end is read, which a clamp to 1 turned into BUSY for the next), so is
    # the next START, and no descriptor was left behind.
    for i in range(300):
        c = d.client()
        a = _answer(c, "PING")
        c.close()
        assert a == 'OK {"pong":true}', f"connection {i} of 300 got {a!r}"
    c = d.client()
    a = _answer(c, "START P")
    c.close()
    assert a and a.startswith("OK "), f"after 300 connections closed: {a!r}"
    assert wait_for(lambda: _fds(d.proc.pid) <= before + 1, 5), \
        f"descriptors: {before} before, {_fds(d.proc.pid)} after"

