"""Failure paths, each judged where its claim lives: half-written uploads
read from the database file itself (opened read-only beside the server,
since the API hides 'uploading' rows), the 409s of a busy model with its
weights read back unchanged, and /readyz answering 503 with the JSON error
body while the server drains and while the database cannot be written."""
import http.client
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
import time

from harness import sqlite_only, ANY, FitdCase, Response, T, blobs, db_query, mlp_body, tmpdir

N_FEATURES = 64
# A row of 64 features and a label is 260 bytes stored: the server commits a
# block every 16131 rows (4 MiB). These bodies go past the first block.
ROWS_PAST_FIRST_BLOCK = 20000


def csv_rows(start, n, features=N_FEATURES):
    """Rows of small integers (short cells), label last."""
    out = []
    for i in range(start, start + n):
        cells = [str((i * 7 + j) % 10) for j in range(features)]
        cells.append(str(i % 4))
        out.append(",".join(cells))
    return ("\n".join(out) + "\n").encode()


UPLOADING = "SELECT count(*) FROM datasets WHERE state = 'uploading'"
UPLOADING_CHUNKS = ("SELECT count(*) FROM dataset_chunks WHERE dataset_id IN "
                    "(SELECT id FROM datasets WHERE state = 'uploading')")
ORPHAN_CHUNKS = "SELECT count(*) FROM dataset_chunks WHERE dataset_id NOT IN (SELECT id FROM datasets)"
ALL_DATASETS = "SELECT count(*) FROM datasets"
ALL_CHUNKS = "SELECT count(*) FROM dataset_chunks"


def csv_head(port, length, name):
    return ("POST /v1/datasets?name=%s&header=false HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % (name, port, length)).encode()


class TestHalfWrittenUploads(FitdCase):
    def test_sigkill_mid_csv_upload_then_restart_leaves_nothing(self):
        srv = self.server(name="kill-upload")
        body = csv_rows(0, ROWS_PAST_FIRST_BLOCK)
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(30))
        self.addCleanup(sock.close)
        # announce twice the bytes, send all but the end: the upload is in flight
        sock.sendall(csv_head(srv.port, 2 * len(body), "killed"))
        sock.sendall(body)
        # precondition: a block of rows is committed under an 'uploading' row
        self.wait_for(lambda: db_query(srv.db, UPLOADING_CHUNKS)[0][0] >= 1, T(30),
                      "a committed block under an 'uploading' dataset")
        srv.kill()
        self.assertEqual(db_query(srv.db, UPLOADING)[0][0], 1, "the dead process left its upload behind")
        srv.start()
        self.assertEqual(db_query(srv.db, UPLOADING)[0][0], 0, "uploading rows after restart")
        self.assertEqual(db_query(srv.db, ORPHAN_CHUNKS)[0][0], 0, "chunks without a dataset after restart")
        self.assertEqual(db_query(srv.db, ALL_CHUNKS)[0][0], 0, "chunks after restart")
        self.assertEqual(srv.client.get("/v1/datasets").json["total"], 0)
        # and the server still takes uploads
        r = srv.client.post("/v1/datasets?name=after&header=false", body=csv_rows(0, 10),
                            headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        srv.stop()

    def test_bad_cell_after_the_first_committed_block(self):
        srv = self.server(name="bad-late-cell")
        good = csv_rows(0, ROWS_PAST_FIRST_BLOCK)
        bad_line = ROWS_PAST_FIRST_BLOCK + 1
        body = good + b"1," * N_FEATURES + b"x\n" + csv_rows(0, 100)
        seen = {"max": 0}
        stop = threading.Event()

        def watch():
            # the block really was committed before the bad cell came
            while not stop.is_set():
                try:
                    seen["max"] = max(seen["max"], db_query(srv.db, UPLOADING_CHUNKS)[0][0])
                except sqlite3.Error:
                    pass
                time.sleep(0.005)
        chunks = [good[:len(good) // 2], good[len(good) // 2:]]
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(30))
        try:
            sock.sendall(csv_head(srv.port, len(body), "late-bad"))
            for c in chunks:
                sock.sendall(c)
            self.wait_for(lambda: seen["max"] >= 1, T(30), "the first block committed before the bad cell")
            sock.sendall(body[len(good):])
            data = b""
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
                if b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1].rstrip().endswith(b"}"):
                    break
        finally:
            sock.close()
            stop.set()
            watcher.join(T(5))
        head, _, payload = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), data[:300])
        self.assertIn(b'"invalid_csv"', payload)
        self.assertIn(b"line %d" % bad_line, payload, "the message names the line")
        self.assertEqual(db_query(srv.db, ALL_DATASETS)[0][0], 0, "dataset rows left by the refused upload")
        self.assertEqual(db_query(srv.db, ALL_CHUNKS)[0][0], 0, "chunks left by the refused upload")
        srv.stop()


