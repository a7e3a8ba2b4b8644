#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpus of every fuzz target into
tests/fuzz/corpus/<target>/ (committed; rerun after changing a target's input
format). Realistic request bodies: the README's tutorial model, the model and
job of API.md, Keras 2 and Keras 3 to_json() output, CSV uploads, datasets,
weights, predict bodies; a few near misses each (a typo'd key, 2.5 units,
1e999) so the fuzzer starts next to the error paths too. The state-blob seeds
come from the targets themselves (FITD_FUZZ_WRITE_SEEDS), so they always
match the models the targets build.

    python3 tests/fuzz/make_corpus.py [--bin build/fuzz/bin]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def dense(units, act="relu", **kw):
    d = {"type": "dense", "units": units, "activation": act}
    d.update(kw)
    return d


TUTORIAL = {"name": "tutorial", "input_dim": 4,
            "layers": [dense(25), dense(15), dense(4, "softmax")],
            "loss": "sparse_categorical_crossentropy",
            "optimizer": {"type": "adam", "learning_rate": 0.001},
            "metrics": ["accuracy"], "seed": 42}

DIGITS = {"name": "digits-mlp", "input_dim": 64,
          "layers": [dense(25), dense(15), dense(10, "softmax")],
          "loss": "sparse_categorical_crossentropy",
          "optimizer": {"type": "adam", "learning_rate": 0.001},
          "metrics": ["accuracy"], "seed": 42}


def keras2(input_dim=64, input_layer=True):
    layers = []
    if input_layer:
        layers.append({"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, input_dim], "dtype": "float32", "sparse": False,
            "ragged": False, "name": "dense_input"}})
    first = {"name": "dense", "trainable": True, "dtype": "float32", "units": 25, "activation": "relu",
             "use_bias": True,
             "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
             "bias_initializer": {"class_name": "Zeros", "config": {}},
             "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.009999999776482582}},
             "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
             "bias_constraint": None}
    if not input_layer:
        first["batch_input_shape"] = [None, input_dim]
    layers.append({"class_name": "Dense", "config": first})
    layers.append({"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                                       "rate": 0.2, "noise_shape": None, "seed": None}})
    layers.append({"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "dtype": "float32", "units": 10, "activation": "softmax",
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}})
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers},
            "keras_version": "2.12.0", "backend": "tensorflow"}


def keras3(d=64):
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}

    def init(cls):
        return {"module": "keras.initializers", "class_name": cls, "config": {"seed": None} if cls != "Zeros" else {},
                "registered_name": None}
    return {"module": "keras", "class_name": "Sequential", "config": {
        "name": "sequential", "trainable": True, "dtype": dtype, "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "config": {
                "batch_shape": [None, d], "dtype": "float32", "sparse": False, "name": "input_layer"},
             "registered_name": None},
            {"module": "keras.layers", "class_name": "Dense", "config": {
                "name": "dense", "trainable": True, "dtype": dtype, "units": 32, "activation": "relu",
                "use_bias": True, "kernel_initializer": init("HeNormal"), "bias_initializer": init("Zeros"),
                "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                                       "config": {"l2": 0.001}, "registered_name": None},
                "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
             "registered_name": None, "build_config": {"input_shape": [None, d]}},
            {"module": "keras.layers", "class_name": "Dense", "config": {
                "name": "dense_1", "trainable": True, "units": 1, "activation": "sigmoid", "use_bias": True,
                "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"),
                "kernel_regularizer": None}, "registered_name": None,
             "build_config": {"input_shape": [None, 32]}}],
        "build_input_shape": [None, d]}, "registered_name": None,
        "build_config": {"input_shape": [None, d]}, "compile_config": None}


