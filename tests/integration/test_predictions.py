"""Predictions (stored and not), reading them back, and evaluation checked
against the predictions themselves."""
import math
import threading

from harness import ANY, FitdCase, blobs, f32, mlp_body


class TestPredictions(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--max-instances", "50"], name="predict")
        cls.c = cls.srv.client
        r = cls.c.post("/v1/models", mlp_body(input_dim=16, outputs=4, seed=5, name="clf"))
        assert r.status == 201, r
        cls.model = r.json
        cls.x, cls.y = blobs(n=48, features=16, classes=4, seed=3)

    def predict(self, rows, query=""):
        return self.c.post("/v1/models/%d/predict%s" % (self.model["id"], query), {"instances": rows})

    def test_predict(self):
        rows = self.x[:5]
        r = self.predict(rows)
        self.assertStatus(r, 200)
        p = r.json
        self.assertEqual(set(p), {"id", "predictions", "classes"})
        self.assertIsInstance(p["id"], int)
        self.assertEqual(len(p["predictions"]), 5)
        for row, cls in zip(p["predictions"], p["classes"]):
            self.assertEqual(len(row), 4)
            self.assertTrue(all(0 <= v <= 1 for v in row))
            self.assertAlmostEqual(sum(row), 1.0, places=5, msg="softmax rows sum to 1")
            self.assertEqual(cls, max(range(4), key=lambda i: row[i]), "classes is the argmax")

        # stored: readable by id and listed under the model
        r = self.c.get("/v1/predictions/%d" % p["id"])
        self.assertStatus(r, 200)
        s = r.json
        self.assertEqual(s["id"], p["id"])
        self.assertEqual(s["model_id"], self.model["id"])
        self.assertEqual(s["predictions"], p["predictions"])
        self.assertEqual(s["classes"], p["classes"])
        inputs = s.get("instances", s.get("inputs"))
        self.assertIsNotNone(inputs, "a stored prediction keeps its inputs: %r" % sorted(s))
        self.assertEqual([[f32(v) for v in row] for row in inputs], [[f32(v) for v in row] for row in rows])
        self.assertTime(s["created_at"])

        r = self.c.get("/v1/models/%d/predictions" % self.model["id"])
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"items", "total"})
        self.assertIn(p["id"], [i["id"] for i in r.json["items"]])

        # the same rows predict the same values
        self.assertEqual(self.predict(rows, "?store=false").json["predictions"], p["predictions"])

    def test_store_false(self):
        before = self.c.get("/v1/models/%d/predictions" % self.model["id"]).json["total"]
        r = self.predict(self.x[:3], "?store=false")
        self.assertStatus(r, 200)
        self.assertNotIn("id", r.json)
        self.assertEqual(len(r.json["predictions"]), 3)
        self.assertEqual(len(r.json["classes"]), 3)
        self.assertEqual(self.c.get("/v1/models/%d/predictions" % self.model["id"]).json["total"], before,
                         "store=false stored a prediction")

    def test_regression_has_no_classes(self):
        m = self.create_model(self.c, mlp_body(input_dim=2, hidden=(4,), outputs=1, out_act="linear",
                                               loss="mse", metrics=(), name="reg"))
        r = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [[1, 2], [3, 4]]})
        self.assertStatus(r, 200)
        self.assertNotIn("classes", r.json)
        self.assertEqual([len(row) for row in r.json["predictions"]], [1, 1])

    def test_bad_predict(self):
        good = self.x[0]
        cases = [({"instances": [good, good[:-1]]}, "instances[1]"),
                 ({"instances": [good + [1.0]]}, "instances[0]"),
                 ({"instances": []}, "instances"),
                 ({"instances": "x"}, "instances"),
                 ({}, "instances"),
                 ({"instances": [good], "signature": "x"}, "signature"),
                 ({"instances": [good[:3] + ["a"] + good[4:]]}, "instances[0][3]")]
        for body, field in cases:
            with self.subTest(field=field):
                r = self.c.post("/v1/models/%d/predict" % self.model["id"], body)
                self.assertError(r, 422, "validation_failed", field)
        r = self.c.post("/v1/models/%d/predict" % self.model["id"], body='{"instances": [[1e999' + ', 0' * 15 + "]]}",
                        headers={"Content-Type": "application/json"})
        self.assertError(r, 422, "validation_failed", "instances[0][0]")
        self.assertError(self.c.post("/v1/models/999999/predict", {"instances": [good]}), 404, "not_found", ANY)
        self.assertError(self.c.get("/v1/predictions/999999"), 404, "not_found", ANY)

    def test_limits_and_listing(self):
        rows = (self.x * 2)[:51]
        r = self.predict(rows[:50], "?store=false")
        self.assertStatus(r, 200, "--max-instances 50")
        self.assertEqual(len(r.json["predictions"]), 50)
        self.assertError(self.predict(rows), 422, "validation_failed", "instances")
        self.assertError(self.c.get("/v1/models/999999/predictions"), 404, "not_found", ANY)
        path = "/v1/models/%d/predictions" % self.model["id"]
        self.assertError(self.c.get(path + "?limit=501"), 422, "validation_failed", "limit")
        for _ in range(3):
            self.assertStatus(self.predict(self.x[:1]), 200)
        total = self.c.get(path).json["total"]
        r = self.c.get(path + "?limit=2&offset=1")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["items"]), 2)
        self.assertEqual(r.json["total"], total)

    def test_concurrent_predictions_all_stored(self):
        """Stored predictions from many connections at once: each answer is
        committed, with its own id and its own rows."""
        n = 24
        results = [None] * n
        barrier = threading.Barrier(n)

        def run(i):
            try:
                barrier.wait(10)
                results[i] = self.predict([self.x[i]])
            except Exception as e:  # reported below
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for i, r in enumerate(results):
            self.assertNotIsInstance(r, Exception)
            self.assertStatus(r, 200)
        ids = [r.json["id"] for r in results]
        self.assertEqual(len(set(ids)), n, "every stored prediction has its own id")
        for i, r in enumerate(results):
            s = self.c.get("/v1/predictions/%d" % ids[i])
            self.assertStatus(s, 200)
            self.assertEqual(s.json["predictions"], r.json["predictions"])
            inputs = s.json.get("instances", s.json.get("inputs"))
            self.assertEqual([f32(v) for v in inputs[0]], [f32(v) for v in self.x[i]])

    def test_evaluate(self):
        d = self.create_dataset(self.c, self.x, self.y, name="eval")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset_id": d["id"]})
        self.assertStatus(r, 200)
        e = r.json
        self.assertEqual(e["n_samples"], len(self.x))
        self.assertIsInstance(e["loss"], float)
        self.assertTrue(0 <= e["accuracy"] <= 1)
        # the same numbers from the predictions: mean cross-entropy, share of argmax hits
        p = self.predict(self.x, "?store=false").json
        ce = -sum(math.log(max(row[c], 1e-7)) for row, c in zip(p["predictions"], self.y)) / len(self.y)
        acc = sum(1 for k, c in zip(p["classes"], self.y) if k == c) / len(self.y)
        self.assertAlmostEqual(e["loss"], ce, delta=1e-4 * max(1.0, ce))
        self.assertAlmostEqual(e["accuracy"], acc, places=6)

    def test_evaluate_errors(self):
        other = self.create_dataset(self.c, [[1, 2, 3]] * 4, [0, 1, 0, 1], name="3 features")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset_id": other["id"]})
        self.assertError(r, 422, "validation_failed", "dataset_id")
        labels = self.create_dataset(self.c, self.x[:4], [0, 1, 7, 2], name="label 7")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset_id": labels["id"]})
        self.assertError(r, 422, "validation_failed", "dataset_id")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset_id": 999999})
        self.assertError(r, 404, "not_found", "dataset_id")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset": 1})
        self.assertError(r, 422, "validation_failed", "dataset")
        r = self.c.post("/v1/models/%d/evaluate" % self.model["id"], {"dataset_id": "1"})
        self.assertError(r, 422, "validation_failed", "dataset_id")
        r = self.c.post("/v1/models/999999/evaluate", {"dataset_id": other["id"]})
        self.assertError(r, 404, "not_found", ANY)


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


