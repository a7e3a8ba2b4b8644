"""Nodes and job leases (issue 15): GET /v1/nodes on one node, and several
fitd nodes over one real PostgreSQL database — any node answers anything, a
node killed with SIGKILL mid-epoch has its job finished elsewhere
bit-identical to a run alone on SQLite, two nodes racing for many one-epoch
jobs claim each exactly once, and training goes on through a restart of
PostgreSQL.

Runs in both run.py modes: on --backend postgres the multi-node classes use
the run's PostgreSQL (a fresh database per test); on SQLite they start a
PostgreSQL of their own (shared_pg). Quick sizes by default; FITD_TEST_FULL=1
runs the full ones (30 jobs in the SIGKILL test, 1,000 in the race). The
measured figures are printed one per line, starting with "figure:".
"""
import json
import os
import subprocess
import sys
import threading
import time

from harness import ANY, FINAL, ROOT, Config, FitdCase, T, blobs, db_query, mlp_body, tmpdir
from test_sse import read_events

FULL = os.environ.get("FITD_TEST_FULL") == "1"

# Short leases keep the tests quick: a dead node's job is claimed again
# about LEASE_TTL_MS after its last heartbeat.
LEASE_TTL_MS = 1500
HEARTBEAT_MS = 300
NODE_ARGS = ["--lease-ttl-ms", str(LEASE_TTL_MS), "--heartbeat-ms", str(HEARTBEAT_MS), "--commit-interval-ms", "50"]


def figure(text):
    """A measured figure, on a line of its own (the lead quotes them)."""
    sys.stdout.write("\nfigure: %s\n" % text)
    sys.stdout.flush()


# ---- the PostgreSQL the multi-node classes share -------------------------------------------

class _SharedPg:
    own = None      # the PgServer this module started (SQLite runs), else None
    users = 0
    databases = 0


def shared_pg():
    """The run's PostgreSQL (--backend postgres), or one this module starts
    for its classes (stopped by release_pg when the last class is done)."""
    if Config.pg is not None:
        return Config.pg
    if _SharedPg.own is None:
        import pgserver
        _SharedPg.own = pgserver.PgServer().start()
    _SharedPg.users += 1
    return _SharedPg.own


def release_pg(pg):
    if pg is not None and pg is _SharedPg.own:
        _SharedPg.users -= 1
        if _SharedPg.users == 0:
            _SharedPg.own.stop()
            _SharedPg.own = None


def new_database(pg):
    """A fresh database on pg for one test's nodes; its URI."""
    _SharedPg.databases += 1
    return pg.create_database("nodes_%d_%d" % (os.getpid(), _SharedPg.databases))


# ---- workloads -------------------------------------------------------------------------------

# A job of EPOCHS epochs takes two to four seconds here (about 0.1 s an
# epoch), with three nodes sharing two cores; fewer rows under a sanitizer.
EPOCHS = 30


def epoch_data():
    return blobs(n=300 if Config.slow else 1500, features=16, classes=4, seed=31)


def epoch_model(seed):
    return mlp_body(input_dim=16, hidden=(256, 256), outputs=4, seed=seed)


def epoch_job(model_id, dataset_id, epochs=EPOCHS):
    return {"model_id": model_id, "dataset_id": dataset_id, "epochs": epochs, "batch_size": 8,
            "validation_split": 0.1, "shuffle": True, "seed": 17}


