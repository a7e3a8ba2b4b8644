/*
 * test_api_job.c — api/api_job.c: POST /v1/jobs bodies to fit options, the
 * submit-time check that a dataset fits a model (api_job_check), the
 * canonical job options, and jobs / epochs / histories to JSON.
 *
 * Both the bodies and the compatibility checks are tables (jq.test style).
 * The validation split rule is also checked against the core's own trainer:
 * what api_job_check accepts, nn_train_create must accept, and the reverse.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_job(void);

static int decode_job(const char *sq, struct api_job_req *req, struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_job_decode(b.p, b.n, req, err);
	tb_free(&b);
	return rc;
}

static void decode_model(const char *sq, struct api_model_def *def)
{
	struct tbody b = tq(sq);
	struct api_err err = {0};
	int rc = api_model_decode(b.p, b.n, def, &err);

	tb_free(&b);
	ck_assert_msg(rc == 0, "model %s: %s %s", sq, err.field, err.message);
}

/* ---- bodies ---------------------------------------------------------------------- */

START_TEST(test_defaults)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{'model_id': 1, 'dataset_id': 2}", &r, &err), 0);
	ck_assert_int_eq(r.model_id, 1);
	ck_assert_int_eq(r.dataset_id, 2);
	ck_assert_int_eq(r.validation_dataset_id, 0);
	ck_assert_uint_eq(r.fit.epochs, 1);
	ck_assert_uint_eq(r.fit.batch_size, 32);
	ck_assert(r.fit.shuffle);
	ck_assert(r.fit.validation_split == 0.0);
	ck_assert_int_eq(r.fit.split, NN_SPLIT_TAIL);
	ck_assert(!r.fit.early_stopping);
	ck_assert(!r.has_seed);
	ck_assert_str_eq(r.model_name, "");
}
END_TEST

/* "model_id" may name the model; the route resolves the name to the id. */
START_TEST(test_model_by_name)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{'model_id': 'digits-mlp', 'dataset_id': 2}", &r, &err), 0);
	ck_assert_str_eq(r.model_name, "digits-mlp");
	ck_assert_int_eq(r.model_id, 0);
	ck_assert_int_eq(r.dataset_id, 2);
}
END_TEST

START_TEST(test_full_body)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{'model_id': 1, 'dataset_id': 1, 'epochs': 10, 'batch_size': 64,"
				    " 'validation_split': 0.2, 'shuffle': false, 'seed': 7,"
				    " 'early_stopping': {'monitor': 'val_loss', 'patience': 5, 'min_delta': 0.01}}",
				    &r, &err),
			 0);
	ck_assert_uint_eq(r.fit.epochs, 10);
	ck_assert_uint_eq(r.fit.batch_size, 64);
	ck_assert(r.fit.validation_split == 0.2);
	ck_assert(!r.fit.shuffle);
	ck_assert(r.has_seed);
	ck_assert_uint_eq(r.fit.seed, 7);
	ck_assert(r.fit.early_stopping);
	ck_assert_int_eq(r.fit.monitor, NN_MONITOR_VAL_LOSS);
	ck_assert_uint_eq(r.fit.patience, 5);
	ck_assert(r.fit.min_delta == 0.01);
}
END_TEST

static const struct {
	const char *es; /* the early_stopping value */
	enum nn_monitor monitor;
	uint32_t patience;
	double min_delta;
} es_rows[] = {
	{"{}", NN_MONITOR_VAL_LOSS, 0, 0.0},
	{"{'monitor': 'loss'}", NN_MONITOR_LOSS, 0, 0.0},
	{"{'monitor': 'accuracy', 'patience': 3}", NN_MONITOR_ACCURACY, 3, 0.0},
	{"{'monitor': 'val_accuracy', 'min_delta': 0.5, 'patience': 1000000}", NN_MONITOR_VAL_ACCURACY, 1000000, 0.5},
	{"{'patience': 2, 'monitor': 'val_loss', 'min_delta': 0}", NN_MONITOR_VAL_LOSS, 2, 0.0},
};

START_TEST(test_early_stopping)
{
	struct api_job_req r;
	struct api_err err;
	char body[300];

	snprintf(body, sizeof body, "{'model_id': 1, 'dataset_id': 1, 'early_stopping': %s}", es_rows[_i].es);
	ck_assert_msg(decode_job(body, &r, &err) == 0, "%s: %s", body, err.message);
	ck_assert(r.fit.early_stopping);
	ck_assert_int_eq(r.fit.monitor, es_rows[_i].monitor);
	ck_assert_uint_eq(r.fit.patience, es_rows[_i].patience);
	ck_assert(r.fit.min_delta == es_rows[_i].min_delta);
}
END_TEST

START_TEST(test_nulls_are_absent)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{'model_id': 1, 'dataset_id': 1, 'early_stopping': null, 'seed': null,"
				    " 'epochs': null, 'validation_dataset_id': null}",
				    &r, &err),
			 0);
	ck_assert(!r.fit.early_stopping);
	ck_assert(!r.has_seed);
	ck_assert_uint_eq(r.fit.epochs, 1);
	ck_assert_int_eq(r.validation_dataset_id, 0);
}
END_TEST

