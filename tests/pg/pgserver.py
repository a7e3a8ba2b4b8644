#!/usr/bin/python3
"""pgserver.py — a real, throw-away PostgreSQL 15 for fitd's tests (no mocks).

Debian's `postgresql-15` binaries: `initdb` into a folder of its own, then
`pg_ctl start` listening on a unix socket in that folder only (no TCP), with
fsync on. Run as root (CI), the server runs as the `postgres` system user
(PostgreSQL refuses to run as root): the folder is chowned to it and initdb and
pg_ctl go through `runuser -u postgres --`. Run as anyone else, they run
directly. Clients (psql here, libpq in fitd) connect over the socket as the
database user `postgres` with trust authentication.

As a module:

    with PgServer() as pg:                       # or pg = PgServer(); pg.start()
        uri = pg.create_database("fitd_test")    # postgresql:///fitd_test?host=...
        pg.psql("fitd_test", "SELECT 1")         # -> "1\n"
        pg.restart()                             # pg_ctl restart -m fast
    # stopped (pg_ctl stop -m fast) and the folder removed; also at exit
    # (and on SIGTERM, when the program has no handler of its own for it)

For tests of PostgreSQL failures: pg.kill() (SIGKILL to every server process,
a crash), pg.stop_server() (a clean stop keeping the folder), then
pg.start_again() (same folder, same port, same URIs). pg.psql_file(db, path)
applies a .sql file in one transaction, as fitd's migration runner does.

As a command (the state later commands need is kept in DIR/pgserver.json):

    pgserver.py start DIR          # prints the base URI (database postgres), leaves it running
    pgserver.py uri DIR DBNAME     # prints DBNAME's URI
    pgserver.py createdb DIR NAME  # creates NAME, prints its URI
    pgserver.py stop DIR           # stops it and removes DIR

Standard library only; /usr/bin/python3 or any python3 >= 3.8.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

PG_BIN = os.environ.get("FITD_PG_BIN", "/usr/lib/postgresql/15/bin")
PSQL = shutil.which("psql", path=PG_BIN) or shutil.which("psql") or "psql"
STATE_FILE = "pgserver.json"
LOG_FILE = "postgres.log"
SERVER_USER = "postgres"    # the system user the server runs as when we are root
DB_USER = "postgres"        # the database superuser initdb creates (-U)
# sockaddr_un.sun_path is 108 bytes with its NUL: "<dir>/.s.PGSQL.NNNNN" must fit.
SUN_PATH_MAX = 107


class PgError(RuntimeError):
    """A PostgreSQL tool failed; the message carries its output or the log's tail."""


def _free_port():
    """A port no TCP socket on loopback holds now. The server listens on no TCP
    address (listen_addresses=''): the port only names its socket file, but a
    free one keeps the URI usable should a test turn TCP on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=40):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(no log: %s)" % e


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): count it as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children(pid):
    """The pids whose parent is pid (from /proc)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(name))
    return kids


def _exit_on_sigterm():
    """SIGTERM (`timeout`, a CI runner giving up) ends the process through
    sys.exit, so the atexit clean-up stops the server; only when SIGTERM has
    its default action and we are on the main thread (no handler replaced)."""
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _sigterm_exit)
    except ValueError:
        pass    # not the main thread


def _sigterm_exit(signum, frame):
    sys.exit(128 + signum)


