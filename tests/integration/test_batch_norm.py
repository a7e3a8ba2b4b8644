"""The batch normalization layer (issue 14 item 4): Keras's
BatchNormalization between dense layers, trained through the API against a
PyTorch float64 reference that follows Keras (batch mean and biased variance
in training, moving statistics updated with the biased variance, moving
statistics at inference: tests/integration/torch_bn_reference.py); the
layer's defaults and 422s; its weights in GET/PUT /weights (object and flat
get_weights() form); the Keras import; the export in every format equal to
predict; a job killed mid-run resumes bit-identically (the moving statistics
are weights, saved with the model state)."""
import json
import os
import random
import shutil
import subprocess

import test_export  # its npm_ci (the module, not its classes: they run once, there)
from harness import ANY, FitdCase, T, blobs, hist_values, mlp_body
from test_restart import RESUME_ARGS, ResumeCase, resume_epochs

TORCH_PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "torch_bn_reference.py")
EXPORT_DIR = os.path.join(os.path.dirname(HERE), "export")


def rows(n, seed):
    rng = random.Random(seed)
    x = [[round(rng.gauss(2 * j, 1 + j), 4) for j in range(4)] for _ in range(n)]
    y = [[r[0] - 0.5 * r[1] + 0.1 * r[2] * r[3], r[2] - r[0]] for r in x]
    return x, y


LAYERS = [{"type": "dense", "units": 5, "activation": "relu"},
          {"type": "batch_normalization", "momentum": 0.9},
          {"type": "dense", "units": 2, "activation": "linear"}]


