"""GET /v1/models/{id}/export?format=onnx|c|keras against the models'
own predictions (issue 13, item 1).

Models trained with every activation fitd has are exported in each format and
each export is run by an independent implementation on the same rows:
  onnx  — ONNX Runtime (onnxruntime-node, installed into tests/export from its
          package-lock.json with npm ci --ignore-scripts), after onnx.checker
          (Debian's python3-onnx) with full shape inference;
  c     — compiled with cc -std=c99 -pedantic -Wall -Wextra -Werror and run;
  keras — PyTorch builds the network from the to_json() document and the
          get_weights() list (tests/export/keras_torch.py), and fitd imports
          the document again (POST /v1/models {"keras"}) and takes the flat
          list through PUT /v1/models/{id}/weights.
Two models start with a normalization layer, one adapted at its first
training (the Keras export carries its mean, variance and count as weights)
and one with given values (in the Keras config, as Keras keeps them).
Every output equals POST /v1/models/{id}/predict's predictions within 1e-5
(absolute, plus 1e-5 relative for values above 1): the runtimes compute the
same float32 matrix products in other orders (a few ulps over <= 8 terms) and
evaluate exp/erf/tanh in float32 rather than fitd's double-rounded-once, a
few float32 ulps (6e-8 each) at these magnitudes."""
import json
import os
import random
import shutil
import subprocess

from harness import ANY, FitdCase, T

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT_DIR = os.path.join(os.path.dirname(HERE), "export")
DEB_PYTHON = "/usr/bin/python3"
TOL = 1e-5

# Every activation of fitd, across three models: one classifier (softmax), one
# regression (linear) and one binary classifier (sigmoid).
CLASSIFIER = [
    {"type": "dense", "units": 8, "activation": "relu"},
    {"type": "dense", "units": 7, "activation": "sigmoid"},
    {"type": "dropout", "rate": 0.2},
    {"type": "dense", "units": 6, "activation": "tanh"},
    {"type": "dense", "units": 6, "activation": {"type": "leaky_relu", "alpha": 0.1}},
    {"type": "dense", "units": 5, "activation": {"type": "elu", "alpha": 0.5}},
    {"type": "dense", "units": 3, "activation": "softmax"},
]
REGRESSION = [
    {"type": "dense", "units": 8, "activation": "gelu"},
    {"type": "dense", "units": 7, "activation": "softplus"},
    {"type": "dense", "units": 6, "activation": "swish", "use_bias": False},
    {"type": "dense", "units": 6, "activation": "leaky_relu"},
    {"type": "dense", "units": 5, "activation": "elu"},
    {"type": "dense", "units": 2, "activation": "linear"},
]
BINARY = [
    {"type": "dense", "units": 8, "activation": {"type": "gelu", "approximate": True}},
    {"type": "dense", "units": 1, "activation": "sigmoid"},
]
# A normalization layer first: adapted at the first training (its weights
# mean, variance, count in the Keras export) or given (in the Keras config).
NORMALIZED = [
    {"type": "normalization"},
    {"type": "dense", "units": 6, "activation": "tanh"},
    {"type": "dense", "units": 2, "activation": "linear"},
]
GIVEN = [
    {"type": "normalization", "mean": [0.5, -1, 20, 0, 3.25], "variance": [0.25, 4, 900, 1e-4, 2]},
    {"type": "dense", "units": 4, "activation": "relu"},
    {"type": "dense", "units": 3, "activation": "softmax"},
]
# features of very different scales and offsets, so that adapting matters
SCALES = [(1.0, 0.0), (10.0, 5.0), (100.0, -300.0), (0.01, 0.0), (1000.0, 2000.0)]
LAYERS = {"classifier": CLASSIFIER, "regression": REGRESSION, "normalized": NORMALIZED, "given": GIVEN}
INPUTS = 5


def npm_ci():
    """onnxruntime-node from the committed lock file (its install script only
    fetches GPU binaries: --ignore-scripts; the CPU ones ship in the package)."""
    if os.path.isdir(os.path.join(EXPORT_DIR, "node_modules", "onnxruntime-node")):
        return None
    if not shutil.which("npm"):
        return "npm is not installed"
    r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=EXPORT_DIR, capture_output=True, text=True, timeout=T(600))
    return None if r.returncode == 0 else "npm ci in tests/export failed: " + r.stderr[-1500:]


