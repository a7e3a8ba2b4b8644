"""Sweeps (POST /v1/sweeps): a 2x2x2 grid and a random sweep on the iris data
set (scikit-learn's copy, read through Debian's /usr/bin/python3), ranked
as an independent re-computation from the jobs' epoch rows ranks them; the
sweep stream; cancel; a SIGKILL mid-sweep after which every point finishes
exactly once; bad sweeps refused with 422 naming the field, nothing created."""
import http.client
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import time

from harness import Config, FitdCase, T, blobs, db_query, f32, mlp_body

SKLEARN_PYTHON = "/usr/bin/python3"
IRIS = r"""
import json
from sklearn.datasets import load_iris
import numpy as np
d = load_iris()
rng = np.random.RandomState(0)
order = rng.permutation(len(d.target))
x = d.data[order]
x = (x - x.mean(axis=0)) / x.std(axis=0)
print(json.dumps({"x": np.round(x, 5).tolist(), "y": d.target[order].tolist()}))
"""

_iris = None


def iris():
    """Iris, standardised and shuffled: 120 training rows, 30 validation rows."""
    global _iris
    if _iris is None:
        out = subprocess.run([SKLEARN_PYTHON, "-c", IRIS], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, ("precondition: %s has scikit-learn (Debian: python3-sklearn): %s"
                                     % (SKLEARN_PYTHON, out.stderr[-300:]))
        d = json.loads(out.stdout)
        _iris = (d["x"][:120], d["y"][:120], d["x"][120:], d["y"][120:])
    return _iris


def read_sweep_events(port, sweep_id, last_event_id=None, timeout=None):
    """Reads the sweep's stream to its end: a list of {"id", "event", "data"}."""
    timeout = timeout or T(60)
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    conn.request("GET", "/v1/sweeps/%d/events" % sweep_id, headers=headers)
    r = conn.getresponse()
    assert r.status == 200, (r.status, r.read())
    events, block = [], {}
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the sweep stream did not end within %.0f s" % timeout)
            conn.sock.settimeout(left)
            line = r.readline()
            if not line:
                return events
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in block:
                    block["data"] = json.loads(block["data"])
                    events.append(block)
                block = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(": ")
                block[k] = v
    except socket.timeout:
        raise AssertionError("the sweep stream stalled")
    finally:
        conn.close()


class SweepCase(FitdCase):
    def iris_sets(self, c):
        xt, yt, xv, yv = iris()
        train = self.create_dataset(c, xt, yt, name="iris-train")
        val = self.create_dataset(c, xv, yv, name="iris-val")
        return train["id"], val["id"]

    @staticmethod
    def model_template():
        return mlp_body(input_dim=4, hidden=(8,), outputs=3, seed=5, name="iris")

    def wait_sweep(self, c, sweep_id, statuses=("succeeded", "failed", "cancelled"), timeout=None):
        def done():
            r = c.get("/v1/sweeps/%d" % sweep_id)
            self.assertStatus(r, 200)
            return r.json if r.json["status"] in statuses else None
        return self.wait_for(done, timeout or T(180), "sweep %d to end" % sweep_id, interval=0.1)

    def check_ranking(self, c, sweep, metric, maximize):
        """Recomputes every point's best metric and its epoch from the job's
        epoch rows, ranks them (best first, points without one last, ties by
        index) and compares with the sweep's table."""
        expected = []
        for p in sweep["points"]:
            epochs = self.history(c, p["job_id"])
            vals = [(e[metric], e["epoch"]) for e in epochs if e.get(metric) is not None]
            if vals:
                best = (max if maximize else min)(v for v, _ in vals)
                best_epoch = min(ep for v, ep in vals if v == best)
            else:
                best, best_epoch = None, None
            self.assertEqual(p["best"], best, "point %d's best %s" % (p["index"], metric))
            self.assertEqual(p["best_epoch"], best_epoch, "point %d's best epoch" % p["index"])
            expected.append((best is None, -best if (best is not None and maximize) else (best or 0), p["index"]))
        self.assertEqual([p["index"] for p in sweep["points"]], [e[2] for e in sorted(expected)],
                         "the sweep's ranking is not the re-computed one")
        self.assertEqual([p["rank"] for p in sweep["points"]], list(range(1, len(sweep["points"]) + 1)))

    def totals(self, c):
        return tuple(c.get("/v1/%s" % what).json["total"] for what in ("models", "jobs", "sweeps"))


class TestSweeps(SweepCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="sweeps", workers=2)

    def test_grid_2x2x2_ranked_streamed_and_idempotent(self):
        c = self.srv.client
        train, val = self.iris_sets(c)
        grid = {"optimizer.learning_rate": [1e-3, 3e-2], "layers[0].units": [4, 16], "job.batch_size": [16, 64]}
        body = {"name": "iris grid", "model": self.model_template(),
                "job": {"dataset_id": train, "validation_dataset_id": val, "epochs": 6, "seed": 3},
                "grid": grid, "metric": "val_loss", "mode": "min"}
        before = self.totals(c)
        r = c.post("/v1/sweeps", body, headers={"Idempotency-Key": "grid-1"})
        self.assertStatus(r, 202)
        s = r.json
        self.assertEqual(r.header("Location"), "/v1/sweeps/%d" % s["id"])
        self.assertEqual((s["name"], s["kind"], s["metric"], s["mode"], s["n_points"]),
                         ("iris grid", "grid", "val_loss", "min", 8))
        self.assertEqual(s["grid"], grid)
        self.assertEqual(self.totals(c), (before[0] + 8, before[1] + 8, before[2] + 1))
        # A retry with the same key answers the same sweep and creates nothing.
        again = c.post("/v1/sweeps", body, headers={"Idempotency-Key": "grid-1"})
        self.assertStatus(again, 202)
        self.assertEqual(again.json["id"], s["id"])
        self.assertEqual(self.totals(c), (before[0] + 8, before[1] + 8, before[2] + 1))

        # Every combination once, the first parameter varying slowest.
        combos = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
        by_index = sorted(s["points"], key=lambda p: p["index"])
        self.assertEqual([p["params"] for p in by_index], combos)
        for p in by_index:
            m = c.get("/v1/models/%d" % p["model_id"]).json
            j = c.get("/v1/jobs/%d" % p["job_id"]).json
            self.assertEqual(f32(m["optimizer"]["learning_rate"]), f32(p["params"]["optimizer.learning_rate"]))
            self.assertEqual(m["layers"][0]["units"], p["params"]["layers[0].units"])
            self.assertEqual(m["seed"], 5)
            self.assertEqual((j["model_id"], j["batch_size"], j["seed"], j["epochs"]),
                             (p["model_id"], p["params"]["job.batch_size"], 3, 6))

        done = self.wait_sweep(c, s["id"])
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["counts"]["succeeded"], 8)
        self.check_ranking(c, done, "val_loss", maximize=False)
        listed = c.get("/v1/sweeps").json
        self.assertIn(s["id"], [i["id"] for i in listed["items"]])

        # The stream: every point's epochs and status changes, ids increasing;
        # resumed from an id it gives exactly the rest.
        events = read_sweep_events(self.srv.port, s["id"])
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)))
        for p in by_index:
            mine = [e for e in events if e["data"]["point"] == p["index"]]
            self.assertTrue(all(e["data"]["job_id"] == p["job_id"] for e in mine))
            self.assertEqual([e["data"]["event"]["epoch"] for e in mine if e["event"] == "epoch"], list(range(1, 7)))
            self.assertEqual([e["data"]["event"]["status"] for e in mine if e["event"] == "status"][-1], "succeeded")
        half = len(events) // 2
        rest = read_sweep_events(self.srv.port, s["id"], last_event_id=events[half - 1]["id"])
        self.assertEqual(rest, events[half:])

        # Each job is deterministic by its seed: the same body again trains the same weights.
        twin = c.post("/v1/sweeps", body)
        self.assertStatus(twin, 202)
        twin = self.wait_sweep(c, twin.json["id"])
        sha = lambda sweep: {p["index"]: c.get("/v1/jobs/%d" % p["job_id"]).json["weights_sha256"]  # noqa: E731
                             for p in sweep["points"]}
        self.assertEqual(sha(twin), sha(done))
        self.assertEqual(len(set(sha(done).values())), 8, "the points trained the same weights")

        # Deleting the sweep deletes its points' models and jobs, nothing else.
        others = self.totals(c)
        self.assertEqual(c.delete("/v1/sweeps/%d" % s["id"]).status, 204)
        self.assertEqual(c.get("/v1/sweeps/%d" % s["id"]).status, 404)
        for p in by_index:
            self.assertEqual(c.get("/v1/models/%d" % p["model_id"]).status, 404)
            self.assertEqual(c.get("/v1/jobs/%d" % p["job_id"]).status, 404)
        self.assertEqual(self.totals(c), (others[0] - 8, others[1] - 8, others[2] - 1))
        self.assertEqual(c.delete("/v1/sweeps/%d" % s["id"]).status, 404)

    def test_random_sweep_reproducible_and_ranked(self):
        c = self.srv.client
        train, val = self.iris_sets(c)
        params = {"optimizer.learning_rate": {"min": 1e-4, "max": 1e-1, "scale": "log"},
                  "layers[0].units": {"values": [4, 8, 16]},
                  "job.epochs": {"min": 2, "max": 5, "integer": True}}
        body = {"model": self.model_template(), "job": {"dataset_id": train, "validation_dataset_id": val},
                "random": {"trials": 6, "seed": 11, "params": params}, "metric": "val_accuracy"}
        r = c.post("/v1/sweeps", body)
        self.assertStatus(r, 202)
        s = r.json
        self.assertEqual((s["kind"], s["mode"], s["n_points"], s["random"]["seed"]), ("random", "max", 6, 11))
        drawn = [p["params"] for p in sorted(s["points"], key=lambda p: p["index"])]
        for p in drawn:
            self.assertTrue(1e-4 <= p["optimizer.learning_rate"] <= 1e-1, p)
            self.assertIn(p["layers[0].units"], (4, 8, 16))
            self.assertIn(p["job.epochs"], (2, 3, 4, 5))
        self.assertGreater(len({p["optimizer.learning_rate"] for p in drawn}), 1, "the draws do not vary")
        # The same seed draws the same points.
        twin = c.post("/v1/sweeps", body).json
        self.assertEqual([p["params"] for p in sorted(twin["points"], key=lambda p: p["index"])], drawn)
        for sid in (s["id"], twin["id"]):
            done = self.wait_sweep(c, sid)
            self.assertEqual(done["status"], "succeeded", done)
            self.check_ranking(c, done, "val_accuracy", maximize=True)
        for p in done["points"]:
            self.assertEqual(c.get("/v1/jobs/%d" % p["job_id"]).json["epochs"], p["params"]["job.epochs"])

    def test_bad_sweeps_are_refused_and_create_nothing(self):
        c = self.srv.client
        train, val = self.iris_sets(c)

        def body(**kw):
            b = {"model": self.model_template(), "job": {"dataset_id": train, "validation_dataset_id": val,
                                                          "epochs": 2},
                 "grid": {"optimizer.learning_rate": [1e-3, 1e-2]}, "metric": "val_loss", "mode": "min"}
            b.update(kw)
            return {k: v for k, v in b.items() if v is not None}

        rnd = lambda params, trials=3: {"trials": trials, "params": params}  # noqa: E731
        cases = [
            (body(grid={"layers[7].units": [4]}), "grid.layers[7].units"),
            (body(grid={"no_such_field": [1]}), "grid.no_such_field"),
            (body(grid={"model.no_such_field": [1]}), "grid.model.no_such_field"),
            (body(grid={"layers[0]..units": [1]}), "grid.layers[0]..units"),
            (body(grid={}), "grid"),
            (body(grid={"layers[0].units": []}), "grid.layers[0].units"),
            (body(grid={"layers[0].units": list(range(1, 20)), "job.batch_size": list(range(1, 20))}), "grid"),
            (body(grid={"layers[0].units": [4, -1]}), "grid.layers[0].units"),
            (body(grid={"optimizer.learning_rate": [1e-3, "fast"]}), "grid.optimizer.learning_rate"),
            (body(grid={"job.epochs": [200000]}), "grid.job.epochs"),
            (body(grid={"layers[0].units": list(range(1, 101))},
                  job={"dataset_id": train, "validation_dataset_id": val, "epochs": 1001}), None),
            (body(metric="precision"), "metric"),
            (body(mode="lowest"), "mode"),
            (body(metric="accuracy", model=dict(self.model_template(), metrics=[])), "metric"),
            (body(job={"dataset_id": train, "epochs": 2}), "metric"),
            (body(grid=None, random=rnd({"optimizer.learning_rate": {"min": 0.1, "max": 0.01}})),
             "random.params.optimizer.learning_rate.min"),
            (body(grid=None, random=rnd({"optimizer.learning_rate": {"min": 0, "max": 0.1, "scale": "log"}})),
             "random.params.optimizer.learning_rate.min"),
            (body(grid=None, random=rnd({"optimizer.learning_rate": {"min": 0.1, "max": 1}}, trials=1000)),
             "random.trials"),
            (body(grid=None), "grid"),
            (body(random=rnd({"layers[0].units": {"values": [4]}})), "grid"),
            (body(job={"model_id": 1, "dataset_id": train}), "job.model_id"),
        ]
        before = self.totals(c)
        for b, field in cases:
            r = c.post("/v1/sweeps", b)
            if field is None:   # 100 points x 1001 epochs: over the epoch limit
                self.assertError(r, 422, "validation_failed", "job.epochs", msg=json.dumps(b)[:200])
                continue
            e = self.assertError(r, 422, "validation_failed", field, msg=json.dumps(b)[:300])
            self.assertTrue(e["message"], e)
        # A missing dataset is a 404 naming it, as for POST /v1/jobs.
        self.assertError(c.post("/v1/sweeps", body(job={"dataset_id": 999999, "validation_dataset_id": val})),
                         404, "not_found", "job.dataset_id")
        # A point's own error names the point.
        r = c.post("/v1/sweeps", body(grid={"layers[0].units": [4, -1]}))
        self.assertIn("point 1", r.json["error"]["message"])
        self.assertEqual(self.totals(c), before, "a refused sweep created something")
        self.assertEqual(c.get("/v1/sweeps/999").status, 404)
        self.assertEqual(c.get("/v1/sweeps/abc").status, 404)