#define IDS "'model_id': 1, 'dataset_id': 2"

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
} bad_rows[] = {
	{"", API_INVALID_JSON, ""},
	{"{" IDS, API_INVALID_JSON, ""},
	{"[1]", API_VALIDATION_FAILED, ""},
	/* ids */
	{"{'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': 1}", API_VALIDATION_FAILED, "dataset_id"},
	{"{'model_id': 0, 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': -1, 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': '1', 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': 1.5, 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': '', 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': 'a/b', 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': true, 'dataset_id': 2}", API_VALIDATION_FAILED, "model_id"},
	{"{'model_id': 1, 'dataset_id': 2, 'validation_dataset_id': 0}", API_VALIDATION_FAILED,
	 "validation_dataset_id"},
	/* both kinds of validation data */
	{"{" IDS ", 'validation_split': 0.2, 'validation_dataset_id': 3}", API_VALIDATION_FAILED, "validation_split"},
	/* epochs: 1..10^6 */
	{"{" IDS ", 'epochs': 0}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': 1000001}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': 1000000000000}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': 1e999}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': 2.5}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': '10'}", API_VALIDATION_FAILED, "epochs"},
	{"{" IDS ", 'epochs': -3}", API_VALIDATION_FAILED, "epochs"},
	/* batch_size: 1..2^20 */
	{"{" IDS ", 'batch_size': 0}", API_VALIDATION_FAILED, "batch_size"},
	{"{" IDS ", 'batch_size': 1048577}", API_VALIDATION_FAILED, "batch_size"},
	{"{" IDS ", 'batch_size': 32.5}", API_VALIDATION_FAILED, "batch_size"},
	/* validation_split: [0, 1) */
	{"{" IDS ", 'validation_split': 1}", API_VALIDATION_FAILED, "validation_split"},
	{"{" IDS ", 'validation_split': -0.1}", API_VALIDATION_FAILED, "validation_split"},
	{"{" IDS ", 'validation_split': '0.2'}", API_VALIDATION_FAILED, "validation_split"},
	{"{" IDS ", 'validation_split': 1e999}", API_VALIDATION_FAILED, "validation_split"},
	/* validation_split_mode: a known name, and a split to apply it to */
	{"{" IDS ", 'validation_split': 0.2, 'validation_split_mode': 'shuffled'}", API_VALIDATION_FAILED,
	 "validation_split_mode"},
	{"{" IDS ", 'validation_split': 0.2, 'validation_split_mode': 1}", API_VALIDATION_FAILED, "validation_split_mode"},
	{"{" IDS ", 'validation_split_mode': 'random'}", API_VALIDATION_FAILED, "validation_split_mode"},
	{"{" IDS ", 'validation_dataset_id': 3, 'validation_split_mode': 'stratified'}", API_VALIDATION_FAILED,
	 "validation_split_mode"},
	{"{" IDS ", 'shuffle': 'yes'}", API_VALIDATION_FAILED, "shuffle"},
	{"{" IDS ", 'shuffle': 1}", API_VALIDATION_FAILED, "shuffle"},
	{"{" IDS ", 'seed': -1}", API_VALIDATION_FAILED, "seed"},
	{"{" IDS ", 'seed': 9007199254740992}", API_VALIDATION_FAILED, "seed"},
	/* early stopping */
	{"{" IDS ", 'early_stopping': true}", API_VALIDATION_FAILED, "early_stopping"},
	{"{" IDS ", 'early_stopping': {'monitor': 'val_acc'}}", API_VALIDATION_FAILED, "early_stopping.monitor"},
	{"{" IDS ", 'early_stopping': {'monitor': 'Loss'}}", API_VALIDATION_FAILED, "early_stopping.monitor"},
	{"{" IDS ", 'early_stopping': {'monitor': 5}}", API_VALIDATION_FAILED, "early_stopping.monitor"},
	{"{" IDS ", 'early_stopping': {'monitor': 'val_loss_and_more_text'}}", API_VALIDATION_FAILED,
	 "early_stopping.monitor"},
	{"{" IDS ", 'early_stopping': {'patience': -1}}", API_VALIDATION_FAILED, "early_stopping.patience"},
	{"{" IDS ", 'early_stopping': {'patience': 1.5}}", API_VALIDATION_FAILED, "early_stopping.patience"},
	{"{" IDS ", 'early_stopping': {'min_delta': -0.1}}", API_VALIDATION_FAILED, "early_stopping.min_delta"},
	{"{" IDS ", 'early_stopping': {'baseline': 0.5}}", API_VALIDATION_FAILED, "early_stopping.baseline"},
	{"{" IDS ", 'early_stopping': {'restore_best_weights': 1}}", API_VALIDATION_FAILED,
	 "early_stopping.restore_best_weights"},
	{"{" IDS ", 'early_stopping': {'patience': 1, 'patience': 2}}", API_VALIDATION_FAILED,
	 "early_stopping.patience"},
	/* class_weight: an object of canonical class ids 0..255 to weights >= 0 */
	{"{" IDS ", 'class_weight': [1, 5]}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': 2}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'a': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'-1': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'+1': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'01': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'1.0': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'256': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'99999999999999999999': 1}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'1': 1, '1': 2}}", API_VALIDATION_FAILED, "class_weight"},
	{"{" IDS ", 'class_weight': {'0': -0.5}}", API_VALIDATION_FAILED, "class_weight.0"},
	{"{" IDS ", 'class_weight': {'0': 1, '1': '5'}}", API_VALIDATION_FAILED, "class_weight.1"},
	{"{" IDS ", 'class_weight': {'0': 1e999}}", API_VALIDATION_FAILED, "class_weight.0"},
	{"{" IDS ", 'class_weight': {'0': null}}", API_VALIDATION_FAILED, "class_weight.0"},
	/* reduce_lr_on_plateau: Keras's arguments, factor below 1 */
	{"{" IDS ", 'reduce_lr_on_plateau': true}", API_VALIDATION_FAILED, "reduce_lr_on_plateau"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'factor': 1}}", API_VALIDATION_FAILED, "reduce_lr_on_plateau.factor"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'factor': -0.1}}", API_VALIDATION_FAILED, "reduce_lr_on_plateau.factor"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'monitor': 'acc'}}", API_VALIDATION_FAILED,
	 "reduce_lr_on_plateau.monitor"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'mode': 'lower'}}", API_VALIDATION_FAILED, "reduce_lr_on_plateau.mode"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'patience': -1}}", API_VALIDATION_FAILED,
	 "reduce_lr_on_plateau.patience"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'cooldown': 0.5}}", API_VALIDATION_FAILED,
	 "reduce_lr_on_plateau.cooldown"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'min_lr': -1}}", API_VALIDATION_FAILED, "reduce_lr_on_plateau.min_lr"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'min_delta': -1}}", API_VALIDATION_FAILED,
	 "reduce_lr_on_plateau.min_delta"},
	{"{" IDS ", 'reduce_lr_on_plateau': {'verbose': 1}}", API_VALIDATION_FAILED, "reduce_lr_on_plateau.verbose"},
	/* unknown and duplicate keys */
	{"{" IDS ", 'learning_rate': 0.1}", API_VALIDATION_FAILED, "learning_rate"},
	{"{" IDS ", 'Epochs': 3}", API_VALIDATION_FAILED, "Epochs"},
	{"{" IDS ", 'epochs': 3, 'epochs': 4}", API_VALIDATION_FAILED, "epochs"},
};

