"""What orchctl and its bash completion do with text that comes from outside:
process names from orchd's cache are data (never evaluated, globbed or
split), and a robot's text cannot drive the terminal in either output mode."""

import json
import os
from shlex import quote as shlex_quote
import subprocess

from itest import *  # noqa: F401,F403

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def complete(sock, *typed):
    """COMPREPLY of `orchctl -s SOCK start TYPED...`, as the completion
    leaves it (the words bash would insert)."""
    top = os.path.join(harness.HERE, "..", "..")
    words = ["orchctl", "-s", sock, "start", *typed]
    script = (f"source {BASH_COMPLETION}; source {top}/completion/orchctl; "
              f"COMP_WORDS=({' '.join(shlex_quote(w) for w in words)}); "
              f"COMP_CWORD={len(words) - 1}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; "
              "_orchctl; printf '%s\\0' \"${COMPREPLY[@]}\"")
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PATH": os.path.abspath(harness.BUILD) + ":" + os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    return [x for x in p.stdout.split("\0") if x]


def parsed(word, cwd, quote=""):
    """What bash makes of word inserted on a command line (after the opening
    quote typed, if any): the arguments it gives (run where glob decoys lie)."""
    p = subprocess.run(["bash", "-c", "printf '%s\\0' " + quote + word], capture_output=True, text=True,
                       timeout=30, cwd=cwd)
    assert p.returncode == 0, (word, p.stderr)
    return p.stdout.split("\0")[:-1]


@test
def completion_of_hostile_process_names_runs_nothing_and_inserts_each_name(env):
    if not os.path.exists(BASH_COMPLETION):
        print("     (no bash-completion here: not tested)")
        return
    marks = os.path.join(env.dir, "marks")
    decoys = os.path.join(env.dir, "decoys")
    os.mkdir(marks)
    os.mkdir(decoys)
    for f in ("Globber", "Glab", "Report-decoy"):
        open(os.path.join(decoys, f), "w").close()
    names = [f"Report $(touch {marks}/dollar)", f"Report `touch {marks}/tick`", f"Report; touch {marks}/semi",
             f"Report $((6*7)) ${{HOME}} {{a,b}} ~root | touch {marks}/pipe &", "Report 'single' \"double\"",
             "Report: a=b # not a comment", "Glob*", "Gl?b", "Plain", "Rép\u00e9 [x] ! \\back"]
    for n in names:
        env.fake.add_release(n)
    d = env.daemon()
    for n in names:
        ok_json(d.ask(start_json(process=n)))

    def offers(typed):
        got = complete(d.sock, typed)
        assert os.listdir(marks) == [], f"the completion ran code: {os.listdir(marks)}"
        back = [parsed(w, decoys, typed[0] if typed[:1] in ("'", '"') else "") for w in got]
        assert all(len(b) == 1 for b in back), (got, back)
        return sorted(b[0] for b in back)

    assert offers("") == sorted(names)
    assert offers("Report") == sorted(n for n in names if n.startswith("Report"))
    # A prefix typed with the quoting the completion inserts, or with quotes.
    assert offers("Report\\ \\$\\(t") == [names[0]]
    assert offers("'Report `") == [names[1]] and offers("\"Report '") == [names[4]]
    assert offers('"Report;') == [names[2]] and offers('"R\u00e9') == [names[-1]]
    # The prefix is a string, not a pattern, and names do not glob.
    assert offers("Gl?") == ["Gl?b"] and offers("Gl") == ["Gl?b", "Glob*"]
    assert offers("G*") == [] and offers("Nope") == []
    assert offers("R\u00e9") == [names[-1]]
    assert os.listdir(marks) == []


@test
def orchctl_output_holds_no_raw_terminal_controls(env):
    env.fake.add_release("P")
    d = env.daemon(auth=JOBS)
    ctl = [os.path.join(harness.BUILD, "orchctl"), "-s", d.sock]
    jid = started_id(d)
    # ESC, C1 CSI, DEL, RIGHT-TO-LEFT OVERRIDE, LEFT-TO-RIGHT ISOLATE.
    hostile = "a\x1b[2J b\u009b2J c\x7f d\u202egpj.exe e\u2066f"
    output = {"note": hostile, "k\u202e": 1}
    env.fake.set_job(jid, State="Faulted", Info=hostile, OutputArguments=json.dumps(output),
                     JobError={"Code": "E", "Title": hostile, "Detail": hostile})
    raw = [b"\x1b", b"\x7f", "\u009b".encode(), "\u202e".encode(), "\u2066".encode()]

    def clean(data):
        assert not any(r in data for r in raw), data
        assert not any(b < 0x20 and b != 0x0a for b in data), data
        return data.decode()

    for args in (["job", str(jid)], ["wait", str(jid)]):
        p = subprocess.run(ctl + args, capture_output=True, timeout=30)
        assert p.returncode in (0, 4), p
        out = clean(p.stdout)
        assert "info: a?[2J b??2J c? d???gpj.exe e???f" in out, out
        p = subprocess.run(ctl + args + ["--json"], capture_output=True, timeout=30)
        rec = json.loads(clean(p.stdout))["job"]
        assert rec["info"] == hostile and rec["output"] == output, rec
        assert rec["error"]["title"] == hostile and rec["error"]["detail"] == hostile, rec
        assert "\\u202e" in p.stdout.decode().lower()
    # An ERR answer quoting Orchestrator: inert in both modes.
    for mode in ([], ["--json"]):
        env.fake.fault("start", status=409, body={"message": "no robot " + hostile, "errorCode": 2818})
        p = subprocess.run(ctl + ["start", "P"] + mode, capture_output=True, timeout=30)
        assert p.returncode == 18, p
        clean(p.stdout)
        clean(p.stderr)
        assert b"no robot" in p.stdout + p.stderr, p
