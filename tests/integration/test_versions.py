"""Models by name and versions of their weights (issue 13): a name stands for
a model in every /v1/models/{id} route and is unique; every job that changes
weights, PUT weights and a restore leave an immutable version that predict
and evaluate can use; deleting a model with history needs ?cascade=true; a
deleted dataset leaves its jobs' lineage readable."""
import math

from harness import ANY, FitdCase, T, blobs, mlp_body, weights_sha256

SHA_RE = r"^[0-9a-f]{64}$"


class VersionCase(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--commit-interval-ms", "50"], name="versions")
        cls.c = cls.srv.client
        cls.x, cls.y = blobs(n=120, features=8, classes=3, seed=4)
        cls.data = cls.c.post("/v1/datasets", {"name": "blobs", "x": cls.x, "y": cls.y}).json

    def model(self, name=None, seed=5):
        return self.create_model(self.c, mlp_body(input_dim=8, hidden=(6,), outputs=3, seed=seed, name=name))

    def train(self, model_ref, epochs, seed=1):
        """Runs a job on the model (an id) and returns it, succeeded."""
        j = self.submit_job(self.c, {"model_id": model_ref, "dataset_id": self.data["id"], "epochs": epochs,
                                     "batch_size": 16, "seed": seed})
        done = self.wait_job(self.c, j["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded", done)
        return done

    def predict(self, ref, query="", rows=None):
        r = self.c.post("/v1/models/%s/predict%s" % (ref, query), {"instances": rows or self.x[:5]})
        self.assertStatus(r, 200)
        return r.json["predictions"]

    def weights(self, path):
        r = self.c.get(path)
        self.assertStatus(r, 200)
        return r.json


class TestNames(VersionCase):
    def test_every_model_route_takes_the_name(self):
        m = self.model("iris-net")
        self.assertEqual(m["name"], "iris-net")
        done = self.train(m["id"], 2)
        by_id, by_name = "/v1/models/%d" % m["id"], "/v1/models/iris-net"
        for suffix in ("", "/weights", "/versions", "/versions/1", "/versions/1/weights", "/predictions"):
            with self.subTest(route="GET " + suffix):
                a, b = self.c.get(by_id + suffix), self.c.get(by_name + suffix)
                self.assertStatus(a, 200)
                self.assertStatus(b, 200)
                self.assertEqual(a.json, b.json)
        self.assertEqual(self.predict("iris-net", "?store=false"), self.predict(m["id"], "?store=false"))
        e1 = self.c.post(by_name + "/evaluate", {"dataset_id": self.data["id"]})
        e2 = self.c.post(by_id + "/evaluate", {"dataset_id": self.data["id"]})
        self.assertStatus(e1, 200)
        self.assertEqual(e1.json, e2.json)
        w = self.weights(by_name + "/weights")
        self.assertEqual(weights_sha256(w), done["weights_sha256"])
        self.assertStatus(self.c.put(by_name + "/weights", w), 200)
        r = self.c.post(by_name + "/versions/1/restore")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["model_id"], m["id"])
        self.assertError(self.c.delete(by_name), 409, "conflict", "cascade")
        self.assertStatus(self.c.delete(by_name + "?cascade=true"), 204)
        self.assertError(self.c.get(by_name), 404, "not_found", None)
        self.assertError(self.c.get(by_id), 404, "not_found", None)

    def test_names_are_unique_and_never_look_like_ids(self):
        m = self.model("unique-one")
        e = self.assertError(self.c.post("/v1/models", mlp_body(input_dim=8, name="unique-one")), 409, "conflict",
                             "name")
        self.assertIn("id %d" % m["id"], e["message"])
        for bad in ("42", "007", "a/b", ".", ".."):
            with self.subTest(name=bad):
                self.assertError(self.c.post("/v1/models", mlp_body(input_dim=8, name=bad)), 422,
                                 "validation_failed", "name")
        # a name with spaces and UTF-8, percent-encoded in the path
        u = self.model("réseau 2")
        self.assertEqual(self.c.get("/v1/models/r%C3%A9seau%202").json["id"], u["id"])
        # no name: null, and only the id reaches it
        anon = self.model()
        self.assertIsNone(anon["name"])
        self.assertError(self.c.get("/v1/models/no-such-model"), 404, "not_found", None)

    def test_rename(self):
        a, b = self.model("rename-a"), self.model("rename-b")
        patch = lambda ref, body: self.c.request("PATCH", "/v1/models/%s" % ref, json_body=body)
        self.assertError(patch("rename-a", {"name": "rename-b"}), 409, "conflict", "name")
        r = patch("rename-a", {"name": "rename-c"})
        self.assertStatus(r, 200)
        self.assertEqual((r.json["id"], r.json["name"]), (a["id"], "rename-c"))
        self.assertError(self.c.get("/v1/models/rename-a"), 404, "not_found", None)
        self.assertEqual(self.c.get("/v1/models/rename-c").json["id"], a["id"])
        # the freed name can be taken; a model can lose its name
        self.assertStatus(patch(b["id"], {"name": "rename-a"}), 200)
        r = patch("rename-a", {"name": None})
        self.assertStatus(r, 200)
        self.assertIsNone(r.json["name"])
        for body, field in (({}, "name"), ({"name": "9"}, "name"), ({"name": 3}, "name"), ({"nom": "x"}, "nom")):
            with self.subTest(body=body):
                self.assertError(patch("rename-c", body), 422, "validation_failed", field)

    def test_job_names_its_model(self):
        m = self.model("job-by-name")
        done = self.train("job-by-name", 1)
        self.assertEqual(done["model_id"], m["id"], "the job stores the id")
        self.assertEqual(self.c.get("/v1/jobs/%d" % done["id"]).json["model_id"], m["id"])
        body = {"dataset_id": self.data["id"], "epochs": 1}
        self.assertError(self.c.post("/v1/jobs", dict(body, model_id="no-such-model")), 404, "not_found", "model_id")
        for bad in ("12", "", "a/b", 1.5, None):
            with self.subTest(model_id=bad):
                self.assertError(self.c.post("/v1/jobs", dict(body, model_id=bad)), 422, "validation_failed",
                                 "model_id")

    def test_put_by_name_runs_twice(self):
        body = mlp_body(input_dim=8, hidden=(6,), outputs=3, seed=9)
        r1 = self.c.put("/v1/models/put-me", body)
        self.assertStatus(r1, 201)
        self.assertEqual(r1.json["name"], "put-me")
        r2 = self.c.put("/v1/models/put-me", body)
        self.assertStatus(r2, 200)
        self.assertEqual(r2.json, r1.json, "the same model, not a second one")
        no_seed = dict(body)
        del no_seed["seed"]
        self.assertEqual(self.c.put("/v1/models/put-me", no_seed).json["id"], r1.json["id"])
        other = mlp_body(input_dim=8, hidden=(7,), outputs=3, seed=9)
        self.assertError(self.c.put("/v1/models/put-me", other), 409, "conflict", "name")
        self.assertError(self.c.put("/v1/models/put-me", dict(body, name="other")), 422, "validation_failed", "name")
        self.assertError(self.c.put("/v1/models/123", body), 422, "validation_failed", None)


class TestVersions(VersionCase):
    def test_two_jobs_two_versions_and_predict_by_version(self):
        m = self.model("two-jobs")
        self.assertIsNone(m["version"])
        self.assertEqual(self.c.get("/v1/models/two-jobs/versions").json, {"items": [], "total": 0})
        j1 = self.train(m["id"], 3)
        at_v1 = self.predict(m["id"], "?store=false")
        ev1 = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": self.data["id"]}).json
        j2 = self.train(m["id"], 2, seed=2)
        self.assertNotEqual(j1["weights_sha256"], j2["weights_sha256"])
        listing = self.c.get("/v1/models/%d/versions" % m["id"]).json
        self.assertEqual(listing["total"], 2)
        v2, v1 = listing["items"]  # newest first
        for v, j, n in ((v1, j1, 1), (v2, j2, 2)):
            self.assertEqual((v["version"], v["source"], v["job_id"], v["epoch"]), (n, "job", j["id"], j["epochs"]))
            self.assertEqual(v["weights_sha256"], j["weights_sha256"])
            self.assertEqual(v["metrics"]["loss"], j["metrics"]["loss"])
            self.assertTime(v["created_at"])
            w = self.weights("/v1/models/%d/versions/%d/weights" % (m["id"], n))
            self.assertEqual(weights_sha256(w), v["weights_sha256"], "the version's weights are the ones hashed")
            self.assertEqual(self.c.get("/v1/models/%d/versions/%d" % (m["id"], n)).json, v)
        self.assertEqual((v1["current"], v2["current"]), (False, True))
        self.assertEqual(self.c.get("/v1/models/%d" % m["id"]).json["version"], 2)
        # predict and evaluate at version 1 answer as they did before the second job
        self.assertEqual(self.predict(m["id"], "?version=1&store=false"), at_v1)
        self.assertNotEqual(self.predict(m["id"], "?store=false"), at_v1)
        r = self.c.post("/v1/models/%d/evaluate?version=1" % m["id"], {"dataset_id": self.data["id"]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, ev1)
        # a stored prediction by version is stored as made
        r = self.c.post("/v1/models/%d/predict?version=1" % m["id"], {"instances": self.x[:5]})
        self.assertStatus(r, 200)
        self.assertEqual(self.c.get("/v1/predictions/%d" % r.json["id"]).json["predictions"], at_v1)

    def test_restore_makes_a_new_version(self):
        m = self.model("restore-me")
        j1 = self.train(m["id"], 2)
        at_v1 = self.predict(m["id"], "?store=false")
        self.train(m["id"], 2, seed=3)
        r = self.c.post("/v1/models/restore-me/versions/1/restore")
        self.assertStatus(r, 201)
        v3 = r.json
        self.assertEqual((v3["version"], v3["source"], v3["restored_from"], v3["current"]), (3, "restore", 1, True))
        self.assertEqual(v3["weights_sha256"], j1["weights_sha256"])
        self.assertEqual(self.predict(m["id"], "?store=false"), at_v1, "current weights are version 1's again")
        self.assertEqual(weights_sha256(self.weights("/v1/models/%d/weights" % m["id"])), j1["weights_sha256"])
        # nothing rewritten: versions 1 and 2 are as they were
        items = self.c.get("/v1/models/%d/versions" % m["id"]).json["items"]
        self.assertEqual([v["version"] for v in items], [3, 2, 1])
        self.assertEqual(items[2]["weights_sha256"], j1["weights_sha256"])
        # training goes on from the restored weights
        j3 = self.train(m["id"], 1, seed=4)
        self.assertEqual(self.c.get("/v1/models/%d" % m["id"]).json["version"], 4)
        self.assertEqual(self.c.get("/v1/models/%d/versions/4" % m["id"]).json["job_id"], j3["id"])
        self.assertError(self.c.post("/v1/models/%d/versions/9/restore" % m["id"]), 404, "not_found", None)

    def test_put_weights_is_a_version(self):
        m = self.model("put-weights")
        w = self.weights("/v1/models/%d/weights" % m["id"])
        w["layers"][0]["bias"] = [0.125 * (i + 1) for i in range(len(w["layers"][0]["bias"]))]
        r = self.c.put("/v1/models/put-weights/weights", w)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["version"], 1)
        v = self.c.get("/v1/models/%d/versions/1" % m["id"]).json
        self.assertEqual((v["source"], v["job_id"], v["epoch"], v["metrics"]), ("weights", None, None, {}))
        self.assertEqual(v["weights_sha256"], weights_sha256(w))

    def test_cancelled_jobs(self):
        x, y = blobs(n=3000, features=8, classes=3, seed=6)
        big = self.create_dataset(self.c, x, y, name="big")
        m = self.create_model(self.c, mlp_body(input_dim=8, hidden=(256, 256), outputs=3, seed=1, name="cancelled"))
        # cancelled after epochs: a version, with the hash of the weights it left
        j = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": big["id"], "epochs": 100000, "seed": 1})
        self.wait_job(self.c, j["id"], statuses=("running",), min_epoch=1, timeout=T(60))
        self.assertStatus(self.c.post("/v1/jobs/%d/cancel" % j["id"]), 200)
        done = self.wait_job(self.c, j["id"], statuses=("cancelled",), timeout=T(60))
        self.assertGreaterEqual(done["epoch"], 1)
        self.assertRegex(done["weights_sha256"], SHA_RE)
        self.assertEqual(done["weights_sha256"], weights_sha256(self.weights("/v1/models/%d/weights" % m["id"])))
        vs = self.c.get("/v1/models/%d/versions" % m["id"]).json
        self.assertEqual(vs["total"], 1)
        self.assertEqual((vs["items"][0]["job_id"], vs["items"][0]["weights_sha256"], vs["items"][0]["epoch"]),
                         (j["id"], done["weights_sha256"], done["epoch"]))
        # cancelled while queued (both workers busy): no epoch, no hash, no version
        runners = []
        for k in range(2):
            busy = self.create_model(self.c, mlp_body(input_dim=8, hidden=(256, 256), outputs=3, seed=2 + k))
            runners.append(self.submit_job(self.c, {"model_id": busy["id"], "dataset_id": big["id"],
                                                    "epochs": 100000}))
        for job in runners:
            self.wait_job(self.c, job["id"], statuses=("running",), timeout=T(60))
        waiting = self.create_model(self.c, mlp_body(input_dim=8, hidden=(4,), outputs=3, seed=7))
        queued = self.submit_job(self.c, {"model_id": waiting["id"], "dataset_id": big["id"], "epochs": 5})
        r = self.c.post("/v1/jobs/%d/cancel" % queued["id"])
        self.assertStatus(r, 200)
        self.assertEqual((r.json["status"], r.json["epoch"], r.json["weights_sha256"]), ("cancelled", 0, None))
        self.assertEqual(self.c.get("/v1/models/%d/versions" % waiting["id"]).json["total"], 0)
        self.assertIsNone(self.c.get("/v1/models/%d" % waiting["id"]).json["version"])
        for job in runners:
            self.assertStatus(self.c.post("/v1/jobs/%d/cancel" % job["id"]), 200)
            self.wait_job(self.c, job["id"], statuses=("cancelled",), timeout=T(60))

    def test_strict_queries(self):
        m = self.model("strict")
        self.train(m["id"], 1)
        rows = {"instances": self.x[:2]}
        for query, field in (("?versoin=1", "versoin"), ("?version=0", "version"), ("?version=x", "version"),
                             ("?version=-1", "version"), ("?version=1.0", "version"), ("?store=maybe", "store")):
            with self.subTest(query=query):
                self.assertError(self.c.post("/v1/models/strict/predict" + query, rows), 422, "validation_failed",
                                 field)
        self.assertError(self.c.post("/v1/models/strict/predict?version=7", rows), 404, "not_found", "version")
        ev = {"dataset_id": self.data["id"]}
        self.assertError(self.c.post("/v1/models/strict/evaluate?store=false", ev), 422, "validation_failed", "store")
        self.assertError(self.c.post("/v1/models/strict/evaluate?version=2", ev), 404, "not_found", "version")
        self.assertError(self.c.delete("/v1/models/strict?cascade=yes"), 422, "validation_failed", "cascade")
        self.assertError(self.c.delete("/v1/models/strict?force=true"), 422, "validation_failed", "force")
        self.assertError(self.c.get("/v1/models/strict/versions?limit=0"), 422, "validation_failed", "limit")
        self.assertError(self.c.get("/v1/models/strict/versions/0"), 404, "not_found", None)
        self.assertError(self.c.get("/v1/models/strict/versions/abc/weights"), 404, "not_found", None)


class TestDelete(VersionCase):
    def test_delete_needs_cascade_with_history(self):
        fresh = self.model("no-history")
        self.assertStatus(self.c.delete("/v1/models/no-history"), 204, "a model without jobs or versions goes")
        m = self.model("with-history")
        j = self.train(m["id"], 1)
        self.predict(m["id"])  # a stored prediction
        e = self.assertError(self.c.delete("/v1/models/%d" % m["id"]), 409, "conflict", "cascade")
        self.assertIn("cascade=true", e["message"], "the message says how to force it")
        self.assertStatus(self.c.get("/v1/models/%d" % m["id"]), 200, "nothing was deleted")
        self.assertStatus(self.c.get("/v1/jobs/%d" % j["id"]), 200)
        self.assertStatus(self.c.delete("/v1/models/%d?cascade=false" % m["id"]), 409)
        self.assertStatus(self.c.delete("/v1/models/%d?cascade=true" % m["id"]), 204)
        self.assertError(self.c.get("/v1/jobs/%d" % j["id"]), 404, "not_found", None)
        self.assertError(self.c.get("/v1/models/%d/versions" % m["id"]), 404, "not_found", None)
        self.assertError(self.c.get("/v1/models/%d" % fresh["id"]), 404, "not_found", None)

    def test_deleted_dataset_leaves_lineage(self):
        x, y = blobs(n=40, features=8, classes=3, seed=9)
        d = self.create_dataset(self.c, x, y, name="short-lived")
        m = self.model("lineage")
        j = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": d["id"], "epochs": 1,
                                     "validation_dataset_id": self.data["id"]})
        done = self.wait_job(self.c, j["id"], timeout=T(60))
        self.assertEqual(done["dataset"], {"id": d["id"], "name": "short-lived", "deleted": False})
        self.assertEqual(done["validation_dataset"], {"id": self.data["id"], "name": "blobs", "deleted": False})
        self.assertStatus(self.c.delete("/v1/datasets/%d" % d["id"]), 204)
        after = self.c.get("/v1/jobs/%d" % j["id"]).json
        self.assertIsNone(after["dataset_id"])
        self.assertEqual(after["dataset"], {"id": d["id"], "name": "short-lived", "deleted": True})
        self.assertTrue(math.isfinite(after["metrics"]["loss"]))
