"""test_threads.py — issue 10 through the HTTP API: the BLAS kernel set is named
(/v1/info, /metrics, each job's `kernels`), and a job trained with one thread or
with idle CPUs lent to its products ends with the same weights_sha256."""
import re

from harness import FitdCase, blobs, mlp_body


class TestThreads(FitdCase):
    def train(self, threads):
        s = self.server(args=["--threads", str(threads)], workers=1)
        c = s.client
        info = c.get("/v1/info").json
        self.assertEqual(info["threads"], threads)
        # products over the tiling threshold (256 x 512 x 512) and Adam over
        # more than two chunks of parameters: the lent threads have work
        x, y = blobs(n=640, features=64, classes=4, seed=3)
        ds = self.create_dataset(c, x, y)["id"]
        model = self.create_model(c, mlp_body(input_dim=64, hidden=(512, 512), outputs=4, seed=5))["id"]
        job = self.submit_job(c, {"model_id": model, "dataset_id": ds, "epochs": 3, "batch_size": 256,
                                  "validation_split": 0.2, "shuffle": True, "seed": 9})["id"]
        j = self.wait_job(c, job, statuses=("succeeded",))
        self.assertEqual(j["kernels"], info["kernels"])
        history = [{k: v for k, v in e.items() if k != "seconds"} for e in self.history(c, job)]
        return j["weights_sha256"], history, info

    def test_same_weights_whatever_the_thread_count(self):
        one, h1, info = self.train(1)
        many, h4, _ = self.train(4)
        self.assertRegex(one, r"^[0-9a-f]{64}$")
        self.assertEqual(one, many)
        self.assertEqual(h1, h4)
        self.assertTrue(info["kernels"])

    def test_kernels_named_everywhere(self):
        s = self.server()
        info = s.client.get("/v1/info").json
        self.assertTrue(info["kernels"])
        self.assertIn(info["kernels"], info["blas"])
        self.assertTrue(info["kernels_reason"])
        metrics = s.client.get("/metrics").text
        m = re.search(r'^fitd_blas_info\{kernels="([^"]*)",reason="((?:[^"\\]|\\.)*)"\} 1$', metrics, re.M)
        self.assertIsNotNone(m, metrics[-800:])
        self.assertEqual(m.group(1), info["kernels"])
        self.assertRegex(metrics, r"(?m)^fitd_threads [1-9][0-9]*$")
        self.assertRegex(metrics, r"(?m)^fitd_helpers_busy [0-9]+$")
        s.stop()
        self.assertIn("BLAS kernels %s: %s" % (info["kernels"], info["kernels_reason"]), s.log_text())
        # a queued job has no kernels yet; once it ran, the set it ran on
        s.start()
        c = s.client
        x, y = blobs(n=40)
        ds = self.create_dataset(c, x, y)["id"]
        model = self.create_model(c, mlp_body())["id"]
        job = self.submit_job(c, {"model_id": model, "dataset_id": ds, "epochs": 1})
        self.assertIn(job["kernels"], (None, info["kernels"]))
        self.assertEqual(self.wait_job(c, job["id"], statuses=("succeeded",))["kernels"], info["kernels"])

    def test_user_coretype_wins(self):
        s = self.server(env={"OPENBLAS_CORETYPE": "Prescott"})
        info = s.client.get("/v1/info").json
        self.assertEqual(info["kernels"], "Prescott")
        self.assertEqual(info["kernels_reason"], "OPENBLAS_CORETYPE=Prescott set in the environment")

    def test_threads_flag_checked(self):
        s = self.server(args=["--threads", "0"], start=False)
        s.start(wait_ready=False)
        self.assertEqual(s.wait_exit(30), 2)
        self.assertIn("--threads", s.stderr_text())
