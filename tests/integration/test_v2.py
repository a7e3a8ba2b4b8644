"""The Open Inference Protocol (KServe V2 REST): health, server and model
metadata, readiness, inference with the protocol's own request shapes, good
and bad. Outputs are checked against /v1 predict (within 1e-6) and against
an independent forward pass computed here from the model's weights."""
import json
import math

from harness import FitdCase, blobs, f32, mlp_body

INPUT_DIM, OUTPUTS = 16, 4


def forward(weights, activations, row):
    """The MLP in float64 from GET /v1/models/{id}/weights (kernel[in][out])."""
    x = list(row)
    for layer, act in zip(weights["layers"], activations):
        kernel, bias = layer["kernel"], layer["bias"]
        y = [sum(x[i] * kernel[i][j] for i in range(len(x))) + bias[j] for j in range(len(bias))]
        if act == "relu":
            y = [max(0.0, v) for v in y]
        elif act == "softmax":
            m = max(y)
            e = [math.exp(v - m) for v in y]
            y = [v / sum(e) for v in e]
        x = y
    return x


class TestV2(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--max-instances", "20"], name="v2")
        cls.c = cls.srv.client
        r = cls.c.post("/v1/models", mlp_body(input_dim=INPUT_DIM, outputs=OUTPUTS, seed=7, name="v2"))
        assert r.status == 201, r
        cls.model = r.json
        cls.mid = str(cls.model["id"])
        cls.x, cls.y = blobs(n=60, features=INPUT_DIM, classes=OUTPUTS, seed=4)
        # Trained weights, so that the outputs are not those of an initialisation alone.
        r = cls.c.post("/v1/datasets", {"name": "v2", "x": cls.x, "y": cls.y})
        assert r.status == 201, r
        r = cls.c.post("/v1/jobs", {"model_id": cls.model["id"], "dataset_id": r.json["id"], "epochs": 3,
                                    "seed": 1})
        assert r.status in (201, 202), r
        job = r.json["id"]
        cls.wait_done(job)

    @classmethod
    def wait_done(cls, job):
        import time
        for _ in range(3000):
            s = cls.c.get("/v1/jobs/%d" % job).json["status"]
            if s in ("succeeded", "failed", "cancelled"):
                assert s == "succeeded", s
                return
            time.sleep(0.02)
        raise AssertionError("job %d did not finish" % job)

    def infer(self, body, model=None, version=None, raw=None):
        path = "/v2/models/%s" % (model or self.mid)
        if version is not None:
            path += "/versions/%s" % version
        path += "/infer"
        if raw is not None:
            return self.c.post(path, body=raw, headers={"Content-Type": "application/json"})
        return self.c.post(path, body)

    def tensor(self, rows, flat=True, **kw):
        t = {"name": "input", "shape": [len(rows), INPUT_DIM], "datatype": "FP32",
             "data": [v for row in rows for v in row] if flat else rows}
        t.update(kw)
        return t

    def assertV2Error(self, r, status, *needles):
        """The protocol's error: exactly {"error": "<message>"} with status."""
        self.assertStatus(r, status)
        body = r.json
        self.assertEqual(set(body), {"error"}, body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["error"])
        for n in needles:
            self.assertIn(n, body["error"])

    def n_stored(self):
        return self.c.get("/v1/models/%s/predictions" % self.mid).json["total"]

    # ---- health and metadata ----------------------------------------------------------------

    def test_health(self):
        r = self.c.get("/v2/health/live")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"live": True})
        r = self.c.get("/v2/health/ready")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"ready": True})

    def test_server_metadata(self):
        r = self.c.get("/v2")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"name", "version", "extensions"})
        self.assertEqual(r.json["name"], "fitd")
        self.assertIsInstance(r.json["version"], str)
        self.assertEqual(r.json["extensions"], [])

    def test_model_metadata(self):
        r = self.c.get("/v2/models/%s" % self.mid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {
            "name": self.mid, "platform": "fitd",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, INPUT_DIM]}],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, OUTPUTS]}]})

    def test_model_ready(self):
        r = self.c.get("/v2/models/%s/ready" % self.mid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"name": self.mid, "ready": True})

    def test_unknown_model(self):
        for model in ("999999", "nosuchmodel", "0", "-1"):
            with self.subTest(model=model):
                self.assertV2Error(self.c.get("/v2/models/%s" % model), 404, "model %s not found" % model)
                self.assertV2Error(self.c.get("/v2/models/%s/ready" % model), 404, "not found")
                self.assertV2Error(self.infer({"inputs": [self.tensor(self.x[:1])]}, model=model), 404,
                                   "model %s not found" % model)
                # an unknown model is named before any version of it
                self.assertV2Error(self.c.get("/v2/models/%s/versions/1" % model), 404, "model %s not found" % model)

    def test_versions_and_names(self):
        # The training job left version 1; {model} is the id or the name.
        rows = self.x[:3]
        v1 = self.c.post("/v1/models/%s/predict?store=false&version=1" % self.mid, {"instances": rows})
        self.assertStatus(v1, 200)
        flat_v1 = [v for row in v1.json["predictions"] for v in row]
        for model in (self.mid, "v2"):
            with self.subTest(model=model):
                r = self.c.get("/v2/models/%s/versions/1" % model)
                self.assertStatus(r, 200)
                self.assertEqual(r.json["name"], model)
                self.assertStatus(self.c.get("/v2/models/%s/versions/1/ready" % model), 200)
                r = self.infer({"inputs": [self.tensor(rows)], "parameters": {"store": False}}, model=model,
                               version="1")
                self.assertStatus(r, 200)
                self.assertEqual(r.json["model_version"], "1")
                for a, b in zip(r.json["outputs"][0]["data"], flat_v1):
                    self.assertLessEqual(abs(a - b), 1e-6)
        for v in ("2", "0", "latest"):
            with self.subTest(v=v):
                msg = "model %s version %s not found" % (self.mid, v)
                self.assertV2Error(self.c.get("/v2/models/%s/versions/%s" % (self.mid, v)), 404, msg)
                self.assertV2Error(self.c.get("/v2/models/%s/versions/%s/ready" % (self.mid, v)), 404, msg)
                self.assertV2Error(self.infer({"inputs": [self.tensor(self.x[:1])]}, version=v), 404, msg)

    def test_auth(self):
        s = self.server(args=["--api-key", "k3y"], name="v2-auth")
        # health is public (probes); the rest needs the key
        self.assertStatus(s.client.get("/v2/health/live"), 200)
        self.assertStatus(s.client.get("/v2/health/ready"), 200)
        self.assertStatus(s.client.get("/v2"), 401)
        self.assertStatus(s.client.get("/v2", headers={"Authorization": "Bearer k3y"}), 200)

    # ---- inference ----------------------------------------------------------------------------

    def test_infer_equals_predict_and_reference(self):
        rows = self.x[:7]
        r = self.infer({"id": "req-1", "inputs": [self.tensor(rows)], "parameters": {"store": False}})
        self.assertStatus(r, 200)
        body = r.json
        self.assertEqual(set(body), {"model_name", "id", "outputs"})
        self.assertEqual(body["model_name"], self.mid)
        self.assertEqual(body["id"], "req-1")
        self.assertEqual(len(body["outputs"]), 1)
        out = body["outputs"][0]
        self.assertEqual({k: out[k] for k in ("name", "shape", "datatype")},
                         {"name": "output", "shape": [7, OUTPUTS], "datatype": "FP32"})
        self.assertEqual(len(out["data"]), 7 * OUTPUTS)
        v1 = self.c.post("/v1/models/%s/predict?store=false" % self.mid, {"instances": rows})
        self.assertStatus(v1, 200)
        flat_v1 = [v for row in v1.json["predictions"] for v in row]
        for a, b in zip(out["data"], flat_v1):
            self.assertLessEqual(abs(a - b), 1e-6)
        # An independent forward pass (float64 from the float32 weights): float32
        # sums of 16 and 25 terms of O(1) values stay well within 1e-5.
        w = self.c.get("/v1/models/%s/weights" % self.mid).json
        for i, row in enumerate(rows):
            ref = forward(w, ["relu", "relu", "softmax"], [f32(v) for v in row])
            for j in range(OUTPUTS):
                self.assertLessEqual(abs(out["data"][i * OUTPUTS + j] - ref[j]), 1e-5, (i, j))

    def test_flat_and_nested_agree(self):
        rows = self.x[10:13]
        flat = self.infer({"inputs": [self.tensor(rows)], "parameters": {"store": False}})
        nested = self.infer({"inputs": [self.tensor(rows, flat=False)], "parameters": {"store": False}})
        self.assertStatus(flat, 200)
        self.assertStatus(nested, 200)
        self.assertNotIn("id", flat.json, "no id in the request, none in the response")
        self.assertEqual(flat.json["outputs"], nested.json["outputs"])

    def test_outputs_requested(self):
        r = self.infer({"inputs": [self.tensor(self.x[:2])], "outputs": [{"name": "output"}],
                        "parameters": {"store": False}})
        self.assertStatus(r, 200)
        self.assertEqual([o["name"] for o in r.json["outputs"]], ["output"])
        r = self.infer({"inputs": [self.tensor(self.x[:2])],
                        "outputs": [{"name": "output", "parameters": {"binary_data": False}}],
                        "parameters": {"store": False}})
        self.assertStatus(r, 200)
        self.assertV2Error(self.infer({"inputs": [self.tensor(self.x[:2])], "outputs": [{"name": "probs"}]}), 400,
                           "probs")

    def test_stored_by_default(self):
        before = self.n_stored()
        rows = self.x[20:22]
        r = self.infer({"inputs": [self.tensor(rows)]})
        self.assertStatus(r, 200)
        self.assertEqual(self.n_stored(), before + 1)
        item = self.c.get("/v1/models/%s/predictions?limit=1" % self.mid).json["items"][0]
        self.assertEqual([v for row in item["predictions"] for v in row], r.json["outputs"][0]["data"])
        self.assertEqual([[f32(v) for v in row] for row in item["instances"]], [[f32(v) for v in row] for row in rows])
        r = self.infer({"inputs": [self.tensor(rows)], "parameters": {"store": False, "other": 1}})
        self.assertStatus(r, 200)
        self.assertEqual(self.n_stored(), before + 1, "parameters.store false stores nothing")

    def test_bad_requests(self):
        one = self.x[0]
        good = self.tensor([one])
        cases = [
            ("FP64 datatype", {"inputs": [dict(good, datatype="FP64")]}, "FP64"),
            ("BYTES datatype", {"inputs": [dict(good, datatype="BYTES", data=["a"] * INPUT_DIM)]}, "BYTES"),
            ("unknown datatype", {"inputs": [dict(good, datatype="FLOAT")]}, "FLOAT"),
            ("lower-case datatype", {"inputs": [dict(good, datatype="fp32")]}, "fp32"),
            ("shape against data length", {"inputs": [dict(good, shape=[2, INPUT_DIM])]}, "data"),
            ("too few values", {"inputs": [dict(good, data=one[:-1])]}, "data"),
            ("wrong width", {"inputs": [dict(good, shape=[1, INPUT_DIM - 1], data=one[:-1])]}, "shape"),
            ("rank 1 shape", {"inputs": [dict(good, shape=[INPUT_DIM])]}, "shape"),
            ("rank 3 shape", {"inputs": [dict(good, shape=[1, 1, INPUT_DIM])]}, "shape"),
            ("zero rows", {"inputs": [dict(good, shape=[0, INPUT_DIM], data=[])]}, "shape"),
            ("negative dim", {"inputs": [dict(good, shape=[-1, INPUT_DIM])]}, "shape"),
            ("fractional dim", {"inputs": [dict(good, shape=[1.5, INPUT_DIM])]}, "shape"),
            ("too many rows", {"inputs": [self.tensor(self.x[:21])]}, "1..20"),
            ("missing inputs", {"id": "x"}, "inputs"),
            ("empty inputs", {"inputs": []}, "inputs"),
            ("two inputs", {"inputs": [good, good]}, "inputs"),
            ("inputs not an array", {"inputs": good}, "inputs"),
            ("wrong input name", {"inputs": [dict(good, name="x")]}, "'x'"),
            ("missing name", {"inputs": [{k: v for k, v in good.items() if k != "name"}]}, "name"),
            ("missing datatype", {"inputs": [{k: v for k, v in good.items() if k != "datatype"}]}, "datatype"),
            ("missing shape", {"inputs": [{k: v for k, v in good.items() if k != "shape"}]}, "shape"),
            ("missing data", {"inputs": [{k: v for k, v in good.items() if k != "data"}]}, "data"),
            ("string in data", {"inputs": [dict(good, data=["1"] + one[1:])]}, "data[0]"),
            ("bool in data", {"inputs": [dict(good, data=one[:-1] + [True])]}, "data[15]"),
            ("null in data", {"inputs": [dict(good, data=[None] + one[1:])]}, "data[0]"),
            ("float32 overflow", {"inputs": [dict(good, data=[1e39] + one[1:])]}, "data[0]"),
            ("nested row too short", {"inputs": [dict(good, data=[one[:-1]])]}, "data[0]"),
            ("nested row count", {"inputs": [dict(good, shape=[2, INPUT_DIM], data=[one])]}, "rows"),
            ("nested mixed", {"inputs": [dict(good, shape=[2, INPUT_DIM], data=[one, 1.0])]}, "data[1]"),
            ("unknown key", {"inputs": [good], "model": "x"}, "model"),
            ("unknown input key", {"inputs": [dict(good, contents={})]}, "contents"),
            ("id not a string", {"inputs": [good], "id": 5}, "id"),
            ("parameters not an object", {"inputs": [good], "parameters": []}, "parameters"),
            ("store not a boolean", {"inputs": [good], "parameters": {"store": "no"}}, "store"),
            ("binary output", {"inputs": [good], "parameters": {"binary_data_output": True}}, "binary"),
            ("binary input", {"inputs": [dict(good, parameters={"binary_data_size": 64})]}, "binary"),
            ("outputs not an array", {"inputs": [good], "outputs": {"name": "output"}}, "outputs"),
            ("body not an object", [good], ""),
        ]
        before = self.n_stored()
        for what, body, needle in cases:
            with self.subTest(what):
                self.assertV2Error(self.infer(body), 400, needle)
        for what, raw in (("invalid JSON", '{"inputs": ['), ("empty body", ""), ("trailing data", '{} {}')):
            with self.subTest(what):
                self.assertV2Error(self.infer(None, raw=raw), 400)
        self.assertEqual(self.n_stored(), before, "a refused request stores nothing")
        # the server is still well
        self.assertStatus(self.infer({"inputs": [good], "parameters": {"store": False}}), 200)

    def test_id_echoed_verbatim(self):
        ident = 'a "quoted" \\ id \u00e9\n'
        r = self.infer({"id": ident, "inputs": [self.tensor(self.x[:1])], "parameters": {"store": False}})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["id"], ident)
        r = self.infer({"id": "x" * 257, "inputs": [self.tensor(self.x[:1])]})
        self.assertV2Error(r, 400, "id")

    def test_same_numbers_as_v1(self):
        # The same rows through /v1 predict and /v2 infer: the same nn_predict and
        # the same float32 printing, so the very same numbers.
        rows = self.x[30:35]
        r = self.infer({"inputs": [self.tensor(rows)], "parameters": {"store": False}})
        self.assertStatus(r, 200)
        v1 = self.c.post("/v1/models/%s/predict?store=false" % self.mid, {"instances": rows})
        self.assertEqual(json.loads(r.body.decode())["outputs"][0]["data"],
                         [v for row in v1.json["predictions"] for v in row])
