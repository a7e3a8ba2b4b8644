#!/usr/bin/python3
"""Writes tests/unit/core/metric_fixture.h: model outputs, targets and the
metrics scikit-learn computes on them, the independent reference that
tests/unit/core/test_nn_metric.c holds core/nn_metric.c to.

Run with Debian's python3 (it has numpy and scikit-learn):
    /usr/bin/python3 tests/unit/core/gen_metric_fixture.py
The output is deterministic (fixed seeds); commit it with this script.

Every output is a float32 (the model's outputs are), written exactly as a
hexadecimal literal; scikit-learn gets the same values widened to float64,
which is what the C code accumulates in.
"""
import os
import numpy as np
import sklearn
from sklearn import metrics as skm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metric_fixture.h")
NAMES = ["accuracy", "precision", "recall", "auc", "f1_score", "mae", "mse", "rmse", "r2_score"]


def softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def macro_ovr_auc(y, scores, k):
    """Mean of the binary ROC AUCs of the classes with both labels present."""
    vals = []
    for c in range(k):
        pos = (y == c)
        if pos.all() or not pos.any():
            continue
        vals.append(skm.roc_auc_score(pos.astype(int), scores[:, c]))
    return float(np.mean(vals)) if vals else float("nan")


def binary_case(name, rng, n, logits, ties, one_class=False, none_predicted=False):
    if logits:
        out = rng.normal(0, 2, size=(n, 1)).astype(np.float32)
    else:
        out = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
    if ties:  # few distinct scores: many ties across the classes
        out = (np.round(out * 4) / 4).astype(np.float32)
    y = (rng.uniform(size=n) < 0.4).astype(np.float32)
    if one_class:
        y[:] = 1
    if none_predicted:
        out[:] = np.float32(-3 if logits else 0.1)
    truth = (y > 0.5).astype(int)
    pred = (out[:, 0] > (0 if logits else 0.5)).astype(int)
    v = {
        "accuracy": skm.accuracy_score(truth, pred),
        "precision": skm.precision_score(truth, pred, zero_division=0),
        "recall": skm.recall_score(truth, pred, zero_division=0),
        "f1_score": skm.f1_score(truth, pred, zero_division=0),
        "auc": float("nan") if one_class else skm.roc_auc_score(truth, out[:, 0].astype(np.float64)),
    }
    cm = skm.confusion_matrix(truth, pred, labels=[0, 1])
    return dict(name=name, loss="NN_LOSS_BINARY_CROSSENTROPY", logits=logits, k=1, ydim=1,
                out=out, y=y.reshape(n, 1), v=v, cm=cm, classes=2)


def multiclass_case(name, rng, n, k, logits, sparse, ties, absent=None, unused=None):
    out = rng.normal(0, 1.5, size=(n, k)).astype(np.float32)
    if unused is not None:  # a class neither true nor predicted: left out of the macro averages
        assert logits
        out[:, unused] = np.float32(-20)
    if not logits:
        out = softmax(out).astype(np.float32)
    if ties:
        out = (np.round(out * 5) / 5).astype(np.float32)
    truth = rng.integers(0, k, size=n)
    for gone in (absent, unused):
        if gone is not None:
            truth[truth == gone] = (gone + 1) % k
    # argmax as the C code takes it: the first of equal maxima
    pred = np.argmax(out, axis=1)
    scores = softmax(out) if logits else out.astype(np.float64)
    v = {
        "accuracy": skm.accuracy_score(truth, pred),
        "precision": skm.precision_score(truth, pred, average="macro", zero_division=0),
        "recall": skm.recall_score(truth, pred, average="macro", zero_division=0),
        "f1_score": skm.f1_score(truth, pred, average="macro", zero_division=0),
        "auc": macro_ovr_auc(truth, scores, k),
    }
    if absent is None and unused is None and not ties:
        # sklearn's own multiclass path agrees with the per-class mean
        ref = skm.roc_auc_score(truth, scores / scores.sum(axis=1, keepdims=True), multi_class="ovr",
                                average="macro")
        assert abs(ref - v["auc"]) < 1e-12, (ref, v["auc"])
    cm = skm.confusion_matrix(truth, pred, labels=list(range(k)))
    if sparse:
        y = truth.astype(np.float32).reshape(n, 1)
        loss, ydim = "NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY", 1
    else:
        y = np.eye(k, dtype=np.float32)[truth]
        loss, ydim = "NN_LOSS_CATEGORICAL_CROSSENTROPY", k
    return dict(name=name, loss=loss, logits=logits, k=k, ydim=ydim, out=out, y=y, v=v, cm=cm, classes=k)


