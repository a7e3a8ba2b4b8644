"""Health, readiness, info, metrics, routing errors, OPTIONS, API key, CORS."""

from harness import ANY, FitdCase


class TestOps(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="ops")
        cls.c = cls.srv.client

    def test_healthz(self):
        r = self.c.get("/healthz")
        self.assertStatus(r, 200)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"))
        self.assertEqual(r.json, {"status": "ok"})

    def test_readyz(self):
        r = self.c.get("/readyz")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json, dict)

    def test_info(self):
        r = self.c.get("/v1/info")
        self.assertStatus(r, 200)
        info = r.json
        self.assertIsInstance(info.get("version"), str)
        self.assertTrue(info["version"])
        self.assertEqual(info.get("workers"), 2)
        self.assertEqual(info.get("queue_capacity"), 256, "the default --queue")
        self.assertIsInstance(info.get("blas"), str)
        self.assertTrue(info["blas"])
        limits = info.get("limits")
        self.assertIsInstance(limits, dict, "limits in force")
        self.assertEqual(limits.get("max_body_bytes"), 32 << 20, "the default --max-body-mb is 32")

    def test_metrics(self):
        self.c.get("/healthz")
        self.c.get("/v1/no-such-route")
        r = self.c.get("/metrics")
        self.assertStatus(r, 200)
        types = r.headers.get_all("Content-Type") or []
        self.assertEqual(len(types), 1, "exactly one Content-Type header, got %r" % types)
        self.assertTrue(types[0].startswith("text/plain"), types)
        text = r.text
        for name in ("fitd_http_requests_total", "fitd_jobs", "fitd_queue_depth", "fitd_workers_busy",
                     "fitd_training_samples_per_second", "fitd_http_request_duration_seconds_bucket"):
            self.assertRegex(text, r"(?m)^%s[{ ]" % name, "metric %s" % name)
        # requests by route and status
        self.assertRegex(text, r'(?m)^fitd_http_requests_total\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} [1-9]')
        self.assertRegex(text, r'(?m)^fitd_http_requests_total\{[^}]*status="404"[^}]*\} [1-9]')
        # jobs by state
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            self.assertRegex(text, r'(?m)^fitd_jobs\{state="%s"\} \d+$' % state)
        # every sample line is "name{labels} value"
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfa]+$", line)

    def test_unknown_route_404(self):
        for path in ("/v1/nope", "/v1/models/1/nope", "/v2/models", "/v1/datasets/1/2/3"):
            with self.subTest(path=path):
                self.assertError(self.c.get(path), 404, "not_found", None)
        self.assertError(self.c.post("/v1/nope", {}), 404, "not_found", None)

    def test_options_unknown_route_404(self):
        self.assertError(self.c.request("OPTIONS", "/v1/nope"), 404, "not_found", None)

    def test_static_miss_404_json(self):
        # every GET outside /v1 is the dashboard's: a missing file is still a JSON 404
        for path in ("/no-such-page.html", "/../etc/passwd", "/vendor/nothing.js"):
            with self.subTest(path=path):
                self.assertError(self.c.get(path), 404, "not_found", ANY)

    def test_oversized_request_json_error(self):
        # libmicrohttpd refuses a request line or headers past its memory limit
        # itself; the contract still says every error has the JSON error body.
        r = self.c.get("/v1/models?q=" + "a" * 100000)
        self.assertIn(r.status, (400, 413, 414, 431))
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"),
                        "a %d with Content-Type %r and body %r" % (r.status, r.header("Content-Type"), r.body[:80]))
        self.assertEqual(set(r.json), {"error"})
        r = self.c.get("/healthz", headers={"X-Big": "b" * 70000})
        self.assertIn(r.status, (400, 413, 431))
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"),
                        "a %d with Content-Type %r and body %r" % (r.status, r.header("Content-Type"), r.body[:80]))
        self.assertStatus(self.c.get("/healthz"), 200)

    def test_unknown_id_404(self):
        for path in ("/v1/models/999999", "/v1/datasets/999999", "/v1/jobs/999999", "/v1/predictions/999999",
                     "/v1/models/abc", "/v1/models/0", "/v1/models/-1", "/v1/jobs/999999/history"):
            with self.subTest(path=path):
                self.assertError(self.c.get(path), 404, "not_found", ANY)

    def test_wrong_method_405(self):
        cases = [("DELETE", "/v1/jobs", {"GET", "POST"}),
                 ("PUT", "/v1/datasets", {"GET", "POST"}),
                 ("POST", "/v1/datasets/1", {"GET", "DELETE"}),
                 ("GET", "/v1/jobs/1/cancel", {"POST"}),
                 ("POST", "/healthz", {"GET"}),
                 ("DELETE", "/v1/models/1/weights", {"GET", "PUT"})]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.c.request(method, path)
                self.assertError(r, 405, "method_not_allowed", ANY)
                allow = r.header("Allow")
                self.assertIsNotNone(allow, "405 needs an Allow header")
                methods = {m.strip() for m in allow.split(",")}
                self.assertTrue(allowed <= methods, "Allow %r lacks %r" % (allow, allowed))
                self.assertNotIn(method, methods)

    def test_options(self):
        r = self.c.request("OPTIONS", "/v1/models")
        self.assertIn(r.status, (200, 204))
        methods = {m.strip() for m in r.header("Allow", "").split(",")}
        self.assertTrue({"GET", "POST"} <= methods, r.header("Allow"))
        r = self.c.request("OPTIONS", "/v1/jobs/3/cancel")
        self.assertIn(r.status, (200, 204))
        self.assertIn("POST", r.header("Allow", ""))
        # no CORS configured: no CORS headers
        r = self.c.get("/healthz", headers={"Origin": "https://evil.example"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))


