"""GET /v1/jobs/{id}/events: Server-Sent Events read with http.client."""
import http.client
import json
import socket
import threading
import time

from harness import ANY, FitdCase, T, blobs, mlp_body


class StreamStalled(AssertionError):
    pass


def read_events(port, job_id, last_event_id=None, timeout=None, on_event=None, on_open=None):
    """Reads the stream to its end. Returns (response, events, raw text);
    each event is a dict of its fields ("id", "event", "data"), comments and
    retry-only blocks left out. Raises StreamStalled (a test failure) when
    the stream has not ended within timeout seconds in all: heartbeats do
    not keep a stalled stream alive here. on_open(response) is called once
    the response head has arrived, before the first event is read."""
    timeout = timeout or T(30)
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    conn.request("GET", "/v1/jobs/%d/events" % job_id, headers=headers)
    r = conn.getresponse()
    if r.status != 200:
        body = r.read()
        conn.close()
        return r, [], body.decode("utf-8", "replace")
    if on_open:
        on_open(r)
    events, raw, block = [], [], {}
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise socket.timeout()
            conn.sock.settimeout(left)
            line = r.readline()
        except (socket.timeout, TimeoutError):
            conn.close()
            raise StreamStalled("the event stream of job %d did not end within %.0f s (after Last-Event-ID %s): "
                                "%d events read, the last id %s" % (job_id, timeout, last_event_id, len(events),
                                                                    events[-1].get("id") if events else None))
        if not line:
            break             # the server ended the stream
        text = line.decode("utf-8")
        raw.append(text)
        text = text.rstrip("\r\n")
        if text == "":
            if "data" in block or "event" in block:
                events.append(block)
                if on_event:
                    on_event(block)
            block = {}
            continue
        if text.startswith(":"):
            continue
        name, _, value = text.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in block:
            block["data"] += "\n" + value
        else:
            block[name] = value
    conn.close()
    return r, events, "".join(raw)


