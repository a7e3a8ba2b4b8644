"""fitd migrate-db FROM TO (issue 15).

A SQLite database built through a real server — JSON and CSV datasets (text
columns, a text label), named models, finished jobs with their history and
SSE events, model versions (job, PUT weights, restore), stored predictions, a
sweep, Idempotency-Keys, a deleted dataset — is copied into a PostgreSQL
database (a real PostgreSQL 15, tests/pg/pgserver.py) on which a server had
made the schema (its node's row is no data: the copy goes in beside it), then
back into a new SQLite file and into a second PostgreSQL database. A server
on each copy answers every GET (lists and items, rows, weights, versions,
history, event streams, predictions, sweeps, exports) with the same bytes as
the original, predicts the same, answers a retried Idempotency-Key request
with the resource the first one made, and numbers new resources as the
original server does (after the copied ids; a deleted id not handed out
again). A TO with rows is refused with nothing written; a missing or
non-fitd FROM, an unreachable PostgreSQL and bad arguments are clear errors.
A job running when its SQLite server was killed is copied as running, and a
PostgreSQL server on the copy resumes it to the weights and history the
original file's restart reaches. A dataset of 80 MB is copied each way in
less than half its size of memory: rows are streamed."""
import http.client
import os
import subprocess
import sys
import urllib.parse

import harness
from harness import Config, FitdCase, T, blobs, db_query, mlp_body

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "pg"))
import pgserver  # noqa: E402

# Tables of the schema that a database built through the API has rows in.
FILLED = ("datasets", "dataset_chunks", "models", "jobs", "job_epochs", "job_events", "model_versions",
          "predictions", "idempotency_keys", "sweeps", "sweep_points")


def penguins_csv(n=90):
    """A CSV with numbers, two text feature columns, a missing cell and a text label."""
    species = ["Adelie", "Gentoo", "Chinstrap"]
    islands = {"Adelie": "Torgersen", "Gentoo": "Biscoe", "Chinstrap": "Dream"}
    lines = ["bill_length_mm,island,sex,body_mass_g,species"]
    for i in range(n):
        s = species[i % 3]
        bill = "" if i % 17 == 4 else "%.1f" % (38 + 5 * (i % 3) + (i * 7 % 10) / 10)
        lines.append("%s,%s,%s,%d,%s" % (bill, islands[s], "male" if i % 2 else "female",
                                         3500 + 700 * (i % 3) + (i * 37) % 300, s))
    return "\n".join(lines) + "\n"