class NodeCase(FitdCase):
    def node(self, db, node_id, workers=1, extra=()):
        return self.server(args=NODE_ARGS + ["--node-id", node_id] + list(extra), db=db, workers=workers,
                           name="node-" + node_id)

    def nodes(self, client):
        r = client.get("/v1/nodes")
        self.assertStatus(r, 200)
        body = r.json
        self.assertEqual(set(body), {"items", "total"}, body)
        self.assertEqual(body["total"], len(body["items"]), body)
        for n in body["items"]:
            self.assertEqual(set(n), {"id", "alive", "stopped", "workers", "running_jobs", "started_at",
                                      "heartbeat_at"}, n)
            self.assertTime(n["started_at"])
            self.assertTime(n["heartbeat_at"])
        return {n["id"]: n for n in body["items"]}

    def job(self, client, job_id):
        r = client.get("/v1/jobs/%d" % job_id)
        self.assertStatus(r, 200)
        return r.json

    def sqlite_server(self, name):
        """A server on a SQLite file whatever the run's backend: the reference."""
        return self.server(db=os.path.join(tmpdir(name), "fitd.db"), workers=1, name=name,
                           args=["--commit-interval-ms", "50"])

    def references(self, seeds, epochs=EPOCHS):
        """{seed: weights_sha256} of epoch_job run alone on a SQLite server,
        one job per distinct model seed; submitted now, read by the returned
        function (so the references train while the nodes do)."""
        ref = self.sqlite_server("reference")
        c = ref.client
        x, y = epoch_data()
        data = self.create_dataset(c, x, y, name="reference")
        jobs = {}
        for seed in sorted(set(seeds)):
            m = self.create_model(c, epoch_model(seed))
            jobs[seed] = self.submit_job(c, epoch_job(m["id"], data["id"], epochs))["id"]

        def collect():
            out = {}
            for seed, job_id in jobs.items():
                done = self.wait_job(c, job_id, timeout=T(300))
                self.assertEqual(done["status"], "succeeded", done)
                self.assertHistoryComplete(self.history(c, job_id), epochs)
                out[seed] = done["weights_sha256"]
            ref.stop()
            return out
        return collect

    def wait_end(self, client, job_id, timeout):
        """wait_job for a job around a database outage: a 503 unavailable
        (with its JSON error body) is an answer the poll may get and retry;
        anything else but 200 fails."""
        last = None
        deadline = time.monotonic() + timeout
        while True:
            r = client.get("/v1/jobs/%d" % job_id)
            if r.status == 503:
                self.assertError(r, 503, "unavailable", ANY)
            else:
                self.assertStatus(r, 200)
                last = r.json
                if last["status"] in FINAL:
                    return last
            if time.monotonic() > deadline:
                self.fail("timed out after %.0f s waiting for job %d to end (last: %r)" % (timeout, job_id, last))
            time.sleep(0.05)

    def answers_once_back(self, servers):
        """Once the database is back, each request through each node
        succeeds: its HTTP threads' connections reconnect, none answers a
        503 for a connection the outage broke."""
        with self.subTest("every request succeeds once PostgreSQL is back"):
            for name, s in servers.items():
                for k in range(20):
                    self.assertStatus(s.client.get("/v1/nodes"), 200, "request %d through node %s once "
                                                                      "PostgreSQL is back" % (k + 1, name))

    def list_jobs(self, client):
        items, offset = [], 0
        while True:
            r = client.get("/v1/jobs?limit=500&offset=%d" % offset)
            self.assertStatus(r, 200)
            items += r.json["items"]
            offset += 500
            if offset >= r.json["total"]:
                return items


# ---- one node -------------------------------------------------------------------------------

