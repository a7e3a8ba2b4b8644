/*
 * test_api_schedule.c — api/api_schedule.c: an optimizer's learning_rate as
 * a schedule object, in fitd's form and in Keras's serialized form, into
 * struct nn_lr_schedule and back; the 422s of arguments out of range.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_schedule(void);

#define MODEL(opt) "{'input_dim': 2, 'layers': [{'units': 1}], 'loss': 'mse', 'optimizer': " opt "}"

static int decode(const char *sq, struct api_model_def *def, struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_model_decode(b.p, b.n, def, err);
	tb_free(&b);
	return rc;
}

/* decoded, encoded and decoded again: the same schedule */
static void roundtrip(const struct api_model_def *a)
{
	struct api_model_def b;
	struct api_err err = {0};
	char *s = api_model_def_encode(a);

	ck_assert_ptr_nonnull(s);
	ck_assert_msg(api_model_decode(s, strlen(s), &b, &err) == 0, "%s: %s", s, err.message);
	free(s);
	ck_assert(memcmp(&a->spec.opt.schedule, &b.spec.opt.schedule, sizeof a->spec.opt.schedule) == 0);
	ck_assert(a->spec.opt.learning_rate == b.spec.opt.learning_rate);
}

START_TEST(test_forms)
{
	struct api_model_def d;
	struct api_err err;
	const struct nn_lr_schedule *s = &d.spec.opt.schedule;

	ck_assert_int_eq(decode(MODEL("{'type': 'sgd', 'learning_rate': {'type': 'ExponentialDecay',"
				      " 'initial_learning_rate': 0.1, 'decay_steps': 100, 'decay_rate': 0.9,"
				      " 'staircase': true}}"),
				&d, &err),
			 0);
	ck_assert_int_eq(s->kind, NN_LR_EXPONENTIAL);
	ck_assert(s->initial_learning_rate == 0.1 && s->decay_steps == 100 && s->decay_rate == 0.9 && s->staircase);
	ck_assert(d.spec.opt.learning_rate == 0.1);
	roundtrip(&d);

	/* as keras.optimizers.schedules.serialize writes it (Keras 3) */
	ck_assert_int_eq(decode(MODEL("{'type': 'adam', 'learning_rate': {'module': 'keras.optimizers.schedules',"
				      " 'class_name': 'CosineDecay', 'config': {'initial_learning_rate': 0.0,"
				      " 'decay_steps': 1000, 'alpha': 0.1, 'name': 'CosineDecay', 'warmup_target': 0.01,"
				      " 'warmup_steps': 100}, 'registered_name': null}}"),
				&d, &err),
			 0);
	ck_assert_int_eq(s->kind, NN_LR_COSINE);
	ck_assert(s->has_warmup && s->warmup_target == 0.01 && s->warmup_steps == 100 && s->alpha == 0.1);
	ck_assert(d.spec.opt.learning_rate == 0.0);
	roundtrip(&d);

	ck_assert_int_eq(decode(MODEL("{'type': 'rmsprop', 'learning_rate': {'type': 'PiecewiseConstantDecay',"
				      " 'boundaries': [100, 200], 'values': [0.1, 0.01, 0.001]}}"),
				&d, &err),
			 0);
	ck_assert_int_eq(s->kind, NN_LR_PIECEWISE);
	ck_assert_uint_eq(s->n_boundaries, 2);
	ck_assert(s->values[2] == 0.001 && d.spec.opt.learning_rate == 0.1);
	roundtrip(&d);

	ck_assert_int_eq(decode(MODEL("{'type': 'sgd', 'learning_rate': {'class_name': 'InverseTimeDecay',"
				      " 'config': {'initial_learning_rate': 0.5, 'decay_steps': 10, 'decay_rate': 0.5,"
				      " 'staircase': false, 'name': 'InverseTimeDecay'}}}"),
				&d, &err),
			 0);
	ck_assert_int_eq(s->kind, NN_LR_INVERSE_TIME);
	roundtrip(&d);

	/* a number stays a constant rate */
	ck_assert_int_eq(decode(MODEL("{'type': 'sgd', 'learning_rate': 0.2}"), &d, &err), 0);
	ck_assert_int_eq(s->kind, NN_LR_CONSTANT);
	roundtrip(&d);
}
END_TEST

