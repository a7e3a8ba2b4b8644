#!/usr/bin/env python3
"""crash_loop.py — fitd killed with SIGKILL at random moments, over and over.

    python3 tests/soak/crash_loop.py [--binary build/fitd] [--cycles 50]
        [--seed N] [--no-poison] [--no-reference]

Each cycle: start fitd on the same database -> three client threads create
datasets, models (each with one short training job, submitted with an
Idempotency-Key) and stored predictions, recording every write acknowledged
with a 2xx -> SIGKILL at a random moment (0.1..3 s after the start; one kill in
seven within 80 ms, during recovery and start-up) -> restart.

Between a kill and the restart, on a copy of what the crash left on disk:
PRAGMA integrity_check and foreign_key_check are clean; every acknowledged
dataset (ready, its row count), model, prediction and job is there; every
job's committed epochs are rows 1..epoch, each once, with one SSE epoch event
each; no job failed. A job submission that got no answer is retried after the
restart with the same Idempotency-Key (what a client on a flaky network does),
and every model ends with exactly one job.

fitd fails a job whose run was interrupted three times (attempts). These jobs
are short (well under a second of training), and the loop never kills while a
queued or running job already has two attempts: it waits for that job to end
first, so every job here must end succeeded. At the end: one last start, every
job ends succeeded with history 1..epochs, and — the strongest check — each
job is run again uninterrupted on a fresh server (same data, model seed and
job seed), and its loss curve and weights_sha256 must be identical: the crash
recovery resumed it exactly.

Separately (the poisonous job): a long job killed during each of 3 runs ends
failed with an error naming the 3 runs, is not retried, and the model can
train again.

Exit status 0 when every check passes.
"""
import argparse
import os
import random
import sqlite3
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report, db_ro, db_snapshot, integrity  # noqa: E402

FEATURES = 8
CLASSES = 4
FINAL = ("succeeded", "failed", "cancelled")


def model_body(seed, name):
    return {"name": name, "input_dim": FEATURES,
            "layers": [{"type": "dense", "units": 64, "activation": "relu"},
                       {"type": "dense", "units": 32, "activation": "relu"},
                       {"type": "dense", "units": CLASSES, "activation": "softmax"}],
            "loss": "sparse_categorical_crossentropy",
            "optimizer": {"type": "adam", "learning_rate": 0.005}, "metrics": ["accuracy"], "seed": seed}


def dataset_body(seed, rows, name):
    x, y = fitdlib.blobs(n=rows, features=FEATURES, classes=CLASSES, seed=seed)
    return {"name": name, "x": x, "y": y}


