#!/usr/bin/env python3
"""Start a UiPath process through orchd and wait for its jobs' outcome,
with the standard library only. Usage: start.py PROCESS"""
import json
import os
import socket
import sys


def ask(line, path=os.environ.get("ORCHD_SOCKET", "/run/orchd/orchd.sock")):
    """Sends one request line to orchd and returns its one answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        return s.makefile(encoding="utf-8").readline().rstrip("\n")


request = {"process": sys.argv[1], "input": {"InvoiceId": 42}, "wait": 600}
answer = ask("START " + json.dumps(request))
if not answer.startswith("OK "):
    sys.exit("orchd: " + answer)          # ERR <CODE> <message>
for job in json.loads(answer[3:])["jobs"]:
    print(job["id"], job["state"], json.dumps(job["output"]))
    if job["state"] != "Successful":
        sys.exit(4)
