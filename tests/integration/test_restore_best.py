"""restore_best_weights, best_epoch and stopped_epoch (issue 14 item 3), by
Keras 3's EarlyStopping rules: a job that overfits stops early and ends with
the weights of its best epoch. The oracle is fitd's own determinism, not its
restore code: a fresh copy of the model trained for exactly best_epoch epochs
(same seed, no early stopping) must end with the same weights_sha256, and
best_epoch must be the first minimum of val_loss in the history (recomputed
here)."""
from harness import FitdCase, T, blobs, mlp_body, weights_sha256


class TestRestoreBestWeights(FitdCase):
    def test_overfitting_job_restores_its_best_epoch(self):
        srv = self.server(name="restore-best")
        c = srv.client
        x, y = blobs(n=80, features=6, classes=3, seed=11, spread=2.0)
        data = self.create_dataset(c, x, y, name="noisy")
        body = mlp_body(input_dim=6, hidden=(64, 64), outputs=3, seed=9,
                        optimizer={"type": "adam", "learning_rate": 0.02})
        model = self.create_model(c, body)
        twin = self.create_model(c, body)
        common = {"batch_size": 16, "validation_split": 0.3, "shuffle": True, "seed": 5}
        es = {"monitor": "val_loss", "patience": 4, "min_delta": 0, "restore_best_weights": True}
        job = self.submit_job(c, dict(common, model_id=model["id"], dataset_id=data["id"], epochs=300,
                                      early_stopping=es))
        self.assertEqual(job["early_stopping"], es)
        done = self.wait_job(c, job["id"], timeout=T(120))
        self.assertEqual(done["status"], "succeeded", done.get("error"))
        history = self.history(c, job["id"])
        self.assertTrue(done["early_stopped"], "precondition: the run overfits and stops early")
        self.assertEqual(done["stopped_epoch"], len(history))
        self.assertLess(len(history), 300)
        val = [e["val_loss"] for e in history]
        best = min(range(len(val)), key=lambda i: (val[i], i)) + 1
        self.assertEqual(done["best_epoch"], best)
        # Keras: stop once patience epochs passed without improving on the best
        self.assertEqual(done["stopped_epoch"], best + es["patience"])
        self.assertLess(best, len(history), "precondition: the last epoch is not the best")

        # the same model trained for exactly best_epoch epochs
        ref = self.submit_job(c, dict(common, model_id=twin["id"], dataset_id=data["id"], epochs=best))
        ref_done = self.wait_job(c, ref["id"], timeout=T(120))
        self.assertEqual(ref_done["status"], "succeeded")
        self.assertFalse(ref_done["early_stopped"])
        self.assertIsNone(ref_done["stopped_epoch"])
        self.assertIsNone(ref_done["best_epoch"])
        self.assertEqual(done["weights_sha256"], ref_done["weights_sha256"],
                         "the restored weights are not those of epoch %d" % best)
        w = c.get("/v1/models/%d/weights" % model["id"]).json
        self.assertEqual(weights_sha256(w), done["weights_sha256"])

        # without restore_best_weights: stops at the same epoch, keeps the last weights
        other = self.create_model(c, body)
        plain = self.submit_job(c, dict(common, model_id=other["id"], dataset_id=data["id"], epochs=300,
                                        early_stopping=dict(es, restore_best_weights=False)))
        plain_done = self.wait_job(c, plain["id"], timeout=T(120))
        self.assertEqual(plain_done["stopped_epoch"], done["stopped_epoch"])
        self.assertEqual(plain_done["best_epoch"], best)
        self.assertNotEqual(plain_done["weights_sha256"], done["weights_sha256"])