START_TEST(test_bad_bodies)
{
	struct api_job_req r;
	struct api_err err;
	char what[300];

	snprintf(what, sizeof what, "row %d: %s", _i, bad_rows[_i].body);
	ck_assert_msg(decode_job(bad_rows[_i].body, &r, &err) == -1, "%s: accepted", what);
	t_expect_err(&err, bad_rows[_i].code, bad_rows[_i].field, NULL, what);
}
END_TEST

/* class ids in any order, the ids not named weigh 1; null is absent */
START_TEST(test_class_weight)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{" IDS ", 'class_weight': {'3': 0.25, '0': 5, '1': 0}}", &r, &err), 0);
	ck_assert_uint_eq(r.fit.n_class_weights, 4);
	ck_assert(r.fit.class_weight[0] == 5.0);
	ck_assert(r.fit.class_weight[1] == 0.0);
	ck_assert(r.fit.class_weight[2] == 1.0);
	ck_assert(r.fit.class_weight[3] == 0.25);
	ck_assert_int_eq(decode_job("{" IDS ", 'class_weight': null}", &r, &err), 0);
	ck_assert_uint_eq(r.fit.n_class_weights, 0);
	ck_assert_int_eq(decode_job("{" IDS ", 'class_weight': {'255': 2}}", &r, &err), 0);
	ck_assert_uint_eq(r.fit.n_class_weights, 256);
	ck_assert(r.fit.class_weight[255] == 2.0 && r.fit.class_weight[254] == 1.0);
}
END_TEST

/* Keras's defaults */
START_TEST(test_plateau_defaults)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{" IDS ", 'reduce_lr_on_plateau': {}}", &r, &err), 0);
	ck_assert(r.fit.reduce_lr_on_plateau);
	ck_assert_int_eq(r.fit.plateau_monitor, NN_MONITOR_VAL_LOSS);
	ck_assert_int_eq(r.fit.plateau_mode, NN_PLATEAU_AUTO);
	ck_assert(r.fit.plateau_factor == 0.1 && r.fit.plateau_min_delta == 1e-4 && r.fit.plateau_min_lr == 0.0);
	ck_assert_uint_eq(r.fit.plateau_patience, 10);
	ck_assert_uint_eq(r.fit.plateau_cooldown, 0);
	ck_assert_int_eq(decode_job("{" IDS ", 'reduce_lr_on_plateau': null}", &r, &err), 0);
	ck_assert(!r.fit.reduce_lr_on_plateau);
}
END_TEST

START_TEST(test_limits_accepted)
{
	struct api_job_req r;
	struct api_err err;

	ck_assert_int_eq(decode_job("{" IDS ", 'epochs': 1000000, 'batch_size': 1048576, 'validation_split': 0.999999,"
				    " 'seed': 9007199254740991}",
				    &r, &err),
			 0);
	ck_assert_uint_eq(r.fit.epochs, 1000000);
	ck_assert_uint_eq(r.fit.batch_size, 1048576);
	ck_assert_uint_eq(r.fit.seed, 9007199254740991ULL);
	/* validation_split 0 and a validation dataset are not both validation data */
	ck_assert_int_eq(decode_job("{" IDS ", 'validation_split': 0, 'validation_dataset_id': 3}", &r, &err), 0);
	ck_assert_int_eq(r.validation_dataset_id, 3);
}
END_TEST

