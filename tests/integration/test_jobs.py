"""Training jobs: the tutorial workflow end to end, validation, early
stopping, Keras's History loss, divergence, submit-time checks, determinism,
many jobs on two workers, one job per model, cancel, writes under training
load, Idempotency-Key, commit grouping, the bounded queue, and optimizer
steps against Keras's update rules."""
import json
import math
import re
import threading
import time

from harness import (ANY, FINAL, Config, FitdCase, T, blobs, hist_values, mlp_body, one_hot, weights_sha256)
from test_sse import read_events

SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def tutorial_data():
    return blobs(n=400, features=16, classes=4, seed=1)


def big_data():
    # Big enough that an epoch takes tens of milliseconds: a job of many
    # epochs on it runs until it is cancelled.
    return blobs(n=4000, features=64, classes=4, seed=2)


def big_model(name, seed=1):
    return mlp_body(input_dim=64, hidden=(256, 256), outputs=4, seed=seed, name=name)


LONG_EPOCHS = 100000


class JobCase(FitdCase):
    def long_job(self, c, model_id, dataset_id):
        """A job that runs until cancelled; cancelled at the end of the test."""
        j = self.submit_job(c, {"model_id": model_id, "dataset_id": dataset_id, "epochs": LONG_EPOCHS,
                                "batch_size": 32, "seed": 3})

        def cancel():
            try:
                r = c.post("/v1/jobs/%d/cancel" % j["id"])
            except OSError:
                return  # the test stopped the server
            if r.status == 200:
                self.wait_job(c, j["id"])
        self.addCleanup(cancel)
        return j