class TestBusyModel(FitdCase):
    def weights(self, c, model_id):
        r = c.get("/v1/models/%d/weights" % model_id)
        self.assertStatus(r, 200)
        return r.json

    def test_delete_and_put_weights_refused_while_a_job_holds_the_model(self):
        srv = self.server(workers=1, name="busy")
        c = srv.client
        x, y = blobs(n=4000, features=64, classes=4, seed=2)
        data = self.create_dataset(c, x, y, name="big")
        running = self.create_model(c, mlp_body(input_dim=64, hidden=(256, 256), name="running"))
        queued = self.create_model(c, mlp_body(input_dim=64, hidden=(8,), name="queued"))
        a = self.submit_job(c, {"model_id": running["id"], "dataset_id": data["id"], "epochs": 100000})
        self.wait_job(c, a["id"], statuses=("running",))
        # one worker, busy: this job waits in the queue, so its model's weights cannot move
        b = self.submit_job(c, {"model_id": queued["id"], "dataset_id": data["id"], "epochs": 1})
        self.assertEqual(c.get("/v1/jobs/%d" % b["id"]).json["status"], "queued")
        before = self.weights(c, queued["id"])
        new = {"layers": [{"kernel": [[0.5] * len(row) for row in l["kernel"]], "bias": [0.25] * len(l["bias"])}
                          for l in before["layers"]]}
        for model, job in ((queued, b), (running, a)):
            with self.subTest(job_status=c.get("/v1/jobs/%d" % job["id"]).json["status"]):
                path = "/v1/models/%d" % model["id"]
                w = self.weights(c, model["id"])
                put = {"layers": [{"kernel": [[0.5] * len(row) for row in l["kernel"]],
                                   "bias": [0.25] * len(l["bias"])} for l in w["layers"]]}
                e = self.assertError(c.put(path + "/weights", put), 409, "conflict", ANY)
                self.assertIn("job %d" % job["id"], e["message"], "names the job")
                self.assertError(c.delete(path), 409, "conflict", ANY)
                self.assertStatus(c.get(path), 200, "the model is still there")
        self.assertEqual(self.weights(c, queued["id"]), before, "a refused PUT changed the weights")
        self.assertNotEqual(self.weights(c, running["id"]), new)
        # once the jobs are over, both are taken: the 409s came from the jobs
        for job in (b, a):
            self.assertStatus(c.post("/v1/jobs/%d/cancel" % job["id"]), 200)
            self.wait_job(c, job["id"], statuses=("cancelled",))
        self.assertStatus(c.put("/v1/models/%d/weights" % queued["id"], new), 200)
        self.assertEqual(self.weights(c, queued["id"]), new)
        for model in (queued, running):
            self.assertStatus(c.delete("/v1/models/%d?cascade=true" % model["id"]), 204)
            self.assertError(c.get("/v1/models/%d" % model["id"]), 404, "not_found", ANY)
        srv.stop()


