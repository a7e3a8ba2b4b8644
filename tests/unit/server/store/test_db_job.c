/*
 * test_db_job.c — the durable queue (server/store/db_job.c, db_recover.c):
 * submit, claim, commits with and without an end state, cancel, the event
 * log, start-up recovery across batches of 256, and recovery under an I/O
 * error injected into one of its steps (db_fault_step), which must commit
 * nothing. Each test has its own fresh database; what the code wrote is
 * read back through an independent connection where it matters.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/server/store/test_db_util.h"

Suite *suite_db_job(void);

/* A dataset (64 features, 10 classes, 4 rows) and a model that fits it. */
struct fixture {
	struct tmp t;
	struct db *db;
	int64_t dataset_id;
	int64_t model_id;
};

static int64_t add_model(struct db *db)
{
	struct api_model_info m;
	struct api_err err = {0};
	uint8_t state[16] = {0};

	model_info(&m, MODEL_JSON);
	m.def.name[0] = '\0'; /* unnamed: names are unique, and the tests add several models */
	ck_assert_msg(db_model_create(db, &m, state, sizeof state, NULL, &err) == 0, "%s", err.message);
	return m.id;
}

static void setup(struct fixture *f)
{
	struct api_dataset_info d;
	struct api_err err = {0};
	float x[4 * 64], y[4] = {1, 2, 3, 9};

	for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
		x[i] = (float)(i % 7);
	f->db = fresh_db(&f->t);
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "digits");
	d.n_samples = 4;
	d.n_features = 64;
	d.y_kind = API_Y_CLASS;
	d.n_classes = 10;
	d.y_max = 9;
	d.y_integral = true;
	ck_assert_msg(db_dataset_create(f->db, &d, x, y, NULL, &err) == 0, "%s", err.message);
	f->dataset_id = d.id;
	f->model_id = add_model(f->db);
}

static void teardown(struct fixture *f)
{
	db_close(f->db);
	tmp_remove(&f->t);
}

/* A job request for model_id on the fixture's dataset, and its canonical
 * options (new; free with free()). */
static char *job_req(const struct fixture *f, int64_t model_id, uint32_t epochs, struct api_job_req *req)
{
	char body[200];
	struct api_err err = {0};
	char *options;

	snprintf(body, sizeof body, "{\"model_id\": %lld, \"dataset_id\": %lld, \"epochs\": %u, \"seed\": 7}",
		 (long long)model_id, (long long)f->dataset_id, epochs);
	ck_assert_msg(api_job_decode(body, strlen(body), req, &err) == 0, "%s", err.message);
	options = api_job_req_encode(req);
	ck_assert_ptr_nonnull(options);
	return options;
}

static int64_t submit(struct fixture *f, int64_t model_id, uint32_t epochs)
{
	struct api_job_req req;
	struct api_job_info info;
	struct api_err err = {0};
	char *options = job_req(f, model_id, epochs, &req);

	ck_assert_msg(db_job_submit(f->db, &req, options, 100, NULL, &info, &err) == 0, "%s", err.message);
	free(options);
	ck_assert_int_eq(info.status, API_JOB_QUEUED);
	return info.id;
}

static enum api_job_status status_of(struct db *db, int64_t id)
{
	struct api_job_info info;
	struct api_err err = {0};

	ck_assert_msg(db_job_get(db, id, &info, &err) == 0, "%s", err.message);
	return info.status;
}

static struct api_epoch epoch_row(uint32_t epoch)
{
	struct api_epoch e = {.epoch = epoch, .loss = 1.0 / epoch, .accuracy = 0.5, .seconds = 0.01,
			      .learning_rate = 0.001};

	e.val_loss = NAN;
	e.val_accuracy = NAN;
	return e;
}

/* ---- claim and commit ------------------------------------------------------------------ */