/* The canonical options (as stored) decode to the same request. */
START_TEST(test_req_roundtrip)
{
	static const char *const bodies[] = {
		"{" IDS "}",
		"{" IDS ", 'epochs': 10, 'batch_size': 1, 'validation_split': 0.123456789, 'shuffle': false, 'seed': 7}",
		"{" IDS ", 'validation_dataset_id': 9, 'early_stopping': {'monitor': 'val_accuracy', 'patience': 4,"
		" 'min_delta': 0.001}}",
		"{" IDS ", 'seed': 0, 'early_stopping': {'monitor': 'loss'}}",
		"{" IDS ", 'validation_split': 0.3, 'validation_split_mode': 'stratified'}",
		"{" IDS ", 'validation_split': 0.3, 'validation_split_mode': 'random'}",
		"{" IDS ", 'validation_split_mode': 'tail'}",
		"{" IDS ", 'early_stopping': {'monitor': 'loss', 'restore_best_weights': true}}",
		"{" IDS ", 'class_weight': {'2': 0.1, '0': 5}}",
		"{" IDS ", 'class_weight': {'255': 0}}",
		"{" IDS ", 'reduce_lr_on_plateau': {}}",
		"{" IDS ", 'reduce_lr_on_plateau': {'monitor': 'accuracy', 'factor': 0.5, 'patience': 2, 'mode': 'max',"
		" 'min_delta': 0.01, 'cooldown': 3, 'min_lr': 1e-5}}",
	};

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct api_job_req a, b;
		struct api_err err;
		char *s;
		int rc;

		ck_assert_int_eq(decode_job(bodies[i], &a, &err), 0);
		s = api_job_req_encode(&a);
		ck_assert_ptr_nonnull(s);
		rc = api_job_decode(s, strlen(s), &b, &err);
		free(s);
		ck_assert_msg(rc == 0, "%s: %s", bodies[i], err.message);
		ck_assert_int_eq(a.model_id, b.model_id);
		ck_assert_int_eq(a.dataset_id, b.dataset_id);
		ck_assert_int_eq(a.validation_dataset_id, b.validation_dataset_id);
		ck_assert_uint_eq(a.fit.epochs, b.fit.epochs);
		ck_assert_uint_eq(a.fit.batch_size, b.fit.batch_size);
		ck_assert(a.fit.validation_split == b.fit.validation_split);
		ck_assert_int_eq(a.fit.split, b.fit.split);
		ck_assert(a.fit.shuffle == b.fit.shuffle);
		ck_assert_uint_eq(a.fit.seed, b.fit.seed);
		ck_assert(a.fit.early_stopping == b.fit.early_stopping);
		if (a.fit.early_stopping) {
			ck_assert_int_eq(a.fit.monitor, b.fit.monitor);
			ck_assert_uint_eq(a.fit.patience, b.fit.patience);
			ck_assert(a.fit.min_delta == b.fit.min_delta);
			ck_assert(a.fit.restore_best_weights == b.fit.restore_best_weights);
		}
		ck_assert(a.fit.reduce_lr_on_plateau == b.fit.reduce_lr_on_plateau);
		ck_assert_int_eq(a.fit.plateau_monitor, b.fit.plateau_monitor);
		ck_assert_int_eq(a.fit.plateau_mode, b.fit.plateau_mode);
		ck_assert(a.fit.plateau_factor == b.fit.plateau_factor);
		ck_assert_uint_eq(a.fit.plateau_patience, b.fit.plateau_patience);
		ck_assert(a.fit.plateau_min_delta == b.fit.plateau_min_delta);
		ck_assert_uint_eq(a.fit.plateau_cooldown, b.fit.plateau_cooldown);
		ck_assert(a.fit.plateau_min_lr == b.fit.plateau_min_lr);
		ck_assert_uint_eq(a.fit.n_class_weights, b.fit.n_class_weights);
		for (uint32_t c = 0; c < a.fit.n_class_weights; c++)
			ck_assert(a.fit.class_weight[c] == b.fit.class_weight[c]);
	}
}
END_TEST

/* ---- does the data fit the model? ------------------------------------------------------ */

/* 4 features in every model; the output layer decides the rest. */
#define M_SPARSE                                                                                  \
	"{'input_dim': 4, 'layers': [{'units': 8, 'activation': 'relu'}, {'units': 3, 'activation': " \
	"'softmax'}], 'loss': 'sparse_categorical_crossentropy', 'metrics': ['accuracy']}"
#define M_CAT                                                                                     \
	"{'input_dim': 4, 'layers': [{'units': 8, 'activation': 'relu'}, {'units': 3, 'activation': " \
	"'softmax'}], 'loss': 'categorical_crossentropy'}"
#define M_BIN "{'input_dim': 4, 'layers': [{'units': 1, 'activation': 'sigmoid'}], 'loss': 'binary_crossentropy'}"
#define M_BIN2 "{'input_dim': 4, 'layers': [{'units': 2, 'activation': 'sigmoid'}], 'loss': 'binary_crossentropy'}"
#define M_REG1 "{'input_dim': 4, 'layers': [{'units': 1}], 'loss': 'mse'}"
#define M_REG2 "{'input_dim': 4, 'layers': [{'units': 2}], 'loss': 'huber'}"
/* 1 input, 65536 hidden, 1 output: a trainer keeps batch x 65537 activation
 * floats, so 2047 rows fit in NN_MAX_BATCH_FLOATS (2^27) and 2048 do not */
