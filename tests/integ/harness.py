"""Helpers for orchd's integration tests: the fake Orchestrator, a real
orchd process with a config written for the test, and socket clients."""

import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fake"))
sys.path.insert(0, os.path.join(HERE, ".."))
from fake_orch import Fake  # noqa: E402

BUILD = os.environ.get("ORCHD_BUILD", "build")
# A command to run orchd under, e.g. "valgrind --error-exitcode=99 ...".
WRAP = shlex.split(os.environ.get("ORCHD_WRAP", ""))
CERTDIR = tempfile.mkdtemp(prefix="orchd-ca-")

SECRETS_SEEN = []  # every secret a test used: no log may contain one


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Client:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=None):
        """The next answer line (str, without LF), or None on EOF."""
        end = time.time() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0:
                raise TimeoutError("no answer line")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def ask(self, line, timeout=None):
        self.send(line.rstrip("\n") + "\n")
        return self.line(timeout)

    def closed(self, timeout=5.0):
        """True when the daemon closed the connection (EOF) within timeout."""
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([self.sock], [], [], end - time.time())
            if r:
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    return True
                if not chunk:
                    return True
                self.buf += chunk
        return False

    def close(self):
        self.sock.close()


class Notify:
    """A NOTIFY_SOCKET for sd_notify: collects the datagrams orchd sends."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []          # (time, text)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.time(), data.decode()))

    def texts(self):
        with self.lock:
            return [m for _, m in self.messages]

    def first(self, pred, timeout=10.0):
        """(time, text) of the first message for which pred(text) holds."""
        def find():
            with self.lock:
                for t, m in self.messages:
                    if pred(m):
                        return (t, m)
            return None
        return wait_for(find, timeout)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class Env:
    """One test's world: a fake Orchestrator and a directory for orchd."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"orchd-{name}-")
        self.fake = Fake(CERTDIR).start()
        self.secret = "s3cr3t-" + os.urandom(6).hex()
        SECRETS_SEEN.append(self.secret)
        self.fake.add_app("app", self.secret, ["OR.Jobs.Write", "OR.Execution.Read", "OR.Jobs.Read"])
        self.daemons = []

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def config(self, orchestrator=None, auth=None, server=None, cache=None, access=None,
               raw=None, ca=True, filename="orchd.conf"):
        """Writes a config: the fake's URL and CA, app "app", a socket in the
        test's directory; each dict adds or replaces keys of its section."""
        secret_file = self.write("client_secret", self.secret + "\n")
        sections = {
            "orchestrator": {"url": self.fake.url, "folder": "Shared"},
            "auth": {"client_id": "app", "client_secret_file": secret_file},
            "server": {"socket": os.path.join(self.dir, "orchd.sock")},
            "cache": {},
        }
        if ca:
            sections["orchestrator"]["ca_file"] = self.fake.ca
        for name, extra in (("orchestrator", orchestrator), ("auth", auth), ("server", server),
                            ("cache", cache)):
            for k, v in (extra or {}).items():
                if v is None:
                    sections[name].pop(k, None)
                else:
                    sections[name][k] = v
        text = ""
        for name, keys in sections.items():
            text += f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        if access:
            text += "[access]\n" + "".join(f"allow = {rule}\n" for rule in access)
        if raw:
            text += raw
        return self.write(filename, text, 0o644)

    def faults(self):
        """A directory for tests/shim/faults.c, and the environment that
        loads it into orchd: write fault files there while orchd runs."""
        d = os.path.join(self.dir, "faults")
        os.makedirs(d, exist_ok=True)
        asan = os.environ.get("ASAN_OPTIONS", "")
        return d, {"ORCHD_FAULTS": d, "LD_PRELOAD": os.path.abspath(os.path.join(BUILD, "tests", "faults.so")),
                   "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}

    def daemon(self, conf=None, wait_ready=True, env=None, argv=None, sock=None, preexec=None, **kw):
        d = Daemon(self, conf or self.config(**kw), env, argv, sock, preexec)
        self.daemons.append(d)
        if wait_ready:
            d.wait_ready()
        return d

    def close(self):
        for d in self.daemons:
            d.kill()
        self.fake.stop()


class Daemon:
    def __init__(self, env, conf, extra_env=None, argv=None, sock=None, preexec=None):
        self.env = env
        self.conf = conf
        self.sock = sock or os.path.join(env.dir, "orchd.sock")
        self.log_path = os.path.join(env.dir, f"orchd-{len(env.daemons)}.log")
        self.log_file = open(self.log_path, "w")
        self.signalled = False
        cmd = WRAP + [os.path.join(BUILD, "orchd"), "-c", conf]
        if argv:
            cmd = argv + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(extra_env or {})}, preexec_fn=preexec)

    def wait_ready(self, timeout=20.0):
        """Waits until PING answers on the socket."""
        def ping():
            if self.proc.poll() is not None:
                raise RuntimeError(f"orchd exited with {self.proc.returncode}: {self.log()}")
            try:
                c = Client(self.sock, 2)
                ok = c.ask("PING") == 'OK {"pong":true}'
                c.close()
                return ok
            except OSError:
                return False
        if not wait_for(ping, timeout):
            raise RuntimeError("orchd did not answer PING: " + self.log())
        return self

    def wait_socket(self, timeout=10.0):
        """Waits until the socket accepts connections (no PING: the daemon
        may be busy on purpose)."""
        def connects():
            try:
                Client(self.sock, 1).close()
                return True
            except OSError:
                return False
        assert wait_for(connects, timeout), "orchd's socket never accepted: " + self.log()

    def client(self, timeout=10.0):
        return Client(self.sock, timeout)

    def ask(self, line, timeout=None):
        c = self.client()
        try:
            return c.ask(line, timeout)
        finally:
            c.close()

    def log(self):
        self.log_file.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=30.0):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None and not self.signalled:
            self.term()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("orchd did not stop within %.0f s" % timeout)

    def term(self):
        self.signalled = True
        self.proc.send_signal(signal.SIGTERM)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