class TestAuthCors(FitdCase):
    KEY = "s3cret-key"
    ORIGIN = "https://dash.example"

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--api-key", cls.KEY, "--cors-origin", cls.ORIGIN], name="auth")
        cls.c = cls.srv.client

    def test_no_key_401(self):
        for method, path in (("GET", "/v1/info"), ("GET", "/v1/models"), ("GET", "/metrics"),
                             ("POST", "/v1/models"), ("GET", "/v1/jobs/1/events")):
            with self.subTest(path=path):
                r = self.c.request(method, path, json_body={} if method == "POST" else None)
                self.assertError(r, 401, "unauthorized", ANY)
                self.assertEqual(r.header("WWW-Authenticate", "").split(" ")[0], "Bearer")
        # a browser can read the refusal
        r = self.c.get("/v1/info", headers={"Origin": self.ORIGIN})
        self.assertError(r, 401, "unauthorized", ANY)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.ORIGIN)

    def test_wrong_key_401(self):
        for value in ("Bearer wrong", "Bearer " + self.KEY + "x", "Bearer " + self.KEY[:-1], "Basic " + self.KEY,
                      self.KEY, "bearer" + self.KEY, "Bearer "):
            with self.subTest(authorization=value):
                r = self.c.get("/v1/datasets", headers={"Authorization": value})
                self.assertError(r, 401, "unauthorized", ANY)

    def test_right_key(self):
        r = self.c.get("/v1/info", headers={"Authorization": "Bearer " + self.KEY})
        self.assertStatus(r, 200)
        self.assertTrue(r.json.get("auth"), "info says auth is on")
        r = self.c.get("/v1/models", headers={"Authorization": "Bearer " + self.KEY})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["items"], [])

    def test_healthz_open(self):
        self.assertStatus(self.c.get("/healthz"), 200)

    def test_cors_headers(self):
        r = self.c.get("/healthz", headers={"Origin": self.ORIGIN})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.ORIGIN)
        r = self.c.get("/v1/info", headers={"Origin": self.ORIGIN, "Authorization": "Bearer " + self.KEY})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.ORIGIN)

    def test_cors_preflight(self):
        # A browser's preflight carries no credentials: it must not need the key.
        r = self.c.request("OPTIONS", "/v1/models", headers={
            "Origin": self.ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.ORIGIN)
        methods = {m.strip() for m in r.header("Access-Control-Allow-Methods", "").split(",")}
        self.assertIn("POST", methods)
        allowed = {h.strip().lower() for h in r.header("Access-Control-Allow-Headers", "").split(",")}
        for h in ("authorization", "content-type", "idempotency-key"):
            self.assertIn(h, allowed)