class Ledger:
    """Every write acknowledged with a 2xx, and what it takes to redo it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.datasets = {}     # id -> (seed, rows, name)
        self.models = {}       # id -> (seed, name)
        self.jobs = {}         # id -> (model_id, dataset_id, body)
        self.predictions = {}  # id -> model_id
        self.pending_jobs = []  # (key, body) submitted without an answer
        self.job_of_model = {}  # model_id -> job id
        self.errors = []       # unexpected (non-network) answers
        self.submitted = 0


def worker(srv, ledger, rng, stop, counters):
    port = srv.port
    while not stop.is_set():
        op = rng.random()
        try:
            time.sleep(rng.uniform(0.005, 0.03))
            if op < 0.25 and backlog(port) >= 4:
                op = 1.0  # keep the queue short: jobs must end within a cycle or two
            if op < 0.10:
                seed, rows = rng.randrange(1 << 30), rng.choice((1000, 2000))
                name = "ds-%d" % seed
                r = fitdlib.http(port, "POST", "/v1/datasets", dataset_body(seed, rows, name), timeout=20)
                if r.status == 201:
                    with ledger.lock:
                        ledger.datasets[r.json["id"]] = (seed, rows, name)
                else:
                    ledger.errors.append(("POST /v1/datasets", r.status, r.body[:200]))
            elif op < 0.25:
                with ledger.lock:
                    datasets = list(ledger.datasets)
                seed = rng.randrange(1 << 30)
                r = fitdlib.http(port, "POST", "/v1/models", model_body(seed, "m-%d" % seed), timeout=20)
                if r.status != 201:
                    ledger.errors.append(("POST /v1/models", r.status, r.body[:200]))
                    continue
                model_id = r.json["id"]
                with ledger.lock:
                    ledger.models[model_id] = (seed, "m-%d" % seed)
                job = {"model_id": model_id, "dataset_id": rng.choice(datasets),
                       "epochs": rng.randrange(20, 80), "batch_size": rng.choice((2, 4, 8)),
                       "validation_split": rng.choice((0.0, 0.2)), "seed": rng.randrange(1 << 30)}
                key = "job-%d-%d" % (model_id, seed)
                submit(port, ledger, key, job)
            else:
                with ledger.lock:
                    models = list(ledger.models)
                if not models:
                    continue
                mid = rng.choice(models)
                rows = [[round(rng.uniform(-2, 2), 3) for _ in range(FEATURES)] for _ in range(rng.randrange(1, 9))]
                r = fitdlib.http(port, "POST", "/v1/models/%d/predict" % mid, {"instances": rows}, timeout=20)
                if r.status == 200:
                    with ledger.lock:
                        ledger.predictions[r.json["id"]] = mid
                else:
                    ledger.errors.append(("POST predict", r.status, r.body[:200]))
            counters[0] += 1
        except OSError:
            counters[1] += 1  # the server died under us: nothing acknowledged
            time.sleep(0.02)
        except (ValueError, KeyError) as e:
            ledger.errors.append(("bad answer", type(e).__name__, str(e)[:200]))


def backlog(port):
    """Jobs queued or running."""
    return sum(fitdlib.http(port, "GET", "/v1/jobs?limit=1&status=" + s, timeout=20).json["total"]
               for s in ("queued", "running"))


def submit(port, ledger, key, job):
    with ledger.lock:
        ledger.submitted += 1
    try:
        r = fitdlib.http(port, "POST", "/v1/jobs", job, headers={"Idempotency-Key": key}, timeout=20)
    except OSError:
        with ledger.lock:
            ledger.pending_jobs.append((key, job))
        raise
    if r.status == 202:
        with ledger.lock:
            ledger.jobs[r.json["id"]] = (job["model_id"], job["dataset_id"], job)
            prev = ledger.job_of_model.setdefault(job["model_id"], r.json["id"])
            if prev != r.json["id"]:
                ledger.errors.append(("two jobs for model %d" % job["model_id"], prev, r.json["id"]))
    else:
        ledger.errors.append(("POST /v1/jobs", r.status, r.body[:200]))


def retry_pending(srv, ledger):
    with ledger.lock:
        pending, ledger.pending_jobs = ledger.pending_jobs, []
    for key, job in pending:
        try:
            submit(srv.port, ledger, key, job)
        except OSError:
            pass


def risky_jobs(db):
    """Jobs that a kill now could fail for good (a third interrupted run)."""
    if not os.path.exists(db):
        return 0
    c = db_ro(db)
    try:
        return c.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') "
                         "AND attempts >= 2").fetchone()[0]
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return 0  # not migrated yet
        raise
    finally:
        c.close()


def verify_snapshot(rep, cycle, path, into, ledger):
    """Checks what the crash left on disk; returns a list of problems."""
    problems = []
    conn = db_snapshot(path, into)
    try:
        ok, detail = integrity(conn)
        if not ok:
            problems.append("integrity_check: %r" % (detail,))
        with ledger.lock:
            datasets, models = dict(ledger.datasets), dict(ledger.models)
            jobs, predictions = dict(ledger.jobs), dict(ledger.predictions)
        have = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, state, n_samples FROM datasets")}
        for i, (seed, rows, name) in datasets.items():
            if have.get(i) != ("ready", rows):
                problems.append("acknowledged dataset %d: %r" % (i, have.get(i)))
        have = {r[0] for r in conn.execute("SELECT id FROM models")}
        problems += ["acknowledged model %d missing" % i for i in models if i not in have]
        have = {r[0]: r[1] for r in conn.execute("SELECT id, model_id FROM predictions")}
        problems += ["acknowledged prediction %d missing" % i for i, m in predictions.items() if have.get(i) != m]
        have = {r[0]: r[1:] for r in conn.execute("SELECT id, model_id, status, epoch, epochs FROM jobs")}
        problems += ["acknowledged job %d missing" % i for i in jobs if i not in have]
        for jid, (model_id, status, epoch, epochs) in have.items():
            rows = [r[0] for r in conn.execute("SELECT epoch FROM job_epochs WHERE job_id = ? ORDER BY epoch",
                                               (jid,))]
            events = conn.execute("SELECT count(*) FROM job_events WHERE job_id = ? AND kind = 'epoch'",
                                  (jid,)).fetchone()[0]
            if rows != list(range(1, epoch + 1)) or events != epoch:
                problems.append("job %d: epoch %d, %d history rows (first %r), %d epoch events" % (
                    jid, epoch, len(rows), rows[:3], events))
            if status == "failed":
                err = conn.execute("SELECT error, attempts FROM jobs WHERE id = ?", (jid,)).fetchone()
                problems.append("job %d failed: %r" % (jid, err))
            if status == "succeeded" and epoch != epochs:
                problems.append("job %d succeeded with %d of %d epochs" % (jid, epoch, epochs))
        per_model = conn.execute("SELECT model_id, count(*) FROM jobs GROUP BY model_id HAVING count(*) > 1").fetchall()
        if per_model:
            problems.append("models with several jobs: %r" % per_model[:5])
    finally:
        conn.close()
    return problems


def crash_loop(rep, binary, cycles, rng):
    d = fitdlib.tmpdir("crash")
    db = os.path.join(d, "fitd.db")
    srv = Fitd(db, binary=binary, workers=2, args=["--commit-interval-ms", "100"])
    ledger = Ledger()
    ledger.db = db
    srv.start()
    # a few datasets to train on from the first cycle
    for i in range(3):
        r = srv.post("/v1/datasets", dataset_body(1000 + i, 1000, "base-%d" % i))
        assert r.status == 201, r
        ledger.datasets[r.json["id"]] = (1000 + i, 1000, "base-%d" % i)
    srv.kill()
    passed = 0
    kills_before_listen = waited = 0
    ops = [0, 0]
    t_start = time.monotonic()
    for cycle in range(1, cycles + 1):
        srv.spawn()
        spawned = time.monotonic()
        # some kills land during recovery and start-up, most while serving
        delay = rng.uniform(0.002, 0.08) if rng.random() < 0.15 else rng.uniform(0.1, 3.0)
        stop = threading.Event()
        threads = []
        try:
            srv.wait_listening(timeout=max(0.01, delay))
        except RuntimeError:
            pass
        if srv.port:
            retry_pending(srv, ledger)
            for i in range(3):
                t = threading.Thread(target=worker, args=(srv, ledger, random.Random(rng.random()), stop, ops),
                                     daemon=True)
                t.start()
                threads.append(t)
        else:
            kills_before_listen += 1
        while time.monotonic() - spawned < delay:
            time.sleep(0.005)
        # never a third interrupted run: wait for such jobs to end first
        if risky_jobs(db):
            waited += 1
            deadline = time.monotonic() + 120
            while risky_jobs(db) and time.monotonic() < deadline and srv.running():
                time.sleep(0.02)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(30)
        problems = verify_snapshot(rep, cycle, db, os.path.join(d, "snap"), ledger)
        if problems:
            rep.check("cycle %d: database after the kill" % cycle, False, "; ".join(problems[:6]))
            print(srv.log()[-2000:])
        else:
            passed += 1
        if cycle % 10 == 0 or cycle == cycles:
            print("  cycle %d/%d: %d datasets, %d models, %d jobs, %d predictions acknowledged" % (
                cycle, cycles, len(ledger.datasets), len(ledger.models), len(ledger.jobs),
                len(ledger.predictions)), flush=True)
    rep.check("crash loop: every cycle's database is intact with every acknowledged write", passed == cycles,
              "%d of %d cycles" % (passed, cycles))
    rep.figure("crash-loop cycles passed", "%d/%d in %.0f s (%d killed before listening, %d waited for a "
               "2-attempt job)" % (passed, cycles, time.monotonic() - t_start, kills_before_listen, waited))
    rep.figure("acknowledged writes", "%d datasets, %d models, %d jobs, %d predictions; %d requests ok, "
               "%d cut by a kill" % (len(ledger.datasets), len(ledger.models), len(ledger.jobs),
                                     len(ledger.predictions), ops[0], ops[1]))
    rep.check("no unexpected answer (only 2xx or a cut connection)", not ledger.errors, repr(ledger.errors[:4]))

    # the last start: everything finishes
    srv.start()
    retry_pending(srv, ledger)
    try:
        fitdlib.wait_for(lambda: srv.get("/v1/jobs?status=queued").json["total"] == 0 and
                         srv.get("/v1/jobs?status=running").json["total"] == 0, 300, "every job to end", 0.2)
    except AssertionError as e:
        rep.check("every job ends", False, str(e))
    bad, checked, attempts_hist = [], 0, {}
    with ledger.lock:
        jobs = dict(ledger.jobs)
    for jid, (model_id, dataset_id, body) in sorted(jobs.items()):
        j = srv.get("/v1/jobs/%d" % jid).json
        attempts_hist[j.get("attempts")] = attempts_hist.get(j.get("attempts"), 0) + 1
        hist = srv.get("/v1/jobs/%d/history" % jid).json["epochs"]
        numbers = [e["epoch"] for e in hist]
        if j["status"] != "succeeded" or numbers != list(range(1, body["epochs"] + 1)) or not j["weights_sha256"]:
            bad.append((jid, j["status"], j.get("error"), numbers[:3], len(numbers), body["epochs"]))
        checked += 1
    rep.check("every acknowledged job ends succeeded with history 1..epochs, once each", not bad and checked,
              "%d jobs; bad: %r" % (checked, bad[:3]))
    rep.figure("jobs by attempts (runs started)", ", ".join("%s: %d" % kv for kv in sorted(attempts_hist.items())))
    with ledger.lock:
        models = dict(ledger.models)
    missing = [m for m in models if srv.get("/v1/models/%d" % m).status != 200]
    rep.check("every acknowledged model is served", not missing, repr(missing[:5]))
    with ledger.lock:
        preds = dict(ledger.predictions)
    sample = list(preds)[:200]
    missing = [p for p in sample if srv.get("/v1/predictions/%d" % p).status != 200]
    rep.check("acknowledged predictions are served (first 200)", not missing, repr(missing[:5]))
    r = srv.get("/v1/jobs?limit=500")
    per_model = {}
    for j in r.json["items"]:
        per_model[j["model_id"]] = per_model.get(j["model_id"], 0) + 1
    dup = {m: n for m, n in per_model.items() if n > 1}
    rep.check("one job per model despite retried submissions (Idempotency-Key)", not dup and
              r.json["total"] == len(jobs), "%d jobs listed, %d acknowledged, duplicates %r" % (
                  r.json["total"], len(jobs), dup))
    code = srv.stop()
    rep.check("SIGTERM after the loop: exit 0", code == 0, "exit %s" % code)
    conn = db_snapshot(db, os.path.join(d, "snap"))
    ok, detail = integrity(conn)
    conn.close()
    rep.check("integrity_check after the loop", ok, repr(detail))
    return ledger, jobs


def reference_run(rep, binary, ledger, jobs, limit):
    """Runs jobs again on a fresh server, uninterrupted, and compares."""
    d = fitdlib.tmpdir("crash-ref")
    srv = Fitd(os.path.join(d, "fitd.db"), binary=binary, workers=2).start()
    ds_map = {}
    mismatches, compared = [], 0
    # the jobs a crash interrupted first
    with db_ro(ledger.db) as c:
        order = [r[0] for r in c.execute("SELECT id FROM jobs ORDER BY attempts DESC, id")]
    interrupted = 0
    for jid in [j for j in order if j in jobs][:limit]:
        model_id, dataset_id, body = jobs[jid]
        seed, rows, name = ledger.datasets[dataset_id]
        if dataset_id not in ds_map:
            r = srv.post("/v1/datasets", dataset_body(seed, rows, name))
            ds_map[dataset_id] = r.json["id"]
        mseed, mname = ledger.models[model_id]
        m = srv.post("/v1/models", model_body(mseed, mname)).json["id"]
        job = dict(body, model_id=m, dataset_id=ds_map[dataset_id])
        r = srv.post("/v1/jobs", job)
        ref = fitdlib.wait_job(srv, r.json["id"], timeout=120)
        with db_ro(ledger.db) as c:
            interrupted += c.execute("SELECT attempts > 1 FROM jobs WHERE id = ?", (jid,)).fetchone()[0]
        # both runs as stored (REAL columns, compared exactly)
        query = ("SELECT epoch, loss, accuracy, val_loss, val_accuracy FROM job_epochs WHERE job_id = ? "
                 "ORDER BY epoch")
        mismatches_here = []
        with db_ro(ledger.db) as c:
            sha = c.execute("SELECT weights_sha256 FROM jobs WHERE id = ?", (jid,)).fetchone()[0]
            hist = c.execute(query, (jid,)).fetchall()
        with db_ro(srv.db) as c:
            ref_hist = c.execute(query, (ref["id"],)).fetchall()
        if sha != ref["weights_sha256"]:
            mismatches_here.append("weights_sha256 %s vs %s" % (sha, ref["weights_sha256"]))
        if hist != ref_hist or len(hist) != body["epochs"]:
            mismatches_here.append("loss curve differs (%d vs %d epochs)" % (len(hist), len(ref_hist)))
        if mismatches_here:
            mismatches.append((jid, mismatches_here))
        compared += 1
    srv.stop()
    rep.check("crash-interrupted jobs end exactly as uninterrupted ones (loss curve, weights_sha256)",
              not mismatches and compared, "%d compared (%d of them interrupted); %r" % (
                  compared, interrupted, mismatches[:3]))


def poison(rep, binary):
    """A long job killed during each of three runs is failed, not retried."""
    d = fitdlib.tmpdir("poison")
    srv = Fitd(os.path.join(d, "fitd.db"), binary=binary, workers=1).start()
    ds = srv.post("/v1/datasets", dataset_body(5, 2000, "poison")).json["id"]
    m = srv.post("/v1/models", model_body(5, "poison")).json["id"]
    job = srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 100000, "batch_size": 8}).json["id"]
    runs = []
    for run in range(1, 4):
        j = fitdlib.wait_for(lambda: (lambda x: x if x["status"] == "running" and x["attempts"] == run else None)(
            srv.get("/v1/jobs/%d" % job).json), 30, "run %d of the long job" % run)
        time.sleep(0.3 + 0.2 * run)
        runs.append((j["attempts"], srv.get("/v1/jobs/%d" % job).json["epoch"]))
        srv.kill()
        srv.start()
    j = srv.get("/v1/jobs/%d" % job).json
    rep.check("poisonous job: failed after 3 interrupted runs", j["status"] == "failed" and j["attempts"] == 3,
              "status %s, attempts %s" % (j["status"], j.get("attempts")))
    rep.check("poisonous job: the error names the 3 runs", bool(j.get("error")) and "3" in j["error"],
              repr(j.get("error")))
    time.sleep(1.5)
    j2 = srv.get("/v1/jobs/%d" % job).json
    running = srv.get("/v1/jobs?status=running").json["total"]
    rep.check("poisonous job: not retried (still failed, nothing running, same attempts)",
              j2["status"] == "failed" and j2["attempts"] == 3 and running == 0,
              "status %s, attempts %s, running %d" % (j2["status"], j2["attempts"], running))
    hist = srv.get("/v1/jobs/%d/history" % job).json["epochs"]
    rep.check("poisonous job: its committed epochs are kept, each once",
              [e["epoch"] for e in hist] == list(range(1, j2["epoch"] + 1)),
              "epoch %d, %d history rows" % (j2["epoch"], len(hist)))
    model = srv.get("/v1/models/%d" % m).json
    rep.check("poisonous job: the model is not left 'training'", model["status"] != "training", model["status"])
    r = srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 2, "batch_size": 64})
    ok = r.status == 202 and fitdlib.wait_job(srv, r.json["id"], 60)["status"] == "succeeded"
    rep.check("poisonous job: the model trains again afterwards", ok, repr(r)[:200])
    rep.figure("poisonous job: (attempts, epoch) at each kill", repr(runs))
    srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None, help="the kill schedule's seed (printed)")
    ap.add_argument("--no-poison", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the databases (printed) for inspection")
    ap.add_argument("--reference-jobs", type=int, default=40, help="jobs re-run uninterrupted for comparison")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print("crash loop: %d cycles, seed %d" % (a.cycles, seed), flush=True)
    rng = random.Random(seed)
    rep = Report("crash loop")
    try:
        ledger, jobs = crash_loop(rep, a.binary, a.cycles, rng)
        if not a.no_reference:
            reference_run(rep, a.binary, ledger, jobs, a.reference_jobs)
        if not a.no_poison:
            poison(rep, a.binary)
    except Exception as e:
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        if a.keep or not rep.ok:
            fitdlib.keep_dirs()  # a failure's databases and logs stay for inspection
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
