#!/usr/bin/env python3
"""Service-level figures for fitd (issue 4): overhead per job beyond compute, and
how long SSE delivery lags an epoch's commit.

Usage: python3 bench/service_overhead.py --url http://127.0.0.1:8080 [--jobs 100]
Runs against a live server (start one with a fresh database). Prints a table.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.request
from urllib.parse import urlparse


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--jobs", type=int, default=100)
    a = p.parse_args()
    base = a.url.rstrip("/")
    x = [[(i * 7 + j) % 5 / 5.0 for j in range(4)] for i in range(64)]
    y = [i % 3 for i in range(64)]
    ds = call(base, "POST", "/v1/datasets", {"name": "tiny", "x": x, "y": y})["id"]
    model = {"input_dim": 4, "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                        {"type": "dense", "units": 3, "activation": "softmax"}],
             "loss": "sparse_categorical_crossentropy", "optimizer": "adam", "seed": 1}
    models = [call(base, "POST", "/v1/models", dict(model, name=f"m{i}"))["id"] for i in range(a.jobs)]

    start = time.monotonic()
    jobs = [call(base, "POST", "/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 1, "seed": 1})["id"]
            for m in models]
    pending = set(jobs)
    while pending:
        for j in list(pending):
            if call(base, "GET", f"/v1/jobs/{j}")["status"] in ("succeeded", "failed", "cancelled"):
                pending.discard(j)
        time.sleep(0.01)
    wall = time.monotonic() - start
    compute = sum(call(base, "GET", f"/v1/jobs/{j}/history")["epochs"][0]["seconds"] for j in jobs)

    # SSE lag: one thread polls the job (a commit is visible there at once) while the
    # SSE stream is read; lag = arrival of an epoch event - first poll that saw it.
    big_x = [[(i * 13 + j) % 17 / 17.0 for j in range(4)] for i in range(20000)]
    big_y = [i % 3 for i in range(20000)]
    ds2 = call(base, "POST", "/v1/datasets", {"name": "lag", "x": big_x, "y": big_y})["id"]
    m2 = call(base, "POST", "/v1/models", dict(model, name="lag"))["id"]
    job = call(base, "POST", "/v1/jobs", {"model_id": m2, "dataset_id": ds2, "epochs": 40, "batch_size": 1,
                                          "seed": 1})["id"]
    seen = {}

    def poll():
        while True:
            j = call(base, "GET", f"/v1/jobs/{job}")
            now = time.monotonic()
            for e in range(1, j["epoch"] + 1):
                seen.setdefault(e, now)
            if j["status"] in ("succeeded", "failed", "cancelled"):
                return
            time.sleep(0.001)

    poller = threading.Thread(target=poll)
    u = urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("GET", f"/v1/jobs/{job}/events")
    resp = conn.getresponse()
    poller.start()
    arrived, last = {}, None
    while True:
        line = resp.fp.readline().decode()
        if not line:
            break
        if line.startswith("event: "):
            last = line[7:].strip()
        if line.startswith("data: ") and last == "epoch":
            arrived[json.loads(line[6:])["epoch"]] = time.monotonic()
    poller.join()
    lags = sorted(arrived[e] - seen[e] for e in arrived if e in seen)

    print("| figure | value |")
    print("| --- | --- |")
    print(f"| jobs | {a.jobs} one-epoch jobs, 64 rows, 4-8-3 |")
    print(f"| wall time | {wall:.3f} s |")
    print(f"| compute (sum of epoch seconds) | {compute:.4f} s |")
    print(f"| overhead per job | {(wall - compute) / a.jobs * 1000:.2f} ms |")
    print(f"| SSE lag behind a visible commit, median | {lags[len(lags) // 2] * 1000:.2f} ms |")
    print(f"| SSE lag behind a visible commit, max | {lags[-1] * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
