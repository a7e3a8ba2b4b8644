"""Models: the tutorial body, Keras's names and defaults, bad input as a
table, limits, Keras import (Keras 2 and Keras 3 to_json()), weights, and
list/get/delete."""
import copy
import json
import math
import re
import time

from harness import ANY, FitdCase, T, f32, mlp_body

TUTORIAL = {
    "name": "digits-mlp",
    "input_dim": 64,
    "layers": [{"type": "dense", "units": 25, "activation": "relu"},
               {"type": "dense", "units": 15, "activation": "relu"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "loss": "sparse_categorical_crossentropy",
    "optimizer": {"type": "adam", "learning_rate": 0.001},
    "metrics": ["accuracy"],
    "seed": 42,
}
TUTORIAL_PARAMS = 64 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10

ADAM = {"type": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
SGD = {"type": "sgd", "learning_rate": 0.01, "momentum": 0.0, "nesterov": False}
RMSPROP = {"type": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7}
ADAGRAD = {"type": "adagrad", "learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7}


# ---- what Keras's model.to_json() writes, for
#      Sequential([InputLayer((64,)), Dense(25, "relu"), Dropout(0.2), Dense(4, "softmax")])

def keras2_json():
    def init(name):
        return {"class_name": name, "config": {"seed": None} if name == "GlorotUniform" else {}}

    def dense(name, units, act):
        return {"class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": act,
            "use_bias": True, "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"),
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}}

    model = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 64], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "input_1"}},
        dense("dense", 25, "relu"),
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                             "rate": 0.2, "noise_shape": None, "seed": None}},
        dense("dense_1", 4, "softmax")]},
        "keras_version": "2.13.1", "backend": "tensorflow"}
    return json.dumps(model)


def keras3_json(extra_layer=None):
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}

    def init(name):
        return {"module": "keras.initializers", "class_name": name,
                "config": {"seed": None} if name == "GlorotUniform" else {}, "registered_name": None}

    def dense(name, units, act, fan_in):
        return {"module": "keras.layers", "class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": policy, "units": units, "activation": act,
            "use_bias": True, "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"),
            "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}, "registered_name": None, "build_config": {"input_shape": [None, fan_in]}}

    layers = [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 64], "dtype": "float32", "sparse": False, "ragged": False,
                    "name": "input_layer"}, "registered_name": None},
        dense("dense", 25, "relu", 64),
        {"module": "keras.layers", "class_name": "Dropout",
         "config": {"name": "dropout", "trainable": True, "dtype": policy, "rate": 0.2, "seed": None,
                    "noise_shape": None}, "registered_name": None, "build_config": {"input_shape": [None, 25]}},
        dense("dense_1", 4, "softmax", 25)]
    if extra_layer:
        layers.insert(1, extra_layer)
    model = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "sequential", "trainable": True, "dtype": policy, "layers": layers,
        "build_input_shape": [None, 64]}, "registered_name": None, "build_config": {"input_shape": [None, 64]},
        "compile_config": None}
    return json.dumps(model)


CONV2D = {"module": "keras.layers", "class_name": "Conv2D", "config": {
    "name": "conv2d", "trainable": True, "dtype": "float32", "filters": 8, "kernel_size": [3, 3],
    "strides": [1, 1], "padding": "valid", "activation": "relu", "use_bias": True}, "registered_name": None}


def unnamed(body):
    """A copy of body without its name: names are unique (409 on a duplicate),
    and these tests create the same model many times."""
    body = copy.deepcopy(body)
    body.pop("name", None)
    return body


def with_change(path, value):
    """The tutorial body with one change: path like "layers.1.units"; value
    DELETE removes the key."""
    body = unnamed(TUTORIAL)
    keys = path.split(".")
    node = body
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return json.dumps(body)


DELETE = object()


