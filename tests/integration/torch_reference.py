#!/usr/bin/python3
"""torch_reference.py — the reference side of test_vs_torch.py, run with
Debian's /usr/bin/python3 and python3-torch (the test runner's Python may be
another one).

Reads one JSON object on standard input: {"x": rows, "y": class labels,
"layers": GET /v1/models/{id}/weights (kernel [inputs, units]), "activations":
one name per layer ("relu" or "softmax"), "epochs", "batch_size",
"optimizer": {"learning_rate", "beta_1", "beta_2", "epsilon"}}. Trains in
float64, batches in order (shuffle false), with sparse categorical
crossentropy on softmax outputs (probabilities clipped to [1e-7, 1 - 1e-7]
as Keras does) and Keras's Adam update:
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
(not torch.optim.Adam, whose epsilon sits elsewhere). Writes {"loss": per
epoch, the batch losses' mean weighted by batch size as Keras's History
reports it, "accuracy": per epoch, "layers": the final weights}.
"""
import json
import math
import sys

import torch


def main():
    req = json.load(sys.stdin)
    torch.set_default_dtype(torch.float64)
    x = torch.tensor(req["x"], dtype=torch.float64)
    y = torch.tensor(req["y"], dtype=torch.long)
    params = []
    for layer in req["layers"]:
        params.append(torch.tensor(layer["kernel"], dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor(layer["bias"], dtype=torch.float64, requires_grad=True))
    acts = req["activations"]
    opt = req["optimizer"]
    lr, b1, b2, eps = opt["learning_rate"], opt["beta_1"], opt["beta_2"], opt["epsilon"]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    t = 0
    n = x.shape[0]
    bs = req["batch_size"]
    out = {"loss": [], "accuracy": []}
    for _ in range(req["epochs"]):
        total, correct = 0.0, 0
        for start in range(0, n, bs):
            xb, yb = x[start:start + bs], y[start:start + bs]
            a = xb
            for i, act in enumerate(acts):
                z = a @ params[2 * i] + params[2 * i + 1]
                if act == "relu":
                    a = torch.relu(z)
                elif act == "softmax":
                    a = torch.softmax(z, dim=1)
                else:
                    raise SystemExit("unknown activation %r" % act)
            p = a.clamp(1e-7, 1 - 1e-7)
            per_sample = -torch.log(p[torch.arange(len(yb)), yb])
            loss = per_sample.mean()
            total += float(per_sample.sum())
            correct += int((a.argmax(dim=1) == yb).sum())
            for q in params:
                q.grad = None
            loss.backward()
            t += 1
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            with torch.no_grad():
                for i, q in enumerate(params):
                    g = q.grad
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    q -= alpha * m[i] / (v[i].sqrt() + eps)
        out["loss"].append(total / n)
        out["accuracy"].append(correct / n)
    out["layers"] = [{"kernel": params[2 * i].detach().tolist(), "bias": params[2 * i + 1].detach().tolist()}
                     for i in range(len(acts))]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