#define M_WIDE "{'input_dim': 1, 'layers': [{'units': 65536}, {'units': 1}], 'loss': 'mse'}"

struct ds {
	uint64_t n;
	uint32_t d, y_dim;
	double y_min, y_max;
	bool integral;
};

#define CLS(n, lo, hi) {n, 4, 0, lo, hi, true}
#define REAL(n, w, lo, hi) {n, 4, w, lo, hi, false}
#define ONEHOT(n, k) {n, 4, k, 0, 1, true}

static const struct {
	const char *model;
	struct ds train;
	struct ds val; /* used when n > 0 */
	const char *job; /* the job body */
	const char *field; /* NULL: fits */
} check_rows[] = {
	/* sparse labels: integers in 0..outputs-1, one per row */
	{M_SPARSE, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_SPARSE, CLS(100, 0, 0), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_SPARSE, {100, 5, 0, 0, 2, true}, {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_SPARSE, {100, 3, 0, 0, 2, true}, {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_SPARSE, CLS(100, 0, 3), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_SPARSE, CLS(100, -1, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_SPARSE, {100, 4, 0, 0, 1.5, false}, {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_SPARSE, ONEHOT(100, 3), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	/* categorical crossentropy wants one-hot rows as wide as the output */
	{M_CAT, ONEHOT(100, 3), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_CAT, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_CAT, ONEHOT(100, 4), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_CAT, ONEHOT(100, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	/* binary crossentropy: targets in [0, 1], one per output */
	{M_BIN, CLS(100, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_BIN, REAL(100, 0, 0.1, 0.9), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_BIN, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_BIN, REAL(100, 0, -0.5, 1), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_BIN, REAL(100, 0, 0, 1.01), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_BIN, ONEHOT(100, 2), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_BIN2, REAL(100, 2, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_BIN2, CLS(100, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	/* regression: as many targets per row as outputs */
	{M_REG1, REAL(100, 0, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_REG1, REAL(100, 1, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_REG1, CLS(100, 0, 9), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_REG1, REAL(100, 2, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_REG2, REAL(100, 2, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", NULL},
	{M_REG2, REAL(100, 0, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_REG2, REAL(100, 3, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	{M_REG2, {100, 2, 2, -5, 5, false}, {0}, "{'model_id': 1, 'dataset_id': 1}", "dataset_id"},
	/* the validation dataset must fit as well */
	{M_SPARSE, CLS(100, 0, 2), CLS(20, 0, 2), "{'model_id': 1, 'dataset_id': 1, 'validation_dataset_id': 2}", NULL},
	{M_SPARSE, CLS(100, 0, 2), {20, 5, 0, 0, 2, true},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_dataset_id': 2}", "validation_dataset_id"},
	{M_SPARSE, CLS(100, 0, 2), CLS(20, 0, 7), "{'model_id': 1, 'dataset_id': 1, 'validation_dataset_id': 2}",
	 "validation_dataset_id"},
	/* the train data is checked first */
	{M_SPARSE, CLS(100, 0, 9), CLS(20, 0, 9), "{'model_id': 1, 'dataset_id': 1, 'validation_dataset_id': 2}",
	 "dataset_id"},
	/* validation_split_mode: stratified needs classes */
	{M_SPARSE, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, "
	 "'validation_split_mode': 'stratified'}", NULL},
	{M_REG1, REAL(100, 0, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, "
	 "'validation_split_mode': 'stratified'}", "validation_split_mode"},
	{M_REG1, REAL(100, 0, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, "
	 "'validation_split_mode': 'random'}", NULL},
	/* validation_split: Keras trains on the first floor(n (1 - split)) rows; neither part may be empty */
	{M_REG1, REAL(5, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2}", NULL},
	{M_REG1, REAL(2, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.5}", NULL},
	{M_REG1, REAL(1, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.5}",
	 "validation_split"},
	{M_REG1, REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.999999}",
	 "validation_split"},
	{M_REG1, REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'validation_split': 1e-20}",
	 "validation_split"},
	/* early stopping on val_* needs validation data; on accuracy a classification loss */
	{M_REG1, REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'early_stopping': {}}",
	 "early_stopping.monitor"},
	{M_SPARSE, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1, 'early_stopping': {'monitor': 'val_accuracy'}}",
	 "early_stopping.monitor"},
	{M_REG1, REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'early_stopping': {'monitor': 'loss'}}",
	 NULL},
	{M_REG1, REAL(100, 0, 0, 1), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, 'early_stopping': {'monitor': 'val_loss'}}", NULL},
	{M_REG1, REAL(100, 0, 0, 1), REAL(10, 0, 0, 1),
	 "{'model_id': 1, 'dataset_id': 1, 'validation_dataset_id': 2, 'early_stopping': {}}", NULL},
	{M_REG1, REAL(100, 0, 0, 1), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, 'early_stopping': {'monitor': 'accuracy'}}",
	 "early_stopping.monitor"},
	{M_REG1, REAL(100, 0, 0, 1), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, 'early_stopping': {'monitor': 'val_accuracy'}}",
	 "early_stopping.monitor"},
	{M_SPARSE, CLS(100, 0, 2), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.1, 'early_stopping': {'monitor': 'val_accuracy'}}",
	 NULL},
	{M_BIN, CLS(100, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'early_stopping': {'monitor': 'accuracy'}}",
	 NULL},
	/* reduce_lr_on_plateau: its monitor's data, a constant learning rate */
	{M_REG1, REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'reduce_lr_on_plateau': {}}",
	 "reduce_lr_on_plateau.monitor"},
	{M_REG1, REAL(100, 0, 0, 1), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'validation_split': 0.2, 'reduce_lr_on_plateau': {}}", NULL},
	{M_REG1, REAL(100, 0, 0, 1), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'reduce_lr_on_plateau': {'monitor': 'accuracy'}}",
	 "reduce_lr_on_plateau.monitor"},
	{M_SPARSE, CLS(100, 0, 2), {0},
	 "{'model_id': 1, 'dataset_id': 1, 'reduce_lr_on_plateau': {'monitor': 'accuracy'}}", NULL},
	{"{'input_dim': 4, 'layers': [{'units': 1}], 'loss': 'mse', 'optimizer': {'type': 'sgd', 'learning_rate':"
	 " {'type': 'ExponentialDecay', 'initial_learning_rate': 0.1, 'decay_steps': 10, 'decay_rate': 0.5}}}",
	 REAL(100, 0, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'reduce_lr_on_plateau': {'monitor': 'loss'}}",
	 "reduce_lr_on_plateau"},
	/* class_weight: a classification loss, classes the model can give */
	{M_SPARSE, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'2': 4}}", NULL},
	{M_SPARSE, CLS(100, 0, 2), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'3': 4}}", "class_weight"},
	{M_CAT, ONEHOT(100, 3), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'0': 1, '2': 4}}", NULL},
	{M_BIN, CLS(100, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'0': 1, '1': 9}}", NULL},
	{M_BIN, CLS(100, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'2': 1}}", "class_weight"},
	{M_BIN2, REAL(100, 2, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'1': 2}}", NULL},
	{M_BIN2, REAL(100, 2, 0, 1), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'2': 2}}",
	 "class_weight"},
	{M_REG1, REAL(100, 0, -5, 5), {0}, "{'model_id': 1, 'dataset_id': 1, 'class_weight': {'0': 2}}",
	 "class_weight"},
	/* a batch whose activations would not fit; the batch is capped by the training rows */
	{M_WIDE, {10000, 1, 0, 0, 1, false}, {0}, "{'model_id': 1, 'dataset_id': 1, 'batch_size': 2047}", NULL},
	{M_WIDE, {10000, 1, 0, 0, 1, false}, {0}, "{'model_id': 1, 'dataset_id': 1, 'batch_size': 2048}",
	 "batch_size"},
	{M_WIDE, {100, 1, 0, 0, 1, false}, {0}, "{'model_id': 1, 'dataset_id': 1, 'batch_size': 100000}", NULL},
	{M_WIDE, {4000, 1, 0, 0, 1, false}, {0},
	 "{'model_id': 1, 'dataset_id': 1, 'batch_size': 4000, 'validation_split': 0.5}", NULL},
	{M_WIDE, {4200, 1, 0, 0, 1, false}, {0},
	 "{'model_id': 1, 'dataset_id': 1, 'batch_size': 4000, 'validation_split': 0.5}", "batch_size"},
	{M_WIDE, {2000, 1, 0, 0, 1, false}, {3000, 1, 0, 0, 1, false},
	 "{'model_id': 1, 'dataset_id': 1, 'batch_size': 4000, 'validation_dataset_id': 2}", NULL},
	{M_WIDE, {2100, 1, 0, 0, 1, false}, {10, 1, 0, 0, 1, false},
	 "{'model_id': 1, 'dataset_id': 1, 'batch_size': 4000, 'validation_dataset_id': 2}", "batch_size"},
};

static void info_of(const struct ds *d, int64_t id, struct api_dataset_info *info)
{
	memset(info, 0, sizeof *info);
	info->id = id;
	info->n_samples = d->n;
	info->n_features = d->d;
	info->y_dim = d->y_dim;
	info->y_min = d->y_min;
	info->y_max = d->y_max;
	info->y_integral = d->integral;
	info->y_kind = d->y_dim >= 2 && d->integral ? API_Y_ONE_HOT : d->y_dim == 0 && d->integral && d->y_min >= 0
											   ? API_Y_CLASS
											   : API_Y_REAL;
}

START_TEST(test_check_table)
{
	struct api_model_def model;
	struct api_dataset_info train, val;
	struct api_job_req req;
	struct api_err err;
	char what[600];
	int rc;

	snprintf(what, sizeof what, "row %d: %s / %s", _i, check_rows[_i].model, check_rows[_i].job);
	decode_model(check_rows[_i].model, &model);
	ck_assert_msg(decode_job(check_rows[_i].job, &req, &err) == 0, "%s: %s", what, err.message);
	info_of(&check_rows[_i].train, 1, &train);
	info_of(&check_rows[_i].val, 2, &val);
	memset(&err, 0, sizeof err);
	rc = api_job_check(&req, &model, &train, check_rows[_i].val.n ? &val : NULL, &err);
	if (!check_rows[_i].field) {
		ck_assert_msg(rc == 0, "%s: refused: %s %s", what, err.field, err.message);
	} else {
		ck_assert_msg(rc == -1, "%s: accepted", what);
		t_expect_err(&err, API_VALIDATION_FAILED, check_rows[_i].field, NULL, what);
	}
}
END_TEST

/* The dataset id is in the message, so a client knows which one did not fit. */
START_TEST(test_fits_message)
{
	struct api_model_def model;
	struct api_dataset_info d;
	struct api_err err = {0};
	static const struct ds wrong = {10, 5, 0, 0, 2, true};

	decode_model(M_SPARSE, &model);
	info_of(&wrong, 77, &d);
	ck_assert_int_eq(api_dataset_fits(&model.spec, &d, "dataset_id", &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "dataset_id", "77", "features");
	ck_assert_ptr_nonnull(strstr(err.message, "5 features"));
	ck_assert_ptr_nonnull(strstr(err.message, "input_dim is 4"));
}
END_TEST

/* api_job_check's split rule is the core's: for every n and split, the check
 * accepts exactly when nn_train_create can split the rows. */
START_TEST(test_split_agrees_with_core)
{
	static const double splits[] = {1e-20, 1e-6, 0.01, 0.1, 0.2, 0.25, 1.0 / 3.0, 0.5, 0.7, 0.9, 0.99, 0.999999};
	struct api_model_def model;
	struct nn_model *m;
	float x[64] = {0}, y[64] = {0};

	decode_model(M_REG1, &model);
	m = nn_model_create(&model.spec);
	ck_assert_ptr_nonnull(m);
	for (size_t n = 1; n <= 16; n++) {
		for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
			struct api_job_req req;
			struct api_dataset_info info;
			struct api_err err = {0};
			struct ds d = {n, 4, 0, 0, 0, false};
			struct nn_data data = {x, y, n, 4, 1};
			struct nn_train *t;
			int status = 0, rc;

			memset(&req, 0, sizeof req);
			req.model_id = req.dataset_id = 1;
			req.fit.epochs = 1;
			req.fit.batch_size = 32;
			req.fit.validation_split = splits[s];
			info_of(&d, 1, &info);
			rc = api_job_check(&req, &model, &info, NULL, &err);
			t = nn_train_create(m, &data, NULL, &req.fit, &status);
			nn_train_destroy(t);
			ck_assert_msg((rc == 0) == (t != NULL), "n %zu split %g: api says %d, core says %d (%d)", n,
				      splits[s], rc, t != NULL, status);
		}
	}
	nn_model_destroy(m);
}
END_TEST

/* ---- encoding -------------------------------------------------------------------------------- */

START_TEST(test_job_encode)
{
	struct api_job_info j;
	struct api_err err;
	cJSON *root, *metrics;
	char *s;

	memset(&j, 0, sizeof j);
	ck_assert_int_eq(decode_job("{'model_id': 3, 'dataset_id': 4, 'epochs': 10}", &j.req, &err), 0);
	j.id = 7;
	j.model_id = 3;
	j.dataset_id = 0; /* deleted since */
	j.status = API_JOB_RUNNING;
	j.epoch = 2;
	j.last = (struct api_epoch){.epoch = 2, .loss = 0.5, .accuracy = 0.75, .val_loss = NAN, .val_accuracy = NAN, .seconds = 1.25,
				    .learning_rate = NAN};
	j.samples_per_second = NAN;
	snprintf(j.created_at, sizeof j.created_at, "2026-11-26T21:03:04Z");
	s = api_job_encode(&j);
	ck_assert_ptr_nonnull(s);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "id")->valueint, 7);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "dataset_id")));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "status")->valuestring, "running");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "epochs")->valueint, 10);
	metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics");
	ck_assert(cJSON_GetObjectItemCaseSensitive(metrics, "loss")->valuedouble == 0.5);
	ck_assert(cJSON_GetObjectItemCaseSensitive(metrics, "accuracy")->valuedouble == 0.75);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(metrics, "val_loss"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "samples_per_second")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "error")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "started_at")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "finished_at")));
	cJSON_Delete(root);
}
END_TEST

