"""GET /openapi.json: docs/openapi.yaml as JSON, public, HEAD, ETag, strict
query, and a 404 when the share folder has no (valid) docs/openapi.json."""

import json
import os
import re
import subprocess
import sys

from harness import ANY, ROOT, FitdCase, tmpdir

sys.path.insert(0, os.path.join(ROOT, "tests"))
import check_docs  # noqa: E402  (the route table, read from server/routes/route.c)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def yaml_as_json():
    """yaml.safe_load(docs/openapi.yaml), through Debian's python3 (it has
    PyYAML; the python3 running the tests may not)."""
    out = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), sys.stdout)",
         os.path.join(ROOT, "docs", "openapi.yaml")],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def query_names(doc, op):
    """The `in: query` parameter names of an operation, $refs resolved."""
    names = []
    for p in op.get("parameters", []):
        if "$ref" in p:
            m = re.fullmatch(r"#/components/parameters/(\w+)", p["$ref"])
            assert m, p["$ref"]
            p = doc["components"]["parameters"][m.group(1)]
        if p.get("in") == "query":
            names.append(p["name"])
    return sorted(names)


def share_dir(name, openapi_text=None):
    """A share folder holding the real migrations/ and, when given, this
    docs/openapi.json."""
    d = tmpdir(name)
    os.symlink(os.path.join(ROOT, "migrations"), os.path.join(d, "migrations"))
    if openapi_text is not None:
        os.mkdir(os.path.join(d, "docs"))
        with open(os.path.join(d, "docs", "openapi.json"), "w", encoding="utf-8") as fh:
            fh.write(openapi_text)
    return d


class TestOpenapi(FitdCase):
    KEY = "openapi-key"

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--api-key", cls.KEY], name="openapi")
        cls.c = cls.srv.client

    def test_openapi_is_the_yaml_document(self):
        r = self.c.get("/openapi.json")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        with open(os.path.join(ROOT, "docs", "openapi.json"), "rb") as fh:
            self.assertEqual(r.body, fh.read(), "the body is docs/openapi.json byte for byte")
        doc = r.json
        self.assertEqual(doc, yaml_as_json(), "the served document is yaml.safe_load(docs/openapi.yaml)")
        self.assertTrue(doc["openapi"].startswith("3.1."), doc["openapi"])

    def test_openapi_paths_are_the_route_table(self):
        doc = self.c.get("/openapi.json").json
        served = sorted((m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS)
        table = sorted((m, p) for m, p, _ in check_docs.code_routes() if p != "/")
        self.assertIn(("GET", "/openapi.json"), table)
        self.assertEqual(served, table, "every route of the table is in paths, and nothing else")
        # each operation's query parameters are the table's last column
        for (method, path), names in sorted(check_docs.code_queries().items()):
            with self.subTest(route="%s %s" % (method, path)):
                self.assertEqual(query_names(doc, doc["paths"][path][method.lower()]), names)
        # the public routes (HTTP_PUBLIC) are the operations with `security: []`
        public = sorted((m, p) for m, p, auth in check_docs.code_routes() if not auth and p != "/")
        open_ops = sorted((m.upper(), p) for p, item in doc["paths"].items() for m, op in item.items()
                          if m in METHODS and op.get("security") == [])
        self.assertEqual(open_ops, public)

    def test_openapi_public_with_api_key(self):
        # documentation, no secret: no key, a wrong key and the right key all get it
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + self.KEY}):
            with self.subTest(headers=headers):
                r = self.c.get("/openapi.json", headers=headers)
                self.assertStatus(r, 200)
                self.assertEqual(r.json["info"]["title"], "fitd")
        # while the API itself needs the key
        self.assertError(self.c.get("/v1/info"), 401, "unauthorized", ANY)

    def test_openapi_head(self):
        full = self.c.get("/openapi.json")
        r = self.c.request("HEAD", "/openapi.json")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(int(r.header("Content-Length")), len(full.body))
        self.assertEqual(r.header("ETag"), full.header("ETag"))

    def test_openapi_etag(self):
        r = self.c.get("/openapi.json")
        etag = r.header("ETag")
        self.assertRegex(etag or "", r'^"[0-9a-f]{64}"$')
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        for value in (etag, "W/" + etag, '"other", ' + etag, "*"):
            with self.subTest(if_none_match=value):
                r2 = self.c.get("/openapi.json", headers={"If-None-Match": value})
                self.assertStatus(r2, 304)
                self.assertEqual(r2.body, b"")
                self.assertEqual(r2.header("ETag"), etag)
        for value in ('"other"', etag[:-2] + '"', etag[1:-1]):
            with self.subTest(if_none_match=value):
                self.assertStatus(self.c.get("/openapi.json", headers={"If-None-Match": value}), 200)

    def test_openapi_strict_query(self):
        self.assertError(self.c.get("/openapi.json?format=yaml"), 422, "validation_failed", "format")

    def test_openapi_missing_is_404(self):
        srv = self.server(args=["--share-dir", share_dir("openapi-none")], name="openapi-none")
        r = srv.client.get("/openapi.json")
        e = self.assertError(r, 404, "not_found", None)
        self.assertIn("openapi.json", e["message"])
        self.assertRegex(srv.log_text(), r"no OpenAPI document, GET /openapi.json answers 404: .*docs/openapi.json")
        self.assertStatus(srv.client.get("/healthz"), 200, "the server serves on")

    def test_openapi_not_json_is_404(self):
        for name, text in (("bad", '{"openapi": "3.1.0",'), ("array", '["openapi"]'),
                           ("noversion", '{"info": {}}'), ("empty", "")):
            with self.subTest(name=name):
                srv = self.server(args=["--share-dir", share_dir("openapi-" + name, text)], name="openapi-" + name)
                self.assertError(srv.client.get("/openapi.json"), 404, "not_found", None)
                self.assertIn("no OpenAPI document", srv.log_text())
                srv.stop()

    def test_openapi_too_large_is_404(self):
        # past 16 MiB (ROUTE_OPENAPI_MAX) the file is refused before it is read:
        # a sparse file, valid JSON at its start
        d = share_dir("openapi-large", '{"openapi": "3.1.0"}')
        os.truncate(os.path.join(d, "docs", "openapi.json"), (16 << 20) + 1)
        srv = self.server(args=["--share-dir", d], name="openapi-large")
        self.assertError(srv.client.get("/openapi.json"), 404, "not_found", None)
        self.assertRegex(srv.log_text(), r"no OpenAPI document.*not a regular file of 1\.\.16777216 bytes")

    def test_openapi_read_from_the_share_dir(self):
        text = '{"openapi": "3.1.0", "info": {"title": "elsewhere", "version": "9"}, "paths": {}}\n'
        srv = self.server(args=["--share-dir", share_dir("openapi-other", text)], name="openapi-other")
        r = srv.client.get("/openapi.json")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, text.encode(), "the share folder's file, as it is")
