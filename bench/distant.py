#!/usr/bin/env python3
"""make bench-distant: STARTs against a distant cloud front door, for the
latency users feel (issue 14), old and new orchd in the same run.

The upstream is bench/run.py's nginx (TLS, HTTP/2, canned token, Releases
and StartJobs answers) that closes connections idle for 3 s, behind a TCP
proxy here that delays every chunk by half the round trip each way (RTT
20 ms by default). Each orchd binary given is driven the same way: bursts of
STARTs for 4 processes (5 each, one after another), separated by idle gaps
longer than the front door's keep-alive. Two scenarios:

  within-ttl  release_ttl 8 s, gaps of 7 s: a key is used in the last
              quarter of its TTL at every burst (refresh ahead applies)
  past-ttl    release_ttl 8 s, gaps of 10 s: no key is used in its TTL's
              last quarter; by the contract (design.md 4a) it is let go

then a restart of orchd (with [cache] state_file) and one more burst.
The floor is one StartJobs POST from libcurl over a warm connection
through the same proxy (bench/floor.c). A START "waited" when it took more
than the floor's p50 plus 3/4 of a round trip (a lookup costs a round
trip, a handshake two or more); orchd's STATS say why (cache misses = lookups on the
path) and the proxy counts the connections opened.

  python3 bench/distant.py OLD/orchd NEW/orchd [--rtt-ms 20] [--bursts 4]
"""

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402

PROCESSES = ["Invoice", "Payroll", "Report", "Sync"]


class Proxy:
    """127.0.0.1:port -> upstream, each chunk delayed by delay_s each way;
    counts the connections accepted."""

    def __init__(self, upstream_port, delay_s):
        self.upstream_port, self.delay = upstream_port, delay_s
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()
        self.ready.wait()

    def run(self):
        asyncio.set_event_loop(self.loop)
        # Connections cut at the end of the run are no news.
        self.loop.set_exception_handler(lambda loop, ctx: None)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        self.server = self.loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def pipe(self, reader, writer):
        q = asyncio.Queue()

        async def out():
            while True:
                due, data = await q.get()
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()
        task = self.loop.create_task(out())
        try:
            while True:
                data = await reader.read(65536)
                q.put_nowait((self.loop.time() + self.delay, data or None))
                if not data:
                    break
        except OSError:
            q.put_nowait((self.loop.time() + self.delay, None))
        await task

    async def handle(self, cr, cw):
        self.connections += 1
        cw.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        uw.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(self.pipe(cr, uw), self.pipe(ur, cw), return_exceptions=True)

    def stop(self):
        async def shutdown():
            self.server.close()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()
            await asyncio.sleep(0.1)
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


def start_orchd(binary, d, port, sock, name, ttl, new_keys=True):
    """orchd with keepalive and state_file; a binary from before them
    (a config error) is started again without."""
    conf = f"{d}/{name}.conf"
    with open(conf, "w") as f:
        f.write(f"[orchestrator]\nurl = https://127.0.0.1:{port}{B.PREFIX}\nfolder = Shared\n"
                f"ca_file = {d}/ca.pem\n" + ("keepalive = 2\n" if new_keys else "") +
                f"[auth]\nclient_id = bench\nclient_secret_file = {d}/secret\n"
                f"[server]\nsocket = {sock}\n[cache]\nrelease_ttl = {ttl}\n" +
                (f"state_file = {d}/{name}.state\n" if new_keys else ""))
    p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=open(f"{d}/{name}.log", "a"))
    for _ in range(500):
        if p.poll() is not None:
            assert new_keys, open(f"{d}/{name}.log").read()
            return start_orchd(binary, d, port, sock, name, ttl, False)
        try:
            c = socket.socket(socket.AF_UNIX)
            c.connect(sock)
            c.close()
            break
        except OSError:
            time.sleep(0.02)
    return p


def ask(f, line):
    t0 = time.perf_counter()
    f.write(line.encode() + b"\n")
    f.flush()
    a = f.readline()
    us = (time.perf_counter() - t0) * 1e6
    assert a.startswith(b"OK "), a
    return us


def burst(sock, per_process=5):
    """One burst: per process, per_process STARTs in a row; the latencies
    (us) of each START, and whether it was the process's first in the run."""
    out = []
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(sock)
        f = c.makefile("rwb")
        for p in PROCESSES:
            for _ in range(per_process):
                out.append((p, ask(f, f"START {p}")))
    return out


