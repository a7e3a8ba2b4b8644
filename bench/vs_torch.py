#!/usr/bin/env python3
"""PyTorch side by side (make bench, when it can): each workload of issue 2 run by
PyTorch's CPU trainer (../shared/bench/torch_mlp.py, Debian's python3-torch) and by
fitd's core (build/bench) back to back, one thread each, with the same
OPENBLAS_CORETYPE (as the environment sets it, and again with Haswell, the kernels
of the issue's reference figures). Prints samples/s and the ratio measured in the
same run. Skips itself, saying why, when torch or the trainer script is missing.

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


def torch_rate(script, args, env):
    out = subprocess.run(["/usr/bin/python3", script, *args, "--threads", "1"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def fitd_rate(bench, key, label, env):
    out = subprocess.run([bench, "-n", key], env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
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
    coretypes = [os.environ.get("OPENBLAS_CORETYPE", "")]
    if coretypes[0] != "Haswell":
        coretypes.append("Haswell")
    print("\nPyTorch and fitd side by side, one thread, measured in this run:")
    print("%-28s %-10s %12s %12s %8s" % ("workload", "coretype", "torch s/s", "fitd s/s", "ratio"))
    for core in coretypes:
        env = dict(os.environ)
        if core:
            env["OPENBLAS_CORETYPE"] = core
        else:
            env.pop("OPENBLAS_CORETYPE", None)
        for key, label, args in WORKLOADS:
            t = torch_rate(script, args, env)
            f = fitd_rate(a.bench, key, label, env)
            print("%-28s %-10s %12.0f %12.0f %7.2fx" % (label, core or "(default)", t, f, f / t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