class PgServer:
    """One PostgreSQL server in one folder.

    dir: the folder to use (created; it must be absent or empty, and it is
    removed by stop()); None: a fresh folder under the system's temp dir.
    """

    def __init__(self, dir=None):
        self.given_dir = dir
        self.dir = None
        self.port = None
        self.socket_dir = None
        self.pid = None
        self._atexit = False
        self._owner_pid = os.getpid()
        self._as_root = os.geteuid() == 0

    # -- paths ---------------------------------------------------------------
    @property
    def data_dir(self):
        return os.path.join(self.dir, "data")

    @property
    def log_path(self):
        return os.path.join(self.dir, LOG_FILE)

    # -- running the server's tools --------------------------------------------
    def _server_cmd(self, argv):
        """argv as the server's user: through runuser when we are root."""
        if self._as_root:
            return ["runuser", "-u", SERVER_USER, "--"] + argv
        return argv

    def _run_server_tool(self, argv, what):
        p = subprocess.run(self._server_cmd(argv), cwd=self.dir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if p.returncode != 0:
            raise PgError("%s failed (exit %d): %s\n%s\n--- tail of %s ---\n%s" % (
                what, p.returncode, " ".join(argv), p.stdout.strip(), self.log_path,
                _tail(self.log_path)))
        return p.stdout

    def _server_options(self):
        return ("-k %s -c listen_addresses='' -c port=%d -c fsync=on "
                "-c max_connections=200 -c shared_buffers=32MB" % (self.socket_dir, self.port))

    def _read_pid(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    # -- the folder ----------------------------------------------------------
    def _make_dir(self):
        if self.given_dir is None:
            self.dir = tempfile.mkdtemp(prefix="fitd-pg-")
        else:
            path = os.path.abspath(self.given_dir)
            os.makedirs(path, exist_ok=True)
            if os.listdir(path):
                raise PgError("%s is not empty: PgServer needs a folder of its own "
                              "(stop() removes it)" % path)
            self.dir = path
        # The socket lives in the folder (0755: clients of any user reach it);
        # the cluster in data/ (initdb makes it 0700).
        os.chmod(self.dir, 0o755)
        if self._as_root:
            shutil.chown(self.dir, SERVER_USER, SERVER_USER)
            probe = subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-w", self.dir],
                                   stdin=subprocess.DEVNULL)
            if probe.returncode != 0:
                raise PgError("user %s cannot write %s (is one of its parent folders not "
                              "searchable by others?)" % (SERVER_USER, self.dir))
        self.socket_dir = self.dir
        if len(self.socket_dir) + len("/.s.PGSQL.65535") > SUN_PATH_MAX:
            raise PgError("%s is too long for a unix socket path (%d bytes at most): "
                          "use a shorter folder" % (self.dir, SUN_PATH_MAX - 15))

    def _save_state(self):
        state = {"port": self.port, "socket_dir": self.socket_dir, "pid": self.pid,
                 "as_root": self._as_root}
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, os.path.join(self.dir, STATE_FILE))

    @classmethod
    def attach(cls, dir):
        """The server a `start DIR` left running (for the CLI's later commands)."""
        self = cls(dir)
        self.dir = os.path.abspath(dir)
        try:
            with open(os.path.join(self.dir, STATE_FILE)) as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            raise PgError("no PgServer state in %s: %s" % (self.dir, e))
        self.port = state["port"]
        self.socket_dir = state["socket_dir"]
        self.pid = state.get("pid")
        self._as_root = state.get("as_root", self._as_root)
        return self

    # -- life cycle ------------------------------------------------------------
    def start(self, stop_at_exit=True):
        """initdb + pg_ctl start -w. Raises PgError with the log's tail on failure."""
        if self.dir is not None:
            raise PgError("already started in %s" % self.dir)
        self._make_dir()
        try:
            self._run_server_tool([os.path.join(PG_BIN, "initdb"), "-D", self.data_dir,
                                   "-A", "trust", "-E", "UTF8", "--no-locale",
                                   "-U", DB_USER, "--no-instructions"], "initdb")
            self.port = _free_port()
            self._pg_ctl_start()
        except BaseException:
            self._remove_dir()
            raise
        if stop_at_exit and not self._atexit:
            self._owner_pid = os.getpid()
            atexit.register(self._stop_at_exit)
            _exit_on_sigterm()
            self._atexit = True
        return self

    def _pg_ctl_start(self):
        self._run_server_tool([os.path.join(PG_BIN, "pg_ctl"), "start", "-D", self.data_dir,
                               "-l", self.log_path, "-w", "-t", "120",
                               "-o", self._server_options()], "pg_ctl start")
        self.pid = self._read_pid()
        self._save_state()

    def restart(self):
        """pg_ctl restart -m fast (a clean shutdown and a start on the same port)."""
        self._run_server_tool([os.path.join(PG_BIN, "pg_ctl"), "restart", "-D", self.data_dir,
                               "-l", self.log_path, "-m", "fast", "-w", "-t", "120",
                               "-o", self._server_options()], "pg_ctl restart")
        self.pid = self._read_pid()
        self._save_state()

    def kill(self):
        """A crash, for tests of recovery: SIGKILL to the postmaster and every
        process it started, as a power cut would end them; start_again() then
        starts it on the same folder and port (crash recovery replays the WAL)."""
        pid = self._read_pid()
        if pid is None:
            return
        victims = [pid] + _children(pid)
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Until each is reaped, not only dead: PostgreSQL refuses to start while
        # the pid its postmaster.pid names exists, and a zombie exists.
        deadline = time.monotonic() + 60
        for p in victims:
            while os.path.exists("/proc/%d" % p):
                if time.monotonic() > deadline:
                    raise PgError("process %d of the killed server was not reaped in 60 s" % p)
                time.sleep(0.05)

    def start_again(self):
        """pg_ctl start on the same folder and port after stop_server() or kill()."""
        self._pg_ctl_start()

    def stop_server(self):
        """pg_ctl stop -m fast, keeping the folder (start_again() brings it back)."""
        if self.dir is None or not os.path.isdir(self.data_dir):
            return
        if self._read_pid() is None:
            return      # no postmaster.pid: not running
        try:
            self._run_server_tool([os.path.join(PG_BIN, "pg_ctl"), "stop", "-D", self.data_dir,
                                   "-m", "fast", "-w", "-t", "120"], "pg_ctl stop")
        except PgError:
            # A stale postmaster.pid (a killed server) makes pg_ctl fail; only a
            # server still running is an error. (The file is re-read: a server
            # starting late may have written its own pid meanwhile.)
            pid = self._read_pid()
            if pid is not None and _pid_alive(pid):
                raise

    def stop(self):
        """pg_ctl stop -m fast, then removes the folder. Idempotent."""
        if self.dir is None:
            return
        try:
            self.stop_server()
        finally:
            pid = self._read_pid() or self.pid
            if pid is not None and _pid_alive(pid):
                # pg_ctl failed to stop it: do not leave it running.
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass
                for _ in range(200):
                    if not _pid_alive(pid):
                        break
                    time.sleep(0.05)
            self._remove_dir()

    def _remove_dir(self):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _stop_at_exit(self):
        if os.getpid() != self._owner_pid:
            return      # a forked child exiting: the server is its parent's
        try:
            self.stop()
        except Exception as e:  # at exit: report, do not mask the real exit status
            print("pgserver: stop at exit: %s" % e, file=sys.stderr)

    def __enter__(self):
        if self.dir is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- clients -------------------------------------------------------------
    def uri(self, dbname="postgres"):
        """postgresql:///DBNAME?host=<socketdir>&port=<port>&user=postgres"""
        return "postgresql:///%s?host=%s&port=%d&user=%s" % (
            urllib.parse.quote(dbname, safe=""), urllib.parse.quote(self.socket_dir, safe="/"),
            self.port, DB_USER)

    def _psql_argv(self, dbname):
        return [PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
                "-p", str(self.port), "-U", DB_USER, "-d", dbname]

    def psql(self, dbname, sql):
        """Runs sql (one or more statements) in dbname; returns psql's stdout
        (unaligned, tuples only). Raises PgError on any error."""
        p = subprocess.run(self._psql_argv(dbname), input=sql, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if p.returncode != 0:
            raise PgError("psql %s failed (exit %d): %s" % (dbname, p.returncode, p.stderr.strip()))
        return p.stdout

    def psql_file(self, dbname, path, single_transaction=True):
        """psql -f path (in one transaction, as fitd's migration runner applies a file)."""
        argv = self._psql_argv(dbname) + (["-1"] if single_transaction else []) + ["-f", path]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if p.returncode != 0:
            raise PgError("psql -f %s failed (exit %d): %s" % (path, p.returncode, p.stderr.strip()))
        return p.stdout

    def create_database(self, name):
        """CREATE DATABASE name; returns its URI."""
        self.psql("postgres", 'CREATE DATABASE "%s"' % name.replace('"', '""'))
        return self.uri(name)


def _main(argv):
    usage = ("usage: pgserver.py start DIR | stop DIR | uri DIR DBNAME | createdb DIR NAME\n")
    if len(argv) < 2:
        sys.stderr.write(usage)
        return 2
    cmd, dir = argv[0], argv[1]
    try:
        if cmd == "start" and len(argv) == 2:
            pg = PgServer(dir).start(stop_at_exit=False)
            print(pg.uri("postgres"))
        elif cmd == "stop" and len(argv) == 2:
            PgServer.attach(dir).stop()
        elif cmd == "uri" and len(argv) == 3:
            print(PgServer.attach(dir).uri(argv[2]))
        elif cmd == "createdb" and len(argv) == 3:
            print(PgServer.attach(dir).create_database(argv[2]))
        else:
            sys.stderr.write(usage)
            return 2
    except PgError as e:
        sys.stderr.write("pgserver: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