class TestBatchNorm(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="batch-norm")
        cls.c = cls.srv.client

    def model(self, layers=LAYERS, **kw):
        body = {"input_dim": 4, "seed": 3, "loss": "mse", "layers": layers,
                "optimizer": {"type": "sgd", "learning_rate": 0.05}}
        body.update(kw)
        return self.create_model(self.c, body)

    def train(self, m, x, y, epochs=3, batch=16):
        data = self.create_dataset(self.c, x, y, name="bn-%d" % m["id"])
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": data["id"], "epochs": epochs,
                                       "batch_size": batch, "shuffle": False})
        done = self.wait_job(self.c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        return job

    def test_defaults_and_refusals(self):
        m = self.model([{"units": 3}, {"type": "batch_normalization"}, {"units": 1}])
        self.assertEqual(m["layers"][1], {"type": "batch_normalization", "momentum": 0.99, "epsilon": 0.001,
                                          "center": True, "scale": True})
        self.assertEqual(m["n_params"], 4 * 3 + 3 + 4 * 3 + 3 + 1)
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][1]
        self.assertEqual(w, {"gamma": [1, 1, 1], "beta": [0, 0, 0], "moving_mean": [0, 0, 0],
                             "moving_variance": [1, 1, 1]})  # Keras's initializers
        m = self.model([{"type": "batch_normalization", "center": False, "scale": False}, {"units": 1}])
        self.assertEqual(self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0],
                         {"moving_mean": [0, 0, 0, 0], "moving_variance": [1, 1, 1, 1]})
        for bad, field in (({"momentum": 1.5}, "layers[0].momentum"), ({"epsilon": 0}, "layers[0].epsilon"),
                           ({"epsilon": -1}, "layers[0].epsilon"), ({"center": 1}, "layers[0].center"),
                           ({"axis": 1}, "layers[0].axis")):
            layer = dict({"type": "batch_normalization"}, **bad)
            r = self.c.post("/v1/models", {"input_dim": 4, "loss": "mse", "layers": [layer, {"units": 1}]})
            self.assertError(r, 422, "validation_failed", field)
        r = self.c.post("/v1/models", {"input_dim": 4, "loss": "mse",
                                       "layers": [{"units": 2}, {"type": "batch_normalization"}]})
        self.assertError(r, 422, "validation_failed", "layers[1]")

    def test_training_like_keras_in_torch_float64(self):
        x, y = rows(64, 1)
        m = self.model()
        initial = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"]
        job = self.train(m, x, y)
        history = self.history(self.c, job["id"])
        final = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"]
        test_rows, _ = rows(8, 2)
        req = {"x": x, "y": y, "layers": initial, "momentum": 0.9, "epsilon": 1e-3, "epochs": 3,
               "batch_size": 16, "learning_rate": 0.05, "rows": test_rows}
        ref = subprocess.run([TORCH_PYTHON, REFERENCE], input=json.dumps(req), capture_output=True, text=True,
                             timeout=T(300))
        self.assertEqual(ref.returncode, 0, ref.stderr[-2000:])
        want = json.loads(ref.stdout)
        self.assertLess(want["loss"][-1], want["loss"][0], "precondition: the reference learned")
        for e, (row, loss) in enumerate(zip(history, want["loss"]), 1):
            # float32 forward and backward over 16-row batches, 12 SGD steps: 1e-5
            # relative is ~80 float32 ulps
            self.assertAlmostEqual(row["loss"], loss, delta=1e-5 * loss, msg="epoch %d" % e)
        worst = 0.0
        for got, ref_layer in zip(final, want["layers"]):
            self.assertEqual(sorted(got), sorted(ref_layer))
            for name in got:
                g = [v for r in got[name] for v in (r if isinstance(r, list) else [r])]
                w = [v for r in ref_layer[name] for v in (r if isinstance(r, list) else [r])]
                for a, b in zip(g, w):
                    worst = max(worst, abs(a - b))
                    self.assertAlmostEqual(a, b, delta=1e-4 * max(1.0, abs(b)), msg=name)
        print("test_batch_norm: weights vs torch float64, max |diff| %.3g" % worst)
        # Keras's moving variance is a mix of biased batch variances: the
        # unbiased rule (PyTorch's running_var) would be off by ~1/15 per batch
        self.assertNotEqual(final[1]["moving_variance"], initial[1]["moving_variance"])
        # inference: the moving statistics, not the batch's
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": test_rows}).json
        for got_row, want_row in zip(p["predictions"], want["predict"]):
            for a, b in zip(got_row, want_row):
                self.assertAlmostEqual(a, b, delta=1e-4 * max(1.0, abs(b)))
        one = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": test_rows[:1]}).json
        self.assertEqual(one["predictions"][0], p["predictions"][0], "a row's prediction ignores its batch")

    def test_weights_put_and_flat(self):
        m = self.model()
        got = self.c.get("/v1/models/%d/weights" % m["id"]).json
        bn = {"gamma": [1.5, 1, 1, 1, 0.5], "beta": [0, 0.25, 0, 0, 0], "moving_mean": [1, 2, 3, 4, 5],
              "moving_variance": [4, 1, 1, 1, 0.25]}
        body = {"layers": [got["layers"][0], bn, got["layers"][2]]}
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"], body), 200)
        self.assertEqual(self.c.get("/v1/models/%d/weights" % m["id"]).json, body)
        flat = [body["layers"][0]["kernel"], body["layers"][0]["bias"], bn["gamma"], bn["beta"], bn["moving_mean"],
                bn["moving_variance"], body["layers"][2]["kernel"], body["layers"][2]["bias"]]
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"], flat), 200)
        self.assertEqual(self.c.get("/v1/models/%d/weights" % m["id"]).json, body)
        bad = json.loads(json.dumps(body))
        bad["layers"][1]["moving_variance"][2] = -1
        self.assertError(self.c.put("/v1/models/%d/weights" % m["id"], bad), 422, "validation_failed",
                         "layers[1].moving_variance[2]")
        bad = json.loads(json.dumps(body))
        del bad["layers"][1]["gamma"]
        self.assertError(self.c.put("/v1/models/%d/weights" % m["id"], bad), 422, "validation_failed", ANY)
        self.assertError(self.c.put("/v1/models/%d/weights" % m["id"], flat[:7]), 422, "validation_failed", ANY)

    def test_keras_import(self):
        doc = {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
            {"class_name": "Dense", "config": {"units": 3, "activation": "relu"}},
            {"class_name": "BatchNormalization", "config": {"axis": -1, "momentum": 0.8, "epsilon": 1e-5,
                                                            "center": False, "scale": True}},
            {"class_name": "Dense", "config": {"units": 1}}]}}
        r = self.c.post("/v1/models", {"loss": "mse", "keras": doc})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["layers"][1], {"type": "batch_normalization", "momentum": 0.8, "epsilon": 1e-5,
                                               "center": False, "scale": True})
        doc["config"]["layers"][2]["config"]["axis"] = 0
        r = self.c.post("/v1/models", {"loss": "mse", "keras": doc})
        self.assertError(r, 422, "validation_failed", "keras.config.layers[2].config.axis")

    def test_export_equals_predict(self):
        x, y = rows(64, 5)
        m = self.model([{"type": "batch_normalization", "scale": False},
                        {"type": "dense", "units": 5, "activation": "tanh"},
                        {"type": "batch_normalization", "momentum": 0.5},
                        {"type": "dense", "units": 2}])
        self.train(m, x, y, epochs=2)
        test_rows, _ = rows(6, 6)
        want = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": test_rows}).json["predictions"]

        def close(got, what):
            self.assertEqual(len(got), len(want), what)
            diffs = [abs(g - w) for g_row, w_row in zip(got, want) for g, w in zip(g_row, w_row)]
            print("test_batch_norm: %-16s max |diff| vs predict %.3g" % (what, max(diffs) if diffs else 0.0))
            for g_row, w_row in zip(got, want):
                for g, w in zip(g_row, w_row):
                    self.assertLessEqual(abs(g - w), 1e-5 * max(1.0, abs(w)), "%s: %r vs %r" % (what, g, w))

        problem = test_export.npm_ci()
        self.assertIsNone(problem, "precondition: onnxruntime-node (tests/export): %s" % problem)
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "fitd-bn-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        self.addCleanup(shutil.rmtree, d, True)
        onnx_path, c_path = os.path.join(d, "m.onnx"), os.path.join(d, "m.c")
        with open(onnx_path, "wb") as f:
            f.write(self.c.get("/v1/models/%d/export?format=onnx" % m["id"]).body)
        check = subprocess.run([TORCH_PYTHON, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                                "full_check=True)", onnx_path], capture_output=True, text=True, timeout=T(120))
        self.assertEqual(check.returncode, 0, check.stderr[-2000:])
        run = subprocess.run(["node", os.path.join(EXPORT_DIR, "run_onnx.js"), onnx_path],
                             input=json.dumps({"rows": test_rows}), capture_output=True, text=True, timeout=T(120))
        self.assertEqual(run.returncode, 0, "onnxruntime: " + run.stderr[-2000:])
        close(json.loads(run.stdout)["output"], "onnx")

        with open(c_path, "wb") as f:
            f.write(self.c.get("/v1/models/%d/export?format=c" % m["id"]).body)
        flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]
        exe = c_path + ".bin"
        comp = subprocess.run(["cc"] + flags + ['-DFITD_MODEL_FILE="%s"' % c_path,
                                                os.path.join(EXPORT_DIR, "driver.c"), "-o", exe, "-lm"],
                              capture_output=True, text=True, timeout=T(120))
        self.assertEqual(comp.returncode, 0, comp.stderr[-3000:])
        out = subprocess.run([exe], input="\n".join(" ".join(repr(v) for v in r) for r in test_rows),
                             capture_output=True, text=True, timeout=T(60))
        self.assertEqual(out.returncode, 0, out.stderr)
        close([[float(v) for v in line.split()] for line in out.stdout.splitlines()], "c")

        doc = self.c.get("/v1/models/%d/export?format=keras" % m["id"]).json
        self.assertEqual([l["class_name"] for l in doc["config"]["config"]["layers"]],
                         ["InputLayer", "BatchNormalization", "Dense", "BatchNormalization", "Dense"])
        ref = subprocess.run([TORCH_PYTHON, os.path.join(EXPORT_DIR, "keras_torch.py")],
                             input=json.dumps({"export": doc, "rows": test_rows}), capture_output=True, text=True,
                             timeout=T(300))
        self.assertEqual(ref.returncode, 0, ref.stderr[-2000:])
        close(json.loads(ref.stdout)["output"], "keras in torch")
        again = self.c.post("/v1/models", {"loss": "mse", "keras": doc["config"]})
        self.assertStatus(again, 201)
        self.assertEqual(again.json["layers"], self.c.get("/v1/models/%d" % m["id"]).json["layers"])
        self.assertStatus(self.c.put("/v1/models/%d/weights" % again.json["id"], doc["weights"]), 200)
        self.assertEqual(self.c.post("/v1/models/%d/predict?store=false" % again.json["id"],
                                     {"instances": test_rows}).json["predictions"], want)