def activation_reference(act, z):
    """Keras's definition of each activation, in float64, over one row."""
    name = act["type"] if isinstance(act, dict) else act
    if name == "softmax":
        top = max(z)
        e = [math.exp(v - top) for v in z]
        return [v / sum(e) for v in e]
    alpha = act.get("alpha", 0.2) if isinstance(act, dict) else 0.2
    approximate = isinstance(act, dict) and act.get("approximate", False)
    sigmoid = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    one = {
        "linear": lambda v: v,
        "sigmoid": sigmoid,
        "relu": lambda v: max(0.0, v),
        "tanh": math.tanh,
        "leaky_relu": lambda v: v if v > 0 else alpha * v,
        "elu": lambda v: v if v > 0 else math.expm1(v),
        "gelu": (lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))))
        if approximate else (lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
        "softplus": lambda v: math.log1p(math.exp(v)),
        "swish": lambda v: v * sigmoid(v),
    }[name]
    return [one(v) for v in z]


class TestModels(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="models")
        cls.c = cls.srv.client

    def assertOptimizer(self, got, want):
        self.assertEqual(set(got), set(want), "optimizer fields: %r" % got)
        for k, v in want.items():
            if isinstance(v, float):
                self.assertAlmostEqual(got[k], v, places=12, msg="optimizer.%s" % k)
            else:
                self.assertEqual(got[k], v, "optimizer.%s" % k)

    def test_tutorial_body(self):
        r = self.c.post("/v1/models", TUTORIAL)
        self.assertStatus(r, 201)
        m = r.json
        self.assertIsInstance(m["id"], int)
        self.assertEqual(m["name"], "digits-mlp")
        self.assertEqual(m["status"], "untrained")
        self.assertEqual(m["n_params"], TUTORIAL_PARAMS)
        self.assertEqual(m["input_dim"], 64)
        self.assertEqual(m["seed"], 42)
        self.assertEqual(m["loss"], "sparse_categorical_crossentropy")
        self.assertOptimizer(m["optimizer"], ADAM)
        self.assertEqual(len(m["layers"]), 3)
        for layer, want in zip(m["layers"], TUTORIAL["layers"]):
            self.assertEqual(layer["type"], "dense")
            self.assertEqual(layer["units"], want["units"])
            self.assertEqual(layer["activation"], want["activation"])
        self.assertTime(m["created_at"])
        self.assertTime(m["updated_at"])
        r = self.c.get("/v1/models/%d" % m["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, m)

    def test_seed(self):
        body = unnamed(TUTORIAL)
        del body["seed"]
        m = self.create_model(self.c, body)
        self.assertIsInstance(m.get("seed"), int, "a model with no seed gets one, returned in the body")
        self.assertGreaterEqual(m["seed"], 0)
        # the same seed gives the same initial weights, another seed others
        a = self.create_model(self.c, unnamed(TUTORIAL))
        b = self.create_model(self.c, unnamed(TUTORIAL))
        other = unnamed(TUTORIAL)
        other["seed"] = 43
        o = self.create_model(self.c, other)
        wa, wb, wo = (self.c.get("/v1/models/%d/weights" % m_["id"]).json for m_ in (a, b, o))
        self.assertEqual(wa, wb)
        self.assertNotEqual(wa, wo)
        # the returned seed reproduces the model
        again = unnamed(TUTORIAL)
        again["seed"] = m["seed"]
        r = self.create_model(self.c, again)
        self.assertEqual(self.c.get("/v1/models/%d/weights" % r["id"]).json,
                         self.c.get("/v1/models/%d/weights" % m["id"]).json)

    def test_loss_names_both_spellings(self):
        pairs = [("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", 10, "softmax"),
                 ("categorical_crossentropy", "CategoricalCrossentropy", 10, "softmax"),
                 ("binary_crossentropy", "BinaryCrossentropy", 1, "sigmoid"),
                 ("mean_squared_error", "MeanSquaredError", 1, "linear"),
                 ("mean_absolute_error", "MeanAbsoluteError", 1, "linear"),
                 ("huber", "Huber", 1, "linear")]
        for snake, keras, units, act in pairs:
            with self.subTest(loss=snake):
                losses = []
                for name in (snake, keras):
                    body = unnamed(TUTORIAL)
                    body["loss"] = name
                    body["layers"][-1] = {"type": "dense", "units": units, "activation": act}
                    if units == 1 and snake != "binary_crossentropy":
                        body["metrics"] = []
                    losses.append(self.create_model(self.c, body)["loss"])
                self.assertEqual(losses[0], snake)
                self.assertEqual(losses[1], losses[0], "%s and %s name one loss" % (snake, keras))
        for short, long_ in (("mse", "mean_squared_error"), ("mae", "mean_absolute_error")):
            body = unnamed(TUTORIAL)
            body["loss"] = short
            body["metrics"] = []
            self.assertIn(self.create_model(self.c, body)["loss"], (short, long_))
        body = unnamed(TUTORIAL)
        body["loss"] = {"type": "SparseCategoricalCrossentropy", "from_logits": True}
        body["layers"][-1]["activation"] = "linear"
        m = self.create_model(self.c, body)
        self.assertEqual(m["loss"], {"type": "sparse_categorical_crossentropy", "from_logits": True})

    def test_optimizer_names_and_defaults(self):
        cases = [("adam", ADAM), ("Adam", ADAM), ("sgd", SGD), ("SGD", SGD), ("rmsprop", RMSPROP),
                 ("RMSprop", RMSPROP), ("adagrad", ADAGRAD), ("Adagrad", ADAGRAD),
                 ({"type": "Adam"}, ADAM), ({"type": "adam", "learning_rate": 0.01}, dict(ADAM, learning_rate=0.01)),
                 ({"type": "sgd", "momentum": 0.9, "nesterov": True}, dict(SGD, momentum=0.9, nesterov=True)),
                 ({"type": "RMSprop", "rho": 0.8}, dict(RMSPROP, rho=0.8))]
        for given, want in cases:
            with self.subTest(optimizer=given):
                body = unnamed(TUTORIAL)
                body["optimizer"] = given
                got = self.create_model(self.c, body)["optimizer"]
                self.assertEqual(got["type"].lower(), want["type"])
                self.assertOptimizer(dict(got, type=got["type"].lower()), want)

    def test_activations_and_layer_options(self):
        """Each activation: accepted in the tutorial body, and a one-layer
        model's predictions equal act(x W + b) computed here in float64 from
        the float32 weights set through PUT."""
        kernel = [[0.5, -1.25, 2.0, 0.75, -0.3, 1.5], [-0.8, 0.4, 1.1, -2.2, 0.9, 0.05], [1.3, 0.7, -0.6, 0.2, -1.7, 2.4]]
        bias = [0.1, -0.2, 0.0, 0.3, -0.05, 0.25]
        xs = [[-3.0, 1.5, 0.25], [0.0, 0.0, 0.0], [2.0, -1.0, 0.5], [-0.4, -2.5, 1.75], [1.0, 1.0, -1.0],
              [0.05, -0.01, 0.02], [4.0, 3.0, -2.0]]
        for act in ("linear", "sigmoid", "relu", "softmax", "tanh", "leaky_relu", "elu", "gelu", "softplus",
                    "swish", {"type": "leaky_relu", "alpha": 0.1}, {"type": "gelu", "approximate": True}):
            with self.subTest(activation=act):
                body = unnamed(TUTORIAL)
                body["layers"][0]["activation"] = act
                m = self.create_model(self.c, body)
                self.assertEqual(m["n_params"], TUTORIAL_PARAMS)
                small = {"input_dim": 3, "loss": "mse", "optimizer": "sgd", "seed": 1,
                         "layers": [{"type": "dense", "units": 6, "activation": act}]}
                m = self.create_model(self.c, small)
                self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"],
                                             {"layers": [{"kernel": kernel, "bias": bias}]}), 200)
                r = self.c.post("/v1/models/%d/predict?store=false" % m["id"], {"instances": xs})
                self.assertStatus(r, 200)
                got = r.json["predictions"]
                self.assertEqual(len(got), len(xs))
                for x, row in zip(xs, got):
                    z = [sum(f32(x[i]) * f32(kernel[i][u]) for i in range(3)) + f32(bias[u]) for u in range(6)]
                    want = activation_reference(act, z)
                    for g, w in zip(row, want):
                        self.assertLessEqual(abs(g - w), 2e-6 * max(1.0, abs(w)),
                                             "%r(%r) = %r, the reference says %r" % (act, z, row, want))
        body = unnamed(TUTORIAL)
        body["layers"][0].update({"use_bias": False, "kernel_initializer": "he_normal",
                                  "bias_initializer": "zeros", "l2": 0.01})
        body["layers"].insert(1, {"type": "dropout", "rate": 0.2})
        m = self.create_model(self.c, body)
        self.assertEqual(m["n_params"], TUTORIAL_PARAMS - 25, "no bias in layer 0, dropout has no weights")
        self.assertEqual([l["type"] for l in m["layers"]], ["dense", "dropout", "dense", "dense"])
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json
        self.assertEqual(len(w["layers"]), 3, "layers without weights are skipped")
        self.assertNotIn("bias", w["layers"][0])

    BAD = [
        # (changed path, new value, expected field) on the tutorial body: all 422
        ("layers.0.activation", "relux", "layers[0].activation"),
        ("layers.0.activation", 5, "layers[0].activation"),
        ("layers.0.activation", {"type": "nope"}, "layers[0].activation.type"),
        ("layers.0.activation", {"type": "relu", "alpha": 0.1}, "layers[0].activation.alpha"),
        ("loss", "cross_entropy", "loss"),
        ("loss", 3, "loss"),
        ("loss", DELETE, "loss"),
        ("loss", {"type": "huber", "from_logit": True}, "loss.from_logit"),
        ("optimizer", "adamw", "optimizer"),
        ("optimizer", {"type": "adamw"}, "optimizer.type"),
        ("optimizer", {"type": "adam", "learning_rte": 0.01}, "optimizer.learning_rte"),
        ("optimizer", {"type": "adam", "momentum": 0.9}, "optimizer.momentum"),
        ("optimizer", {"type": "sgd", "learning_rate": -0.1}, "optimizer.learning_rate"),
        ("optimizer", {"type": "sgd", "learning_rate": 0}, "optimizer.learning_rate"),
        ("optimizer", {"type": "sgd", "learning_rate": "0.1"}, "optimizer.learning_rate"),
        ("layers.1.units", 0, "layers[1].units"),
        ("layers.1.units", 10 ** 9, "layers[1].units"),
        ("layers.1.units", 2.5, "layers[1].units"),
        ("layers.1.units", -3, "layers[1].units"),
        ("layers.1.units", "15", "layers[1].units"),
        ("layers.1.units", 65537, "layers[1].units"),
        ("layers.1.units", DELETE, "layers[1].units"),
        ("layers.1.unit", 15, "layers[1].unit"),
        ("layers.0.type", "conv2d", "layers[0].type"),
        ("layers.0.use_bias", "yes", "layers[0].use_bias"),
        ("layers.0.kernel_initializer", "random", "layers[0].kernel_initializer"),
        ("layers", [], "layers"),
        ("layers", DELETE, "layers"),
        ("layers", {"type": "dense"}, "layers"),
        ("layers.2", {"type": "dropout", "rate": 0.5}, ANY),
        ("layers.1", {"type": "dropout", "rate": 1.0}, "layers[1].rate"),
        ("layers.1", "dense", "layers[1]"),
        ("input_dim", 0, "input_dim"),
        ("input_dim", DELETE, "input_dim"),
        ("input_dim", 64.5, "input_dim"),
        ("seed", -1, "seed"),
        ("seed", 1.5, "seed"),
        ("seed", "42", "seed"),
        ("metrics", ["top_k_categorical_accuracy"], "metrics[0]"),
        ("metrics", "accuracy", "metrics"),
        ("name", "", "name"),
        ("name", 7, "name"),
        ("optimiser", "adam", "optimiser"),
        ("Loss", "mse", "Loss"),
    ]

    def test_bad_bodies(self):
        before = self.c.get("/v1/models").json["total"]
        for path, value, field in self.BAD:
            with self.subTest(path=path, value=value):
                r = self.c.post("/v1/models", body=with_change(path, value),
                                headers={"Content-Type": "application/json"})
                self.assertError(r, 422, "validation_failed", field)
        raw = [  # bodies json.dumps cannot write
            (json.dumps(TUTORIAL).replace('"learning_rate": 0.001', '"learning_rate": 1e999'), 422,
             "validation_failed", "optimizer.learning_rate"),
            (json.dumps(TUTORIAL).replace('"units": 15', '"units": 1e999'), 422, "validation_failed",
             "layers[1].units"),
            (json.dumps(TUTORIAL).replace('"seed": 42', '"seed": 42, "seed": 43'), 422, "validation_failed",
             "seed"),
            (json.dumps(TUTORIAL)[:-1], 400, "invalid_json", None),
            ("[]", 422, "validation_failed", ANY),
        ]
        for body, status, code, field in raw:
            with self.subTest(body=body[:80]):
                r = self.c.post("/v1/models", body=body, headers={"Content-Type": "application/json"})
                self.assertError(r, status, code, field)
        self.assertEqual(self.c.get("/v1/models").json["total"], before, "a refused body created a model")

    def test_too_many_params_refused_before_allocating(self):
        """Over the parameter limit is a 422 decided from the shapes alone:
        the server's peak resident memory (VmHWM) does not grow by the
        weights it was asked for (64 MiB for the smallest refused body,
        16 GiB for the largest), nor by their gradients or Adam's state."""
        srv = self.server(name="params-limit")
        c = srv.client

        def peak_kib():
            with open("/proc/%d/status" % srv.proc.pid) as f:
                return int(re.search(r"(?m)^VmHWM:\s+(\d+) kB", f.read()).group(1))
        self.assertStatus(c.post("/v1/models", TUTORIAL), 201)  # the allocations of a first request
        before = peak_kib()
        body = unnamed(TUTORIAL)
        body["layers"] = [{"type": "dense", "units": 65536, "activation": "relu"} for _ in range(3)]
        e = self.assertError(c.post("/v1/models", body), 422, "validation_failed", ANY)
        self.assertRegex(e.get("field", ""), r"^layers(\[\d+\])?$", "names the layers")
        # 2^24 parameters is the limit: 4096 x 4096 weights and 4096 biases are just over it
        body["input_dim"] = 4096
        body["layers"] = [{"type": "dense", "units": 4096, "activation": "softmax"}]
        self.assertError(c.post("/v1/models", body), 422, "validation_failed", ANY)
        body["layers"] = [{"type": "dense", "units": 4, "activation": "relu"} for _ in range(65)]
        self.assertError(c.post("/v1/models", body), 422, "validation_failed", "layers")
        grown = peak_kib() - before
        self.assertLess(grown, 8 << 10, "peak RSS grew by %d KiB over refused models of >= 64 MiB of weights" % grown)
        self.assertEqual(c.get("/v1/models").json["total"], 1, "a refused body created a model")
        # precondition: the measure sees a model of 4 Mi parameters (16 MiB of weights) that is taken
        body["layers"] = [{"type": "dense", "units": 1024, "activation": "softmax"}]
        self.assertStatus(c.post("/v1/models", body), 201)
        self.assertGreater(peak_kib() - before, 16 << 10, "precondition: this measure sees a 16 MiB model")
        srv.stop()

    def test_initializers(self):
        """Initial kernels follow Keras's initializers: uniform ones within
        their limit, normal ones truncated at two standard deviations of the
        untruncated draw, with the variance of their definition."""
        fan_in, fan_out = 64, 256
        cases = {  # name -> (kind, target variance)
            "glorot_uniform": ("uniform", 2.0 / (fan_in + fan_out)),
            "glorot_normal": ("normal", 2.0 / (fan_in + fan_out)),
            "he_uniform": ("uniform", 2.0 / fan_in),
            "he_normal": ("normal", 2.0 / fan_in),
            "lecun_uniform": ("uniform", 1.0 / fan_in),
            "lecun_normal": ("normal", 1.0 / fan_in),
        }
        for name, (kind, variance) in cases.items():
            with self.subTest(initializer=name):
                body = {"input_dim": fan_in, "loss": "mse", "optimizer": "sgd", "seed": 3,
                        "layers": [{"type": "dense", "units": fan_out, "kernel_initializer": name,
                                    "bias_initializer": "ones"}]}
                m = self.create_model(self.c, body)
                w = self.c.get("/v1/models/%d/weights" % m["id"]).json["layers"][0]
                values = [v for row in w["kernel"] for v in row]
                mean = sum(values) / len(values)
                var = sum((v - mean) ** 2 for v in values) / len(values)
                self.assertLess(abs(mean), 0.05 * variance ** 0.5)
                self.assertAlmostEqual(var / variance, 1.0, delta=0.05, msg="variance of %s" % name)
                bound = (3 * variance) ** 0.5 if kind == "uniform" else 2 * (variance ** 0.5) / 0.87962566103423978
                self.assertLessEqual(max(abs(v) for v in values), bound * (1 + 1e-6), "%s bound" % name)
                self.assertGreater(max(abs(v) for v in values), 0.9 * bound)
                self.assertEqual(set(w["bias"]), {1})
        body = {"input_dim": 8, "loss": "mse", "optimizer": "sgd",
                "layers": [{"type": "dense", "units": 4, "kernel_initializer": "zeros"}]}
        w = self.c.get("/v1/models/%d/weights" % self.create_model(self.c, body)["id"]).json["layers"][0]
        self.assertEqual({v for row in w["kernel"] for v in row} | set(w["bias"]), {0})

    # ---- Keras import ---------------------------------------------------------------------

    def check_imported(self, m):
        self.assertEqual(m["input_dim"], 64)
        self.assertEqual(m["n_params"], 64 * 25 + 25 + 25 * 4 + 4)
        self.assertEqual([l["type"] for l in m["layers"]], ["dense", "dropout", "dense"])
        self.assertEqual((m["layers"][0]["units"], m["layers"][0]["activation"]), (25, "relu"))
        self.assertAlmostEqual(m["layers"][1]["rate"], 0.2)
        self.assertEqual((m["layers"][2]["units"], m["layers"][2]["activation"]), (4, "softmax"))
        self.assertEqual(m["loss"], "sparse_categorical_crossentropy")
        self.assertOptimizer(dict(m["optimizer"], type=m["optimizer"]["type"].lower()), ADAM)
        w = self.c.get("/v1/models/%d/weights" % m["id"]).json
        self.assertEqual([(len(l["kernel"]), len(l["kernel"][0]), len(l["bias"])) for l in w["layers"]],
                         [(64, 25, 25), (25, 4, 4)])

    def test_keras2_import(self):
        m = self.create_model(self.c, {"name": "k2", "keras": keras2_json(),
                                       "loss": "SparseCategoricalCrossentropy", "optimizer": "Adam", "seed": 1})
        self.check_imported(m)

    def test_keras3_import(self):
        m = self.create_model(self.c, {"name": "k3", "keras": keras3_json(),
                                       "loss": "sparse_categorical_crossentropy", "optimizer": "adam"})
        self.check_imported(m)
        # already parsed rather than a string
        m = self.create_model(self.c, {"keras": json.loads(keras3_json()), "loss": "SparseCategoricalCrossentropy",
                                       "optimizer": {"type": "Adam"}})
        self.check_imported(m)

    def test_keras_variants(self):
        # Keras 2: the input shape on the first Dense layer, no InputLayer
        k = json.loads(keras2_json())
        layers = k["config"]["layers"]
        del layers[0]
        layers[0]["config"]["batch_input_shape"] = [None, 64]
        m = self.create_model(self.c, {"keras": json.dumps(k), "loss": "SparseCategoricalCrossentropy",
                                       "optimizer": "Adam"})
        self.check_imported(m)
        # no shape anywhere: input_dim beside keras
        del layers[0]["config"]["batch_input_shape"]
        r = self.c.post("/v1/models", {"keras": json.dumps(k), "loss": "mse", "optimizer": "sgd"})
        self.assertError(r, 422, "validation_failed", "input_dim")
        m = self.create_model(self.c, {"keras": json.dumps(k), "input_dim": 64,
                                       "loss": "SparseCategoricalCrossentropy", "optimizer": "Adam"})
        self.check_imported(m)
        # Keras 3: an L2 kernel regularizer, a layer without bias, other initializers
        k = json.loads(keras3_json())
        dense = k["config"]["layers"][1]["config"]
        dense["kernel_regularizer"] = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
                                       "registered_name": None}
        dense["use_bias"] = False
        dense["kernel_initializer"] = {"module": "keras.initializers", "class_name": "HeNormal",
                                       "config": {"seed": None}, "registered_name": None}
        m = self.create_model(self.c, {"keras": json.dumps(k), "loss": "sparse_categorical_crossentropy",
                                       "optimizer": {"type": "adam", "learning_rate": 0.01}})
        layer = m["layers"][0]
        self.assertAlmostEqual(layer.get("l2"), 0.01)
        self.assertFalse(layer["use_bias"])
        self.assertEqual(layer["kernel_initializer"], "he_normal")
        self.assertEqual(m["n_params"], 64 * 25 + 25 * 4 + 4)
        self.assertAlmostEqual(m["optimizer"]["learning_rate"], 0.01)

    def test_keras_unsupported_layer(self):
        r = self.c.post("/v1/models", {"keras": keras3_json(extra_layer=CONV2D), "loss": "mse", "optimizer": "sgd"})
        e = self.assertError(r, 422, "validation_failed", ANY)
        self.assertIn("Conv2D", e["message"], "the message names the layer")
        self.assertIn("layers[1]", e.get("field", ""), "the field points at the layer")
        r = self.c.post("/v1/models", {"keras": "{not json", "loss": "mse"})
        self.assertError(r, 422, "validation_failed", "keras")
        r = self.c.post("/v1/models", {"keras": keras2_json(), "layers": TUTORIAL["layers"], "loss": "mse"})
        self.assertError(r, 422, "validation_failed", ANY)

    # ---- weights ---------------------------------------------------------------------------------

    def test_weights_shape_and_round_trip(self):
        m = self.create_model(self.c, unnamed(TUTORIAL))
        path = "/v1/models/%d/weights" % m["id"]
        r = self.c.get(path)
        self.assertStatus(r, 200)
        w = r.json
        self.assertEqual(set(w), {"layers"})
        shapes = [(len(l["kernel"]), {len(row) for row in l["kernel"]}, len(l["bias"])) for l in w["layers"]]
        self.assertEqual(shapes, [(64, {25}, 25), (25, {15}, 15), (15, {10}, 10)], "kernel is [inputs, units]")
        self.assertTrue(all(b == 0 for l in w["layers"] for b in l["bias"]), "bias_initializer zeros")
        # every float is a float32 printed to round-trip
        for l in w["layers"]:
            for row in l["kernel"]:
                for v in row:
                    self.assertEqual(float("%.9g" % f32(v)), v, "%r is not a float32 printed with %%.9g" % v)
        r = self.c.put(path, w)
        self.assertStatus(r, 200)
        self.assertEqual(self.c.get(path).json, w, "GET -> PUT -> GET changed the weights")

        # new values: stored as float32, read back exactly
        new = copy.deepcopy(w)
        for i, l in enumerate(new["layers"]):
            for j, row in enumerate(l["kernel"]):
                for k in range(len(row)):
                    row[k] = (i + 1) * 0.1 + j / 3.0 - k * 1e-3
            l["bias"] = [1.0 / (b + 7) for b in range(len(l["bias"]))]
        self.assertStatus(self.c.put(path, new), 200)
        got = self.c.get(path).json
        for gl, nl in zip(got["layers"], new["layers"]):
            for grow, nrow in zip(gl["kernel"], nl["kernel"]):
                self.assertEqual([f32(v) for v in grow], [f32(v) for v in nrow])
            self.assertEqual([f32(v) for v in gl["bias"]], [f32(v) for v in nl["bias"]])
        self.assertStatus(self.c.put(path, got), 200)
        self.assertEqual(self.c.get(path).json, got)

    def test_weights_bad_shapes(self):
        m = self.create_model(self.c, unnamed(TUTORIAL))
        path = "/v1/models/%d/weights" % m["id"]
        w = self.c.get(path).json
        cases = []
        bad = copy.deepcopy(w)
        bad["layers"][0]["kernel"].pop()
        cases.append((bad, "layers[0].kernel"))
        bad = copy.deepcopy(w)
        bad["layers"][1]["kernel"][3].append(0.5)
        cases.append((bad, "layers[1].kernel[3]"))
        bad = copy.deepcopy(w)
        bad["layers"][2]["bias"] = bad["layers"][2]["bias"][:-1]
        cases.append((bad, "layers[2].bias"))
        bad = copy.deepcopy(w)
        bad["layers"].pop()
        cases.append((bad, "layers"))
        bad = copy.deepcopy(w)
        bad["layers"][0]["kernel"] = [list(col) for col in zip(*bad["layers"][0]["kernel"])]  # transposed
        cases.append((bad, "layers[0].kernel"))
        bad = copy.deepcopy(w)
        bad["layers"][0]["kernel"][0][0] = "x"
        cases.append((bad, "layers[0].kernel[0][0]"))
        bad = copy.deepcopy(w)
        bad["layers"][0]["weights"] = []
        cases.append((bad, "layers[0].weights"))
        for body, field in cases:
            with self.subTest(field=field):
                self.assertError(self.c.put(path, body), 422, "validation_failed", field)
        text = re.sub(r'("kernel": \[\[)[^,\]]+', r"\g<1>1e999", json.dumps(w), count=1)
        self.assertIn("1e999", text)
        r = self.c.put(path, body=text, headers={"Content-Type": "application/json"})
        self.assertError(r, 422, "validation_failed", "layers[0].kernel[0][0]")
        self.assertEqual(self.c.get(path).json, w, "a refused PUT changed the weights")
        self.assertError(self.c.put("/v1/models/999999/weights", w), 404, "not_found", ANY)

    # ---- list, get, delete --------------------------------------------------------------------------

    def test_list_get_delete(self):
        ids = [self.create_model(self.c, mlp_body(name="list-%d" % i))["id"] for i in range(3)]
        r = self.c.get("/v1/models?limit=500")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"items", "total"})
        total = r.json["total"]
        self.assertTrue(set(ids) <= {m["id"] for m in r.json["items"]})
        r = self.c.get("/v1/models?limit=1&offset=1")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["items"]), 1)
        self.assertEqual(r.json["total"], total)
        self.assertError(self.c.get("/v1/models?limit=501"), 422, "validation_failed", "limit")

        r = self.c.delete("/v1/models/%d" % ids[0])
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertError(self.c.get("/v1/models/%d" % ids[0]), 404, "not_found", ANY)
        self.assertError(self.c.get("/v1/models/%d/weights" % ids[0]), 404, "not_found", ANY)
        self.assertError(self.c.delete("/v1/models/%d" % ids[0]), 404, "not_found", ANY)
        self.assertEqual(self.c.get("/v1/models").json["total"], total - 1)
        self.assertStatus(self.c.get("/v1/models/%d" % ids[1]), 200)