static const struct {
	const char *opt;
	const char *field;
} bad_rows[] = {
	{"{'type': 'sgd', 'learning_rate': {'type': 'StepDecay'}}", "optimizer.learning_rate.type"},
	{"{'type': 'sgd', 'learning_rate': {'initial_learning_rate': 0.1}}", "optimizer.learning_rate.type"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'ExponentialDecay', 'decay_steps': 10, 'decay_rate': 0.5}}",
	 "optimizer.learning_rate.initial_learning_rate"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'ExponentialDecay', 'initial_learning_rate': 0.1,"
	 " 'decay_steps': 0, 'decay_rate': 0.5}}",
	 "optimizer.learning_rate.decay_steps"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'ExponentialDecay', 'initial_learning_rate': 0.1,"
	 " 'decay_steps': 10, 'decay_rate': 0}}",
	 "optimizer.learning_rate.decay_rate"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'ExponentialDecay', 'initial_learning_rate': 0.1,"
	 " 'decay_steps': 10, 'decay_rate': 0.5, 'alpha': 1}}",
	 "optimizer.learning_rate.alpha"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'PiecewiseConstantDecay', 'boundaries': [10, 5],"
	 " 'values': [1, 2, 3]}}",
	 "optimizer.learning_rate.boundaries"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'PiecewiseConstantDecay', 'boundaries': [10],"
	 " 'values': [1, 2, 3]}}",
	 "optimizer.learning_rate.values"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'PiecewiseConstantDecay', 'boundaries': [],"
	 " 'values': [1]}}",
	 "optimizer.learning_rate.values"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'PiecewiseConstantDecay', 'boundaries': [1],"
	 " 'values': [1, -2]}}",
	 "optimizer.learning_rate.values[1]"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'CosineDecay', 'initial_learning_rate': 0.1,"
	 " 'decay_steps': 10, 'alpha': 2}}",
	 "optimizer.learning_rate.alpha"},
	{"{'type': 'sgd', 'learning_rate': {'type': 'CosineDecay', 'initial_learning_rate': 0,"
	 " 'decay_steps': 10}}",
	 "optimizer.learning_rate.initial_learning_rate"},
	{"{'type': 'sgd', 'learning_rate': {'class_name': 'CosineDecay', 'config': 3}}",
	 "optimizer.learning_rate.config"},
	{"{'type': 'sgd', 'learning_rate': {'class_name': 'CosineDecay', 'config': {'type': 'x'}}}",
	 "optimizer.learning_rate.config.type"},
	{"{'type': 'sgd', 'learning_rate': {'class_name': 'CosineDecay', 'cfg': {}}}", "optimizer.learning_rate.cfg"},
	{"{'type': 'sgd', 'learning_rate': {'class_name': 'CosineDecay', 'config': {'initial_learning_rate': 1,"
	 " 'decay_steps': 1e999}}}",
	 "optimizer.learning_rate.config.decay_steps"},
	{"{'type': 'sgd', 'learning_rate': [0.1]}", "optimizer.learning_rate"},
};

START_TEST(test_bad)
{
	struct api_model_def d;
	struct api_err err;
	char body[600], what[700];

	snprintf(body, sizeof body, MODEL("%s"), bad_rows[_i].opt);
	snprintf(what, sizeof what, "row %d: %s", _i, bad_rows[_i].opt);
	ck_assert_msg(decode(body, &d, &err) == -1, "%s: accepted", what);
	t_expect_err(&err, API_VALIDATION_FAILED, bad_rows[_i].field, NULL, what);
}
END_TEST

Suite *suite_api_schedule(void)
{
	Suite *s = suite_create("api_schedule");
	TCase *tc = tcase_create("schedule");
	tcase_add_test(tc, test_forms);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
	suite_add_tcase(s, tc);
	return s;
}
