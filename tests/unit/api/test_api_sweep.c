/*
 * test_api_sweep.c — api/api_sweep.c: sweep bodies expanded into points
 * (grid order, random draws, parameter paths into the model and job
 * templates), the errors that name the sweep's field, the limits, the
 * ranking and the status, and the expansion under allocation failures.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api_sweep.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_sweep(void);

#define MODEL                                                                                                \
	"'model': {'input_dim': 4, 'layers': [{'type': 'dense', 'units': 8, 'activation': 'relu'}, "            \
	"{'type': 'dense', 'units': 3, 'activation': 'softmax'}], 'loss': 'sparse_categorical_crossentropy', " \
	"'optimizer': {'type': 'adam', 'learning_rate': 0.001}, 'metrics': ['accuracy']}"
#define JOB "'job': {'dataset_id': 1, 'validation_dataset_id': 2, 'epochs': 3}"

static const struct api_sweep_seeds seeds = {101, 202, 303};

static int decode(const char *sq, struct api_sweep_req *req, struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_sweep_decode(b.p, b.n, &seeds, req, err);
	tb_free(&b);
	return rc;
}

/* The value at key of a point's params. */
static double param(const struct api_sweep_point *p, const char *key)
{
	cJSON *o = cJSON_Parse(p->params);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;

	ck_assert_msg(cJSON_IsNumber(v), "no %s in %s", key, p->params);
	d = v->valuedouble;
	cJSON_Delete(o);
	return d;
}

START_TEST(test_grid_order_and_values)
{
	struct api_sweep_req req;
	struct api_err err;
	const double lr[] = {1e-3, 1e-2}, units[] = {4, 16, 64}, batch[] = {8, 32};

	ck_assert_msg(decode("{" MODEL ", " JOB ", 'metric': 'val_loss', 'grid': {'optimizer.learning_rate': [0.001, "
			     "0.01], 'layers[0].units': [4, 16, 64], 'job.batch_size': [8, 32]}}",
			     &req, &err) == 0,
		      "%s: %s", err.field, err.message);
	ck_assert_uint_eq(req.n_points, 12);
	ck_assert_int_eq(req.kind, API_SWEEP_GRID);
	ck_assert_int_eq(req.metric, NN_MONITOR_VAL_LOSS);
	ck_assert(!req.maximize);
	ck_assert_uint_eq(req.total_epochs, 36);
	for (size_t i = 0; i < 12; i++) {
		const struct api_sweep_point *p = &req.points[i];
		/* itertools.product order: the first path slowest. */
		double want_lr = lr[i / 6], want_units = units[(i / 2) % 3], want_batch = batch[i % 2];

		ck_assert(param(p, "optimizer.learning_rate") == want_lr);
		ck_assert(param(p, "layers[0].units") == want_units);
		ck_assert(param(p, "job.batch_size") == want_batch);
		ck_assert((float)p->model.spec.opt.learning_rate == (float)want_lr);
		ck_assert_uint_eq(p->model.spec.layers[0].units, (unsigned)want_units);
		ck_assert_uint_eq(p->model.spec.layers[1].units, 3);
		ck_assert_uint_eq(p->job.fit.batch_size, (unsigned)want_batch);
		ck_assert_uint_eq(p->job.fit.epochs, 3);
		ck_assert_int_eq(p->job.model_id, 0);
		ck_assert_int_eq(p->job.dataset_id, 1);
		/* Templates without seeds: every point shares the sweep's. */
		ck_assert(p->model.has_seed && p->model.seed == 101);
		ck_assert(p->job.has_seed && p->job.fit.seed == 202);
	}
	/* A template without a name: "<sweep name> #i". */
	ck_assert_str_eq(req.points[0].model.name, "sweep #0");
	ck_assert_str_eq(req.points[11].model.name, "sweep #11");
	ck_assert_ptr_nonnull(strstr(req.definition, "\"grid\""));
	ck_assert_ptr_null(strstr(req.definition, "\"metric\""));
	api_sweep_req_free(&req);
}
END_TEST

