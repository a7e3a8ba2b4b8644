#!/usr/bin/env python3
"""idempotency.py — concurrent retries with one Idempotency-Key.

    python3 tests/soak/idempotency.py [--binary build/fitd] [--rounds 10] [--clients 50]

Each round, CLIENTS threads released together by a barrier POST the same job
(a fresh model each round) with the same Idempotency-Key, each on its own
connection: every answer must be 202 naming one and the same job, and exactly
one job must exist for the model (API and database agree). The same for
POST /v1/models and POST /v1/datasets (JSON and streamed CSV): one resource
per key. A reused key with a different body is a 409; a key after the 24 h
window is not tested here.

Exit status 0 when every check passes.
"""
import argparse
import os
import sys
import threading
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report, db_ro  # noqa: E402


def storm(port, n, method, path, body, headers):
    """n requests released at once; returns [(status, json or None)]."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        try:
            barrier.wait(10)
            r = fitdlib.http(port, method, path, body, headers, timeout=60)
            try:
                out[i] = (r.status, r.json)
            except ValueError:
                out[i] = (r.status, None)
        except Exception as e:  # noqa: BLE001 — a failed request is a result
            out[i] = ("error", repr(e))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out


def one_id(results, status):
    statuses = sorted(set(str(s) for s, _ in results))
    ids = set(j.get("id") for s, j in results if s == status and isinstance(j, dict))
    ok = statuses == [str(status)] and len(ids) == 1
    return ok, ids, statuses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=50)
    a = ap.parse_args()
    fitdlib.raise_fd_limit()
    rep = Report("idempotency")
    try:
        d = fitdlib.tmpdir("idem")
        srv = Fitd(os.path.join(d, "fitd.db"), binary=a.binary, workers=2).start()
        x, y = fitdlib.blobs(n=200)
        ds = srv.post("/v1/datasets", {"name": "idem", "x": x, "y": y}).json["id"]
        good = 0
        for rnd in range(a.rounds):
            m = srv.post("/v1/models", fitdlib.tutorial_model(name="idem-%d" % rnd)).json["id"]
            job = {"model_id": m, "dataset_id": ds, "epochs": 3, "batch_size": 32}
            res = storm(srv.port, a.clients, "POST", "/v1/jobs", job, {"Idempotency-Key": "job-round-%d" % rnd})
            ok, ids, statuses = one_id(res, 202)
            listed = srv.get("/v1/jobs?model_id=%d" % m).json["total"]
            with db_ro(srv.db) as c:
                stored = c.execute("SELECT count(*) FROM jobs WHERE model_id = ?", (m,)).fetchone()[0]
            if ok and listed == 1 and stored == 1:
                good += 1
            else:
                rep.check("round %d: %d concurrent POST /v1/jobs, one key" % (rnd, a.clients), False,
                          "statuses %s, ids %s, listed %d, stored %d" % (statuses, ids, listed, stored))
        rep.check("%d concurrent POST /v1/jobs with one Idempotency-Key create exactly one job (all 202, same id)"
                  % a.clients, good == a.rounds, "%d of %d rounds" % (good, a.rounds))
        rep.figure("idempotent job rounds passed", "%d/%d x %d clients" % (good, a.rounds, a.clients))

        body = fitdlib.tutorial_model(name="idem-model")
        res = storm(srv.port, a.clients, "POST", "/v1/models", body, {"Idempotency-Key": "model-key"})
        ok, ids, statuses = one_id(res, 201)
        n = srv.get("/v1/models?limit=500").json["items"]
        rep.check("%d concurrent POST /v1/models, one key: one model" % a.clients,
                  ok and sum(1 for i in n if i["name"] == "idem-model") == 1, "statuses %s ids %s" % (statuses, ids))

        body = {"name": "idem-json", "x": x, "y": y}
        res = storm(srv.port, a.clients, "POST", "/v1/datasets", body, {"Idempotency-Key": "dataset-key"})
        ok, ids, statuses = one_id(res, 201)
        n = srv.get("/v1/datasets?limit=500").json["items"]
        rep.check("%d concurrent POST /v1/datasets (JSON), one key: one dataset" % a.clients,
                  ok and sum(1 for i in n if i["name"] == "idem-json") == 1, "statuses %s ids %s" % (statuses, ids))

        csv = fitdlib.csv_text(x, y)
        res = storm(srv.port, a.clients, "POST", "/v1/datasets?name=idem-csv&label=target", csv,
                    {"Idempotency-Key": "csv-key", "Content-Type": "text/csv"})
        ok, ids, statuses = one_id(res, 201)
        n = srv.get("/v1/datasets?limit=500").json["items"]
        with db_ro(srv.db) as c:
            leftovers = c.execute("SELECT count(*) FROM datasets WHERE state != 'ready'").fetchone()[0]
        rep.check("%d concurrent POST /v1/datasets (CSV), one key: one dataset, no leftover upload" % a.clients,
                  ok and sum(1 for i in n if i["name"] == "idem-csv") == 1 and leftovers == 0,
                  "statuses %s ids %s leftovers %d" % (statuses, ids, leftovers))

        m = srv.post("/v1/models", fitdlib.tutorial_model(name="idem-conflict")).json["id"]
        job = {"model_id": m, "dataset_id": ds, "epochs": 1}
        r1 = srv.post("/v1/jobs", job, headers={"Idempotency-Key": "conflict"})
        r2 = srv.post("/v1/jobs", dict(job, epochs=2), headers={"Idempotency-Key": "conflict"})
        rep.check("the same key with another body: 409", r1.status == 202 and r2.status == 409,
                  "%s then %s" % (r1.status, r2.status))
        code = srv.stop()
        rep.check("SIGTERM: exit 0", code == 0, "exit %s" % code)
    except Exception as e:
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