class TestBatchNormResume(ResumeCase):
    def test_sigkill_mid_run_resumes_exactly(self):
        srv = self.server(args=RESUME_ARGS, name="bn-kill")
        c = srv.client
        x, y = blobs(n=600, features=32, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="resume")
        body = mlp_body(input_dim=32, hidden=(64, 64), outputs=4, seed=77)
        body["layers"].insert(1, {"type": "batch_normalization", "momentum": 0.9})
        model = self.create_model(c, body)
        job = self.submit_job(c, self.resume_job_body(model["id"], data["id"]))
        at = self.wait_progress(c, job["id"])["epoch"]
        srv.kill()
        srv.start()
        c = srv.client
        twin = self.create_model(c, body)
        ref = self.submit_job(c, self.resume_job_body(twin["id"], data["id"]))
        done = self.wait_job(c, job["id"], timeout=T(180))
        ref_done = self.wait_job(c, ref["id"], timeout=T(180))
        self.assertEqual((done["status"], ref_done["status"]), ("succeeded", "succeeded"))
        self.assertEqual(done["weights_sha256"], ref_done["weights_sha256"],
                         "killed after epoch %d, the job does not end as an uninterrupted one" % at)
        self.assertEqual(hist_values(self.history(c, job["id"])), hist_values(self.history(c, ref["id"])))
        bn = c.get("/v1/models/%d/weights" % model["id"]).json["layers"][1]
        self.assertNotEqual(bn["moving_mean"], [0] * len(bn["moving_mean"]), "precondition: the statistics moved")
        self.assertEqual(bn, c.get("/v1/models/%d/weights" % twin["id"]).json["layers"][1])