START_TEST(test_epoch_metrics_encode)
{
	struct api_epoch e = {.epoch = 3, .loss = 0.5, .accuracy = 0.75, .val_loss = 0.625, .val_accuracy = 0.5, .seconds = 0.25}, back;
	cJSON *root;
	bool oom;
	char *s;

	/* none beyond accuracy: nothing to store */
	e.metrics = NN_METRIC_BIT(NN_METRIC_ACCURACY);
	ck_assert_ptr_null(api_epoch_metrics_encode(&e, &oom));
	ck_assert(!oom);
	ck_assert_int_eq(api_epoch_metrics_decode(NULL, &back), 0);
	ck_assert_uint_eq(back.metrics, 0);

	e.metrics = NN_METRIC_BIT(NN_METRIC_PRECISION) | NN_METRIC_BIT(NN_METRIC_AUC);
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		e.values[m] = e.val_values[m] = NAN;
	e.values[NN_METRIC_PRECISION] = 0.1;
	e.val_values[NN_METRIC_PRECISION] = 1.0 / 3.0;
	e.values[NN_METRIC_AUC] = 0.875; /* val_auc undefined: null */
	s = api_epoch_metrics_encode(&e, &oom);
	ck_assert_str_eq(s, "{\"precision\":0.1,\"val_precision\":0.3333333333333333,\"auc\":0.875,\"val_auc\":null}");
	ck_assert_int_eq(api_epoch_metrics_decode(s, &back), 0);
	ck_assert_uint_eq(back.metrics, e.metrics);
	ck_assert(back.values[NN_METRIC_PRECISION] == 0.1 && back.val_values[NN_METRIC_PRECISION] == 1.0 / 3.0);
	ck_assert(back.values[NN_METRIC_AUC] == 0.875 && isnan(back.val_values[NN_METRIC_AUC]));
	ck_assert(isnan(back.values[NN_METRIC_MAE]));
	free(s);

	/* the epoch row (history and SSE) carries them by Keras's History keys */
	s = api_epoch_encode(&e);
	root = cJSON_Parse(s);
	ck_assert(cJSON_GetObjectItemCaseSensitive(root, "val_precision")->valuedouble == 1.0 / 3.0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "val_auc")));
	ck_assert(cJSON_GetObjectItemCaseSensitive(root, "accuracy")->valuedouble == 0.75);
	cJSON_Delete(root);
	free(s);
	/* without validation rows, no val_ keys */
	e.val_loss = e.val_accuracy = NAN;
	s = api_epoch_encode(&e);
	ck_assert_ptr_null(strstr(s, "val_"));
	ck_assert_ptr_nonnull(strstr(s, "\"precision\":0.1"));
	free(s);

	/* damaged stored text */
	ck_assert_int_eq(api_epoch_metrics_decode("{\"precision\": \"x\"}", &back), -1);
	ck_assert_int_eq(api_epoch_metrics_decode("{\"accuracy\": 1}", &back), -1);
	ck_assert_int_eq(api_epoch_metrics_decode("{\"val_bogus\": 1}", &back), -1);
	ck_assert_int_eq(api_epoch_metrics_decode("[1]", &back), -1);
	ck_assert_int_eq(api_epoch_metrics_decode("{", &back), -1);
	ck_assert_uint_eq(back.metrics, 0);
}
END_TEST

