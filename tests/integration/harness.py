"""harness.py — what every integration test shares.

Server starts the real fitd binary on a free port (--port 0, the port read
back from its "fitd listening on http://127.0.0.1:PORT" log line) with a
fresh temporary database, captures stdout and stderr to files that the runner
prints when a test fails, and stops it with SIGTERM (checking the exit code)
or SIGKILL. Client speaks HTTP with http.client, one connection per request.
FitdCase is the unittest base class: it knows the configuration the runner
set (binary, timeout scale) and the servers a test started, and has the
assertions the API contract calls for (the exact error body, RFC 3339 times).

Standard library only.
"""
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))


class Config:
    """Set once by run.py before any test runs."""
    binary = os.path.join(ROOT, "build", "fitd")
    scale = 1.0          # timeouts are multiplied by this (5 under ThreadSanitizer)
    slow = False
    tmp_root = None      # every server's folder lives under it
    verbose = False
    pg = None            # a pgserver.PgServer when the run is on PostgreSQL
    pg_databases = 0


def start_postgres():
    """Runs every later Server on a fresh database of one real PostgreSQL."""
    import pgserver
    Config.pg = pgserver.PgServer()
    Config.pg.start()


def stop_postgres():
    if Config.pg:
        Config.pg.stop()
        Config.pg = None


def on_postgres():
    return Config.pg is not None


def sqlite_only(why):
    """Skips a test (or class) on PostgreSQL: it reads or damages SQLite's own files."""
    return lambda obj: _skip_on_pg(obj, why)


def _skip_on_pg(obj, why):
    if isinstance(obj, type):
        setup = obj.setUpClass.__func__

        def setUpClass(cls):
            if on_postgres():
                raise unittest.SkipTest("SQLite only: " + why)
            setup(cls)
        obj.setUpClass = classmethod(setUpClass)
        return obj

    def run(self, *a, **kw):
        if on_postgres():
            raise unittest.SkipTest("SQLite only: " + why)
        return obj(self, *a, **kw)
    run.__name__ = obj.__name__
    run.__doc__ = obj.__doc__
    return run


def fresh_database():
    """A new database for a server: a file name in its folder, or a new
    PostgreSQL database's URI."""
    Config.pg_databases += 1
    return Config.pg.create_database("fitd_%d" % Config.pg_databases)


def T(seconds):
    """A timeout, widened for slow (sanitizer) builds."""
    return seconds * Config.scale


def tmpdir(prefix):
    if Config.tmp_root is None:
        Config.tmp_root = tempfile.mkdtemp(prefix="fitd-it-")
    return tempfile.mkdtemp(prefix=prefix + "-", dir=Config.tmp_root)


# ---- HTTP ------------------------------------------------------------------------------


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # http.client.HTTPMessage: case-insensitive get()
        self.body = body            # bytes
        self._json = None

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:300]))
        return self._json

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<%d %s %s>" % (self.status, self.reason, self.body[:400])


