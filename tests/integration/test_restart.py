"""Restarts and crashes: everything persists; a job interrupted by SIGKILL or
SIGTERM resumes and ends bit-identical to an uninterrupted run; a job that
crashes the process three times is failed; a database from a newer fitd is
refused."""
import glob
import json
import os
import signal
import socket
import sqlite3
import threading
import time

from harness import (sqlite_only, ROOT, Config, FitdCase, Server, T, blobs, db_query, hist_values, mlp_body, weights_sha256)
from test_sse import read_events

# Many short epochs (about a millisecond each here): commits come in groups
# every --commit-interval-ms, so an interruption lands between commits.
# Fewer under a sanitizer, where an epoch takes twenty times longer.
RESUME_ARGS = ["--commit-interval-ms", "50"]


def resume_epochs():
    return 600 if Config.slow else 2500


def resume_data():
    return blobs(n=600, features=32, classes=4, seed=8)


def resume_model(name):
    return mlp_body(input_dim=32, hidden=(64, 64), outputs=4, seed=77, name=name)


class ResumeCase(FitdCase):
    def setup_resume_job(self, c):
        x, y = resume_data()
        data = self.create_dataset(c, x, y, name="resume")
        model = self.create_model(c, resume_model("interrupted"))
        job = self.submit_job(c, self.resume_job_body(model["id"], data["id"]))
        return data, model, job

    @staticmethod
    def resume_job_body(model_id, dataset_id):
        return {"model_id": model_id, "dataset_id": dataset_id, "epochs": resume_epochs(), "batch_size": 32,
                "validation_split": 0.1, "shuffle": True, "seed": 21}

    def wait_progress(self, c, job_id):
        """Waits until some epochs are committed, the job still far from done."""
        j = self.wait_job(c, job_id, statuses=("running",), min_epoch=resume_epochs() // 10, timeout=T(60))
        self.assertLess(j["epoch"], resume_epochs(), "the job ended before it could be interrupted")
        return j

    def check_resumed(self, c, job_id, data_id, interrupted_at):
        """The resumed job and a fresh identical one, run side by side, end
        with the same weights and the same history."""
        ref_model = self.create_model(c, resume_model("reference"))
        ref = self.submit_job(c, self.resume_job_body(ref_model["id"], data_id))
        done = self.wait_job(c, job_id, timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["epoch"], resume_epochs())
        epochs = self.history(c, job_id)
        self.assertHistoryComplete(epochs, resume_epochs(), "every epoch exactly once after the resume")
        ref_done = self.wait_job(c, ref["id"], timeout=T(120))
        self.assertEqual(ref_done["status"], "succeeded", ref_done)
        self.assertEqual(done["weights_sha256"], ref_done["weights_sha256"],
                         "the interrupted job (stopped after epoch %d) does not end as an uninterrupted one"
                         % interrupted_at)
        ref_epochs = self.history(c, ref["id"])
        self.assertEqual(hist_values(epochs), hist_values(ref_epochs), "loss curves differ")
        w = c.get("/v1/models/%d/weights" % done["model_id"]).json
        self.assertEqual(weights_sha256(w), done["weights_sha256"])
        return done


class TestPersistence(FitdCase):
    def snapshot(self, c, ids):
        paths = ["/v1/datasets?limit=500", "/v1/models?limit=500", "/v1/jobs?limit=500"]
        for d in ids["datasets"]:
            paths.append("/v1/datasets/%d" % d)
        for m in ids["models"]:
            paths += ["/v1/models/%d" % m, "/v1/models/%d/weights" % m, "/v1/models/%d/predictions" % m]
        for p in ids["predictions"]:
            paths.append("/v1/predictions/%d" % p)
        for j in ids["jobs"]:
            paths += ["/v1/jobs/%d" % j, "/v1/jobs/%d/history" % j]
        snap = {}
        for p in paths:
            r = c.get(p)
            self.assertStatus(r, 200, p)
            snap[p] = r.json
        return snap

    def test_everything_survives_restarts(self):
        srv = self.server(name="persist")
        c = srv.client
        x, y = blobs(n=200, features=8, classes=3, seed=4)
        ids = {"datasets": [], "models": [], "predictions": [], "jobs": []}
        ids["datasets"].append(self.create_dataset(c, x, y, name="json")["id"])
        csv = "a,b,c,y\n" + "".join("%d,%d,%d,%.2f\n" % (i, i * 2, i % 5, i / 7) for i in range(50))
        r = c.post("/v1/datasets?name=csv&label=y", body=csv, headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        ids["datasets"].append(r.json["id"])

        trained = self.create_model(c, mlp_body(input_dim=8, hidden=(12,), outputs=3, name="trained"))
        ids["models"].append(trained["id"])
        job = self.submit_job(c, {"model_id": trained["id"], "dataset_id": ids["datasets"][0], "epochs": 5})
        ids["jobs"].append(job["id"])
        self.assertEqual(self.wait_job(c, job["id"])["status"], "succeeded")

        custom = self.create_model(c, mlp_body(input_dim=3, hidden=(), outputs=1, out_act="linear", loss="mse",
                                               metrics=(), name="custom"))
        ids["models"].append(custom["id"])
        w = {"layers": [{"kernel": [[0.1], [1 / 3], [-2.5e-7]], "bias": [0.7]}]}
        self.assertStatus(c.put("/v1/models/%d/weights" % custom["id"], w), 200)
        for m, rows in ((trained["id"], x[:3]), (custom["id"], [[1, 2, 3], [4, 5, 6]])):
            r = c.post("/v1/models/%d/predict" % m, {"instances": rows})
            self.assertStatus(r, 200)
            ids["predictions"].append(r.json["id"])

        before = self.snapshot(c, ids)
        srv.stop()                      # SIGTERM, exit code 0
        srv.start()
        self.assertEqual(self.snapshot(srv.client, ids), before, "a restart lost or changed something")
        srv.kill()                      # a crash loses nothing committed either
        srv.start()
        self.assertEqual(self.snapshot(srv.client, ids), before, "a crash lost or changed something")
        # and the service works on
        r = srv.client.post("/v1/models/%d/predict?store=false" % trained["id"], {"instances": x[:3]})
        self.assertStatus(r, 200)
        p = srv.client.get("/v1/predictions/%d" % ids["predictions"][0]).json
        self.assertEqual(r.json["predictions"], p["predictions"])
        srv.stop()


class TestCrashResume(ResumeCase):
    def test_sigkill_during_training_resumes_exactly(self):
        """Killed twice mid-training: the third run (attempts 3) still runs,
        and the job ends exactly as an uninterrupted one."""
        srv = self.server(args=RESUME_ARGS, name="sigkill")
        data, model, job = self.setup_resume_job(srv.client)
        at = self.wait_progress(srv.client, job["id"])["epoch"]
        kills = [at]
        srv.kill()
        srv.start()
        c = srv.client
        j = c.get("/v1/jobs/%d" % job["id"]).json
        self.assertIn(j["status"], ("queued", "running"), j)
        self.assertGreaterEqual(j["epoch"], at, "committed epochs survive the crash")
        self.assertHistoryComplete(self.history(c, job["id"]), j["epoch"])
        # the second crash, further on
        j = self.wait_job(c, job["id"], statuses=("running",), min_epoch=at + resume_epochs() // 5, timeout=T(60))
        self.assertLess(j["epoch"], resume_epochs(), "the job ended before the second crash")
        kills.append(j["epoch"])
        srv.kill()
        srv.start()
        c = srv.client
        done = self.check_resumed(c, job["id"], data["id"], kills[-1])
        self.assertEqual(done["attempts"], 3, "two crashed runs and the one that finished")
        self.assertEqual(c.get("/v1/models/%d" % model["id"]).json["status"], "trained")
        # the job leaves exactly one version (written in its final commit), whatever the crashes
        versions = c.get("/v1/models/%d/versions" % model["id"]).json
        self.assertEqual(versions["total"], 1, versions)
        v = versions["items"][0]
        self.assertEqual((v["version"], v["job_id"], v["weights_sha256"], v["epoch"]),
                         (1, job["id"], done["weights_sha256"], resume_epochs()))
        srv.stop()

    def test_events_after_a_crash(self):
        """The event log of a job resumed after SIGKILL: every epoch once, in
        order, the stream ending with the final status."""
        srv = self.server(args=RESUME_ARGS, name="sse-crash")
        c = srv.client
        rows = 40 if Config.slow else 200
        data = self.create_dataset(c, *blobs(n=rows, features=64, classes=4, seed=2), name="slow epochs")
        model = self.create_model(c, mlp_body(input_dim=64, hidden=(256, 256), outputs=4, name="sse-crash"))
        epochs = 40   # fewer events than one page of the stream's reads
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": 1, "seed": 3})
        j = self.wait_job(c, job["id"], statuses=("running",), min_epoch=5, timeout=T(30))
        self.assertLess(j["epoch"], epochs, "the job ended before the crash")
        srv.kill()
        srv.start()
        done = self.wait_job(srv.client, job["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded")
        _, events, _ = read_events(srv.port, job["id"], timeout=T(15))
        rows = [json.loads(e["data"])["epoch"] for e in events if e.get("event") == "epoch"]
        self.assertEqual(rows, list(range(1, epochs + 1)), "SSE epoch events after a crash")
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(events[-1]["event"], "status")
        self.assertEqual(json.loads(events[-1]["data"])["status"], "succeeded")
        srv.stop()

    def test_sigterm_during_training_exits_0_and_resumes(self):
        srv = self.server(args=RESUME_ARGS, name="sigterm")
        data, model, job = self.setup_resume_job(srv.client)
        at = self.wait_progress(srv.client, job["id"])["epoch"]
        # a listener is streaming the job's events when the signal comes
        stream = {}

        def listen():
            try:
                stream["events"] = read_events(srv.port, job["id"], timeout=T(30))[1]
            except Exception as e:  # checked below
                stream["error"] = e
        t = threading.Thread(target=listen, daemon=True)
        t.start()
        time.sleep(0.2)
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.wait_exit(T(30))
        self.assertIsNotNone(code, "fitd did not exit within %.0f s of SIGTERM" % T(30))
        self.assertEqual(code, 0, "exit code after SIGTERM")
        t.join(T(5))
        self.assertFalse(t.is_alive(), "the event stream did not end at shutdown")
        self.assertIn("stopped", srv.log_text(), "an orderly shutdown is logged")

        srv.start()
        c = srv.client
        j = c.get("/v1/jobs/%d" % job["id"]).json
        self.assertIn(j["status"], ("queued", "running", "succeeded"), "the job is resumable: %r" % j)
        self.assertGreaterEqual(j["epoch"], at)
        self.check_resumed(c, job["id"], data["id"], j["epoch"])
        srv.stop()

    def test_sigterm_finishes_in_flight_requests(self):
        """SIGTERM while an upload is half sent: no new connections, the
        upload completes and is answered, then fitd exits 0."""
        srv = self.server(name="inflight")
        rows = "".join("%d,%d,%d\n" % (i, i * 3, i % 2) for i in range(2000)).encode()
        body = b"a,b,y\n" + rows
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(30))
        self.addCleanup(sock.close)
        sock.sendall(b"POST /v1/datasets?name=inflight HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        half = len(body) // 2
        sock.sendall(body[:half])
        # the upload has begun: its 'uploading' row is in the database file
        self.wait_for(lambda: db_query(srv.db, "SELECT count(*) FROM datasets WHERE state = 'uploading'")[0][0] == 1,
                      T(10), "the upload to begin")
        srv.proc.send_signal(signal.SIGTERM)
        self.wait_for(lambda: "shutting down" in srv.log_text(), T(10), "the SIGTERM to be logged")
        self.assertTrue(srv.running(), "fitd exited with a request in flight")
        try:
            r = srv.client.get("/healthz", timeout=T(5))
            self.assertEqual(r.status, 503, "a new request during shutdown: %r" % r)
        except OSError:
            pass  # refused: not accepting any more
        sock.sendall(body[half:])
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 201"), "the in-flight upload was not finished: %r" % data[:300])
        code = srv.wait_exit(T(10))
        self.assertEqual(code, 0, "exit code after SIGTERM")
        srv.start()
        items = srv.client.get("/v1/datasets").json["items"]
        self.assertEqual([(d["name"], d["n_samples"]) for d in items], [("inflight", 2000)])
        srv.stop()

    def test_three_crashes_fail_the_job(self):
        srv = self.server(args=RESUME_ARGS, name="crashloop")
        c = srv.client
        data = self.create_dataset(c, *blobs(n=4000, features=64, classes=4, seed=2), name="big")
        model = self.create_model(c, mlp_body(input_dim=64, hidden=(256, 256), outputs=4, name="poison"))
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": 100000, "seed": 1})
        epoch = 0
        for run in (1, 2, 3):
            j = self.wait_job(srv.client, job["id"], statuses=("running",), min_epoch=epoch + 1, timeout=T(30))
            self.assertEqual(j["attempts"], run, "attempts counts the runs: %r" % j)
            epoch = j["epoch"]
            srv.kill()
            srv.start()
        c = srv.client
        j = c.get("/v1/jobs/%d" % job["id"]).json
        self.assertEqual(j["status"], "failed", "a job that crashed the process 3 times is not retried: %r" % j)
        self.assertEqual(j["attempts"], 3)
        self.assertIsInstance(j["error"], str)
        self.assertRegex(j["error"], r"\b3\b", "the error says why: %r" % j["error"])
        self.assertTime(j["finished_at"])
        self.assertGreaterEqual(j["epoch"], epoch)
        self.assertHistoryComplete(self.history(c, job["id"]), j["epoch"])
        time.sleep(0.3)
        self.assertEqual(c.get("/v1/jobs/%d" % job["id"]).json["status"], "failed", "it stays failed")
        self.assertNotEqual(c.get("/v1/models/%d" % model["id"]).json["status"], "training")
        # the service goes on: the model trains again when asked
        again = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": 1})
        self.assertEqual(self.wait_job(c, again["id"])["status"], "succeeded")
        srv.stop()


@sqlite_only("reads and writes SQLite's user_version")
class TestMigrations(FitdCase):
    def test_newer_database_refused(self):
        srv = Server(name="newer")
        self.addCleanup(srv.cleanup)
        with sqlite3.connect(srv.db) as db:
            db.execute("PRAGMA user_version = 999")
        db.close()
        srv.start(wait_ready=False)
        code = srv.wait_exit(T(20))
        self.assertIsNotNone(code, "fitd kept running on a database from a newer fitd")
        self.assertNotEqual(code, 0)
        err = srv.stderr_text()
        self.assertIn("999", err, "the message names the version: %r" % err)
        self.assertRegex(err, r"(?i)newer", "the message says the database is newer: %r" % err)
        self.assertNotIn("listening", srv.log_text())
        with sqlite3.connect(srv.db) as db:
            self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 999, "the database was changed")
        db.close()

    def test_fresh_database_migrated(self):
        srv = self.server(name="fresh")
        srv.stop()
        latest = max(int(os.path.basename(p)[:4]) for p in glob.glob(os.path.join(ROOT, "migrations", "sqlite", "[0-9]*.sql")))
        with sqlite3.connect(srv.db) as db:
            self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], latest)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        db.close()
        for t in ("datasets", "models", "jobs"):
            self.assertIn(t, tables)
        srv.start()                     # an up-to-date database opens as it is
        self.assertStatus(srv.client.get("/readyz"), 200)
        srv.stop()