START_TEST(test_epoch_and_history_encode)
{
	struct api_epoch e[2] = {{.epoch = 1, .loss = 0.5, .accuracy = NAN, .val_loss = 0.625, .val_accuracy = NAN, .seconds = 0.25, .learning_rate = NAN},
				 {.epoch = 2, .loss = 0.25, .accuracy = 0.5, .val_loss = 0.375, .val_accuracy = 0.75, .seconds = INFINITY, .learning_rate = 0.125}};
	cJSON *root, *arr;
	char *s;

	s = api_epoch_encode(&e[0]);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strchr(s, '\n')); /* one line: it is an SSE data field */
	ck_assert_str_eq(s, "{\"epoch\":1,\"loss\":0.5,\"val_loss\":0.625,\"seconds\":0.25}");
	free(s);
	s = api_history_encode(7, e, 2);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "job_id")->valueint, 7);
	arr = cJSON_GetObjectItemCaseSensitive(root, "epochs");
	ck_assert_int_eq(cJSON_GetArraySize(arr), 2);
	ck_assert(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "val_accuracy")->valuedouble == 0.75);
	ck_assert(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "seconds")->valuedouble == 0.0);
	/* the learning rate when recorded (NaN: an epoch from before it was) */
	ck_assert(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "learning_rate")->valuedouble == 0.125);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 0), "learning_rate"));
	cJSON_Delete(root);
}
END_TEST