def scenario(binary, d, port, proxy, name, ttl, gap, bursts):
    sock = f"{d}/{name}.sock"
    orchd = start_orchd(binary, d, port, sock, name, ttl)
    try:
        time.sleep(1.0)                               # token, upkeep
        seen, lat, firsts, where = set(), [], [], []
        conns0 = proxy.connections
        for b in range(bursts):
            if b:
                time.sleep(gap)
            for k, (p, us) in enumerate(burst(sock)):
                if p in seen:
                    lat.append(us)
                    where.append((b, k, round(us / 1000, 1)))
                else:
                    firsts.append(us)
                seen.add(p)
        st = B.stats(sock)
        # The slowest, with their burst and place in it.
        res = {"starts_after_first": lat, "firsts": firsts, "slowest": sorted(where, key=lambda x: -x[2])[:8], "misses": st["cache"]["misses"],
               "lookups": st["cache"]["lookups"], "refreshes": st["cache"].get("refreshes", 0),
               "connections": proxy.connections - conns0}
        # Restart with the state file: the first START of a known process.
        orchd.send_signal(signal.SIGTERM)
        orchd.wait(30)
        orchd = start_orchd(binary, d, port, sock, name, ttl)
        time.sleep(1.0)
        after = burst(sock)
        st = B.stats(sock)
        res["after_restart"] = [us for _, us in after]
        res["lookups_after_restart"] = st["cache"]["lookups"]
        res["misses_after_restart"] = st["cache"]["misses"]
        return res
    finally:
        if orchd.poll() is None:
            orchd.send_signal(signal.SIGTERM)
            orchd.wait(30)


def summary(lat):
    if not lat:
        return {"n": 0}
    return {"n": len(lat), "p50": B.pct(lat, 50), "p99": B.pct(lat, 99), "max": max(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rtt-ms", type=float, default=20.0)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    bursts = 2 if a.smoke else a.bursts
    d = tempfile.mkdtemp(prefix="orchd-distant-")
    procs = []
    proxy = None
    try:
        nginx, port = B.start_upstream(d, keepalive_s=3)
        procs.append(nginx)
        proxy = Proxy(port, a.rtt_ms / 2000.0)
        url = f"https://127.0.0.1:{proxy.port}{B.PREFIX}/odata/Jobs/UiPath.Server.Configuration.OData.StartJobs"
        subprocess.run([f"{d}/floor", "seq", url, f"{d}/ca.pem", B.TOKEN, "50" if a.smoke else "200", f"{d}/fl"],
                       check=True)
        floor = summary(B.read_lat(f"{d}/fl"))
        rtt_us = a.rtt_ms * 1000
        slow = floor["p50"] + 0.75 * rtt_us       # above this, a START waited for something
        results = {"rtt_ms": a.rtt_ms, "floor_us": floor, "runs": {}}
        print(f"distant upstream: RTT {a.rtt_ms:.0f} ms, front door closes idle connections after 3 s")
        print(f"floor: one StartJobs over a warm connection: p50 {floor['p50'] / 1000:.1f} ms, "
              f"p99 {floor['p99'] / 1000:.1f} ms; a START 'waited' above {slow / 1000:.1f} ms")
        scenarios = [("within-ttl", 8, 7.0), ("past-ttl", 8, 10.0)]
        for sname, ttl, gap in scenarios:
            for i, binary in enumerate(a.binaries):
                name = f"{sname}-{i}"
                r = scenario(os.path.abspath(binary), d, proxy.port, proxy, name, ttl, gap, bursts)
                after = r["starts_after_first"]
                waited = sum(1 for us in after if us > slow)
                waited_restart = sum(1 for us in r["after_restart"] if us > slow)
                s = summary(after)
                r.update({"summary": s, "waited": waited, "waited_after_restart": waited_restart,
                          "p99_over_floor_p50": s["p99"] / floor["p50"],
                          "p99_over_floor_p99": s["p99"] / floor["p99"]})
                results["runs"][name] = {k: v for k, v in r.items() if k not in ("starts_after_first",)}
                results["runs"][name]["binary"] = binary
                print(f"{sname:10} {binary:24} STARTs after each process's first: {s['n']}, "
                      f"p50 {s['p50'] / 1000:.1f} ms, p99 {s['p99'] / 1000:.1f} ms, max {s['max'] / 1000:.1f} ms; "
                      f"waited {waited}; lookups on the path {r['misses'] - len(PROCESSES)}, "
                      f"in the background {r['refreshes']}; connections opened {r['connections']}; "
                      f"after a restart: lookups {r['lookups_after_restart']}, waited {waited_restart} of "
                      f"{len(r['after_restart'])}; p99 / floor p99 {r['p99_over_floor_p99']:.2f}")
        B.write_results("distant", results, a.smoke)
        if a.smoke:
            print("1 passed, 0 failed")
        return 0
    finally:
        if proxy:
            proxy.stop()
        B.stop_all(procs, d)


if __name__ == "__main__":
    sys.exit(main())
