#!/usr/bin/env python3
"""limits.py — resource limits and memory growth of the real fitd.

    python3 tests/soak/limits.py [--binary build/fitd] [--requests 100000] [--threads 8]

1. Hostile sizes are refused before anything is allocated: a 10^9-parameter
   model (input_dim 1,048,576 x 1,024 units; 64 layers of 65,536 units), a
   10^12-epoch job, 10^9 units, 65 layers, a batch of 10^9, a predict over
   --max-instances, and a body announced at 1 GiB (413 from the headers,
   nothing read). Each is sent TRIES times: every answer must be the right
   status, the median time (client side: connect, send, answer) under 10 ms,
   and fitd's VmRSS must grow by less than 1 MiB over the TRIES of each
   (after WARMUP unmeasured ones, which let each HTTP thread's malloc arena
   reach its size for such a body once).
2. Memory growth: REQUESTS requests over keep-alive connections from THREADS
   threads, a mix of every kind of route (health, lists, items, weights,
   history, metrics, predict stored and not, invalid bodies, unknown routes,
   small dataset and model creations); VmRSS at 0, REQUESTS/2 and REQUESTS.
   The second half must grow it by less than 8 MiB (a leak of even 100 bytes
   a request would show as 5 MB).

Exit status 0 when every check passes.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report  # noqa: E402

TRIES = 20
WARMUP = 8


def dense(units, act="relu"):
    return {"type": "dense", "units": units, "activation": act}


def hostile(model_id, dataset_id, max_instances):
    """(name, method, path, body, headers, expected status)."""
    big_input = {"name": "big", "input_dim": 1048576, "layers": [dense(1024), dense(1, "linear")], "loss": "mse"}
    deep = {"name": "deep", "input_dim": 65536, "layers": [dense(65536) for _ in range(63)] + [dense(1, "linear")],
            "loss": "mse"}
    huge_units = {"name": "units", "input_dim": 4, "layers": [dense(10 ** 9), dense(1, "linear")], "loss": "mse"}
    many = {"name": "layers", "input_dim": 4, "layers": [dense(4) for _ in range(65)], "loss": "mse"}
    rows = [[0.5, 0.5, 0.5, 0.5]] * (max_instances + 1)
    return [
        ("10^9-parameter model (input_dim 2^20 x 1024 units)", "POST", "/v1/models", big_input, None, 422),
        ("2.7x10^11-parameter model (64 layers of 65536 units)", "POST", "/v1/models", deep, None, 422),
        ("a layer of 10^9 units", "POST", "/v1/models", huge_units, None, 422),
        ("65 layers", "POST", "/v1/models", many, None, 422),
        ("10^12-epoch job", "POST", "/v1/jobs",
         {"model_id": model_id, "dataset_id": dataset_id, "epochs": 10 ** 12}, None, 422),
        ("a batch of 10^9", "POST", "/v1/jobs",
         {"model_id": model_id, "dataset_id": dataset_id, "batch_size": 10 ** 9}, None, 422),
        ("predict with max-instances + 1 rows", "POST", "/v1/models/%d/predict?store=false" % model_id,
         {"instances": rows}, None, 422),
    ]


def announce_huge(port):
    """Headers announcing a 1 GiB JSON body, no body: a 413 at once."""
    t0 = time.perf_counter()
    s = fitdlib.connect(port)
    try:
        s.sendall(b"POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1073741824\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else None
    return status, time.perf_counter() - t0


def check_limits(rep, srv, model_id, dataset_id, max_instances):
    # warm every HTTP thread and its database connection first
    for _ in range(40):
        srv.get("/v1/models")
        srv.post("/v1/models", {"bad": 1})
    time.sleep(0.2)
    rss0 = srv.rss_kb()
    cases = hostile(model_id, dataset_id, max_instances)
    bodies = [(n, m, p, json.dumps(b).encode(), h, want) for n, m, p, b, h, want in cases]
    for name, method, path, body, headers, want in bodies:
        times, statuses = [], set()
        # Warm-up: the first large bodies grow each HTTP thread's malloc
        # arena once (retained, reused); a leak is growth that goes on.
        for _ in range(WARMUP):
            srv.request(method, path, body, headers={"Content-Type": "application/json"})
        before = srv.rss_kb()
        for _ in range(TRIES):
            r = srv.request(method, path, body, headers={"Content-Type": "application/json"})
            times.append(r.seconds * 1000)
            statuses.add(r.status)
        grown = srv.rss_kb() - before
        med, mx = statistics.median(times), max(times)
        # latency is a figure, not a check: one CPU-quota stall must not fail it
        rep.check("%s: %d every time, RSS + < 1 MiB" % (name, want), statuses == {want} and grown < 1024,
                  "status %s, median %.2f ms, max %.2f ms, RSS %+d KiB, body %d KiB" % (
                      sorted(statuses), med, mx, grown, len(body) >> 10))
        rep.figure("limit: %s" % name, "median %.2f ms, max %.2f ms, RSS %+d KiB over %d" % (med, mx, grown, TRIES))
    times, statuses = [], set()
    before = srv.rss_kb()
    for _ in range(TRIES):
        st, t = announce_huge(srv.port)
        statuses.add(st)
        times.append(t * 1000)
    grown = srv.rss_kb() - before
    med = statistics.median(times)
    rep.check("a body announced at 1 GiB: 413 from the headers, RSS + < 1 MiB",
              statuses == {413} and grown < 1024,
              "status %s, median %.2f ms, max %.2f ms, RSS %+d KiB" % (sorted(statuses), med, max(times), grown))
    rep.figure("limit: a body announced at 1 GiB", "median %.2f ms, max %.2f ms over %d" % (med, max(times), TRIES))
    time.sleep(0.2)
    rss1 = srv.rss_kb()
    rep.figure("RSS before / after all %d hostile requests" % (TRIES * (len(bodies) + 1)),
               "%d / %d KiB (%+d KiB)" % (rss0, rss1, rss1 - rss0))


# ---- memory growth ---------------------------------------------------------------------------------

class Driver:
    """REQUESTS requests from THREADS threads on keep-alive connections."""

    def __init__(self, port, model_id, dataset_id, job_id, seed):
        self.port = port
        self.model_id = model_id
        self.dataset_id = dataset_id
        self.job_id = job_id
        self.seed = seed
        self.lock = threading.Lock()
        self.done = 0
        self.statuses = {}
        self.errors = 0

    def mix(self, rng):
        m, d, j = self.model_id, self.dataset_id, self.job_id
        x = [[round(rng.uniform(-2, 2), 3) for _ in range(4)] for _ in range(rng.randrange(1, 5))]
        k = rng.randrange(100)
        if k < 10:
            return "GET", "/healthz", None
        if k < 20:
            return "GET", "/v1/models?limit=20", None
        if k < 27:
            return "GET", "/v1/jobs?limit=20", None
        if k < 33:
            return "GET", "/v1/datasets", None
        if k < 40:
            return "GET", "/v1/models/%d" % m, None
        if k < 45:
            return "GET", "/v1/models/%d/weights" % m, None
        if k < 50:
            return "GET", "/v1/jobs/%d/history" % j, None
        if k < 53:
            return "GET", "/metrics", None
        if k < 68:
            return "POST", "/v1/models/%d/predict?store=false" % m, {"instances": x}
        if k < 76:
            return "POST", "/v1/models/%d/predict" % m, {"instances": x}
        if k < 80:
            return "GET", "/v1/models/%d/predictions?limit=5" % m, None
        if k < 85:
            return "POST", "/v1/models", {"name": "bad", "input_dim": 4, "layers": [dense(2.5)], "loss": "mse"}
        if k < 88:
            return "POST", "/v1/jobs", {"model_id": m, "dataset_id": d, "epochs": 0}
        if k < 91:
            return "GET", "/v1/no/such/route", None
        if k < 93:
            return "POST", "/v1/models/%d/evaluate" % m, {"dataset_id": d}
        if k < 95:
            return "GET", "/v1/info", None
        if k < 97:
            return "POST", "/v1/datasets", {"name": "small", "x": [[1, 2, 3, 4]] * 4, "y": [0, 1, 2, 3]}
        if k < 99:
            return "POST", "/v1/models", fitdlib.tutorial_model(seed=k)
        return "DELETE", "/v1/datasets/999999", None

    def run(self, n, threads):
        """Sends n more requests; returns when they are answered."""
        target = self.done + n
        claim = [self.done]

        def loop(tid):
            rng = random.Random(self.seed * 1000 + tid + target)
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            while True:
                with self.lock:
                    if claim[0] >= target:
                        break
                    claim[0] += 1
                method, path, body = self.mix(rng)
                data = json.dumps(body).encode() if body is not None else None
                headers = {"Content-Type": "application/json"} if data else {}
                for attempt in range(2):
                    try:
                        conn.request(method, path, body=data, headers=headers)
                        r = conn.getresponse()
                        r.read()
                        st = r.status
                        if r.getheader("Connection", "").lower() == "close":
                            conn.close()
                            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                        st = "error"
                with self.lock:
                    self.done += 1
                    self.statuses[st] = self.statuses.get(st, 0) + 1
            conn.close()
        ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def check_memory(rep, srv, model_id, dataset_id, job_id, requests, threads):
    print("memory: %d requests, %d threads, keep-alive" % (requests, threads), flush=True)
    drv = Driver(srv.port, model_id, dataset_id, job_id, 7)
    rss = [(0, srv.rss_kb())]
    t0 = time.monotonic()
    for part in range(1, 5):
        drv.run(requests // 4, threads)
        time.sleep(0.3)
        rss.append((drv.done, srv.rss_kb()))
        print("  %7d requests: VmRSS %d KiB, %.0f req/s" % (drv.done, rss[-1][1],
                                                          drv.done / (time.monotonic() - t0)), flush=True)
    half, full = rss[2], rss[4]
    growth = full[1] - half[1]
    rep.figure("VmRSS at 0 / %d / %d requests" % (half[0], full[0]), "%d / %d / %d KiB" % (rss[0][1], half[1], full[1]))
    rep.figure("statuses over the mix", ", ".join("%s: %d" % kv for kv in sorted(drv.statuses.items(),
                                                                                   key=lambda kv: str(kv[0]))))
    unexpected = {s: n for s, n in drv.statuses.items() if s not in (200, 201, 202, 404, 422)}
    rep.check("the mix got only the expected statuses (200/201/202/404/422)", not unexpected, repr(unexpected))
    rep.check("VmRSS growth over the second %d requests < 8 MiB" % (full[0] - half[0]), growth < 8 << 10,
              "%+d KiB (%.1f bytes/request)" % (growth, growth * 1024.0 / max(1, full[0] - half[0])))
    return rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--max-instances", type=int, default=1000)
    a = ap.parse_args()
    rep = Report("resource limits")
    try:
        d = fitdlib.tmpdir("limits")
        srv = Fitd(os.path.join(d, "fitd.db"), binary=a.binary, workers=2,
                   args=["--max-instances", str(a.max_instances)]).start()
        x, y = fitdlib.blobs(n=200)
        ds = srv.post("/v1/datasets", {"name": "limits", "x": x, "y": y}).json["id"]
        m = srv.post("/v1/models", fitdlib.tutorial_model()).json["id"]
        j = srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 5}).json["id"]
        fitdlib.wait_job(srv, j)
        check_limits(rep, srv, m, ds, a.max_instances)
        if a.requests:
            check_memory(rep, srv, m, ds, j, a.requests, a.threads)
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
