/*
 * test_db_sweep.c — sweeps in the store (server/store/db_sweep.c): a sweep,
 * its points, models and jobs created in one transaction (an I/O error on
 * its last insert, or a full queue, leaves nothing), the Idempotency-Key,
 * each point's best metric against values computed by hand, cancel, the
 * sweep's event log, and delete. What the code wrote is read back through an
 * independent connection.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_sweep.h"
#include "tests/unit/server/store/test_db_util.h"

Suite *suite_db_sweep(void);

struct fixture {
	struct tmp t;
	struct db *db;
	struct api_sweep_req req;
	struct db_sweep_state states[3];
	uint8_t state[16];
};

static void setup(struct fixture *f)
{
	static const struct api_sweep_seeds seeds = {1, 2, 3};
	struct api_dataset_info d;
	struct api_err err = {0};
	float x[4 * 64], y[4] = {1, 2, 3, 9};
	char body[600];

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
	snprintf(body, sizeof body,
		 "{\"name\": \"s\", \"model\": " MODEL_JSON ", \"job\": {\"dataset_id\": %lld, \"epochs\": 3}, "
		 "\"grid\": {\"layers[0].units\": [4, 8, 16]}, \"metric\": \"loss\"}",
		 (long long)d.id);
	ck_assert_msg(api_sweep_decode(body, strlen(body), &seeds, &f->req, &err) == 0, "%s: %s", err.field,
		      err.message);
	memset(f->state, 0x11, sizeof f->state);
	for (int i = 0; i < 3; i++)
		f->states[i] = (struct db_sweep_state){f->state, sizeof f->state, 100 + (uint64_t)i};
}

static void teardown(struct fixture *f)
{
	api_sweep_req_free(&f->req);
	db_close(f->db);
	tmp_remove(&f->t);
}

static long long count(const struct fixture *f, const char *table)
{
	char sql[80];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	return peek_int(f->t.db, sql);
}

START_TEST(test_create_and_read_back)
{
	struct fixture f;
	struct api_sweep_info info;
	struct api_sweep_point_info *pts;
	struct api_err err = {0};
	size_t n;
	int64_t id;

	setup(&f);
	ck_assert_msg(db_sweep_create(f.db, &f.req, f.states, 10, NULL, &id, &err) == 0, "%s", err.message);
	ck_assert_int_eq(count(&f, "sweeps"), 1);
	ck_assert_int_eq(count(&f, "sweep_points"), 3);
	ck_assert_int_eq(count(&f, "models"), 3);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'queued' AND epochs = 3"), 3);
	ck_assert_int_eq(count(&f, "job_events"), 3); /* each job's first status */
	/* each point's model and job belong together, its units as its parameter says */
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM sweep_points p JOIN jobs j ON j.id = p.job_id AND "
					  "j.model_id = p.model_id"),
			 3);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT n_params FROM models m JOIN sweep_points p ON p.model_id = m.id "
					  "WHERE p.idx = 2"),
			 102);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT json_extract(m.definition, '$.layers[0].units') FROM models m "
					  "JOIN sweep_points p ON p.model_id = m.id WHERE p.idx = 1"),
			 8);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT json_extract(j.options, '$.seed') FROM jobs j JOIN sweep_points "
					  "p ON p.job_id = j.id WHERE p.idx = 0"),
			 2);

	ck_assert_msg(db_sweep_get(f.db, id, &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(info.name, "s");
	ck_assert_uint_eq(info.n_points, 3);
	ck_assert_uint_eq(info.counts[API_JOB_QUEUED], 3);
	ck_assert_str_eq(api_sweep_status(&info), "queued");
	ck_assert_str_eq(info.definition, f.req.definition);
	db_sweep_free(&info, 1, false);
	ck_assert_msg(db_sweep_points(f.db, id, NN_MONITOR_LOSS, false, &pts, &n, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(pts[i].index, i);
		ck_assert_str_eq(pts[i].params, f.req.points[i].params);
		ck_assert(isnan(pts[i].best));
		ck_assert_int_eq(pts[i].status, API_JOB_QUEUED);
	}
	db_sweep_points_free(pts, n);
	ck_assert_int_eq(db_sweep_get(f.db, id + 1, &info, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	teardown(&f);
}
END_TEST

/* An I/O error on the last point's row, or a queue without room: nothing at all is created. */
START_TEST(test_all_or_nothing)
{
	struct fixture f;
	struct api_err err = {0};
	int64_t id;

	setup(&f);
	db_fault_step("INSERT INTO sweep_points", 2, 10 /* SQLITE_IOERR */);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, NULL, &id, &err), -1);
	db_fault_step(NULL, 0, 0);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 2, NULL, &id, &err), -1);
	ck_assert_int_eq(err.code, API_QUEUE_FULL);
	for (const char *const *t = (const char *const[]){"sweeps", "sweep_points", "models", "jobs", "job_events",
							   NULL};
	     *t; t++)
		ck_assert_msg(count(&f, *t) == 0, "%s has rows after a failed create", *t);
	teardown(&f);
}
END_TEST

