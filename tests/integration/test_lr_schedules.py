"""Learning-rate schedules and ReduceLROnPlateau (issue 14 item 2): every
epoch row's learning_rate against Keras's formulas written out here
independently (evaluated at the optimizer's iterations: the first step sees
0), the History and final weights against PyTorch float64 running plain SGD
with those per-step rates (tests/integration/torch_class_weight.py), the
plateau's rates by Keras's rules, a SIGKILL mid-plateau resuming
bit-identically, and the 422s."""
import json
import math
import os
import struct
import subprocess

from harness import FitdCase, T, blobs, hist_values, mlp_body
from test_restart import RESUME_ARGS, ResumeCase, resume_epochs

TORCH_PYTHON = "/usr/bin/python3"
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_class_weight.py")


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def keras_rate(s, step):
    """Keras 3's schedules (keras.optimizers.schedules), from their documented formulas."""
    t = s["type"]
    if t in ("ExponentialDecay", "InverseTimeDecay"):
        p = step / s["decay_steps"]
        if s.get("staircase"):
            p = math.floor(p)
        if t == "ExponentialDecay":
            return s["initial_learning_rate"] * s["decay_rate"] ** p
        return s["initial_learning_rate"] / (1 + s["decay_rate"] * p)
    if t == "PiecewiseConstantDecay":
        for b, v in zip(s["boundaries"], s["values"]):
            if step <= b:
                return v
        return s["values"][-1]
    alpha, decay = s.get("alpha", 0.0), s["decay_steps"]
    target, warm = s.get("warmup_target"), s.get("warmup_steps", 0)

    def cosine(k, start):
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * k / decay)) + alpha)
    if target is None:
        return cosine(min(step, decay), s["initial_learning_rate"])
    step = min(step, decay + warm)
    if step < warm:
        return (target - s["initial_learning_rate"]) * step / warm + s["initial_learning_rate"]
    return cosine(step - warm, target)


SCHEDULES = [
    {"type": "ExponentialDecay", "initial_learning_rate": 0.2, "decay_steps": 3, "decay_rate": 0.8},
    {"type": "ExponentialDecay", "initial_learning_rate": 0.2, "decay_steps": 3, "decay_rate": 0.8,
     "staircase": True},
    {"type": "PiecewiseConstantDecay", "boundaries": [4, 9], "values": [0.2, 0.05, 0.01]},
    {"type": "CosineDecay", "initial_learning_rate": 0.2, "decay_steps": 12, "alpha": 0.1},
    {"type": "CosineDecay", "initial_learning_rate": 0.0, "decay_steps": 10, "warmup_target": 0.3,
     "warmup_steps": 5},
    {"type": "InverseTimeDecay", "initial_learning_rate": 0.2, "decay_steps": 2, "decay_rate": 0.5},
    {"type": "InverseTimeDecay", "initial_learning_rate": 0.2, "decay_steps": 2, "decay_rate": 0.5,
     "staircase": True},
]


