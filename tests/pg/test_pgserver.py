#!/usr/bin/python3
"""test_pgserver.py — pgserver.py starts a real PostgreSQL 15 that keeps what it
committed, and leaves nothing behind; fitd's PostgreSQL schema applies and is
SQLite's (check_schema.py).

    /usr/bin/python3 tests/pg/test_pgserver.py [-v]
"""

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pgserver  # noqa: E402
from pgserver import PgError, PgServer  # noqa: E402

MIGRATION = os.path.join(ROOT, "migrations", "postgres", "0001_init.sql")
PY = sys.executable
AS_ROOT = os.geteuid() == 0


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line for %d" % pid)


def psql_uri(uri, sql):
    """psql through the URI alone, as libpq in fitd will connect."""
    p = subprocess.run([pgserver.PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                        "-d", uri, "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        raise AssertionError("psql %s: %s" % (uri, p.stderr))
    return p.stdout


INSERT_ROWS = """
INSERT INTO datasets (name, n_features, y_dim, created_at)
     VALUES ('iris', 4, 0, '2026-12-02T00:00:00Z');
INSERT INTO models (name, definition, n_params, state, created_at, updated_at, named)
     VALUES ('tutorial', '{}', 3, '\\x00ff10'::bytea, '2026-12-02T00:00:00Z',
             '2026-12-02T00:00:00Z', 1);
INSERT INTO jobs (model_id, dataset_id, options, epochs, created_at)
     VALUES (1, 1, '{}', 10, '2026-12-02T00:00:01Z');
"""
READ_ROWS = """
SELECT j.id, j.status, j.epoch, j.dataset_ref, j.dataset_name,
       coalesce(j.validation_dataset_name, '-'), encode(m.state, 'hex'), d.y_kind
  FROM jobs j JOIN models m ON m.id = j.model_id JOIN datasets d ON d.id = j.dataset_id;
"""
ROWS_EXPECTED = "1|queued|0|1|iris|-|00ff10|real\n"


class PgServerTest(unittest.TestCase):

    def assert_gone(self, folder, pid):
        self.assertFalse(os.path.exists(folder), "%s left behind" % folder)
        self.assertFalse(pgserver._pid_alive(pid), "postmaster %d still running" % pid)

    def test_lifecycle_migration_and_durability(self):
        with PgServer() as pg:
            folder, pid = pg.dir, pg.pid
            self.assertTrue(pgserver._pid_alive(pid))
            if AS_ROOT:   # PostgreSQL runs as the postgres user, never as root
                self.assertEqual(proc_uid(pid), pwd.getpwnam("postgres").pw_uid)
            self.assertTrue(os.path.exists(os.path.join(folder, ".s.PGSQL.%d" % pg.port)))
            self.assertEqual(pg.psql("postgres", "SHOW fsync; SHOW listen_addresses; "
                                     "SHOW max_connections; SHOW shared_buffers"),
                             "on\n\n200\n32MB\n")

            uri = pg.create_database("fitd_test")
            self.assertEqual(uri, "postgresql:///fitd_test?host=%s&port=%d&user=postgres"
                             % (folder, pg.port))
            pg.psql_file("fitd_test", MIGRATION)
            pg.psql("fitd_test", INSERT_ROWS)
            # Through the URI, as fitd connects; the lineage trigger filled the
            # job's dataset_ref and dataset_name.
            self.assertEqual(psql_uri(uri, READ_ROWS), ROWS_EXPECTED)

            # Constraints hold: a CHECK, the partial unique index, a foreign key.
            with self.assertRaisesRegex(PgError, "datasets_state_check"):
                pg.psql("fitd_test", "UPDATE datasets SET state = 'gone'")
            with self.assertRaisesRegex(PgError, "models_name"):
                pg.psql("fitd_test", "INSERT INTO models (name, definition, n_params, state,"
                        " created_at, updated_at, named) VALUES ('tutorial', '{}', 1, ''::bytea,"
                        " 'x', 'x', 1)")
            with self.assertRaisesRegex(PgError, "jobs_model_id_fkey"):
                pg.psql("fitd_test", "INSERT INTO jobs (model_id, options, epochs, created_at)"
                        " VALUES (99, '{}', 1, 'x')")
            # ON DELETE SET NULL keeps the lineage; ON DELETE CASCADE removes jobs.
            pg.psql("fitd_test", "INSERT INTO datasets (name, n_features, y_dim, created_at)"
                    " VALUES ('tmp', 1, 0, 'x'); INSERT INTO jobs (model_id, dataset_id, options,"
                    " epochs, created_at) VALUES (1, 2, '{}', 1, 'x'); DELETE FROM datasets"
                    " WHERE id = 2")
            # (The job is id 3: the refused insert above took id 2 from the
            # sequence, which a rollback does not give back.)
            self.assertEqual(pg.psql("fitd_test", "SELECT id, coalesce(dataset_id, -1), dataset_ref,"
                                     " dataset_name FROM jobs WHERE id <> 1"), "3|-1|2|tmp\n")

            pg.restart()
            self.assertNotEqual(pg.pid, pid)
            self.assertFalse(pgserver._pid_alive(pid))
            self.assertEqual(psql_uri(uri, READ_ROWS), ROWS_EXPECTED)

            # A crash (every server process SIGKILLed) loses nothing committed.
            pg.psql("fitd_test", "UPDATE jobs SET epoch = 3, status = 'running' WHERE id = 1")
            before = pg.pid
            pg.kill()
            self.assertFalse(pgserver._pid_alive(before))
            pg.start_again()
            self.assertEqual(psql_uri(uri, READ_ROWS), ROWS_EXPECTED.replace("queued|0", "running|3"))
            pid = pg.pid
        self.assert_gone(folder, pid)
        pg.stop()   # idempotent

    def test_cli(self):
        base = tempfile.mkdtemp(prefix="fitd-pgcli-")
        os.chmod(base, 0o755)
        folder = os.path.join(base, "pg")
        try:
            def cli(*args):
                p = subprocess.run([PY, os.path.join(HERE, "pgserver.py")] + list(args),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=300)
                self.assertEqual(p.returncode, 0, p.stderr)
                return p.stdout.strip()

            base_uri = cli("start", folder)
            m = re.fullmatch(r"postgresql:///postgres\?host=(.+)&port=(\d+)&user=postgres", base_uri)
            self.assertIsNotNone(m, base_uri)
            self.assertEqual(m.group(1), folder)
            # It outlived the command that started it.
            self.assertEqual(psql_uri(base_uri, "SELECT 1"), "1\n")
            self.assertEqual(cli("uri", folder, "other"), base_uri.replace("///postgres", "///other"))
            uri = cli("createdb", folder, "fitd_cli")
            self.assertEqual(uri, base_uri.replace("///postgres", "///fitd_cli"))
            self.assertEqual(psql_uri(uri, "SELECT current_database()"), "fitd_cli\n")
            pid = PgServer.attach(folder)._read_pid()
            self.assertTrue(pgserver._pid_alive(pid))
            cli("stop", folder)
            self.assert_gone(folder, pid)
        finally:
            if os.path.isdir(folder):
                subprocess.run([PY, os.path.join(HERE, "pgserver.py"), "stop", folder])
            shutil.rmtree(base, ignore_errors=True)

    def test_stopped_at_exit(self):
        # A test that never calls stop() leaves no server behind.
        p = subprocess.run([PY, "-c", "import sys; sys.path.insert(0, %r)\n"
                            "import pgserver\n"
                            "pg = pgserver.PgServer().start()\n"
                            "print(pg.dir, pg.pid)\n" % HERE],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        folder, pid = p.stdout.split()
        self.assert_gone(folder, int(pid))

    def test_stopped_on_sigterm(self):
        # A runner killed by `timeout` (SIGTERM) leaves no server behind either.
        child = subprocess.Popen([PY, "-c", "import sys, time; sys.path.insert(0, %r)\n"
                                  "import pgserver\n"
                                  "pg = pgserver.PgServer().start()\n"
                                  "print(pg.dir, pg.pid, flush=True)\n"
                                  "time.sleep(600)\n" % HERE],
                                 stdout=subprocess.PIPE, universal_newlines=True)
        try:
            folder, pid = child.stdout.readline().split()
            self.assertTrue(pgserver._pid_alive(int(pid)))
            child.terminate()
            self.assertEqual(child.wait(timeout=300), 128 + 15)
        finally:
            if child.poll() is None:
                child.kill()
            child.stdout.close()
        self.assert_gone(folder, int(pid))

    @unittest.skipUnless(AS_ROOT, "needs root to run as another user")
    def test_as_an_unprivileged_user(self):
        # Not root: initdb and pg_ctl run directly, as that user.
        # (Debian's python: the running one may live where nobody cannot reach,
        # as a pyenv under /root; and a copy of pgserver.py that user can read:
        # the checkout may sit in a folder only root enters, as CI's fresh clone.)
        readable = tempfile.mkdtemp(prefix="fitd-pgserver-")
        self.addCleanup(shutil.rmtree, readable, True)
        shutil.copy(os.path.join(HERE, "pgserver.py"), readable)
        os.chmod(readable, 0o755)
        os.chmod(os.path.join(readable, "pgserver.py"), 0o644)
        p = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-B", "-c",
                            "import sys, os; sys.path.insert(0, %r)\n"
                            "import pgserver\n"
                            "with pgserver.PgServer() as pg:\n"
                            "    print(pg.dir, pg.pid, pg.create_database('mine'))\n"
                            "    sys.stdout.flush()\n"
                            "    print(pg.psql('mine', 'SELECT current_user, 41 + 1'), end='')\n"
                            "    pg.restart()\n"
                            "    print(pg.pid)\n" % readable],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300, cwd="/")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        folder, pid, uri = lines[0].split()
        self.assertTrue(uri.startswith("postgresql:///mine?host=%s&port=" % folder), uri)
        self.assertEqual(lines[1], "postgres|42")
        self.assert_gone(folder, int(pid))
        self.assert_gone(folder, int(lines[2]))

    def test_failed_start_raises_with_the_log(self):
        pg = PgServer()
        pg._server_options = lambda: "-c shared_buffers=lots"
        with self.assertRaises(PgError) as cm:
            pg.start()
        self.assertIn("shared_buffers", str(cm.exception))   # the log's tail says why
        self.assertIsNone(pg.dir)

    def test_refuses_a_folder_that_is_not_empty(self):
        base = tempfile.mkdtemp(prefix="fitd-pgfull-")
        try:
            keep = os.path.join(base, "keep.txt")
            with open(keep, "w") as f:
                f.write("mine")
            with self.assertRaisesRegex(PgError, "not empty"):
                PgServer(base).start()
            self.assertTrue(os.path.exists(keep))
        finally:
            shutil.rmtree(base)


class SchemaTest(unittest.TestCase):

    def run_check(self, *args):
        return subprocess.run([PY, os.path.join(HERE, "check_schema.py")] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=300)

    def test_postgres_schema_is_sqlites(self):
        p = self.run_check()
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("the same in SQLite", p.stdout)

    def test_check_sees_a_difference(self):
        # Two columns swapped in a copy of the migration: the check must fail
        # and name the table.
        with open(MIGRATION) as f:
            sql = f.read()
        swapped = sql.replace("    best_epoch            BIGINT,\n    stopped_epoch         BIGINT\n",
                              "    stopped_epoch         BIGINT,\n    best_epoch            BIGINT\n")
        self.assertNotEqual(swapped, sql)
        folder = tempfile.mkdtemp(prefix="fitd-pgmig-")
        try:
            with open(os.path.join(folder, "0001_init.sql"), "w") as f:
                f.write(swapped)
            p = self.run_check("--pg-migrations", folder)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("table jobs: columns differ", p.stdout)
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    unittest.main()