/* A path may add a field the template leaves out; the job decoder then judges it. */
START_TEST(test_path_adds_new_fields)
{
	struct api_sweep_req req;
	struct api_err err;

	ck_assert_msg(decode("{" MODEL ", " JOB ", 'metric': 'loss', 'mode': 'max', 'grid': {'job.early_stopping': "
			     "[null, {'monitor': 'loss', 'patience': 2}], 'model.seed': [7], 'job.seed': [9]}}",
			     &req, &err) == 0,
		      "%s: %s", err.field, err.message);
	ck_assert_uint_eq(req.n_points, 2);
	ck_assert(req.maximize);
	ck_assert(!req.points[0].job.fit.early_stopping);
	ck_assert(req.points[1].job.fit.early_stopping);
	ck_assert_uint_eq(req.points[1].job.fit.patience, 2);
	ck_assert_int_eq(req.points[1].job.fit.monitor, NN_MONITOR_LOSS);
	ck_assert(req.points[0].model.seed == 7 && req.points[1].job.fit.seed == 9);
	api_sweep_req_free(&req);
}
END_TEST

static const struct {
	const char *body;
	const char *field;
	const char *msg_part;
} bad_rows[] = {
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers[2].units': [4]}}", "grid.layers[2].units", "unknown path"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers[0].units.x': [4]}}", "grid.layers[0].units.x", "unknown path"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'nope': [4]}}", "grid.nope", "neither"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'job.nope': [4]}}", "grid.job.nope", "point 0"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers[x]': [4]}}", "grid.layers[x]", "not a parameter path"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers.': [4]}}", "grid.layers.", "not a parameter path"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'seed': [4]}}", "grid.seed", "both"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {}}", "grid", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'epochs': 3}}", "grid.epochs", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss'}", "grid", "neither"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'epochs': [1]}, 'random': {}}", "grid", "both"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers[0].units': [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "
	 "13, 14, 15, 16], 'epochs': [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}}",
	 "grid", "256"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'epochs': [60000, 60000]}}", "grid.epochs", "epochs"},
	{"{" MODEL ", 'job': {'dataset_id': 1, 'epochs': 1000}, 'metric': 'loss', 'grid': {'job.seed': [1, 2, 3, 4, 5, 6, "
	 "7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, "
	 "35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, "
	 "62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, "
	 "89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101]}}",
	 "job.epochs", "epochs"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'layers[0].units': [4, 0]}}", "grid.layers[0].units",
	 "point 1"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'optimizer': [{'type': 'sgd', 'lr': 1}]}}",
	 "grid.optimizer", "point 0"},
	/* A missing object is added, then judged: adam's learning rate alone is not an optimizer. */
	{"{'model': {'input_dim': 4, 'layers': [{'type': 'dense', 'units': 2}], 'loss': 'mse'}, " JOB
	 ", 'metric': 'loss', 'grid': {'optimizer.learning_rate': [0.1]}}",
	 "model.optimizer.type", "point 0"},
	{"{" MODEL ", " JOB ", 'metric': 'f1', 'grid': {'epochs': [1]}}", "metric", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'mode': 'up', 'grid': {'epochs': [1]}}", "mode", NULL},
	{"{" MODEL ", 'job': {'dataset_id': 1}, 'metric': 'val_loss', 'grid': {'epochs': [1]}}", "metric",
	 "validation"},
	{"{'model': {'input_dim': 4, 'layers': [{'type': 'dense', 'units': 1}], 'loss': 'mse'}, " JOB
	 ", 'metric': 'accuracy', 'grid': {'epochs': [1]}}",
	 "metric", "accuracy"},
	{"{" MODEL ", 'job': {'model_id': 3, 'dataset_id': 1}, 'metric': 'loss', 'grid': {'epochs': [1]}}",
	 "job.model_id", NULL},
	{"{" MODEL ", 'job': [], 'metric': 'loss', 'grid': {'epochs': [1]}}", "job", NULL},
	{"{'model': 1, " JOB ", 'metric': 'loss', 'grid': {'epochs': [1]}}", "model", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'grid': {'epochs': [1]}, 'extra': 1}", "extra", NULL},
	{"{'model': {'input_dim': 0, 'layers': []}, " JOB ", 'metric': 'loss', 'grid': {'epochs': [1]}}", "model.input_dim",
	 "point 0"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'optimizer.learning_rate': {'min': "
	 "0.1, 'max': 0.01}}}}",
	 "random.params.optimizer.learning_rate.min", "above max"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'optimizer.learning_rate': {'min': "
	 "0, 'max': 0.01, 'scale': 'log'}}}}",
	 "random.params.optimizer.learning_rate.min", "log"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'optimizer.learning_rate': {'min': "
	 "0.1, 'max': 1, 'scale': 'exp'}}}}",
	 "random.params.optimizer.learning_rate.scale", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'epochs': {'min': 1.5, 'max': 3, "
	 "'integer': true}}}}",
	 "random.params.epochs.min", "integral"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'epochs': {'values': [1], 'min': "
	 "1}}}}",
	 "random.params.epochs", "not both"},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': {'epochs': {'values': []}}}}",
	 "random.params.epochs.values", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 257, 'params': {'epochs': {'values': [1]}}}}",
	 "random.trials", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 0, 'params': {'epochs': {'values': [1]}}}}",
	 "random.trials", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 2, 'params': {}}}", "random.params", NULL},
	{"{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 2, 'params': {'epochs': {'min': 1, 'max': 2}}, "
	 "'extra': 1}}",
	 "random.extra", NULL},
};

