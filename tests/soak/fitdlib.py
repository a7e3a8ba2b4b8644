"""fitdlib.py — what the soak and load suites share (standard library only).

Fitd runs the real binary on a free port (--port 0; the port is read back
from its "fitd listening on http://127.0.0.1:PORT" log line, as the
integration harness does) with a database in a folder of the caller's
choice, and can stop it (SIGTERM), crash it (SIGKILL) and read its memory
(VmRSS) and open descriptors from /proc. http() is one request on a new
connection. Bodies: the README's tutorial model and a learnable dataset.
Every process and folder made here is cleaned up by cleanup_all(), which the
suites call in a finally block and at exit.
"""
import atexit
import http.client as httpclient
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.join(ROOT, "build", "fitd")
LISTEN_RE = re.compile(r"fitd listening on http://[^:]+:(\d+)")

_procs = []
_dirs = []


def raise_fd_limit():
    """Many sockets: lift the soft descriptor limit to the hard one (fitd,
    started afterwards, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix="fitd-%s-" % prefix)
    _dirs.append(d)
    return d


def keep_dirs():
    """Leaves the folders made so far in place (printed), for inspection."""
    for d in _dirs:
        print("kept %s" % d)
    del _dirs[:]


def cleanup_all_procs():
    """Kills every fitd started here (before unmounting what they use)."""
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


def cleanup_all():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
    del _procs[:]
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    del _dirs[:]


atexit.register(cleanup_all)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


# SIGTERM (a CI timeout, make interrupted) runs the suites' finally blocks too.
signal.signal(signal.SIGTERM, _terminate)


class Response:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %r>" % (self.status, self.body[:300])


def http(port, method, path, body=None, headers=None, timeout=30, host="127.0.0.1"):
    """One request on a new connection. body: dict/list (sent as JSON), str
    or bytes. Returns a Response; raises OSError on a network failure."""
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    t0 = time.perf_counter()
    conn = httpclient.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data, time.perf_counter() - t0)
    finally:
        conn.close()


class Fitd:
    """The real binary. args: extra flags (after the defaults, so they win)."""

    def __init__(self, db, args=(), workers=2, binary=None, log_dir=None, env=None, preexec_fn=None):
        self.db = db
        self.args = list(args)
        self.workers = workers
        self.binary = binary or BINARY
        self.log_dir = log_dir or os.path.dirname(db)
        self.env = env
        self.preexec_fn = preexec_fn
        self.proc = None
        self.port = None
        self.runs = 0
        self.log_path = None

    def command(self):
        return [self.binary, "--port", "0", "--db", self.db, "--workers", str(self.workers),
                "--share-dir", ROOT] + self.args

    def spawn(self):
        """Starts the process without waiting for it to listen."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        self.port = None
        self.log_path = os.path.join(self.log_dir, "fitd-run%d.log" % self.runs)
        env = dict(os.environ)
        env.update(self.env or {})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, preexec_fn=self.preexec_fn)
        _procs.append(self.proc)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            m = LISTEN_RE.search(self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError("fitd exited with %s before listening:\n%s" % (self.proc.returncode,
                                                                                  self.log()[-3000:]))
            if time.monotonic() > deadline:
                raise RuntimeError("fitd did not listen within %d s:\n%s" % (timeout, self.log()[-3000:]))
            time.sleep(0.01)
        while True:
            try:
                if http(self.port, "GET", "/healthz", timeout=5).status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("/healthz did not answer within %d s" % timeout)
            time.sleep(0.01)

    def start(self, timeout=30):
        return self.spawn().wait_listening(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        if self.running():
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def request(self, method, path, body=None, headers=None, timeout=30):
        return http(self.port, method, path, body, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def rss_kb(self):
        return proc_rss_kb(self.pid)

    def fd_kinds(self):
        """Open descriptors by kind: "socket", "anon_inode", or a file's name."""
        kinds = {}
        try:
            names = os.listdir("/proc/%d/fd" % self.pid)
        except OSError:
            return kinds
        for f in names:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (self.pid, f))
            except OSError:
                continue
            k = target.split(":")[0] if ":" in target else os.path.basename(target)
            kinds[k] = kinds.get(k, 0) + 1
        return kinds

    def fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return -1


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def wait_for(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_job(srv, job_id, timeout=60, statuses=("succeeded", "failed", "cancelled")):
    box = {}

    def done():
        r = srv.get("/v1/jobs/%d" % job_id)
        if r.status != 200:
            return None
        box["job"] = r.json
        return r.json if r.json["status"] in statuses else None
    try:
        return wait_for(done, timeout, "job %d to end" % job_id)
    except AssertionError:
        raise AssertionError("job %d did not end in %d s: %r" % (job_id, timeout, box.get("job")))


# ---- bodies ---------------------------------------------------------------------------------------


def tutorial_model(input_dim=4, outputs=4, hidden=(25, 15), name=None, seed=42):
    """The tutorial model's body; unnamed unless a name is given (names are
    unique: a second model of the same name is a 409)."""
    layers = [{"type": "dense", "units": u, "activation": "relu"} for u in hidden]
    layers.append({"type": "dense", "units": outputs, "activation": "softmax"})
    body = {"input_dim": input_dim, "layers": layers,
            "loss": "sparse_categorical_crossentropy",
            "optimizer": {"type": "adam", "learning_rate": 0.001}, "metrics": ["accuracy"]}
    if name is not None:
        body["name"] = name
    if seed is not None:
        body["seed"] = seed
    return body


def blobs(n=200, features=4, classes=4, seed=1):
    """A learnable classification set: points around one centre per class."""
    rng = random.Random(seed)
    centres = [[rng.uniform(-2, 2) for _ in range(features)] for _ in range(classes)]
    x, y = [], []
    for i in range(n):
        c = i % classes
        x.append([round(centres[c][j] + rng.gauss(0, 0.6), 4) for j in range(features)])
        y.append(c)
    return x, y


def csv_text(x, y):
    lines = ["f%d" % j for j in range(len(x[0]))] + ["target"]
    out = [",".join(lines)]
    for row, label in zip(x, y):
        out.append(",".join(repr(v) for v in row) + ",%d" % label)
    return "\n".join(out) + "\n"


# ---- the database, read from outside --------------------------------------------------------------


def db_ro(path):
    """A read-only connection to a live database (WAL readers never block
    the server)."""
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)


def db_snapshot(path, into):
    """Copies the database and its WAL as a crash left them (the server is
    dead) into folder `into`, and opens the copy read-write, so SQLite
    recovers the WAL there and the original stays untouched for fitd."""
    os.makedirs(into, exist_ok=True)
    dst = os.path.join(into, "snap.db")
    for suffix in ("", "-wal"):
        for f in (dst + suffix, dst + "-shm"):
            if os.path.exists(f):
                os.unlink(f)
        if os.path.exists(path + suffix):
            shutil.copyfile(path + suffix, dst + suffix)
    return sqlite3.connect(dst, timeout=10)


def integrity(conn):
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    ok = rows == [("ok",)] and not fk
    return ok, (rows[:5], fk[:5])


# ---- raw sockets ----------------------------------------------------------------------------------


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(sock):
    """Close with an RST (SO_LINGER 0): a client that vanishes."""
    import struct
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Report:
    """Named checks with figures, printed as a table at the end."""

    def __init__(self, title):
        self.title = title
        self.rows = []     # (name, ok, detail)
        self.figures = []  # (name, value)

    def check(self, name, ok, detail=""):
        self.rows.append((name, bool(ok), detail))
        print("  %-4s %-58s %s" % ("ok" if ok else "FAIL", name, detail), flush=True)
        return ok

    def figure(self, name, value):
        self.figures.append((name, value))
        print("  %-4s %-58s %s" % ("fig", name, value), flush=True)

    @property
    def ok(self):
        return all(ok for _, ok, _ in self.rows)

    def summary(self):
        bad = [r for r in self.rows if not r[1]]
        return "%s: %d checks, %d failed%s" % (self.title, len(self.rows), len(bad),
                                               "".join("\n    FAIL %s: %s" % (n, d) for n, _, d in bad))
