#!/usr/bin/env python3
"""Training through the service against PyTorch and against fitd's core, measured
side by side in one run (issue 10's targets). Needs Debian's python3-torch and
python3-sklearn, ../shared/bench (torch_mlp.py, bench_data.py), build/fitd and
build/bench.

Usage: /usr/bin/python3 bench/service_vs_torch.py [--quick]

For each workload it starts fitd with one worker on a fresh database, uploads the
data (the same bytes PyTorch and `bench --data` train on), submits one job and
measures submit -> succeeded (wall) and the job's own samples_per_second
(compute only). PyTorch runs ../shared/bench/torch_mlp.py with one thread and
one BLAS thread (OPENBLAS_NUM_THREADS=1), once with the kernels the machine's
environment gives it and once with the best the CPU supports (the set fitd
picks by CPU features). Ratios are fitd / PyTorch; the targets are issue 10's.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, threads, env):
        self.dir = tempfile.mkdtemp(prefix="fitd-bench-")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "log"), "w")
        args = [binary, "--port", str(self.port), "--db", os.path.join(self.dir, "db"), "--workers", "1",
                "--max-body-mb", "1024"]
        if threads:  # None: a binary from before --threads
            args += ["--threads", str(threads)]
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                self.call("GET", "/healthz")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fitd did not start; see " + self.dir)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read() or b"null")

    def train(self, X, y, hidden, batch, epochs):
        ds = self.call("POST", "/v1/datasets", {"name": "bench", "x": X.tolist(), "y": y.tolist()})["id"]
        layers = [{"type": "dense", "units": h, "activation": "relu"} for h in hidden]
        layers.append({"type": "dense", "units": int(y.max()) + 1, "activation": "softmax"})
        model = self.call("POST", "/v1/models", {"name": "bench-%d" % time.time_ns(), "input_dim": X.shape[1],
                                                 "layers": layers, "loss": "sparse_categorical_crossentropy",
                                                 "optimizer": {"type": "adam", "learning_rate": 0.001},
                                                 "seed": 1})["id"]
        start = time.monotonic()
        job = self.call("POST", "/v1/jobs", {"model_id": model, "dataset_id": ds, "epochs": epochs,
                                             "batch_size": batch, "seed": 1})["id"]
        while True:
            info = self.call("GET", "/v1/jobs/%d" % job)
            if info["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.01)
        wall = time.monotonic() - start
        if info["status"] != "succeeded":
            raise RuntimeError("job %s: %s" % (info["status"], info.get("error")))
        n = len(y)
        return {"wall": n * epochs / wall, "compute": info["samples_per_second"], "sha": info["weights_sha256"],
                "kernels": info.get("kernels")}

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        self.log.close()
        if rc != 0:
            raise RuntimeError("fitd exited %d; see %s" % (rc, self.dir))
        shutil.rmtree(self.dir)


def torch_rate(script, args, coretype):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run(["/usr/bin/python3", script, *args, "--threads", "1"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def core_rate(bench, path, hidden, batch, epochs, env):
    out = subprocess.run([bench, "--data", path, ",".join(map(str, hidden)), str(batch), str(epochs)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "fitd"))
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench"))
    p.add_argument("--torch-bench", default=os.path.join(ROOT, "..", "shared", "bench"))
    p.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run, not the targets)")
    a = p.parse_args()
    script = os.path.join(a.torch_bench, "torch_mlp.py")
    sys.path.insert(0, a.torch_bench)
    import bench_data  # noqa: E402  (numpy, scikit-learn)

    env_given = dict(os.environ)
    env_best = dict(os.environ)
    env_best.pop("OPENBLAS_CORETYPE", None)
    tmp = tempfile.mkdtemp(prefix="fitd-bench-data-")
    digits = bench_data.workload_data("digits")
    blobs = bench_data.workload_data("blobs", n=20000)
    paths = {"digits": os.path.join(tmp, "digits.bin"), "blobs": os.path.join(tmp, "blobs.bin")}
    bench_data.write_bin(paths["digits"], digits[0], digits[1])
    bench_data.write_bin(paths["blobs"], blobs[0], blobs[1])
    q = a.quick

    srv = Server(a.binary, 1, env_best)
    best = srv.call("GET", "/v1/info")
    print("CPU: %s" % open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip())
    print("fitd kernels: %s (%s); the environment's OPENBLAS_CORETYPE: %s"
          % (best["kernels"], best["kernels_reason"], os.environ.get("OPENBLAS_CORETYPE", "unset")))
    rows = []
    # W1: the tutorial-sized model on digits, 3,000 epochs
    e1 = 300 if q else 3000
    s1 = srv.train(digits[0], digits[1], [25, 15], 32, e1)
    short = srv.train(digits[0], digits[1], [25, 15], 32, 200)
    long_ = srv.train(digits[0], digits[1], [25, 15], 32, 400 if q else 4000)
    c1 = core_rate(a.bench, paths["digits"], [25, 15], 32, e1, env_best)
    # W2: 784-256-128-10, batch 128, 20,000 rows
    e2 = 2 if q else 10
    s2 = srv.train(blobs[0], blobs[1], [256, 128], 128, e2)
    c2 = core_rate(a.bench, paths["blobs"], [256, 128], 128, e2, env_best)
    srv.stop()
    # W3: a lone 784-1024-1024-10 job, batch 256, on 1 thread and on every CPU
    e3 = 1 if q else 2
    srv = Server(a.binary, 1, env_best)
    w3_1 = srv.train(blobs[0], blobs[1], [1024, 1024], 256, e3)
    srv.stop()
    cpus = len(os.sched_getaffinity(0))
    srv = Server(a.binary, cpus, env_best)
    w3_n = srv.train(blobs[0], blobs[1], [1024, 1024], 256, e3)
    srv.stop()

    te = 10 if q else 30
    t1 = {k: torch_rate(script, ["--dataset", "digits", "--hidden", "25,15", "--batch", "32", "--epochs", str(te)], c)
          for k, c in (("given", os.environ.get("OPENBLAS_CORETYPE")), ("best", best["kernels"]))}
    t2 = {k: torch_rate(script, ["--dataset", "blobs", "--n", "20000", "--hidden", "256,128", "--batch", "128",
                                 "--epochs", "2"], c)
          for k, c in (("given", os.environ.get("OPENBLAS_CORETYPE")), ("best", best["kernels"]))}

    print("\nthrough the service (submit -> succeeded, 1 worker, 1 thread) against PyTorch 1 thread:")
    print("%-34s %12s %12s %12s %12s %9s %9s" % ("workload", "fitd wall", "fitd comp.", "torch given",
                                                 "torch best", "/given", "/best"))
    for name, s, t in (("64-25-15-10 b32 digits, %d ep" % e1, s1, t1), ("784-256-128-10 b128 20k", s2, t2)):
        print("%-34s %12.0f %12.0f %12.0f %12.0f %8.2fx %8.2fx" % (name, s["wall"], s["compute"], t["given"],
                                                                  t["best"], s["wall"] / t["given"],
                                                                  s["wall"] / t["best"]))
    print("targets: >= 20x (64-25-15-10) and >= 1.6x (784-256-128-10) PyTorch at its best")
    print("\nthe service against the core alone on the same bytes (samples/s, compute):")
    print("  64-25-15-10: service %.0f, core %.0f: %.2f (target >= 0.90)" % (s1["compute"], c1, s1["compute"] / c1))
    print("  784-256-128-10: service %.0f, core %.0f: %.2f" % (s2["compute"], c2, s2["compute"] / c2))
    print("\nlong runs: 200 epochs %.0f, %d epochs %.0f samples/s (wall): %.2f (target >= 0.90)"
          % (short["wall"], 400 if q else 4000, long_["wall"], long_["wall"] / short["wall"]))
    print("\na lone 784-1024-1024-10 b256 job: 1 thread %.0f, %d threads %.0f samples/s (wall): %.2fx (target >= 1.7x);"
          " same weights_sha256: %s" % (w3_1["wall"], cpus, w3_n["wall"], w3_n["wall"] / w3_1["wall"],
                                        "yes" if w3_1["sha"] == w3_n["sha"] else "NO"))
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