class TestSweepEventIds(SweepCase):
    def test_event_ids_are_never_reused(self):
        """Sweep stream ids are the ids of the points' job events. Deleting
        the model of the point that holds the newest ones (?cascade=true
        deletes its job and its events) must not let later events take those
        ids again: a client that had read up to them would skip the new ones."""
        srv = self.server(name="sweep-ids", workers=1)
        c = srv.client
        train, val = self.iris_sets(c)
        body = {"model": self.model_template(),
                "job": {"dataset_id": train, "validation_dataset_id": val, "epochs": 2, "seed": 3},
                "grid": {"layers[0].units": [4, 8]}, "metric": "val_loss"}
        first = self.wait_sweep(c, c.post("/v1/sweeps", body).json["id"])
        events = read_sweep_events(srv.port, first["id"])
        ids = [int(e["id"]) for e in events]
        newest = [p for p in first["points"] if p["index"] == events[-1]["data"]["point"]][0]
        self.assertEqual(max(ids), ids[-1])
        self.assertStatus(c.delete("/v1/models/%d?cascade=true" % newest["model_id"]), 204)
        second = self.wait_sweep(c, c.post("/v1/sweeps", body).json["id"])
        later = [int(e["id"]) for e in read_sweep_events(srv.port, second["id"])]
        self.assertTrue(later)
        self.assertGreater(min(later), max(ids), "an event id was given twice")
        srv.stop()