class TestNodes(NodeCase):
    """One node, on the run's backend."""

    def test_nodes_list_graceful_stop_and_restart(self):
        args = ["--node-id", "solo-1"]
        srv = self.server(args=NODE_ARGS + args, workers=1, name="solo")
        c = srv.client
        nodes = self.nodes(c)
        self.assertEqual(list(nodes), ["solo-1"])
        n = nodes["solo-1"]
        self.assertEqual((n["alive"], n["stopped"], n["workers"], n["running_jobs"]), (True, False, 1, []), n)

        x, y = blobs(n=600, features=16, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="solo")
        model = self.create_model(c, mlp_body(input_dim=16, hidden=(64, 64), outputs=4, seed=3))
        epochs = 1500
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": 8, "seed": 2})
        j = self.wait_job(c, job["id"], statuses=("running",), min_epoch=2, timeout=T(30))
        self.assertEqual((j["node"], j["nodes"]), ("solo-1", ["solo-1"]), j)
        n = self.nodes(c)["solo-1"]
        self.assertEqual((n["alive"], n["running_jobs"]), (True, [job["id"]]), n)

        # a graceful stop gives the job back: queued, on no node, the run not counted
        at = self.job(c, job["id"])
        self.assertLess(at["epoch"], epochs, "the job ended before the stop")
        srv.stop()
        self.assertEqual(db_query(srv.db, "SELECT status, node, attempts FROM jobs WHERE id = %d" % job["id"]),
                         [("queued", None, 0)], "the job a graceful stop gave back")
        self.assertEqual(db_query(srv.db, "SELECT stopped FROM nodes WHERE id = 'solo-1'"), [(1,)])

        srv.start()
        c = srv.client
        n = self.nodes(c)["solo-1"]
        self.assertEqual((n["alive"], n["stopped"], n["workers"]), (True, False, 1), n)
        done = self.wait_job(c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual((done["node"], done["nodes"], done["attempts"]), (None, ["solo-1"], 1), done)
        self.assertGreaterEqual(done["epoch"], at["epoch"])
        self.assertHistoryComplete(self.history(c, job["id"]), epochs)
        self.assertEqual(self.nodes(c)["solo-1"]["running_jobs"], [])
        srv.stop()

    def refused(self, args):
        """fitd with args exits before listening: (exit code, stderr)."""
        db = os.path.join(tmpdir("refused"), "fitd.db")
        p = subprocess.run([Config.binary, "--port", "0", "--db", db, "--share-dir", ROOT] + args,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=T(30))
        self.assertIn(p.returncode, (1, 2), "fitd %s: exit %d\n%s%s" % (" ".join(args), p.returncode, p.stdout,
                                                                         p.stderr))
        self.assertNotIn("listening", p.stdout + p.stderr)
        return p.stderr

    def test_bad_node_settings_refused(self):
        err = self.refused(["--node-id", "bad,id"])
        self.assertIn("--node-id", err)
        err = self.refused(["--heartbeat-ms", "5000", "--lease-ttl-ms", "2000"])
        self.assertIn("--heartbeat-ms", err)
        err = self.refused(["--lease-ttl-ms", "999"])
        self.assertIn("--lease-ttl-ms", err)


# ---- several nodes over one PostgreSQL ---------------------------------------------------------

class TestMultiNode(NodeCase):
    pg = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = shared_pg()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            release_pg(cls.pg)
            cls.pg = None

    def cluster(self, ids, extra=()):
        db = new_database(self.pg)
        # one after the other: the first applies the migrations
        return db, [self.node(db, i, extra=extra) for i in ids]

    def three_nodes(self):
        db, (a, b, c) = self.cluster(["a", "b", "c"])
        every = {"a": a, "b": b, "c": c}
        for s in every.values():
            nodes = self.nodes(s.client)
            self.assertEqual(sorted(nodes), ["a", "b", "c"])
            for n in nodes.values():
                self.assertEqual((n["alive"], n["stopped"], n["workers"]), (True, False, 1), n)
        return every

    def test_a1_any_node_answers_anything(self):
        """Created through A, B and C, read the same through each; an
        Idempotency-Key used on A replays on B; a node stopped gracefully
        shows stopped through the others."""
        every = self.three_nodes()
        a, b, c = every["a"], every["b"], every["c"]
        x, y = epoch_data()
        data = self.create_dataset(a.client, x, y, name="shared")
        model = self.create_model(b.client, epoch_model(1))
        job = self.submit_job(c.client, epoch_job(model["id"], data["id"]))
        for s in every.values():
            for path in ("/v1/datasets/%d" % data["id"], "/v1/models/%d" % model["id"], "/v1/jobs/%d" % job["id"]):
                self.assertStatus(s.client.get(path), 200, path)
        running = self.wait_job(a.client, job["id"], statuses=("running",), timeout=T(30))
        runner = running["node"]
        self.assertIn(runner, every)
        self.assertEqual(running["nodes"], [runner])
        for s in every.values():
            self.assertIn(job["id"], self.nodes(s.client)[runner]["running_jobs"])
        done = self.wait_job(b.client, job["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual((done["node"], done["nodes"], done["attempts"]), (None, [runner], 1), done)
        self.assertHistoryComplete(self.history(a.client, job["id"]), EPOCHS)

        paths = ["/v1/datasets/%d" % data["id"], "/v1/models/%d" % model["id"], "/v1/jobs/%d" % job["id"],
                 "/v1/jobs/%d/history" % job["id"], "/v1/models/%d/weights" % model["id"], "/v1/jobs",
                 "/v1/models", "/v1/datasets"]
        for path in paths:
            answers = {}
            for name, s in every.items():
                r = s.client.get(path)
                self.assertStatus(r, 200, "%s through %s" % (path, name))
                answers[name] = r.json
            self.assertEqual(answers["a"], answers["b"], path)
            self.assertEqual(answers["a"], answers["c"], path)

        body = epoch_model(3)
        first = a.client.post("/v1/models", body, headers={"Idempotency-Key": "nodes-key-1"})
        self.assertStatus(first, 201)
        again = b.client.post("/v1/models", body, headers={"Idempotency-Key": "nodes-key-1"})
        self.assertStatus(again, 201)
        self.assertEqual(again.json, first.json, "the replay through another node")
        self.assertError(c.client.post("/v1/models", epoch_model(4), headers={"Idempotency-Key": "nodes-key-1"}),
                         409, "conflict", "Idempotency-Key")
        self.assertEqual(c.client.get("/v1/models").json["total"], 2, "the replay created nothing")

        c.stop()
        n = self.nodes(a.client)["c"]
        self.assertEqual((n["alive"], n["stopped"], n["running_jobs"]), (False, True, []), n)
        a.stop()
        b.stop()

    def test_a2_events_through_another_node(self):
        """SSE on a node that is not running the job follows the epochs the
        running node commits, to the final status event."""
        every = self.three_nodes()
        a = every["a"]
        x, y = epoch_data()
        data = self.create_dataset(a.client, x, y, name="events")
        model = self.create_model(a.client, epoch_model(1))
        job = self.submit_job(a.client, epoch_job(model["id"], data["id"]))
        running = self.wait_job(a.client, job["id"], statuses=("running",), timeout=T(30))
        watcher = every[sorted(set(every) - {running["node"]})[0]]
        r, events, raw = read_events(watcher.port, job["id"], timeout=T(30))
        self.assertEqual(r.status, 200, raw)
        epochs = [json.loads(e["data"])["epoch"] for e in events if e.get("event") == "epoch"]
        self.assertEqual(epochs, list(range(1, EPOCHS + 1)), "SSE epochs through a node not running the job")
        self.assertEqual(events[-1].get("event"), "status", events[-1])
        self.assertEqual(json.loads(events[-1]["data"])["status"], "succeeded")
        for s in every.values():
            s.stop()

    def test_a3_cancel_through_another_node(self):
        """A cancel POSTed to a node that is not running the job stops it."""
        every = self.three_nodes()
        a = every["a"]
        x, y = epoch_data()
        data = self.create_dataset(a.client, x, y, name="cancel")
        model = self.create_model(a.client, epoch_model(2))
        job = self.submit_job(every["b"].client, epoch_job(model["id"], data["id"], epochs=100000))
        running = self.wait_job(a.client, job["id"], statuses=("running",), min_epoch=1, timeout=T(30))
        other = every[sorted(set(every) - {running["node"]})[0]]
        sent = time.monotonic()
        r = other.client.post("/v1/jobs/%d/cancel" % job["id"])
        self.assertIn(r.status, (200, 202), r)
        done = self.wait_job(other.client, job["id"], statuses=("cancelled",), timeout=T(30))
        figure("cancel through another node: job cancelled %.2f s after the POST (heartbeat %d ms)" % (
            time.monotonic() - sent, HEARTBEAT_MS))
        self.assertEqual((done["node"], done["nodes"], done["attempts"]), (None, [running["node"]], 1), done)
        self.assertLess(done["epoch"], 100000)
        self.assertHistoryComplete(self.history(a.client, job["id"]), done["epoch"])
        for s in every.values():
            self.assertEqual(self.nodes(s.client)[running["node"]]["running_jobs"], [])
            s.stop()

    def test_b_sigkill_mid_epoch(self):
        count = 30 if FULL else 9
        ids = ["a", "b", "c"]
        seeds = [i % 3 for i in range(count)]
        collect = self.references(seeds)
        db, servers = self.cluster(ids)
        every = dict(zip(ids, servers))
        client = servers[0].client
        x, y = epoch_data()
        data = self.create_dataset(client, x, y, name="kill")
        jobs = {}
        for i, seed in enumerate(seeds):
            s = servers[i % 3]
            m = self.create_model(s.client, epoch_model(seed))
            jobs[self.submit_job(s.client, epoch_job(m["id"], data["id"]))["id"]] = seed

        # every node runs one; then the victim, mid-epoch
        def all_busy():
            nodes = self.nodes(client)
            return nodes if all(nodes[i]["running_jobs"] for i in ids) else None
        nodes = self.wait_for(all_busy, T(60), "every node to run a job", interval=0.05)
        victim = ids[1]
        victim_job = nodes[victim]["running_jobs"][0]
        j = self.wait_job(client, victim_job, statuses=("running",), min_epoch=1, timeout=T(30))
        self.assertEqual(j["node"], victim, "the job moved before the kill")
        self.assertLess(j["epoch"], EPOCHS, "the job ended before the kill")
        every[victim].kill()
        killed = time.monotonic()
        survivors = [i for i in ids if i != victim]
        live = every[survivors[0]].client

        def moved():
            jj = self.job(live, victim_job)
            return jj if jj["status"] != "running" or jj["node"] != victim else None
        jj = self.wait_for(moved, T(40), "the killed node's job to run elsewhere", interval=0.02)
        again = time.monotonic() - killed
        self.assertIn(jj["status"], ("running", "succeeded"), jj)
        figure("SIGKILL -> job %d running again on node %s: %.2f s (lease ttl %d ms, heartbeat %d ms, claim poll "
               "1 s; the survivors' single workers may have been busy with other jobs)" % (
                   victim_job, jj["node"] or jj["nodes"][-1], again, LEASE_TTL_MS, HEARTBEAT_MS))
        self.wait_for(lambda: not self.nodes(live)[victim]["alive"], T(30), "the killed node to show not alive")

        finals = {job_id: self.wait_job(live, job_id, timeout=T(300)) for job_id in jobs}
        refs = collect()
        ran = set()
        for job_id, done in finals.items():
            self.assertEqual(done["status"], "succeeded", done)
            self.assertHistoryComplete(self.history(live, job_id), EPOCHS, "job %d: every epoch once" % job_id)
            self.assertEqual(done["weights_sha256"], refs[jobs[job_id]],
                             "job %d (model seed %d) differs from the same job alone on SQLite%s" % (
                                 job_id, jobs[job_id], " (the killed node's job)" if job_id == victim_job else ""))
            self.assertIsNone(done["node"])
            ran.update(done["nodes"])
            if job_id == victim_job:
                self.assertEqual(len(done["nodes"]), 2, done)
                self.assertEqual(done["nodes"][0], victim, done)
                self.assertIn(done["nodes"][1], survivors, done)
                self.assertEqual(done["attempts"], 2, done)
            else:
                self.assertEqual(len(done["nodes"]), 1, done)
                self.assertEqual(done["attempts"], 1, done)
        for i in survivors:
            self.assertIn(i, ran, "surviving node %s ran no job" % i)
        for i in survivors:
            every[i].stop()

    def test_c_two_nodes_racing(self):
        count = 1000 if FULL else 100
        # every job is submitted before most are done: room in the queue for all
        db, (a, b) = self.cluster(["a", "b"], extra=["--queue", str(count + 10)])
        clients = [a.client, b.client]
        x, y = blobs(n=32, features=4, classes=2, seed=6)
        data = self.create_dataset(a.client, x, y, name="tiny")
        models = [None] * count
        jobs = [None] * count
        errors = []

        def run(work, threads=8):
            def loop(k):
                try:
                    for i in range(k, count, threads):
                        work(i)
                except BaseException as e:  # reported below
                    errors.append(e)
            ts = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(T(600))
            if errors:
                raise errors[0]

        def create(i):
            r = clients[i % 2].post("/v1/models", mlp_body(input_dim=4, hidden=(4,), outputs=2, seed=i, metrics=()))
            if r.status != 201:
                raise AssertionError("creating model %d: %r" % (i, r))
            models[i] = r.json["id"]
        run(create)

        def submit(i):
            r = clients[i % 2].post("/v1/jobs", {"model_id": models[i], "dataset_id": data["id"], "epochs": 1,
                                                 "batch_size": 32})
            if r.status != 202:
                raise AssertionError("submitting job %d: %r" % (i, r))
            jobs[i] = r.json["id"]
        start = time.monotonic()
        run(submit)

        def finished():
            for status in ("failed", "cancelled"):
                r = a.client.get("/v1/jobs?status=%s&limit=1" % status)
                self.assertStatus(r, 200)
                self.assertEqual(r.json["total"], 0, "%s jobs: %r" % (status, r.json["items"]))
            return a.client.get("/v1/jobs?status=succeeded&limit=1").json["total"] == count
        self.wait_for(finished, T(600), "every job to succeed", interval=0.05)
        wall = time.monotonic() - start
        figure("2 nodes x 1 worker on PostgreSQL: %d one-epoch jobs in %.2f s = %.1f jobs/s (submitted by 8 "
               "threads meanwhile)" % (count, wall, count / wall))

        items = self.list_jobs(b.client)
        self.assertEqual(sorted(j["id"] for j in items), sorted(jobs))
        per_node = {"a": 0, "b": 0}
        for j in items:
            self.assertEqual((j["status"], j["epoch"], j["attempts"], j["node"]), ("succeeded", 1, 1, None), j)
            self.assertEqual(len(j["nodes"]), 1, j)
            self.assertIn(j["nodes"][0], per_node, j)
            per_node[j["nodes"][0]] += 1
        figure("race: node a ran %d jobs, node b %d" % (per_node["a"], per_node["b"]))
        for name, n in per_node.items():
            self.assertGreater(n, 0, "node %s ran no job: %r" % (name, per_node))
        for job_id in jobs:
            self.assertHistoryComplete(self.history(clients[job_id % 2], job_id), 1, "job %d" % job_id)
        a.stop()
        b.stop()

    def test_d_postgres_restart_mid_training(self):
        epochs = 2 * EPOCHS
        collect = self.references([5], epochs=epochs)
        db, (a, b) = self.cluster(["a", "b"])
        servers = {"a": a, "b": b}
        x, y = epoch_data()
        data = self.create_dataset(a.client, x, y, name="restart")
        model = self.create_model(b.client, epoch_model(5))
        job = self.submit_job(a.client, epoch_job(model["id"], data["id"], epochs=epochs))
        j = self.wait_job(a.client, job["id"], statuses=("running",), min_epoch=3, timeout=T(60))
        self.assertLess(j["epoch"], epochs - 5, "the job is nearly done before the restart")

        answers = []       # (node, method, path, Response or OSError)
        stop = threading.Event()

        def probe():
            k = 0
            while not stop.is_set():
                for name, s in servers.items():
                    for method, path, body in (("GET", "/v1/jobs/%d" % job["id"], None), ("GET", "/v1/nodes", None),
                                               ("POST", "/v1/models", mlp_body(input_dim=2, hidden=(), outputs=1,
                                                                               out_act="linear", loss="mse",
                                                                               metrics=(), seed=k))):
                        k += 1
                        try:
                            r = s.client.request(method, path, json_body=body, timeout=T(60))
                        except OSError as e:
                            r = e
                        answers.append((name, method, path, r))
                time.sleep(0.02)
        t = threading.Thread(target=probe, daemon=True)
        t.start()
        time.sleep(0.3)
        began = time.monotonic()
        self.pg.restart()
        took = time.monotonic() - began
        time.sleep(1.5)
        stop.set()
        t.join(T(120))
        self.assertFalse(t.is_alive(), "a request hung after the restart")

        statuses = {}
        for name, method, path, r in answers:
            what = "%s %s through node %s during the restart" % (method, path, name)
            if isinstance(r, OSError):
                self.fail("%s: %s" % (what, r))
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 503:
                self.assertError(r, 503, "unavailable", ANY, what)
            else:
                self.assertIn(r.status, (200, 201), "%s: %r" % (what, r))
        figure("PostgreSQL restart (pg_ctl restart -m fast) took %.2f s; answers meanwhile: %s" % (
            took, ", ".join("%d x %d" % (n, st) for st, n in sorted(statuses.items()))))

        self.answers_once_back(servers)
        done = self.wait_end(b.client, job["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertHistoryComplete(self.history(a.client, job["id"]), epochs, "every epoch once through the restart")
        refs = collect()
        self.assertEqual(done["weights_sha256"], refs[5], "the job trained through a PostgreSQL restart differs "
                                                         "from the same job alone on SQLite")
        figure("PostgreSQL restart: the job ended after %d run(s) on %s" % (done["attempts"], done["nodes"]))
        self.after_outage(servers)

    def after_outage(self, servers):
        """The database is back: every node lists every node alive; each
        node then stops cleanly."""
        def all_alive(client):
            r = client.get("/v1/nodes")
            if r.status == 503:     # answers_once_back reports it
                self.assertError(r, 503, "unavailable", ANY)
                return False
            self.assertStatus(r, 200)
            return all(n["alive"] for n in r.json["items"])
        for name, s in servers.items():
            self.wait_for(lambda: all_alive(s.client), T(30), "every node alive again through node %s" % name)
        for s in servers.values():
            s.stop()

    def test_e_postgres_down_longer_than_the_lease(self):
        """PostgreSQL stopped for three leases mid-training: meanwhile writes
        answer 503 unavailable, the nodes' leases end and the job stops;
        once it is back the job is claimed again and ends as if never
        interrupted."""
        epochs = 2 * EPOCHS
        collect = self.references([6], epochs=epochs)
        db, (a, b) = self.cluster(["a", "b"])
        servers = {"a": a, "b": b}
        x, y = epoch_data()
        data = self.create_dataset(a.client, x, y, name="outage")
        model = self.create_model(b.client, epoch_model(6))
        job = self.submit_job(a.client, epoch_job(model["id"], data["id"], epochs=epochs))
        j = self.wait_job(a.client, job["id"], statuses=("running",), min_epoch=3, timeout=T(60))
        self.assertLess(j["epoch"], epochs - 5, "the job is nearly done before the outage")
        self.pg.stop_server()
        try:
            time.sleep(3 * LEASE_TTL_MS / 1000)
            for name, s in servers.items():
                r = s.client.post("/v1/models", epoch_model(7))
                self.assertError(r, 503, "unavailable", ANY, "a write through node %s while PostgreSQL is down" % name)
        finally:
            self.pg.start_again()
        self.answers_once_back(servers)
        done = self.wait_end(b.client, job["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded", done)
        self.assertHistoryComplete(self.history(a.client, job["id"]), epochs, "every epoch once through the outage")
        refs = collect()
        self.assertEqual(done["weights_sha256"], refs[6], "the job trained through a PostgreSQL outage differs "
                                                         "from the same job alone on SQLite")
        figure("PostgreSQL down %.1f s: the job ended after %d run(s) on %s" % (
            3 * LEASE_TTL_MS / 1000, done["attempts"], done["nodes"]))
        self.after_outage(servers)
