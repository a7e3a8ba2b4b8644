#!/usr/bin/env python3
"""load.py — fitd under wrk while jobs train (run by tests/load/run.sh).

    python3 tests/load/load.py [--binary build/fitd] [--seconds 30] [--connections 256]
        [--threads 2] [--no-proxy-demo]

Starts fitd (2 workers, default flags: --per-ip-connections 0, so one
client address may open every connection) on a fresh database; creates a
dataset and the README's tutorial model, trains it briefly (so predict uses
trained weights), then starts two long training jobs on two more models that
run during every wrk run. Runs wrk for SECONDS each:

  GET  /healthz                        CONNECTIONS and 64   (the baseline)
  POST /v1/models/{id}/predict         CONNECTIONS          (stored)
  GET  /v1/models, /v1/jobs, /v1/datasets   CONNECTIONS
  POST /v1/models/{id}/predict         64, stored and ?store=false

Then, with the jobs cancelled, /healthz and predict (stored and
?store=false) at 64 connections again: the predict figures without training
competing for the cores.

Every run must have 0 non-2xx answers and 0 socket errors (connect, read,
write, timeout). Prints a table of req/s, latency p50/p99/max and req/s as a
fraction of /healthz at the same connection count; checks the training jobs
advanced throughout. Then (informational, unless --no-proxy-demo) shows what
a per-address limit does to one address: --per-ip-connections 64 against 256
connections — the reason to leave it 0 behind a proxy.

Exit status 0 when every check passes.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "soak"))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report  # noqa: E402

LUA = os.path.join(HERE, "fitd.lua")


def wrk(port, path, connections, seconds, threads, method="GET", body=None):
    env = dict(os.environ, WRK_METHOD=method, WRK_BODY_FILE="")
    tmp = None
    if body is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(body, tmp)
        tmp.close()
        env["WRK_BODY_FILE"] = tmp.name
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s",
           "-s", LUA, "http://127.0.0.1:%d%s" % (port, path)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        if tmp:
            os.unlink(tmp.name)
    m = re.search(r"^RESULT (\{.*\})$", out.stdout, re.M)
    if not m:
        raise RuntimeError("wrk gave no result:\n%s\n%s" % (out.stdout, out.stderr))
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--no-proxy-demo", action="store_true")
    ap.add_argument("--no-idle-pass", action="store_true", help="skip the predict runs without training")
    a = ap.parse_args()
    fitdlib.raise_fd_limit()
    rep = Report("load")
    C, S = a.connections, a.seconds
    try:
        d = fitdlib.tmpdir("load")
        srv = Fitd(os.path.join(d, "fitd.db"), binary=a.binary, workers=2).start()
        x, y = fitdlib.blobs(n=2000)
        ds = srv.post("/v1/datasets", {"name": "load", "x": x, "y": y}).json["id"]
        model = srv.post("/v1/models", fitdlib.tutorial_model(name="tutorial")).json["id"]
        j = srv.post("/v1/jobs", {"model_id": model, "dataset_id": ds, "epochs": 5}).json["id"]
        fitdlib.wait_job(srv, j, 60)
        long_jobs = []
        for i in range(2):
            m = srv.post("/v1/models", fitdlib.tutorial_model(name="training-%d" % i, seed=i)).json["id"]
            long_jobs.append(srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 1000000,
                                                   "batch_size": 32}).json["id"])
        fitdlib.wait_for(lambda: all(srv.get("/v1/jobs/%d" % jid).json["status"] == "running"
                                     for jid in long_jobs), 30, "the training jobs to run")
        epochs0 = [srv.get("/v1/jobs/%d" % jid).json["epoch"] for jid in long_jobs]
        body = {"instances": [[round(v, 3) for v in row] for row in x[:4]]}
        predict = "/v1/models/%d/predict" % model
        runs = [
            ("GET /healthz (baseline)", "/healthz", C, "GET", None),
            ("GET /healthz (baseline)", "/healthz", 64, "GET", None),
            ("POST predict (stored)", predict, C, "POST", body),
            ("GET /v1/models", "/v1/models", C, "GET", None),
            ("GET /v1/jobs", "/v1/jobs", C, "GET", None),
            ("GET /v1/datasets", "/v1/datasets", C, "GET", None),
            ("POST predict (stored)", predict, 64, "POST", body),
            ("POST predict ?store=false", predict + "?store=false", 64, "POST", body),
            ("POST predict ?store=false", predict + "?store=false", C, "POST", body),
        ]
        results = []
        for name, path, conns, method, b in runs:
            print("wrk: %-28s %4d connections, %d s" % (name, conns, S), flush=True)
            r = wrk(srv.port, path, conns, S, a.threads, method, b)
            results.append((name, conns, r))
            rep.check("%s, %d connections: 0 non-2xx, 0 socket errors" % (name, conns),
                      r["non2xx"] == 0 and r["socket_errors"] == 0 and r["requests"] > 0,
                      "%d requests, %d non-2xx, errors connect %d read %d write %d timeout %d" % (
                          r["requests"], r["non2xx"], r["connect"], r["read"], r["write"], r["timeout"]))
        epochs1 = [srv.get("/v1/jobs/%d" % jid).json for jid in long_jobs]
        rep.check("the training jobs ran throughout the load",
                  all(e["status"] == "running" and e["epoch"] > e0 for e, e0 in zip(epochs1, epochs0)),
                  "epochs %s -> %s" % (epochs0, [e["epoch"] for e in epochs1]))
        sps = [e.get("samples_per_second") for e in epochs1]
        stored = srv.get("/v1/models/%d/predictions?limit=1" % model).json["total"]
        acked = sum(r["requests"] - r["non2xx"] for n, c, r in results if n == "POST predict (stored)")
        # wrk stops with requests in flight: those are stored without being counted
        rep.check("every acknowledged stored prediction is stored", stored >= acked,
                  "%d stored, %d acknowledged" % (stored, acked))
        base = {c: r["rps"] for n, c, r in results if n.startswith("GET /healthz")}
        print()
        print("%-28s %5s %10s %9s %9s %9s %8s %7s %9s" % ("route", "conns", "req/s", "p50 ms", "p99 ms", "max ms",
                                                         "non-2xx", "sock.err", "x healthz"))
        for name, conns, r in results:
            print("%-28s %5d %10.0f %9.2f %9.2f %9.1f %8d %7d %9.2f" % (
                name, conns, r["rps"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["non2xx"], r["socket_errors"],
                r["rps"] / base[conns] if base.get(conns) else float("nan")))
            rep.figure("wrk %s @%d" % (name, conns), "%.0f req/s, p99 %.2f ms, %d non-2xx, %d socket errors, "
                       "%.2f x healthz" % (r["rps"], r["p99_ms"], r["non2xx"], r["socket_errors"],
                                           r["rps"] / base[conns] if base.get(conns) else float("nan")))
        print("training during the load: %s samples/s per job, epochs %s -> %s" % (
            ", ".join("%.0f" % (s or 0) for s in sps), epochs0, [e["epoch"] for e in epochs1]))
        print()
        for jid in long_jobs:
            srv.post("/v1/jobs/%d/cancel" % jid)
            fitdlib.wait_job(srv, jid, 60)
        if not a.no_idle_pass:
            # The predict figures again with no training competing for the cores.
            idle = []
            for name, path, method, b in (("GET /healthz (baseline)", "/healthz", "GET", None),
                                          ("POST predict (stored)", predict, "POST", body),
                                          ("POST predict ?store=false", predict + "?store=false", "POST", body)):
                print("wrk: %-28s %4d connections, %d s, no training" % (name, 64, S), flush=True)
                r = wrk(srv.port, path, 64, S, a.threads, method, b)
                idle.append((name, r))
                rep.check("%s, 64 connections, no training: 0 non-2xx, 0 socket errors" % name,
                          r["non2xx"] == 0 and r["socket_errors"] == 0 and r["requests"] > 0,
                          "%d requests, %d non-2xx, %d socket errors" % (r["requests"], r["non2xx"],
                                                                         r["socket_errors"]))
            print()
            print("no training, 64 connections:")
            for name, r in idle:
                print("%-28s %5d %10.0f %9.2f %9.2f %9.1f %8d %7d %9.2f" % (
                    name, 64, r["rps"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["non2xx"], r["socket_errors"],
                    r["rps"] / idle[0][1]["rps"]))
                rep.figure("wrk %s @64, no training" % name, "%.0f req/s, p99 %.2f ms, %d non-2xx, %d socket "
                           "errors, %.2f x healthz" % (r["rps"], r["p99_ms"], r["non2xx"], r["socket_errors"],
                                                       r["rps"] / idle[0][1]["rps"]))
            print()
        code = srv.stop(60)
        rep.check("SIGTERM after the load: exit 0", code == 0, "exit %s" % code)

        if not a.no_proxy_demo:
            # What a per-address limit does to one address (all clients behind one proxy).
            demo = Fitd(os.path.join(d, "demo.db"), binary=a.binary, workers=1,
                        args=["--per-ip-connections", "64"]).start()
            r = wrk(demo.port, "/healthz", C, 5, a.threads)
            rep.figure("--per-ip-connections 64, %d connections from one address, 5 s" % C,
                       "%.0f req/s, %d socket errors (connect %d, read %d), %d non-2xx" % (
                           r["rps"], r["socket_errors"], r["connect"], r["read"], r["non2xx"]))
            demo.stop()
    except Exception as e:
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
