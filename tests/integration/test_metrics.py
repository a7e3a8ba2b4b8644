"""Metrics by Keras's names (issue 12): asked for in the model's "metrics",
reported per epoch for the training and validation rows (history, the job,
kept across a restart of the history read), and by evaluate with a confusion
matrix, each checked against scikit-learn computed on the predictions fitd
returns for the same rows (Debian's /usr/bin/python3 has sklearn).

predict and evaluate run the same forward pass in batches cut by the row
count alone, so on the same rows they see bit-identical outputs: sklearn on
the predictions must agree with evaluate to double rounding."""
import json
import math
import random
import subprocess

from harness import FitdCase, T, blobs, f32, mlp_body

SKLEARN_PYTHON = "/usr/bin/python3"

# sklearn's side: reads {"task", "y", "p"} on stdin, prints the metrics.
SKLEARN = r"""
import json, sys
import numpy as np
from sklearn import metrics as m
req = json.load(sys.stdin)
y, p = np.array(req["y"]), np.array(req["p"], dtype=np.float64)
out = {}
if req["task"] == "regression":
    mse = m.mean_squared_error(y, p)
    out = {"mae": m.mean_absolute_error(y, p), "mse": mse, "rmse": float(np.sqrt(mse)),
           "r2_score": m.r2_score(y, p)}
else:
    if req["task"] == "binary":
        pred = (p[:, 0] > 0.5).astype(int)
        avg, auc = "binary", m.roc_auc_score(y, p[:, 0])
        labels = [0, 1]
    else:
        k = p.shape[1]
        pred = np.argmax(p, axis=1)
        avg, labels = "macro", list(range(k))
        auc = float(np.mean([m.roc_auc_score((y == c).astype(int), p[:, c]) for c in range(k)
                             if 0 < (y == c).sum() < len(y)]))
    out = {"accuracy": m.accuracy_score(y, pred),
           "precision": m.precision_score(y, pred, average=avg, zero_division=0),
           "recall": m.recall_score(y, pred, average=avg, zero_division=0),
           "f1_score": m.f1_score(y, pred, average=avg, zero_division=0),
           "auc": auc,
           "confusion_matrix": m.confusion_matrix(y, pred, labels=labels).tolist()}
print(json.dumps(out))
"""


def sklearn_metrics(test, task, y, p):
    r = subprocess.run([SKLEARN_PYTHON, "-c", SKLEARN], input=json.dumps({"task": task, "y": y, "p": p}),
                       capture_output=True, text=True, timeout=T(120))
    test.assertEqual(r.returncode, 0, "precondition: %s has numpy and scikit-learn: %s"
                     % (SKLEARN_PYTHON, r.stderr.strip()[-400:]))
    return json.loads(r.stdout)


CLASSIFICATION = ["accuracy", "precision", "recall", "auc", "f1_score"]
REGRESSION = ["mae", "mse", "rmse", "r2_score"]


