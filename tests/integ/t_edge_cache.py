"""The release cache at the edges (design 4b, "Names, files and text from
outside"): case variants of a name share one entry and one lookup, the
cache is capped at [cache] max_entries (least recently used first), and the
state file is used only when orchd owns it and nobody else may write it,
each entry checked."""

import json
import os
import time

from itest import *  # noqa: F401,F403

GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def case_variant(name, i):
    """The i-th spelling of name: bit b of i upper-cases its b-th letter."""
    out, b = [], 0
    for ch in name:
        if ch.isalpha():
            ch = ch.upper() if (i >> b) & 1 else ch.lower()
            b += 1
        out.append(ch)
    return "".join(out)


def state_entries(path):
    with open(path) as f:
        return json.load(f)["entries"]


def write_state(env, entries, mode=0o600):
    """A state file as orchd writes it (version 1), in a directory of its own."""
    d = os.path.join(env.dir, "state")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "releases")
    with open(path, "w") as f:
        json.dump({"version": 1, "entries": entries}, f)
    os.chmod(path, mode)
    return path


def release_entry(name, key, age=10.0, folder="Shared"):
    return {"k": f"rp:{folder}\n{name}", "v": f"{key}\n{name}", "set": time.time() - age}


@test
def case_variants_of_a_name_share_one_entry_and_one_lookup(env):
    name = "Quarterly Invoice Bot"
    key = env.fake.add_release(name)
    state = os.path.join(env.dir, "releases")
    d = env.daemon(cache={"state_file": state}, orchestrator={"max_queue": "4096"})
    n, batch = 3000, 500
    c = d.client(60)
    for first in range(0, n, batch):
        c.send("".join(f"@s{i} START {json.dumps({'process': case_variant(name, i)})}\n"
                       for i in range(first, first + batch)))
        for tag, a in tagged_answers(c, batch, 60).items():
            assert ok_json(a)["release"] == key, a
    c.close()
    assert len({case_variant(name, i) for i in range(n)}) == n
    assert env.fake.count("releases") == 1, env.fake.count("releases")
    assert ok_json(d.ask("STATS"))["processes"] == [name]
    assert d.stop() == 0
    entries = state_entries(state)
    assert len(entries) == 1 and entries[0]["v"] == f"{key}\n{name}", entries


@test
def cache_keeps_max_entries_dropping_the_least_recently_used(env):
    for p in ("P1", "P2", "P3", "P4", "P5"):
        env.fake.add_release(p)
    state = os.path.join(env.dir, "releases")
    d = env.daemon(cache={"state_file": state, "max_entries": "3"})
    for p in ("P1", "P2", "P3", "P1", "P4", "P5"):      # P1 used again before P4 and P5
        ok_json(d.ask(start_json(process=p)))
    assert env.fake.count("releases") == 5
    assert sorted(ok_json(d.ask("STATS"))["processes"]) == ["P1", "P4", "P5"]
    ok_json(d.ask(start_json(process="P1")))            # still cached
    assert env.fake.count("releases") == 5
    ok_json(d.ask(start_json(process="P2")))            # was dropped: looked up again
    assert env.fake.count("releases") == 6
    assert d.stop() == 0
    names = [e["v"].split("\n")[1] for e in state_entries(state)]
    assert sorted(names) == ["P1", "P2", "P5"], names


@test
def max_entries_out_of_range_is_a_config_error(env):
    conf = env.config(cache={"max_entries": "0"})
    d = env.daemon(conf, wait_ready=False)
    assert d.proc.wait(20) != 0
    assert "max_entries" in d.log()


@test
def group_writable_state_file_is_ignored_with_a_warning(env):
    env.fake.add_release("P", key=GUID)
    state = write_state(env, [release_entry("P", GUID)], mode=0o664)
    d = env.daemon(cache={"state_file": state})
    assert ok_json(d.ask(start_json(process="P")))["release"] == GUID
    assert env.fake.count("releases") == 1                # the cached key was not used
    log = d.log()
    assert "writable by group or others" in log and "chmod go-w" in log, log


@test
def state_file_owned_by_another_user_is_ignored_with_a_warning(env):
    env.fake.add_release("P", key=GUID)
    state = write_state(env, [release_entry("P", GUID)])
    os.chown(state, 65534, 65534)
    d = env.daemon(cache={"state_file": state})
    assert ok_json(d.ask(start_json(process="P")))["release"] == GUID
    assert env.fake.count("releases") == 1
    log = d.log()
    assert "owned by uid 65534" in log and "chown" in log, log


@test
def tampered_state_entries_are_skipped_and_the_good_ones_used(env):
    keys = {p: env.fake.add_release(p) for p in ("Good", "Q", "R", "S", "T")}
    state = write_state(env, [
        release_entry("Good", keys["Good"]),
        release_entry("Q", "not-a-guid"),
        release_entry("R\u0007", keys["R"]),
        {**release_entry("S", keys["S"]), "set": time.time() + 30 * 86400},
        {"k": "rp:Shared\nT", "v": keys["T"] + "\nT", "set": "yesterday"},
    ])
    d = env.daemon(cache={"state_file": state})
    assert ok_json(d.ask(start_json(process="Good")))["release"] == keys["Good"]
    assert env.fake.count("releases") == 0                # the good entry is used
    for p in ("Q", "S", "T"):
        assert ok_json(d.ask(start_json(process=p)))["release"] == keys[p]
        assert len(releases_of(env.fake, p)) == 1, p      # its entry was skipped
    log = d.log()
    assert "not a GUID" in log, log
    assert "control character" in log, log
    assert "in the future" in log, log
    assert "skipped" in log, log
    # A file that is not a state file at all is ignored as a whole, saying so.
    d.stop()
    with open(state, "w") as f:
        f.write("[1,2,3]")
    env.fake.reset_counters()
    d2 = env.daemon(cache={"state_file": state})
    ok_json(d2.ask(start_json(process="Good")))
    assert env.fake.count("releases") == 1
    assert "not an orchd state file" in d2.log(), d2.log()