def close(got, want):
    return abs(got - want) <= TOL * max(1.0, abs(want))


class TestExport(FitdCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.start_class_server(name="export")
        c = srv.client
        rng = random.Random(13)
        x = [[round(rng.uniform(-2, 2), 3) for _ in range(INPUTS)] for _ in range(120)]
        cls.rows = [[round(rng.uniform(-3, 3), 4) for _ in range(INPUTS)] for _ in range(16)]
        cls.x = x

        def train(name, layers, loss, y, xs=x):
            r = c.post("/v1/datasets", {"name": name, "x": xs, "y": y})
            assert r.status == 201, r
            body = {"name": name, "input_dim": INPUTS, "layers": layers, "loss": loss,
                    "optimizer": {"type": "adam", "learning_rate": 0.01}, "seed": 7}
            m = c.post("/v1/models", body)
            assert m.status == 201, m
            job = c.post("/v1/jobs", {"model_id": m.json["id"], "dataset_id": r.json["id"], "epochs": 3,
                                      "batch_size": 16})
            assert job.status == 202, job
            return m.json["id"], job.json["id"]

        cls.models = {
            "classifier": train("classifier", CLASSIFIER, "sparse_categorical_crossentropy",
                                [int(abs(sum(row)) * 2) % 3 for row in x]),
            "regression": train("regression", REGRESSION, "mse", [[sum(row), row[0] * row[1]] for row in x]),
            "binary": train("binary", BINARY, "binary_crossentropy", [1 if row[0] > row[1] else 0 for row in x]),
            "normalized": train("normalized", NORMALIZED, "mse", [[sum(row), row[0] - row[1]] for row in x],
                                [[v * a + b for v, (a, b) in zip(row, SCALES)] for row in x]),
            "given": train("given", GIVEN, "sparse_categorical_crossentropy",
                           [int(abs(sum(row)) * 2) % 3 for row in x]),
        }
        cls.client = c

    def setUp(self):
        super().setUp()
        for name, (_, job) in self.models.items():
            self.assertEqual(self.wait_job(self.client, job, timeout=T(120))["status"], "succeeded", name)

    def predict(self, model_id, rows=None):
        r = self.client.post("/v1/models/%d/predict?store=false" % model_id, {"instances": rows or self.rows})
        self.assertStatus(r, 200)
        return r.json["predictions"]

    def export(self, model_id, fmt):
        r = self.client.get("/v1/models/%d/export?format=%s" % (model_id, fmt))
        self.assertStatus(r, 200, "export %s" % fmt)
        return r

    worst = {}  # what -> largest |difference| seen, printed at the end (the figures of the note)

    @classmethod
    def tearDownClass(cls):
        for what, diff in sorted(cls.worst.items()):
            print("test_export: %-28s max |diff| vs predict %.3g" % (what, diff))
        super().tearDownClass()

    def assertClose(self, got, want, what):
        self.assertEqual(len(got), len(want), what)
        if got and len(got) == len(want):
            diffs = [abs(g - w) for gr, wr in zip(got, want) for g, w in zip(gr, wr)]
            self.worst[what] = max(self.worst.get(what, 0.0), max(diffs) if diffs else 0.0)
        for i, (g_row, w_row) in enumerate(zip(got, want)):
            self.assertEqual(len(g_row), len(w_row), "%s row %d" % (what, i))
            for j, (g, w) in enumerate(zip(g_row, w_row)):
                self.assertTrue(close(g, w), "%s row %d output %d: %r, predict %r (|diff| %.3g)"
                                % (what, i, j, g, w, abs(g - w)))

    def scratch(self, name):
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "fitd-export-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        self.addCleanup(shutil.rmtree, d, True)
        return os.path.join(d, name)

    # ---- the route ------------------------------------------------------------------------

    def test_headers_and_file_names(self):
        mid = self.models["classifier"][0]
        for fmt, ctype, ext in (("onnx", "application/octet-stream", ".onnx"), ("c", "text/x-c", ".c"),
                                ("keras", "application/json", ".keras.json")):
            r = self.export(mid, fmt)
            self.assertTrue(r.header("Content-Type", "").startswith(ctype), (fmt, r.header("Content-Type")))
            self.assertEqual(r.header("Content-Disposition"), 'attachment; filename="model-%d%s"' % (mid, ext))
            self.assertEqual(int(r.header("Content-Length")), len(r.body))

    def test_strict_query(self):
        mid = self.models["classifier"][0]
        c = self.client
        self.assertError(c.get("/v1/models/%d/export" % mid), 422, "validation_failed", "format")
        self.assertError(c.get("/v1/models/%d/export?format=tflite" % mid), 422, "validation_failed", "format")
        self.assertError(c.get("/v1/models/%d/export?format=" % mid), 422, "validation_failed", "format")
        self.assertError(c.get("/v1/models/%d/export?format=onnx&pretty=1" % mid), 422, "validation_failed",
                         "pretty")
        self.assertError(c.get("/v1/models/%d/export?format=onnx&format=c" % mid), 422, "validation_failed",
                         "format")
        self.assertError(c.get("/v1/models/999999/export?format=onnx"), 404, "not_found")
        self.assertError(c.get("/v1/models/abc/export?format=onnx"), 404, "not_found")

    def test_untrained_model_is_a_conflict(self):
        c = self.client
        m = c.post("/v1/models", {"name": "fresh", "input_dim": 2, "loss": "mse",
                                  "layers": [{"type": "dense", "units": 1}]})
        self.assertStatus(m, 201)
        for fmt in ("onnx", "c", "keras"):
            r = c.get("/v1/models/%d/export?format=%s" % (m.json["id"], fmt))
            self.assertError(r, 409, "conflict")
            self.assertIn("untrained", r.json["error"]["message"])

    # ---- ONNX --------------------------------------------------------------------------------

    def test_onnx_in_onnx_runtime_equals_predict(self):
        problem = npm_ci()
        self.assertIsNone(problem, "precondition: onnxruntime-node (tests/export): %s" % problem)
        for name, (mid, _) in self.models.items():
            path = self.scratch("%s.onnx" % name)
            with open(path, "wb") as f:
                f.write(self.export(mid, "onnx").body)
            check = subprocess.run(
                [DEB_PYTHON, "-c", "import onnx, sys; m = onnx.load(sys.argv[1]); "
                 "onnx.checker.check_model(m, full_check=True); "
                 "print(m.ir_version, [(o.domain, o.version) for o in m.opset_import])", path],
                capture_output=True, text=True, timeout=T(120))
            self.assertEqual(check.returncode, 0, "%s: onnx.checker: %s" % (name, check.stderr[-2000:]))
            self.assertEqual(check.stdout.split()[0], "7", "IR version 7 goes with opset 13")
            self.assertIn("('', 13)", check.stdout)
            run = subprocess.run(["node", os.path.join(EXPORT_DIR, "run_onnx.js"), path],
                                 input=json.dumps({"rows": self.rows}), capture_output=True, text=True,
                                 timeout=T(120))
            self.assertEqual(run.returncode, 0, "%s: onnxruntime: %s" % (name, run.stderr[-2000:]))
            got = json.loads(run.stdout)
            self.assertEqual((got["inputs"], got["outputs"], got["type"]), (["input"], ["output"], "float32"))
            self.assertClose(got["output"], self.predict(mid), "%s onnx" % name)
            # N is symbolic: one row works as well as sixteen
            one = subprocess.run(["node", os.path.join(EXPORT_DIR, "run_onnx.js"), path],
                                 input=json.dumps({"rows": self.rows[:1]}), capture_output=True, text=True,
                                 timeout=T(120))
            self.assertEqual(one.returncode, 0, one.stderr[-2000:])
            self.assertClose(json.loads(one.stdout)["output"], self.predict(mid, self.rows[:1]), "%s onnx 1" % name)

    # ---- C ---------------------------------------------------------------------------------

    def test_c_file_compiles_pedantic_and_equals_predict(self):
        cc = shutil.which("cc")
        self.assertIsNotNone(cc, "precondition: a C compiler")
        for name, (mid, _) in self.models.items():
            r = self.export(mid, "c")
            src = self.scratch("%s.c" % name)
            with open(src, "wb") as f:
                f.write(r.body)
            text = r.text
            self.assertIn("#define FITD_MODEL_INPUTS %d" % INPUTS, text)
            self.assertIn("void fitd_model_predict(const float *x, float *y)", text)
            self.assertEqual([l for l in text.splitlines() if l.startswith("#include")], ["#include <math.h>"])
            flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]
            comp = subprocess.run([cc] + flags + ["-c", src, "-o", src + ".o"], capture_output=True, text=True,
                                  timeout=T(120))
            self.assertEqual(comp.returncode, 0, "%s: %s" % (name, comp.stderr[-3000:]))
            exe = src + ".bin"
            comp = subprocess.run([cc] + flags + ['-DFITD_MODEL_FILE="%s"' % src,
                                                  os.path.join(EXPORT_DIR, "driver.c"), "-o", exe, "-lm"],
                                  capture_output=True, text=True, timeout=T(120))
            self.assertEqual(comp.returncode, 0, "%s: %s" % (name, comp.stderr[-3000:]))
            run = subprocess.run([exe], input="\n".join(" ".join(repr(v) for v in row) for row in self.rows),
                                 capture_output=True, text=True, timeout=T(60))
            self.assertEqual(run.returncode, 0, run.stderr)
            got = [[float(v) for v in line.split()] for line in run.stdout.splitlines()]
            self.assertClose(got, self.predict(mid), "%s c" % name)

    # ---- Keras ----------------------------------------------------------------------------------

    def test_keras_in_torch_and_back_through_fitd(self):
        c = self.client
        for name in ("classifier", "regression", "normalized", "given"):
            mid = self.models[name][0]
            doc = self.export(mid, "keras").json
            self.assertEqual(sorted(doc), ["config", "weights"])
            self.assertEqual(doc["config"]["class_name"], "Sequential")
            want = self.predict(mid)

            ref = subprocess.run([DEB_PYTHON, os.path.join(EXPORT_DIR, "keras_torch.py")],
                                 input=json.dumps({"export": doc, "rows": self.rows}), capture_output=True,
                                 text=True, timeout=T(300))
            self.assertEqual(ref.returncode, 0, "%s: %s" % (name, ref.stderr[-2000:]))
            self.assertClose(json.loads(ref.stdout)["output"], want, "%s keras in torch" % name)

            loss = "sparse_categorical_crossentropy" if name in ("classifier", "given") else "mse"
            m = c.post("/v1/models", {"name": name + "-again", "loss": loss, "keras": doc["config"]})
            self.assertStatus(m, 201, "fitd imports its own Keras export")
            self.assertEqual([l["type"] for l in m.json["layers"]], [l["type"] for l in LAYERS[name]])
            self.assertStatus(c.put("/v1/models/%d/weights" % m.json["id"], doc["weights"]), 200,
                              "PUT takes get_weights()'s flat list")
            self.assertEqual(c.get("/v1/models/%d/weights" % m.json["id"]).json,
                             c.get("/v1/models/%d/weights" % mid).json)
            self.assertEqual(self.predict(m.json["id"]), want, "%s: the same model again" % name)

    def test_normalization_in_each_format(self):
        """The normalization layer's form in each file: ONNX Sub and Div with
        the mean and the denominators as initializers, the C file's float
        arrays, Keras's Normalization with weights (adapted) or config
        values (given); and the adapted statistics are those of the rows."""
        c = self.client
        adapted = c.get("/v1/models/%d/weights" % self.models["normalized"][0]).json["layers"][0]
        self.assertEqual(adapted["count"], 120)
        self.assertAlmostEqual(adapted["mean"][2], sum(100 * row[2] - 300 for row in self.x) / 120, delta=1e-3)
        for name in ("normalized", "given"):
            mid = self.models[name][0]
            path = self.scratch("%s-ops.onnx" % name)
            with open(path, "wb") as f:
                f.write(self.export(mid, "onnx").body)
            ops = subprocess.run(
                [DEB_PYTHON, "-c", "import onnx, sys; g = onnx.load(sys.argv[1]).graph; "
                 "print(' '.join(n.op_type for n in g.node)); print(' '.join(i.name for i in g.initializer))", path],
                capture_output=True, text=True, timeout=T(120))
            self.assertEqual(ops.returncode, 0, ops.stderr[-2000:])
            nodes, inits = ops.stdout.splitlines()
            self.assertEqual(nodes.split()[:2], ["Sub", "Div"], name)
            self.assertIn("l0.mean", inits.split())
            self.assertIn("l0.denominator", inits.split())
            self.assertIn("fitd_denominator_0", self.export(mid, "c").text)
            doc = self.export(mid, "keras").json
            norm = doc["config"]["config"]["layers"][1]
            self.assertEqual((norm["class_name"], norm["config"]["axis"], norm["config"]["invert"]),
                             ("Normalization", -1, False))
        given = self.export(self.models["given"][0], "keras").json
        cfg = given["config"]["config"]["layers"][1]["config"]
        self.assertEqual(cfg["mean"], GIVEN[0]["mean"])
        self.assertEqual(cfg["variance"][:3] + cfg["variance"][4:], [0.25, 4, 900, 2])
        self.assertAlmostEqual(cfg["variance"][3], 1e-4, delta=1e-11)  # float32's 1e-4
        self.assertEqual(len(given["weights"]), 4, "given values are no weights: two dense layers' kernel and bias")
        doc = self.export(self.models["normalized"][0], "keras").json
        self.assertEqual(doc["config"]["config"]["layers"][1]["config"]["mean"], None)
        self.assertEqual(doc["weights"][:3], [adapted["mean"], adapted["variance"], adapted["count"]])
        self.assertEqual(len(doc["weights"]), 7)

    def test_keras_refuses_what_it_cannot_express(self):
        r = self.client.get("/v1/models/%d/export?format=keras" % self.models["binary"][0])
        self.assertError(r, 422, "validation_failed", "format")
        self.assertIn("approximate", r.json["error"]["message"])

    def test_flat_weights_are_checked(self):
        c = self.client
        mid = self.models["binary"][0]
        good = c.get("/v1/models/%d/weights" % mid).json["layers"]
        flat = [good[0]["kernel"], good[0]["bias"], good[1]["kernel"], good[1]["bias"]]
        self.assertStatus(c.put("/v1/models/%d/weights" % mid, flat), 200)
        self.assertError(c.put("/v1/models/%d/weights" % mid, flat[:3]), 422, "validation_failed", ANY)
        bad = json.loads(json.dumps(flat))
        bad[2] = bad[2][:-1]
        self.assertError(c.put("/v1/models/%d/weights" % mid, bad), 422, "validation_failed", "[2]")
        self.assertEqual(c.get("/v1/models/%d/weights" % mid).json["layers"], good, "a refused PUT changes nothing")