class TestLearningRateSchedules(FitdCase):
    def setUp(self):
        super().setUp()
        self.srv = self.server(name="lr")
        self.c = self.srv.client

    def reference(self, x, y, initial, rates, epochs, batch, n_val=0):
        probe = subprocess.run([TORCH_PYTHON, "-c", "import torch"], capture_output=True, text=True)
        self.assertEqual(probe.returncode, 0, "precondition: %s has torch" % TORCH_PYTHON)
        req = {"x": x, "y": y, "form": "sparse", "layers": initial["layers"], "activations": ["relu", "softmax"],
               "epochs": epochs, "batch_size": batch, "learning_rates": rates, "class_weight": {}, "n_val": n_val}
        ref = subprocess.run([TORCH_PYTHON, REFERENCE], input=json.dumps(req), capture_output=True, text=True,
                             timeout=T(300))
        self.assertEqual(ref.returncode, 0, ref.stderr[-2000:])
        return json.loads(ref.stdout)

    def check_against(self, history, final, want, what):
        for e, row in enumerate(history):
            self.assertAlmostEqual(row["loss"], want["loss"][e], delta=1e-5 * want["loss"][e],
                                   msg="%s epoch %d loss" % (what, e + 1))
        for got, ref_layer in zip(final["layers"], want["layers"]):
            for name in ("kernel", "bias"):
                g = [v for r in got[name] for v in (r if isinstance(r, list) else [r])]
                r = [v for r in ref_layer[name] for v in (r if isinstance(r, list) else [r])]
                for a, b in zip(g, r):
                    # 20 float32 SGD steps of rates <= 0.3
                    self.assertLessEqual(abs(a - b), 2e-5 + 1e-5 * abs(b), "%s: fitd %r, torch %r" % (what, a, b))

    def test_every_schedule_like_keras(self):
        c = self.c
        x, y = blobs(n=40, features=5, classes=3, seed=6, spread=1.0)
        data = self.create_dataset(c, x, y, name="lr")
        epochs, batch = 5, 10   # 4 steps an epoch, 20 in all
        for s in SCHEDULES:
            what = json.dumps(s)
            model = self.create_model(c, mlp_body(input_dim=5, hidden=(6,), outputs=3, seed=3,
                                                  optimizer={"type": "sgd", "learning_rate": s}))
            echoed = dict(model["optimizer"]["learning_rate"])
            for k, v in s.items():
                self.assertEqual(echoed[k], v, what)
            # as Keras's serialize() writes it, through the Keras import's optimizer field too
            keras_form = {"module": "keras.optimizers.schedules", "class_name": s["type"], "registered_name": None,
                          "config": dict({k: v for k, v in s.items() if k != "type"}, name=s["type"])}
            twin = self.create_model(c, mlp_body(input_dim=5, hidden=(6,), outputs=3, seed=3,
                                                 optimizer={"type": "sgd", "learning_rate": keras_form}))
            self.assertEqual(twin["optimizer"], model["optimizer"], what)
            initial = c.get("/v1/models/%d/weights" % model["id"]).json
            job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                      "batch_size": batch, "shuffle": False})
            done = self.wait_job(c, job["id"], timeout=T(60))
            self.assertEqual(done["status"], "succeeded", done.get("error"))
            history = self.history(c, job["id"])
            for e, row in enumerate(history, 1):
                # optimizer.learning_rate at the end of epoch e: schedule(4 e)
                want = keras_rate(s, 4 * e)
                self.assertAlmostEqual(row["learning_rate"], want, delta=1e-12 + 1e-12 * want,
                                       msg="%s epoch %d" % (what, e))
            rates = [keras_rate(s, k) for k in range(epochs * 4)]
            self.assertGreater(max(rates) - min(rates), 0.01, "precondition: the rate changes")
            want = self.reference(x, y, initial, rates, epochs, batch)
            self.check_against(history, c.get("/v1/models/%d/weights" % model["id"]).json, want, what)

    def test_reduce_lr_on_plateau_like_keras(self):
        c = self.c
        x, y = blobs(n=40, features=5, classes=3, seed=6, spread=1.0)
        data = self.create_dataset(c, x, y, name="plateau")
        model = self.create_model(c, mlp_body(input_dim=5, hidden=(6,), outputs=3, seed=3,
                                              optimizer={"type": "sgd", "learning_rate": 0.2}))
        initial = c.get("/v1/models/%d/weights" % model["id"]).json
        # min_delta no epoch can beat: epoch 1 improves on +inf, then every
        # epoch waits; patience 2, cooldown 2 (1 would change nothing in
        # Keras: it ends before the next epoch's wait counts), factor 0.5, min_lr 0.04
        plateau = {"monitor": "loss", "patience": 2, "cooldown": 2, "factor": 0.5, "min_delta": 1e9, "min_lr": 0.04}
        epochs, batch = 12, 10
        job = self.submit_job(c, {"model_id": model["id"], "dataset_id": data["id"], "epochs": epochs,
                                  "batch_size": batch, "shuffle": False, "reduce_lr_on_plateau": plateau})
        self.assertEqual(job["reduce_lr_on_plateau"], dict(plateau, mode="auto"))
        done = self.wait_job(c, job["id"], timeout=T(60))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        history = self.history(c, job["id"])
        # Keras's ReduceLROnPlateau, by hand: the rate logged is the one in
        # force before the epoch's reduction; the variable is float32
        lr, best, wait, cool, logged = f32(0.2), math.inf, 0, 0, []
        for row in history:
            logged.append(lr)
            current = row["loss"]
            if cool > 0:
                cool, wait = cool - 1, 0
            if current < best - 1e9:
                best, wait = current, 0
            elif cool == 0:
                wait += 1
                if wait >= 2 and lr > f32(0.04):
                    lr, cool, wait = f32(max(lr * 0.5, 0.04)), 2, 0
        self.assertEqual([r["learning_rate"] for r in history], logged)
        self.assertEqual(logged[:7], [f32(0.2)] * 3 + [f32(0.1)] * 3 + [f32(0.05)], "precondition: reductions")
        self.assertEqual(logged[-1], f32(0.04), "precondition: min_lr reached")
        rates = [r for r in logged for _ in range(4)]
        want = self.reference(x, y, initial, rates, epochs, batch)
        self.check_against(history, c.get("/v1/models/%d/weights" % model["id"]).json, want, "plateau")

    def test_refused(self):
        c = self.c
        x, y = blobs(n=40, features=5, classes=3, seed=6)
        data = self.create_dataset(c, x, y, name="bad")
        base = {"input_dim": 5, "layers": [{"type": "dense", "units": 3, "activation": "softmax"}],
                "loss": "sparse_categorical_crossentropy"}
        for lr, field in (({"type": "StepDecay"}, "optimizer.learning_rate.type"),
                          ({"type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 0,
                            "decay_rate": 0.5}, "optimizer.learning_rate.decay_steps"),
                          ({"type": "PiecewiseConstantDecay", "boundaries": [5], "values": [0.1]},
                           "optimizer.learning_rate.values"),
                          ({"class_name": "CosineDecay", "config": {"decay_steps": 10}},
                           "optimizer.learning_rate.config.initial_learning_rate")):
            self.assertError(c.post("/v1/models", dict(base, optimizer={"type": "sgd", "learning_rate": lr})),
                             422, "validation_failed", field)
        sched = self.create_model(c, dict(base, optimizer={"type": "sgd", "learning_rate": {
            "type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}))
        self.assertError(c.post("/v1/jobs", {"model_id": sched["id"], "dataset_id": data["id"],
                                             "reduce_lr_on_plateau": {"monitor": "loss"}}),
                         422, "validation_failed", "reduce_lr_on_plateau")
        plain = self.create_model(c, base)
        for p, field in (({}, "reduce_lr_on_plateau.monitor"), ({"factor": 1.0}, "reduce_lr_on_plateau.factor"),
                         ({"mode": "up"}, "reduce_lr_on_plateau.mode")):
            self.assertError(c.post("/v1/jobs", {"model_id": plain["id"], "dataset_id": data["id"],
                                                 "reduce_lr_on_plateau": p}), 422, "validation_failed", field)
        self.assertEqual(c.get("/v1/jobs").json["total"], 0)


class TestPlateauResume(ResumeCase):
    @staticmethod
    def resume_job_body(model_id, dataset_id):
        body = ResumeCase.resume_job_body(model_id, dataset_id)
        # a reduction every few dozen epochs all along the run: min_delta
        # no epoch beats, patience and cooldown that keep state across commits
        body["reduce_lr_on_plateau"] = {"monitor": "val_loss", "patience": 40, "cooldown": 7, "factor": 0.9,
                                        "min_delta": 1e9, "min_lr": 1e-6}
        return body

    def test_sigkill_mid_plateau_resumes_exactly(self):
        srv = self.server(args=RESUME_ARGS, name="plateau-kill")
        c = srv.client
        data, model, job = self.setup_resume_job(c)
        at = self.wait_progress(c, job["id"])["epoch"]
        srv.kill()
        srv.start()
        c = srv.client
        done = self.check_resumed(c, job["id"], data["id"], at)
        epochs = self.history(c, job["id"])
        ref = [j for j in c.get("/v1/jobs?limit=500").json["items"] if j["id"] != job["id"]][0]
        ref_epochs = self.history(c, ref["id"])
        self.assertEqual([e["learning_rate"] for e in epochs], [e["learning_rate"] for e in ref_epochs])
        rates = sorted(set(e["learning_rate"] for e in epochs))
        self.assertGreater(len(rates), 5, "precondition: the rate was reduced several times")
        self.assertEqual(done["epoch"], resume_epochs())


class TestScheduleResume(ResumeCase):
    def test_sigkill_mid_schedule_resumes_exactly(self):
        """The schedule's step is the optimizer's iterations, saved with the
        model state: a job killed mid-run resumes with the same rates."""
        srv = self.server(args=RESUME_ARGS, name="schedule-kill")
        c = srv.client
        x, y = blobs(n=600, features=32, classes=4, seed=8)
        data = self.create_dataset(c, x, y, name="resume")
        steps = resume_epochs() * 17   # 540 training rows in batches of 32
        body = mlp_body(input_dim=32, hidden=(64, 64), outputs=4, seed=77, optimizer={
            "type": "adam", "learning_rate": {"type": "CosineDecay", "initial_learning_rate": 0.0,
                                              "decay_steps": steps, "warmup_target": 0.002,
                                              "warmup_steps": steps // 10, "alpha": 0.05}})
        model = self.create_model(c, body)
        job_body = self.resume_job_body(model["id"], data["id"])
        job = self.submit_job(c, job_body)
        at = self.wait_progress(c, job["id"])["epoch"]
        srv.kill()
        srv.start()
        c = srv.client
        twin = self.create_model(c, body)
        ref = self.submit_job(c, self.resume_job_body(twin["id"], data["id"]))
        done = self.wait_job(c, job["id"], timeout=T(180))
        ref_done = self.wait_job(c, ref["id"], timeout=T(180))
        self.assertEqual((done["status"], ref_done["status"]), ("succeeded", "succeeded"))
        self.assertEqual(done["weights_sha256"], ref_done["weights_sha256"],
                         "killed after epoch %d, the job does not end as an uninterrupted one" % at)
        epochs, ref_epochs = self.history(c, job["id"]), self.history(c, ref["id"])
        self.assertHistoryComplete(epochs, resume_epochs())
        self.assertEqual(hist_values(epochs), hist_values(ref_epochs))
        rates = [e["learning_rate"] for e in epochs]
        self.assertEqual(rates, [e["learning_rate"] for e in ref_epochs])
        want = keras_rate(dict(model["optimizer"]["learning_rate"]), 17 * resume_epochs())
        self.assertAlmostEqual(rates[-1], want, delta=1e-15 + 1e-12 * want)
        self.assertGreater(max(rates) - min(rates), 1e-3, "precondition: the rate moved")
