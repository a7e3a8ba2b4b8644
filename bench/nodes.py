#!/usr/bin/env python3
"""nodes.py — fitd over PostgreSQL against fitd on SQLite, in one run (issue 15).

Starts a real PostgreSQL 15 (tests/pg/pgserver.py, fsync on) and fitd nodes
(--workers 1 each) on fresh databases, and reports:

  queue      one-epoch tiny jobs claimed and finished per second: 1 node on
             SQLite, 1, 2 and 3 nodes over one PostgreSQL database (--jobs
             jobs, one model each, all submitted first, timed from the first
             claim to the last end as the jobs' started_at/finished_at and the
             wall clock see them)
  latency    API p50/p99 on one node: GET /v1/jobs/{id} (a read) and POST
             /v1/models (a write transaction), --requests each, sequential
  training   samples/s of one training job (the job's samples_per_second)
  failover   2 nodes over PostgreSQL (--lease-ttl-ms 3000, --heartbeat-ms 500):
             a node SIGKILLed while it trains a job; seconds until the job runs
             again on the other node (goal: <= lease TTL + one epoch), and that
             it ends with the same weights_sha256 as the same job run alone,
             uninterrupted, on SQLite

  python3 bench/nodes.py [--binary build/fitd] [--jobs 200] [--requests 500]

Ratios are to 1 node on SQLite in the same run. The machine: shared, so read
ratios, not absolute figures. Standard library only.
"""
import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))
sys.dont_write_bytecode = True

import harness  # noqa: E402
import pgserver  # noqa: E402

TTL_MS, HEARTBEAT_MS = 3000, 500
EPOCHS = 300  # of 20,000 rows: a few seconds of training
FAILOVER_EPOCHS = 1000


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def nodes_on(db, n, name):
    return [harness.Server(args=["--lease-ttl-ms", str(TTL_MS), "--heartbeat-ms", str(HEARTBEAT_MS)], db=db,
                           workers=1, name="%s%d" % (name, i)).start() for i in range(n)]


def stop_all(servers):
    for s in servers:
        if s.running():
            s.stop()


def ok(r, status):
    if r.status != status:
        raise SystemExit("nodes.py: %s answered %d: %s" % (r, r.status, r.text))
    return r.json


def wait_jobs(client, ids, timeout):
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending:
        for i in list(pending):
            if ok(client.get("/v1/jobs/%d" % i), 200)["status"] in ("succeeded", "failed", "cancelled"):
                pending.discard(i)
        if time.monotonic() > deadline:
            raise SystemExit("nodes.py: %d jobs did not finish in time" % len(pending))
        time.sleep(0.05)


def queue_rate(servers, n_jobs):
    """Jobs per second from the first submit to the last end."""
    c = servers[0].client
    x, y = harness.blobs(n=32, features=4, classes=2, seed=3)
    ds = ok(c.post("/v1/datasets", {"name": "tiny", "x": x, "y": y}), 201)["id"]
    models = [ok(c.post("/v1/models", harness.mlp_body(input_dim=4, hidden=(8,), outputs=2, seed=i)), 201)["id"]
              for i in range(n_jobs)]
    t0 = time.monotonic()
    ids = [ok(c.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 1, "batch_size": 32}), 202)["id"]
           for m in models]
    wait_jobs(c, ids, 600)
    wall = time.monotonic() - t0
    ran = {}
    for i in ids:
        for n in ok(c.get("/v1/jobs/%d" % i), 200)["nodes"]:
            ran[n] = ran.get(n, 0) + 1
    return n_jobs / wall, ran


def latency(server, n):
    c = server.client
    job_ids = [j["id"] for j in ok(c.get("/v1/jobs?limit=1"), 200)["items"]]
    reads, writes = [], []
    for i in range(n):
        t = time.perf_counter()
        ok(c.get("/v1/jobs/%d" % job_ids[0]), 200)
        reads.append(time.perf_counter() - t)
    for i in range(n):
        t = time.perf_counter()
        ok(c.post("/v1/models", harness.mlp_body(input_dim=4, hidden=(8,), outputs=2, seed=10_000 + i)), 201)
        writes.append(time.perf_counter() - t)

    def p(v, q):
        v = sorted(v)
        return v[min(len(v) - 1, int(q * len(v)))] * 1000
    return {"read_p50": p(reads, 0.5), "read_p99": p(reads, 0.99), "write_p50": p(writes, 0.5),
            "write_p99": p(writes, 0.99)}


