"""Strict query strings (issue 12, item 1): every route of the route table
refuses a query parameter it does not take, or one given twice, with 422
validation_failed naming it — before the handler runs, so nothing is
created. The routes are read from server/routes/route.c, so a new route is
covered the day it is added."""
import os
import re
import urllib.parse

from harness import ROOT, FitdCase, blobs, mlp_body

ROUTE_RE = re.compile(r'\{"(GET|POST|PUT|DELETE)", "([^"]+)", route_\w+, \w+, [^,]+, (NULL|"[^"]*")\}')


def route_table():
    with open(os.path.join(ROOT, "server", "routes", "route.c")) as f:
        text = f.read()
    rows = []
    for method, pattern, query in ROUTE_RE.findall(text):
        if pattern == "/":
            continue  # the dashboard's files are not checked
        rows.append((method, pattern, [] if query == "NULL" else query.strip('"').split()))
    return rows


class TestQuery(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="query")
        cls.c = cls.srv.client
        x, y = blobs(n=40, features=4, classes=3)
        r = cls.c.post("/v1/datasets", {"name": "q", "x": x, "y": y})
        assert r.status == 201, r.text
        cls.dataset = r.json["id"]
        r = cls.c.post("/v1/models", mlp_body(input_dim=4, hidden=(5,), outputs=3))
        assert r.status == 201, r.text
        cls.model = r.json["id"]
        r = cls.c.post("/v1/jobs", {"model_id": cls.model, "dataset_id": cls.dataset, "epochs": 1})
        assert r.status == 202, r.text
        cls.job = r.json["id"]
        r = cls.c.post("/v1/models/%d/predict" % cls.model, {"instances": [[0, 0, 0, 0]]})
        cls.prediction = r.json.get("id") if r.status == 200 else 1

    def path(self, pattern):
        ids = {"/v1/datasets/{id}": self.dataset, "/v1/models/{id}": self.model, "/v1/jobs/{id}": self.job,
               "/v1/predictions/{id}": self.prediction}
        for prefix, value in ids.items():
            if pattern.startswith(prefix):
                return pattern.replace("{id}", str(value))
        return pattern

    def send(self, method, pattern, query):
        path = self.path(pattern) + "?" + query
        if method in ("POST", "PUT"):
            return self.c.request(method, path, body="{}", headers={"Content-Type": "application/json"})
        return self.c.request(method, path)

    def counts(self):
        return [self.c.get(p).json["total"] for p in ("/v1/datasets", "/v1/models", "/v1/jobs")]

    def test_table_is_read(self):
        rows = route_table()
        self.assertGreaterEqual(len(rows), 20, "the test must see the route table")
        self.assertIn(("POST", "/v1/datasets", ["name", "label", "header", "delimiter", "task"]), rows)

    def test_unknown_parameter_on_every_route(self):
        before = self.counts()
        for method, pattern, allowed in route_table():
            with self.subTest(route=method + " " + pattern):
                r = self.send(method, pattern, "bogus_parameter=1")
                e = self.assertError(r, 422, "validation_failed", "bogus_parameter")
                self.assertIn("bogus_parameter", e["message"])
                for name in allowed:  # the message lists what the route takes
                    self.assertIn(name, e["message"])
                if not allowed:
                    self.assertIn("no query parameters", e["message"])
                # a key without a value is a key too
                r = self.send(method, pattern, "flag")
                self.assertError(r, 422, "validation_failed", "flag")
        self.assertEqual(self.counts(), before, "a refused request created something")

    def test_typo_names_the_parameter_and_suggests(self):
        for method, pattern, allowed in route_table():
            for name in allowed:
                typo = name[1] + name[0] + name[2:]  # swap the first two letters
                with self.subTest(route=method + " " + pattern, typo=typo):
                    r = self.send(method, pattern, urllib.parse.urlencode({typo: "1"}))
                    e = self.assertError(r, 422, "validation_failed", typo)
                    self.assertIn('did you mean "%s"' % name, e["message"])

    def test_given_twice(self):
        for method, pattern, allowed in route_table():
            for name in allowed:
                with self.subTest(route=method + " " + pattern, name=name):
                    r = self.send(method, pattern, "%s=1&%s=2" % (name, name))
                    e = self.assertError(r, 422, "validation_failed", name)
                    self.assertIn("more than once", e["message"])

    def test_issue_examples(self):
        before = self.counts()
        csv = "a,b,species\n1,2,0\n3,4,1\n"
        for query, field in (("lable=species", "lable"), ("hedaer=true", "hedaer"), ("sep=%3B", "sep")):
            r = self.c.request("POST", "/v1/datasets?" + query, body=csv, headers={"Content-Type": "text/csv"})
            self.assertError(r, 422, "validation_failed", field)
        e = self.assertError(self.c.get("/v1/datasets?name=x"), 422, "validation_failed", "name")
        self.assertIn("limit", e["message"])
        r = self.c.post("/v1/models/%d/predict?threshold=0.9" % self.model, {"instances": [[0, 0, 0, 0]]})
        self.assertError(r, 422, "validation_failed", "threshold")
        self.assertEqual(self.counts(), before)
        r = self.c.get("/v1/models/%d/predictions" % self.model)
        self.assertEqual(r.status, 200)

    def test_names_are_case_sensitive(self):
        self.assertError(self.c.get("/v1/datasets?Limit=5"), 422, "validation_failed", "Limit")

    def test_malformed_values(self):
        # The keys are right; the values are the handler's to refuse, naming the key.
        cases = [
            ("GET", "/v1/datasets?limit=abc", "limit"),
            ("GET", "/v1/jobs?status=done", "status"),
            ("GET", "/v1/jobs?model_id=-1", "model_id"),
            ("POST", "/v1/models/%d/predict?store=maybe" % self.model, "store"),
        ]
        for method, path, field in cases:
            with self.subTest(path=path):
                body = {"instances": [[0, 0, 0, 0]]} if method == "POST" else None
                r = self.c.request(method, path, json_body=body)
                self.assertError(r, 422, "validation_failed", field)
        r = self.c.request("POST", "/v1/datasets?header=yes", body="a,b\n1,2\n", headers={"Content-Type": "text/csv"})
        self.assertError(r, 422, "validation_failed", "header")

    def test_allowed_parameters_still_work(self):
        r = self.c.get("/v1/jobs?status=succeeded&model_id=%d&limit=5&offset=0" % self.model)
        self.assertStatus(r, 200)
        r = self.c.post("/v1/models/%d/predict?store=false" % self.model, {"instances": [[0, 0, 0, 0]]})
        self.assertStatus(r, 200)
        self.assertNotIn("id", r.json)
        r = self.c.request("POST", "/v1/datasets?name=ok&label=c&header=true", body="a,c\n1,0\n2,1\n",
                           headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        # the dashboard's files may carry any query (a cache buster)
        self.assertEqual(self.c.get("/?v=123").status, 200)
