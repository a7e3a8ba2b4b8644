#!/usr/bin/env python3
"""predict_speed.py — one-row predict at HTTP speed, against a bare libmicrohttpd handler.

    python3 tests/load/predict_speed.py [--binary build/fitd] [--bare build/bare]
        [--seconds 10] [--connections 64,256] [--threads 2]

(tests/load/run_predict_speed.sh builds both binaries and installs wrk first.)

Starts build/bare (tests/load/bare.c: libmicrohttpd answering a fixed JSON
body, started as fitd starts its own, with the same thread-pool size) and fitd
on a fresh database with the README's tutorial model (Dense 25 relu, 15 relu,
4 softmax) trained for a few epochs. Then runs wrk, one after the other, in
this one run, at each connection count (64 and 256 by default):

  bare handler                        (the baseline)
  POST /v1/models/{id}/predict?store=false
  POST /v2/models/{id}/infer          parameters.store false
  POST /v1/models/{id}/predict        (every prediction durably stored)
  POST /v2/models/{id}/infer          (every prediction durably stored)
  bare handler                        (again: the baseline's drift)

each with a one-row body. A stored prediction is answered once its batch is
committed (one fsync per batch): with a closed loop of C clients a commit
carries at most C predictions, so stored req/s grow with C where the bare
handler's do not. Every run must have 0 non-2xx answers and 0 socket
errors. Prints req/s, p50/p99 and req/s as a fraction of the bare handler
(the mean of its two runs), with the issue's targets (>= 0.30 without store,
>= 0.15 stored) shown beside them. The figures are printed, not asserted:
they depend on the machine and what else runs on it.
"""
import argparse
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "soak"))
sys.path.insert(0, HERE)
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report  # noqa: E402
from load import wrk  # noqa: E402


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--bare", default=os.path.join(HERE, "..", "..", "build", "bare"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", default="64,256", help="comma-separated connection counts")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--http-threads", type=int, default=0,
                    help="fitd's --http-threads and the bare pool size (0: fitd's default, 2 x cores, at least 4)")
    a = ap.parse_args()
    fitdlib.raise_fd_limit()
    rep = Report("predict_speed")
    conns, S = [int(c) for c in a.connections.split(",")], a.seconds
    pool = a.http_threads or max(4, 2 * (os.cpu_count() or 1))
    bare = None
    try:
        d = fitdlib.tmpdir("speed")
        srv = Fitd(os.path.join(d, "fitd.db"), binary=a.binary, workers=2,
                   args=["--http-threads", str(pool)]).start()
        bare_port = free_port()
        bare = subprocess.Popen([a.bare, str(bare_port), str(pool)], stdout=subprocess.PIPE, text=True)
        line = bare.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError("build/bare did not start: %r" % line)
        x, y = fitdlib.blobs(n=2000)
        ds = srv.post("/v1/datasets", {"name": "speed", "x": x, "y": y}).json["id"]
        model = srv.post("/v1/models", fitdlib.tutorial_model(name="tutorial")).json["id"]
        j = srv.post("/v1/jobs", {"model_id": model, "dataset_id": ds, "epochs": 5}).json["id"]
        fitdlib.wait_job(srv, j, 120)
        row = [round(v, 3) for v in x[0]]
        v1 = {"instances": [row]}
        v2 = {"inputs": [{"name": "input", "shape": [1, len(row)], "datatype": "FP32", "data": row}]}
        v2_nostore = dict(v2, parameters={"store": False})
        predict = "/v1/models/%d/predict" % model
        infer = "/v2/models/%d/infer" % model
        # Both answer, and /v2 gives /v1's numbers, before anything is timed.
        p1 = srv.post(predict + "?store=false", v1).json["predictions"][0]
        p2 = srv.post(infer, v2_nostore).json["outputs"][0]["data"]
        rep.check("/v2 infer gives /v1 predict's outputs", p1 == p2, "%s vs %s" % (p1, p2))
        tables = []
        for C in conns:
            runs = [
                ("bare libmicrohttpd handler", bare_port, "/", "POST", v1, None),
                ("POST /v1 predict ?store=false", srv.port, predict + "?store=false", "POST", v1, 0.30),
                ("POST /v2 infer store false", srv.port, infer, "POST", v2_nostore, 0.30),
                ("POST /v1 predict (stored)", srv.port, predict, "POST", v1, 0.15),
                ("POST /v2 infer (stored)", srv.port, infer, "POST", v2, 0.15),
                ("bare libmicrohttpd handler", bare_port, "/", "POST", v1, None),
            ]
            results = []
            before = srv.get("/v1/models/%d/predictions?limit=1" % model).json["total"]
            for name, port, path, method, body, target in runs:
                print("wrk: %-30s %4d connections, %d s" % (name, C, S), flush=True)
                r = wrk(port, path, C, S, a.threads, method, body)
                results.append((name, target, r))
                rep.check("%s @%d: 0 non-2xx, 0 socket errors" % (name, C),
                          r["non2xx"] == 0 and r["socket_errors"] == 0 and r["requests"] > 0,
                          "%d requests, %d non-2xx, errors connect %d read %d write %d timeout %d" % (
                              r["requests"], r["non2xx"], r["connect"], r["read"], r["write"], r["timeout"]))
                time.sleep(0.5)
            stored = srv.get("/v1/models/%d/predictions?limit=1" % model).json["total"] - before
            acked = sum(r["requests"] - r["non2xx"] for n, t, r in results if n.endswith("(stored)"))
            # wrk stops with requests in flight: those are stored without being counted
            rep.check("@%d: every acknowledged stored prediction is stored" % C, stored >= acked,
                      "%d stored, %d acknowledged" % (stored, acked))
            tables.append((C, results))
        for C, results in tables:
            base = sum(r["rps"] for n, t, r in results if n.startswith("bare")) / 2
            print()
            print("one-row predict, %d connections, %d s each, wrk %d threads, %d HTTP threads, %d cores" % (
                C, S, a.threads, pool, os.cpu_count() or 1))
            print("%-30s %10s %9s %9s %8s %9s %7s" % ("route", "req/s", "p50 ms", "p99 ms", "errors", "x bare",
                                                      "target"))
            for name, target, r in results:
                ratio = r["rps"] / base if base else float("nan")
                print("%-30s %10.0f %9.2f %9.2f %8d %9.2f %7s" % (
                    name, r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"] + r["socket_errors"], ratio,
                    ">= %.2f" % target if target else ""))
                rep.figure("%s @%d" % (name, C), "%.0f req/s, p99 %.2f ms, %.2f x bare" % (r["rps"], r["p99_ms"],
                                                                                         ratio))
        print()
        code = srv.stop(60)
        rep.check("SIGTERM after the load: exit 0", code == 0, "exit %s" % code)
    except Exception as e:
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        if bare:
            bare.terminate()
            bare.wait(10)
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