class TestJobs(JobCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--commit-interval-ms", "50"], name="jobs")
        cls.c = cls.srv.client
        x, y = tutorial_data()
        r = cls.c.post("/v1/datasets", {"name": "tutorial", "x": x, "y": y})
        assert r.status == 201, r
        cls.data = r.json

    def run_job(self, body, model=None):
        if "model_id" not in body:
            body = dict(body, model_id=self.create_model(self.c, model or mlp_body())["id"])
        j = self.submit_job(self.c, body)
        return self.wait_job(self.c, j["id"])

    def test_tutorial_workflow(self):
        model = self.create_model(self.c, mlp_body(input_dim=16, hidden=(25, 15), outputs=4, name="tutorial"))
        body = {"model_id": model["id"], "dataset_id": self.data["id"], "epochs": 10, "batch_size": 32, "seed": 7}
        r = self.c.post("/v1/jobs", body)
        self.assertStatus(r, 202)
        j = r.json
        self.assertEqual(r.header("Location"), "/v1/jobs/%d" % j["id"])
        self.assertIn(j["status"], ("queued", "running"))
        self.assertEqual((j["model_id"], j["dataset_id"], j["epochs"]), (model["id"], self.data["id"], 10))
        self.assertIsNone(j["error"])
        self.assertTime(j["created_at"])

        done = self.wait_job(self.c, j["id"])
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["epoch"], 10)
        self.assertEqual(done["epochs"], 10)
        self.assertIsNone(done["error"])
        self.assertRegex(done["weights_sha256"], SHA_RE)
        self.assertIsInstance(done["metrics"]["loss"], float)
        self.assertTrue(0 <= done["metrics"]["accuracy"] <= 1)
        self.assertGreater(done["samples_per_second"], 0)
        for k in ("created_at", "started_at", "finished_at"):
            self.assertTime(done[k], k)
        self.assertLessEqual(done["started_at"], done["finished_at"])

        epochs = self.history(self.c, j["id"])
        self.assertHistoryComplete(epochs, 10)
        losses = [e["loss"] for e in epochs]
        self.assertLess(losses[-1], 0.5 * losses[0], "loss decreases overall: %r" % losses)
        self.assertLess(sum(losses[5:]), sum(losses[:5]))
        for e in epochs:
            self.assertTrue(0 <= e["accuracy"] <= 1)
            self.assertGreaterEqual(e["seconds"], 0)
            self.assertNotIn("val_loss", e)
        self.assertGreater(epochs[-1]["accuracy"], 0.9, "the blobs are learnable")
        self.assertEqual(done["metrics"]["loss"], epochs[-1]["loss"])

        m = self.c.get("/v1/models/%d" % model["id"]).json
        self.assertEqual(m["status"], "trained")
        # weights_sha256 is SHA-256 of the final weights as little-endian float32 in get_weights() order
        w = self.c.get("/v1/models/%d/weights" % model["id"]).json
        self.assertEqual(weights_sha256(w), done["weights_sha256"])

        # the trained model predicts the training data well
        x, y = tutorial_data()
        p = self.c.post("/v1/models/%d/predict?store=false" % model["id"], {"instances": x[:100]}).json
        self.assertGreater(sum(1 for a, b in zip(p["classes"], y[:100]) if a == b), 90)
        ev = self.c.post("/v1/models/%d/evaluate" % model["id"], {"dataset_id": self.data["id"]}).json
        self.assertEqual(ev["n_samples"], 400)
        self.assertGreater(ev["accuracy"], 0.9)

        # a second job continues from the trained weights, as a second fit() does
        again = self.wait_job(self.c, self.submit_job(self.c, dict(body, epochs=2))["id"])
        self.assertEqual(again["status"], "succeeded")
        second = self.history(self.c, again["id"])
        self.assertHistoryComplete(second, 2)
        self.assertLess(second[0]["loss"], losses[2], "training went on from the trained weights")

    def test_job_listing(self):
        done = self.run_job({"dataset_id": self.data["id"], "epochs": 2, "seed": 1})
        r = self.c.get("/v1/jobs?model_id=%d" % done["model_id"])
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"items", "total"})
        self.assertEqual([j["id"] for j in r.json["items"]], [done["id"]])
        self.assertEqual(r.json["total"], 1)
        r = self.c.get("/v1/jobs?status=succeeded&limit=500")
        self.assertStatus(r, 200)
        self.assertIn(done["id"], [j["id"] for j in r.json["items"]])
        self.assertTrue(all(j["status"] == "succeeded" for j in r.json["items"]))
        self.assertEqual(self.c.get("/v1/jobs?status=running&model_id=%d" % done["model_id"]).json["total"], 0)
        self.assertError(self.c.get("/v1/jobs?status=done"), 422, "validation_failed", "status")
        self.assertError(self.c.get("/v1/jobs?model_id=x"), 422, "validation_failed", "model_id")
        self.assertError(self.c.get("/v1/jobs?limit=501"), 422, "validation_failed", "limit")

    def test_validation_split(self):
        done = self.run_job({"dataset_id": self.data["id"], "epochs": 4, "validation_split": 0.25, "seed": 2})
        self.assertEqual(done["status"], "succeeded")
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            self.assertIsInstance(done["metrics"].get(k), (int, float), k)
        epochs = self.history(self.c, done["id"])
        self.assertHistoryComplete(epochs, 4)
        for e in epochs:
            self.assertIsInstance(e.get("val_loss"), float)
            self.assertTrue(0 <= e["val_accuracy"] <= 1)

    def test_validation_split_takes_the_last_rows(self):
        """validation_split 0.25 of 400 rows validates on rows 300..399, the
        last ones before shuffling: val_loss after the last epoch is the
        loss of the final weights on exactly those rows."""
        x, y = tutorial_data()
        tail = self.create_dataset(self.c, x[300:], y[300:], name="last 100 rows")
        done = self.run_job({"dataset_id": self.data["id"], "epochs": 3, "validation_split": 0.25, "seed": 6,
                             "shuffle": True})
        self.assertEqual(done["status"], "succeeded")
        last = self.history(self.c, done["id"])[-1]
        ev = self.c.post("/v1/models/%d/evaluate" % done["model_id"], {"dataset_id": tail["id"]}).json
        self.assertEqual(ev["n_samples"], 100)
        self.assertAlmostEqual(last["val_loss"], ev["loss"], delta=1e-5 * max(1, ev["loss"]))
        self.assertAlmostEqual(last["val_accuracy"], ev["accuracy"], places=6)

    def test_epoch_loss_is_keras_history_loss(self):
        """With a learning rate too small to move a float32 weight, an epoch's
        loss is the loss of the initial weights on the training rows: the
        mean over the batches weighted by batch size (400 rows in batches of
        32: the last batch has 16), plus the L2 penalty l2 * sum(kernel^2)."""
        x, y = tutorial_data()
        body = mlp_body(optimizer={"type": "sgd", "learning_rate": 1e-12}, name="frozen")
        body["layers"][0]["l2"] = 0.01
        model = self.create_model(self.c, body)
        w = self.c.get("/v1/models/%d/weights" % model["id"]).json
        penalty = 0.01 * sum(v * v for row in w["layers"][0]["kernel"] for v in row)
        p = self.c.post("/v1/models/%d/predict?store=false" % model["id"], {"instances": x}).json
        ce = [-math.log(max(row[c], 1e-7)) for row, c in zip(p["predictions"], y)]
        weighted = sum(ce) / len(ce) + penalty
        batches = [ce[i:i + 32] for i in range(0, len(ce), 32)]
        unweighted = sum(sum(b) / len(b) for b in batches) / len(batches) + penalty
        accuracy = sum(1 for k, c in zip(p["classes"], y) if k == c) / len(y)

        done = self.run_job({"model_id": model["id"], "dataset_id": self.data["id"], "epochs": 1,
                             "batch_size": 32, "shuffle": False})
        self.assertEqual(done["status"], "succeeded")
        after = self.c.get("/v1/models/%d/weights" % model["id"]).json
        self.assertEqual([l["kernel"] for l in after["layers"]], [l["kernel"] for l in w["layers"]],
                         "the kernels moved")  # the zero biases may move by 1e-13: no matter
        e = self.history(self.c, done["id"])[0]
        tolerance = 2e-5 * weighted
        self.assertGreater(abs(weighted - unweighted), 3 * tolerance, "the test cannot tell the two means apart")
        self.assertAlmostEqual(e["loss"], weighted, delta=tolerance,
                               msg="epoch loss %r: weighted mean %r + L2 (unweighted mean would be %r, without "
                                   "L2 %r)" % (e["loss"], weighted, unweighted, weighted - penalty))
        self.assertAlmostEqual(e["accuracy"], accuracy, places=6)

    def test_batch_sizes(self):
        x, y = blobs(n=40, features=16, classes=4, seed=12)
        small = self.create_dataset(self.c, x, y, name="40 rows")
        for batch in (1, 7, 40, 1000):
            with self.subTest(batch_size=batch):
                done = self.run_job({"dataset_id": small["id"], "epochs": 2, "batch_size": batch, "seed": 1})
                self.assertEqual(done["status"], "succeeded", done)
                self.assertEqual(done["batch_size"], batch)
                self.assertHistoryComplete(self.history(self.c, done["id"]), 2)

    def test_diverging_job_fails_and_keeps_good_weights(self):
        x = [[float(i), float(2 * i)] for i in range(50)]
        y = [100.0 * i for i in range(50)]
        data = self.create_dataset(self.c, x, y, name="diverge")
        model = self.create_model(self.c, mlp_body(input_dim=2, hidden=(8,), outputs=1, out_act="linear", loss="mse",
                                                   metrics=(), optimizer={"type": "sgd", "learning_rate": 10.0},
                                                   name="diverge"))
        # seed 0: the loss of epoch 2 is finite (in double), its last update
        # overflows a float32 weight, and epoch 3 diverges
        done = self.run_job({"model_id": model["id"], "dataset_id": data["id"], "epochs": 50, "batch_size": 5,
                             "seed": 0})
        self.assertEqual(done["status"], "failed", done)
        self.assertIsInstance(done["error"], str)
        self.assertRegex(done["error"], r"(?i)diverg|nan|infinit", "a clear error: %r" % done["error"])
        self.assertLess(done["epoch"], 50)
        self.assertIn(done["weights_sha256"], (None, ""))
        self.assertTime(done["finished_at"])
        epochs = self.history(self.c, done["id"])
        self.assertHistoryComplete(epochs, done["epoch"])
        self.assertTrue(all(math.isfinite(e["loss"]) for e in epochs))
        w = self.c.get("/v1/models/%d/weights" % model["id"]).json
        values = [v for l in w["layers"] for row in l["kernel"] for v in row] + \
                 [v for l in w["layers"] for v in l["bias"]]
        bad = [v for v in values if not (isinstance(v, (int, float)) and math.isfinite(v))]
        self.assertEqual(bad, [], "the model keeps its last good (finite) weights; job: %r" % done)
        self.assertNotEqual(self.c.get("/v1/models/%d" % model["id"]).json["status"], "training")

    def test_validation_dataset(self):
        x, y = blobs(n=80, features=16, classes=4, seed=1)
        val = self.create_dataset(self.c, x, y, name="val")
        done = self.run_job({"dataset_id": self.data["id"], "validation_dataset_id": val["id"], "epochs": 3})
        self.assertEqual(done["status"], "succeeded")
        self.assertEqual(done.get("validation_dataset_id"), val["id"])
        epochs = self.history(self.c, done["id"])
        self.assertHistoryComplete(epochs, 3)
        self.assertTrue(all("val_loss" in e and "val_accuracy" in e for e in epochs))
        # val_loss is the loss on the validation rows after the epoch: evaluate agrees on the last one
        ev = self.c.post("/v1/models/%d/evaluate" % done["model_id"], {"dataset_id": val["id"]}).json
        self.assertAlmostEqual(ev["loss"], epochs[-1]["val_loss"], delta=1e-4 * max(1, ev["loss"]))
        self.assertAlmostEqual(ev["accuracy"], epochs[-1]["val_accuracy"], places=6)

    def test_early_stopping(self):
        # No epoch can improve the loss by 10: patience 2 stops after epoch 3.
        done = self.run_job({"dataset_id": self.data["id"], "epochs": 50, "seed": 4,
                             "early_stopping": {"monitor": "loss", "patience": 2, "min_delta": 10}})
        self.assertEqual(done["status"], "succeeded", done)
        self.assertLess(done["epoch"], 50, "early stopping stops early")
        self.assertEqual(done["epoch"], 3)
        self.assertRegex(done["weights_sha256"], SHA_RE)
        self.assertHistoryComplete(self.history(self.c, done["id"]), done["epoch"])
        done = self.run_job({"dataset_id": self.data["id"], "epochs": 40, "validation_split": 0.2, "seed": 4,
                             "early_stopping": {"monitor": "val_loss", "patience": 1, "min_delta": 10}})
        self.assertEqual((done["status"], done["epoch"]), ("succeeded", 2))

    def test_submit_checks(self):
        d16 = self.data
        d8 = self.create_dataset(self.c, [[0.5] * 8] * 8, [0, 1, 2, 3] * 2, name="8 features")
        d_labels = self.create_dataset(self.c, [[0.5] * 16] * 6, [0, 1, 2, 3, 4, 5], name="labels to 5")
        x, y = blobs(n=8, features=16, classes=4)
        d_onehot = self.create_dataset(self.c, x, one_hot(y, 4), name="one-hot")
        d_real = self.create_dataset(self.c, x, [0.5] * 8, name="real")
        sparse = self.create_model(self.c, mlp_body(name="sparse"))["id"]
        categorical = self.create_model(self.c, mlp_body(loss="categorical_crossentropy", name="cat"))["id"]
        before = self.c.get("/v1/jobs").json["total"]
        base = {"model_id": sparse, "dataset_id": d16["id"], "epochs": 1}
        cases = [
            (dict(base, dataset_id=d8["id"]), 422, "validation_failed", "dataset_id"),
            (dict(base, dataset_id=d_labels["id"]), 422, "validation_failed", "dataset_id"),
            (dict(base, dataset_id=d_onehot["id"]), 422, "validation_failed", "dataset_id"),
            (dict(base, dataset_id=d_real["id"]), 422, "validation_failed", "dataset_id"),
            (dict(base, model_id=categorical), 422, "validation_failed", "dataset_id"),
            (dict(base, validation_dataset_id=d8["id"]), 422, "validation_failed", "validation_dataset_id"),
            (dict(base, model_id=999999), 404, "not_found", "model_id"),
            (dict(base, dataset_id=999999), 404, "not_found", "dataset_id"),
            (dict(base, validation_dataset_id=999999), 404, "not_found", "validation_dataset_id"),
            (dict(base, epochs=10 ** 12), 422, "validation_failed", "epochs"),
            (dict(base, epochs=0), 422, "validation_failed", "epochs"),
            (dict(base, epochs=2.5), 422, "validation_failed", "epochs"),
            (dict(base, epochs="10"), 422, "validation_failed", "epochs"),
            (dict(base, batch_size=0), 422, "validation_failed", "batch_size"),
            (dict(base, validation_split=1.0), 422, "validation_failed", "validation_split"),
            (dict(base, validation_split=-0.1), 422, "validation_failed", "validation_split"),
            (dict(base, validation_split=0.2, validation_dataset_id=d16["id"]), 422, "validation_failed", ANY),
            (dict(base, shuffle="yes"), 422, "validation_failed", "shuffle"),
            (dict(base, seed=-1), 422, "validation_failed", "seed"),
            (dict(base, epoch=3), 422, "validation_failed", "epoch"),
            (dict(base, early_stopping={"monitor": "val_los"}), 422, "validation_failed", "early_stopping.monitor"),
            (dict(base, early_stopping={"monitor": "val_loss"}), 422, "validation_failed",
             "early_stopping.monitor"),
            (dict(base, early_stopping={"monitor": "loss", "patient": 1}), 422, "validation_failed",
             "early_stopping.patient"),
            ({"dataset_id": d16["id"]}, 422, "validation_failed", "model_id"),
            ({"model_id": sparse}, 422, "validation_failed", "dataset_id"),
            (dict(base, model_id="1"), 422, "validation_failed", "model_id"),
        ]
        for body, status, code, field in cases:
            with self.subTest(body=body):
                self.assertError(self.c.post("/v1/jobs", body), status, code, field)
        r = self.c.post("/v1/jobs", body=json.dumps(base).replace('"epochs": 1', '"epochs": 1e999'),
                        headers={"Content-Type": "application/json"})
        self.assertError(r, 422, "validation_failed", "epochs")
        self.assertError(self.c.post("/v1/jobs", body='{"model_id": 1,', headers={"Content-Type": "application/json"}),
                         400, "invalid_json", None)
        self.assertEqual(self.c.get("/v1/jobs").json["total"], before, "a refused job was stored")

    def test_determinism(self):
        """Same model, data, seed and options: bit-identical curves and weights,
        though the two jobs run at once on the two workers."""
        body = {"dataset_id": self.data["id"], "epochs": 12, "batch_size": 16, "validation_split": 0.2,
                "shuffle": True, "seed": 11}
        models = [self.create_model(self.c, mlp_body(seed=42, name="twin-%d" % i))["id"] for i in range(3)]
        jobs = [self.submit_job(self.c, dict(body, model_id=m))["id"] for m in models[:2]]
        jobs.append(self.submit_job(self.c, dict(body, model_id=models[2], seed=12))["id"])
        done = [self.wait_job(self.c, j) for j in jobs]
        self.assertEqual([d["status"] for d in done], ["succeeded"] * 3)
        self.assertEqual(done[0]["weights_sha256"], done[1]["weights_sha256"])
        h = [hist_values(self.history(self.c, j)) for j in jobs]
        self.assertEqual(h[0], h[1], "identical jobs gave different loss curves")
        self.assertEqual(self.c.get("/v1/models/%d/weights" % models[0]).json,
                         self.c.get("/v1/models/%d/weights" % models[1]).json)
        self.assertNotEqual(done[2]["weights_sha256"], done[0]["weights_sha256"], "the job's seed shuffles")

    def test_many_jobs(self):
        """Six jobs on two workers: all succeed, every epoch row exactly once."""
        x, y = blobs(n=1200, features=16, classes=4, seed=9)
        data = self.create_dataset(self.c, x, y, name="many")
        jobs = []
        for i in range(6):
            m = self.create_model(self.c, mlp_body(seed=i, hidden=(64, 32), name="many-%d" % i))
            jobs.append(self.submit_job(self.c, {"model_id": m["id"], "dataset_id": data["id"], "epochs": 25,
                                                 "batch_size": 8 + i, "seed": i})["id"])
        for j in jobs:
            done = self.wait_job(self.c, j, timeout=T(120))
            self.assertEqual(done["status"], "succeeded", done)
            self.assertEqual(done["epoch"], 25)
            self.assertHistoryComplete(self.history(self.c, j), 25, "history of job %d" % j)
            self.assertEqual(self.c.get("/v1/models/%d" % done["model_id"]).json["status"], "trained")
        metrics = self.c.get("/metrics").text
        m = re.search(r'(?m)^fitd_jobs\{state="succeeded"\} (\d+)$', metrics)
        self.assertTrue(m and int(m.group(1)) >= 6, "fitd_jobs{state=succeeded} counts them")

    def test_one_job_per_model_and_dataset_in_use(self):
        big = self.create_dataset(self.c, *big_data(), name="big-409")
        model = self.create_model(self.c, big_model("busy"))
        j = self.long_job(self.c, model["id"], big["id"])
        self.wait_job(self.c, j["id"], statuses=("running",))
        r = self.c.post("/v1/jobs", {"model_id": model["id"], "dataset_id": big["id"], "epochs": 1})
        self.assertError(r, 409, "conflict", ANY)
        self.assertError(self.c.delete("/v1/datasets/%d" % big["id"]), 409, "conflict", ANY)
        self.assertStatus(self.c.get("/v1/datasets/%d" % big["id"]), 200)
        self.assertEqual(self.c.get("/v1/models/%d" % model["id"]).json["status"], "training")
        # once the job is over, both are free again
        self.assertStatus(self.c.post("/v1/jobs/%d/cancel" % j["id"]), 200)
        self.wait_job(self.c, j["id"], statuses=("cancelled",))
        self.assertStatus(self.c.delete("/v1/datasets/%d" % big["id"]), 204)
        # a job the model can take (64 features) is accepted now: the model is free
        x, y = blobs(n=64, features=64, classes=4, seed=5)
        small = self.create_dataset(self.c, x, y, name="small-64")
        again = self.submit_job(self.c, {"model_id": model["id"], "dataset_id": small["id"], "epochs": 1})
        self.assertEqual(self.wait_job(self.c, again["id"])["status"], "succeeded")

    def test_cancel_running(self):
        big = self.create_dataset(self.c, *big_data(), name="big-cancel")
        model = self.create_model(self.c, big_model("cancel"))
        j = self.long_job(self.c, model["id"], big["id"])
        self.wait_job(self.c, j["id"], statuses=("running",), min_epoch=3)
        # a dashboard follows the job's events
        stream = {}

        def listen():
            try:
                stream["events"] = read_events(self.srv.port, j["id"], last_event_id=2, timeout=T(20))[1]
            except Exception as e:  # checked below
                stream["error"] = e
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.2)
        r = self.c.post("/v1/jobs/%d/cancel" % j["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], j["id"])
        if r.json["status"] != "cancelled":
            self.wait_job(self.c, j["id"], statuses=("cancelled",), timeout=T(30))
        done = self.c.get("/v1/jobs/%d" % j["id"]).json
        self.assertEqual(done["status"], "cancelled")
        self.assertGreaterEqual(done["epoch"], 3)
        self.assertLess(done["epoch"], LONG_EPOCHS)
        self.assertTime(done["finished_at"])
        # a cancelled job that finished epochs changed the weights: it reports their hash (issue 13)
        w = self.c.get("/v1/models/%d/weights" % model["id"]).json
        self.assertEqual(done["weights_sha256"], weights_sha256(w), "the hash of the weights it left")
        epochs = self.history(self.c, j["id"])
        self.assertHistoryComplete(epochs, done["epoch"], "the finished epochs are kept, no partial one")
        listener.join(T(10))
        self.assertNotIn("error", stream, "the event stream: %r" % stream.get("error"))
        self.assertEqual(json.loads(stream["events"][-1]["data"])["status"], "cancelled",
                         "the stream ends with the cancelled status")
        self.assertNotEqual(self.c.get("/v1/models/%d" % model["id"]).json["status"], "training")
        self.assertError(self.c.post("/v1/jobs/%d/cancel" % j["id"]), 409, "conflict", ANY)
        # still cancelled, nothing more was recorded
        time.sleep(0.2)
        self.assertEqual(len(self.history(self.c, j["id"])), done["epoch"])
        self.assertError(self.c.post("/v1/jobs/999999/cancel"), 404, "not_found", ANY)
        # a finished job cannot be cancelled either
        finished = self.run_job({"dataset_id": self.data["id"], "epochs": 1})
        self.assertError(self.c.post("/v1/jobs/%d/cancel" % finished["id"]), 409, "conflict", ANY)

    def test_cancel_before_the_first_epoch_ends(self):
        """A cancel that lands in epoch 0 leaves no partial epoch in the
        history and none in the model's weights."""
        big = self.create_dataset(self.c, *big_data(), name="big-cancel-early")
        model = self.create_model(self.c, big_model("cancel-early"))
        w = self.c.get("/v1/models/%d/weights" % model["id"]).json
        # batch_size 1: an epoch is 4000 steps of a 64-256-256-4 network, seconds long
        j = self.submit_job(self.c, {"model_id": model["id"], "dataset_id": big["id"], "epochs": 3,
                                     "batch_size": 1, "seed": 3})
        running = self.wait_job(self.c, j["id"], statuses=("running",))
        self.assertEqual(running["epoch"], 0, "precondition: the job is in its first epoch")
        r = self.c.post("/v1/jobs/%d/cancel" % j["id"])
        self.assertStatus(r, 200)
        done = self.wait_job(self.c, j["id"], statuses=("cancelled",), timeout=T(30))
        self.assertEqual(done["epoch"], 0, "precondition: the cancel landed in the first epoch "
                         "(an epoch ended before it: this machine is too fast for this test's data)")
        self.assertEqual(self.history(self.c, j["id"]), [])
        # no partial epoch reached the model either
        self.assertEqual(self.c.get("/v1/models/%d/weights" % model["id"]).json, w)
        self.assertEqual(self.c.get("/v1/models/%d" % model["id"]).json["status"], "untrained")

    def test_cancel_right_after_submit(self):
        """Cancel races the worker's claim: whichever wins, the job ends
        cancelled, never runs to its end, and the model is free again."""
        big = self.create_dataset(self.c, *big_data(), name="big-race")
        for i in range(6):
            model = self.create_model(self.c, big_model("race-%d" % i))
            j = self.submit_job(self.c, {"model_id": model["id"], "dataset_id": big["id"], "epochs": LONG_EPOCHS})
            r = self.c.post("/v1/jobs/%d/cancel" % j["id"])
            self.assertStatus(r, 200)
            done = self.wait_job(self.c, j["id"], timeout=T(30))
            self.assertEqual(done["status"], "cancelled", done)
            self.assertHistoryComplete(self.history(self.c, j["id"]), done["epoch"])
            self.assertNotEqual(self.c.get("/v1/models/%d" % model["id"]).json["status"], "training")

    def test_one_job_per_model_concurrent(self):
        """Ten submits for one model at once, no key: exactly one is queued."""
        model = self.create_model(self.c, mlp_body(name="race-submit"))
        # a job that cannot end during the race: 200 tutorial epochs once took
        # long enough, and a faster core made the race a sequence
        body = {"model_id": model["id"], "dataset_id": self.data["id"], "epochs": LONG_EPOCHS, "seed": 1}
        results = self.concurrent(10, lambda: self.c.post("/v1/jobs", body))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [202] + [409] * 9, [r for r in results if r.status not in (202, 409)][:2])
        for r in results:
            if r.status == 409:
                self.assertError(r, 409, "conflict", ANY)
        jobs = self.c.get("/v1/jobs?model_id=%d" % model["id"]).json
        self.assertEqual(jobs["total"], 1)
        job = jobs["items"][0]["id"]
        self.assertStatus(self.c.post("/v1/jobs/%d/cancel" % job), 200)
        self.assertEqual(self.wait_job(self.c, job)["status"], "cancelled")

    def test_writes_while_training(self):
        """Creating datasets, models and stored predictions while two jobs
        commit every epoch (--commit-interval-ms 0): every request is
        answered with success (a busy database is no 5xx)."""
        srv = self.server(args=["--commit-interval-ms", "0"], name="load")
        c = srv.client
        models = [self.create_model(c, mlp_body(name="load-%d" % i, hidden=(8,)))["id"] for i in range(2)]
        x, y = blobs(n=64, features=16, classes=4, seed=3)
        small = self.create_dataset(c, x, y, name="load")
        # no cancel at the end: the server is killed with them still running
        jobs = [self.submit_job(c, {"model_id": m, "dataset_id": small["id"], "epochs": LONG_EPOCHS})["id"]
                for m in models]
        for j in jobs:
            self.wait_job(c, j, statuses=("running",), min_epoch=2, timeout=T(30))
        def call(method, path, body=None):
            # a generous timeout only stops a hang; how long each took is the load suite's figure
            try:
                r = c.request(method, path, json_body=body, timeout=T(30))
                return (method, path, r.status, r.body[:120])
            except OSError as e:
                return (method, path, None, repr(e))

        def work():
            out = []
            for k in range(4):
                out.append(call("POST", "/v1/datasets", {"name": "w", "x": x[:8], "y": y[:8]}))
                out.append(call("POST", "/v1/models", mlp_body(hidden=(4,))))  # unnamed: names are unique
                out.append(call("POST", "/v1/models/%d/predict" % models[0], {"instances": x[:2]}))
                out.append(call("GET", "/v1/jobs/%d/history" % jobs[0]))
                if any(o[2] is None or o[2] >= 300 for o in out):
                    break
            return out
        results = [r for rs in self.concurrent(3, work) for r in rs]
        self.assertEqual(len(results), 3 * 4 * 4, "every request was made")
        bad = [r for r in results if r[2] is None or r[2] >= 300]
        self.assertEqual(bad, [], "requests failed while jobs were committing")
        progress = [c.get("/v1/jobs/%d" % j).json for j in jobs]
        self.assertEqual([p["status"] for p in progress], ["running", "running"], progress)

    # ---- Idempotency-Key ------------------------------------------------------------------------

    def test_idempotency_key_csv_options_are_part_of_the_request(self):
        """The same CSV bytes with other ?name/label options are another
        request, not a retry: 409, not the first dataset."""
        csv = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n"
        h = {"Content-Type": "text/csv", "Idempotency-Key": "csv-key-options"}
        r1 = self.c.post("/v1/datasets?name=opts&label=y", body=csv, headers=h)
        self.assertStatus(r1, 201)
        self.assertEqual(r1.json["n_features"], 2)
        r2 = self.c.post("/v1/datasets?name=opts&label=a", body=csv, headers=h)
        self.assertError(r2, 409, "conflict", ANY,
                         msg="label=a asks for another dataset (label column a) than the first request (label y)")

    def test_idempotency_key(self):
        body = mlp_body(name="idem")
        r1 = self.c.post("/v1/models", body, headers={"Idempotency-Key": "model-key-1"})
        total = self.c.get("/v1/models").json["total"]
        r2 = self.c.post("/v1/models", body, headers={"Idempotency-Key": "model-key-1"})
        self.assertStatus(r1, 201)
        self.assertStatus(r2, 201)
        self.assertEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(self.c.get("/v1/models").json["total"], total, "the retry created a model")
        r3 = self.c.post("/v1/models", dict(body, name="other"), headers={"Idempotency-Key": "model-key-1"})
        self.assertError(r3, 409, "conflict", ANY)
        self.assertEqual(self.c.get("/v1/models").json["total"], total)

        d = {"name": "idem", "x": [[1.0] * 16, [2.0] * 16], "y": [0, 1]}
        r1 = self.c.post("/v1/datasets", d, headers={"Idempotency-Key": "data-key-1"})
        total = self.c.get("/v1/datasets").json["total"]
        r2 = self.c.post("/v1/datasets", d, headers={"Idempotency-Key": "data-key-1"})
        self.assertStatus(r1, 201)
        self.assertStatus(r2, 201)
        self.assertEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(self.c.get("/v1/datasets").json["total"], total)
        self.assertError(self.c.post("/v1/datasets", dict(d, y=[1, 0]), headers={"Idempotency-Key": "data-key-1"}),
                         409, "conflict", ANY)

        csv = "a,b,y\n1,2,0\n3,4,1\n"
        h = {"Content-Type": "text/csv", "Idempotency-Key": "csv-key-1"}
        r1 = self.c.post("/v1/datasets?name=idem-csv", body=csv, headers=h)
        total = self.c.get("/v1/datasets").json["total"]
        r2 = self.c.post("/v1/datasets?name=idem-csv", body=csv, headers=h)
        self.assertStatus(r1, 201)
        self.assertStatus(r2, 201)
        self.assertEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(self.c.get("/v1/datasets").json["total"], total)
        self.assertError(self.c.post("/v1/datasets?name=idem-csv", body=csv + "5,6,1\n", headers=h),
                         409, "conflict", ANY)

        model = self.create_model(self.c, mlp_body(name="idem-job"))
        job = {"model_id": model["id"], "dataset_id": self.data["id"], "epochs": 2}
        r1 = self.c.post("/v1/jobs", job, headers={"Idempotency-Key": "job-key-1"})
        r2 = self.c.post("/v1/jobs", job, headers={"Idempotency-Key": "job-key-1"})
        self.assertStatus(r1, 202)
        self.assertStatus(r2, 202)
        self.assertEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(self.c.get("/v1/jobs?model_id=%d" % model["id"]).json["total"], 1)
        self.wait_job(self.c, r1.json["id"])
        r3 = self.c.post("/v1/jobs", job, headers={"Idempotency-Key": "job-key-1"})
        self.assertStatus(r3, 202)
        self.assertEqual(r3.json["id"], r1.json["id"], "a late retry still gets the first job")
        self.assertError(self.c.post("/v1/jobs", dict(job, epochs=3), headers={"Idempotency-Key": "job-key-1"}),
                         409, "conflict", ANY)
        self.assertEqual(self.c.get("/v1/jobs?model_id=%d" % model["id"]).json["total"], 1)

    def concurrent(self, n, fn):
        barrier = threading.Barrier(n)
        results = [None] * n

        def run(i):
            try:
                barrier.wait(T(10))
                results[i] = fn()
            except Exception as e:  # reported below
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(T(60))
        for r in results:
            if isinstance(r, Exception) or r is None:
                self.fail("a concurrent request failed: %r" % (r,))
        return results

    def test_idempotency_key_concurrent(self):
        model = self.create_model(self.c, mlp_body(name="idem-race"))
        job = {"model_id": model["id"], "dataset_id": self.data["id"], "epochs": 3, "seed": 5}
        results = self.concurrent(20, lambda: self.c.post("/v1/jobs", job, headers={"Idempotency-Key": "race-job"}))
        self.assertEqual([r.status for r in results], [202] * 20, [r for r in results if r.status != 202][:3])
        self.assertEqual(len({r.json["id"] for r in results}), 1, "one job for one key")
        self.assertEqual(self.c.get("/v1/jobs?model_id=%d" % model["id"]).json["total"], 1)
        self.assertEqual(self.wait_job(self.c, results[0].json["id"])["status"], "succeeded")

        body = mlp_body(name="idem-race-model")
        before = self.c.get("/v1/models").json["total"]
        results = self.concurrent(20, lambda: self.c.post("/v1/models", body, headers={"Idempotency-Key": "race-m"}))
        self.assertEqual([r.status for r in results], [201] * 20, [r for r in results if r.status != 201][:3])
        self.assertEqual(len({r.json["id"] for r in results}), 1, "one model for one key")
        self.assertEqual(self.c.get("/v1/models").json["total"], before + 1)


class TestCommits(JobCase):
    """--commit-interval-ms: fast epochs are committed in groups at least
    once per interval; an epoch longer than the interval at once."""

    def test_fast_epochs_grouped(self):
        """Epochs far shorter than the interval: committed in groups (the
        count seen by a poller jumps by more than one), never more than once
        per interval, and progress shows while the job runs. The job runs
        until cancelled, so a fast machine cannot finish it before the checks;
        the longest gap between commits is printed, not asserted."""
        interval = 0.5 if Config.slow else 0.1  # a ThreadSanitizer epoch here takes ~30 ms
        srv = self.server(args=["--commit-interval-ms", str(int(interval * 1000))], name="commit-fast")
        c = srv.client
        x, y = blobs(n=600, features=32, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="fast")
        model = self.create_model(c, mlp_body(input_dim=32, hidden=(64, 64), name="fast"))
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": LONG_EPOCHS,
                                  "batch_size": 600})
        t0 = time.monotonic()
        seen = []
        while len(seen) < 8:
            j = c.get("/v1/jobs/%d" % job["id"]).json
            self.assertEqual(j["status"] if j["status"] != "queued" else "running", "running", j)
            now = time.monotonic() - t0
            if j["epoch"] > 0 and (not seen or seen[-1][1] != j["epoch"]):
                seen.append((now, j["epoch"]))
            self.assertLess(now, T(120), "the job made no progress: %r" % seen)
            time.sleep(0.01)
        self.assertStatus(c.post("/v1/jobs/%d/cancel" % job["id"]), 200)
        done = self.wait_job(c, job["id"], statuses=("cancelled",))
        epochs = self.history(c, job["id"])
        self.assertHistoryComplete(epochs, done["epoch"])
        mean = sum(e["seconds"] for e in epochs) / len(epochs)
        self.assertLess(mean, interval / 4, "precondition: epochs far shorter than the interval")
        jumps = [b[1] - a[1] for a, b in zip(seen, seen[1:])]
        self.assertGreater(max(jumps), 1, "short epochs are committed in groups: %r" % seen)
        # a commit comes once per interval, or sooner when 256 epochs wait
        # (server/worker.c MAX_PENDING): the changes one can see are bounded
        # by the duration and by the epochs done (on a fast machine 256
        # epochs take less than the interval)
        changes = len(seen) - 1
        duration = seen[-1][0] - seen[0][0]
        bound = duration / interval + (seen[-1][1] - seen[0][1]) / 256 + 2
        self.assertLessEqual(changes, bound, "more commits than one per interval or per 256 epochs: %r" % seen)
        gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
        if Config.verbose:
            print("  longest gap between visible commits: %.3f s (interval %.3f s)" % (max(gaps), interval))
        srv.stop()

    def test_slow_epochs_committed_at_once(self):
        srv = self.server(args=["--commit-interval-ms", "10"], name="commit-slow")
        c = srv.client
        x, y = blobs(n=200 if Config.slow else 3000, features=64, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="slow")
        model = self.create_model(c, big_model("slow"))
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": 5, "batch_size": 1})
        # every poll: (time, epoch); a poll that comes late on a loaded machine
        # may miss an epoch, so a jump is judged against the gap between polls
        polls, t0 = [], time.monotonic()
        while True:
            j = c.get("/v1/jobs/%d" % job["id"]).json
            polls.append((time.monotonic() - t0, j["epoch"]))
            if j["status"] in FINAL or polls[-1][0] > T(60):
                break
            time.sleep(0.005)
        self.assertEqual(j["status"], "succeeded")
        shortest = min(e["seconds"] for e in self.history(c, job["id"]))
        self.assertGreater(shortest, 0.01, "precondition: the epochs outlast the 10 ms interval "
                           "(batch_size 1 makes each ~0.5 s on a 2026 laptop core)")
        # each epoch takes longer than 10 ms: it is committed on its own, so
        # between two polls closer than an epoch the count moves by one at most
        for (ta, ea), (tb, eb) in zip(polls, polls[1:]):
            if eb - ea > 1:
                self.assertGreater(tb - ta, shortest, "epochs longer than the interval are committed one by "
                                   "one, yet polls %.3f s apart saw %d -> %d" % (tb - ta, ea, eb))
        self.assertGreaterEqual(len({e for _, e in polls}), 4, "progress is visible epoch by epoch: %r" % polls)
        srv.stop()