class TestKerasActivationLayers(FitdCase):
    """The import reads the LeakyReLU / ELU layers the Keras export writes for
    a non-default slope (Keras 3 negative_slope, Keras 2 alpha), only right
    after a linear Dense."""

    def keras(self, act, extra):
        dense = {"class_name": "Dense", "config": {"units": 3, "activation": act}}
        return {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 2]}}, dense, extra,
            {"class_name": "Dense", "config": {"units": 1}}]}}

    def test_folded_into_the_dense_before(self):
        c = self.server(name="keras-act").client
        cases = [({"class_name": "LeakyReLU", "config": {"negative_slope": 0.05}}, {"type": "leaky_relu", "alpha": 0.05}),
                 ({"class_name": "LeakyReLU", "config": {"alpha": 0.25}}, {"type": "leaky_relu", "alpha": 0.25}),
                 ({"class_name": "LeakyReLU", "config": {}}, {"type": "leaky_relu", "alpha": 0.3}),
                 ({"class_name": "ELU", "config": {"alpha": 0.5}}, {"type": "elu", "alpha": 0.5}),
                 ({"class_name": "ELU", "config": {}}, "elu")]
        for extra, want in cases:
            r = c.post("/v1/models", {"loss": "mse", "keras": self.keras("linear", extra)})
            self.assertStatus(r, 201, repr(extra))
            self.assertEqual(len(r.json["layers"]), 2, repr(extra))
            self.assertEqual(r.json["layers"][0]["activation"], want, repr(extra))
        r = c.post("/v1/models", {"loss": "mse",
                                  "keras": self.keras("relu", {"class_name": "ELU", "config": {}})})
        self.assertError(r, 422, "validation_failed", "keras.config.layers[2].config")
        self.assertIn("linear", r.json["error"]["message"])
