"""A fake UiPath Orchestrator and Identity server for orchd's tests.

A real HTTPS server on 127.0.0.1 (TLS with a CA made for the run) that
behaves as docs/orchestrator.md describes: the token grants
(client credentials; rotating single-use refresh tokens; authorization code
with PKCE), JWT-shaped access tokens with a `scope` claim, Releases with
$filter, StartJobs with Orchestrator's validation, Jobs by id and by
Reference, queues (AddQueueItem validated like the real endpoint, unique
references, QueueItems by id and by Reference, QueueDefinitions), RobotLogs
(filtered by JobKey, Level and TimeStamp, paged by $top and $skip),
attachments (POST /odata/Attachments, GET /odata/Attachments(<id>)) whose
bytes live in a blob store: a second HTTPS server on another host
(127.0.0.2) and port, as Automation Cloud's pre-signed storage URLs are.
Tests control it through attributes and methods of `Fake`
(apps, folders, releases, token lifetime, faults) and read what it received
(`counts`, `log`, `jobs`, `expired_uses`, `blob_log`, `blobs`).
"""

import base64
import calendar
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid

import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from testlib import make_ca  # noqa: E402,F401  (re-exported for callers)

ORCH_PREFIX = "/acme/DefaultTenant/orchestrator_"
TOKEN_PATH = "/identity_/connect/token"
AUTHORIZE_PATH = "/identity_/connect/authorize"
DISCOVERY_PATH = "/identity_/.well-known/openid-configuration"

# Orchestrator's scope table (docs/orchestrator.md section 3).
ENDPOINT_SCOPES = {
    "releases": {"OR.Execution", "OR.Execution.Read"},
    "start": {"OR.Jobs", "OR.Jobs.Write"},
    "job_get": {"OR.Jobs", "OR.Jobs.Read"},
    "jobs_query": {"OR.Jobs", "OR.Jobs.Read"},
    "folders": {"OR.Folders", "OR.Folders.Read"},
    "stop_job": {"OR.Jobs", "OR.Jobs.Write"},
    "queue_add": {"OR.Queues", "OR.Queues.Write"},
    "queue_item": {"OR.Queues", "OR.Queues.Read"},
    "queue_items_query": {"OR.Queues", "OR.Queues.Read"},
    "queue_defs": {"OR.Queues", "OR.Queues.Read"},
    "robot_logs": {"OR.Monitoring", "OR.Monitoring.Read"},
    # No OR.BlobFiles scope: attachments are a folder's.
    "attach_create": {"OR.Folders", "OR.Folders.Write"},
    "attach_get": {"OR.Folders", "OR.Folders.Read"},
}

BLOB_HOST = "127.0.0.2"

INPUT_TOO_LONG = ("The field InputArguments must be a string or array type with a maximum length of "
                  "'10000'.")

# LogDto's Level values, least severe first: a filter "Level ge '2'" compares
# their numbers (docs/orchestrator.md section 11).
LOG_LEVELS = ["Trace", "Debug", "Info", "Warn", "Error", "Fatal"]
TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")


def timestamp_key(text):
    """A DateTimeOffset literal as a comparable instant: (UTC seconds,
    nanoseconds); None when it is not one."""
    m = TIMESTAMP.fullmatch(text or "")
    if not m:
        return None
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    zone = m.group(3)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        secs -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return (secs, int((m.group(2) or "0").ljust(9, "0")))


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?")

