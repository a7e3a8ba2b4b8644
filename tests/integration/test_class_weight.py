"""class_weight on a job (issue 14 item 1): the History of a job trained
through the HTTP API with class weights — the weighted loss, the accuracy
(unweighted, as Keras 3's compiled metrics), the unweighted val_loss — and its final weights against PyTorch in float64
running the same batches with Keras 3's class_weight rules
(tests/integration/torch_class_weight.py under Debian's /usr/bin/python3),
for sparse labels, one-hot rows and binary targets; and the 422s of a
class_weight that cannot apply."""
import json
import os
import subprocess

from harness import FitdCase, T, blobs, mlp_body

TORCH_PYTHON = "/usr/bin/python3"
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_class_weight.py")


def flat(v):
    return [a for row in v for a in (row if isinstance(row, list) else [row])]


class TestClassWeight(FitdCase):
    def setUp(self):
        super().setUp()
        probe = subprocess.run([TORCH_PYTHON, "-c", "import torch"], capture_output=True, text=True)
        self.assertEqual(probe.returncode, 0, "precondition: %s has torch: %s" % (TORCH_PYTHON, probe.stderr[-300:]))
        self.srv = self.server(name="class-weight")
        self.c = self.srv.client

    def run_form(self, form):
        c = self.c
        classes = 2 if form == "binary" else 3
        x, labels = blobs(n=160, features=6, classes=classes, seed=3, spread=1.2)
        if form == "categorical":
            y = [[1 if j == k else 0 for j in range(classes)] for k in labels]
            body = mlp_body(input_dim=6, hidden=(8,), outputs=3, loss="categorical_crossentropy", seed=5,
                            optimizer={"type": "sgd", "learning_rate": 0.1})
        elif form == "sparse":
            y = labels
            body = mlp_body(input_dim=6, hidden=(8,), outputs=3, seed=5,
                            optimizer={"type": "sgd", "learning_rate": 0.1})
        else:
            y = labels
            y[7] = 0.5  # rounds half to even: class 0
            body = mlp_body(input_dim=6, hidden=(8,), outputs=1, loss="binary_crossentropy", out_act="sigmoid",
                            seed=5, optimizer={"type": "sgd", "learning_rate": 0.1})
        data = self.create_dataset(c, x, y, name=form)
        model = self.create_model(c, body)
        initial = c.get("/v1/models/%d/weights" % model["id"]).json
        # class 1 weighs 6, class 0 a quarter; a third class (when there is
        # one) is not named and weighs 1
        cw = {"0": 0.25, "1": 6.0}
        epochs, batch = 4, 16
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": batch, "shuffle": False, "validation_split": 0.25,
                                  "class_weight": cw})
        self.assertEqual(job["class_weight"], {"0": 0.25, "1": 6})
        done = self.wait_job(c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        self.assertEqual(done["class_weight"], {"0": 0.25, "1": 6})
        history = self.history(c, job["id"])
        final = c.get("/v1/models/%d/weights" % model["id"]).json

        acts = ["relu", "sigmoid" if form == "binary" else "softmax"]
        req = {"x": x, "y": y, "form": form, "layers": initial["layers"], "activations": acts, "epochs": epochs,
               "batch_size": batch, "learning_rate": 0.1, "class_weight": cw, "n_val": 40}
        ref = subprocess.run([TORCH_PYTHON, REFERENCE], input=json.dumps(req), capture_output=True, text=True,
                             timeout=T(300))
        self.assertEqual(ref.returncode, 0, ref.stderr[-2000:])
        want = json.loads(ref.stdout)
        # precondition: the weights change the loss by far more than the tolerance
        for e in range(epochs):
            self.assertGreater(abs(want["loss"][e] - want["unweighted_loss"][e]), 0.05 * want["loss"][e])

        self.assertEqual(len(history), epochs)
        for e, row in enumerate(history):
            # float32 sums over 120 rows and 32 SGD steps: 1e-5 relative is ~80 float32 ulps
            for key in ("loss", "val_loss"):
                self.assertAlmostEqual(row[key], want[key][e], delta=1e-5 * want[key][e],
                                       msg="%s epoch %d %s: fitd %r, torch %r" % (form, e + 1, key, row[key],
                                                                                want[key][e]))
            # a share of rows (not weighted): a row within float32 noise of
            # the threshold could flip; none is that close in this data
            self.assertAlmostEqual(row["accuracy"], want["accuracy"][e], delta=1e-9,
                                   msg="%s epoch %d accuracy" % (form, e + 1))
            self.assertAlmostEqual(row["val_accuracy"], want["val_accuracy"][e], delta=1e-9)
        for i, (got, ref_layer) in enumerate(zip(final["layers"], want["layers"])):
            for name in ("kernel", "bias"):
                for k, (a, b) in enumerate(zip(flat(got[name]), flat(ref_layer[name]))):
                    # 32 float32 steps of lr 0.1 times gradients below ~6
                    self.assertLessEqual(abs(a - b), 2e-5 + 1e-5 * abs(b),
                                         "%s layer %d %s[%d]: fitd %r, torch %r" % (form, i, name, k, a, b))

    def test_sparse_labels_like_keras(self):
        self.run_form("sparse")

    def test_one_hot_rows_like_keras(self):
        self.run_form("categorical")

    def test_binary_targets_like_keras(self):
        self.run_form("binary")

    def test_refused(self):
        c = self.c
        x, labels = blobs(n=40, features=4, classes=3, seed=2)
        cls = self.create_dataset(c, x, labels, name="cls")
        reg = self.create_dataset(c, x, [float(v) * 0.5 for v in labels], name="reg")
        m3 = self.create_model(c, mlp_body(input_dim=4, hidden=(4,), outputs=3))
        mreg = self.create_model(c, mlp_body(input_dim=4, hidden=(4,), outputs=1, loss="mse", out_act="linear",
                                             metrics=()))
        base = {"model_id": m3["id"], "dataset_id": cls["id"]}
        for cw, field in (({"3": 2.0}, "class_weight"), ({"x": 1}, "class_weight"), ({"0": -1}, "class_weight.0"),
                          ([1, 2], "class_weight"), ({}, "class_weight")):
            self.assertError(c.post("/v1/jobs", dict(base, class_weight=cw)), 422, "validation_failed", field)
        self.assertError(c.post("/v1/jobs", {"model_id": mreg["id"], "dataset_id": reg["id"],
                                             "class_weight": {"0": 2}}), 422, "validation_failed", "class_weight")
        r = c.request("POST", "/v1/jobs", body=b'{"model_id": %d, "dataset_id": %d, '
                      b'"class_weight": {"1": 1, "1": 2}}' % (m3["id"], cls["id"]),
                      headers={"Content-Type": "application/json"})
        self.assertError(r, 422, "validation_failed", "class_weight")
        # nothing was queued by the refusals
        self.assertEqual(c.get("/v1/jobs").json["total"], 0)
        job = self.submit_job(c, dict(base, class_weight={"2": 3}))
        self.assertEqual(job["class_weight"], {"0": 1, "1": 1, "2": 3})
        plain = self.submit_job(c, dict(base, model_id=self.create_model(c, mlp_body(input_dim=4, hidden=(4,), outputs=3))["id"]))
        self.assertIsNone(plain["class_weight"])