START_TEST(test_status_names)
{
	static const char *const names[] = {"queued", "running", "succeeded", "failed", "cancelled"};
	enum api_job_status s;

	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(api_job_status_name((enum api_job_status)i), names[i]);
		ck_assert(api_job_status_parse(names[i], &s));
		ck_assert_int_eq(s, i);
		ck_assert(api_job_final((enum api_job_status)i) == (i >= 2));
	}
	ck_assert(!api_job_status_parse("done", &s));
	ck_assert(!api_job_status_parse("Queued", &s));
}
END_TEST

Suite *suite_api_job(void)
{
	Suite *s = suite_create("api_job");
	TCase *tc = tcase_create("decode");
	TCase *check = tcase_create("check");
	TCase *enc = tcase_create("encode");

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_model_by_name);
	tcase_add_test(tc, test_full_body);
	tcase_add_loop_test(tc, test_early_stopping, 0, N(es_rows));
	tcase_add_test(tc, test_nulls_are_absent);
	tcase_add_loop_test(tc, test_bad_bodies, 0, N(bad_rows));
	tcase_add_test(tc, test_limits_accepted);
	tcase_add_test(tc, test_class_weight);
	tcase_add_test(tc, test_plateau_defaults);
	tcase_add_test(tc, test_req_roundtrip);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(check, test_check_table, 0, N(check_rows));
	tcase_add_test(check, test_fits_message);
	tcase_add_test(check, test_split_agrees_with_core);
	suite_add_tcase(s, check);
	tcase_add_test(enc, test_job_encode);
	tcase_add_test(enc, test_epoch_and_history_encode);
	tcase_add_test(enc, test_epoch_metrics_encode);
	tcase_add_test(enc, test_status_names);
	suite_add_tcase(s, enc);
#undef N
	return s;
}