class TestMetrics(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="metrics")
        cls.c = cls.srv.client

    def train(self, body, x, y, epochs=3, **job):
        # the model goes unnamed (names are unique; a test may create its body twice)
        model = self.create_model(self.c, {k: v for k, v in body.items() if k != "name"})
        data = self.create_dataset(self.c, x, y, name=body["name"])
        j = self.submit_job(self.c, dict({"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                          "batch_size": 16, "validation_split": 0.25}, **job))
        j = self.wait_job(self.c, j["id"], timeout=T(120))
        self.assertEqual(j["status"], "succeeded", j.get("error"))
        return model, j

    def check_history(self, job, names):
        epochs = self.history(self.c, job["id"])
        self.assertEqual(len(epochs), job["epoch"])
        for e in epochs:
            for name in names:
                for key in (name, "val_" + name):
                    self.assertIn(key, e, "epoch %d lacks %s" % (e["epoch"], key))
                    self.assertIsInstance(e[key], float)
                    self.assertTrue(math.isfinite(e[key]))
        for name in names:  # the job shows its last epoch's
            self.assertEqual(job["metrics"][name], epochs[-1][name])
            self.assertEqual(job["metrics"]["val_" + name], epochs[-1]["val_" + name])
        return epochs

    def evaluate_against_sklearn(self, model, task, x, y, names):
        data = self.create_dataset(self.c, x, y, name="eval-%s" % task)
        r = self.c.post("/v1/models/%d/evaluate" % model["id"], {"dataset_id": data["id"]})
        self.assertStatus(r, 200)
        e = r.json
        p = self.c.post("/v1/models/%d/predict?store=false" % model["id"], {"instances": x})
        self.assertStatus(p, 200)
        preds = [[f32(v) for v in row] for row in p.json["predictions"]]
        ref = sklearn_metrics(self, task, y, preds)
        for name in names:
            self.assertIn(name, e)
            # counts make exact ratios; sums of a few hundred doubles agree to ~1e-13
            self.assertAlmostEqual(e[name], ref[name], delta=1e-9 * max(1.0, abs(ref[name])), msg=name)
        if task == "regression":
            self.assertNotIn("confusion_matrix", e)
        else:
            self.assertEqual(e["confusion_matrix"], ref["confusion_matrix"])
            self.assertEqual(sum(map(sum, e["confusion_matrix"])), len(x))
        return e

    def test_multiclass(self):
        x, y = blobs(n=400, features=6, classes=3, seed=7, spread=2.0)  # overlapping: metrics below 1
        body = mlp_body(input_dim=6, hidden=(12,), outputs=3, name="multiclass", metrics=CLASSIFICATION)
        self.assertEqual(self.create_model(self.c, body)["metrics"], CLASSIFICATION)
        model, job = self.train(body, x, y)
        self.check_history(job, CLASSIFICATION[1:])
        ex, ey = blobs(n=300, features=6, classes=3, seed=8, spread=2.0)
        e = self.evaluate_against_sklearn(model, "multiclass", ex, ey, CLASSIFICATION)
        self.assertEqual(len(e["confusion_matrix"]), 3)

    def test_streamed(self):
        """The SSE stream's epoch events carry the same metrics as the history."""
        from test_sse import read_events
        x, y = blobs(n=120, features=4, classes=3, seed=9, spread=1.5)
        body = mlp_body(input_dim=4, hidden=(6,), outputs=3, name="streamed", metrics=["f1_score", "auc"])
        _, job = self.train(body, x, y, epochs=2)
        _, events, _ = read_events(self.srv.port, job["id"], timeout=T(30))
        rows = [json.loads(e["data"]) for e in events if e.get("event") == "epoch"]
        hist = self.history(self.c, job["id"])
        self.assertEqual(len(rows), 2)
        for row, h in zip(rows, hist):
            for key in ("f1_score", "val_f1_score", "auc", "val_auc"):
                self.assertEqual(row[key], h[key], key)

    def test_binary_with_aliases(self):
        rng = random.Random(3)
        x = [[rng.gauss(0, 1) for _ in range(4)] for _ in range(320)]
        y = [1 if r[0] + 0.5 * r[1] + rng.gauss(0, 1) > 0 else 0 for r in x]
        body = mlp_body(input_dim=4, hidden=(8,), outputs=1, name="binary", loss="binary_crossentropy",
                        out_act="sigmoid", metrics=["binary_accuracy", "auc", "precision", "recall", "f1_score"])
        model, job = self.train(body, x, y, epochs=4)
        self.assertEqual(self.c.get("/v1/models/%d" % model["id"]).json["metrics"], CLASSIFICATION)
        self.check_history(job, ["precision", "recall", "auc", "f1_score"])
        ex = [[rng.gauss(0, 1) for _ in range(4)] for _ in range(250)]
        ey = [1 if r[0] + 0.5 * r[1] + rng.gauss(0, 1) > 0 else 0 for r in ex]
        self.evaluate_against_sklearn(model, "binary", ex, ey, CLASSIFICATION)

    def test_regression(self):
        rng = random.Random(5)
        x = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(300)]
        y = [2 * r[0] - r[1] + 0.5 * r[2] * r[2] + rng.gauss(0, 0.3) for r in x]
        body = {"name": "regression", "input_dim": 3, "loss": "mse", "seed": 4,
                "layers": [{"units": 16, "activation": "relu"}, {"units": 1}],
                "optimizer": {"type": "adam", "learning_rate": 0.01},
                "metrics": ["mean_absolute_error", "mse", "root_mean_squared_error", "r2_score"]}
        model, job = self.train(body, x, y, epochs=5)
        self.assertEqual(model["metrics"], REGRESSION)
        epochs = self.check_history(job, REGRESSION)
        for e in epochs:  # rmse is the root of mse over the same rows
            self.assertAlmostEqual(e["rmse"], math.sqrt(e["mse"]), delta=1e-12 * max(1, e["rmse"]))
            self.assertNotIn("accuracy", e)
        ex = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(200)]
        ey = [f32(2 * r[0] - r[1] + 0.5 * r[2] * r[2]) for r in ex]
        self.evaluate_against_sklearn(model, "regression", ex, ey, REGRESSION)

    def test_without_metrics_nothing_new(self):
        x, y = blobs(n=80, features=4, classes=2, seed=2)
        body = mlp_body(input_dim=4, hidden=(4,), outputs=2, name="plain", metrics=[])
        model, job = self.train(body, x, y, epochs=1)
        e = self.history(self.c, job["id"])[0]
        self.assertEqual(set(e) - {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"},
                         set())
        data = self.create_dataset(self.c, x, y, name="plain-eval")
        r = self.c.post("/v1/models/%d/evaluate" % model["id"], {"dataset_id": data["id"]})
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"loss", "accuracy", "confusion_matrix", "n_samples"})

    def test_refused(self):
        cls = mlp_body(input_dim=4, hidden=(4,), outputs=3, name="refused")
        for metrics, field, word in ((["mae"], "metrics[0]", "regression"),
                                     (["accuracy", "top_k"], "metrics[1]", "top_k"),
                                     ([7], "metrics[0]", None)):
            r = self.c.post("/v1/models", dict(cls, metrics=metrics))
            err = self.assertError(r, 422, "validation_failed", field)
            if word:
                self.assertIn(word, err["message"])
        reg = {"input_dim": 2, "layers": [{"units": 1}], "loss": "mse", "metrics": ["auc"]}
        self.assertError(self.c.post("/v1/models", reg), 422, "validation_failed", "metrics[0]")
        wide = mlp_body(input_dim=4, hidden=(4,), outputs=2, name="wide", loss="binary_crossentropy",
                        out_act="sigmoid", metrics=["precision"])
        self.assertError(self.c.post("/v1/models", wide), 422, "validation_failed", "metrics[0]")
