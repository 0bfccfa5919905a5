#!/usr/bin/env python3
"""The Debian package as an admin meets it: install with dpkg -i, check the
files, units and commands, purge, check nothing is left but what Debian
policy keeps (the system user). Needs root. Ends with "N passed, N failed".

  python3 tests/deb.py build/deb
"""
import glob
import os
import pwd
import subprocess
import sys

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def main():
    debs = glob.glob(os.path.join(sys.argv[1], "orchd_*.deb"))
    assert len(debs) == 1, debs
    deb = debs[0]
    if run("dpkg", "-s", "orchd").returncode == 0:
        run("dpkg", "--purge", "orchd")
    listed = run("dpkg-deb", "-c", deb).stdout
    p = run("dpkg", "-i", deb)
    check("dpkg -i installs it", p.returncode == 0, p.stderr)
    want = ["/usr/bin/orchd", "/usr/bin/orchctl", "/lib/systemd/system/orchd.service",
            "/lib/systemd/system/orchd.socket", "/lib/systemd/system/orchd@.service",
            "/lib/systemd/system/orchd@.socket", "/usr/lib/sysusers.d/orchd.conf",
            "/usr/lib/tmpfiles.d/orchd.conf", "/etc/orchd/orchd.conf",
            "/usr/share/man/man8/orchd.8.gz", "/usr/share/man/man5/orchd.conf.5.gz",
            "/usr/share/man/man1/orchctl.1.gz", "/usr/share/man/man7/orchd-protocol.7.gz",
            "/usr/share/bash-completion/completions/orchctl", "/usr/share/doc/orchd/copyright",
            "/usr/share/doc/orchd/protocol.md.gz"]
    missing = [f for f in want if not os.path.exists(f)]
    check("files in place", not missing, missing)
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "orchd").stdout
    check("/etc/orchd/orchd.conf is a conffile", "/etc/orchd/orchd.conf" in conffiles, conffiles)
    st = os.stat("/etc/orchd/orchd.conf")
    check("the config is not world-readable", st.st_mode & 0o007 == 0, oct(st.st_mode))
    conf = open("/etc/orchd/orchd.conf").read()
    check("the config ships without a secret", "client_secret_file =" not in conf.replace(";client_secret_file", ""))
    try:
        pw = pwd.getpwnam("orchd")
        check("the orchd user exists (sysusers)", True)
        check("the config's group is orchd (tmpfiles)", st.st_gid == pw.pw_gid, st.st_gid)
    except KeyError:
        check("the orchd user exists (sysusers)", not os.path.exists("/usr/bin/systemd-sysusers"),
              "systemd-sysusers is here but made no user")
    enabled = os.path.islink("/etc/systemd/system/sockets.target.wants/orchd.socket")
    check("orchd.socket enabled, orchd.service not started", enabled, "no sockets.target.wants link")
    ctl = run("sh", "-c", f"dpkg-deb --ctrl-tarfile {deb} | tar -xO ./postinst").stdout
    check("postinst starts no daemon", "deb-systemd-invoke" not in ctl or "start" not in ctl, ctl)
    p = run("/usr/bin/orchd", "--help")
    check("orchd --help", p.returncode == 0 and "orchd check" in p.stdout, p.stdout + p.stderr)
    p = run("/usr/bin/orchd", "scopes")
    check("orchd scopes", p.returncode == 0 and "OR.Execution.Read" in p.stdout, p.stderr)
    p = run("/usr/bin/orchctl", "--help")
    check("orchctl --help", p.returncode == 0 and "enqueue" in p.stdout, p.stderr)
    p = subprocess.run(["man", "-w", "orchd"], capture_output=True, text=True) if os.path.exists("/usr/bin/man") \
        else None
    if p is not None:
        check("man -w orchd", p.returncode == 0, p.stderr)
    files = [line.split()[-1].lstrip(".") for line in listed.splitlines() if not line.startswith("d")]
    p = run("dpkg", "--purge", "orchd")
    check("dpkg --purge", p.returncode == 0, p.stderr)
    left = [f for f in files + ["/etc/orchd/orchd.conf", "/etc/orchd"] if os.path.lexists(f)]
    check("nothing left after purge", not left, left)
    links = glob.glob("/etc/systemd/system/*/orchd.*")
    check("no unit links left", not links, links)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
