"""The normalization layer (issue 12): Keras's Normalization as a model's
first layer — adapted on the training rows (after the validation split) when
the model first trains, checked against numpy on the same rows; given mean
and variance (Keras's documented example, through predict); imported from a
Keras to_json() document with and without them; its weights in GET/PUT
/weights, untouched by training; 422s for what it does not support."""
import json
import random
import subprocess

from harness import FitdCase, T, f32

NUMPY_PYTHON = "/usr/bin/python3"


def numpy_mean_var(test, rows):
    """numpy's mean and var (ddof 0) per column, in float64, as float32."""
    code = ("import json, sys; import numpy as np; x = np.array(json.load(sys.stdin), dtype=np.float64); "
            "print(json.dumps([x.mean(axis=0).astype(np.float32).tolist(), x.var(axis=0).astype(np.float32).tolist()]))")
    r = subprocess.run([NUMPY_PYTHON, "-c", code], input=json.dumps(rows), capture_output=True, text=True,
                       timeout=T(60))
    test.assertEqual(r.returncode, 0, "precondition: %s has numpy: %s" % (NUMPY_PYTHON, r.stderr[-300:]))
    return json.loads(r.stdout)


def unscaled(n, seed):
    """Features on wildly different scales; the label depends on all of them."""
    rng = random.Random(seed)
    x, y = [], []
    for _ in range(n):
        a, b, c = rng.gauss(1000, 300), rng.gauss(0.01, 0.004), rng.gauss(-50, 5)
        x.append([round(a, 3), round(b, 6), round(c, 3)])
        y.append(1 if (a - 1000) / 300 + (b - 0.01) / 0.004 - (c + 50) / 5 > 0 else 0)
    return x, y