class TestQueueFull(JobCase):
    """--queue 1 --workers 1: one job runs, one waits, the next is refused."""

    def test_queue_full_and_cancel_queued(self):
        srv = self.server(args=["--queue", "1"], workers=1, name="queue")
        c = srv.client
        big = self.create_dataset(c, *big_data(), name="big")
        a, b, d = (self.create_model(c, big_model(n))["id"] for n in ("a", "b", "d"))
        ja = self.long_job(c, a, big["id"])
        self.wait_job(c, ja["id"], statuses=("running",))
        jb = self.long_job(c, b, big["id"])
        self.assertEqual(c.get("/v1/jobs/%d" % jb["id"]).json["status"], "queued")
        metrics = c.get("/metrics").text
        self.assertRegex(metrics, r"(?m)^fitd_queue_depth 1$")
        self.assertRegex(metrics, r"(?m)^fitd_workers_busy 1$")

        r = c.post("/v1/jobs", {"model_id": d, "dataset_id": big["id"], "epochs": 1})
        self.assertError(r, 503, "queue_full", ANY)
        self.assertRegex(r.header("Retry-After", ""), r"^\d+$", "503 needs a Retry-After")
        self.assertEqual(c.get("/v1/jobs?model_id=%d" % d).json["total"], 0)

        # a queued job holds its dataset too
        self.assertError(c.delete("/v1/datasets/%d" % big["id"]), 409, "conflict", ANY)
        self.assertError(c.post("/v1/jobs", {"model_id": b, "dataset_id": big["id"], "epochs": 1}),
                         409, "conflict", ANY)

        # cancelling the queued job frees its place at once
        r = c.post("/v1/jobs/%d/cancel" % jb["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["status"], "cancelled")
        got = c.get("/v1/jobs/%d" % jb["id"]).json
        self.assertEqual((got["status"], got["epoch"]), ("cancelled", 0))
        self.assertIsNone(got["started_at"])
        self.assertEqual(self.history(c, jb["id"]), [])
        self.assertEqual(c.get("/v1/models/%d" % b).json["status"], "untrained")
        self.assertError(c.post("/v1/jobs/%d/cancel" % jb["id"]), 409, "conflict", ANY)
        jd = self.long_job(c, d, big["id"])
        self.assertEqual(c.get("/v1/jobs/%d" % jd["id"]).json["status"], "queued")
        self.assertEqual(c.post("/v1/jobs/%d/cancel" % jd["id"]).json["status"], "cancelled")
        r = c.post("/v1/jobs/%d/cancel" % ja["id"])
        self.assertStatus(r, 200)
        self.assertEqual(self.wait_job(c, ja["id"], timeout=T(30))["status"], "cancelled")
        self.assertEqual(self.wait_job(c, jb["id"])["status"], "cancelled", "a cancelled job never runs")
        srv.stop()


# ---- optimizers, step by step, as Keras defines them ---------------------------------------

def simulate(opt, steps, w, b, rows, state):
    """Runs steps of batch size 1 of a linear model 2 -> 1 with mean squared
    error on rows (x, y) in order; state carries the optimizer's slots and
    step count across calls, as a second fit() does. Float64."""
    kind = opt["type"]
    lr = opt["learning_rate"]
    params = [w[0], w[1], b]
    for s in range(steps):
        x, y = rows[s % len(rows)]
        pred = params[0] * x[0] + params[1] * x[1] + params[2]
        e = 2 * (pred - y)
        grads = [e * x[0], e * x[1], e]
        state["t"] = state.get("t", 0) + 1
        t = state["t"]
        for i, g in enumerate(grads):
            if kind == "sgd":
                v = state.get(("v", i), 0.0)
                v = opt["momentum"] * v - lr * g
                state[("v", i)] = v
                params[i] += (opt["momentum"] * v - lr * g) if opt["nesterov"] else v
            elif kind == "adam":
                m = state.get(("m", i), 0.0) + (g - state.get(("m", i), 0.0)) * (1 - opt["beta_1"])
                v = state.get(("v", i), 0.0) + (g * g - state.get(("v", i), 0.0)) * (1 - opt["beta_2"])
                state[("m", i)], state[("v", i)] = m, v
                alpha = lr * math.sqrt(1 - opt["beta_2"] ** t) / (1 - opt["beta_1"] ** t)
                params[i] -= alpha * m / (math.sqrt(v) + opt["epsilon"])
            elif kind == "rmsprop":
                v = opt["rho"] * state.get(("v", i), 0.0) + (1 - opt["rho"]) * g * g
                state[("v", i)] = v
                params[i] -= lr * g / (math.sqrt(v) + opt["epsilon"])
            elif kind == "adagrad":
                a = state.get(("a", i), opt["initial_accumulator_value"]) + g * g
                state[("a", i)] = a
                params[i] -= lr * g / (math.sqrt(a) + opt["epsilon"])
    return [params[0], params[1]], params[2]


class TestOptimizerSteps(JobCase):
    """Weights after training equal Keras's update rules computed here, with
    the defaults the server filled in, and a second job continues the
    optimizer state as a second fit() does."""

    ROWS = [([1.0, 2.0], 1.0), ([0.5, -1.0], -2.0), ([-1.5, 0.25], 0.5)]

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="optim")
        cls.c = cls.srv.client
        r = cls.c.post("/v1/datasets", {"name": "three", "x": [x for x, _ in cls.ROWS], "y": [y for _, y in cls.ROWS]})
        assert r.status == 201, r
        cls.data = r.json

    def check(self, optimizer):
        m = self.create_model(self.c, {"input_dim": 2, "layers": [{"type": "dense", "units": 1}], "loss": "mse",
                                       "optimizer": optimizer})
        opt = m["optimizer"]
        opt["type"] = opt["type"].lower()
        w, b = [0.25, -0.5], 0.125
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"],
                                     {"layers": [{"kernel": [[w[0]], [w[1]]], "bias": [b]}]}), 200)
        state = {}
        for epochs in (2, 1):   # a second job continues the optimizer's state
            done = self.run_job({"model_id": m["id"], "dataset_id": self.data["id"], "epochs": epochs,
                                 "batch_size": 1, "shuffle": False})
            self.assertEqual(done["status"], "succeeded", done)
            w, b = simulate(opt, epochs * len(self.ROWS), w, b, self.ROWS, state)
            got = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0]
            got = [got["kernel"][0][0], got["kernel"][1][0], got["bias"][0]]
            for g, want in zip(got, w + [b]):
                self.assertAlmostEqual(g, want, delta=2e-5 * max(1, abs(want)),
                                       msg="%r after %d steps: got %r, want %r" % (optimizer, state["t"], got,
                                                                                 w + [b]))

    def run_job(self, body):
        return self.wait_job(self.c, self.submit_job(self.c, body)["id"])

    def test_sgd(self):
        self.check({"type": "sgd", "learning_rate": 0.05})

    def test_sgd_momentum(self):
        self.check({"type": "SGD", "learning_rate": 0.02, "momentum": 0.9})

    def test_sgd_nesterov(self):
        self.check({"type": "sgd", "learning_rate": 0.02, "momentum": 0.8, "nesterov": True})

    def test_adam(self):
        self.check({"type": "Adam", "learning_rate": 0.1})

    def test_adam_defaults(self):
        self.check("adam")

    def test_rmsprop(self):
        self.check({"type": "rmsprop", "learning_rate": 0.01})

    def test_adagrad(self):
        self.check({"type": "adagrad", "learning_rate": 0.1})