START_TEST(test_bad_bodies)
{
	struct api_sweep_req req;
	struct api_err err;
	char what[96];

	snprintf(what, sizeof what, "bad row %d", _i);
	ck_assert_msg(decode(bad_rows[_i].body, &req, &err) == -1, "%s was accepted", what);
	t_expect_err(&err, API_VALIDATION_FAILED, bad_rows[_i].field, bad_rows[_i].msg_part, what);
	ck_assert_ptr_null(req.points);
	ck_assert_ptr_null(req.definition);
}
END_TEST

/* A long sweep name is cut at a character boundary to fit the suffix; a template's name is kept. */
START_TEST(test_point_model_names)
{
	char body[1200], name[API_NAME_MAX + 1];
	struct api_sweep_req req;
	struct api_err err;
	size_t n;

	/* 124 ASCII bytes + "é" (2 bytes): the cut at 125 bytes would split the "é", which goes whole. */
	snprintf(body, sizeof body, "{'name': '%0124d\u00e9', " MODEL ", " JOB ", 'metric': 'loss', 'grid': {'epochs': [1, 2]}}", 0);
	ck_assert_msg(decode(body, &req, &err) == 0, "%s: %s", err.field, err.message);
	n = strlen(req.points[1].model.name);
	ck_assert_uint_le(n, API_NAME_MAX);
	ck_assert(api_name_valid(req.points[1].model.name));
	snprintf(name, sizeof name, "%s", req.points[1].model.name);
	ck_assert_str_eq(name + n - 3, " #1");
	ck_assert_uint_eq(n, 124 + 3);
	api_sweep_req_free(&req);
	ck_assert_int_eq(decode("{'model': {'name': 'mine', 'input_dim': 4, 'layers': [{'type': 'dense', 'units': 1}], "
				"'loss': 'mse'}, " JOB ", 'metric': 'loss', 'grid': {'epochs': [1]}}",
				&req, &err),
			 0);
	ck_assert_str_eq(req.points[0].model.name, "mine");
	api_sweep_req_free(&req);
}
END_TEST