NOT_AUTHORIZED = {
    "message": "You are not authorized!", "errorCode": 0, "result": None, "targetUrl": None,
    "success": False,
    "error": {"code": 0, "message": "You are not authorized!",
              "details": "You are not allowed to perform this operation.",
              "validationErrors": None},
    "unAuthorizedRequest": True, "__abp": True,
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class App:
    def __init__(self, client_id, secret, scopes, folders, confidential=True):
        self.client_id = client_id
        self.secret = secret
        self.scopes = set(scopes)       # scopes granted to the external app
        self.folders = set(folders)     # folders where the app has a role
        self.confidential = confidential


class Fault:
    """One injected fault for requests to `endpoint` (token, releases, start,
    job_get, jobs_query, stop_job, queue_add, queue_item, queue_items_query,
    queue_defs, robot_logs, authorize, attach_create, attach_get, and on the blob
    store blob_put, blob_get): answer `status` (with `retry_after`), or
    `reset` the connection (RST), or `close` it cleanly without an answer,
    after `delay` seconds; with `after_create` the job
    is created first. Applies `times` times (None: always)."""

    def __init__(self, endpoint, status=None, retry_after=None, delay=0.0, reset=False,
                 after_create=False, times=1, body=None, close=False):
        self.endpoint = endpoint
        self.close = close          # end the connection cleanly, no answer
        self.status = status
        self.retry_after = retry_after
        self.delay = delay
        self.reset = reset
        self.after_create = after_create
        self.times = times
        self.body = body


class Fake:
    def __init__(self, certdir):
        self.certdir = certdir
        self.ca = make_ca(certdir)
        self.lock = threading.RLock()
        self.apps = {}
        self.folders = {"Shared": 1, "Shared/Finance": 2, "Français/Équipe": 3}
        self.releases = []              # dicts: Key, Name, folder
        self.token_lifetime = 3600
        self.scope_claim = "string"     # or "array", or None (no claim)
        self.tokens = {}                # access token -> info
        self.refresh_tokens = {}        # refresh token -> info
        self.revoked_grants = set()
        self.codes = {}
        self.faults = []
        self.counts = {}
        self.log = []
        self.jobs = []
        self.expired_uses = 0
        self.connections = 0            # TCP connections accepted
        self.open_socks = []            # for drop_connections
        self.inflight = 0               # Orchestrator requests being handled now
        self.max_inflight = 0           # the most at once
        self.next_job_id = 4711
        self.stops = []                 # (job id, strategy) of every StopJob
        self.job_plan = None            # [(seconds, {fields})] given to every new job
        self.collection_limit = None    # GET /odata/Jobs queries a rolling minute, then 429
        self.collection_retry_after = 5
        self.collection_times = []
        self.collection_sizes = []      # ids in each Id-in query
        self.collection_429s = 0
        self.queues = []                # dicts: Id, Name, folder, unique
        self.items = []                 # queue items as Orchestrator keeps them (plus "folder")
        self.next_item_id = 991
        self.duplicate_status = 409     # the status of a "Duplicate Reference" refusal
        self.idle_close = None          # seconds after which an idle connection is closed
        self.robot_logs = {}            # job Key -> [LogDto (+ "_at": visible from then)]
        self.logs_plan = None           # [(seconds, level, message)] given to every new job
        self.log_clock = 0              # the last TimeStamp given, in ms: each entry gets a later one
        # Attachments and their blob store.
        self.attachments = {}           # Id -> {"Name", "folder", "requires_auth"}
        self.blobs = {}                 # attachment Id -> bytes stored
        self.blob_log = []              # what the blob store received
        self.blob_requires_auth = False # BlobFileAccess.RequiresAuth of new attachments
        self.blob_scheme = "https"      # of the Uri given ("http": one orchd must refuse)
        self.blob_headers = {"x-ms-blob-type": "BlockBlob"}  # BlobFileAccess.Headers of uploads
        self.blob_server = None
        self.blob_inflight = 0          # blob requests being handled now
        self.blob_max_inflight = 0      # the most at once
        self.server = None
        self.thread = None

    # ---- set-up -------------------------------------------------------
    def add_app(self, client_id, secret, scopes, folders=("Shared", "Shared/Finance", "Français/Équipe"),
                confidential=True):
        with self.lock:
            self.apps[client_id] = App(client_id, secret, scopes, folders, confidential)

    def add_release(self, name, folder="Shared", key=None):
        rel = {"Key": key or str(uuid.uuid4()), "Name": name, "folder": folder,
               "ProcessKey": name.replace(" ", ""), "Id": len(self.releases) + 1}
        with self.lock:
            self.releases.append(rel)
        return rel["Key"]

    def add_queue(self, name, folder="Shared", unique=False):
        """A queue; with unique, a second item with the same Reference is
        refused ("Enforce unique references")."""
        with self.lock:
            q = {"Id": 7 + len(self.queues), "Name": name, "folder": folder, "unique": unique}
            self.queues.append(q)
        return q["Id"]

    def set_item(self, item_id, **fields):
        """Forces a queue item's fields (Status, Output, ProcessingException, ...)."""
        with self.lock:
            item = next(i for i in self.items if i["Id"] == item_id)
            item.update(fields)

    def plan(self, job_id, steps):
        """Job job_id changes as it runs: after each step's seconds (from
        now) its fields take the step's values."""
        with self.lock:
            job = next(j for j in self.jobs if j["Id"] == job_id)
            now = time.time()
            job["_plan"] = sorted(job.get("_plan", []) + [(now + t, fields) for t, fields in steps],
                                  key=lambda x: x[0])

    def set_job(self, job_id, **fields):
        """Forces a job's fields now (State, Info, OutputArguments, ...)."""
        with self.lock:
            job = next(j for j in self.jobs if j["Id"] == job_id)
            job.update(fields)

    def advance(self, job):
        """Applies the steps of a job's plan that are due (under the lock)."""
        now = time.time()
        plan = job.get("_plan", [])
        while plan and plan[0][0] <= now:
            job.update(plan.pop(0)[1])
            if job["State"] in ("Successful", "Faulted", "Stopped") and not job.get("EndTime"):
                job["EndTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def add_logs(self, job_id, entries, delay=0.0):
        """Adds robot log entries to job job_id, visible from delay seconds
        from now: each (level, message), or (level, message, timestamp), or
        a dict of LogDto fields. Entries without a TimeStamp get one a
        millisecond after the entry before."""
        with self.lock:
            job = next(j for j in self.jobs if j["Id"] == job_id)
            job.setdefault("Key", str(uuid.uuid4()))
            out = self.robot_logs.setdefault(job["Key"], [])
            for e in entries:
                if not isinstance(e, dict):
                    e = dict(zip(("Level", "Message", "TimeStamp"), e))
                if not e.get("TimeStamp"):
                    # When it shows, to the millisecond, and after every entry before.
                    self.log_clock = max(int((time.time() + delay) * 1000), self.log_clock + 1)
                    e["TimeStamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.log_clock // 1000)) \
                        + ".%03dZ" % (self.log_clock % 1000)
                entry = {"Level": "Info", "WindowsIdentity": "ROBOT-7\\robot", "ProcessName": job["ReleaseName"],
                         "RobotName": "robot-7", "HostMachineName": "ROBOT-7", "JobKey": job["Key"],
                         "Id": 0, "_at": time.time() + delay}
                entry.update(e)
                entry["RawMessage"] = json.dumps({k: v for k, v in entry.items() if k != "_at"})
                out.append(entry)
        return job["Key"]

    def add_output_file(self, content, folder="Shared"):
        """An attachment holding content (bytes or str), as a robot leaves
        a big output: returns its Id, for a job's OutputFile."""
        aid = str(uuid.uuid4())
        with self.lock:
            self.attachments[aid] = {"Name": "output.json", "folder": folder,
                                     "requires_auth": self.blob_requires_auth}
            self.blobs[aid] = content.encode() if isinstance(content, str) else content
        return aid

    def blob_uri(self, aid):
        """The pre-signed URL of attachment aid: its signature is as good
        as a secret (orchd must not log it)."""
        return (f"{self.blob_scheme}://{BLOB_HOST}:{self.blob_server.server_address[1]}/blobs/{aid}"
                f"?sv=2023-01-03&sig={self.blob_sig}")

    def fault(self, *args, **kw):
        with self.lock:
            self.faults.append(Fault(*args, **kw))

    def revoke_tokens(self):
        """Revokes every access token issued so far (Orchestrator then says 401)."""
        with self.lock:
            for info in self.tokens.values():
                info["revoked"] = True

    def reset_counters(self):
        with self.lock:
            self.counts = {}
            self.log = []

    def count(self, endpoint):
        with self.lock:
            return self.counts.get(endpoint, 0)

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def base(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def url(self):
        return self.base + ORCH_PREFIX

    def start(self, port=0):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{self.certdir}/server.pem", f"{self.certdir}/server.key")
        ctx.set_alpn_protocols(["http/1.1"])
        fake = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 1024

            def handle_error(self, request, client_address):
                pass  # clients that hang up or distrust the CA are part of the tests

            def get_request(self):
                sock, addr = self.socket.accept()
                with fake.lock:
                    fake.connections += 1
                    fake.open_socks.append(sock)
                # Headers and body go out in two writes: without NODELAY,
                # Nagle and delayed ACKs would add 40 ms to every answer.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        class Handler(_Handler):
            pass
        Handler.fake = fake
        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

        class Blobs(_BlobHandler):
            pass
        Blobs.fake = fake
        self.blob_sig = "sig-" + secrets.token_hex(12)
        self.blob_server = Server((BLOB_HOST, 0), Blobs)
        threading.Thread(target=self.blob_server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for name in ("server", "blob_server"):
            srv = getattr(self, name)
            if srv:
                srv.shutdown()
                srv.server_close()
                setattr(self, name, None)

    def drop_connections(self):
        """Closes every connection accepted so far, as a server or a load
        balancer closing idle keep-alive connections does."""
        with self.lock:
            socks, self.open_socks = self.open_socks, []
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- state changes, under the lock ------------------------------
    def over_collection_limit(self):
        """Counts one collection query (Jobs or QueueItems) against the
        tenant's rolling minute; True when it must be refused with 429."""
        now = time.time()
        self.collection_times = [t for t in self.collection_times if t > now - 60] + [now]
        if self.collection_limit is not None and len(self.collection_times) > self.collection_limit:
            self.collection_429s += 1
            return True
        return False

    def take_fault(self, endpoint):
        with self.lock:
            for f in self.faults:
                if f.endpoint == endpoint and (f.times is None or f.times > 0):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def issue(self, client_id, scopes, grant_id=None, offline=False):
        now = time.time()
        exp = now + self.token_lifetime
        claims = {"iss": self.base + "/identity_", "sub": client_id, "sub_type": "service.external",
                  "client_id": client_id, "iat": int(now), "exp": int(exp)}
        if self.scope_claim == "string" and scopes:
            claims["scope"] = " ".join(scopes)
        elif self.scope_claim == "array" and scopes:
            claims["scope"] = list(scopes)
        header = {"alg": "RS256", "typ": "at+jwt"}
        token = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                          b64url(secrets.token_bytes(32))])
        self.tokens[token] = {"client_id": client_id, "scopes": set(scopes), "exp": exp,
                              "revoked": False, "grant": grant_id}
        answer = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer",
                  "scope": " ".join(scopes)}
        if offline:
            rt = secrets.token_urlsafe(32)
            self.refresh_tokens[rt] = {"client_id": client_id, "scopes": list(scopes),
                                       "grant": grant_id, "used": False}
            answer["refresh_token"] = rt
        return answer

    def new_refresh_token(self, client_id, scopes):
        """A refresh token as `orchd login` would have stored it."""
        with self.lock:
            return self.issue(client_id, list(scopes) + ["offline_access"],
                              grant_id=str(uuid.uuid4()), offline=True)["refresh_token"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        # A front door that closes idle keep-alive connections.
        self.timeout = self.fake.idle_close
        super().setup()
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, OSError):
            pass

    # ---- plumbing ----------------------------------------------------
    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def hang_up(self):
        """Closes the connection cleanly (TLS close_notify, FIN), no answer."""
        self.close_connection = True
        try:
            self.connection.unwrap().close()
        except (OSError, ValueError):
            pass

    def reset(self):
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            sock.close()
        except OSError:
            pass

    def record(self, endpoint, body):
        f = self.fake
        with f.lock:
            f.counts[endpoint] = f.counts.get(endpoint, 0) + 1
            hdrs = {k: v for k, v in self.headers.items() if k.lower().startswith("x-uipath")}
            f.log.append({"endpoint": endpoint, "method": self.command, "path": self.path,
                          "headers": hdrs, "body": body, "time": time.time()})

    def apply_fault(self, fault):
        """Returns True when the fault answered the request."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.reset:
            self.reset()
            return True
        if fault.close:
            self.hang_up()
            return True
        if fault.status:
            hdrs = {}
            if fault.retry_after is not None:
                hdrs["Retry-After"] = str(fault.retry_after)
            self.send_json(fault.status, fault.body or {"message": "injected fault", "errorCode": 0},
                           hdrs)
            return True
        return False

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def do_GET(self):
        self.received = time.time()     # token expiry is judged at receipt, not after queueing here
        self.route("GET", "")

    def do_POST(self):
        self.received = time.time()
        self.route("POST", self.read_body())

    def route(self, method, body):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if path == TOKEN_PATH and method == "POST":
            return self.token(body)
        if path == AUTHORIZE_PATH and method == "GET":
            return self.authorize(query)
        if path == DISCOVERY_PATH and method == "GET":
            # Static and unauthenticated: what orchd's upkeep asks for.
            self.record("discovery", "")
            return self.send_json(200, {"issuer": self.fake.base + "/identity_",
                                        "token_endpoint": self.fake.base + TOKEN_PATH})
        if path.startswith(ORCH_PREFIX + "/odata/"):
            rest = path[len(ORCH_PREFIX) + len("/odata/"):]
            if rest == "Releases" and method == "GET":
                return self.orch("releases", body, query)
            if rest == "Jobs/UiPath.Server.Configuration.OData.StartJobs" and method == "POST":
                return self.orch("start", body, query)
            m = re.fullmatch(r"Jobs\((\d+)\)", rest)
            if m and method == "GET":
                return self.orch("job_get", body, query, int(m.group(1)))
            m = re.fullmatch(r"Jobs\((\d+)\)/UiPath.Server.Configuration.OData.StopJob", rest)
            if m and method == "POST":
                return self.orch("stop_job", body, query, int(m.group(1)))
            if rest == "Jobs" and method == "GET":
                return self.orch("jobs_query", body, query)
            if rest == "Queues/UiPathODataSvc.AddQueueItem" and method == "POST":
                return self.orch("queue_add", body, query)
            m = re.fullmatch(r"QueueItems\((\d+)\)", rest)
            if m and method == "GET":
                return self.orch("queue_item", body, query, int(m.group(1)))
            if rest == "QueueItems" and method == "GET":
                return self.orch("queue_items_query", body, query)
            if rest == "QueueDefinitions" and method == "GET":
                return self.orch("queue_defs", body, query)
            if rest == "RobotLogs" and method == "GET":
                return self.orch("robot_logs", body, query)
            if rest == "Attachments" and method == "POST":
                return self.orch("attach_create", body, query)
            m = re.fullmatch(r"Attachments\(([0-9a-fA-F-]{36})\)", rest)
            if m and method == "GET":
                return self.orch("attach_get", body, query, m.group(1))
        self.record("other", body)
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        page = b"<html><body>Not Found</body></html>"
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    # ---- Identity ----------------------------------------------------
    def oauth_error(self, status, error, desc):
        self.send_json(status, {"error": error, "error_description": desc})

    def token(self, body):
        f = self.fake
        self.record("token", "(form)")
        fault = f.take_fault("token")
        if fault and self.apply_fault(fault):
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return self.oauth_error(400, "invalid_request", "form encoding expected")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
        if self.headers.get("Authorization") and "client_secret" in form:
            return self.oauth_error(400, "invalid_request", "only one client authentication method")
        with f.lock:
            app = f.apps.get(form.get("client_id", ""))
            grant = form.get("grant_type")
            if not app:
                return self.oauth_error(401, "invalid_client", "unknown client")
            if app.confidential and form.get("client_secret") != app.secret:
                return self.oauth_error(401, "invalid_client", "invalid client secret")
            if grant == "client_credentials":
                if "scope" not in form:
                    return self.send_json(200, f.issue(app.client_id, []))
                asked = form["scope"].split()
                for s in asked:
                    if s == "offline_access" or s not in app.scopes:
                        return self.oauth_error(400, "invalid_scope", f"scope {s} not allowed")
                    if "." not in s[3:] and any(a.startswith(s + ".") for a in asked):
                        return self.oauth_error(400, "invalid_scope", "scope overlap")
                return self.send_json(200, f.issue(app.client_id, asked))
            if grant == "refresh_token":
                rt = form.get("refresh_token", "")
                info = f.refresh_tokens.get(rt)
                if not info or info["client_id"] != app.client_id or info["grant"] in f.revoked_grants:
                    return self.oauth_error(400, "invalid_grant", "grant request is invalid")
                if info["used"]:
                    # Reuse of a rotated token: revoke the whole grant.
                    f.revoked_grants.add(info["grant"])
                    return self.oauth_error(400, "invalid_grant", "grant request is invalid")
                info["used"] = True
                return self.send_json(200, f.issue(app.client_id, info["scopes"], info["grant"],
                                                   offline=True))
            if grant == "authorization_code":
                code = f.codes.get(form.get("code", ""))
                if not code or code["used"] or code["client_id"] != app.client_id:
                    return self.oauth_error(400, "invalid_grant", "grant request is invalid")
                code["used"] = True
                if form.get("redirect_uri") != code["redirect_uri"]:
                    return self.oauth_error(400, "invalid_grant", "redirect_uri mismatch")
                verifier = form.get("code_verifier", "")
                if b64url(hashlib.sha256(verifier.encode()).digest()) != code["challenge"]:
                    return self.oauth_error(400, "invalid_grant", "PKCE verification failed")
                scopes = code["scopes"]
                return self.send_json(200, f.issue(app.client_id, scopes, str(uuid.uuid4()),
                                                   offline="offline_access" in scopes))
            return self.oauth_error(400, "unsupported_grant_type", "unsupported grant type")

    def authorize(self, query):
        f = self.fake
        self.record("authorize", "")
        q = {k: v[0] for k, v in query.items()}
        with f.lock:
            app = f.apps.get(q.get("client_id", ""))
            if not app or q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" \
                    or not q.get("code_challenge") or not q.get("redirect_uri"):
                return self.send_json(400, {"error": "invalid_request"})
            scopes = q.get("scope", "").split()
            code = secrets.token_urlsafe(16)
            f.codes[code] = {"client_id": app.client_id, "challenge": q["code_challenge"],
                             "redirect_uri": q["redirect_uri"], "scopes": scopes, "used": False}
        sep = "&" if "?" in q["redirect_uri"] else "?"
        loc = q["redirect_uri"] + sep + urllib.parse.urlencode(
            {"code": code, "state": q.get("state", ""), "iss": f.base + "/identity_"})
        self.send_response(302)
        self.send_header("Location", loc)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ---- Orchestrator ------------------------------------------------
    def folder_of_request(self):
        """Returns (path, error answer) from the one folder header."""
        f = self.fake
        h = self.headers
        if h.get("X-UIPATH-FolderPath-Encoded"):
            try:
                return base64.b64decode(h["X-UIPATH-FolderPath-Encoded"], validate=True).decode("utf-16-le"), None
            except Exception:
                return None, (400, {"message": "Invalid encoded folder path", "errorCode": 1000})
        if h.get("X-UIPATH-FolderPath"):
            return h["X-UIPATH-FolderPath"], None
        if h.get("X-UIPATH-OrganizationUnitId"):
            want = int(h["X-UIPATH-OrganizationUnitId"])
            for path, fid in f.folders.items():
                if fid == want:
                    return path, None
            return None, (400, {"message": "Folder does not exist or the user does not have access to the folder.",
                                "errorCode": 1100, "traceId": "t"})
        return None, (400, {"message": "A folder is required for this action.", "errorCode": 1101,
                            "traceId": "t"})

    def orch(self, endpoint, body, query, job_id=None):
        f = self.fake
        with f.lock:
            f.inflight += 1
            f.max_inflight = max(f.max_inflight, f.inflight)
        try:
            self.orch_inner(endpoint, body, query, job_id)
        finally:
            with f.lock:
                f.inflight -= 1

    def orch_inner(self, endpoint, body, query, job_id=None):
        f = self.fake
        self.record(endpoint, body)
        fault = f.take_fault(endpoint)
        if fault and not fault.after_create and self.apply_fault(fault):
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with f.lock:
            info = f.tokens.get(token)
            if info and self.received >= info["exp"]:
                f.expired_uses += 1
            if not info or info["revoked"] or self.received >= info["exp"]:
                return self.send_json(401, {"message": "You are not authenticated!", "errorCode": 0})
            if not info["scopes"] & ENDPOINT_SCOPES[endpoint]:
                return self.send_json(403, NOT_AUTHORIZED)
            if endpoint == "robot_logs" and not self.headers.get("X-UIPATH-OrganizationUnitId"):
                # RobotLogs takes the folder by id only.
                return self.send_json(400, {"message": "A folder is required for this action.",
                                            "errorCode": 1101, "traceId": "t"})
            folder, err = self.folder_of_request()
            if err:
                return self.send_json(*err)
            if folder not in f.folders:
                return self.send_json(400, {"message": "Folder does not exist or the user does not have access to the folder.",
                                            "errorCode": 1100, "traceId": "t"})
            app = f.apps.get(info["client_id"])
            if app and folder not in app.folders:
                return self.send_json(403, NOT_AUTHORIZED)
            if endpoint == "releases":
                return self.send_json(*self.releases(folder, query))
            if endpoint == "queue_defs":
                return self.send_json(*self.queue_defs(folder, query))
            if endpoint == "robot_logs":
                return self.send_json(*self.robot_logs(folder, query))
            if endpoint == "queue_item":
                items = [i for i in f.items if i["Id"] == job_id and i["folder"] == folder]
                if not items:
                    return self.send_json(404, {"message": "Queue item does not exist.", "errorCode": 1002})
                return self.send_json(200, public_item(items[0]))
            if endpoint == "queue_items_query":
                if f.over_collection_limit():
                    return self.send_json(429, {"message": "Too many requests", "errorCode": 0},
                                          {"Retry-After": str(f.collection_retry_after)})
                return self.send_json(*self.queue_items(folder, query))
            if endpoint in ("attach_create", "attach_get"):
                return self.send_json(*self.attachment(endpoint, folder, body, job_id))
            if endpoint == "queue_add":
                status, answer = self.add_queue_item(folder, body)
            elif endpoint == "start":
                status, answer = self.start_jobs(folder, body)
            elif endpoint in ("job_get", "stop_job"):
                jobs = [j for j in f.jobs if j["Id"] == job_id and j["folder"] == folder]
                if not jobs:
                    return self.send_json(404, {"message": "Job does not exist.", "errorCode": 1002})
                f.advance(jobs[0])
                if endpoint == "job_get":
                    return self.send_json(200, public_job(jobs[0]))
                try:
                    strategy = json.loads(body)["strategy"]
                except Exception:
                    strategy = None
                if strategy not in ("SoftStop", "Kill", "1", "2"):
                    return self.send_json(400, {"message": "strategy is required", "errorCode": 1000})
                f.stops.append((job_id, strategy))
                if jobs[0]["State"] not in ("Successful", "Faulted", "Stopped"):
                    # Stopping now, Stopped a moment later (Kill sooner).
                    jobs[0]["State"] = "Stopping"
                    f.plan(job_id, [(0.2 if strategy in ("Kill", "2") else 0.5,
                                     {"State": "Stopped", "Info": "Job stopped"})])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            else:
                flt = query.get("$filter", [""])[0]
                # The tenant's budget: collection queries a rolling minute.
                if f.over_collection_limit():
                    return self.send_json(429, {"message": "Too many requests", "errorCode": 0},
                                          {"Retry-After": str(f.collection_retry_after)})
                ids = re.fullmatch(r"Id in \((\d+(?:,\d+)*)\)", flt)
                if ids:
                    wanted = [int(x) for x in ids.group(1).split(",")]
                    f.collection_sizes.append(len(wanted))
                    select = query.get("$select", [""])[0].split(",") if "$select" in query else None
                    value = []
                    for j in f.jobs:
                        if j["Id"] in wanted and j["folder"] == folder:
                            f.advance(j)
                            pj = public_job(j)
                            # Collections carry no arguments, as the real server does.
                            pj["InputArguments"] = pj["OutputArguments"] = None
                            value.append({k: pj.get(k) for k in select} if select else pj)
                    return self.send_json(200, {"value": value})
                m = re.fullmatch(r"Reference eq '((?:[^']|'')*)'", flt)
                if not m:
                    return self.send_json(400, {"message": "unsupported filter", "errorCode": 1000})
                ref = m.group(1).replace("''", "'")
                return self.send_json(200, {"value": [public_job(j) for j in f.jobs
                                                      if j.get("Reference") == ref and j["folder"] == folder]})
        if fault and fault.after_create:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                return self.reset()
            if fault.close:
                return self.hang_up()
            return self.send_json(fault.status or 502, {"message": "Bad Gateway"})
        self.send_json(status, answer)

    def releases(self, folder, query):
        f = self.fake
        flt = query.get("$filter", [""])[0]
        m = re.fullmatch(r"Name eq '((?:[^']|'')*)'", flt)
        if flt and not m:
            return 400, {"message": "The query specified in the URI is not valid.", "errorCode": 1000}
        name = m.group(1).replace("''", "'") if m else None
        top = int(query.get("$top", ["1000"])[0])
        # SQL Server's default collation: Name eq '..' ignores case.
        found = [r for r in f.releases
                 if r["folder"] == folder and (name is None or name.lower() == r["Name"].lower())][:top]
        value = [{"Key": r["Key"], "Name": r["Name"], "ProcessKey": r["ProcessKey"],
                  "ProcessVersion": "1.0.3", "Id": r["Id"], "OrganizationUnitId": f.folders[folder]}
                 for r in found]
        return 200, {"@odata.context": "https://x/odata/$metadata#Releases", "value": value}

    def queue_defs(self, folder, query):
        f = self.fake
        flt = query.get("$filter", [""])[0]
        by_name = re.fullmatch(r"Name eq '((?:[^']|'')*)'", flt)
        by_id = re.fullmatch(r"Id eq (\d+)", flt)
        if not (by_name or by_id):
            return 400, {"message": "The query specified in the URI is not valid.", "errorCode": 1000}
        top = int(query.get("$top", ["1000"])[0])
        found = [q for q in f.queues if q["folder"] == folder and (
            (by_name and q["Name"].lower() == by_name.group(1).replace("''", "'").lower())
            or (by_id and q["Id"] == int(by_id.group(1))))][:top]
        return 200, {"value": [{"Id": q["Id"], "Name": q["Name"], "EnforceUniqueReference": q["unique"],
                                "OrganizationUnitId": f.folders[folder]} for q in found]}

    def robot_logs(self, folder, query):
        """GET /odata/RobotLogs as the v20 definition describes it: $filter
        terms joined by "and" (JobKey eq <guid>, Level ge '<n>', TimeStamp
        gt|ge|lt|eq <date-time>), $orderby TimeStamp asc|desc, $top (at most
        1000), $skip; only the entries of jobs in the header's folder."""
        f = self.fake
        flt = query.get("$filter", [""])[0]
        tests = []
        for term in flt.split(" and ") if flt else []:
            m = re.fullmatch(r"\(?JobKey eq ([0-9a-fA-F-]{36})\)?", term)
            if m:
                tests.append(lambda e, k=m.group(1).lower(): e["JobKey"].lower() == k)
                continue
            m = re.fullmatch(r"\(?Level ge '([0-5])'\)?", term)
            if m:
                tests.append(lambda e, n=int(m.group(1)): LOG_LEVELS.index(e["Level"]) >= n)
                continue
            m = re.fullmatch(r"\(?TimeStamp (gt|ge|lt|eq) (\S+?)\)?", term)
            if m and timestamp_key(m.group(2)):
                op, t = m.group(1), timestamp_key(m.group(2))
                tests.append(lambda e, op=op, t=t: {"gt": timestamp_key(e["TimeStamp"]) > t,
                                                    "ge": timestamp_key(e["TimeStamp"]) >= t,
                                                    "lt": timestamp_key(e["TimeStamp"]) < t,
                                                    "eq": timestamp_key(e["TimeStamp"]) == t}[op])
                continue
            return 400, {"message": "The query specified in the URI is not valid.", "errorCode": 1000}
        order = query.get("$orderby", ["TimeStamp asc"])[0]
        if order not in ("TimeStamp asc", "TimeStamp desc", "TimeStamp"):
            return 400, {"message": "The query specified in the URI is not valid.", "errorCode": 1000}
        top = int(query.get("$top", ["1000"])[0])
        skip = int(query.get("$skip", ["0"])[0])
        if top > 1000:
            return 400, {"message": "The limit of '1000' for Top query has been exceeded.", "errorCode": 1000}
        keys = {j["Key"] for j in f.jobs if j["folder"] == folder and j.get("Key")}
        now = time.time()
        found = [e for k, entries in f.robot_logs.items() if k in keys for e in entries
                 if e["_at"] <= now and all(t(e) for t in tests)]
        found.sort(key=lambda e: timestamp_key(e["TimeStamp"]), reverse=order.endswith("desc"))
        return 200, {"@odata.context": "https://x/odata/$metadata#RobotLogs",
                     "value": [{k: v for k, v in e.items() if k != "_at"} for e in found[skip:skip + top]]}

    def queue_items(self, folder, query):
        f = self.fake
        flt = query.get("$filter", [""])[0]
        m = re.fullmatch(r"Reference eq '((?:[^']|'')*)' and QueueDefinitionId eq (\d+)", flt)
        if not m:
            return 400, {"message": "unsupported filter", "errorCode": 1000}
        ref, qid = m.group(1).replace("''", "'"), int(m.group(2))
        top = int(query.get("$top", ["1000"])[0])
        select = query.get("$select", [""])[0].split(",") if "$select" in query else None
        found = [public_item(i) for i in f.items
                 if i["folder"] == folder and i["Reference"] == ref and i["QueueDefinitionId"] == qid][:top]
        return 200, {"value": [{k: i.get(k) for k in select} if select else i for i in found]}

    def add_queue_item(self, folder, body):
        """AddQueueItem, validated as docs/orchestrator.md section 9 says."""
        f = self.fake
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return 415, {"message": "Unsupported media type", "errorCode": 1000}
        try:
            data = json.loads(body)["itemData"]
            if not isinstance(data, dict):
                raise ValueError
        except Exception:
            return 400, {"message": "itemData is required", "errorCode": 1000}
        name = data.get("Name")
        queue = [q for q in f.queues if q["folder"] == folder and isinstance(name, str)
                 and q["Name"].lower() == name.lower()]
        if not queue:
            return 404, {"message": "Queue does not exist.", "errorCode": 1002}
        priority = data.get("Priority", "Normal")
        if priority not in ("Low", "Normal", "High"):
            return 400, {"message": "Priority is invalid", "errorCode": 1000}
        ref = data.get("Reference")
        if ref is not None and (not isinstance(ref, str) or len(ref) > 128):
            return 400, {"message": "Reference is too long", "errorCode": 1000}
        content = data.get("SpecificContent")
        if content is not None and (not isinstance(content, dict)
                                    or len(json.dumps(content, separators=(",", ":"), ensure_ascii=False)) > 256000):
            return 400, {"message": "SpecificContent is invalid or too long", "errorCode": 1000}
        for k in ("DeferDate", "DueDate"):
            v = data.get(k)
            if v is not None and not (isinstance(v, str) and ISO_DATE.fullmatch(v)):
                return 400, {"message": f"{k} is not a date", "errorCode": 1000}
        unknown = set(data) - {"Name", "Priority", "SpecificContent", "Reference", "DeferDate", "DueDate",
                               "Progress", "RiskSlaDate"}
        if unknown:
            return 400, {"message": f"unknown fields {sorted(unknown)}", "errorCode": 1000}
        q = queue[0]
        if q["unique"] and ref is not None and any(
                i["QueueDefinitionId"] == q["Id"] and i["Reference"] == ref for i in f.items):
            return f.duplicate_status, {"message": "Error creating Transaction. Duplicate Reference.",
                                        "errorCode": 0, "traceId": "t"}
        item = {"Id": f.next_item_id, "Key": str(uuid.uuid4()), "Status": "New", "Reference": ref,
                "QueueDefinitionId": q["Id"], "Priority": priority, "SpecificContent": content,
                "DeferDate": data.get("DeferDate"), "DueDate": data.get("DueDate"), "Output": None,
                "ProcessingException": None, "folder": folder,
                "CreationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        f.next_item_id += 1
        f.items.append(item)
        return 201, public_item(item)

    def attachment(self, endpoint, folder, body, aid):
        """POST /odata/Attachments {"Name"} and GET /odata/Attachments(<id>):
        the AttachmentDto with BlobFileAccess, as both SDKs read it."""
        f = self.fake
        if endpoint == "attach_create":
            try:
                name = json.loads(body)["Name"]
                if not isinstance(name, str) or not name:
                    raise ValueError
            except Exception:
                return 400, {"message": "Name is required", "errorCode": 1000}
            aid = str(uuid.uuid4())
            f.attachments[aid] = {"Name": name, "folder": folder, "requires_auth": f.blob_requires_auth}
            headers = f.blob_headers
        else:
            att = f.attachments.get(aid)
            if not att or att["folder"] != folder:
                return 404, {"message": "Attachment does not exist.", "errorCode": 1002}
            headers = {}
        att = f.attachments[aid]
        return (201 if endpoint == "attach_create" else 200), {
            "Id": aid, "Name": att["Name"], "JobKey": None, "Category": None,
            "BlobFileAccess": {"Uri": f.blob_uri(aid), "Verb": "PUT" if endpoint == "attach_create" else "GET",
                               "RequiresAuth": att["requires_auth"],
                               "Headers": {"Keys": list(headers), "Values": list(headers.values())}}}

    def start_jobs(self, folder, body):
        f = self.fake
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return 415, {"message": "Unsupported media type", "errorCode": 1000}
        try:
            si = json.loads(body)["startInfo"]
        except Exception:
            return 400, {"message": "startInfo is required", "errorCode": 1000}
        key = si.get("ReleaseKey")
        rel = [r for r in f.releases if r["Key"] == key and r["folder"] == folder]
        if not rel:
            return 404, {"message": "Release does not exist.", "errorCode": 1002}
        if si.get("Strategy", "ModernJobsCount") != "ModernJobsCount":
            return 400, {"message": "Strategy not supported in modern folders", "errorCode": 1000}
        count = si.get("JobsCount", 1)
        if not isinstance(count, int) or count < 1:
            return 400, {"message": "JobsCount must be positive", "errorCode": 1000}
        args = si.get("InputArguments")
        input_file = si.get("InputFile")
        job_input = args
        if input_file is not None:
            # The attachment's blob is the input (what the robot gets).
            att = f.attachments.get(input_file) if isinstance(input_file, str) else None
            if args is not None:
                return 400, {"message": "InputArguments and InputFile are exclusive", "errorCode": 1000}
            if not att or att["folder"] != folder or input_file not in f.blobs:
                return 400, {"message": "InputFile is not an uploaded attachment of this folder",
                             "errorCode": 1000}
            job_input = f.blobs[input_file].decode("utf-8", "replace")
        if args is not None:
            if not isinstance(args, str):
                return 400, {"message": "InputArguments must be a string", "errorCode": 1000}
            # .NET counts UTF-16 code units.
            if len(args.encode("utf-16-le")) // 2 > 10000:
                return 400, {"message": INPUT_TOO_LONG, "errorCode": 1000, "traceId": "t"}
            try:
                if not isinstance(json.loads(args), dict):
                    raise ValueError
            except ValueError:
                return 400, {"message": "InputArguments is not a JSON object", "errorCode": 1000}
        # The options of StartProcessDto (v20), typed as the definition types them.
        ep = si.get("EntryPointPath")
        if ep is not None and (not isinstance(ep, str) or len(ep) > 512):
            return 400, {"message": "EntryPointPath must be a string of at most 512 characters",
                         "errorCode": 1000}
        if "RunAsMe" in si and not isinstance(si["RunAsMe"], bool):
            return 400, {"message": "RunAsMe must be a boolean", "errorCode": 1000}
        for k in ("StopProcessExpression", "KillProcessExpression"):
            if k in si and not isinstance(si[k], str):
                return 400, {"message": f"{k} must be a string", "errorCode": 1000}
        ref = si.get("Reference")
        if ref is not None and len(ref) > 128:
            return 400, {"message": "Reference is too long", "errorCode": 1000}
        created = []
        for _ in range(count):
            job = {"Key": str(uuid.uuid4()), "Id": f.next_job_id, "State": "Pending",
                   "Reference": ref, "ReleaseName": rel[0]["Name"], "folder": folder,
                   "InputArguments": args, "_input": job_input, "InputFile": input_file,
                   "JobPriority": si.get("JobPriority"),
                   "SpecificPriorityValue": si.get("SpecificPriorityValue"),
                   "RuntimeType": si.get("RuntimeType"), "EntryPointPath": ep,
                   "RunAsMe": si.get("RunAsMe"),
                   "StopProcessExpression": si.get("StopProcessExpression"),
                   "KillProcessExpression": si.get("KillProcessExpression"),
                   # The job's folder, as a JobDto carries it.
                   "OrganizationUnitId": f.folders[folder], "OrganizationUnitFullyQualifiedName": folder,
                   "CreationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            f.next_job_id += 1
            f.jobs.append(job)
            if f.job_plan:
                now = time.time()
                job["_plan"] = [(now + t, dict(fields)) for t, fields in f.job_plan]
            created.append(public_job(job))
            if f.logs_plan:
                for t, level, message in f.logs_plan:
                    f.add_logs(job["Id"], [(level, message)], delay=t)
        return 201, {"@odata.context": "https://x/odata/$metadata#Jobs", "value": created}


class _BlobHandler(_Handler):
    """The blob store (Azure-like): PUT stores the bytes of an attachment
    orchd was given, GET gives them back. A PUT needs x-ms-blob-type:
    BlockBlob (400 without, as Azure); a bearer token must come exactly when
    the attachment's RequiresAuth was true (401 without one, 400 with one
    not asked for). Everything received is kept in fake.blob_log."""

    def do_PUT(self):
        self.received = time.time()
        self.blob("PUT", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_GET(self):
        self.received = time.time()
        self.blob("GET", b"")

    def do_POST(self):
        self.blob("POST", self.read_body().encode())

    def blob(self, method, body):
        f = self.fake
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        m = re.fullmatch(r"/blobs/([0-9a-f-]{36})", url.path)
        auth = self.headers.get("Authorization")
        with f.lock:
            f.blob_log.append({"method": method, "path": self.path, "headers": dict(self.headers.items()),
                               "auth": auth, "len": len(body), "time": time.time()})
            f.counts["blob_" + method.lower()] = f.counts.get("blob_" + method.lower(), 0) + 1
        with f.lock:
            f.blob_inflight += 1
            f.blob_max_inflight = max(f.blob_max_inflight, f.blob_inflight)
        try:
            self.blob_inner(method, body, m, query, auth)
        finally:
            with f.lock:
                f.blob_inflight -= 1

    def blob_inner(self, method, body, m, query, auth):
        f = self.fake
        fault = f.take_fault("blob_" + method.lower())
        if fault and self.apply_fault(fault):
            return
        with f.lock:
            att = f.attachments.get(m.group(1)) if m else None
            if not att or query.get("sig") != [f.blob_sig] or method not in ("PUT", "GET"):
                return self.send_json(403, {"error": "AuthenticationFailed"})
            if att["requires_auth"]:
                info = f.tokens.get(auth[7:] if auth and auth.startswith("Bearer ") else "")
                if not info or info["revoked"] or self.received >= info["exp"]:
                    return self.send_json(401, {"error": "token required"})
            elif auth is not None:
                return self.send_json(400, {"error": "a token was sent where none was asked for"})
            if method == "PUT":
                if self.headers.get("x-ms-blob-type") != "BlockBlob":
                    return self.send_json(400, {"error": "MissingRequiredHeader x-ms-blob-type"})
                f.blobs[m.group(1)] = body
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = f.blobs.get(m.group(1))
        if data is None:
            return self.send_json(404, {"error": "BlobNotFound"})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass    # orchd stops reading at its cap


def public_item(item):
    """The queue item as Orchestrator gives it (QueueItemDto)."""
    return {k: v for k, v in item.items() if k != "folder"}


def public_job(job):
    """The job as Orchestrator gives it: every JobDto field orchd reads, null
    when unset."""
    out = {"Info": None, "OutputArguments": None, "StartTime": None, "EndTime": None,
           "HostMachineName": None}
    out.update({k: v for k, v in job.items() if k != "folder" and not k.startswith("_")})
    return out


if __name__ == "__main__":
    import argparse
    import tempfile
    p = argparse.ArgumentParser(description="run the fake Orchestrator alone")
    p.add_argument("--dir", default=None)
    a = p.parse_args()
    d = a.dir or tempfile.mkdtemp()
    fake = Fake(d).start()
    fake.add_app("demo-app", "demo-secret", ["OR.Jobs.Write", "OR.Execution.Read", "OR.Jobs.Read"])
    fake.add_release("Invoice Bot", "Shared")
    print(f"url = {fake.url}\nca_file = {fake.ca}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