class TestReadyz(FitdCase):
    def test_503_while_draining(self):
        """SIGTERM while an upload is in flight: the server drains it, and
        meanwhile a connection opened before answers /readyz 503."""
        srv = self.server(name="drain")
        keep = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=T(30))
        self.addCleanup(keep.close)
        keep.request("GET", "/readyz")
        r = keep.getresponse()
        self.assertEqual((r.status, r.read()), (200, b'{"status":"ready"}'))
        self.assertFalse(r.will_close, "precondition: the connection is kept alive")
        # an upload in flight holds the drain
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=T(30))
        self.addCleanup(sock.close)
        part = csv_rows(0, 100)
        sock.sendall(csv_head(srv.port, 10 * len(part), "in-flight") + part)
        self.wait_for(lambda: db_query(srv.db, UPLOADING)[0][0] == 1, T(10), "the upload to begin")
        srv.proc.send_signal(signal.SIGTERM)
        self.wait_for(lambda: "shutting down" in srv.log_text(), T(10), "the SIGTERM to be logged")
        keep.request("GET", "/readyz")
        r = keep.getresponse()
        resp = Response(r.status, r.reason, r.headers, r.read())
        self.assertTrue(srv.running(), "precondition: the server is still draining")
        self.assertError(resp, 503, "shutting_down", ANY)
        self.assertTrue(resp.header("Retry-After"), "a 503 says when to retry")
        # the upload finishes and is answered 201, then the server exits 0
        sock.sendall(part * 9)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 201"), answer[:300])
        self.assertIn(b'"n_samples":1000', answer)
        self.assertEqual(srv.wait_exit(T(30)), 0)

    @sqlite_only("makes the database files immutable")
    def test_503_while_the_database_cannot_be_written(self):
        srv = self.server(name="unwritable", workers=1)
        c = srv.client
        self.assertStatus(c.get("/readyz"), 200)
        x, y = blobs(n=2000, features=16, classes=4, seed=3)
        sizes = [os.path.getsize(f) for f in (srv.db, srv.db + "-wal") if os.path.exists(f)]
        hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (max(sizes) + (64 << 10), hard))
        refused = None
        for i in range(40):
            r = c.post("/v1/datasets", {"name": "fill-%d" % i, "x": x, "y": y})
            if r.status != 201:
                refused = r
                break
        self.assertIsNotNone(refused, "precondition: a write was refused under the file-size limit")
        self.assertError(refused, 503, "unavailable", ANY)
        self.assertTrue(srv.running())
        self.assertStatus(c.get("/healthz"), 200, "alive")
        e = self.assertError(c.get("/readyz"), 503, "unavailable", None)
        self.assertIn("cannot be written", e["message"])
        # the limit lifted, the next write succeeds and the server is ready again
        resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
        self.assertStatus(c.post("/v1/datasets", {"name": "after", "x": x[:10], "y": y[:10]}), 201)
        self.assertStatus(c.get("/readyz"), 200)
        srv.stop()

    @sqlite_only("makes the database files immutable")
    def test_threads_that_first_read_a_read_only_file_write_once_it_is_writable(self):
        """SQLite opens a file it cannot write read-only, silently. The HTTP
        threads of a fresh server first touch the database while its files
        are immutable (chattr +i: root cannot write them either); once the
        flag is gone, every thread must write again, without a restart."""
        srv = self.server(name="ro-first-use", workers=1)
        c = srv.client
        model = self.create_model(c, mlp_body(input_dim=4, hidden=(4,)))
        files = [f for f in (srv.db, srv.db + "-wal") if os.path.exists(f)]

        def burst(fn, n=32):
            out = []
            threads = [threading.Thread(target=lambda: out.append(fn())) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(T(60))
            return sorted(out)
        for f in files:
            r = subprocess.run(["chattr", "+i", f], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, "precondition: chattr +i (root, on ext4): %s" % r.stderr)
        try:
            self.assertEqual(set(burst(lambda: c.get("/v1/models/%d" % model["id"]).status)), {200})
            self.assertError(c.post("/v1/models", mlp_body(input_dim=4, hidden=(4,))), 503, "unavailable", ANY)
        finally:
            for f in files:
                subprocess.run(["chattr", "-i", f], check=True)
        statuses = burst(lambda: c.post("/v1/models", mlp_body(input_dim=4, hidden=(4,))).status)
        self.assertEqual(statuses, [201] * 32)
        srv.stop()


@sqlite_only("counts the fsyncs of the database file")
class TestDurability(FitdCase):
    def test_an_acknowledged_write_was_flushed(self):
        """A 201 comes after the commit reached the disk: fsync or fdatasync
        was called between the request and its answer (counted by an
        LD_PRELOAD shim, tests/integration/fsync_count.c, built here)."""
        d = tmpdir("fsync")
        shim = os.path.join(d, "fsync_count.so")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsync_count.c")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src, "-ldl", "-pthread"], check=True)
        count_file = os.path.join(d, "count")
        srv = self.server(name="fsync", env={"LD_PRELOAD": shim, "FSYNC_COUNT_FILE": count_file})
        c = srv.client

        def count():
            try:
                with open(count_file) as f:
                    return int(f.read() or 0)
            except FileNotFoundError:
                return 0
        x, y = blobs(n=50, features=4, classes=2, seed=1)
        for what, path, body in (("dataset", "/v1/datasets", {"name": "d", "x": x, "y": y}),
                                 ("model", "/v1/models", mlp_body(input_dim=4, hidden=(3,), outputs=2))):
            with self.subTest(write=what):
                before = count()
                self.assertStatus(c.post(path, body), 201)
                self.assertGreater(count(), before, "the %s's commit was not flushed before its 201" % what)
        srv.stop()
