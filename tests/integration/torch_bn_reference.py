#!/usr/bin/python3
"""torch_bn_reference.py — the reference side of test_batch_norm.py, run with
Debian's /usr/bin/python3 and python3-torch.

Reads one JSON object on standard input: {"x": rows, "y": target rows,
"layers": GET /v1/models/{id}/weights of dense(relu) -> batch_normalization
-> dense(linear) ({"kernel", "bias"}, {"gamma", "beta", "moving_mean",
"moving_variance"}, {"kernel", "bias"}), "momentum", "epsilon" (Keras's),
"epochs", "batch_size", "learning_rate", "rows": rows to predict}.

Trains in float64 with mean squared error, batches in order (shuffle false),
plain SGD (w -= lr g), and Keras's BatchNormalization in training mode:
xhat = (x - mean) / sqrt(var + eps) with the batch mean and the BIASED
variance (mean of squared deviations), y = gamma xhat + beta, gradients by
autograd; after each batch moving = moving * momentum + batch * (1 -
momentum), again with the biased variance (torch.nn.BatchNorm1d would put
the unbiased one in running_var: that is PyTorch's rule, not Keras's). The
forward pass in training mode is checked against torch.nn.functional.
batch_norm (which normalizes by the biased variance too).

Writes {"loss": per epoch (batch losses weighted by batch size), "layers":
the final weights in the same form, "predict": the rows through the model
in inference mode (moving statistics)}.
"""
import json
import sys

import torch


def main():
    req = json.load(sys.stdin)
    torch.set_default_dtype(torch.float64)
    def t(v, grad=False):
        return torch.tensor(v, dtype=torch.float64, requires_grad=grad)

    x = t(req["x"])
    y = t(req["y"])
    d1, bn, d2 = req["layers"]
    k1 = t(d1["kernel"], True)
    b1 = t(d1["bias"], True)
    gamma = t(bn["gamma"], True)
    beta = t(bn["beta"], True)
    mm = t(bn["moving_mean"])
    mv = t(bn["moving_variance"])
    k2 = t(d2["kernel"], True)
    b2 = t(d2["bias"], True)
    params = [k1, b1, gamma, beta, k2, b2]
    mom, eps, lr = req["momentum"], req["epsilon"], req["learning_rate"]
    n, batch = x.shape[0], req["batch_size"]
    losses = []
    for _ in range(req["epochs"]):
        total = 0.0
        for start in range(0, n, batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            h = torch.relu(xb @ k1 + b1)
            mean = h.mean(dim=0)
            var = ((h - mean) ** 2).mean(dim=0)  # biased, as Keras
            hn = gamma * (h - mean) / torch.sqrt(var + eps) + beta
            check = torch.nn.functional.batch_norm(h, None, None, gamma, beta, training=True, eps=eps)
            assert torch.allclose(hn, check, rtol=1e-12, atol=1e-12), "BN forward differs from torch's"
            out = hn @ k2 + b2
            loss = ((out - yb) ** 2).mean(dim=1).mean()
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                mm = mm * mom + mean.detach() * (1 - mom)
                mv = mv * mom + var.detach() * (1 - mom)
            total += loss.item() * xb.shape[0]
        losses.append(total / n)
    with torch.no_grad():
        rows = t(req["rows"])
        h = torch.relu(rows @ k1 + b1)
        pred = (gamma * (h - mm) / torch.sqrt(mv + eps) + beta) @ k2 + b2
    json.dump({"loss": losses,
               "layers": [{"kernel": k1.tolist(), "bias": b1.tolist()},
                          {"gamma": gamma.tolist(), "beta": beta.tolist(), "moving_mean": mm.tolist(),
                           "moving_variance": mv.tolist()},
                          {"kernel": k2.tolist(), "bias": b2.tolist()}],
               "predict": pred.tolist()}, sys.stdout)


main()
