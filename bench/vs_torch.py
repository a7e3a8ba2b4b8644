#!/usr/bin/env python3
"""PyTorch side by side (make bench, when it can): each workload of issue 2 run by
PyTorch's CPU trainer (../shared/bench/torch_mlp.py, Debian's python3-torch) and by
fitd's core (build/bench) back to back, one thread and one BLAS thread each
(OPENBLAS_NUM_THREADS=1: torch.set_num_threads alone does not bound OpenBLAS's
pool). Two rounds: the kernels the machine's environment gives (OPENBLAS_CORETYPE as
set, or OpenBLAS's own pick), and the best the CPU supports (the set fitd chooses by
CPU features; PyTorch is given the same through OPENBLAS_CORETYPE). Prints samples/s
and the ratio measured in the same run. Skips itself, saying why, when torch or the
trainer script is missing. Through the service: bench/service_vs_torch.py.

Usage: python3 bench/vs_torch.py [--torch-bench DIR] [--bench build/bench]
"""
import argparse
import json
import os
import re
import subprocess
import sys

WORKLOADS = [  # (bench name, torch_mlp.py arguments)
    ("a", "(a) 64-25-15-10 b32", ["--dataset", "digits", "--hidden", "25,15", "--batch", "32", "--epochs", "10"]),
    ("b", "(b) 784-256-128-10 b128",
     ["--dataset", "blobs", "--n", "60000", "--hidden", "256,128", "--batch", "128", "--epochs", "3"]),
    ("c", "(c) 784-1024-1024-10 b256",
     ["--dataset", "blobs", "--n", "20000", "--hidden", "1024,1024", "--batch", "256", "--epochs", "2"]),
]


def one_thread(env):
    return dict(env, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def torch_rate(script, args, env):
    out = subprocess.run(["/usr/bin/python3", script, *args, "--threads", "1"], env=one_thread(env), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def fitd_run(bench, key, env):
    return subprocess.run([bench, "-n", "-t", key], env=one_thread(env), check=True, capture_output=True,
                          text=True).stdout


def fitd_rate(bench, key, label, env):
    for line in fitd_run(bench, key, env).splitlines():
        if line.startswith(label):
            return float(re.split(r"\s{2,}", line.strip())[1])
    raise RuntimeError("no %s line in the bench output" % label)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--torch-bench", default=os.path.join(here, "..", "..", "shared", "bench"))
    p.add_argument("--bench", default=os.path.join(here, "..", "build", "bench"))
    a = p.parse_args()
    script = os.path.join(a.torch_bench, "torch_mlp.py")
    if not os.path.exists(script):
        print("vs_torch: %s not found; no PyTorch side-by-side run" % script)
        return 0
    if subprocess.run(["/usr/bin/python3", "-c", "import torch, sklearn"], capture_output=True).returncode:
        print("vs_torch: Debian's python3-torch / python3-sklearn are not installed; no PyTorch side-by-side run")
        return 0
    given = dict(os.environ)
    best = dict(os.environ)
    best.pop("OPENBLAS_CORETYPE", None)
    # the set fitd picks when nothing is forced: what PyTorch gets in the "best" round
    kernels = re.search(r"^kernels: (\S+)", fitd_run(a.bench, "a", best), re.M).group(1)
    best_torch = dict(best, OPENBLAS_CORETYPE=kernels)
    print("\nPyTorch and fitd side by side, one thread, one BLAS thread, measured in this run:")
    print("%-28s %-22s %12s %12s %8s" % ("workload", "kernels", "torch s/s", "fitd s/s", "ratio"))
    rounds = [("given: " + os.environ.get("OPENBLAS_CORETYPE", "OpenBLAS's pick"), given, given),
              ("best: " + kernels, best_torch, best)]
    for name, torch_env, fitd_env in rounds:
        for key, label, args in WORKLOADS:
            t = torch_rate(script, args, torch_env)
            f = fitd_rate(a.bench, key, label, fitd_env)
            print("%-28s %-22s %12.0f %12.0f %7.2fx" % (label, name, t, f, f / t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
