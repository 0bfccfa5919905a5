"""What the docs and the shipped extras promise: README's scope table,
docs/protocol.md's codes, verbs and keys, bash completion, and the client
examples run as docs/clients.md shows them."""

import json
import os
import re
from shlex import quote as shlex_quote
import shutil
import subprocess

from itest import *  # noqa: F401,F403


@test
def readme_scope_table_is_the_codes(env):
    table = subprocess.run([os.path.join(harness.BUILD, "orchd"), "scopes"], capture_output=True,
                           text=True, check=True).stdout
    readme = open(os.path.join(harness.HERE, "..", "..", "README.md")).read()
    assert "| look up a process | `GET /odata/Releases` | `OR.Execution` or `OR.Execution.Read`" in table
    assert table in readme, "README's scope table differs from `orchd scopes`: paste it again"
    doc = open(os.path.join(harness.HERE, "..", "..", "docs", "orchestrator.md")).read()
    assert table in doc, "docs/orchestrator.md's scope table differs from `orchd scopes`"


@test
def protocol_doc_names_every_code_verb_and_key(env):
    top = os.path.join(harness.HERE, "..", "..")
    doc = open(os.path.join(top, "docs", "protocol.md")).read()
    proto = open(os.path.join(top, "common", "proto.c")).read()
    conf = open(os.path.join(top, "common", "conf.c")).read()
    codes = re.findall(r'\[PC_\w+\] = "(\w+)"', proto)
    assert len(codes) >= 13, codes
    keys = re.findall(r'(?:STR|INT)\("(\w+)", "(\w+)"', conf) + \
        re.findall(r'\{"(\w+)", "(\w+)", K_', conf)
    assert len(keys) >= 20, keys
    help_ = ok_json(env.daemon().ask("HELP"))
    verbs = {v.split()[0] for v in help_["verbs"]}
    for c in codes:
        assert f"`{c}`" in doc, f"docs/protocol.md lacks the code {c}"
    for section, key in keys:
        assert f"`{key}`" in doc or f"{key}`" in doc, f"docs/protocol.md lacks [{section}] {key}"
        assert re.search(rf"^;?{key} =", open(os.path.join(top, "conf", "orchd.conf")).read(), re.M), \
            f"conf/orchd.conf lacks {key}"
    for v in verbs:
        assert re.search(rf"^{v}\b", doc, re.M), f"docs/protocol.md lacks the verb {v}"
    # The man pages say the same: every code and verb in orchd-protocol(7),
    # every key in orchd.conf(5), every orchctl command in orchctl(1).
    man = {n: open(os.path.join(top, "man", n)).read()
           for n in ("orchd-protocol.7", "orchd.conf.5", "orchctl.1", "orchd.8")}
    for c in codes[1:]:
        assert f".It Li {c}\n" in man["orchd-protocol.7"], f"orchd-protocol(7) lacks the code {c}"
    for v in verbs:
        assert f".It Li {v}" in man["orchd-protocol.7"], f"orchd-protocol(7) lacks the verb {v}"
    for section, key in keys:
        assert f"\n.Ss [{section}]" in man["orchd.conf.5"], f"orchd.conf(5) lacks [{section}]"
        assert f".It Cm {key}\n" in man["orchd.conf.5"], f"orchd.conf(5) lacks [{section}] {key}"
    ctl = open(os.path.join(top, "cli", "orchctl.c")).read()
    usage = ctl[ctl.index("commands:"):ctl.index("options:")]
    for cmd in re.findall(r'"  (\w+) ', usage):
        assert f".It Cm {cmd}" in man["orchctl.1"], f"orchctl(1) lacks the command {cmd}"
    for name, number in re.findall(r"(\w+) (\d+)", ctl[ctl.index("an ERR answer exits with"):]):
        if name.isupper():
            assert f".It {number}\n{name}" in man["orchctl.1"], f"orchctl(1) lacks exit {number} {name}"
    for cmd in ("check", "login", "scopes"):
        assert f".It Cm {cmd}" in man["orchd.8"], f"orchd(8) lacks {cmd}"
    # Every key of the JSON forms (the parser's own "known:" lists) is in
    # protocol.md and in orchd-protocol(7).
    pj = open(os.path.join(top, "common", "protojson.c")).read()
    known = set()
    for lst in re.findall(r'known: ([a-z_, "\n\t]+)\)', pj):
        known |= {k for k in re.findall(r"[a-z_]+", lst)}
    assert {"process", "entry_point", "kill_after", "queue", "due"} <= known, known
    for k in sorted(known):
        assert f"`{k}`" in doc, f"docs/protocol.md lacks the key {k}"
        assert re.search(rf'(\.Li {k}\b|"{k}":)', man["orchd-protocol.7"]), f"orchd-protocol(7) lacks the key {k}"