class Client:
    def __init__(self, port, host="127.0.0.1", headers=None):
        self.host = host
        self.port = port
        self.default_headers = dict(headers or {})

    def request(self, method, path, json_body=None, body=None, headers=None, timeout=None):
        """One request on a new connection. json_body is serialised (with
        Content-Type application/json); body is sent as is (str or bytes)."""
        h = dict(self.default_headers)
        if json_body is not None:
            body = json.dumps(json_body)
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or T(30))
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.headers, data)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def put(self, path, json_body=None, **kw):
        return self.request("PUT", path, json_body=json_body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def raw_exchange(port, head, chunks, timeout=None):
    """Sends head (bytes) then each body chunk, on a raw socket, while a
    second thread reads the answer: a server that answers early (413) and
    closes may reset the connection before the client has sent everything,
    and the answer must be read as soon as it comes. Returns (status,
    headers dict with lower-case names, body bytes, send_error)."""
    timeout = timeout or T(30)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = bytearray()
    done = threading.Event()

    def reader():
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received.extend(data)
                if response_complete(bytes(received)):
                    break
        except OSError:
            pass
        finally:
            done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    send_error = None
    try:
        sock.sendall(head)
        for c in chunks:
            if done.is_set():
                break
            sock.sendall(c)
    except OSError as e:
        send_error = e
    done.wait(timeout)
    try:
        sock.close()
    except OSError:
        pass
    return parse_response(bytes(received)) + (send_error,)


def split_head(data):
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return None, None
    return data[:i].decode("latin-1"), data[i + 4:]


def response_complete(data):
    head, rest = split_head(data)
    if head is None:
        return False
    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
    if m:
        return len(rest) >= int(m.group(1))
    if re.search(r"(?im)^transfer-encoding:\s*chunked", head):
        return rest.endswith(b"0\r\n\r\n")
    return False


def parse_response(data):
    head, rest = split_head(data)
    if head is None:
        return (None, {}, data)
    lines = head.split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            i = rest.find(b"\r\n")
            if i < 0:
                break
            n = int(rest[:i].split(b";")[0], 16)
            if n == 0:
                break
            body += rest[i + 2:i + 2 + n]
            rest = rest[i + 2 + n + 2:]
        rest = bytes(body)
    elif "content-length" in headers:
        rest = rest[:int(headers["content-length"])]
    return (status, headers, rest)


# ---- the server ----------------------------------------------------------------------------

LISTEN_RE = re.compile(r"fitd listening on http://127\.0\.0\.1:(\d+)")


class ServerError(AssertionError):
    pass


ALL_SERVERS = []   # every Server made, in order, for the runner's failure reports


class Server:
    """The real fitd binary. db: a database path (a new one in a fresh
    folder by default), so a test can restart a server on the same file."""

    def __init__(self, args=(), db=None, workers=2, name="fitd", env=None):
        ALL_SERVERS.append(self)
        self.dir = tmpdir(name)
        self.node_id = "%s-%d" % (re.sub(r"[^A-Za-z0-9._:@-]", "_", name)[:100], len(ALL_SERVERS))
        self.db = db or (fresh_database() if on_postgres() else os.path.join(self.dir, "fitd.db"))
        self.args = list(args)
        self.workers = workers
        self.env = env
        self.proc = None
        self.port = None
        self.client = None
        self.runs = 0
        self.logs = []          # (stdout path, stderr path) of every run
        self.exit_codes = []

    # The command line of a run; --workers and --share-dir come first so a
    # test's own args can override them.
    def command(self):
        # A node id that stays the same across restarts (the default names the pid with --port 0).
        return [Config.binary, "--port", "0", "--db", self.db, "--workers", str(self.workers),
                "--share-dir", ROOT, "--node-id", self.node_id] + self.args

    def start(self, wait_ready=True, timeout=None):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        out_path = os.path.join(self.dir, "run%d.stdout" % self.runs)
        err_path = os.path.join(self.dir, "run%d.stderr" % self.runs)
        self.logs.append((out_path, err_path))
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=self.dir, env=env)
        if not wait_ready:
            return self
        self.port = None
        deadline = time.monotonic() + (timeout or T(20))
        while self.port is None:
            m = LISTEN_RE.search(self.read(out_path))
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise ServerError("fitd exited with code %s before listening\n%s" %
                                  (self.proc.returncode, self.log_text(tail=40)))
            if time.monotonic() > deadline:
                raise ServerError("fitd did not log its port in time\n%s" % self.log_text(tail=40))
            time.sleep(0.02)
        self.client = Client(self.port)
        while True:
            try:
                if self.client.get("/healthz", timeout=T(5)).status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise ServerError("fitd exited with code %s before /healthz answered\n%s" %
                                  (self.proc.returncode, self.log_text(tail=40)))
            if time.monotonic() > deadline:
                raise ServerError("/healthz did not answer 200 in time\n%s" % self.log_text(tail=40))
            time.sleep(0.02)
        return self

    @staticmethod
    def read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_codes.append(code)
        return code

    def stop(self, expect_code=0, timeout=None):
        """SIGTERM and wait; the exit code must be expect_code (None: any)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        code = self.wait_exit(timeout or T(30))
        if code is None:
            self.proc.kill()
            self.proc.wait()
            raise ServerError("fitd did not exit within %.0f s of SIGTERM\n%s" %
                              (timeout or T(30), self.log_text(tail=40)))
        if expect_code is not None and code != expect_code:
            raise ServerError("fitd exited with code %d after SIGTERM, expected %d\n%s" %
                              (code, expect_code, self.log_text(tail=40)))
        return code

    def kill(self):
        """SIGKILL: a crash."""
        if self.running():
            self.proc.kill()
            self.wait_exit(T(30))

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def log_text(self, tail=None):
        parts = []
        for i, (o, e) in enumerate(self.logs, 1):
            for label, path in (("stdout", o), ("stderr", e)):
                text = self.read(path)
                if not text:
                    continue
                lines = text.splitlines()
                if tail and len(lines) > tail:
                    lines = ["... (%d lines cut)" % (len(lines) - tail)] + lines[-tail:]
                parts.append("--- %s run %d %s (%s) ---\n%s" % (
                    os.path.basename(self.dir), i, label, path, "\n".join(lines)))
        return "\n".join(parts)

    def stderr_text(self):
        return "".join(self.read(e) for _, e in self.logs)

    def cleanup(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()


def _pg_value(text):
    if text == "":
        return None
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def db_query(path, sql):
    """One query on a read-only connection that is closed at once, so that
    it never holds a lock or a snapshot across the server's work. On
    PostgreSQL (path is a URI) through psql: numbers come back as numbers,
    bytea as bytes, NULL (and "") as None."""
    if path.startswith("postgresql://"):
        out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-d", path,
                              "-c", sql], capture_output=True, text=True, check=True).stdout
        return [tuple(_pg_value(v) for v in line.split("\x1f")) for line in out.split("\n") if line]
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---- data ------------------------------------------------------------------------------------


def blobs(n=400, features=16, classes=4, seed=1, spread=0.6):
    """A learnable classification set: n points around one centre per class.
    Returns (x rows, integer labels)."""
    rng = random.Random(seed)
    centres = [[rng.uniform(-2, 2) for _ in range(features)] for _ in range(classes)]
    x, y = [], []
    for i in range(n):
        c = i % classes
        x.append([round(centres[c][j] + rng.gauss(0, spread), 4) for j in range(features)])
        y.append(c)
    order = list(range(n))
    rng.shuffle(order)
    return [x[i] for i in order], [y[i] for i in order]


def one_hot(labels, classes):
    return [[1 if j == c else 0 for j in range(classes)] for c in labels]


def mlp_body(input_dim=16, hidden=(25, 15), outputs=4, seed=42, name=None, loss="sparse_categorical_crossentropy",
             optimizer=None, metrics=("accuracy",), out_act="softmax"):
    """A model body; without a name unless one is given (names are unique:
    a second model of the same name is a 409)."""
    layers = [{"type": "dense", "units": u, "activation": "relu"} for u in hidden]
    layers.append({"type": "dense", "units": outputs, "activation": out_act})
    body = {"input_dim": input_dim, "layers": layers, "loss": loss,
            "optimizer": optimizer or {"type": "adam", "learning_rate": 0.001},
            "metrics": list(metrics)}
    if name is not None:
        body["name"] = name
    if seed is not None:
        body["seed"] = seed
    return body


def f32(v):
    """v rounded to float32, as the server stores it."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def weights_sha256(weights):
    """SHA-256 of GET /v1/models/{id}/weights as little-endian float32 in
    get_weights() order (each layer's kernel row by row, then its bias)."""
    h = hashlib.sha256()
    for layer in weights["layers"]:
        for row in layer["kernel"]:
            h.update(struct.pack("<%df" % len(row), *row))
        if "bias" in layer:
            h.update(struct.pack("<%df" % len(layer["bias"]), *layer["bias"]))
    return h.hexdigest()


RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
FINAL = ("succeeded", "failed", "cancelled")

# Sentinel: do not check the error's field.
ANY = object()


class FitdCase(unittest.TestCase):
    """Base class: server bookkeeping and the contract's assertions."""

    maxDiff = 4000
    class_servers = ()

    @classmethod
    def start_class_server(cls, *args, **kw):
        s = Server(*args, **kw)
        cls.class_servers = list(cls.class_servers) + [s]
        s.start()
        return s

    @classmethod
    def tearDownClass(cls):
        for s in cls.class_servers:
            s.cleanup()

    def setUp(self):
        self.servers = []

    def server(self, *args, start=True, **kw):
        s = Server(*args, **kw)
        self.servers.append(s)
        self.addCleanup(s.cleanup)
        if start:
            s.start()
        return s

    def all_servers(self):
        return list(type(self).class_servers) + list(getattr(self, "servers", []))

    # ---- assertions ------------------------------------------------------------------------

    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail("%sexpected HTTP %d, got %d: %s" % (msg + ": " if msg else "", status, r.status,
                                                          r.body[:600].decode("utf-8", "replace")))

    def assertError(self, r, status, code, field=None, msg=None):
        """The response is `status` with exactly {"error": {"code", "message",
        "field"?}}; field: the expected JSON path, None for no field, ANY
        to skip the check."""
        where = (msg + ": ") if msg else ""
        self.assertStatus(r, status, msg)
        ctype = r.header("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"), "%serror Content-Type is %r" % (where, ctype))
        body = r.json
        self.assertIsInstance(body, dict, where + "error body is not an object")
        self.assertEqual(set(body), {"error"}, "%serror body must hold only \"error\": %r" % (where, body))
        e = body["error"]
        self.assertIsInstance(e, dict, where + "error is not an object")
        self.assertTrue(set(e) <= {"code", "message", "field"}, "%sunexpected keys in error: %r" % (where, e))
        self.assertEqual(e.get("code"), code, "%serror code: %r" % (where, e))
        self.assertIsInstance(e.get("message"), str, where + "message must be a string")
        self.assertTrue(e["message"].strip(), where + "message must not be empty")
        if field is not ANY:
            self.assertEqual(e.get("field"), field, "%sfield of %r" % (where, e))
        if "field" in e:
            self.assertIsInstance(e["field"], str, where + "field must be a string")
        return e

    def assertTime(self, value, msg=None):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, RFC3339_RE, msg)

    # ---- polling -------------------------------------------------------------------------------

    def wait_for(self, fn, timeout, what, interval=0.02):
        """Calls fn until it returns a true value; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = fn()
            if last:
                return last
            if time.monotonic() > deadline:
                self.fail("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))
            time.sleep(interval)

    def wait_job(self, client, job_id, statuses=FINAL, timeout=None, min_epoch=0, what=None):
        """Polls GET /v1/jobs/{id} until its status is in statuses and its
        epoch >= min_epoch; returns the job."""
        timeout = timeout or T(60)
        box = {}

        def check():
            r = client.get("/v1/jobs/%d" % job_id)
            self.assertStatus(r, 200)
            box["job"] = r.json
            j = r.json
            if j["status"] in statuses and j["epoch"] >= min_epoch:
                return j
            if j["status"] in FINAL and j["status"] not in statuses:
                self.fail("job %d ended %s while waiting for %s: %r" % (job_id, j["status"], statuses, j))
            return None

        deadline = time.monotonic() + timeout
        while True:
            j = check()
            if j:
                return j
            if time.monotonic() > deadline:
                self.fail("timed out after %.0f s waiting for job %d to be %s%s (last: %r)" % (
                    timeout, job_id, "/".join(statuses),
                    " with epoch >= %d" % min_epoch if min_epoch else "", box.get("job")))
            time.sleep(0.02)

    # ---- resources --------------------------------------------------------------------------

    def create_dataset(self, client, x, y, name="data", **kw):
        r = client.post("/v1/datasets", {"name": name, "x": x, "y": y}, **kw)
        self.assertStatus(r, 201, "creating dataset %s" % name)
        return r.json

    def create_model(self, client, body, **kw):
        r = client.post("/v1/models", body, **kw)
        self.assertStatus(r, 201, "creating model %s" % body.get("name"))
        return r.json

    def submit_job(self, client, body, **kw):
        r = client.post("/v1/jobs", body, **kw)
        self.assertStatus(r, 202, "submitting job %r" % body)
        return r.json

    def history(self, client, job_id):
        r = client.get("/v1/jobs/%d/history" % job_id)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["job_id"], job_id)
        return r.json["epochs"]

    def assertHistoryComplete(self, epochs, n, msg=None):
        """Epoch rows numbered 1..n, each exactly once, in order."""
        numbers = [e["epoch"] for e in epochs]
        self.assertEqual(numbers, list(range(1, n + 1)), msg or "history epochs")


def hist_values(epochs):
    """History rows without their timings, for exact comparison."""
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]

