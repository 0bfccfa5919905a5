"""nspawn: Debian 12's own systemd as PID 1 in systemd-nspawn, for the
scenarios of tests/systemd/run.py.

- tree(): a minbase bookworm root tree with systemd and what orchd's .deb
  depends on, made once with mmdebstrap from the machine's own apt sources
  and cached outside the checkout; made again when absent or when the .deb
  needs a package it lacks.
- installed(): a copy of that tree for one run, with the .deb installed
  (dpkg -i in a non-booting nspawn) and the test's users and files, so that
  each container boots an installed system, as after a reboot.
- Container: boots a tree (--volatile=overlay: every boot starts from the
  tree as it is, and writes nothing back), runs commands in it with nsenter,
  powers it off with SIGTERM to nspawn, and removes what nspawn leaves in
  /run/systemd/nspawn/propagate. Nothing stays running or mounted.

Without a host systemd (no machined), nspawn needs --register=no
--keep-unit; without the unified cgroup hierarchy and a bpf system call
filter, DevicePolicy= and IPAddressDeny= would silently not be enforced.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

CACHE = os.environ.get("ORCHD_NSPAWN_CACHE", "/var/cache/orchd-nspawn")
BASE = ["systemd", "systemd-sysv", "dbus", "libpam-systemd"]


def deb_depends(deb):
    """The package names the .deb depends on (versions and alternatives
    dropped: the first of each)."""
    field = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True,
                           check=True).stdout
    return [d.split("|")[0].split("(")[0].strip() for d in field.split(",") if d.strip()]


def _has(root, pkg):
    p = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return p.returncode == 0 and p.stdout.strip() == "install ok installed"


def tree(deb, log):
    """The cached root tree, made (about 100 s) when absent or lacking one
    of the .deb's dependencies."""
    root = os.path.join(CACHE, "bookworm")
    need = BASE + deb_depends(deb)
    if os.path.isfile(root + ".ok") and all(_has(root, p) for p in need):
        return root
    os.makedirs(CACHE, exist_ok=True)
    for d in (root, root + ".new"):
        shutil.rmtree(d, ignore_errors=True)
    if os.path.exists(root + ".ok"):
        os.unlink(root + ".ok")
    log(f"making the root tree {root} (mmdebstrap, about 100 s; cached for later runs)")
    t = time.time()
    subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root",
                    "--include=" + ",".join(need), "bookworm", root + ".new"], check=True)
    os.rename(root + ".new", root)
    open(root + ".ok", "w").close()
    log(f"root tree made in {time.time() - t:.0f} s")
    return root


def _nspawn_run(root, *cmd, binds=()):
    """Runs cmd in root without booting it (writes go to root itself)."""
    env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
    args = ["systemd-nspawn", "-q", "-D", root, "--register=no", "--keep-unit", "--pipe"]
    args += [f"--bind-ro={a}:{b}" for a, b in binds]
    return subprocess.run(args + ["--", *cmd], env=env, capture_output=True, text=True, timeout=300)


def installed(base, deb, setup):
    """A copy of base for one run, with the .deb installed as dpkg installs
    it (sysusers, tmpfiles, orchd.socket enabled) and setup(root) applied.
    The caller removes it (shutil.rmtree)."""
    root = tempfile.mkdtemp(prefix="orchd-nspawn-", dir="/var/tmp")
    subprocess.run(["cp", "-a", base + "/.", root], check=True)
    p = _nspawn_run(root, "dpkg", "-i", "/tmp/orchd.deb", binds=[(os.path.abspath(deb), "/tmp/orchd.deb")])
    if p.returncode != 0:
        raise RuntimeError("dpkg -i in the tree failed:\n" + p.stdout + p.stderr)
    setup(root, lambda *cmd: _nspawn_run(root, *cmd))
    return root


class Container:
    """One boot of root. with: powered off at the end, whatever happens."""

    def __init__(self, root, name, binds=()):
        self.root = root
        self.name = name
        self.binds = binds
        self.proc = None
        self.leader = None
        self.console = None

    def __enter__(self):
        self.boot()
        return self

    def __exit__(self, *exc):
        self.poweroff()

    def boot(self, timeout=30):
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        args = ["systemd-nspawn", "-q", "-b", "-D", self.root, "-M", self.name, "--volatile=overlay",
                "--register=no", "--keep-unit", "--console=pipe", "--system-call-filter=bpf"]
        args += [f"--bind-ro={a}:{b}" for a, b in self.binds]
        self.console = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=self.console,
                                     stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            self.leader = self._leader()
            if self.leader:
                break
            time.sleep(0.05)
        if not self.leader:
            raise RuntimeError("the container did not start:\n" + self.console_text())
        # Booted: the system manager has finished its start-up jobs.
        while time.time() < end:
            p = self.sh("systemctl is-system-running --wait", timeout=max(1, end - time.time()))
            if p.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(0.1)
        raise RuntimeError("the container did not finish booting:\n" + self.console_text())

    def _leader(self):
        """The container's PID 1: nspawn's child that runs systemd."""
        try:
            kids = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            return None
        for k in kids:
            try:
                if open(f"/proc/{k}/comm").read().strip() == "systemd":
                    return int(k)
            except OSError:
                pass
        return None

    def console_text(self):
        self.console.seek(0)
        return self.console.read().decode(errors="replace")[-4000:]

    def run(self, *cmd, timeout=60, input=None):
        """cmd in the container's namespaces, as root."""
        return subprocess.run(["nsenter", "-t", str(self.leader), "-a", "--", *cmd], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def sh(self, script, timeout=60, input=None):
        return self.run("/bin/sh", "-c", script, timeout=timeout, input=input)

    def ok(self, script, timeout=60):
        """Runs script; its standard output, or an exception with all it said."""
        p = self.sh(script, timeout)
        if p.returncode != 0:
            raise AssertionError(f"{script!r} exited {p.returncode}: {p.stdout}{p.stderr}")
        return p.stdout

    def prop(self, unit, name):
        return self.ok(f"systemctl show -P {name} {unit}").strip()

    def write(self, path, text, mode=0o644, owner="root:root"):
        self.sh(f"umask 077; cat > {path} && chmod {mode:o} {path} && chown {owner} {path}",
                input=text)

    def path(self, inside):
        """A path inside the container, as the host reaches it (a Unix
        socket can be connected to through it)."""
        return f"/proc/{self.leader}/root{inside}"

    def poweroff(self, timeout=30):
        """SIGTERM to nspawn (the container's systemd powers off), SIGKILL
        if it takes too long; then nspawn's propagation directory."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)
        if self.console:
            self.console.close()
            self.console = None