START_TEST(test_claim_commit_succeeded)
{
	struct fixture f;
	struct db_run run;
	struct api_err err = {0};
	struct api_epoch e[3] = {epoch_row(1), epoch_row(2), epoch_row(3)}, *hist = NULL;
	uint8_t model_state[16], checkpoint[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct db_commit c = {.epochs = e, .n_epochs = 2, .model_state = model_state,
			      .model_state_len = sizeof model_state, .checkpoint = checkpoint,
			      .checkpoint_len = sizeof checkpoint, .samples_per_second = 1000, .end = API_JOB_RUNNING};
	struct api_job_info info;
	size_t n = 0;
	int64_t first, second;

	setup(&f);
	memset(model_state, 0x42, sizeof model_state);
	first = submit(&f, f.model_id, 3);
	second = submit(&f, add_model(f.db), 3);

	/* oldest first; queued -> running, attempts + 1, the model trains */
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_int_eq(run.job_id, first);
	ck_assert_uint_eq(run.epoch, 0);
	ck_assert_ptr_null(run.checkpoint);
	ck_assert_int_eq(run.req.fit.epochs, 3);
	ck_assert_int_eq(status_of(f.db, first), API_JOB_RUNNING);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT attempts FROM jobs WHERE id = 1"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT status = 'training' FROM models WHERE id = 1"), 1);
	db_run_free(&run);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_int_eq(run.job_id, second);
	db_run_free(&run);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 0); /* nothing left */

	/* two epochs, no end: still running, with a checkpoint a resume reads */
	ck_assert_msg(db_job_commit(f.db, first, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(db_job_get(f.db, first, &info, &err) == 0, "%s", err.message);
	ck_assert_int_eq(info.status, API_JOB_RUNNING);
	ck_assert_uint_eq(info.epoch, 2);
	ck_assert_double_eq_tol(info.last.loss, 0.5, 1e-12);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT length(checkpoint) FROM jobs WHERE id = 1"), 8);

	/* the last epoch with the end state: succeeded, the weights' hash kept */
	c.epochs = e + 2;
	c.n_epochs = 1;
	c.end = API_JOB_SUCCEEDED;
	c.weights_sha256 = "ab12";
	ck_assert_msg(db_job_commit(f.db, first, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(db_job_get(f.db, first, &info, &err) == 0, "%s", err.message);
	ck_assert_int_eq(info.status, API_JOB_SUCCEEDED);
	ck_assert_uint_eq(info.epoch, 3);
	ck_assert_str_eq(info.weights_sha256, "ab12");
	ck_assert_uint_eq(strlen(info.finished_at), 20);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT status = 'trained' FROM models WHERE id = 1"), 1);
	ck_assert_int_eq(db_job_history(f.db, first, &hist, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(hist[i].epoch, i + 1);
	free(hist);

	/* a final job cannot be cancelled */
	ck_assert_int_eq(db_job_cancel(f.db, first, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	teardown(&f);
}
END_TEST

START_TEST(test_commit_failed_and_parked)
{
	struct fixture f;
	struct db_run run;
	struct api_err err = {0};
	struct api_epoch e = epoch_row(1);
	uint8_t state[4] = {0};
	struct db_commit c = {.epochs = &e, .n_epochs = 1, .model_state = state, .model_state_len = sizeof state,
			      .samples_per_second = NAN, .end = API_JOB_QUEUED};
	struct api_job_info info;
	int64_t id;

	setup(&f);
	id = submit(&f, f.model_id, 5);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	db_run_free(&run);
	/* parked at a batch boundary (shutdown): queued again, its epoch kept */
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	ck_assert_int_eq(status_of(f.db, id), API_JOB_QUEUED);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_int_eq(run.job_id, id);
	ck_assert_uint_eq(run.epoch, 1);
	db_run_free(&run);
	/* a parked run is not a crash: it gave its attempt back */
	ck_assert_int_eq(peek_int(f.t.db, "SELECT attempts FROM jobs WHERE id = 1"), 1);
	/* failed, with its reason */
	c.n_epochs = 0;
	c.end = API_JOB_FAILED;
	c.error = "diverged";
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(db_job_get(f.db, id, &info, &err) == 0, "%s", err.message);
	ck_assert_int_eq(info.status, API_JOB_FAILED);
	ck_assert_str_eq(info.error, "diverged");
	ck_assert_uint_eq(info.epoch, 1);
	teardown(&f);
}
END_TEST

/* A claim leases the job to this node; a commit from another node (one
 * whose lease ended and passed on) is refused and changes nothing; the job
 * lists the nodes it ran on, and its node goes once it ends. */
START_TEST(test_commit_fenced_by_the_lease)
{
	struct fixture f;
	struct db_run run;
	struct api_err err = {0};
	struct api_epoch e = epoch_row(1);
	uint8_t state[4] = {0};
	struct db_commit c = {.epochs = &e, .n_epochs = 1, .model_state = state, .model_state_len = sizeof state,
			      .samples_per_second = NAN, .end = API_JOB_RUNNING};
	struct api_job_info info;
	int64_t id;

	setup(&f);
	db_set_node("node-a", 10000, 3);
	id = submit(&f, f.model_id, 5);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_uint_eq(run.attempt, 1);
	db_run_free(&run);
	/* another run of the job (a later claim) holds it: this one is fenced off */
	c.attempt = 2;
	ck_assert_int_eq(db_job_commit(f.db, id, &c, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	c.attempt = 1;
	ck_assert_msg(db_job_get(f.db, id, &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(info.node, "node-a");
	ck_assert_str_eq(info.nodes, "node-a");
	ck_assert_int_ge(peek_int(f.t.db, "SELECT lease_expires_ms FROM jobs WHERE id = 1"), 1);

	db_set_node("node-b", 10000, 3);
	ck_assert_int_eq(db_job_commit(f.db, id, &c, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_msg(strstr(err.message, "node-a") != NULL, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM job_epochs"), 0);

	db_set_node("node-a", 10000, 3);
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	/* parked by a graceful stop: given back, no node */
	c.n_epochs = 0;
	c.end = API_JOB_QUEUED;
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(db_job_get(f.db, id, &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(info.node, "");
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE lease_expires_ms IS NULL"), 1);
	/* resumed on another node: both listed, in order, each once */
	db_set_node("node-b", 10000, 3);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	db_run_free(&run);
	c.end = API_JOB_QUEUED;
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	db_set_node("node-a", 10000, 3);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	db_run_free(&run);
	ck_assert_msg(db_job_get(f.db, id, &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(info.nodes, "node-a,node-b");
	db_set_node("local", 10000, 3);
	teardown(&f);
}
END_TEST

/* ---- submit's checks ------------------------------------------------------------------------ */

START_TEST(test_submit_conflict_and_queue_full)
{
	struct fixture f;
	struct api_job_req req;
	struct api_job_info info;
	struct api_err err = {0};
	char *options;
	int64_t other;
	uint64_t counts[API_JOB_N_STATUS];

	setup(&f);
	submit(&f, f.model_id, 1);
	/* a second job for the same model: 409 naming model_id */
	options = job_req(&f, f.model_id, 1, &req);
	ck_assert_int_eq(db_job_submit(f.db, &req, options, 100, NULL, &info, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_str_eq(err.field, "model_id");
	free(options);
	/* the queue holds one job; capacity 1: 503 queue_full */
	other = add_model(f.db);
	options = job_req(&f, other, 1, &req);
	ck_assert_int_eq(db_job_submit(f.db, &req, options, 1, NULL, &info, &err), -1);
	ck_assert_int_eq(err.code, API_QUEUE_FULL);
	ck_assert_int_eq(api_retry_after(err.code), 5);
	/* a missing dataset: 404 */
	req.dataset_id = 99;
	ck_assert_int_eq(db_job_submit(f.db, &req, options, 100, NULL, &info, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	free(options);
	ck_assert_int_eq(db_job_counts(f.db, counts, &err), 0);
	ck_assert_uint_eq(counts[API_JOB_QUEUED], 1);
	ck_assert_uint_eq(counts[API_JOB_RUNNING] + counts[API_JOB_FAILED], 0);
	teardown(&f);
}
END_TEST

/* ---- cancel and events ------------------------------------------------------------------------ */

START_TEST(test_cancel_queued_and_running)
{
	struct fixture f;
	struct db_run run;
	struct api_err err = {0};
	struct db_commit c = {.samples_per_second = NAN, .end = API_JOB_CANCELLED};
	uint8_t state[4] = {0};
	int64_t queued, running;

	setup(&f);
	running = submit(&f, f.model_id, 10);
	queued = submit(&f, add_model(f.db), 10);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_int_eq(run.job_id, running);
	db_run_free(&run);

	/* a queued job is cancelled at once */
	ck_assert_int_eq(db_job_cancel(f.db, queued, &err), 1);
	ck_assert_int_eq(status_of(f.db, queued), API_JOB_CANCELLED);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 0);
	/* a running one is flagged for its worker, which ends it */
	ck_assert(!db_job_cancel_requested(f.db, running));
	ck_assert_int_eq(db_job_cancel(f.db, running, &err), 0);
	ck_assert(db_job_cancel_requested(f.db, running));
	ck_assert_int_eq(status_of(f.db, running), API_JOB_RUNNING);
	c.model_state = state;
	c.model_state_len = sizeof state;
	ck_assert_msg(db_job_commit(f.db, running, &c, &err) == 0, "%s", err.message);
	ck_assert_int_eq(status_of(f.db, running), API_JOB_CANCELLED);
	ck_assert_int_eq(db_job_cancel(f.db, running, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_int_eq(db_job_cancel(f.db, 999, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	teardown(&f);
}
END_TEST

START_TEST(test_events_in_order_and_final)
{
	struct fixture f;
	struct db_run run;
	struct api_err err = {0};
	struct api_epoch e[2] = {epoch_row(1), epoch_row(2)};
	uint8_t state[4] = {0};
	struct db_commit c = {.epochs = e, .n_epochs = 2, .model_state = state, .model_state_len = sizeof state,
			      .samples_per_second = 10, .end = API_JOB_SUCCEEDED, .weights_sha256 = "00"};
	struct db_event *ev = NULL;
	size_t n = 0;
	bool final = true;
	int64_t id;

	setup(&f);
	id = submit(&f, f.model_id, 2);
	/* queued: one status event, not final */
	ck_assert_int_eq(db_job_events(f.db, id, 0, 100, &ev, &n, &final, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(ev[0].status && !final);
	ck_assert_ptr_nonnull(strstr(ev[0].data, "\"queued\""));
	db_events_free(ev, n);

	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	db_run_free(&run);
	ck_assert_msg(db_job_commit(f.db, id, &c, &err) == 0, "%s", err.message);
	/* running, epoch 1, epoch 2, succeeded: increasing seq, final */
	ck_assert_int_eq(db_job_events(f.db, id, 1, 100, &ev, &n, &final, &err), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert(final);
	ck_assert(ev[0].status && !ev[1].status && !ev[2].status && ev[3].status);
	ck_assert_ptr_nonnull(strstr(ev[0].data, "\"running\""));
	ck_assert_ptr_nonnull(strstr(ev[1].data, "\"epoch\":1"));
	ck_assert_ptr_nonnull(strstr(ev[2].data, "\"epoch\":2"));
	ck_assert_ptr_nonnull(strstr(ev[3].data, "\"succeeded\""));
	for (size_t i = 1; i < n; i++)
		ck_assert_int_gt(ev[i].seq, ev[i - 1].seq);
	/* resuming after the third event gives the fourth only (Last-Event-ID) */
	int64_t third = ev[2].seq;
	db_events_free(ev, n);
	ck_assert_int_eq(db_job_events(f.db, id, third, 100, &ev, &n, &final, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(ev[0].status);
	db_events_free(ev, n);
	teardown(&f);
}
END_TEST

/* ---- recovery ------------------------------------------------------------------------------ */

/* n jobs left "running" by a crash (attempts 1, the last one attempts 3),
 * and one upload cut short, written behind the code's back. */
static void crash_leftovers(struct fixture *f, int n)
{
	struct api_job_req req;
	char *options = job_req(f, f->model_id, 4, &req);
	char sql[2048];

	snprintf(sql, sizeof sql,
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
		 "INSERT INTO jobs (model_id, dataset_id, options, status, epochs, attempts, created_at) "
		 "SELECT %lld, %lld, '%s', 'running', 4, CASE WHEN i = %d THEN 3 ELSE 1 END, '2026-01-01T00:00:00Z' "
		 "FROM c;"
		 "UPDATE datasets SET state = 'uploading' WHERE id = %lld;",
		 n, (long long)f->model_id, (long long)f->dataset_id, options, n, (long long)f->dataset_id);
	free(options);
	peek_exec(f->t.db, sql);
}

/* 300 running jobs: two batches of the 256 recovery reads at a time. */
START_TEST(test_recover_across_batches)
{
	struct fixture f;
	struct api_err err = {0};

	setup(&f);
	crash_leftovers(&f, 300);
	ck_assert_int_eq(db_recover(f.db, 3, &err), 299);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'running'"), 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'queued'"), 299);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'failed' AND attempts = 3 "
					  "AND error LIKE '%not retried%'"),
			 1);
	/* every recovered job says so in its event log */
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(DISTINCT job_id) FROM job_events WHERE kind = 'status'"), 300);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM datasets"), 0);
	/* no epoch was committed: the model is untrained, not "training" */
	ck_assert_int_eq(peek_int(f.t.db, "SELECT status = 'untrained' FROM models WHERE id = 1"), 1);
	/* nothing left to do the second time */
	ck_assert_int_eq(db_recover(f.db, 3, &err), 0);
	teardown(&f);
}
END_TEST

/* An I/O error on a read of the second batch: before, the loop took the
 * short batch for the last one and committed the first 266 jobs, leaving 34
 * running; now the transaction is rolled back and nothing changes. */
START_TEST(test_recover_step_error_commits_nothing)
{
	struct fixture f;
	struct api_err err = {0};

	setup(&f);
	crash_leftovers(&f, 300);
	db_fault_step("WHERE status = 'running'", 256 + 10, 10 /* SQLITE_IOERR */);
	ck_assert_int_eq(db_recover(f.db, 3, &err), -1);
	ck_assert_int_eq(err.code, API_UNAVAILABLE);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'running'"), 300);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM job_events"), 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM datasets"), 1);
	/* the fault fired once; the next start recovers everything */
	ck_assert_int_eq(db_recover(f.db, 3, &err), 299);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'running'"), 0);
	teardown(&f);
}
END_TEST

/* A fault on the first read: the same, and db_step's other statements run. */
START_TEST(test_fault_hook_matches_its_statement_only)
{
	struct fixture f;
	struct api_err err = {0};
	uint64_t counts[API_JOB_N_STATUS];

	setup(&f);
	db_fault_step("no statement has this text", 0, 10);
	ck_assert_int_eq(db_job_counts(f.db, counts, &err), 0);
	db_fault_step("GROUP BY status", 0, 10);
	ck_assert_int_eq(db_job_counts(f.db, counts, &err), -1);
	ck_assert_int_eq(err.code, API_UNAVAILABLE);
	ck_assert_int_eq(db_job_counts(f.db, counts, &err), 0);
	db_fault_step(NULL, 0, 0);
	teardown(&f);
}
END_TEST

Suite *suite_db_job(void)
{
	Suite *s = suite_create("db_job");
	TCase *queue = tcase_create("queue");
	TCase *recovery = tcase_create("recovery");

	tcase_set_timeout(queue, 30);
	tcase_set_timeout(recovery, 60);
	tcase_add_test(queue, test_claim_commit_succeeded);
	tcase_add_test(queue, test_commit_failed_and_parked);
	tcase_add_test(queue, test_submit_conflict_and_queue_full);
	tcase_add_test(queue, test_cancel_queued_and_running);
	tcase_add_test(queue, test_events_in_order_and_final);
	tcase_add_test(queue, test_commit_fenced_by_the_lease);
	tcase_add_test(recovery, test_recover_across_batches);
	tcase_add_test(recovery, test_recover_step_error_commits_nothing);
	tcase_add_test(recovery, test_fault_hook_matches_its_statement_only);
	suite_add_tcase(s, queue);
	suite_add_tcase(s, recovery);
	return s;
}