@test
def bash_completion_offers_commands_options_and_cached_processes(env):
    bc = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(bc):
        print("     (no bash-completion here: not tested)")
        return
    env.fake.add_release("Invoice Bot")
    env.fake.add_release("Payroll")
    d = env.daemon()
    ok_json(d.ask('START "Invoice Bot"'))
    ok_json(d.ask("START Payroll"))
    top = os.path.join(harness.HERE, "..", "..")

    def complete(*words):
        script = (f"source {bc}; source {top}/completion/orchctl; COMP_WORDS=({' '.join(shlex_quote(w) for w in words)}); "
                  f"COMP_CWORD={len(words) - 1}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; "
                  "_orchctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "PATH": os.path.abspath(harness.BUILD) + ":" + os.environ["PATH"]})
        assert p.returncode == 0, p.stderr
        return [x for x in p.stdout.splitlines() if x]
    assert "enqueue" in complete("orchctl", "en") and "start" in complete("orchctl", "")
    assert set(complete("orchctl", "-s", d.sock, "start", "")) == {"Invoice\\ Bot", "Payroll"}  # inserted quoted
    assert complete("orchctl", "-s", d.sock, "start", "Pay") == ["Payroll"]
    assert "--wait" in complete("orchctl", "start", "--w") and "--kill" in complete("orchctl", "stop", "--k")
    assert complete("orchctl", "enqueue", "Q", "--priority", "H") == ["High"]
    # orchd not answering: no names, no error.
    assert complete("orchctl", "-s", "/nonexistent.sock", "start", "") == []
    p = subprocess.run([os.path.join(harness.BUILD, "orchctl"), "-s", d.sock, "processes"],
                       capture_output=True, text=True, timeout=30)
    assert sorted(p.stdout.splitlines()) == ["Invoice Bot", "Payroll"]


@test
def client_examples_run_and_the_doc_shows_them(env):
    top = os.path.join(harness.HERE, "..", "..")
    doc = open(os.path.join(top, "docs", "clients.md")).read()
    for name in ("start.py", "start.sh", "start.js", "start.go", "orchd-run@.service", "orchd-run@.timer"):
        text = open(os.path.join(top, "examples", name)).read().rstrip("\n")
        assert text in doc, f"docs/clients.md does not show examples/{name} as it is"
    env.fake.add_release("Invoice Bot")
    env.fake.job_plan = DONE
    d = env.daemon(auth=JOBS)
    run_env = {**os.environ, "ORCHD_SOCKET": d.sock}
    ex = os.path.join(top, "examples")
    p = subprocess.run(["/usr/bin/python3", f"{ex}/start.py", "Invoice Bot"], capture_output=True, text=True,
                       timeout=60, env=run_env)
    assert p.returncode == 0, p.stderr
    jid, state, output = p.stdout.split(" ", 2)
    assert state == "Successful" and json.loads(output) == {"Result": "done", "n": 2}
    assert env.fake.jobs[-1]["Id"] == int(jid) and json.loads(env.fake.jobs[-1]["InputArguments"]) == {"InvoiceId": 42}
    p = subprocess.run(["/usr/bin/python3", f"{ex}/start.py", "Nope"], capture_output=True, text=True,
                       timeout=60, env=run_env)
    assert p.returncode == 1 and "ERR NOT_FOUND" in p.stderr
    if shutil.which("socat"):
        p = subprocess.run(["sh", f"{ex}/start.sh", "Invoice Bot"], capture_output=True, text=True,
                           timeout=60, env=run_env)
        assert p.returncode == 0 and p.stdout.strip() == str(env.fake.jobs[-1]["Id"]), (p.stdout, p.stderr)
        p = subprocess.run(["sh", f"{ex}/start.sh", "Nope"], capture_output=True, text=True, timeout=60,
                           env=run_env)
        assert p.returncode == 1 and "NOT_FOUND" in p.stderr
    else:
        print("     (no socat: the shell example was not run)")
    p = subprocess.run(["node", f"{ex}/start.js", "Invoice Bot"], capture_output=True, text=True, timeout=60,
                       env=run_env)
    assert p.returncode == 0 and p.stdout.split()[0] == str(env.fake.jobs[-1]["Id"]), (p.stdout, p.stderr)
    p = subprocess.run(["node", f"{ex}/start.js", "Nope"], capture_output=True, text=True, timeout=60,
                       env=run_env)
    assert p.returncode == 1 and "NOT_FOUND" in p.stderr
    if shutil.which("go"):
        out = os.path.join(env.dir, "start-go")
        b = subprocess.run(["go", "build", "-o", out, f"{ex}/start.go"], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "GOCACHE": os.path.join(env.dir, "gocache"),
                                             "GOFLAGS": "-mod=mod", "GO111MODULE": "off"})
        assert b.returncode == 0, b.stderr
        p = subprocess.run([out, "Invoice Bot"], capture_output=True, text=True, timeout=60, env=run_env)
        assert p.returncode == 0 and p.stdout.split()[0] == str(env.fake.jobs[-1]["Id"]), p.stderr
    else:
        print("     (no golang-go here: the Go example was not built)")