START_TEST(test_random_draws)
{
	struct api_sweep_req a, b, c;
	struct api_err err;
	size_t below_mid = 0, seen[3] = {0};
	const char *body = "{" MODEL ", " JOB ", 'metric': 'val_accuracy', 'random': {'trials': 256, 'seed': 5, "
			   "'params': {'optimizer.learning_rate': {'min': 0.0001, 'max': 0.1, 'scale': 'log'}, "
			   "'job.epochs': {'min': 1, 'max': 3, 'integer': true}, 'layers[0].units': {'values': [4, 8]}}}}";

	ck_assert_msg(decode(body, &a, &err) == 0, "%s: %s", err.field, err.message);
	ck_assert(a.maximize); /* the default for an accuracy */
	ck_assert_uint_eq(a.n_points, 256);
	for (size_t i = 0; i < a.n_points; i++) {
		double lr = param(&a.points[i], "optimizer.learning_rate"), ep = param(&a.points[i], "job.epochs");
		double u = param(&a.points[i], "layers[0].units");

		ck_assert(lr >= 1e-4 && lr <= 0.1);
		ck_assert(ep == 1 || ep == 2 || ep == 3);
		ck_assert(u == 4 || u == 8);
		ck_assert_uint_eq(a.points[i].job.fit.epochs, (unsigned)ep);
		seen[(int)ep - 1]++;
		/* log-uniform: half the draws below the geometric midpoint 10^-2.5 */
		below_mid += lr < pow(10, -2.5);
	}
	/* Binomial(256, 1/2) has sd 8: 5 sd either side. */
	ck_assert_msg(below_mid > 88 && below_mid < 168, "%zu of 256 draws below 10^-2.5", below_mid);
	for (int k = 0; k < 3; k++)
		ck_assert_msg(seen[k] > 50, "epochs %d drawn %zu times of 256", k + 1, seen[k]);
	/* Same seed, same points; another seed, others. */
	ck_assert_int_eq(decode(body, &b, &err), 0);
	for (size_t i = 0; i < a.n_points; i++)
		ck_assert_str_eq(a.points[i].params, b.points[i].params);
	ck_assert_int_eq(decode("{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 4, 'params': "
				"{'optimizer.learning_rate': {'min': 0.0001, 'max': 0.1}}}}",
				&c, &err),
			 0);
	/* No random.seed: the server's, written into the stored definition. */
	ck_assert_ptr_nonnull(strstr(c.definition, "\"seed\":303"));
	ck_assert_str_ne(c.points[0].params, c.points[1].params);
	api_sweep_req_free(&a);
	api_sweep_req_free(&b);
	api_sweep_req_free(&c);
}
END_TEST

START_TEST(test_rank)
{
	struct api_sweep_point_info p[5] = {
		{.index = 0, .best = 0.5}, {.index = 1, .best = NAN}, {.index = 2, .best = 0.2},
		{.index = 3, .best = 0.5}, {.index = 4, .best = 0.9},
	};
	const uint32_t by_min[] = {2, 0, 3, 4, 1}, by_max[] = {4, 0, 3, 2, 1};

	api_sweep_rank(p, 5, false);
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(p[i].index, by_min[i]);
		ck_assert_uint_eq(p[i].rank, (uint32_t)i + 1);
	}
	api_sweep_rank(p, 5, true);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(p[i].index, by_max[i]);
}
END_TEST

START_TEST(test_status)
{
	struct api_sweep_info s = {.n_points = 4};

	s.counts[API_JOB_QUEUED] = 4;
	ck_assert_str_eq(api_sweep_status(&s), "queued");
	s.counts[API_JOB_QUEUED] = 3;
	s.counts[API_JOB_SUCCEEDED] = 1;
	ck_assert_str_eq(api_sweep_status(&s), "running");
	s.counts[API_JOB_QUEUED] = 0;
	s.counts[API_JOB_SUCCEEDED] = 4;
	ck_assert_str_eq(api_sweep_status(&s), "succeeded");
	s.counts[API_JOB_SUCCEEDED] = 3;
	s.counts[API_JOB_FAILED] = 1;
	ck_assert_str_eq(api_sweep_status(&s), "failed");
	s.counts[API_JOB_FAILED] = 0;
	s.counts[API_JOB_CANCELLED] = 1;
	ck_assert_str_eq(api_sweep_status(&s), "cancelled");
	s.counts[API_JOB_CANCELLED] = 0;
	s.counts[API_JOB_SUCCEEDED] = 4;
	s.cancel_requested = true;
	ck_assert_str_eq(api_sweep_status(&s), "cancelled");
}
END_TEST

