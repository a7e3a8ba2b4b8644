#!/usr/bin/python3
"""torch_class_weight.py — the reference side of test_class_weight.py, run with
Debian's /usr/bin/python3 and python3-torch.

Reads one JSON object on standard input: {"x": rows, "y": targets (class
labels, one-hot rows or 0/1 targets), "form": "sparse" | "categorical" |
"binary", "layers": GET /v1/models/{id}/weights, "activations": one name per
layer ("relu", "softmax" or "sigmoid"), "epochs", "batch_size",
"learning_rate" (plain SGD: w -= lr g) or "learning_rates" (one per step,
for learning-rate schedules), "class_weight": {"0": w0, ...} ({} for none),
"n_val": the last rows that validate (Keras's validation_split)}.

Keras 3's class_weight, written out from its rules rather than its code: a
row's class is its label, the argmax of a one-hot row, or a single target
rounded half to even; its sample weight is class_weight[class] (1 when not
named); a batch's loss is sum(w l) / rows (sum_over_batch_size); History's
loss is the batch losses' mean weighted by batch size; the accuracy is not
weighted (Keras 3 gives compile's metrics no sample weights: only the loss and
weighted_metrics get them), nor is validation. Trains in
float64, batches in order (shuffle false). Writes {"loss", "accuracy",
"val_loss", "val_accuracy": per epoch, "layers": the final weights,
"unweighted_loss": the epoch losses the same run reports without class
weights, for the test's precondition}.
"""
import json
import sys

import torch


def forward(params, acts, xb):
    a = xb
    for i, act in enumerate(acts):
        z = a @ params[2 * i] + params[2 * i + 1]
        if act == "relu":
            a = torch.relu(z)
        elif act == "softmax":
            a = torch.softmax(z, dim=1)
        elif act == "sigmoid":
            a = torch.sigmoid(z)
        else:
            raise SystemExit("unknown activation %r" % act)
    return a


def per_row(form, a, yb):
    """Per-row loss (probabilities clipped to [1e-7, 1 - 1e-7] as Keras) and hits."""
    p = a.clamp(1e-7, 1 - 1e-7)
    if form == "sparse":
        return -torch.log(p[torch.arange(len(yb)), yb.long()]), (a.argmax(dim=1) == yb.long()).double()
    if form == "categorical":
        return -(yb * torch.log(p)).sum(dim=1), (a.argmax(dim=1) == yb.argmax(dim=1)).double()
    loss = -(yb * torch.log(p) + (1 - yb) * torch.log(1 - p)).mean(dim=1)
    return loss, ((a > 0.5) == (yb > 0.5)).double().mean(dim=1)


def row_classes(form, yb):
    if form == "sparse":
        return [int(v) for v in yb.tolist()]
    if yb.dim() == 2 and yb.shape[1] > 1:
        return [int(v) for v in yb.argmax(dim=1).tolist()]
    return [int(torch.round(v).item()) for v in yb.reshape(-1)]  # half to even


def train(req, cw):
    form = req["form"]
    x = torch.tensor(req["x"], dtype=torch.float64)
    y = torch.tensor(req["y"], dtype=torch.float64)
    if form == "binary" and y.dim() == 1:
        y = y.reshape(-1, 1)
    n_val = req["n_val"]
    n = x.shape[0] - n_val
    xt, yt, xv, yv = x[:n], y[:n], x[n:], y[n:]
    params = []
    for layer in req["layers"]:
        params.append(torch.tensor(layer["kernel"], dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor(layer["bias"], dtype=torch.float64, requires_grad=True))
    acts, bs = req["activations"], req["batch_size"]
    rates = req.get("learning_rates")
    step = 0
    out = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for _ in range(req["epochs"]):
        total, hits = 0.0, 0.0
        for start in range(0, n, bs):
            xb, yb = xt[start:start + bs], yt[start:start + bs]
            w = torch.tensor([cw.get(c, 1.0) for c in row_classes(form, yb)], dtype=torch.float64)
            rows, hit = per_row(form, forward(params, acts, xb), yb)
            loss = (w * rows).sum() / len(xb)
            total += float(loss) * len(xb)
            hits += float(hit.sum())
            for q in params:
                q.grad = None
            loss.backward()
            lr = rates[step] if rates is not None else req["learning_rate"]
            step += 1
            with torch.no_grad():
                for q in params:
                    q -= lr * q.grad
        out["loss"].append(total / n)
        out["accuracy"].append(hits / n)
        if n_val:
            with torch.no_grad():
                rows, hit = per_row(form, forward(params, acts, xv), yv)
                out["val_loss"].append(float(rows.mean()))
                out["val_accuracy"].append(float(hit.mean()))
    out["layers"] = [{"kernel": params[2 * i].detach().tolist(), "bias": params[2 * i + 1].detach().tolist()}
                     for i in range(len(acts))]
    return out


def main():
    req = json.load(sys.stdin)
    torch.set_default_dtype(torch.float64)
    out = train(req, {int(k): float(v) for k, v in req["class_weight"].items()})
    out["unweighted_loss"] = train(req, {})["loss"]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