START_TEST(test_idempotency_key)
{
	struct fixture f;
	struct db_idem idem = {"sweeps", "k1", {0}};
	struct api_err err = {0};
	int64_t a, b;

	setup(&f);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, &idem, &a, &err), 0);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, &idem, &b, &err), 1);
	ck_assert_int_eq(a, b);
	ck_assert_int_eq(count(&f, "models"), 3);
	idem.hash[0] = 1; /* the same key for another body */
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, &idem, &b, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	teardown(&f);
}
END_TEST

/* Point 0's job trains three epochs; best loss and val_loss as computed by hand; then cancel. */
START_TEST(test_best_cancel_and_events)
{
	struct fixture f;
	struct api_epoch e[3] = {
		{.epoch = 1, .loss = 0.9, .accuracy = NAN, .val_loss = 0.7, .val_accuracy = NAN, .seconds = 0.1},
		{.epoch = 2, .loss = 0.4, .accuracy = NAN, .val_loss = 0.5, .val_accuracy = NAN, .seconds = 0.1},
		{.epoch = 3, .loss = 0.4, .accuracy = NAN, .val_loss = 0.6, .val_accuracy = NAN, .seconds = 0.1},
	};
	uint8_t ckpt[8] = {0};
	struct db_commit c = {.epochs = e, .n_epochs = 3, .model_state = f.state, .model_state_len = sizeof f.state,
			      .checkpoint = ckpt, .checkpoint_len = sizeof ckpt, .samples_per_second = NAN,
			      .end = API_JOB_RUNNING};
	struct api_sweep_point_info *pts;
	struct db_event *ev;
	struct api_err err = {0};
	struct db_run run;
	int64_t id, *running;
	size_t n, n_running;
	bool final;

	setup(&f);
	c.model_state = f.state;
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, NULL, &id, &err), 0);
	ck_assert_int_eq(db_job_claim(f.db, &run, &err), 1);
	ck_assert_msg(db_job_commit(f.db, run.job_id, &c, &err) == 0, "%s", err.message);

	/* loss: 0.4 first reached at epoch 2 (a tie at 3 keeps the first); max: 0.9 at 1 */
	ck_assert_int_eq(db_sweep_points(f.db, id, NN_MONITOR_LOSS, false, &pts, &n, &err), 0);
	ck_assert_int_eq(pts[0].job_id, run.job_id);
	ck_assert(pts[0].best == 0.4 && pts[0].best_epoch == 2);
	ck_assert_int_eq(pts[0].status, API_JOB_RUNNING);
	ck_assert_uint_eq(pts[0].epoch, 3);
	ck_assert(isnan(pts[1].best) && isnan(pts[2].best));
	db_sweep_points_free(pts, n);
	ck_assert_int_eq(db_sweep_points(f.db, id, NN_MONITOR_LOSS, true, &pts, &n, &err), 0);
	ck_assert(pts[0].best == 0.9 && pts[0].best_epoch == 1);
	db_sweep_points_free(pts, n);
	ck_assert_int_eq(db_sweep_points(f.db, id, NN_MONITOR_VAL_LOSS, false, &pts, &n, &err), 0);
	ck_assert(pts[0].best == 0.5 && pts[0].best_epoch == 2);
	db_sweep_points_free(pts, n);
	ck_assert_int_eq(db_sweep_points(f.db, id, NN_MONITOR_ACCURACY, true, &pts, &n, &err), 0);
	ck_assert(isnan(pts[0].best)); /* no accuracy in any row */
	db_sweep_points_free(pts, n);

	/* cancel: the two queued points at once, the running one flagged for its worker */
	ck_assert_int_eq(db_sweep_delete(f.db, id, &running, &n_running, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT); /* points queued and running */
	ck_assert_int_eq(count(&f, "sweep_points"), 3);
	ck_assert_msg(db_sweep_cancel(f.db, id, &running, &n_running, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(n_running, 1);
	ck_assert_int_eq(running[0], run.job_id);
	free(running);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs WHERE status = 'cancelled'"), 2);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT cancel_requested FROM sweeps"), 1);
	ck_assert_int_eq(db_sweep_events(f.db, id, 0, 100, &ev, &n, &final, &err), 0);
	ck_assert(!final); /* one point still runs */
	/* 3 first statuses, point 0 running, its 3 epochs, 2 cancelled statuses, in commit order */
	ck_assert_uint_eq(n, 9);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_gt(ev[i].seq, ev[i - 1].seq);
	ck_assert(ev[3].status && strstr(ev[3].data, "\"status\":\"running\""));
	for (int i = 4; i < 7; i++)
		ck_assert(!ev[i].status && strstr(ev[i].data, "\"point\":0") && strstr(ev[i].data, "\"loss\""));
	ck_assert(ev[8].status && strstr(ev[8].data, "\"status\":\"cancelled\""));
	db_events_free(ev, n);

	/* the running point stops: the sweep is over, its stream final */
	c.n_epochs = 0;
	c.end = API_JOB_CANCELLED;
	ck_assert_msg(db_job_commit(f.db, run.job_id, &c, &err) == 0, "%s", err.message);
	ck_assert_int_eq(db_sweep_events(f.db, id, 0, 100, &ev, &n, &final, &err), 0);
	ck_assert(final);
	db_events_free(ev, n);
	ck_assert_int_eq(db_sweep_events(f.db, id, 0, 2, &ev, &n, &final, &err), 0);
	ck_assert(!final && n == 2); /* a page: more follows */
	db_events_free(ev, n);
	ck_assert_int_eq(db_sweep_cancel(f.db, id, &running, &n_running, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);

	/* delete: the sweep, its points, their models, jobs and events; a model of no sweep stays */
	peek_exec(f.t.db, "INSERT INTO models (name, definition, n_params, state, created_at, updated_at) "
			  "SELECT 'other', definition, n_params, state, created_at, updated_at FROM models LIMIT 1");
	ck_assert_msg(db_sweep_delete(f.db, id, &running, &n_running, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(n_running, 3);
	free(running);
	for (const char *const *t = (const char *const[]){"sweeps", "sweep_points", "jobs", "job_events", "job_epochs",
							   NULL};
	     *t; t++)
		ck_assert_msg(count(&f, *t) == 0, "%s has rows after the delete", *t);
	ck_assert_int_eq(count(&f, "models"), 1);
	ck_assert_int_eq(db_sweep_delete(f.db, id, &running, &n_running, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_int_eq(db_sweep_cancel(f.db, id + 5, &running, &n_running, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	db_run_free(&run);
	teardown(&f);
}
END_TEST

START_TEST(test_list)
{
	struct fixture f;
	struct api_sweep_info *items;
	struct api_err err = {0};
	uint64_t total;
	size_t n;
	int64_t a, b;

	setup(&f);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, NULL, &a, &err), 0);
	ck_assert_int_eq(db_sweep_create(f.db, &f.req, f.states, 10, NULL, &b, &err), 0);
	ck_assert_int_eq(db_sweep_list(f.db, 1, 0, &items, &n, &total, &err), 0);
	ck_assert_uint_eq(total, 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(items[0].id, b); /* newest first */
	db_sweep_free(items, n, true);
	teardown(&f);
}
END_TEST

Suite *suite_db_sweep(void)
{
	Suite *s = suite_create("db_sweep");
	TCase *tc = tcase_create("sweeps");

	tcase_add_test(tc, test_create_and_read_back);
	tcase_add_test(tc, test_all_or_nothing);
	tcase_add_test(tc, test_idempotency_key);
	tcase_add_test(tc, test_best_cancel_and_events);
	tcase_add_test(tc, test_list);
	suite_add_tcase(s, tc);
	return s;
}