class TestSweepCancel(SweepCase):
    def test_cancel_stops_the_remaining_points(self):
        srv = self.server(name="sweep-cancel", workers=1)
        c = srv.client
        train, val = self.iris_sets(c)
        body = {"model": self.model_template(), "job": {"dataset_id": train, "epochs": 30000, "batch_size": 1},
                "grid": {"layers[0].units": [4, 8, 16]}, "metric": "loss"}
        s = c.post("/v1/sweeps", body)
        self.assertStatus(s, 202)
        s = s.json
        first = min(s["points"], key=lambda p: p["index"])
        self.wait_job(c, first["job_id"], statuses=("running",), min_epoch=1, timeout=T(60))
        self.assertError(c.delete("/v1/sweeps/%d" % s["id"]), 409, "conflict", None)
        r = c.post("/v1/sweeps/%d/cancel" % s["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["status"], "cancelled", r.json)
        self.assertTrue(r.json["cancel_requested"])
        self.assertEqual(r.json["counts"]["cancelled"], 3)
        for p in r.json["points"]:
            j = c.get("/v1/jobs/%d" % p["job_id"]).json
            self.assertEqual(j["status"], "cancelled")
            self.assertEqual(j["epoch"] > 0, p["index"] == first["index"], j)
        self.assertError(c.post("/v1/sweeps/%d/cancel" % s["id"]), 409, "conflict", None)
        self.assertEqual(c.post("/v1/sweeps/424242/cancel").status, 404)


class TestSweepCrash(SweepCase):
    def test_sigkill_mid_sweep_then_every_point_finishes_once(self):
        # Iris epochs take microseconds; points of a second or more (as test_restart's
        # jobs) leave a wide window to interrupt one: 600 rows, 64x64 hidden units.
        srv = self.server(args=["--commit-interval-ms", "50"], name="sweep-crash", workers=1)
        c = srv.client
        x, y = blobs(n=600, features=32, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="crash")
        epochs = 600 if Config.slow else 2500
        body = {"model": mlp_body(input_dim=32, hidden=(64, 64), outputs=4, seed=77, name="crash"),
                "job": {"dataset_id": data["id"], "epochs": epochs, "batch_size": 32, "validation_split": 0.1,
                        "seed": 9},
                "grid": {"optimizer.learning_rate": [1e-3, 2e-3], "layers[0].units": [32, 64]},
                "metric": "val_loss"}
        s = c.post("/v1/sweeps", body)
        self.assertStatus(s, 202)
        s = s.json
        # Interrupt once a point has succeeded and the next has committed epochs, far from done.
        def midway():
            sweep = c.get("/v1/sweeps/%d" % s["id"]).json
            self.assertIn(sweep["status"], ("queued", "running"), "the sweep ended before it could be interrupted")
            return sweep["counts"]["succeeded"] >= 1 and any(
                p["status"] == "running" and 0 < p["epoch"] < epochs // 2 for p in sweep["points"])
        self.wait_for(midway, T(180), "a point running after one succeeded", interval=0.01)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.start()
        c = srv.client
        done = self.wait_sweep(c, s["id"], timeout=T(300))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["counts"]["succeeded"], 4)
        for p in done["points"]:
            j = c.get("/v1/jobs/%d" % p["job_id"]).json
            self.assertEqual((j["status"], j["epoch"]), ("succeeded", epochs))
            hist = self.history(c, p["job_id"])
            self.assertEqual([e["epoch"] for e in hist], list(range(1, epochs + 1)),
                             "point %d: every epoch exactly once" % p["index"])
        # Nothing was created twice: four models, four jobs, four point rows.
        self.assertEqual(c.get("/v1/jobs").json["total"], 4)
        self.assertEqual(c.get("/v1/models").json["total"], 4)
        self.assertEqual(db_query(srv.db, "SELECT count(*) FROM sweep_points")[0][0], 4)
        self.assertEqual(int(db_query(srv.db, "SELECT max(attempts) FROM jobs")[0][0]), 2)
        self.check_ranking(c, done, "val_loss", maximize=False)
        self.assertFalse(math.isnan(done["points"][0]["best"]))
        # The interrupted points end as uninterrupted ones: the same body again, the same weights.
        twin = c.post("/v1/sweeps", body)
        self.assertStatus(twin, 202)
        twin = self.wait_sweep(c, twin.json["id"], timeout=T(300))
        sha = lambda sweep: {p["index"]: c.get("/v1/jobs/%d" % p["job_id"]).json["weights_sha256"]  # noqa: E731
                             for p in sweep["points"]}
        self.assertEqual(sha(twin), sha(done))
