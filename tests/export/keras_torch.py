"""tests/export/keras_torch.py — PyTorch builds the network that a fitd Keras
export describes and runs rows through it (run by test_export.py under
Debian's /usr/bin/python3, which has torch; Keras itself is not installed).

stdin: {"export": {"config": <model.to_json() document>, "weights": [...]}, "rows": [[...]]}
stdout: {"output": [[...]]}

Only the Keras 3 to_json() fields are read, the way keras.models.model_from_json
would read them: Sequential -> layers; InputLayer.batch_shape; Dense units,
activation, use_bias; Dropout (identity in inference); LeakyReLU negative_slope;
ELU alpha; Normalization axis -1 (mean/variance in the config, or its weights
mean, variance, count); BatchNormalization axis -1 (inference: moving statistics). The weights are get_weights()'s flat list, consumed in order."""
import json
import sys

import torch

ACTS = {
    "linear": lambda t: t,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda t: torch.softmax(t, dim=-1),
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
    "elu": lambda t: torch.nn.functional.elu(t, 1.0),
    "gelu": lambda t: torch.nn.functional.gelu(t, approximate="none"),
    "softplus": torch.nn.functional.softplus,
    "silu": torch.nn.functional.silu,
}


def main():
    req = json.load(sys.stdin)
    doc, weights = req["export"]["config"], list(req["export"]["weights"])
    assert doc["class_name"] == "Sequential", doc["class_name"]
    x = torch.tensor(req["rows"], dtype=torch.float32)
    seen_input = False
    with torch.no_grad():
        for layer in doc["config"]["layers"]:
            cls, cfg = layer["class_name"], layer["config"]
            if cls == "InputLayer":
                assert cfg["batch_shape"][1] == x.shape[1], cfg
                seen_input = True
            elif cls == "Dense":
                kernel = torch.tensor(weights.pop(0), dtype=torch.float32)
                assert list(kernel.shape) == [x.shape[1], cfg["units"]], (kernel.shape, cfg)
                x = x @ kernel
                if cfg["use_bias"]:
                    x = x + torch.tensor(weights.pop(0), dtype=torch.float32)
                x = ACTS[cfg["activation"]](x)
            elif cls == "Normalization":
                # Keras 3: (x - mean) / maximum(sqrt(variance), epsilon 1e-7), axis -1;
                # given values in the config, else the weights mean, variance, count
                assert cfg["axis"] in (-1, [-1]) and not cfg["invert"], cfg
                if cfg["mean"] is not None:
                    mean, var = cfg["mean"], cfg["variance"]
                else:
                    mean, var, count = weights.pop(0), weights.pop(0), weights.pop(0)
                    assert isinstance(count, int) or float(count).is_integer(), count
                mean = torch.tensor(mean, dtype=torch.float32)
                var = torch.tensor(var, dtype=torch.float32)
                assert list(mean.shape) == [x.shape[1]] == list(var.shape), (mean.shape, var.shape)
                x = (x - mean) / torch.maximum(torch.sqrt(var), torch.tensor(1e-7, dtype=torch.float32))
            elif cls == "BatchNormalization":
                # Keras 3 at inference: gamma (x - moving_mean) / sqrt(moving_variance + epsilon) + beta;
                # weights gamma (scale), beta (center), moving_mean, moving_variance
                assert cfg["axis"] in (-1, [-1]), cfg
                gamma = torch.tensor(weights.pop(0), dtype=torch.float32) if cfg["scale"] else 1.0
                beta = torch.tensor(weights.pop(0), dtype=torch.float32) if cfg["center"] else 0.0
                mm = torch.tensor(weights.pop(0), dtype=torch.float32)
                mv = torch.tensor(weights.pop(0), dtype=torch.float32)
                assert list(mm.shape) == [x.shape[1]] == list(mv.shape), (mm.shape, mv.shape)
                x = gamma * (x - mm) / torch.sqrt(mv + cfg["epsilon"]) + beta
            elif cls == "Dropout":
                pass
            elif cls == "LeakyReLU":
                x = torch.nn.functional.leaky_relu(x, cfg["negative_slope"])
            elif cls == "ELU":
                x = torch.nn.functional.elu(x, cfg["alpha"])
            else:
                raise SystemExit("unexpected Keras layer %s" % cls)
    assert seen_input, "no InputLayer"
    assert not weights, "%d weight arrays left over" % len(weights)
    json.dump({"output": x.tolist()}, sys.stdout)


main()
