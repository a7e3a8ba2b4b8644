"""Datasets: JSON and CSV uploads, y_kind detection, list/get/delete, paging,
bad input as a table, content types and body limits."""
import json
import socket

from harness import ANY, FitdCase, T, f32, raw_exchange


class TestDatasets(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="datasets")
        cls.c = cls.srv.client

    def check_info(self, d, name, n, features, y_shape, y_kind, n_classes):
        self.assertIsInstance(d.get("id"), int)
        self.assertGreater(d["id"], 0)
        self.assertEqual(d["name"], name)
        self.assertEqual(d["n_samples"], n)
        self.assertEqual(d["n_features"], features)
        self.assertEqual(d["y_shape"], y_shape)
        self.assertEqual(d["y_kind"], y_kind)
        if n_classes is None:
            self.assertIsNone(d.get("n_classes"), "real targets have no n_classes")
        else:
            self.assertEqual(d["n_classes"], n_classes)
        self.assertTime(d.get("created_at"))

    # ---- JSON ------------------------------------------------------------------------------

    def test_json_class_labels(self):
        x = [[0.0, 1.5, 2.0], [1.0, 0.5, -2.0], [3.0, 1.0, 0.25], [0.5, 0.5, 0.5], [1, 2, 3], [4, 5, 6]]
        r = self.c.post("/v1/datasets", {"name": "classes", "x": x, "y": [0, 1, 2, 1, 0, 2]})
        self.assertStatus(r, 201)
        self.check_info(r.json, "classes", 6, 3, [6], "class", 3)
        # n_classes counts from 0 to the largest label
        r = self.c.post("/v1/datasets", {"name": "sparse", "x": [[1], [2]], "y": [0, 6]})
        self.assertStatus(r, 201)
        self.check_info(r.json, "sparse", 2, 1, [2], "class", 7)

    def test_json_one_hot(self):
        y = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
        r = self.c.post("/v1/datasets", {"name": "onehot", "x": [[1, 2], [3, 4], [5, 6], [7, 8]], "y": y})
        self.assertStatus(r, 201)
        self.check_info(r.json, "onehot", 4, 2, [4, 3], "one_hot", 3)

    def test_json_real(self):
        r = self.c.post("/v1/datasets", {"name": "real", "x": [[1, 2], [3, 4], [5, 6]], "y": [0.5, -1.25, 3.0]})
        self.assertStatus(r, 201)
        self.check_info(r.json, "real", 3, 2, [3], "real", None)
        # negative integers are not class labels
        r = self.c.post("/v1/datasets", {"name": "neg", "x": [[1], [2]], "y": [-1, 1]})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["y_kind"], "real")
        # rows of several real targets
        r = self.c.post("/v1/datasets", {"name": "multi", "x": [[1], [2]], "y": [[0.5, 2.0], [1.5, -3.0]]})
        self.assertStatus(r, 201)
        self.check_info(r.json, "multi", 2, 1, [2, 2], "real", None)

    def test_default_name(self):
        r = self.c.post("/v1/datasets", {"x": [[1]], "y": [0]})
        self.assertStatus(r, 201)
        self.assertIsInstance(r.json["name"], str)
        self.assertTrue(r.json["name"])

    def test_content_type_with_charset(self):
        r = self.c.post("/v1/datasets", body=json.dumps({"name": "cs", "x": [[1]], "y": [0]}),
                        headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertStatus(r, 201)

    # ---- CSV -------------------------------------------------------------------------------

    def post_csv(self, text, query):
        return self.c.post("/v1/datasets" + query, body=text, headers={"Content-Type": "text/csv"})

    def test_csv_header_label_by_name(self):
        text = "a,target,b\n1,0,2\n3,1,4\n5,2,6\n7,1,8\n"
        r = self.post_csv(text, "?name=csv-named&label=target&header=true")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-named", 4, 2, [4], "class", 3)

    def test_csv_label_by_index(self):
        text = "target,a,b\n2,1,2\n0,3,4\n1,5,6\n"
        r = self.post_csv(text, "?name=csv-index&label=0&header=true")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-index", 3, 2, [3], "class", 3)
        text = "1,2,0,9\n3,4,1,9\n"
        r = self.post_csv(text, "?name=csv-index2&label=2&header=false")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-index2", 2, 3, [2], "class", 2)

    def test_csv_default_label_last_column(self):
        r = self.post_csv("1,2,0.5\n3,4,1.5\n5,6,2.5\n", "?name=csv-last&header=false")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-last", 3, 2, [3], "real", None)

    def test_csv_header_false(self):
        # every line is data, the first included
        r = self.post_csv("1,2,1\n3,4,0\n", "?name=csv-nohdr&header=false")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-nohdr", 2, 2, [2], "class", 2)

    def test_csv_header_auto(self):
        r = self.post_csv("x1,x2,y\n1,2,1\n3,4,0\n5,6,1\n", "?name=csv-auto")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-auto", 3, 2, [3], "class", 2)
        r = self.post_csv("1,2,1\n3,4,0\n5,6,1\n", "?name=csv-auto2")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-auto2", 3, 2, [3], "class", 2)

    def test_csv_crlf_quotes_no_final_newline(self):
        r = self.post_csv('"a","b","y"\r\n"1.5",2,1\r\n3,"4e-1",0', "?name=csv-crlf")
        self.assertStatus(r, 201)
        self.check_info(r.json, "csv-crlf", 2, 2, [2], "class", 2)

    def test_csv_values_exact(self):
        """The stored rows are the CSV's numbers, features in column order
        without the label: a linear model with known weights evaluates to
        the mean squared error computed here, on a CSV sent in 7-byte
        chunks (a number split across chunks), with a BOM, quotes, CRLF and
        exponents."""
        rows = [(0.5, 3.0, -1.25), (1e-3, -2.0, 4.5), (2.5e2, 0.0, 1.0), (-7.0, 1.5, 0.0625)] * 10
        text = "\ufeffa,\"target\",b\r\n" + "".join('%r,"%r",%r\r\n' % r for r in rows)
        body = text.encode("utf-8")
        head = (b"POST /v1/datasets?name=exact&label=target HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7)]
        status, _, data, _ = raw_exchange(self.srv.port, head, chunks + [b"0\r\n\r\n"])
        self.assertEqual(status, 201, data)
        d = json.loads(data)
        self.check_info(d, "exact", len(rows), 2, [len(rows)], "real", None)
        m = self.c.post("/v1/models", {"input_dim": 2, "layers": [{"type": "dense", "units": 1}], "loss": "mse",
                                       "optimizer": "sgd"}).json
        self.assertStatus(self.c.put("/v1/models/%d/weights" % m["id"],
                                     {"layers": [{"kernel": [[1.0], [10.0]], "bias": [0.5]}]}), 200)
        want = sum((f32(a) + 10 * f32(b) + 0.5 - f32(t)) ** 2 for a, t, b in rows) / len(rows)
        r = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": d["id"]})
        self.assertStatus(r, 200)
        self.assertAlmostEqual(r.json["loss"], want, delta=1e-5 * want)
        # the same numbers as JSON make the same dataset
        j = self.create_dataset(self.c, [[a, b] for a, t, b in rows], [t for a, t, b in rows], name="exact-json")
        r2 = self.c.post("/v1/models/%d/evaluate" % m["id"], {"dataset_id": j["id"]})
        self.assertEqual(r2.json["loss"], r.json["loss"])

    def test_csv_many_blocks_in_order(self):
        """A CSV of 2.5 blocks (a block is ~4 MiB of float32: 262,144 rows of
        3 features and a label), committed by the upload's writer thread while
        the next block is parsed: every row comes back where it was, the rows
        either side of each block boundary included, and the columns'
        statistics count every row once. Sent again with an Idempotency-Key
        (the body is then hashed), it answers the same dataset."""
        per_block = (4 << 20) // 16
        n = per_block * 5 // 2 + 7

        def row(i):
            return (i % 1000, i // 1000, i % 7, i % 13)
        body = ("a,b,c,y\n" + "".join("%d,%d,%d,%d\n" % row(i) for i in range(n))).encode()
        r = self.c.post("/v1/datasets?name=blocks&label=y&task=regression", body=body,
                        headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        d = r.json
        self.assertEqual(d["n_samples"], n)
        for off in (0, per_block - 2, 2 * per_block - 2, n - 3):
            got = self.c.get("/v1/datasets/%d/rows?offset=%d&limit=4" % (d["id"], off)).json["rows"]
            want = [dict(zip("abcy", map(float, row(i)))) for i in range(off, min(off + 4, n))]
            self.assertEqual(got, want, "rows from %d" % off)
        cols = {c["name"]: c for c in self.c.get("/v1/datasets/%d" % d["id"]).json["columns"]}
        self.assertEqual(cols["b"]["count"], n)
        self.assertEqual(cols["b"]["max"], (n - 1) // 1000)
        self.assertAlmostEqual(cols["c"]["mean"], sum(i % 7 for i in range(n)) / n, places=6)
        key = {"Content-Type": "text/csv", "Idempotency-Key": "blocks-%d" % d["id"]}
        first = self.c.post("/v1/datasets?name=blocks2&label=y&task=regression", body=body, headers=key)
        self.assertStatus(first, 201)
        again = self.c.post("/v1/datasets?name=blocks2&label=y&task=regression", body=body, headers=key)
        self.assertStatus(again, 201)
        self.assertEqual(again.json["id"], first.json["id"])
        self.assertEqual(first.json["n_samples"], n)
        self.assertStatus(self.c.delete("/v1/datasets/%d" % d["id"]), 204)
        self.assertStatus(self.c.delete("/v1/datasets/%d" % first.json["id"]), 204)

    def test_names_utf8_and_url_encoded(self):
        r = self.c.post("/v1/datasets", {"name": "données ✓", "x": [[1]], "y": [0]})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"], "données ✓")
        r = self.post_csv("1,2,0\n3,4,1\n", "?name=%C3%A9t%C3%A9%20data&header=false")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"], "été data")
        self.assertEqual(self.c.get("/v1/datasets/%d" % r.json["id"]).json["name"], "été data")

    def test_csv_bad_cell(self):
        r = self.post_csv("a,b,y\n1,2,0\n3,x,1\n5,6,0\n", "?name=bad&header=true")
        e = self.assertError(r, 400, "invalid_csv", ANY)
        self.assertRegex(e["message"], r"\bline 3\b", "names the line")
        self.assertRegex(e["message"], r"\bcolumn 2\b", "names the column")
        r = self.post_csv("1,2,0\n3,4,1\n5,6,0,7\n", "?name=bad2&header=false")
        e = self.assertError(r, 400, "invalid_csv", ANY)
        self.assertRegex(e["message"], r"\bline 3\b")
        # nothing half-written is visible
        names = [d["name"] for d in self.c.get("/v1/datasets?limit=500").json["items"]]
        self.assertNotIn("bad", names)
        self.assertNotIn("bad2", names)

    def test_csv_bad_options(self):
        self.assertError(self.post_csv("a,b\n1,2\n", "?label=nope&header=true"), 422, "validation_failed", "label")
        self.assertError(self.post_csv("a,b\n1,2\n", "?header=maybe"), 422, "validation_failed", "header")
        self.assertError(self.post_csv("1,2\n3,4\n", "?label=7&header=false"), 422, "validation_failed", "label")

    def test_csv_empty(self):
        self.assertError(self.post_csv("a,b,y\n", "?name=empty&header=true"), 400, "invalid_csv", ANY)

    # ---- list, get, delete ------------------------------------------------------------------------

    def test_list_get_delete(self):
        ids = [self.create_dataset(self.c, [[i]], [i % 2], name="page-%d" % i)["id"] for i in range(3)]
        r = self.c.get("/v1/datasets")
        self.assertStatus(r, 200)
        listing = r.json
        self.assertEqual(set(listing), {"items", "total"})
        total = listing["total"]
        self.assertGreaterEqual(total, 3)
        listed = {d["id"] for d in listing["items"]}
        self.assertTrue(set(ids) <= listed or len(listing["items"]) == 50)

        # paging: offsets walk the whole list once
        seen = []
        for offset in range(0, total, 2):
            r = self.c.get("/v1/datasets?limit=2&offset=%d" % offset)
            self.assertStatus(r, 200)
            self.assertEqual(r.json["total"], total)
            self.assertLessEqual(len(r.json["items"]), 2)
            seen += [d["id"] for d in r.json["items"]]
        self.assertEqual(len(seen), total)
        self.assertEqual(len(set(seen)), total, "paging repeats or skips datasets")
        r = self.c.get("/v1/datasets?limit=500&offset=%d" % total)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["items"], [])

        r = self.c.get("/v1/datasets/%d" % ids[1])
        self.assertStatus(r, 200)
        self.check_info(r.json, "page-1", 1, 1, [1], "class", 2)

        r = self.c.delete("/v1/datasets/%d" % ids[1])
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertError(self.c.get("/v1/datasets/%d" % ids[1]), 404, "not_found", ANY)
        self.assertError(self.c.delete("/v1/datasets/%d" % ids[1]), 404, "not_found", ANY)
        self.assertEqual(self.c.get("/v1/datasets").json["total"], total - 1)

    def test_paging_limits(self):
        self.assertStatus(self.c.get("/v1/datasets?limit=500"), 200)
        for q, field in (("limit=501", "limit"), ("limit=0", "limit"), ("limit=abc", "limit"),
                         ("limit=-1", "limit"), ("offset=-1", "offset"), ("offset=x", "offset")):
            with self.subTest(q=q):
                self.assertError(self.c.get("/v1/datasets?" + q), 422, "validation_failed", field)

    # ---- refusals --------------------------------------------------------------------------------------

    def test_chunked_json_body(self):
        body = json.dumps({"name": "chunked", "x": [[1, 2]] * 50, "y": [0, 1] * 25}).encode()
        head = (b"POST /v1/datasets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100)]
        status, _, data, _ = raw_exchange(self.srv.port, head, chunks + [b"0\r\n\r\n"])
        self.assertEqual(status, 201, data)
        self.assertEqual(json.loads(data)["n_samples"], 50)

    def test_wrong_content_type_415(self):
        for ctype in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
            with self.subTest(ctype=ctype):
                r = self.c.post("/v1/datasets", body='{"x": [[1]], "y": [0]}', headers={"Content-Type": ctype})
                self.assertError(r, 415, "unsupported_media_type", ANY)
        r = self.c.post("/v1/models", body="{}", headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type", ANY)

    BAD = [
        # (body text, status, code, field)
        ('{"x": [[1, 2], [3, 4]], "y": [0, 1]', 400, "invalid_json", None),
        ('{"x": [[1, 2]],\n "y": [0,,]\n}', 400, "invalid_json", None),
        ("", 400, "invalid_json", None),
        ("{'x': [[1]], 'y': [0]}", 400, "invalid_json", None),
        ('{"x": [[1]], "y": [0]} trailing', 400, "invalid_json", None),
        ('{"x": [[NaN]], "y": [0]}', 400, "invalid_json", None),
        ('[1, 2]', 422, "validation_failed", ANY),
        ('{"x": "abc", "y": [1]}', 422, "validation_failed", "x"),
        ('{"x": [[1, 2]], "y": "a"}', 422, "validation_failed", "y"),
        ('{"x": [1, 2], "y": [0, 1]}', 422, "validation_failed", "x[0]"),
        ('{"y": [1]}', 422, "validation_failed", "x"),
        ('{"x": [[1, 2]]}', 422, "validation_failed", "y"),
        ('{"x": [], "y": []}', 422, "validation_failed", "x"),
        ('{"x": [[1, 2], [3, 4], [5]], "y": [0, 1, 0]}', 422, "validation_failed", "x[2]"),
        ('{"x": [[1, 2], [3, 4], [5, 6, 7]], "y": [0, 1, 0]}', 422, "validation_failed", "x[2]"),
        ('{"x": [[1, 2], [3, "a"]], "y": [0, 1]}', 422, "validation_failed", "x[1][1]"),
        ('{"x": [[1, 2], [3, null]], "y": [0, 1]}', 422, "validation_failed", "x[1][1]"),
        ('{"x": [[1, 2], [3, 4]], "y": [0]}', 422, "validation_failed", "y"),
        ('{"x": [[1, 2], [3, 4]], "y": [0, 1, 1]}', 422, "validation_failed", "y"),
        ('{"x": [[1, 2]], "y": [1e999]}', 422, "validation_failed", "y[0]"),
        ('{"x": [[1, -1e999]], "y": [1]}', 422, "validation_failed", "x[0][1]"),
        ('{"x": [[1, 1e39]], "y": [1]}', 422, "validation_failed", "x[0][1]"),
        ('{"x": [[1, 2], [3, 4]], "y": [[1, 0], [1]]}', 422, "validation_failed", "y[1]"),
        ('{"x": [[1, 2]], "y": [true]}', 422, "validation_failed", "y[0]"),
        ('{"x": [[1, 2]], "y": [1], "colour": "red"}', 422, "validation_failed", "colour"),
        ('{"X": [[1, 2]], "x": [[1, 2]], "y": [1]}', 422, "validation_failed", "X"),
        ('{"x": [[1, 2]], "y": [1], "name": 5}', 422, "validation_failed", "name"),
        ('{"x": [[1, 2]], "y": [1], "name": ""}', 422, "validation_failed", "name"),
        ('{"x": [[1, 2]], "y": [1], "y": [2]}', 422, "validation_failed", "y"),
    ]

    def test_bad_bodies(self):
        before = self.c.get("/v1/datasets").json["total"]
        for body, status, code, field in self.BAD:
            with self.subTest(body=body):
                r = self.c.post("/v1/datasets", body=body, headers={"Content-Type": "application/json"})
                e = self.assertError(r, status, code, field)
                if code == "invalid_json" and body:
                    self.assertRegex(e["message"], r"line \d+", "the message says where")
                    self.assertRegex(e["message"], r"column \d+", "the message says where")
        self.assertEqual(self.c.get("/v1/datasets").json["total"], before, "a refused body created something")

    def test_invalid_json_position(self):
        r = self.c.post("/v1/datasets", body='{"x": [[1, 2]],\n "y": [0,,]\n}',
                        headers={"Content-Type": "application/json"})
        e = self.assertError(r, 400, "invalid_json", None)
        self.assertRegex(e["message"], r"\bline 2\b")


class TestBodyLimit(FitdCase):
    """--max-body-mb 1: a 2.4 MB JSON body is refused with 413 while it
    streams in, whether its length is declared or it comes chunked."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--max-body-mb", "1", "--max-upload-mb", "1"], name="bodylimit")
        cls.c = cls.srv.client
        rows = 120000
        cls.big = (b'{"name":"big","x":[' + b",".join([b"[0.0,1.0,2.0,3.0]"] * rows) + b'],"y":[' +
                   b",".join([b"0"] * rows) + b"]}")
        cls.chunks = [cls.big[i:i + 65536] for i in range(0, len(cls.big), 65536)]

    def check_413(self, path, chunked):
        if chunked:
            head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" % path).encode()
            chunks = [b"%x\r\n%s\r\n" % (len(c), c) for c in self.chunks] + [b"0\r\n\r\n"]
        else:
            head = ("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (path, len(self.big))).encode()
            chunks = self.chunks
        status, headers, body, _ = raw_exchange(self.srv.port, head, chunks)
        self.assertEqual(status, 413, "expected 413, got %r %r" % (status, body[:300]))
        self.assertTrue(headers.get("content-type", "").startswith("application/json"))
        e = json.loads(body)
        self.assertEqual(set(e), {"error"})
        self.assertEqual(e["error"]["code"], "payload_too_large")
        self.assertTrue(self.srv.running(), "fitd died on a refused body")
        self.assertStatus(self.c.get("/healthz"), 200)

    def test_413_content_length(self):
        self.assertGreater(len(self.big), 2 << 20)
        self.check_413("/v1/datasets", chunked=False)
        self.check_413("/v1/models", chunked=False)

    def test_413_chunked(self):
        self.check_413("/v1/datasets", chunked=True)
        self.check_413("/v1/models", chunked=True)
        # and again: nothing was left behind that breaks the next requests
        self.check_413("/v1/datasets", chunked=True)

    def test_413_csv_upload(self):
        row = b"0.125,1.25,2.5,3.75,1\n"
        body = row * (3 * (1 << 20) // len(row))
        head = (b"POST /v1/datasets?name=toobig HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        status, headers, data, _ = raw_exchange(self.srv.port, head, [body[i:i + 65536]
                                                                       for i in range(0, len(body), 65536)])
        self.assertEqual(status, 413, data[:300])
        self.assertEqual(json.loads(data)["error"]["code"], "payload_too_large")
        head = (b"POST /v1/datasets?name=toobig HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]) for i in range(0, len(body), 65536)]
        status, headers, data, _ = raw_exchange(self.srv.port, head, chunks + [b"0\r\n\r\n"])
        self.assertEqual(status, 413, data[:300])
        self.assertEqual(json.loads(data)["error"]["code"], "payload_too_large")
        self.assertTrue(self.srv.running())
        names = [d["name"] for d in self.c.get("/v1/datasets").json["items"]]
        self.assertNotIn("toobig", names, "a refused upload is not visible")

    def test_413_before_the_body_with_expect_100_continue(self):
        """curl sends Expect: 100-continue before a large body: the refusal
        comes at once, without the body ever being sent."""
        head = (b"POST /v1/datasets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: 3000000\r\nExpect: 100-continue\r\n\r\n")
        status, headers, data, _ = raw_exchange(self.srv.port, head, [], timeout=T(5))
        self.assertEqual(status, 413, "no answer before the body: %r" % data[:200])
        self.assertEqual(json.loads(data)["error"]["code"], "payload_too_large")
        body = json.dumps({"name": "expect", "x": [[1, 2]] * 10, "y": [0, 1] * 5}).encode()
        head = (b"POST /v1/datasets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        sock = socket.create_connection(("127.0.0.1", self.srv.port), timeout=T(5))
        self.addCleanup(sock.close)
        sock.sendall(head)
        self.assertTrue(sock.recv(1024).startswith(b"HTTP/1.1 100"), "100 Continue")
        sock.sendall(body)
        data = b""
        while b'"created_at"' not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 201"), data[:200])

    def test_under_limit_accepted(self):
        rows = 20000
        x = [[0.5, 1.0, 2.0, 3.0]] * rows
        r = self.c.post("/v1/datasets", {"name": "under", "x": x, "y": [1] * rows})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["n_samples"], rows)
        names = [d["name"] for d in self.c.get("/v1/datasets").json["items"]]
        self.assertEqual(sorted(set(names) - {"expect"}), ["under"], "only the accepted bodies were stored")
