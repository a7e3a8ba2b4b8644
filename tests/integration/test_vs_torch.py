"""The tutorial model trained for a few epochs through the HTTP API against
PyTorch in float64 running the same batches with Keras's update rules
(tests/integration/torch_reference.py under Debian's /usr/bin/python3 with
python3-torch, which `make deps` installs): the History loss of every epoch
and the final weights agree within what float32 arithmetic allows."""
import json
import os
import subprocess

from harness import Config, FitdCase, T, blobs, mlp_body

TORCH_PYTHON = "/usr/bin/python3"
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.py")


class TestAgainstTorch(FitdCase):
    def test_tutorial_model_trains_like_keras_in_torch_float64(self):
        probe = subprocess.run([TORCH_PYTHON, "-c", "import torch"], capture_output=True, text=True)
        self.assertEqual(probe.returncode, 0, "precondition: %s has torch (Debian: apt-get install python3-torch; "
                         "make deps does): %s" % (TORCH_PYTHON, probe.stderr.strip()[-300:]))
        srv = self.server(name="vs-torch")
        c = srv.client
        x, y = blobs(n=400, features=16, classes=4, seed=1)
        data = self.create_dataset(c, x, y, name="tutorial")
        model = self.create_model(c, mlp_body(input_dim=16, hidden=(25, 15), outputs=4, name="tutorial", seed=42))
        opt = model["optimizer"]
        self.assertEqual((opt["type"].lower(), opt["learning_rate"]), ("adam", 0.001))
        initial = c.get("/v1/models/%d/weights" % model["id"]).json
        epochs, batch = 5, 32
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": batch, "shuffle": False})
        self.assertEqual(self.wait_job(c, job["id"], timeout=T(120))["status"], "succeeded")
        history = self.history(c, job["id"])
        final = c.get("/v1/models/%d/weights" % model["id"]).json

        # what the server trained on: the stored rows, float32
        req = {"x": x, "y": y, "layers": initial["layers"], "activations": ["relu", "relu", "softmax"],
               "epochs": epochs, "batch_size": batch,
               "optimizer": {k: opt[k] for k in ("learning_rate", "beta_1", "beta_2", "epsilon")}}
        ref = subprocess.run([TORCH_PYTHON, REFERENCE], input=json.dumps(req), capture_output=True, text=True,
                             timeout=T(300))
        self.assertEqual(ref.returncode, 0, ref.stderr[-2000:])
        want = json.loads(ref.stdout)

        self.assertEqual(len(history), epochs)
        for e, (row, loss, acc) in enumerate(zip(history, want["loss"], want["accuracy"]), 1):
            # float32 sums over 400 rows and 65 Adam steps: 1e-5 relative is ~80 float32 ulps
            # (seen here: 6e-8)
            self.assertAlmostEqual(row["loss"], loss, delta=1e-5 * loss,
                                   msg="epoch %d loss: fitd %r, torch float64 %r" % (e, row["loss"], loss))
            self.assertAlmostEqual(row["accuracy"], acc, delta=1.5 / len(x),
                                   msg="epoch %d accuracy: fitd %r, torch %r" % (e, row["accuracy"], acc))
        self.assertLess(want["loss"][-1], want["loss"][0], "precondition: the reference learned something")
        worst = 0.0
        for i, (got, ref_layer, start) in enumerate(zip(final["layers"], want["layers"], initial["layers"])):
            for name in ("kernel", "bias"):
                g = [v for row in got[name] for v in (row if isinstance(row, list) else [row])]
                r = [v for row in ref_layer[name] for v in (row if isinstance(row, list) else [row])]
                s = [v for row in start[name] for v in (row if isinstance(row, list) else [row])]
                self.assertEqual(len(g), len(r))
                moved = max(abs(a - b) for a, b in zip(r, s))
                self.assertGreater(moved, 1e-3, "precondition: layer %d %s moved in training" % (i, name))
                for k, (a, b) in enumerate(zip(g, r)):
                    err = abs(a - b)
                    worst = max(worst, err)
                    # 65 float32 steps of at most lr = 1e-3 each round to ~1e-7
                    # absolute (seen here: 2.3e-7)
                    self.assertLessEqual(err, 5e-6 + 1e-5 * abs(b),
                                         "layer %d %s[%d]: fitd %r, torch float64 %r" % (i, name, k, a, b))
        if Config.verbose:
            print("  vs torch float64: loss relative difference %.2e at most, weights %.2e at most" % (
                max(abs(r["loss"] - l) / l for r, l in zip(history, want["loss"])), worst))
        srv.stop()
