"""Validation splits and seeds (issue 12): validation_split_mode tail (Keras's
default, unchanged), random or stratified, seeded by the job's seed; a job
without a seed takes its model's, so the README's reproducibility promise
holds for the quick start as written."""
from harness import FitdCase, T, blobs, mlp_body


def sorted_classes(n_per=40, classes=3):
    """Rows sorted by class, as iris is usually distributed."""
    x, y = blobs(n=n_per * classes, features=4, classes=classes, seed=3, spread=0.8)
    rows = sorted(zip(y, x), key=lambda r: r[0])
    return [r[1] for r in rows], [r[0] for r in rows]


class TestSplits(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="splits")
        cls.c = cls.srv.client
        x, y = sorted_classes()
        cls.data = cls.srv.client.post("/v1/datasets", {"name": "sorted", "x": x, "y": y}).json

    def run_job(self, body, model_seed=42, name=None):
        model = self.create_model(self.c, mlp_body(input_dim=4, hidden=(8,), outputs=3, seed=model_seed, name=name))
        job = self.submit_job(self.c, dict({"model_id": model["id"], "dataset_id": self.data["id"], "epochs": 3,
                                            "batch_size": 16}, **body))
        done = self.wait_job(self.c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        return model, job, done

    def test_mode_is_kept_and_defaults_to_tail(self):
        _, job, _ = self.run_job({"validation_split": 0.25})
        self.assertEqual(job["validation_split_mode"], "tail")
        for mode in ("random", "stratified"):
            _, job, done = self.run_job({"validation_split": 0.25, "validation_split_mode": mode})
            self.assertEqual(job["validation_split_mode"], mode)
            self.assertEqual(self.c.get("/v1/jobs/%d" % job["id"]).json["validation_split_mode"], mode)
            self.assertIn("val_loss", self.history(self.c, job["id"])[-1])

    def test_split_changes_what_validates(self):
        """The same job twice gives the same curves and weights (the split
        is seeded); tail, stratified and random splits of the same sorted
        rows train on different rows, so their weights differ. (Which rows
        each mode takes is checked in tests/unit/core/test_nn_split.c.)"""
        runs = {}
        for mode in ("tail", "stratified", "stratified", "random"):
            _, _, done = self.run_job({"validation_split": 0.25, "validation_split_mode": mode, "seed": 5})
            runs.setdefault(mode, []).append(done)
        a, b = runs["stratified"]
        self.assertEqual(a["weights_sha256"], b["weights_sha256"])
        self.assertEqual([e["val_loss"] for e in self.history(self.c, a["id"])],
                         [e["val_loss"] for e in self.history(self.c, b["id"])])
        # a different split trains on different rows: different weights
        self.assertNotEqual(a["weights_sha256"], runs["tail"][0]["weights_sha256"])
        self.assertNotEqual(a["weights_sha256"], runs["random"][0]["weights_sha256"])

    def test_job_without_seed_takes_the_model_seed(self):
        model, job, done = self.run_job({"validation_split": 0.25, "validation_split_mode": "random"}, model_seed=77)
        self.assertEqual(job["seed"], 77)
        _, job2, done2 = self.run_job({"validation_split": 0.25, "validation_split_mode": "random"}, model_seed=77,
                                      name="again")
        self.assertEqual(job2["seed"], 77)
        self.assertEqual(done["weights_sha256"], done2["weights_sha256"])
        # an explicit seed still wins
        _, job3, _ = self.run_job({"seed": 3}, model_seed=77, name="explicit")
        self.assertEqual(job3["seed"], 3)

    def test_preprocessing_learns_from_the_training_rows_of_the_split(self):
        """A CSV's imputed means come from the training rows only, whichever
        rows the split took. Sorted classes, feature a = the class, b with a
        missing cell (so the model imputes): a stratified 0.2 split trains on
        40 rows of each class, whose mean of a is exactly 1; the first 80% of
        the rows (what the tail would leave) have 50 + 50 + 20 rows, mean 0.75."""
        lines = ["a,b,label"]
        for c in range(3):
            for i in range(50):
                b = "" if (c, i) == (1, 7) else str(i % 5)
                lines.append("%d,%s,c%d" % (c, b, c))
        r = self.c.post("/v1/datasets?name=sorted-csv&label=label", body="\n".join(lines) + "\n",
                        headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        for mode, want in (("stratified", 1.0), ("tail", 0.75)):
            model = self.create_model(self.c, mlp_body(input_dim=2, hidden=(4,), outputs=3))
            job = self.submit_job(self.c, {"model_id": model["id"], "dataset_id": r.json["id"], "epochs": 1,
                                           "validation_split": 0.2, "validation_split_mode": mode})
            done = self.wait_job(self.c, job["id"], timeout=T(120))
            self.assertEqual(done["status"], "succeeded", done.get("error"))
            prep = self.c.get("/v1/models/%d" % model["id"]).json["preprocessing"]
            self.assertEqual(prep["columns"][0]["name"], "a")
            self.assertAlmostEqual(prep["columns"][0]["impute"], want, places=12, msg=mode)

    def test_refused(self):
        model = self.create_model(self.c, mlp_body(input_dim=4, hidden=(8,), outputs=3, name="refused"))
        base = {"model_id": model["id"], "dataset_id": self.data["id"]}
        for body in (dict(base, validation_split=0.2, validation_split_mode="shuffled"),
                     dict(base, validation_split=0.2, validation_split_mode=["random"]),
                     dict(base, validation_split_mode="random")):  # no split to apply it to
            self.assertError(self.c.post("/v1/jobs", body), 422, "validation_failed", "validation_split_mode")
        reg = self.create_model(self.c, {"name": "reg", "input_dim": 4, "layers": [{"units": 1}], "loss": "mse"})
        r = self.c.post("/v1/jobs", {"model_id": reg["id"], "dataset_id": self.data["id"], "validation_split": 0.2,
                                     "validation_split_mode": "stratified"})
        err = self.assertError(r, 422, "validation_failed", "validation_split_mode")
        self.assertIn("classification", err["message"])
