"""Queues: ENQUEUE and ITEM, duplicate references, lost answers and resets
around the add, 429s, scopes and [access] rules for queues, check."""

import json
import os
import re
import subprocess
import threading
import time
import urllib.parse

from itest import *  # noqa: F401,F403


@test
def enqueue_both_forms_hold_exactly_what_was_sent(env):
    env.fake.add_queue("Invoices")
    env.fake.add_queue("Invoices", folder="Shared/Finance")
    d = queue_daemon(env)
    content = {"InvoiceId": 42, "Lines": [{"sku": "A-1", "qty": 2}], "Note": "ünï \"q\" \\ \u2028",
               "Paid": False, "Total": 12.5, "Nothing": None}
    a = ok_json(d.ask(enqueue_json(queue="Invoices", folder="Shared/Finance", content=content,
                                   reference="inv-42", priority="High", defer="2026-12-01T10:00:00Z",
                                   due="2026-12-02T10:00:00+01:00")))
    item = env.fake.items[-1]
    assert item["folder"] == "Shared/Finance" and item["SpecificContent"] == content, item
    assert item["Priority"] == "High" and item["Reference"] == "inv-42"
    assert item["DeferDate"] == "2026-12-01T10:00:00Z" and item["DueDate"] == "2026-12-02T10:00:00+01:00"
    assert a == {"item": {"id": item["Id"], "key": item["Key"], "status": "New", "reference": "inv-42"},
                 "queue": "Invoices", "folder": "Shared/Finance"}, a
    # The short form: the default folder, no content, a Reference made by orchd.
    b = ok_json(d.ask("ENQUEUE Invoices"))
    item = env.fake.items[-1]
    assert item["folder"] == "Shared" and item["SpecificContent"] is None and item["Priority"] == "Normal"
    assert re.fullmatch(r"orchd-[0-9a-f]{24}", b["item"]["reference"]) and item["Reference"] == b["item"]["reference"]
    assert b["folder"] == "Shared" and b["queue"] == "Invoices" and b["item"]["id"] == item["Id"]
    assert set(json.loads(env.fake.log[-1]["body"])["itemData"]) == {"Name", "Reference"}
    # By folder id.
    c = ok_json(d.ask('ENQUEUE {"queue":"Invoices","folder":2}'))
    assert c["folder"] == 2 and env.fake.items[-1]["folder"] == "Shared/Finance"
    # One HTTPS request each: no lookup on the way.
    assert env.fake.count("queue_add") == 3 and env.fake.count("queue_defs") == 0
    assert env.fake.count("queue_items_query") == 0
    assert ok_json(d.ask("STATS"))["queue"] == {"items_added": 3, "lookups": 0, "duplicates": 0,
                                                "item_reads": 0}
    # orchctl enqueue, content from a file.
    path = env.write("content.json", json.dumps({"InvoiceId": 43}))
    p = orchctl(d, "enqueue", "Invoices", "--content", "@" + path, "--reference", "inv-43",
                "--priority", "Low", "--defer", "2026-12-03", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["item"]["reference"] == "inv-43"
    item = env.fake.items[-1]
    assert item["SpecificContent"] == {"InvoiceId": 43} and item["Priority"] == "Low" and item["DeferDate"] == "2026-12-03T00:00:00Z"
    p = orchctl(d, "enqueue", "Invoices", "--folder", "Shared/Finance")
    assert p.returncode == 0 and "(queue Invoices): New, reference orchd-" in p.stdout, (p.stdout, p.stderr)
    assert orchctl(d, "enqueue", "Invoices", "--priority", "2").returncode == 2
    assert orchctl(d, "enqueue", "Invoices", "--kill").returncode == 2
    assert len(env.fake.items) == 5


@test
def enqueue_refuses_bad_input_and_unknown_queues(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env, server={"max_line": "600000"})
    c = d.client()
    err(c.ask(enqueue_json(queue="Invoices", content=[1, 2])), "BAD_REQUEST", "content", "JSON object")
    err(c.ask(enqueue_json(queue="Invoices", content="x")), "BAD_REQUEST", "JSON object")
    err(c.ask(enqueue_json(queue="Invoices", reference="r" * 129)), "BAD_REQUEST", "longer than 128")
    err(c.ask(enqueue_json(queue="Invoices", reference="é" * 129)), "BAD_REQUEST", "longer than 128")
    err(c.ask(enqueue_json(queue="Invoices", priority="Urgent")), "BAD_REQUEST", "Low")
    err(c.ask(enqueue_json(queue="Invoices", defer="next monday")), "BAD_REQUEST", "ISO 8601")
    err(c.ask(enqueue_json(queue="Invoices", due="2026-02-30")), "BAD_REQUEST", "ISO 8601")
    err(c.ask(enqueue_json(queue="Invoices\u0007")), "BAD_REQUEST", "control")
    err(c.ask(enqueue_json(queue="Invoices", reference="a\nb")), "BAD_REQUEST", "control")
    err(c.ask(enqueue_json(queue="Invoices", process="P")), "BAD_REQUEST", "unknown key \"process\"")
    # 256,000 characters serialized pass, one more does not.
    room = 256000 - len('{"k":""}')
    err(c.ask(enqueue_json(queue="Invoices", content={"k": "x" * (room + 1)})), "BAD_REQUEST",
        "256001 characters")
    assert env.fake.count("queue_add") == 0
    ok_json(c.ask(enqueue_json(queue="Invoices", content={"k": "x" * room})))
    assert len(env.fake.items[-1]["SpecificContent"]["k"]) == room
    err(c.ask("ENQUEUE Nope"), "NOT_FOUND", '"Nope"', '"Shared"', "nothing was added")
    err(c.ask("ENQUEUE Invoices Shared/Finance"), "NOT_FOUND", "Shared/Finance")
    err(c.ask("ENQUEUE Invoices Nowhere"), "FOLDER", "Nowhere")
    assert env.fake.count("queue_add") == 4 and len(env.fake.items) == 1
    assert orchctl(d, "enqueue", "Nope").returncode == 13


@test
def duplicate_reference_on_a_unique_queue(env):
    env.fake.add_queue("Unique", unique=True)
    env.fake.add_queue("Loose")
    d = queue_daemon(env)
    ok_json(d.ask(enqueue_json(queue="Unique", reference="inv-1")))
    err(d.ask(enqueue_json(queue="Unique", reference="inv-1")), "DUPLICATE", '"inv-1"', '"Unique"',
        "nothing was added")
    p = orchctl(d, "enqueue", "Unique", "--reference", "inv-1")
    assert p.returncode == 24, (p.returncode, p.stderr)
    # A queue without unique references takes the same reference twice.
    ok_json(d.ask(enqueue_json(queue="Loose", reference="inv-1")))
    ok_json(d.ask(enqueue_json(queue="Loose", reference="inv-1")))
    assert [i["QueueDefinitionId"] for i in items_with(env.fake, "inv-1")].count(7) == 1
    assert len(items_with(env.fake, "inv-1")) == 3
    stats = ok_json(d.ask("STATS"))
    assert stats["queue"]["duplicates"] == 2 and stats["errors"]["DUPLICATE"] == 2
    # The refusal's status is unconfirmed (409 or 400): both are DUPLICATE.
    env.fake.duplicate_status = 400
    err(d.ask(enqueue_json(queue="Unique", reference="inv-1")), "DUPLICATE")
    assert len(items_with(env.fake, "inv-1")) == 3


@test
def lost_answer_after_the_add_is_found_by_reference(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env)
    ok_json(d.ask("ENQUEUE Invoices"))                 # the connection is warm
    env.fake.fault("queue_add", status=502, after_create=True)
    a = ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-5"), timeout=20))
    found = items_with(env.fake, "inv-5")
    assert len(found) == 1 and a["item"]["id"] == found[0]["Id"] and a["item"]["status"] == "New"
    assert env.fake.count("queue_add") == 2 and env.fake.count("queue_items_query") == 1
    assert env.fake.count("queue_defs") == 1
    q = [e for e in env.fake.log if e["endpoint"] == "queue_items_query"][0]
    assert "QueueDefinitionId" in urllib.parse.unquote(q["path"])
    # A reset after the add, then a timeout: found again; the queue's id is cached.
    env.fake.fault("queue_add", reset=True, after_create=True)
    ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-6"), timeout=20))
    env.fake.fault("queue_add", status=504, after_create=True)
    ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-7"), timeout=20))
    assert env.fake.count("queue_defs") == 1 and env.fake.count("queue_items_query") == 3
    assert all(len(items_with(env.fake, r)) == 1 for r in ("inv-5", "inv-6", "inv-7"))
    stats = ok_json(d.ask("STATS"))
    assert stats["queue"]["lookups"] == 3 and stats["queue"]["items_added"] == 4
    assert stats["job_reads"]["collection_last_minute"] == 3
    # The lookup fails: UNKNOWN naming the reference; nothing sent again.
    env.fake.fault("queue_add", status=502, after_create=True)
    env.fake.fault("queue_items_query", status=500, times=None)
    err(d.ask(enqueue_json(queue="Invoices", reference="inv-8"), timeout=60), "UNKNOWN", "inv-8",
        "looking it up failed")
    assert len(items_with(env.fake, "inv-8")) == 1 and env.fake.count("queue_add") == 5


@test
def reset_before_the_add_sends_it_once_more_and_makes_one_item(env):
    env.fake.add_queue("Invoices")
    env.fake.add_queue("Unique", unique=True)
    d = queue_daemon(env, orchestrator={"timeout": "2"})
    ok_json(d.ask("ENQUEUE Invoices"))
    # The server closes the warm connection: the next add goes on a new one.
    env.fake.drop_connections()
    time.sleep(0.3)
    ok_json(d.ask("ENQUEUE Invoices"))
    assert env.fake.count("queue_add") == 2 and len(env.fake.items) == 2
    # Reset on receipt, nothing created: looked up twice, then sent once more.
    env.fake.fault("queue_add", reset=True)
    t0 = time.time()
    a = ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-r"), timeout=30))
    assert time.time() - t0 >= 4.5                     # 1 s, then 2 x timeout later
    assert env.fake.count("queue_add") == 4 and env.fake.count("queue_items_query") == 2
    assert len(items_with(env.fake, "inv-r")) == 1 and a["item"]["id"] == items_with(env.fake, "inv-r")[0]["Id"]
    # The lookups miss an item that is there (a lagging index); on a queue with
    # unique references the resend is refused as a duplicate: the first send
    # arrived, and is found and answered OK, never DUPLICATE.
    env.fake.reset_counters()
    env.fake.fault("queue_add", reset=True, after_create=True)
    env.fake.fault("queue_items_query", status=200, body={"value": []}, times=2)
    a = ok_json(d.ask(enqueue_json(queue="Unique", reference="inv-u"), timeout=30))
    assert len(items_with(env.fake, "inv-u")) == 1 and a["item"]["id"] == items_with(env.fake, "inv-u")[0]["Id"]
    assert env.fake.count("queue_add") == 2 and env.fake.count("queue_items_query") == 3
    assert ok_json(d.ask("STATS"))["queue"]["duplicates"] == 0


@test
def busy_when_too_many_enqueues_wait(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env, orchestrator={"max_queue": "2", "max_queue_per_peer": "2"})
    ok_json(d.ask("ENQUEUE Invoices"))
    env.fake.fault("queue_add", delay=1.0, times=2)
    c = d.client()
    c.send("ENQUEUE Invoices\nITEM 991\nENQUEUE Invoices\n")
    answers = [c.line(), c.line(), c.line()]
    assert [a.split()[0] for a in answers] == ["OK", "OK", "ERR"], answers
    err(answers[2], "BUSY", "nothing was sent")
    assert len(env.fake.items) == 2 and env.fake.count("queue_add") == 2
    assert ok_json(d.ask("STATS"))["inflight"] == 0


@test
def enqueue_429_waits_for_retry_after(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env)
    ok_json(d.ask("ENQUEUE Invoices"))
    env.fake.fault("queue_add", status=429, retry_after=1)
    t0 = time.time()
    a = ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-429"), timeout=20))
    assert time.time() - t0 >= 0.9
    assert env.fake.count("queue_add") == 3 and len(items_with(env.fake, "inv-429")) == 1
    assert a["item"]["reference"] == "inv-429" and env.fake.count("queue_items_query") == 0


@test
def queue_verbs_name_the_missing_scope(env):
    env.fake.add_queue("Invoices")
    d = env.daemon()
    err(d.ask("ENQUEUE Invoices"), "SCOPE", "OR.Queues.Write", "OR.Queues")
    err(d.ask("ITEM 991"), "SCOPE", "OR.Queues.Read")
    assert len(env.fake.items) == 0
    # May add but not read: an ambiguous add cannot be looked up.
    sock = os.path.join(env.dir, "w.sock")
    conf = app_config(env, "writeonly", ["OR.Jobs.Write", "OR.Execution.Read", "OR.Queues.Write"],
                      filename="w.conf", server={"socket": sock})
    d2 = env.daemon(conf, sock=sock)
    ok_json(d2.ask("ENQUEUE Invoices"))
    env.fake.fault("queue_add", status=502, after_create=True)
    err(d2.ask(enqueue_json(queue="Invoices", reference="inv-w")), "UNKNOWN", "inv-w", "OR.Queues.Read")
    assert len(items_with(env.fake, "inv-w")) == 1 and env.fake.count("queue_items_query") == 0


@test
def item_successful_with_output_and_failed_with_exception(env):
    env.fake.add_queue("Invoices")
    d = queue_daemon(env)
    iid = ok_json(d.ask(enqueue_json(queue="Invoices", reference="inv-1")))["item"]["id"]
    a = ok_json(d.ask(f"ITEM {iid}"))
    assert a == {"item": {"id": iid, "key": env.fake.items[0]["Key"], "status": "New", "reference": "inv-1",
                          "output": None, "processing_exception": None}, "folder": "Shared"}, a
    env.fake.set_item(iid, Status="Successful", Output={"Total": 12.5, "Approved": True})
    rec = ok_json(d.ask('ITEM {"id":%d,"folder":"Shared"}' % iid))["item"]
    assert rec["status"] == "Successful" and rec["output"] == {"Total": 12.5, "Approved": True}
    p = orchctl(d, "item", str(iid))
    assert p.returncode == 0 and "Successful" in p.stdout and '"Approved":true' in p.stdout, p.stdout
    fid = ok_json(d.ask("ENQUEUE Invoices"))["item"]["id"]
    env.fake.set_item(fid, Status="Failed", ProcessingException={
        "Reason": "PDF unreadable", "Details": "page 3", "Type": "BusinessException",
        "AssociatedImageFilePath": None, "CreationTime": "2026-12-01T10:00:00Z"})
    rec = ok_json(d.ask(f"ITEM {fid} Shared"))["item"]
    assert rec["status"] == "Failed" and rec["output"] is None
    assert rec["processing_exception"] == {"reason": "PDF unreadable", "details": "page 3",
                                           "type": "BusinessException"}
    p = orchctl(d, "item", str(fid), "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["item"]["status"] == "Failed"
    err(d.ask("ITEM 999999"), "NOT_FOUND", "999999")
    err(d.ask(f"ITEM {iid} Shared/Finance"), "NOT_FOUND", str(iid))
    assert orchctl(d, "item", "999999").returncode == 13
    assert ok_json(d.ask("STATS"))["queue"]["item_reads"] == 8


@test
def queue_rules_allow_and_deny(env):
    env.fake.add_queue("Invoices")
    env.fake.add_queue("Payroll")
    env.fake.add_queue("Invoices", folder="Shared/Finance")
    env.fake.add_release("Invoices")
    uid = os.getuid()
    d = queue_daemon(env, access=[f"uid:{uid} queue:Inv* folder=Shared", f"uid:{uid} P*"])
    iid = ok_json(d.ask("ENQUEUE Invoices"))["item"]["id"]
    err(d.ask("ENQUEUE Payroll"), "DENIED", "Payroll")        # a process rule does not cover queues
    err(d.ask("ENQUEUE Invoices Shared/Finance"), "DENIED")   # folder=
    err(d.ask('ENQUEUE {"queue":"Invoices","folder":1}'), "DENIED")  # by id: no path rule matches
    err(d.ask("START Invoices"), "DENIED")                    # a queue rule starts nothing
    assert env.fake.count("queue_add") == 1 and len(env.fake.jobs) == 0
    # The glob is asked again with the queue's own name: Orchestrator
    # matches names case-insensitively, and "Inventory" is INVENTORY.
    env.fake.add_queue("INVENTORY")
    err(d.ask("ENQUEUE Inventory"), "DENIED", "INVENTORY", "nothing was added")
    err(d.ask("ENQUEUE Invoicez"), "NOT_FOUND", "Invoicez")
    assert env.fake.count("queue_add") == 1
    # The queue's name is looked up once (cached like a release key).
    ok_json(d.ask("ENQUEUE Invoices"))
    assert env.fake.count("queue_defs") == 3 and env.fake.count("queue_add") == 2
    # ITEM learns the item's queue from Orchestrator (cached).
    assert ok_json(d.ask(f"ITEM {iid}"))["item"]["id"] == iid
    assert ok_json(d.ask(f"ITEM {iid}"))["item"]["id"] == iid
    assert env.fake.count("queue_defs") == 4
    # An item of a queue no rule allows: DENIED, without its record.
    sock = os.path.join(env.dir, "open.sock")
    d2 = queue_daemon(env, server={"socket": sock}, filename="open.conf", sock=sock)
    pid = ok_json(d2.ask(enqueue_json(queue="Payroll", content={"Salary": 99999})))["item"]["id"]
    # DENIED names only what the request named (contract 1.2): the id, not
    # the item's queue, content or reference.
    a = err(d.ask(f"ITEM {pid}"), "DENIED", str(pid))
    assert "Payroll" not in a and "99999" not in a and "reference" not in a
    assert "DENIED" in d.log()
    # A token that may add but not read queues: the rules see the name sent
    # only (no lookup it could not make), and the add goes ahead.
    sock = os.path.join(env.dir, "write.sock")
    defs = env.fake.count("queue_defs")
    d3 = queue_daemon(env, server={"socket": sock}, filename="write.conf", sock=sock,
                      auth={"scope": "OR.Queues.Write"}, access=[f"uid:{uid} queue:Inv* folder=Shared"])
    ok_json(d3.ask("ENQUEUE Invoices"))
    err(d3.ask("ENQUEUE Payroll"), "DENIED", "Payroll")
    assert env.fake.count("queue_defs") == defs


@test(serial=True)   # the heaviest: 1000 requests, seconds of CPU
def thousand_enqueues_pipelined_over_eight_connections(env):
    env.fake.add_queue("Invoices", unique=True)
    d = queue_daemon(env)
    results = {}

    def one(k):
        c = d.client(timeout=60)
        refs = [f"c{k}-{i}" for i in range(125)]
        c.send("".join(enqueue_json(queue="Invoices", reference=r, content={"n": i}) + "\n"
                       for i, r in enumerate(refs)))
        results[k] = [(r, c.line(60)) for r in refs]
        c.close()
    threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        assert len(results[k]) == 125
        for ref, answer in results[k]:
            assert ok_json(answer)["item"]["reference"] == ref, (ref, answer)   # in order
    refs = [i["Reference"] for i in env.fake.items]
    assert len(refs) == 1000 and len(set(refs)) == 1000
    assert env.fake.count("queue_add") == 1000
    assert ok_json(d.ask("STATS"))["queue"]["items_added"] == 1000


@test
def check_queue_finds_it_and_adds_nothing(env):
    env.fake.add_queue("Invoices")
    env.fake.add_app("app", env.secret, QUEUE_SCOPES)
    conf = env.config(auth={"scope": " ".join(QUEUE_SCOPES)})
    orchd = os.path.join(harness.BUILD, "orchd")
    p = subprocess.run([orchd, "check", "-c", conf, "--queue", "Invoices"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    check_line(p.stdout, "ok", "queue", '"Invoices" exists in folder "Shared"')
    check_line(p.stdout, "ok", "queue: add", "Transactions.Create")
    check_line(p.stdout, "ok", "optional verbs", "ENQUEUE: yes; ITEM: yes")
    p = subprocess.run([orchd, "check", "-c", conf, "--queue", "Nope", "--json"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1
    steps = {s["step"]: s for s in json.loads(p.stdout)["steps"]}
    assert steps["queue"]["status"] == "fail" and "no queue named \"Nope\"" in steps["queue"]["message"]
    assert env.fake.count("queue_add") == 0 and len(env.fake.items) == 0
    # Without the queue scopes: the queue cannot be seen, and adding is not covered.
    p = subprocess.run([orchd, "check", "-c", env.config(filename="plain.conf"), "--queue", "Invoices"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    check_line(p.stdout, "skip", "scope: add item", "OR.Queues.Write", "ENQUEUE answers SCOPE")
    check_line(p.stdout, "FAIL", "queue", "SCOPE", "OR.Queues.Read")
    check_line(p.stdout, "ok", "optional verbs", "ENQUEUE: no; ITEM: no")