# name or object -> the function Keras computes
ACTIVATIONS = [
    ("linear", lambda v: v),
    ("relu", lambda v: max(v, 0.0)),
    ("sigmoid", sigmoid),
    ("tanh", math.tanh),
    ("softplus", lambda v: math.log1p(math.exp(v))),
    ("swish", lambda v: v * sigmoid(v)),
    ("elu", lambda v: v if v > 0 else math.expm1(v)),
    ("leaky_relu", lambda v: v if v > 0 else 0.2 * v),
    ({"type": "leaky_relu", "alpha": 0.1}, lambda v: v if v > 0 else 0.1 * v),
    ({"type": "elu", "alpha": 0.5}, lambda v: v if v > 0 else 0.5 * math.expm1(v)),
    ("gelu", lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
    ({"type": "gelu", "approximate": True},
     lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    ("softmax", lambda v: 1.0),
]


class TestNumerics(FitdCase):
    """Activations and losses against their Keras definitions, through
    predict and evaluate on models whose weights the test sets."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="numerics")
        cls.c = cls.srv.client

    def model(self, act, loss="mse", units=1, kernel=None, bias=None, input_dim=1):
        body = {"input_dim": input_dim, "layers": [{"type": "dense", "units": units, "activation": act}],
                "loss": loss, "optimizer": "sgd", "seed": 1}
        m = self.create_model(self.c, body)
        w = {"layers": [{"kernel": kernel or [[1.0] * units] * input_dim, "bias": bias or [0.0] * units}]}
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"], w), 200)
        return m

    def test_activations(self):
        xs = [-3.0, -1.0, -0.5, -0.125, 0.0, 0.25, 0.5, 1.0, 2.5]
        for act, fn in ACTIVATIONS:
            with self.subTest(activation=act):
                m = self.model(act)
                r = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [[v] for v in xs]})
                self.assertStatus(r, 200)
                got = [row[0] for row in r.json["predictions"]]
                for v, g in zip(xs, got):
                    self.assertAlmostEqual(g, fn(v), delta=2e-6 * max(1, abs(fn(v))),
                                           msg="%r(%r)" % (act, v))

    def test_dropout_only_in_training(self):
        """Dropout changes nothing at inference: with the same weights, a
        model with dropout layers predicts what the one without does."""
        w = {"layers": [{"kernel": [[0.5, -0.25, 1.0], [0.75, 0.5, -1.5]], "bias": [0.1, 0.2, 0.3]},
                        {"kernel": [[1.0], [-2.0], [0.5]], "bias": [0.25]}]}
        out = []
        for dropout in (False, True):
            layers = [{"type": "dense", "units": 3, "activation": "relu"},
                      {"type": "dense", "units": 1}]
            if dropout:
                layers.insert(1, {"type": "dropout", "rate": 0.5})
                layers.insert(0, {"type": "dropout", "rate": 0.3})
            m = self.create_model(self.c, {"input_dim": 2, "layers": layers, "loss": "mse", "optimizer": "sgd"})
            self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"], w), 200)
            r = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": [[1, 2], [-1, 0.5], [3, 3]]})
            self.assertStatus(r, 200)
            out.append(r.json["predictions"])
        self.assertEqual(out[0], out[1])

    def check_loss(self, loss, act, units, x, y, reference):
        m = self.model(act, loss=loss, units=units, input_dim=len(x[0]),
                       kernel=[[0.5 + 0.25 * j - 0.5 * i for j in range(units)] for i in range(len(x[0]))],
                       bias=[0.1 * j for j in range(units)])
        d = self.create_dataset(self.c, x, y, name=loss)
        p = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": x}).json["predictions"]
        want = sum(reference(pi, yi) for pi, yi in zip(p, y)) / len(y)
        r = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": d["id"]})
        self.assertStatus(r, 200)
        self.assertAlmostEqual(r.json["loss"], want, delta=1e-5 * max(1, abs(want)), msg=loss)

    def test_losses(self):
        x = [[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0], [0.0, 3.0], [1.0, 1.0], [-2.0, -0.5]]
        real = [1.0, -0.5, 2.5, 0.0, 4.0, -3.0]

        def huber(p, t, delta=1.0):
            e = abs(p - t)
            return 0.5 * e * e if e <= delta else delta * (e - 0.5 * delta)

        def clip(p):
            return min(max(p, 1e-7), 1 - 1e-7)

        self.check_loss("mean_squared_error", "linear", 1, x, real, lambda p, t: (p[0] - t) ** 2)
        self.check_loss("mean_absolute_error", "linear", 1, x, real, lambda p, t: abs(p[0] - t))
        self.check_loss("huber", "linear", 1, x, real, lambda p, t: huber(p[0], t))
        binary = [1, 0, 0, 1, 1, 0]
        self.check_loss("binary_crossentropy", "sigmoid", 1, x, binary,
                        lambda p, t: -(t * math.log(clip(p[0])) + (1 - t) * math.log(1 - clip(p[0]))))
        labels = [0, 2, 1, 2, 0, 1]
        onehot = [[1 if j == c else 0 for j in range(3)] for c in labels]
        self.check_loss("categorical_crossentropy", "softmax", 3, x, onehot,
                        lambda p, t: -sum(ti * math.log(clip(pi)) for pi, ti in zip(p, t)))
        self.check_loss("sparse_categorical_crossentropy", "softmax", 3, x, labels,
                        lambda p, t: -math.log(clip(p[t])))