def model_seeds():
    out = {"tutorial": TUTORIAL, "digits": DIGITS}
    acts = ["linear", "sigmoid", "relu", "softmax", "tanh", "leaky_relu", "elu", "gelu", "softplus", "swish"]
    out["activations"] = {"name": "acts", "input_dim": 8,
                          "layers": [dense(6, a) for a in acts[:-1]] + [dense(3, "swish")],
                          "loss": "mse", "optimizer": "sgd"}
    out["act_objects"] = {"name": "act objects", "input_dim": 5, "layers": [
        dense(7, {"type": "leaky_relu", "alpha": 0.1}), dense(7, {"type": "gelu", "approximate": True}),
        dense(7, {"type": "elu", "alpha": 0.5}), {"type": "dropout", "rate": 0.2},
        dense(2, "sigmoid", use_bias=False)],
        "loss": {"type": "binary_crossentropy", "from_logits": False},
        "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True}}
    out["initializers"] = {"name": "init", "input_dim": 3, "layers": [
        dense(4, "relu", kernel_initializer="he_normal", bias_initializer="ones", l2=0.01),
        dense(4, "tanh", kernel_initializer="glorot_normal", bias_initializer="zeros"),
        dense(4, "relu", kernel_initializer="he_uniform", bias_initializer="zeros", use_bias=True),
        dense(4, "relu", kernel_initializer="lecun_uniform"), dense(4, "relu", kernel_initializer="lecun_normal"),
        dense(3, "linear", kernel_initializer="zeros")],
        "loss": "huber", "optimizer": {"type": "rmsprop", "learning_rate": 0.001, "rho": 0.9, "momentum": 0.1,
                                       "epsilon": 1e-07}}
    for loss in ["mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
                 "MeanSquaredError", "CategoricalCrossentropy", "BinaryCrossentropy"]:
        out["loss_" + loss] = {"input_dim": 2, "layers": [dense(3, "softmax")], "loss": loss}
    out["logits"] = {"input_dim": 2, "layers": [dense(3, "linear")],
                     "loss": {"type": "categorical_crossentropy", "from_logits": True},
                     "optimizer": {"type": "adagrad", "learning_rate": 0.01, "initial_accumulator_value": 0.1,
                                   "epsilon": 1e-07}}
    out["adam_full"] = {"input_dim": 1, "layers": [dense(1, "linear")], "loss": "mse",
                        "optimizer": {"type": "adam", "learning_rate": 0.002, "beta_1": 0.8, "beta_2": 0.99,
                                      "epsilon": 1e-08}, "metrics": [], "seed": 9007199254740991}
    out["keras2"] = {"name": "k2", "keras": keras2(), "loss": "sparse_categorical_crossentropy",
                     "optimizer": "adam", "metrics": ["accuracy"]}
    out["keras2_no_input"] = {"keras": keras2(8, False), "loss": "mse", "optimizer": "rmsprop"}
    out["keras3"] = {"keras": keras3(), "loss": "binary_crossentropy", "optimizer": {"type": "adam"}}
    out["keras_string"] = {"keras": json.dumps(keras2(16)), "loss": "SparseCategoricalCrossentropy",
                           "optimizer": "sgd"}
    out["keras_with_dim"] = {"input_dim": 64, "keras": keras3(64), "loss": "mse", "optimizer": "sgd"}
    # near misses
    bad = dict(TUTORIAL)
    bad["optimizer"] = {"type": "adam", "learning_rte": 0.001}
    out["bad_typo"] = bad
    out["bad_units"] = {"input_dim": 4, "layers": [dense(2.5, "relu"), dense(2, "softmax")], "loss": "mse"}
    out["bad_huge"] = {"input_dim": 1048576, "layers": [dense(65536)] * 3, "loss": "mse"}
    out["bad_unknown_layer"] = {"keras": {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Conv2D", "config": {"filters": 3}}]}}, "loss": "mse", "optimizer": "sgd"}
    res = {k: json.dumps(v) for k, v in out.items()}
    res["bad_inf"] = '{"input_dim": 4, "layers": [{"type": "dense", "units": 1e999}], "loss": "mse"}'
    res["bad_dup"] = '{"input_dim": 4, "input_dim": 5, "layers": [{"type": "dense", "units": 1}], "loss": "mse"}'
    res["pretty"] = json.dumps(TUTORIAL, indent=2)
    return res


def dataset_seeds():
    rng = random.Random(7)
    out = {}
    out["readme_toy"] = {"name": "toy", "x": [[0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]],
                         "y": [0, 1, 2, 3]}
    out["blobs"] = {"name": "blobs", "x": [[round(rng.gauss(0, 1), 4) for _ in range(4)] for _ in range(24)],
                    "y": [i % 4 for i in range(24)]}
    out["one_hot"] = {"name": "onehot", "x": [[1.5, -2], [0, 3e-3], [7, 8]],
                      "y": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    out["real"] = {"x": [[0.1], [0.2], [0.3]], "y": [0.25, -1.5e10, 3.4e38]}
    out["multi"] = {"name": "multi-output", "x": [[1, 2, 3], [4, 5, 6]], "y": [[0.5, 1.5], [2.5, 3.5]]}
    out["binary"] = {"name": "xor", "x": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0]}
    res = {k: json.dumps(v) for k, v in out.items()}
    res["bad_ragged"] = '{"name": "r", "x": [[1, 2], [3]], "y": [0, 1]}'
    res["bad_nan"] = '{"x": [[1e999]], "y": [0]}'
    res["unicode_name"] = '{"name": "d\\u00e9j\\u00e0 \\ud83d\\ude00", "x": [[1]], "y": [1]}'
    return res


def job_seeds():
    out = {}
    out["api_md"] = {"model_id": 1, "dataset_id": 1, "epochs": 10, "batch_size": 32, "validation_split": 0.2,
                     "shuffle": True, "seed": 7,
                     "early_stopping": {"monitor": "val_loss", "patience": 5, "min_delta": 0.0}}
    out["readme"] = {"model_id": 1, "dataset_id": 1, "epochs": 10, "batch_size": 32}
    out["minimal"] = {"model_id": 3, "dataset_id": 2}
    out["val_dataset"] = {"model_id": 2, "dataset_id": 5, "validation_dataset_id": 6, "epochs": 1000000,
                          "batch_size": 1048576, "shuffle": False,
                          "early_stopping": {"monitor": "val_accuracy", "patience": 0}}
    out["accuracy"] = {"model_id": 12, "dataset_id": 1, "seed": 0,
                       "early_stopping": {"monitor": "accuracy", "min_delta": 0.5}}
    out["null_es"] = {"model_id": 1, "dataset_id": 1, "early_stopping": None, "seed": None}
    res = {k: json.dumps(v) for k, v in out.items()}
    res["bad_epochs"] = '{"model_id": 1, "dataset_id": 1, "epochs": 1000000000000}'
    res["bad_float"] = '{"model_id": 1, "dataset_id": 1, "epochs": 2.5}'
    res["bad_both"] = '{"model_id": 1, "dataset_id": 1, "validation_dataset_id": 2, "validation_split": 0.1}'
    return res


def sweep_seeds():
    model = {"input_dim": 4, "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                        {"type": "dense", "units": 3, "activation": "softmax"}],
             "loss": "sparse_categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.001},
             "metrics": ["accuracy"]}
    job = {"dataset_id": 1, "validation_dataset_id": 2, "epochs": 3}
    out = {}
    out["grid"] = {"name": "g", "model": model, "job": job, "metric": "val_loss", "mode": "min",
                   "grid": {"optimizer.learning_rate": [1e-3, 3e-3], "layers[0].units": [16, 64],
                            "job.batch_size": [32, 128]}}
    out["random"] = {"model": model, "job": job, "metric": "val_accuracy",
                     "random": {"trials": 5, "seed": 3, "params": {
                         "optimizer.learning_rate": {"min": 1e-4, "max": 1e-1, "scale": "log"},
                         "layers[0].units": {"values": [16, 32, 64]},
                         "epochs": {"min": 1, "max": 4, "integer": True}}}}
    out["new_fields"] = {"model": model, "job": {"dataset_id": 1}, "metric": "loss",
                         "grid": {"job.early_stopping": [None, {"monitor": "loss", "patience": 1}],
                                  "validation_split": [0, 0.2], "model.seed": [1, 2]}}
    res = {k: json.dumps(v) for k, v in out.items()}
    res["bad_path"] = json.dumps({"model": model, "job": job, "metric": "loss", "grid": {"layers[9].units": [1]}})
    res["bad_range"] = json.dumps({"model": model, "job": job, "metric": "loss",
                                   "random": {"trials": 2, "params": {"epochs": {"min": 3, "max": 1}}}})
    return res


# Matches fuzz_weights.c: 3 -> Dense(4) -> Dropout -> Dense(3, no bias) -> Dense(2).
def weights_seeds():
    rng = random.Random(3)

    def mat(r, c):
        return [[rng.uniform(-1, 1) for _ in range(c)] for _ in range(r)]
    good = {"layers": [{"kernel": mat(3, 4), "bias": [0.0] * 4}, {"kernel": mat(4, 3)},
                       {"kernel": mat(3, 2), "bias": [0.1, -0.1]}]}
    res = {"good": json.dumps(good)}
    exact = {"layers": [{"kernel": [[1.17549435e-38, -3.40282347e+38, 0.100000001, -0.0]] * 3, "bias": [1, 2, 3, 4]},
                        {"kernel": [[1e-45, 2, 3]] * 4}, {"kernel": [[0, 0]] * 3, "bias": [0, 0]}]}
    res["extremes"] = json.dumps(exact)
    bad = json.loads(res["good"])
    bad["layers"][1]["bias"] = [0, 0, 0]
    res["bad_bias"] = json.dumps(bad)
    bad = json.loads(res["good"])
    bad["layers"][0]["kernel"] = bad["layers"][0]["kernel"][:2]
    res["bad_shape"] = json.dumps(bad)
    res["bad_overflow"] = res["good"].replace("0.1,", "3.5e38,", 1)
    # Keras's flat get_weights() list (kernel, bias, kernel, kernel, bias)
    layers = json.loads(res["good"])["layers"]
    flat = [layers[0]["kernel"], layers[0]["bias"], layers[1]["kernel"], layers[2]["kernel"], layers[2]["bias"]]
    res["flat"] = json.dumps(flat)
    res["flat_short"] = json.dumps(flat[:4])
    return res


def instances_seeds():
    rng = random.Random(5)
    res = {"one": '{"instances": [[0, 0, 1, 1]]}',
           "readme": json.dumps({"instances": [[0, 0, 1, 1], [1, 1, 0, 0]]}),
           "many": json.dumps({"instances": [[round(rng.gauss(0, 2), 3) for _ in range(4)] for _ in range(64)]}),
           "extreme": '{"instances": [[3.4e38, -3.4e38, 1e-45, -0.0]]}',
           "bad_width": '{"instances": [[1, 2, 3]]}',
           "bad_key": '{"inputs": [[1, 2, 3, 4]]}'}
    return res


def v2_infer_seeds():
    t = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 1, 1]}
    res = {"one": json.dumps({"inputs": [t]}),
           "nested": json.dumps({"id": "r1", "inputs": [dict(t, shape=[2, 4], data=[[0, 0, 1, 1], [1, 1, 0, 0]])],
                                 "outputs": [{"name": "output"}], "parameters": {"store": False}}),
           "escaped_id": json.dumps({"id": "a\"b\\c\u00e9\n", "inputs": [t]}),
           "bad_type": json.dumps({"inputs": [dict(t, datatype="BYTES", data=["a", "b", "c", "d"])]}),
           "bad_shape": json.dumps({"inputs": [dict(t, shape=[2, 4])]}),
           "binary": json.dumps({"inputs": [dict(t, parameters={"binary_data_size": 16})]})}
    return res


def evaluate_seeds():
    return {"ok": '{"dataset_id": 1}', "big": '{"dataset_id": 9007199254740991}', "bad": '{"dataset_id": 0}',
            "float": '{"dataset_id": 1.0}'}


# fuzz_csv.c: byte 0 options (header = b % 3; label = (b / 3) % 5: last, 0, 1, 3, "target"), byte 1 chunking.
def csv_seeds():
    rng = random.Random(11)
    rows = "\n".join(",".join("%.4g" % rng.gauss(0, 1) for _ in range(4)) + ",%d" % (i % 3) for i in range(20))
    s = {}
    s["header_auto_last"] = (0, 7, "x1,x2,x3,x4,target\n" + rows + "\n")
    s["no_header"] = (1, 3, rows)
    s["header_yes_idx0"] = (2 + 3, 200, "label,a,b\n1,2,3\n0,4.5,-6e-3\n")
    s["by_name"] = (0 + 12, 1, "a,target,b\r\n1,0,2\r\n3,1,4\r\n")
    s["quoted"] = (0, 9, '"a","b ""q""","target"\n"1.5",2,"3"\n 4 , 5 ,6\n')
    s["bom_crlf"] = (0, 17, "\ufeffx,y\r\n1,2\r\n\r\n3,4")
    s["exponents"] = (1, 33, "1e3,-2.5E-2,+7\n.5,5.,0\n")
    s["label_idx3"] = (9, 5, "a,b,c,d,e\n1,2,3,4,5\n6,7,8,9,10\n")
    s["quoted_newline"] = (2, 60, 'a,"b\nc",d\n1,2,3\n')
    s["bad_cell"] = (1, 2, "1,2\n3,abc\n")
    s["bad_cols"] = (1, 2, "1,2,3\n4,5\n")
    s["bad_inf"] = (1, 2, "1,1e999\n")
    return {k: bytes([a, b]) + v.encode("utf-8") for k, (a, b, v) in s.items()}


def http_seeds():
    paths = ["/healthz", "/readyz", "/metrics", "/v1/info", "/v1/datasets", "/v1/datasets/1", "/v1/models",
             "/v1/models/12", "/v1/models/3/weights", "/v1/models/3/predict", "/v1/models/3/evaluate",
             "/v1/models/3/predictions", "/v1/predictions/99", "/v1/jobs", "/v1/jobs/7", "/v1/jobs/7/history",
             "/v1/jobs/7/events", "/v1/jobs/7/cancel", "/", "/index.html", "/v1/models//weights",
             "/v1/models/1/", "//v1/jobs", "/v1/jobs/{id}", "/v1/models/%2F/weights"]
    res = {"p%02d" % i: p for i, p in enumerate(paths)}
    res["custom1"] = "/a/{x}/b/{y}\n/a/1/b/2"
    res["custom2"] = "/{\n/x"
    res["custom3"] = "/a{b}\n/a{b}"
    return res


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, body in sorted(seeds.items()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        with open(os.path.join(d, name), "wb") as f:
            f.write(body)
    print("%-12s %3d seeds" % (target, len(seeds)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "fuzz", "bin"))
    a = ap.parse_args()
    write("model", model_seeds())
    write("dataset", dataset_seeds())
    write("job", job_seeds())
    write("sweep", sweep_seeds())
    write("weights", weights_seeds())
    write("instances", instances_seeds())
    write("evaluate", evaluate_seeds())
    write("v2_infer", v2_infer_seeds())
    write("csv", csv_seeds())
    write("http_match", http_seeds())
    for t in ("model_state", "train_state"):
        d = os.path.join(HERE, "corpus", t)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        env = dict(os.environ, FITD_FUZZ_WRITE_SEEDS=d)
        subprocess.run([os.path.join(a.bin, "fuzz_" + t)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("%-12s %3d seeds" % (t, len(os.listdir(d))))


if __name__ == "__main__":
    sys.exit(main())