class TestEvents(FitdCase):
    EPOCHS = 12

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(args=["--commit-interval-ms", "0"], name="sse")
        cls.c = cls.srv.client
        x, y = blobs(n=2000, features=16, classes=4, seed=5)
        r = cls.c.post("/v1/datasets", {"name": "sse", "x": x, "y": y})
        assert r.status == 201, r
        cls.data = r.json

    def check_stream(self, events, epochs):
        """Every event has an id, ids increase, epoch events are 1..epochs in
        order with one line of JSON each, status events carry the job, and
        the last event is the final status."""
        ids = []
        for e in events:
            self.assertIn("id", e, "every event has an id: %r" % e)
            self.assertRegex(e["id"], r"^\d+$")
            ids.append(int(e["id"]))
            self.assertIn(e.get("event"), ("epoch", "status"), e)
            self.assertNotIn("\n", e["data"], "data is one line of JSON")
            e["json"] = json.loads(e["data"])
        self.assertEqual(ids, sorted(set(ids)), "event ids increase")
        epoch_rows = [e["json"] for e in events if e["event"] == "epoch"]
        self.assertEqual([r["epoch"] for r in epoch_rows], list(range(1, epochs + 1)))
        for r in epoch_rows:
            self.assertIsInstance(r["loss"], float)
        statuses = [e["json"]["status"] for e in events if e["event"] == "status"]
        self.assertTrue(statuses, "status events")
        self.assertEqual(events[-1]["event"], "status", "the stream ends after the final status")
        self.assertEqual(statuses[-1], "succeeded")
        self.assertIn("running", statuses)
        return epoch_rows

    def test_live_stream_and_reconnect(self):
        """A listener that connects while the job waits in the queue sees it
        run live, every epoch and the end; a reconnect replays what it missed."""
        srv = self.server(args=["--commit-interval-ms", "0"], workers=1, name="sse-live")
        c = srv.client
        x, y = blobs(n=4000, features=64, classes=4, seed=2)
        big = self.create_dataset(c, x, y, name="big")
        blocker = self.create_model(c, mlp_body(input_dim=64, hidden=(256, 256), name="blocker"))
        b = self.submit_job(c, {"model_id": blocker["id"], "dataset_id": big["id"], "epochs": 100000})
        self.wait_job(c, b["id"], statuses=("running",))
        data = self.create_dataset(c, *blobs(n=2000, features=16, classes=4, seed=5), name="sse")
        m = self.create_model(c, mlp_body(hidden=(256, 128), name="sse"))
        job = self.submit_job(c, {"model_id": m["id"], "dataset_id": data["id"], "epochs": self.EPOCHS,
                                  "batch_size": 8, "seed": 1})
        seen = []

        def on_open(_):
            # the one worker is busy: the job waits, and starts only now
            seen.append(c.get("/v1/jobs/%d" % job["id"]).json["status"])
            self.assertStatus(c.post("/v1/jobs/%d/cancel" % b["id"]), 200)
        r, events, raw = read_events(srv.port, job["id"], on_open=on_open)
        self.assertEqual(seen, ["queued"], "precondition: the stream began before the job ran")
        self.assertEqual(r.status, 200, raw)
        self.assertTrue(r.getheader("Content-Type", "").startswith("text/event-stream"), r.getheader("Content-Type"))
        rows = self.check_stream(events, self.EPOCHS)
        # the epoch rows are the history's
        history = self.history(c, job["id"])
        self.assertEqual(rows, history)
        self.assertEqual(events[-1]["json"]["id"], job["id"])
        self.assertEqual(events[-1]["json"]["status"], "succeeded")

        # reconnecting after event k replays exactly what came after it
        for k in (int(events[0]["id"]), int(events[3]["id"]), int(events[-2]["id"])):
            with self.subTest(last_event_id=k):
                r, tail, raw = read_events(srv.port, job["id"], last_event_id=k)
                self.assertEqual(r.status, 200, raw)
                want = [e for e in events if int(e["id"]) > k]
                self.assertEqual([(e["id"], e["event"], e["data"]) for e in tail],
                                 [(e["id"], e["event"], e["data"]) for e in want])
        # after the last event: nothing, and the stream still ends
        r, tail, raw = read_events(srv.port, job["id"], last_event_id=events[-1]["id"])
        self.assertEqual(r.status, 200, raw)
        self.assertEqual(tail, [])

        # a client that connects after the end replays everything
        r, again, raw = read_events(srv.port, job["id"])
        self.assertEqual([(e["id"], e["data"]) for e in again], [(e["id"], e["data"]) for e in events])
        srv.stop()

    def test_reconnect_mid_training(self):
        """Drop the stream in the middle of training, reconnect with the last
        id seen: together the two streams hold every event exactly once. The
        job runs until the second stream cancels it, so it is still training
        when the first one drops, on any machine."""
        m = self.create_model(self.c, mlp_body(hidden=(256, 128), name="sse-mid"))
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": self.data["id"], "epochs": 100000,
                                       "batch_size": 8, "seed": 2})
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=T(30))
        conn.request("GET", "/v1/jobs/%d/events" % job["id"])
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        first, block = [], {}
        while len([e for e in first if e.get("event") == "epoch"]) < 3:
            line = r.readline()
            self.assertTrue(line, "the stream ended early")
            text = line.decode().rstrip("\r\n")
            if text == "":
                if "data" in block:
                    first.append(block)
                block = {}
            elif not text.startswith(":"):
                name, _, value = text.partition(":")
                block[name] = value[1:] if value.startswith(" ") else value
        conn.close()
        last = first[-1]["id"]

        def cancel(_):
            self.assertStatus(self.c.post("/v1/jobs/%d/cancel" % job["id"]), 200)
        _, rest, raw = read_events(self.srv.port, job["id"], last_event_id=last, on_open=cancel)
        events = first + rest
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)), "every event once, in order")
        done = self.wait_job(self.c, job["id"], statuses=("cancelled",))
        epochs = [json.loads(e["data"])["epoch"] for e in events if e.get("event") == "epoch"]
        self.assertEqual(epochs, list(range(1, done["epoch"] + 1)), "every epoch once")
        self.assertEqual(events[-1]["event"], "status")
        self.assertEqual(json.loads(events[-1]["data"])["status"], "cancelled")
        self.assertEqual([json.loads(e["data"]) for e in events if e.get("event") == "epoch"],
                         self.history(self.c, job["id"]))

    def test_many_listeners(self):
        m = self.create_model(self.c, mlp_body(hidden=(64,), name="sse-many"))
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": self.data["id"], "epochs": 8, "seed": 3})
        results = [None] * 8

        def listen(i):
            try:
                results[i] = read_events(self.srv.port, job["id"])[1]
            except Exception as e:  # reported below
                results[i] = e
        threads = [threading.Thread(target=listen, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        # the other routes stay responsive meanwhile
        self.assertStatus(self.c.get("/v1/info"), 200)
        for t in threads:
            t.join(T(60))
        for res in results:
            self.assertIsInstance(res, list, res)
            self.check_stream(res, 8)
            self.assertEqual([e["data"] for e in res], [e["data"] for e in results[0]])

    def test_long_stream_replayed_to_the_end(self):
        """A finished job with more events than one database read (100
        epochs): a late client gets them all, and the stream ends."""
        m = self.create_model(self.c, mlp_body(hidden=(16,), name="sse-long"))
        epochs = 100
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": self.data["id"], "epochs": epochs,
                                       "batch_size": 500, "seed": 4})
        self.assertEqual(self.wait_job(self.c, job["id"])["status"], "succeeded")
        r, events, raw = read_events(self.srv.port, job["id"], timeout=T(5))
        self.assertEqual(r.status, 200)
        self.check_stream(events, epochs)
        r, tail, raw = read_events(self.srv.port, job["id"], last_event_id=10, timeout=T(5))
        self.assertEqual([e["id"] for e in tail], [e["id"] for e in events if int(e["id"]) > 10])

    def test_live_stream_of_grouped_commits(self):
        """Hundreds of millisecond epochs committed in groups (the default
        1 s interval): a listener from the start sees every one and the end."""
        srv = self.server(name="sse-grouped")
        x, y = blobs(n=600, features=16, classes=4, seed=5)
        data = self.create_dataset(srv.client, x, y, name="grouped")
        m = self.create_model(srv.client, mlp_body(hidden=(64, 64), name="grouped"))
        epochs = 1500
        job = self.submit_job(srv.client, {"model_id": m["id"], "dataset_id": data["id"], "epochs": epochs,
                                           "seed": 5})
        r, events, raw = read_events(srv.port, job["id"], timeout=T(15))
        self.assertEqual(r.status, 200)
        self.check_stream(events, epochs)
        srv.stop()

    def test_idle_streams_do_not_starve_other_routes(self):
        """Forty listeners of a queued job hold no request thread: the API
        answers meanwhile, and every stream ends when the job does."""
        srv = self.server(workers=1, name="sse-idle")
        c = srv.client
        x, y = blobs(n=4000, features=64, classes=4, seed=2)
        data = self.create_dataset(c, x, y, name="big")
        running = self.create_model(c, mlp_body(input_dim=64, hidden=(256, 256), name="running"))
        waiting = self.create_model(c, mlp_body(input_dim=64, hidden=(8,), name="waiting"))
        a = self.submit_job(c, {"model_id": running["id"], "dataset_id": data["id"], "epochs": 100000})
        self.wait_job(c, a["id"], statuses=("running",))
        b = self.submit_job(c, {"model_id": waiting["id"], "dataset_id": data["id"], "epochs": 1})
        results = [None] * 40
        opened = [0]
        lock = threading.Lock()

        def on_open(_):
            with lock:
                opened[0] += 1

        def listen(i):
            try:
                results[i] = read_events(srv.port, b["id"], timeout=T(30), on_open=on_open)[1]
            except Exception as e:  # checked below
                results[i] = e
        threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(40)]
        for t in threads:
            t.start()
        self.wait_for(lambda: opened[0] == 40, T(30), "the forty streams to be open")
        # with every stream open, the API still answers (the timeout only stops a hang)
        for _ in range(20):
            self.assertStatus(c.get("/v1/jobs/%d" % b["id"], timeout=T(10)), 200)
        self.assertStatus(c.post("/v1/jobs/%d/cancel" % b["id"]), 200)
        for t in threads:
            t.join(T(10))
        for res in results:
            self.assertIsInstance(res, list, "a stream did not end: %r" % (res,))
            self.assertEqual(json.loads(res[-1]["data"])["status"], "cancelled")
        self.assertStatus(c.post("/v1/jobs/%d/cancel" % a["id"]), 200)
        srv.stop()

    def test_errors(self):
        self.assertError(self.c.get("/v1/jobs/999999/events"), 404, "not_found", ANY)
        m = self.create_model(self.c, mlp_body(name="sse-err"))
        job = self.submit_job(self.c, {"model_id": m["id"], "dataset_id": self.data["id"], "epochs": 1})
        r = self.c.get("/v1/jobs/%d/events" % job["id"], headers={"Last-Event-ID": "abc"})
        self.assertError(r, 422, "validation_failed", ANY)
        self.wait_job(self.c, job["id"])