START_TEST(test_encode)
{
	struct api_sweep_point_info p[2] = {
		{.index = 1, .params = "{\"epochs\":2}", .model_id = 3, .job_id = 4, .status = API_JOB_SUCCEEDED,
		 .epoch = 2, .epochs = 2, .best = 0.25, .best_epoch = 2, .rank = 1},
		{.index = 0, .params = "{\"epochs\":1}", .status = API_JOB_CANCELLED, .best = NAN, .rank = 2},
	};
	struct api_sweep_info s = {.id = 9, .name = "s", .metric = NN_MONITOR_VAL_LOSS, .n_points = 2,
				   .definition = "{\"model\":{\"a\":1},\"job\":{},\"grid\":{\"epochs\":[1,2]}}"};
	char *text = api_sweep_encode(&s, p, 2), *ev;
	cJSON *o = cJSON_Parse(text), *pts = cJSON_GetObjectItem(o, "points");

	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(cJSON_GetObjectItem(o, "metric")->valuestring, "val_loss");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "mode")->valuestring, "min");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "model"), "a")->valueint, 1);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(o, "grid"));
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "random"));
	ck_assert_int_eq(cJSON_GetArraySize(pts), 2);
	ck_assert(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 0), "best")->valuedouble == 0.25);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 1), "best")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 1), "best_epoch")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 1), "job_id")));
	cJSON_Delete(o);
	free(text);
	ev = api_sweep_event_encode(2, 17, "{\"epoch\":1}");
	ck_assert_str_eq(ev, "{\"point\":2,\"job_id\":17,\"event\":{\"epoch\":1}}");
	free(ev);
}
END_TEST

/* Each allocation of a decode fails in turn: 503 unavailable, or the same points. */
START_TEST(test_decode_out_of_memory)
{
	const char *body = "{" MODEL ", " JOB ", 'metric': 'loss', 'random': {'trials': 3, 'params': "
			   "{'optimizer.learning_rate': {'min': 0.001, 'max': 0.1}}}, 'name': 'x'}";
	struct api_sweep_req ref, got;
	struct api_err err;
	long n;

	ck_assert_int_eq(decode(body, &ref, &err), 0);
	for (n = 1;; n++) {
		int rc;
		bool fired;

		api_alloc_fail_nth(n);
		rc = decode(body, &got, &err);
		fired = !api_alloc_fail_pending();
		api_alloc_fail_nth(0);
		if (!fired) {
			ck_assert_int_eq(rc, 0);
			api_sweep_req_free(&got);
			break;
		}
		if (rc == 0) {
			ck_assert_uint_eq(got.n_points, ref.n_points);
			for (size_t i = 0; i < ref.n_points; i++)
				ck_assert_str_eq(got.points[i].params, ref.points[i].params);
			ck_assert_str_eq(got.definition, ref.definition);
			api_sweep_req_free(&got);
		} else {
			ck_assert_msg(err.code == API_UNAVAILABLE, "allocation %ld failed: %s \"%s\" instead of 503", n,
				      api_code_name(err.code), err.message);
		}
	}
	ck_assert_int_gt(n, 20);
	api_sweep_req_free(&ref);
}
END_TEST

Suite *suite_api_sweep(void)
{
	Suite *s = suite_create("api_sweep");
	TCase *tc = tcase_create("decode");
	TCase *out = tcase_create("read back");

	tcase_add_test(tc, test_grid_order_and_values);
	tcase_add_test(tc, test_path_adds_new_fields);
	tcase_add_loop_test(tc, test_bad_bodies, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
	tcase_add_test(tc, test_point_model_names);
	tcase_add_test(tc, test_random_draws);
	tcase_add_test(tc, test_decode_out_of_memory);
	suite_add_tcase(s, tc);
	tcase_add_test(out, test_rank);
	tcase_add_test(out, test_status);
	tcase_add_test(out, test_encode);
	suite_add_tcase(s, out);
	return s;
}