def raw_stream(port, path, timeout):
    """The whole text/event-stream of a finished job or sweep (the server ends
    it after the final status), comment lines (heartbeats) left out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    lines = [l for l in body.decode("utf-8").split("\n") if not l.startswith(":")]
    return r.status, "\n".join(lines)


class TestMigrateDb(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.own_pg = None
        pg = getattr(Config, "pg", None)
        if pg is None:
            cls.own_pg = pg = pgserver.PgServer()
            pg.start()
        cls.pg = pg
        cls.n_db = 0

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls.own_pg is not None:
            cls.own_pg.stop()

    def new_pg(self):
        type(self).n_db += 1
        return self.pg.create_database("fitd_migrate_%d_%d" % (os.getpid(), self.n_db))

    def migrate(self, src, dst, expect=0):
        p = subprocess.run([Config.binary, "migrate-db", src, dst, "--share-dir", harness.ROOT],
                           capture_output=True, text=True, timeout=T(300))
        self.assertEqual(p.returncode, expect, "fitd migrate-db %s %s: %s%s" % (src, dst, p.stdout, p.stderr))
        return p

    # ---- the database to copy ------------------------------------------------------------------

    def build(self, c):
        """Fills a server with one of everything; returns what the checks need."""
        made = {}
        x, y = blobs(n=150, features=6, classes=3, seed=11)
        ds_body = {"name": "blobs", "x": x, "y": y}
        r = c.post("/v1/datasets", ds_body, headers={"Idempotency-Key": "ds-1"})
        self.assertStatus(r, 201)
        made["ds_body"], made["ds"] = ds_body, r.json["id"]
        r = c.request("POST", "/v1/datasets?name=penguins&label=species", body=penguins_csv(),
                      headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        peng = r.json
        self.assertEqual(peng["class_names"], ["Adelie", "Chinstrap", "Gentoo"])
        self.assertEqual(peng["n_categorical"], 2)
        made["peng"] = peng["id"]

        m_body = mlp_body(input_dim=6, hidden=(8,), outputs=3, seed=7, name="clf")
        r = c.post("/v1/models", m_body, headers={"Idempotency-Key": "m-1"})
        self.assertStatus(r, 201)
        made["m_body"], made["clf"] = m_body, r.json["id"]
        made["pm"] = self.create_model(c, mlp_body(input_dim=peng["encoded_width"], hidden=(6,), outputs=3, seed=3,
                                                   name="penguin model"))["id"]
        made["anon"] = self.create_model(c, mlp_body(input_dim=6, hidden=(4,), outputs=3, seed=1))["id"]

        j_body = {"model_id": made["clf"], "dataset_id": made["ds"], "epochs": 4, "batch_size": 32,
                  "validation_split": 0.2, "seed": 5}
        r = c.post("/v1/jobs", j_body, headers={"Idempotency-Key": "j-1"})
        self.assertStatus(r, 202)
        made["j_body"], made["job"] = j_body, r.json["id"]
        self.wait_job(c, made["job"])
        pj = self.submit_job(c, {"model_id": made["pm"], "dataset_id": made["peng"], "epochs": 3, "batch_size": 16,
                                 "seed": 2})["id"]
        # a job whose dataset is deleted later: its lineage (dataset_ref, dataset_name) must survive the copy
        tmp = self.create_dataset(c, x[:40], y[:40], name="short-lived")["id"]
        lj = self.submit_job(c, {"model_id": made["anon"], "dataset_id": tmp, "epochs": 2, "seed": 1})["id"]
        for j in (pj, lj):
            self.assertEqual(self.wait_job(c, j)["status"], "succeeded")
        self.assertStatus(c.delete("/v1/datasets/%d" % tmp), 204)
        made["lineage_job"], made["short_lived"] = lj, tmp

        # versions: the job's, PUT weights, a restore
        w = c.get("/v1/models/clf/weights").json
        w["layers"][0]["bias"] = [b + 0.25 for b in w["layers"][0]["bias"]]
        self.assertStatus(c.put("/v1/models/clf/weights", w), 200)
        self.assertStatus(c.post("/v1/models/clf/versions/1/restore"), 201)

        # stored predictions, by array and by column name with text values
        made["instances"] = x[:5]
        self.assertStatus(c.post("/v1/models/clf/predict", {"instances": x[:5]}), 200)
        made["peng_rows"] = [{"bill_length_mm": 41.5, "island": "Biscoe", "sex": "male", "body_mass_g": 4100},
                             {"bill_length_mm": None, "island": "Dream", "sex": "female", "body_mass_g": 3600}]
        r = c.post("/v1/models/%d/predict" % made["pm"], {"instances": made["peng_rows"]})
        self.assertStatus(r, 200)
        self.assertIn(r.json["classes"][0], ("Adelie", "Chinstrap", "Gentoo"))

        # a sweep of two points, with an Idempotency-Key
        s_body = {"name": "tiny grid", "model": mlp_body(input_dim=6, hidden=(4,), outputs=3, seed=9),
                  "job": {"dataset_id": made["ds"], "epochs": 2, "validation_split": 0.2, "seed": 4},
                  "grid": {"optimizer.learning_rate": [0.001, 0.01]}, "metric": "val_loss", "mode": "min"}
        r = c.post("/v1/sweeps", s_body, headers={"Idempotency-Key": "s-1"})
        self.assertStatus(r, 202)
        made["s_body"], made["sweep"] = s_body, r.json["id"]
        self.wait_for(lambda: c.get("/v1/sweeps/%d" % made["sweep"]).json["status"] == "succeeded", T(120),
                      "the sweep to succeed", interval=0.1)

        # the newest dataset, deleted: its id is not to be handed out again
        made["scratch"] = self.create_dataset(c, [[1.0] * 6, [2.0] * 6], [0, 1], name="scratch")["id"]
        self.assertStatus(c.delete("/v1/datasets/%d" % made["scratch"]), 204)
        return made

    # ---- what a server answers ---------------------------------------------------------------

    def snapshot(self, srv):
        """Status and body of every GET of the API over the server's data."""
        c = srv.client
        out = {}

        def get(path):
            r = c.get(path)
            out[path] = (r.status, r.body)
            return r

        for what in ("datasets", "models", "jobs", "sweeps"):
            get("/v1/%s?limit=500" % what)
        get("/v1/datasets?limit=1&offset=1")
        get("/v1/jobs?status=succeeded&limit=500")
        for d in c.get("/v1/datasets?limit=500").json["items"]:
            get("/v1/datasets/%d" % d["id"])
            for q in ("", "?limit=500", "?offset=7&limit=13"):
                get("/v1/datasets/%d/rows%s" % (d["id"], q))
        for m in c.get("/v1/models?limit=500").json["items"]:
            base = "/v1/models/%d" % m["id"]
            for p in ("", "/weights", "/versions?limit=500", "/predictions?limit=500", "/export?format=onnx",
                      "/export?format=keras"):
                get(base + p)
            get("/v1/jobs?model_id=%d&limit=500" % m["id"])
            if m.get("name") and m.get("named", True):
                get("/v1/models/%s" % urllib.parse.quote(m["name"], safe=""))
            for v in c.get(base + "/versions?limit=500").json["items"]:
                get("%s/versions/%d" % (base, v["version"]))
                get("%s/versions/%d/weights" % (base, v["version"]))
            for p in c.get(base + "/predictions?limit=500").json["items"]:
                get("/v1/predictions/%d" % p["id"])
        for j in c.get("/v1/jobs?limit=500").json["items"]:
            get("/v1/jobs/%d" % j["id"])
            get("/v1/jobs/%d/history" % j["id"])
            out["events %d" % j["id"]] = raw_stream(srv.port, "/v1/jobs/%d/events" % j["id"], T(30))
        for s in c.get("/v1/sweeps?limit=500").json["items"]:
            get("/v1/sweeps/%d" % s["id"])
            out["sweep events %d" % s["id"]] = raw_stream(srv.port, "/v1/sweeps/%d/events" % s["id"], T(30))
        return out

    def assertSameAnswers(self, want, got, what):
        self.assertEqual(sorted(got), sorted(want), "%s: not the same requests" % what)
        for k in want:
            self.assertEqual(got[k], want[k], "%s: GET %s differs" % (what, k))

    def table_counts(self, path):
        """Rows per table of a SQLite file (every table of the schema)."""
        tables = [r[0] for r in db_query(path, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite%'")]
        return {t: db_query(path, "SELECT count(*) FROM %s" % t)[0][0] for t in tables}

    def sqlite_server(self, name):
        """A server on a new SQLite file, whatever database the run's servers use."""
        return self.server(name=name, db=os.path.join(harness.tmpdir(name), "fitd.db"))

    @staticmethod
    def reported_counts(stdout):
        rows = {}
        for line in stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "rows":
                rows[parts[0]] = int(parts[1])
        return rows

    # ---- the test ---------------------------------------------------------------------------------

    def test_sqlite_to_postgres_and_back(self):
        a = self.sqlite_server("mig-sqlite")
        made = self.build(a.client)
        want = self.snapshot(a)
        self.assertGreater(len(want), 60, "the snapshot covers the API")
        for k in ("/v1/jobs/%d" % made["job"], "events %d" % made["job"], "sweep events %d" % made["sweep"]):
            self.assertEqual(want[k][0], 200, k)
        self.assertIn(b'"dataset":{"id":%d,"name":"short-lived","deleted":true}' % made["short_lived"],
                      want["/v1/jobs/%d" % made["lineage_job"]][1], "the lineage of a job whose dataset is gone")
        predict_path = "/v1/models/clf/predict?store=false"
        want_pred = a.client.post(predict_path, {"instances": made["instances"][::-1]}).body
        want_peng = a.client.post("/v1/models/%d/predict?store=false" % made["pm"],
                                  {"instances": made["peng_rows"]}).body
        a.stop()
        counts = self.table_counts(a.db)
        for t in FILLED:
            self.assertGreater(counts[t], 0, "the source has rows in %s" % t)

        # SQLite -> PostgreSQL, into a database a server made the schema of (its node's row stays)
        uri = self.new_pg()
        self.server(name="mig-pg-first", db=uri).stop()
        p = self.migrate(a.db, uri)
        self.assertEqual(self.reported_counts(p.stdout), counts, p.stdout)
        b = self.server(name="mig-pg", db=uri)
        self.assertSameAnswers(want, self.snapshot(b), "PostgreSQL copy")
        if "nodes" in counts:  # the SQLite server's node, stopped, is one of the copy's
            a_nodes = db_query(a.db, "SELECT id, started_at, heartbeat_at FROM nodes")
            b_nodes = {n["id"]: n for n in b.client.get("/v1/nodes").json["items"]}
            for node_id, started, beat in a_nodes:
                self.assertIn(node_id, b_nodes)
                self.assertEqual((b_nodes[node_id]["started_at"], b_nodes[node_id]["heartbeat_at"],
                                  b_nodes[node_id]["stopped"]), (started, beat, True))
        self.assertEqual(b.client.post(predict_path, {"instances": made["instances"][::-1]}).body, want_pred)
        self.assertEqual(b.client.post("/v1/models/%d/predict?store=false" % made["pm"],
                                       {"instances": made["peng_rows"]}).body, want_peng)
        b.stop()

        # PostgreSQL -> SQLite
        c_path = os.path.join(harness.tmpdir("mig-back"), "back.db")
        p = self.migrate(uri, c_path)
        back_counts = dict(counts)
        if "nodes" in counts:  # the two PostgreSQL servers are nodes of their own
            back_counts["nodes"] += 2
        self.assertEqual(self.reported_counts(p.stdout), back_counts, p.stdout)
        self.assertEqual(self.table_counts(c_path), back_counts)
        self.assertEqual(db_query(c_path, "SELECT name, seq FROM sqlite_sequence ORDER BY name"),
                         db_query(a.db, "SELECT name, seq FROM sqlite_sequence ORDER BY name"),
                         "the AUTOINCREMENT counters came back")
        c = self.server(name="mig-back", db=c_path)
        self.assertSameAnswers(want, self.snapshot(c), "SQLite copy of the PostgreSQL copy")
        c.stop()

        # PostgreSQL -> PostgreSQL
        uri2 = self.new_pg()
        p = self.migrate(uri, uri2)
        self.assertEqual(self.reported_counts(p.stdout), back_counts, p.stdout)
        d = self.server(name="mig-pg2", db=uri2)
        self.assertSameAnswers(want, self.snapshot(d), "PostgreSQL copy of the PostgreSQL copy")
        d.stop()

        # Retries and new resources on the copy, against the original doing the same.
        a.start()
        b.start()
        for srv in (a, b):
            cl = srv.client
            r = cl.post("/v1/datasets", made["ds_body"], headers={"Idempotency-Key": "ds-1"})
            self.assertIn(r.status, (200, 201))
            self.assertEqual(r.json["id"], made["ds"], "a retried Idempotency-Key answers the old dataset")
            r = cl.post("/v1/models", made["m_body"], headers={"Idempotency-Key": "m-1"})
            self.assertIn(r.status, (200, 201))
            self.assertEqual(r.json["id"], made["clf"])
            r = cl.post("/v1/jobs", made["j_body"], headers={"Idempotency-Key": "j-1"})
            self.assertIn(r.status, (200, 202))
            self.assertEqual(r.json["id"], made["job"])
            r = cl.post("/v1/sweeps", made["s_body"], headers={"Idempotency-Key": "s-1"})
            self.assertIn(r.status, (200, 202))
            self.assertEqual(r.json["id"], made["sweep"])
            self.assertEqual(cl.get("/v1/datasets?limit=1").json["total"], 2, "the retries created nothing")
        new = {}
        for srv in (a, b):
            cl = srv.client
            d = self.create_dataset(cl, [[0.5] * 6, [1.5] * 6, [2.5] * 6], [0, 1, 2], name="new")["id"]
            m = self.create_model(cl, mlp_body(input_dim=6, hidden=(3,), outputs=3, seed=2, name="new model"))["id"]
            j = self.submit_job(cl, {"model_id": m, "dataset_id": d, "epochs": 1, "seed": 1})["id"]
            self.wait_job(cl, j)
            pr = cl.post("/v1/models/%d/predict" % m, {"instances": [[0.0] * 6]}).json["id"]
            s = cl.post("/v1/sweeps", dict(made["s_body"], name="second")).json["id"]
            self.wait_for(lambda: cl.get("/v1/sweeps/%d" % s).json["status"] == "succeeded", T(120),
                          "the second sweep to succeed", interval=0.1)
            ev = raw_stream(srv.port, "/v1/jobs/%d/events" % j, T(30))[1]
            new[srv.db] = (d, m, j, pr, s, [l for l in ev.split("\n") if l.startswith("id:")])
        self.assertEqual(new[b.db], new[a.db], "the copy numbers new resources as the original does")
        d, m, j, pr, s, _ = new[b.db]
        self.assertEqual(d, made["scratch"] + 1, "the deleted dataset's id is not handed out again")
        self.assertGreater(m, made["anon"])
        self.assertGreater(j, made["lineage_job"])
        self.assertGreater(s, made["sweep"])
        a.stop()

        # TO not empty: refused, nothing written (b has rows; a's file too)
        before = self.snapshot(b)
        b.stop()
        p = self.migrate(c_path, uri, expect=1)
        self.assertIn("not empty", p.stderr)
        self.assertTrue(p.stderr.startswith("fitd: "), p.stderr)
        self.assertEqual(p.stdout, "")
        b.start()
        self.assertSameAnswers(before, self.snapshot(b), "a refused migrate-db")
        b.stop()
        a_counts = self.table_counts(a.db)
        p = self.migrate(uri, a.db, expect=1)
        self.assertIn("not empty", p.stderr)
        self.assertEqual(self.table_counts(a.db), a_counts)

    def peak_rss_kib(self, *args):
        """Runs migrate-db under a small Python parent, so that the peak RSS
        wait4 reports is migrate-db's own (a child's high-water mark starts
        from its parent's at fork, and this test's process holds the CSV)."""
        probe = ("import os, subprocess, sys\n"
                 "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
                 "_, status, ru = os.wait4(p.pid, 0)\n"
                 "print(os.waitstatus_to_exitcode(status), ru.ru_maxrss)\n")
        p = subprocess.run([sys.executable, "-c", probe, Config.binary, "migrate-db", *args,
                            "--share-dir", harness.ROOT], capture_output=True, text=True, timeout=T(600))
        code, rss = (int(v) for v in p.stdout.split())
        self.assertEqual(code, 0, "fitd migrate-db %s: %s" % (" ".join(args), p.stderr))
        return rss

    def test_large_dataset_is_streamed(self):
        """dataset_chunks rows hold 4 MiB blobs: migrate-db must not hold a
        table (PostgreSQL: a whole query result) in memory."""
        block = "".join("%s,%d\n" % (",".join("%d.5" % ((r * 7 + j) % 1000) for j in range(16)), r % 3)
                        for r in range(1000))
        text = ",".join(["f%d" % j for j in range(16)] + ["y"]) + "\n" + block * 1200
        a = self.sqlite_server("mig-big")
        r = a.client.request("POST", "/v1/datasets?name=big&label=y", body=text.encode(),
                             headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        del text, block
        want = self.snapshot(a)
        a.stop()
        chunks, chunk_bytes = db_query(a.db, "SELECT count(*), sum(length(x) + length(y)) FROM dataset_chunks")[0]
        self.assertGreater(chunks, 10)
        self.assertGreater(chunk_bytes, 75e6)
        uri = self.new_pg()
        back = os.path.join(a.dir, "back.db")
        peaks = {"sqlite -> postgres": self.peak_rss_kib(a.db, uri),
                 "postgres -> sqlite": self.peak_rss_kib(uri, back),
                 "sqlite -> sqlite": self.peak_rss_kib(a.db, os.path.join(a.dir, "copy.db"))}
        if not Config.slow:  # sanitizer builds have shadow memory
            for what, kib in peaks.items():
                self.assertLess(kib * 1024, chunk_bytes / 2, "%s peaked at %d KiB for %d bytes of chunks"
                                % (what, kib, chunk_bytes))
        self.assertEqual(db_query(back, "SELECT count(*), sum(length(x) + length(y)) FROM dataset_chunks")[0],
                         (chunks, chunk_bytes))
        for db in (uri, back):
            s = self.server(name="mig-big-copy", db=db)
            self.assertSameAnswers(want, self.snapshot(s), "a copy of the large dataset")
            s.stop()

    def test_running_job_of_a_crashed_server_resumes_on_the_copy(self):
        """A SQLite server killed mid-training leaves its job running: the copy
        takes it as it is, and a PostgreSQL server on the copy resumes it (once
        the dead node's lease ends) to the same weights and history as the
        original file's own restart does."""
        a = self.server(name="mig-crash", db=os.path.join(harness.tmpdir("mig-crash"), "fitd.db"),
                        args=["--commit-interval-ms", "50"])
        c = a.client
        epochs = 400 if Config.slow else 1500
        data = self.create_dataset(c, *blobs(n=400, features=16, classes=4, seed=8), name="crash")
        model = self.create_model(c, mlp_body(input_dim=16, hidden=(32, 32), outputs=4, seed=3, name="crash"))
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": 32, "seed": 6})["id"]
        j = self.wait_job(c, job, statuses=("running",), min_epoch=epochs // 10, timeout=T(60))
        self.assertLess(j["epoch"], epochs, "the job ended before the crash")
        a.kill()
        self.assertEqual(db_query(a.db, "SELECT status FROM jobs WHERE id = %d" % job), [("running",)])
        uri = self.new_pg()
        self.migrate(a.db, uri)
        b = self.server(name="mig-crash-pg", db=uri, args=["--commit-interval-ms", "50"])
        a.start()
        done = {}
        for srv in (a, b):
            d = self.wait_job(srv.client, job, timeout=T(180))
            self.assertEqual(d["status"], "succeeded", d)
            self.assertEqual(d["epoch"], epochs)
            done[srv] = (d["weights_sha256"], [(e["epoch"], e["loss"], e.get("accuracy")) for e in
                                               self.history(srv.client, job)],
                         srv.client.get("/v1/models/%d/weights" % model["id"]).body)
        self.assertEqual(done[b], done[a], "the copy resumed the job to other weights or history")
        a.stop()
        b.stop()

    def test_missing_from_and_bad_arguments(self):
        folder = harness.tmpdir("mig-err")
        missing = os.path.join(folder, "missing.db")
        to = os.path.join(folder, "to.db")
        p = self.migrate(missing, to, expect=1)
        self.assertIn("fitd: FROM %s: No such file or directory" % missing, p.stderr)
        self.assertFalse(os.path.exists(missing), "a missing FROM was created")
        self.assertFalse(os.path.exists(to), "TO was made although FROM is missing")
        # an existing file that is no fitd database
        other = os.path.join(folder, "other.db")
        subprocess.run(["sqlite3", other, "CREATE TABLE t (a); INSERT INTO t VALUES (1);"], check=True)
        p = self.migrate(other, to, expect=1)
        self.assertIn("not a fitd database", p.stderr)
        self.assertEqual(db_query(other, "SELECT name FROM sqlite_schema"), [("t",)], "FROM was changed")
        # a PostgreSQL FROM that cannot be reached
        p = self.migrate("postgresql:///nope?host=%s&port=1" % folder, to, expect=1)
        self.assertIn("fitd: FROM: cannot connect to PostgreSQL", p.stderr)
        # the same database twice; too few arguments
        p = self.migrate(to, to, expect=1)
        self.assertIn("same database", p.stderr)
        p = subprocess.run([Config.binary, "migrate-db", to], capture_output=True, text=True, timeout=T(30))
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: fitd migrate-db FROM TO", p.stderr)
        # --help names the subcommand
        p = subprocess.run([Config.binary, "--help"], capture_output=True, text=True, timeout=T(30))
        self.assertIn("fitd migrate-db FROM TO", p.stdout)