def training_rate(server, seed=1):
    c = server.client
    x, y = harness.blobs(n=20000, features=32, classes=10, seed=5)
    ds = ok(c.post("/v1/datasets", {"name": "train", "x": x, "y": y}), 201)["id"]
    m = ok(c.post("/v1/models", harness.mlp_body(input_dim=32, hidden=(64, 64), outputs=10, seed=seed)), 201)["id"]
    j = ok(c.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": EPOCHS, "batch_size": 32}), 202)["id"]
    wait_jobs(c, [j], 600)
    job = ok(c.get("/v1/jobs/%d" % j), 200)
    return job["samples_per_second"], job["weights_sha256"]


def failover(pg):
    db = pg.create_database("bench_failover")
    servers = nodes_on(db, 2, "fail")
    try:
        c = servers[0].client
        x, y = harness.blobs(n=20000, features=32, classes=10, seed=5)
        ds = ok(c.post("/v1/datasets", {"name": "train", "x": x, "y": y}), 201)["id"]
        m = ok(c.post("/v1/models", harness.mlp_body(input_dim=32, hidden=(64, 64), outputs=10, seed=1)), 201)["id"]
        j = ok(c.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": FAILOVER_EPOCHS, "batch_size": 32}),
               202)["id"]
        while True:
            job = ok(c.get("/v1/jobs/%d" % j), 200)
            if job["status"] == "running" and job["epoch"] >= 20:
                break
            if job["status"] != "queued" and job["status"] != "running":
                raise SystemExit("nodes.py: the failover job ended before the kill: %r" % job)
            time.sleep(0.02)
        victim = next(s for s in servers if s.node_id == job["node"])
        other = next(s for s in servers if s is not victim)
        time.sleep(0.3)  # mid-epoch
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        killed = time.monotonic()
        while True:
            job = ok(other.client.get("/v1/jobs/%d" % j), 200)
            if job["status"] == "running" and job["node"] == other.node_id:
                break
            time.sleep(0.02)
        again = time.monotonic() - killed
        wait_jobs(other.client, [j], 600)
        job = ok(other.client.get("/v1/jobs/%d" % j), 200)
        # the same job alone, uninterrupted, on a SQLite node
        alone = nodes_on(None, 1, "alone")[0]
        try:
            ca = alone.client
            ds = ok(ca.post("/v1/datasets", {"name": "train", "x": x, "y": y}), 201)["id"]
            m = ok(ca.post("/v1/models", harness.mlp_body(input_dim=32, hidden=(64, 64), outputs=10, seed=1)),
                   201)["id"]
            ja = ok(ca.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": FAILOVER_EPOCHS,
                                         "batch_size": 32}), 202)["id"]
            wait_jobs(ca, [ja], 600)
            reference = ok(ca.get("/v1/jobs/%d" % ja), 200)["weights_sha256"]
        finally:
            alone.stop()
        return again, job["weights_sha256"] == reference, job["nodes"], job["attempts"]
    finally:
        stop_all(servers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "fitd"))
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()
    harness.Config.binary = os.path.abspath(args.binary)
    print("CPU: %s, %d CPUs; OpenBLAS kernels as fitd picks them" % (cpu_name(), os.cpu_count()))
    pg = pgserver.PgServer()
    pg.start()
    try:
        rows = []
        sqlite = nodes_on(None, 1, "sqlite")
        try:
            rate, _ = queue_rate(sqlite, args.jobs)
            lat_sqlite = latency(sqlite[0], args.requests)
        finally:
            stop_all(sqlite)
        rows.append(("SQLite, 1 node", rate))
        for n in (1, 2, 3):
            servers = nodes_on(pg.create_database("bench_q%d" % n), n, "pg%d-" % n)
            try:
                r, ran = queue_rate(servers, args.jobs)
                if n == 1:
                    lat_pg = latency(servers[0], args.requests)
            finally:
                stop_all(servers)
            rows.append(("PostgreSQL, %d node%s (jobs per node: %s)" % (n, "s" if n > 1 else "",
                                                                      ", ".join(str(v) for v in sorted(ran.values()))), r))
        print("\nqueue: %d one-epoch tiny jobs, --workers 1 per node" % args.jobs)
        base = rows[0][1]
        for name, r in rows:
            print("  %-55s %7.1f jobs/s  %.2fx" % (name, r, r / base))
        print("\nAPI latency on one node, %d sequential requests each (ms):" % args.requests)
        for key in ("read_p50", "read_p99", "write_p50", "write_p99"):
            print("  %-10s SQLite %7.2f   PostgreSQL %7.2f   %.2fx" % (key, lat_sqlite[key], lat_pg[key],
                                                                   lat_pg[key] / lat_sqlite[key]))
        # training: a SQLite node and a PostgreSQL node up together, the same
        # job on each in turn, three times; the best of each (the machine is shared)
        lite = nodes_on(None, 1, "train-lite")[0]
        pgn = nodes_on(pg.create_database("bench_train"), 1, "train-pg")[0]
        try:
            rates = {"SQLite": [], "PostgreSQL": []}
            shas = set()
            for _ in range(3):
                for name, srv in (("SQLite", lite), ("PostgreSQL", pgn)):
                    rate, sha = training_rate(srv)
                    rates[name].append(rate)
                    shas.add(sha)
        finally:
            stop_all([lite, pgn])
        best = {k: max(v) for k, v in rates.items()}
        print("\ntraining, 20,000 x 32 -> 64 -> 64 -> 10, batch 32, %d epochs, best of 3 alternating runs:" % EPOCHS)
        print("  SQLite %.0f samples/s, PostgreSQL %.0f samples/s: %.3fx (runs: %s); weights equal: %s" %
              (best["SQLite"], best["PostgreSQL"], best["PostgreSQL"] / best["SQLite"],
               "; ".join("%s %s" % (k, ", ".join("%.0f" % r for r in v)) for k, v in rates.items()),
               len(shas) == 1))
        again, same, nodes, attempts = failover(pg)
        print("\nfailover: SIGKILL mid-epoch to running again on the other node: %.2f s (lease TTL %.1f s, "
              "heartbeat %.1f s); weights equal to the uninterrupted run: %s; nodes %s, attempts %d" %
              (again, TTL_MS / 1000, HEARTBEAT_MS / 1000, same, nodes, attempts))
    finally:
        for s in harness.ALL_SERVERS:
            s.cleanup()
        pg.stop()
        if harness.Config.tmp_root:
            import shutil
            shutil.rmtree(harness.Config.tmp_root, ignore_errors=True)


if __name__ == "__main__":
    main()