def regression_case(name, rng, n, k, constant=False, exact=False):
    y = rng.normal(3, 10, size=(n, k)).astype(np.float32)
    if constant:
        y[:, 0] = np.float32(2.5)
    out = (y + rng.normal(0, 2, size=(n, k))).astype(np.float32)
    if exact:
        out[:, 0] = y[:, 0]
    yd, od = y.astype(np.float64), out.astype(np.float64)
    mse = skm.mean_squared_error(yd, od)
    v = {
        "mae": skm.mean_absolute_error(yd, od),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "r2_score": skm.r2_score(yd, od),
    }
    return dict(name=name, loss="NN_LOSS_MSE", logits=False, k=k, ydim=k, out=out, y=y, v=v, cm=None,
                classes=0)


def floats(a):
    return ", ".join(float(x).hex() + "f" if x != 0 else "0.0f" for x in np.asarray(a, np.float32).ravel())


def dbl(x):
    return "NAN" if x != x else repr(float(x))


def main():
    rng = np.random.default_rng(20261201)
    cases = [
        binary_case("binary probabilities", rng, 200, False, False),
        binary_case("binary logits", rng, 157, True, False),
        binary_case("binary tied scores", rng, 300, False, True),
        binary_case("binary one class", rng, 40, False, False, one_class=True),
        binary_case("binary nothing predicted positive", rng, 50, True, False, none_predicted=True),
        multiclass_case("sparse 3 classes probabilities", rng, 150, 3, False, True, False),
        multiclass_case("one-hot 4 classes logits", rng, 173, 4, True, False, False),
        multiclass_case("sparse 5 classes tied scores", rng, 250, 5, False, True, True),
        multiclass_case("sparse 4 classes, class 2 never true", rng, 120, 4, False, True, False, absent=2),
        multiclass_case("one-hot 4 classes logits, class 3 neither true nor predicted", rng, 90, 4, True, False,
                        False, unused=3),
        regression_case("regression one output", rng, 300, 1),
        regression_case("regression three outputs", rng, 211, 3),
        regression_case("regression constant target predicted exactly", rng, 64, 2, constant=True,
                        exact=True),
        regression_case("regression constant target missed", rng, 64, 2, constant=True),
    ]
    lines = [
        "/* metric_fixture.h — written by tests/unit/core/gen_metric_fixture.py with scikit-learn %s;"
        % sklearn.__version__,
        " * do not edit: run the script. Model outputs, targets and sklearn's metrics on them. */",
        "#include <math.h>",
        "",
    ]
    for i, c in enumerate(cases):
        lines.append("static const float fx_out_%d[] = {%s};" % (i, floats(c["out"])))
        lines.append("static const float fx_y_%d[] = {%s};" % (i, floats(c["y"])))
        if c["cm"] is not None:
            lines.append("static const uint64_t fx_cm_%d[] = {%s};" %
                         (i, ", ".join(str(int(x)) for x in c["cm"].ravel())))
    lines.append("")
    lines.append("struct metric_case {")
    lines.append("\tconst char *name;")
    lines.append("\tenum nn_loss_kind loss;")
    lines.append("\tbool from_logits;")
    lines.append("\tuint32_t outputs, y_dim, classes;")
    lines.append("\tsize_t n;")
    lines.append("\tconst float *out, *y;")
    lines.append("\tconst uint64_t *confusion; /* NULL for regression */")
    lines.append("\tdouble expected[NN_METRIC_COUNT]; /* NaN: undefined or not applicable */")
    lines.append("};")
    lines.append("")
    lines.append("static const struct metric_case metric_cases[] = {")
    for i, c in enumerate(cases):
        n = c["out"].shape[0]
        exp = ", ".join(dbl(c["v"].get(k, float("nan"))) for k in NAMES)
        lines.append('\t{"%s", %s, %s, %d, %d, %d, %d, fx_out_%d, fx_y_%d, %s, {%s}},' %
                     (c["name"], c["loss"], "true" if c["logits"] else "false", c["k"], c["ydim"],
                      c["classes"], n, i, i, "fx_cm_%d" % i if c["cm"] is not None else "NULL", exp))
    lines.append("};")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