class TestNormalization(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="normalization")
        cls.c = cls.srv.client

    def model(self, first, name="norm", **kw):
        body = {"name": name, "input_dim": 3, "seed": 1, "loss": "binary_crossentropy",
                "optimizer": {"type": "adam", "learning_rate": 0.01}, "metrics": ["accuracy"],
                "layers": [first, {"units": 8, "activation": "relu"}, {"units": 1, "activation": "sigmoid"}]}
        body.update(kw)
        return self.create_model(self.c, body)

    def test_adapted_on_the_training_rows_once(self):
        x, y = unscaled(400, 1)
        data = self.create_dataset(self.c, x, y, name="unscaled")
        m = self.model({"type": "normalization"})
        self.assertEqual(m["layers"][0], {"type": "normalization", "adapt": True})
        w0 = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0]
        self.assertEqual(w0, {"mean": [0, 0, 0], "variance": [1, 1, 1], "count": 0})  # Keras's initial values
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": data["id"], "epochs": 20,
                                       "batch_size": 32, "validation_split": 0.25})
        done = self.wait_job(self.c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0]
        # the tail rule keeps the first 300 rows for training: adapt saw those only
        mean, var = numpy_mean_var(self, [[f32(v) for v in r] for r in x[:300]])
        self.assertEqual(w["count"], 300)
        for j in range(3):
            # float64 sums of 300 float32 values, rounded once: within an ulp of numpy's float64
            self.assertAlmostEqual(w["mean"][j], mean[j], delta=2 * abs(mean[j]) * 2 ** -23)
            self.assertAlmostEqual(w["variance"][j], var[j], delta=2 * abs(var[j]) * 2 ** -23)
        self.assertGreater(done["metrics"]["val_accuracy"], 0.85, "raw features, scaled by the model")
        # predict takes raw rows
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": x[300:]}).json
        acc = sum(1 for k, t in zip(p["classes"], y[300:]) if k == t) / 100
        self.assertAlmostEqual(acc, done["metrics"]["val_accuracy"], places=6)
        # a second job on the trained model does not adapt again (other data, same weights)
        x2 = [[v * 2 for v in r] for r in x]
        data2 = self.create_dataset(self.c, x2, y, name="doubled")
        job2 = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": data2["id"], "epochs": 1})
        self.assertEqual(self.wait_job(self.c, job2["id"], timeout=T(60))["status"], "succeeded")
        self.assertEqual(self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0], w)

    def test_given_mean_and_variance_keras_example(self):
        """keras.layers.Normalization(mean=3., variance=2.) on [[1], [2], [3]]
        gives [-1.4142135, -0.70710677, 0]: through a dense identity."""
        body = {"name": "given", "input_dim": 1, "loss": "mse",
                "layers": [{"type": "normalization", "mean": 3, "variance": 2},
                           {"units": 1, "kernel_initializer": "ones"}]}
        m = self.create_model(self.c, body)
        self.assertEqual(m["layers"][0], {"type": "normalization", "adapt": False})
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json
        self.assertEqual(w["layers"][0], {"mean": [3], "variance": [2], "count": 0})
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [[1], [2], [3]]}).json
        self.assertEqual([f32(r[0]) for r in p["predictions"]], [f32(-1.4142135), f32(-0.70710677), 0])
        # training moves the dense layer, never the given values; GET -> PUT is lossless
        data = self.create_dataset(self.c, [[1], [2], [3], [4]], [1, 2, 3, 4], name="line")
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": data["id"], "epochs": 5, "batch_size": 2})
        self.assertEqual(self.wait_job(self.c, job["id"], timeout=T(60))["status"], "succeeded")
        after = self.c.get("/v1/models/%d/weights" % m["id"]).json
        self.assertEqual(after["layers"][0], w["layers"][0])
        self.assertNotEqual(after["layers"][1], w["layers"][1])
        after["layers"][0]["mean"] = [1.5]
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"], after), 200)
        self.assertEqual(self.c.get("/v1/models/%d/weights" % m["id"]).json, after)

    def test_keras_import(self):
        norm = {"class_name": "Normalization",
                "config": {"name": "normalization", "trainable": True, "dtype": "float32", "axis": [-1],
                           "invert": False, "mean": None, "variance": None}}
        dense = {"class_name": "Dense", "config": {"name": "d", "units": 1, "activation": "sigmoid",
                                                     "use_bias": True}}
        doc = {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}}, norm, dense]}}
        r = self.c.post("/v1/models", {"keras": json.dumps(doc), "loss": "binary_crossentropy"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["layers"][0], {"type": "normalization", "adapt": True})
        norm["config"].update(mean=[1, 2, 3], variance=[4, 5, 6])
        r = self.c.post("/v1/models", {"keras": doc, "loss": "binary_crossentropy"})
        self.assertStatus(r, 201)
        w = self.c.get("/v1/models/%d/weights" % r.json["id"]).json["layers"][0]
        self.assertEqual(w, {"mean": [1, 2, 3], "variance": [4, 5, 6], "count": 0})
        for cfg, field in (({"invert": True}, "keras.config.layers[1].config.invert"),
                           ({"axis": [0]}, "keras.config.layers[1].config.axis"),
                           ({"mean": [1, 2]}, "keras.config.layers[1].config.mean"),
                           ({"variance": None}, "keras.config.layers[1].config.variance")):
            bad = json.loads(json.dumps(doc))
            bad["config"]["layers"][1]["config"].update(cfg)
            self.assertError(self.c.post("/v1/models", {"keras": bad, "loss": "binary_crossentropy"}), 422,
                             "validation_failed", field)

    def test_refused(self):
        dense = {"units": 1, "activation": "sigmoid"}
        base = {"input_dim": 2, "loss": "binary_crossentropy"}
        for layers, field in (([{"type": "normalization", "mean": [1, 2]}, dense], "layers[0].variance"),
                              ([{"type": "normalization", "mean": [1, 2, 3], "variance": 1}, dense], "layers[0].mean"),
                              ([{"type": "normalization", "mean": 0, "variance": -1}, dense], "layers[0].variance"),
                              ([{"type": "normalization", "mean": 0, "variance": [1, "x"]}, dense],
                               "layers[0].variance[1]"),
                              ([{"type": "normalization", "mean": 0, "variance": 1, "adapt": True}, dense],
                               "layers[0].adapt"),
                              ([{"type": "normalization", "axis": 0}, dense], "layers[0].axis"),
                              ([{"units": 2}, {"type": "normalization"}, dense], "layers[1]"),
                              ([{"type": "normalization"}], "layers[0]")):
            r = self.c.post("/v1/models", dict(base, layers=layers))
            self.assertError(r, 422, "validation_failed", field)
        m = self.create_model(self.c, dict(base, layers=[{"type": "normalization"}, dense]))
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json
        w["layers"][0]["variance"] = [1, -2]
        self.assertError(self.c.put("/v1/models/%d/weights" % m["id"], w), 422, "validation_failed",
                         "layers[0].variance[1]")
        w["layers"][0]["variance"] = [1, 2]
        w["layers"][0]["count"] = 1.5
        self.assertError(self.c.put("/v1/models/%d/weights" % m["id"], w), 422, "validation_failed",
                         "layers[0].count")
