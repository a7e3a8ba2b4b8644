/*
 * test_nn_train.c — core/nn_train.c: learning checks (XOR, the tutorial
 * classifier, linear regression), determinism, checkpoint and resume,
 * validation split, early stopping, cancellation, divergence, History's
 * epoch loss, trainer state blobs.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"
#include "tests/unit/ulp.h"

Suite *suite_nn_train(void);

static struct nn_model *make_model(const struct nn_model_spec *spec, uint64_t seed)
{
	struct nn_model *m = nn_model_create(spec);
	ck_assert_ptr_nonnull(m);
	struct nn_rng rng;
	nn_rng_seed(&rng, seed);
	nn_model_init(m, &rng);
	return m;
}

/* n rows of k Gaussian blobs in d dimensions (centres 3 apart on average). */
static void blobs(float *x, float *y, size_t n, uint32_t d, uint32_t k, uint64_t seed)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, 5150);
	float centres[8 * 16];
	for (uint32_t i = 0; i < k * d; i++)
		centres[i] = (float)(2.0 * nn_rng_normal(&rng));
	nn_rng_seed(&rng, seed);
	for (size_t r = 0; r < n; r++) {
		uint32_t c = (uint32_t)nn_rng_below(&rng, k);
		y[r] = (float)c;
		for (uint32_t j = 0; j < d; j++)
			x[r * d + j] = centres[c * d + j] + (float)(0.7 * nn_rng_normal(&rng));
	}
}

/* The tutorial model: Dense(25 relu) -> Dense(15 relu) -> Dense(k softmax), Adam. */
static void tutorial_spec(struct nn_model_spec *spec, uint32_t d, uint32_t k)
{
	memset(spec, 0, sizeof *spec);
	spec->input_dim = d;
	spec->n_layers = 3;
	nn_dense_defaults(&spec->layers[0], 25, NN_ACT_RELU);
	nn_dense_defaults(&spec->layers[1], 15, NN_ACT_RELU);
	nn_dense_defaults(&spec->layers[2], k, NN_ACT_SOFTMAX);
	spec->loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec->opt);
}

/* ---- learning ----------------------------------------------------------------------- */

START_TEST(test_xor)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 2;
	spec.n_layers = 2;
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_SIGMOID);
	nn_dense_defaults(&spec.layers[1], 1, NN_ACT_SIGMOID);
	spec.loss.kind = NN_LOSS_BINARY_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	spec.opt.learning_rate = 0.05;
	struct nn_model *m = make_model(&spec, 1);
	const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
	struct nn_data d = {x, y, 4, 2, 1};
	struct nn_fit_opts opts = {.epochs = 1500, .batch_size = 4, .seed = 1};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, NULL, NULL, NULL), NN_OK);
	struct nn_eval ev;
	ck_assert_int_eq(nn_evaluate(m, &d, &ev), NN_OK);
	ck_assert_double_lt(ev.loss, 0.05);
	ck_assert_double_eq(ev.metric, 1.0);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_tutorial_classifier)
{
	const uint32_t d = 8, k = 4;
	const size_t n = 1200, n_test = 400;
	float *x = malloc(n * d * sizeof(float)), *y = malloc(n * sizeof(float));
	float *xt = malloc(n_test * d * sizeof(float)), *yt = malloc(n_test * sizeof(float));
	blobs(x, y, n, d, k, 1);
	blobs(xt, yt, n_test, d, k, 2);
	struct nn_model_spec spec;
	tutorial_spec(&spec, d, k);
	struct nn_model *m = make_model(&spec, 42);
	struct nn_data train = {x, y, n, d, 1}, test = {xt, yt, n_test, d, 1};
	struct nn_fit_opts opts = {.epochs = 20, .batch_size = 32, .shuffle = true, .seed = 3,
				   .validation_split = 0.2};
	ck_assert_int_eq(nn_fit(m, &train, NULL, &opts, NULL, NULL, NULL, NULL), NN_OK);
	struct nn_eval ev;
	ck_assert_int_eq(nn_evaluate(m, &test, &ev), NN_OK);
	ck_assert_double_gt(ev.metric, 0.95);
	ck_assert_uint_eq(nn_model_opt_steps(m), 20 * 30); /* 960 rows / 32 per epoch */
	free(x), free(y), free(xt), free(yt);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_linear_regression_recovers_coefficients)
{
	/* y = 2 x0 - 3 x1 + 0.5 x2 + 1, no noise */
	const size_t n = 256;
	float x[256 * 3], y[256];
	struct nn_rng rng;
	nn_rng_seed(&rng, 9);
	for (size_t r = 0; r < n; r++) {
		for (int j = 0; j < 3; j++)
			x[r * 3 + j] = (float)(2 * nn_rng_uniform(&rng) - 1);
		y[r] = 2 * x[r * 3] - 3 * x[r * 3 + 1] + 0.5f * x[r * 3 + 2] + 1;
	}
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 3;
	spec.n_layers = 1;
	nn_dense_defaults(&spec.layers[0], 1, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.learning_rate = 0.1;
	struct nn_model *m = make_model(&spec, 4);
	struct nn_data data = {x, y, n, 3, 1};
	struct nn_fit_opts opts = {.epochs = 200, .batch_size = 16, .shuffle = true, .seed = 5};
	ck_assert_int_eq(nn_fit(m, &data, NULL, &opts, NULL, NULL, NULL, NULL), NN_OK);
	const float *w = nn_model_params_const(m);
	ck_assert_float_eq_tol(w[0], 2.0f, 1e-3f);
	ck_assert_float_eq_tol(w[1], -3.0f, 1e-3f);
	ck_assert_float_eq_tol(w[2], 0.5f, 1e-3f);
	ck_assert_float_eq_tol(w[3], 1.0f, 1e-3f);
	nn_model_destroy(m);
}
END_TEST

/* ---- determinism and checkpoints ------------------------------------------------------- */

#define MAX_LOG 16

struct history {
	struct nn_epoch_log log[MAX_LOG];
	int n;
	int stop_after; /* on_epoch returns nonzero after this many (0: never) */
};

static int record(void *ctx, const struct nn_epoch_log *log, double seconds)
{
	struct history *h = ctx;
	ck_assert_double_ge(seconds, 0.0);
	ck_assert_int_lt(h->n, MAX_LOG);
	h->log[h->n++] = *log;
	return h->stop_after && h->n >= h->stop_after;
}

static double fake_clock(void)
{
	return 0.0;
}

/* A dropout classifier on blob data: the stream of shuffles and masks
 * matters for every result. */
static void dropout_spec(struct nn_model_spec *spec)
{
	tutorial_spec(spec, 8, 4);
	spec->n_layers = 4;
	spec->layers[3] = spec->layers[2];
	spec->layers[2] = spec->layers[1];
	memset(&spec->layers[1], 0, sizeof spec->layers[1]);
	spec->layers[1].kind = NN_LAYER_DROPOUT;
	spec->layers[1].rate = 0.3;
	spec->layers[0].l2 = 1e-3;
}

START_TEST(test_same_seed_bit_identical)
{
	float x[300 * 8], y[300];
	blobs(x, y, 300, 8, 4, 7);
	struct nn_data d = {x, y, 300, 8, 1};
	struct nn_model_spec spec;
	dropout_spec(&spec);
	struct nn_fit_opts opts = {.epochs = 5, .batch_size = 16, .shuffle = true, .seed = 11,
				   .validation_split = 0.1};
	struct history h[2];
	memset(h, 0, sizeof h);
	struct nn_model *m[2];
	for (int run = 0; run < 2; run++) {
		m[run] = make_model(&spec, 8);
		ck_assert_int_eq(nn_fit(m[run], &d, NULL, &opts, NULL, record, fake_clock, &h[run]), NN_OK);
	}
	ck_assert_int_eq(h[0].n, 5);
	ck_assert(memcmp(h[0].log, h[1].log, sizeof h[0].log) == 0);
	ck_assert(memcmp(nn_model_params(m[0]), nn_model_params(m[1]),
			 nn_model_n_params(m[0]) * sizeof(float)) == 0);
	/* a different seed gives a different run */
	struct nn_model *other = make_model(&spec, 8);
	opts.seed = 12;
	struct history h2 = {0};
	ck_assert_int_eq(nn_fit(other, &d, NULL, &opts, NULL, record, NULL, &h2), NN_OK);
	ck_assert(h2.log[0].loss != h[0].log[0].loss);
	nn_model_destroy(m[0]);
	nn_model_destroy(m[1]);
	nn_model_destroy(other);
}
END_TEST

START_TEST(test_checkpoint_resume_bit_identical)
{
	float x[240 * 8], y[240];
	blobs(x, y, 240, 8, 4, 17);
	struct nn_data d = {x, y, 240, 8, 1};
	struct nn_model_spec spec;
	dropout_spec(&spec);
	struct nn_fit_opts opts = {.epochs = 6, .batch_size = 20, .shuffle = true, .seed = 19,
				   .validation_split = 0.25, .early_stopping = true,
				   .monitor = NN_MONITOR_VAL_LOSS, .patience = 100};
	/* uninterrupted */
	struct nn_model *m = make_model(&spec, 23);
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_ptr_nonnull(t);
	struct nn_epoch_log full[6];
	for (int e = 0; e < 6; e++)
		ck_assert_int_eq(nn_train_epoch(t, NULL, &full[e]), NN_OK);
	ck_assert(nn_train_done(t));
	ck_assert_int_eq(nn_train_epoch(t, NULL, &full[0 + 5]), NN_EINVAL);

	/* two epochs, checkpoint, fresh objects, restore, four more */
	struct nn_model *a = make_model(&spec, 23);
	struct nn_train *ta = nn_train_create(a, &d, NULL, &opts, NULL);
	struct nn_epoch_log log;
	for (int e = 0; e < 2; e++) {
		ck_assert_int_eq(nn_train_epoch(ta, NULL, &log), NN_OK);
		ck_assert(memcmp(&log, &full[e], sizeof log) == 0);
	}
	size_t model_size = nn_model_state_size(a), train_size = nn_train_state_size(ta);
	uint8_t *model_blob = malloc(model_size), *train_blob = malloc(train_size);
	nn_model_state_save(a, model_blob);
	nn_train_state_save(ta, train_blob);
	nn_train_destroy(ta);
	nn_model_destroy(a);

	struct nn_model *b = make_model(&spec, 999); /* other weights: the blob replaces them */
	struct nn_train *tb = nn_train_create(b, &d, NULL, &opts, NULL);
	ck_assert_int_eq(nn_model_state_load(b, model_blob, model_size), NN_OK);
	ck_assert_int_eq(nn_train_state_load(tb, train_blob, train_size), NN_OK);
	ck_assert_uint_eq(nn_train_epochs_done(tb), 2);
	for (int e = 2; e < 6; e++) {
		ck_assert_int_eq(nn_train_epoch(tb, NULL, &log), NN_OK);
		ck_assert(memcmp(&log, &full[e], sizeof log) == 0);
	}
	ck_assert(nn_train_done(tb));
	ck_assert(memcmp(nn_model_params(b), nn_model_params(m), nn_model_n_params(m) * 4) == 0);
	ck_assert(memcmp(b->slots, m->slots, 2 * nn_model_n_params(m) * 4) == 0);
	ck_assert_uint_eq(nn_model_opt_steps(b), nn_model_opt_steps(m));

	/* trainer blobs: every truncation and corruption is NN_EFORMAT, state unchanged */
	uint8_t *copy = malloc(train_size), *now = malloc(train_size), *after = malloc(train_size);
	nn_train_state_save(tb, now);
	for (size_t len = 0; len < train_size; len++)
		ck_assert_int_eq(nn_train_state_load(tb, train_blob, len), NN_EFORMAT);
	for (size_t i = 0; i < train_size; i++) {
		memcpy(copy, train_blob, train_size);
		copy[i] ^= 0x10;
		ck_assert_int_eq(nn_train_state_load(tb, copy, train_size), NN_EFORMAT);
	}
	ck_assert_int_eq(nn_model_state_load(b, train_blob, train_size), NN_EFORMAT);
	ck_assert_int_eq(nn_train_state_load(tb, model_blob, model_size), NN_EFORMAT);
	nn_train_state_save(tb, after);
	ck_assert(memcmp(now, after, train_size) == 0);

	free(model_blob), free(train_blob), free(copy), free(now), free(after);
	nn_train_destroy(t);
	nn_train_destroy(tb);
	nn_model_destroy(m);
	nn_model_destroy(b);
	nn_train_destroy(NULL);
}
END_TEST

/* ---- fit semantics ----------------------------------------------------------------------- */

START_TEST(test_validation_split_rows)
{
	float x[10 * 8] = {0}, y[10] = {0};
	struct nn_model_spec spec;
	tutorial_spec(&spec, 8, 4);
	struct nn_model *m = make_model(&spec, 1);
	struct nn_data d = {x, y, 10, 8, 1};
	struct nn_fit_opts opts = {.epochs = 1, .validation_split = 0.25};
	/* Keras: train = floor(n (1 - split)) */
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_uint_eq(nn_train_n_train(t), 7);
	ck_assert_uint_eq(nn_train_n_val(t), 3);
	nn_train_destroy(t);
	/* 10 * (1 - 0.8) = 1.9999999999999996 in double: 1 train row, as in Keras */
	opts.validation_split = 0.8;
	t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_uint_eq(nn_train_n_train(t), 1);
	ck_assert_uint_eq(nn_train_n_val(t), 9);
	nn_train_destroy(t);
	opts.validation_split = 0;
	t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_uint_eq(nn_train_n_train(t), 10);
	ck_assert_uint_eq(nn_train_n_val(t), 0);
	nn_train_destroy(t);
	/* separate validation data overrides the split */
	struct nn_data v = {x, y, 4, 8, 1};
	opts.validation_split = 0.5;
	t = nn_train_create(m, &d, &v, &opts, NULL);
	ck_assert_uint_eq(nn_train_n_train(t), 10);
	ck_assert_uint_eq(nn_train_n_val(t), 4);
	nn_train_destroy(t);
	/* a split leaving either part empty is refused */
	int status = 0;
	d.n = 1;
	t = nn_train_create(m, &d, NULL, &opts, &status);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(status, NN_EINVAL);
	d.n = 10;
	opts.validation_split = 0.01; /* floor(9.9) = 9 train, 1 validation */
	t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_uint_eq(nn_train_n_val(t), 1);
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_create_errors)
{
	float x[8 * 8] = {0}, y[8] = {0};
	struct nn_model_spec spec;
	tutorial_spec(&spec, 8, 4);
	struct nn_model *m = make_model(&spec, 1);
	struct nn_data d = {x, y, 8, 8, 1};
	struct nn_fit_opts opts = {.epochs = 0};
	int status = 0;
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &opts, &status));
	ck_assert_int_eq(status, NN_EINVAL);
	opts.epochs = 1;
	opts.validation_split = 1.0;
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &opts, &status));
	ck_assert_int_eq(status, NN_EINVAL);
	opts.validation_split = 0;
	y[3] = 4; /* label out of range */
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &opts, &status));
	ck_assert_int_eq(status, NN_EINVAL);
	nn_model_destroy(m);

	/* batch x sum(units) above NN_MAX_BATCH_FLOATS: 4096 x 65537 > 2^27 */
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 1;
	spec.n_layers = 2;
	nn_dense_defaults(&spec.layers[0], NN_MAX_UNITS, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], 1, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	m = nn_model_create(&spec);
	float *big = calloc(4096, sizeof(float));
	struct nn_data wide = {big, big, 4096, 1, 1};
	opts.batch_size = 4096;
	ck_assert_ptr_null(nn_train_create(m, &wide, NULL, &opts, &status));
	ck_assert_int_eq(status, NN_ELIMIT);
	free(big);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_epoch_loss_is_history_mean)
{
	/* SGD with lr 1e-30 leaves the float weights unchanged, so every batch
	 * sees the same model: History's batch-size weighted mean of batch
	 * losses (L2 included) must equal evaluate() on the same rows, for
	 * batches of 4, 4 and 2 rows. */
	float x[10 * 8], y[10];
	blobs(x, y, 10, 8, 4, 3);
	struct nn_model_spec spec;
	tutorial_spec(&spec, 8, 4);
	spec.layers[0].l2 = 0.01;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.learning_rate = 1e-30;
	struct nn_model *m = make_model(&spec, 2);
	struct nn_data d = {x, y, 10, 8, 1};
	struct nn_eval ev;
	ck_assert_int_eq(nn_evaluate(m, &d, &ev), NN_OK);
	struct nn_fit_opts opts = {.epochs = 1, .batch_size = 4, .shuffle = true, .seed = 1};
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 1);
	ck_assert_uint_eq(h.log[0].epoch, 1);
	/* The batches of 4, 4 and 2 rows and evaluate's one batch of 10 go
	 * through differently shaped float32 products, whose sums the BLAS
	 * kernels may order differently: each row's loss agrees to a few ulps,
	 * not bit for bit. An unweighted mean of the batch losses would be off
	 * by percents. The accuracy is a count of argmax hits on rows far from
	 * ties, the same under any rounding. */
	ck_assert_ulps(h.log[0].loss, ev.loss, 64);
	ck_assert_double_eq_tol(h.log[0].metric, ev.metric, 1e-12);
	ck_assert(h.log[0].has_metric && !h.log[0].has_val && !h.log[0].stop);
	ck_assert(isnan(h.log[0].val_loss));
	ck_assert_uint_eq(nn_model_opt_steps(m), 3);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_early_stopping_scripted)
{
	float x[40 * 8], y[40];
	blobs(x, y, 40, 8, 4, 5);
	struct nn_data d = {x, y, 40, 8, 1};
	struct nn_model_spec spec;
	tutorial_spec(&spec, 8, 4);
	/* min_delta 1e6: only the first epoch improves on best = inf; with
	 * patience 2, wait reaches 2 after epoch 3, which stops. */
	struct nn_model *m = make_model(&spec, 1);
	struct nn_fit_opts opts = {.epochs = 20, .batch_size = 8, .seed = 1, .early_stopping = true,
				   .monitor = NN_MONITOR_LOSS, .patience = 2, .min_delta = 1e6};
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 3);
	ck_assert(!h.log[0].stop && !h.log[1].stop && h.log[2].stop);
	/* the same through the stepper, with the state after the stop */
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	struct nn_epoch_log log;
	for (int e = 0; e < 3; e++)
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log), NN_OK);
	ck_assert(log.stop && nn_train_done(t));
	ck_assert_uint_eq(nn_train_epochs_done(t), 3);
	ck_assert_int_eq(nn_train_epoch(t, NULL, &log), NN_EINVAL);
	nn_train_destroy(t);

	/* val_accuracy with patience 0 (higher is better, min_delta's sign
	 * ignored as Keras takes abs): stops after epoch 2 */
	opts.monitor = NN_MONITOR_VAL_ACCURACY;
	opts.patience = 0;
	opts.min_delta = -1e6;
	opts.validation_split = 0.25;
	h.n = 0;
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 2);
	ck_assert(h.log[1].stop && h.log[1].has_val);

	/* a monitor that is not there (val_loss without validation): Keras skips */
	opts.monitor = NN_MONITOR_VAL_LOSS;
	opts.validation_split = 0;
	opts.epochs = 4;
	h.n = 0;
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 4);

	/* improving runs do not stop: min_delta 0 and a learning model */
	opts.monitor = NN_MONITOR_LOSS;
	opts.min_delta = 0;
	opts.patience = 1;
	opts.epochs = 5;
	spec.opt.learning_rate = 0.01;
	struct nn_model *fast = make_model(&spec, 1);
	h.n = 0;
	ck_assert_int_eq(nn_fit(fast, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 5);
	/* on_epoch returning nonzero stops nn_fit */
	h.n = 0;
	h.stop_after = 2;
	ck_assert_int_eq(nn_fit(fast, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 2);
	nn_model_destroy(fast);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_cancel)
{
	float x[64 * 8], y[64];
	blobs(x, y, 64, 8, 4, 5);
	struct nn_data d = {x, y, 64, 8, 1};
	struct nn_model_spec spec;
	dropout_spec(&spec);
	struct nn_model *m = make_model(&spec, 1);
	struct nn_fit_opts opts = {.epochs = 3, .batch_size = 8, .shuffle = true, .seed = 2};
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	uint8_t before[108], after[108];
	ck_assert_uint_eq(nn_train_state_size(t), sizeof before);
	nn_train_state_save(t, before);
	atomic_int cancel = 1;
	struct nn_epoch_log log;
	/* checked before the first batch: nothing ran, the RNG is as it was */
	ck_assert_int_eq(nn_train_epoch(t, &cancel, &log), NN_ECANCELLED);
	ck_assert_uint_eq(nn_model_opt_steps(m), 0);
	ck_assert_uint_eq(nn_train_epochs_done(t), 0);
	nn_train_state_save(t, after);
	ck_assert(memcmp(before, after, sizeof before) == 0);
	atomic_store(&cancel, 0);
	ck_assert_int_eq(nn_train_epoch(t, &cancel, &log), NN_OK);
	ck_assert_uint_eq(nn_model_opt_steps(m), 8);
	nn_train_destroy(t);
	/* nn_fit returns the cancellation */
	atomic_store(&cancel, 1);
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, &cancel, NULL, NULL, NULL), NN_ECANCELLED);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_divergence)
{
	/* linear regression with a learning rate far too large explodes */
	float x[32], y[32];
	for (int i = 0; i < 32; i++) {
		x[i] = (float)i;
		y[i] = 1000.0f * (float)i;
	}
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 1;
	spec.n_layers = 1;
	nn_dense_defaults(&spec.layers[0], 1, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.learning_rate = 10;
	struct nn_model *m = make_model(&spec, 1);
	struct nn_data d = {x, y, 32, 1, 1};
	struct nn_fit_opts opts = {.epochs = 100, .batch_size = 32};
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_EDIVERGED);
	ck_assert_int_lt(h.n, 100);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_no_epoch_ends_with_non_finite_weights)
{
	/* One full batch per epoch and a huge learning rate: the update after
	 * the last (finite) batch loss overflows the weights. That epoch must
	 * report the divergence, so every epoch reported OK leaves finite
	 * weights: the ones a job keeps as its last good state. */
	float x[8], y[8];
	for (int i = 0; i < 8; i++) {
		x[i] = (float)(i + 1);
		y[i] = 3.0f * (float)(i + 1);
	}
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 1;
	spec.n_layers = 1;
	nn_dense_defaults(&spec.layers[0], 1, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.learning_rate = 1e6;
	struct nn_model *m = make_model(&spec, 1);
	struct nn_data d = {x, y, 8, 1, 1};
	struct nn_fit_opts opts = {.epochs = 100, .batch_size = 8};
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_ptr_nonnull(t);
	struct nn_epoch_log log;
	int rc, ok_epochs = 0;
	while ((rc = nn_train_epoch(t, NULL, &log)) == NN_OK) {
		ok_epochs++;
		for (size_t i = 0; i < nn_model_n_params(m); i++)
			ck_assert_msg(isfinite(nn_model_params(m)[i]), "epoch %d ended with weight %zu = %g", ok_epochs, i,
				      (double)nn_model_params(m)[i]);
	}
	ck_assert_int_eq(rc, NN_EDIVERGED);
	ck_assert_int_eq(nn_train_epochs_done(t), ok_epochs);
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

/* ---- class_weight --------------------------------------------------------------------- */

/* One dense layer (softmax, or sigmoid for binary), plain SGD, one full
 * batch of 12 rows: the weighted loss, the accuracy and the update
 * W -= lr dL/dW are computed here by hand in double, independently of
 * nn_loss.c: per row w_r = class_weight[class_r], loss = sum(w_r l_r) / 12
 * (Keras's sum_over_batch_size divides by the rows, not by sum(w)),
 * accuracy = sum(hit_r) / 12 (Keras 3 gives compile's metrics no sample
 * weights), dL/dz_r = w_r (p_r - t_r) / 12.
 * _i: 0 sparse labels, 1 one-hot (with a soft row whose first maximum
 * decides its class), 2 binary (with a 0.5 target, which rounds half to
 * even to class 0 as numpy's round does). */
START_TEST(test_class_weight_loss_and_step)
{
	enum { N = 12, D = 3 };
	const int form = _i;
	const uint32_t k = form == 2 ? 1 : 3, y_dim = form == 0 ? 1 : k;
	float x[N * D], y[N * 3];
	uint32_t cls[N];
	struct nn_rng rng;
	nn_rng_seed(&rng, 77);
	for (size_t i = 0; i < N * D; i++)
		x[i] = (float)nn_rng_normal(&rng);
	for (size_t r = 0; r < N; r++) {
		cls[r] = (uint32_t)(r % (form == 2 ? 2 : 3));
		if (form == 0) {
			y[r] = (float)cls[r];
		} else if (form == 1) {
			for (uint32_t j = 0; j < k; j++)
				y[r * k + j] = j == cls[r] ? 1.0f : 0.0f;
		} else {
			y[r] = (float)cls[r];
		}
	}
	if (form == 1) { /* soft row: 0.2, 0.4, 0.4 -> argmax 1 */
		y[3 * k + 0] = 0.2f, y[3 * k + 1] = 0.4f, y[3 * k + 2] = 0.4f;
		cls[3] = 1;
	}
	if (form == 2) { /* 0.5 rounds to 0 */
		y[5] = 0.5f;
		cls[5] = 0;
	}
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = D;
	spec.n_layers = 1;
	nn_dense_defaults(&spec.layers[0], k, form == 2 ? NN_ACT_SIGMOID : NN_ACT_SOFTMAX);
	spec.loss.kind = form == 0 ? NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY :
			 form == 1 ? NN_LOSS_CATEGORICAL_CROSSENTROPY : NN_LOSS_BINARY_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.learning_rate = 0.5;
	struct nn_model *m = make_model(&spec, 9);
	float w0[D * 3 + 3];
	size_t n_params = nn_model_n_params(m);
	memcpy(w0, nn_model_params(m), n_params * sizeof(float));

	/* class 0 weighs 0.5, class 1 weighs 3 (0.1 + 2.9 in the table would
	 * be the same); class 2 is not named: 1 */
	struct nn_fit_opts opts = {.epochs = 1, .batch_size = N, .seed = 1, .n_class_weights = 2};
	opts.class_weight[0] = 0.5;
	opts.class_weight[1] = 3.0;
	const double cw[3] = {0.5, 3.0, 1.0};

	/* the reference, in double from the float inputs and weights */
	double loss = 0.0, hits = 0.0, hits_w = 0.0, wsum = 0.0, gk[D * 3] = {0}, gb[3] = {0};
	for (size_t r = 0; r < N; r++) {
		double z[3], p[3], wr = cw[cls[r]];
		for (uint32_t j = 0; j < k; j++) {
			z[j] = w0[D * k + j];
			for (uint32_t i = 0; i < D; i++)
				z[j] += (double)x[r * D + i] * w0[i * k + j];
		}
		double dz[3];
		if (form == 2) {
			double t = y[r];
			p[0] = 1.0 / (1.0 + exp(-z[0]));
			loss += wr * -(t * log(p[0]) + (1.0 - t) * log(1.0 - p[0]));
			hits += (p[0] > 0.5) == (t > 0.5);
			hits_w += wr * ((p[0] > 0.5) == (t > 0.5));
			dz[0] = wr * (p[0] - t) / N;
		} else {
			double mx = fmax(z[0], fmax(z[1], z[2])), s = 0.0;
			for (uint32_t j = 0; j < k; j++)
				s += exp(z[j] - mx);
			uint32_t am = 0;
			double l = 0.0;
			for (uint32_t j = 0; j < k; j++) {
				p[j] = exp(z[j] - mx) / s;
				am = p[j] > p[am] ? j : am;
			}
			for (uint32_t j = 0; j < k; j++) {
				double t = form == 0 ? (j == cls[r]) : y[r * k + j];
				l -= t * log(p[j]);
				dz[j] = wr * (p[j] - t) / N;
			}
			loss += wr * l;
			bool hit = am == (form == 0 ? cls[r] : (uint32_t)(r == 3 ? 1 : cls[r]));
			hits += hit;
			hits_w += wr * hit;
		}
		wsum += wr;
		for (uint32_t j = 0; j < k; j++) {
			gb[j] += dz[j];
			for (uint32_t i = 0; i < D; i++)
				gk[i * k + j] += x[r * D + i] * dz[j];
		}
	}
	loss /= N;

	struct nn_data d = {x, y, N, D, y_dim};
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 1);
	/* float32 forward pass against double: a few ulps of each row's loss */
	ck_assert_double_eq_tol(h.log[0].loss, loss, 1e-5 * loss);
	ck_assert_double_eq_tol(h.log[0].metric, hits / N, 1e-12);
	/* precondition: the weighted accuracy would differ by more than the tolerance */
	ck_assert_double_gt(fabs(hits_w / wsum - hits / N), 1e-3);
	ck_assert(fabs(wsum - N) > 1.0);
	const float *w1 = nn_model_params(m);
	for (uint32_t i = 0; i < D * k + k; i++) {
		double g = i < D * k ? gk[i] : gb[i - D * k];
		double want = (double)w0[i] - spec.opt.learning_rate * g;
		/* lr * g in float32: parameters of magnitude ~1, a few ulps */
		ck_assert_double_eq_tol(w1[i], want, 4e-6 * (1.0 + fabs(want)));
	}
	/* and the step did move every parameter by the weighted gradient */
	double moved = 0.0;
	for (uint32_t i = 0; i < D * k + k; i++)
		moved = fmax(moved, fabs((double)w1[i] - w0[i]));
	ck_assert_double_gt(moved, 1e-2);
	nn_model_destroy(m);
}
END_TEST

/* Weights 1 for every class give the unweighted run bit for bit; weights
 * that are invalid make nn_train_create refuse. */
START_TEST(test_class_weight_ones_and_invalid)
{
	float x[40 * 8], y[40];
	blobs(x, y, 40, 8, 4, 3);
	struct nn_model_spec spec;
	tutorial_spec(&spec, 8, 4);
	struct nn_data d = {x, y, 40, 8, 1};
	struct nn_model *a = make_model(&spec, 4), *b = make_model(&spec, 4);
	struct nn_fit_opts plain = {.epochs = 3, .batch_size = 16, .shuffle = true, .seed = 8};
	struct nn_fit_opts ones = plain;
	ones.n_class_weights = 4;
	for (int c = 0; c < 4; c++)
		ones.class_weight[c] = 1.0;
	struct history ha = {0}, hb = {0};
	ck_assert_int_eq(nn_fit(a, &d, NULL, &plain, NULL, record, NULL, &ha), NN_OK);
	ck_assert_int_eq(nn_fit(b, &d, NULL, &ones, NULL, record, NULL, &hb), NN_OK);
	ck_assert_mem_eq(nn_model_params(a), nn_model_params(b), nn_model_n_params(a) * sizeof(float));
	for (int e = 0; e < 3; e++) {
		ck_assert_double_eq(ha.log[e].loss, hb.log[e].loss);
		ck_assert_double_eq(ha.log[e].metric, hb.log[e].metric);
	}
	int status = NN_OK;
	struct nn_fit_opts bad = ones;
	bad.class_weight[2] = -1.0;
	ck_assert_ptr_null(nn_train_create(a, &d, NULL, &bad, &status));
	ck_assert_int_eq(status, NN_EINVAL);
	bad.class_weight[2] = NAN;
	ck_assert_ptr_null(nn_train_create(a, &d, NULL, &bad, &status));
	bad = ones;
	bad.n_class_weights = NN_MAX_CLASS_WEIGHTS + 1;
	ck_assert_ptr_null(nn_train_create(a, &d, NULL, &bad, &status));
	nn_model_destroy(a);
	nn_model_destroy(b);
}
END_TEST

/* ---- learning-rate schedules and ReduceLROnPlateau ------------------------------------------- */

/* Keras's formulas at chosen steps, values worked out by hand. */
START_TEST(test_lr_schedule_values)
{
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_SGD, &o);
	ck_assert_double_eq(nn_lr_at(&o, 12345), 0.01);

	o.schedule = (struct nn_lr_schedule){.kind = NN_LR_EXPONENTIAL, .initial_learning_rate = 0.1,
					     .decay_steps = 10, .decay_rate = 0.5};
	ck_assert(nn_lr_valid(&o.schedule));
	ck_assert_double_eq_tol(nn_lr_at(&o, 0), 0.1, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 5), 0.1 * sqrt(0.5), 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 10), 0.05, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 15), 0.05 * sqrt(0.5), 1e-15);
	o.schedule.staircase = true;
	ck_assert_double_eq_tol(nn_lr_at(&o, 9), 0.1, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 15), 0.05, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 20), 0.025, 1e-15);

	o.schedule = (struct nn_lr_schedule){.kind = NN_LR_INVERSE_TIME, .initial_learning_rate = 0.1,
					     .decay_steps = 10, .decay_rate = 1.0};
	ck_assert_double_eq_tol(nn_lr_at(&o, 5), 0.1 / 1.5, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 30), 0.025, 1e-15);
	o.schedule.staircase = true;
	ck_assert_double_eq_tol(nn_lr_at(&o, 15), 0.05, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 19), 0.05, 1e-15);

	/* values[0] up to and including boundaries[0], and so on */
	o.schedule = (struct nn_lr_schedule){.kind = NN_LR_PIECEWISE, .n_boundaries = 2,
					     .boundaries = {10, 20}, .values = {1.0, 0.5, 0.1}};
	ck_assert(nn_lr_valid(&o.schedule));
	ck_assert_double_eq(nn_lr_at(&o, 0), 1.0);
	ck_assert_double_eq(nn_lr_at(&o, 10), 1.0);
	ck_assert_double_eq(nn_lr_at(&o, 11), 0.5);
	ck_assert_double_eq(nn_lr_at(&o, 20), 0.5);
	ck_assert_double_eq(nn_lr_at(&o, 21), 0.1);
	ck_assert_double_eq(nn_lr_at(&o, 1000000), 0.1);

	/* 0.5 (1 + cos(pi t / T)) scaled into [alpha, 1], held at T */
	o.schedule = (struct nn_lr_schedule){.kind = NN_LR_COSINE, .initial_learning_rate = 1.0,
					     .decay_steps = 100, .alpha = 0.1};
	ck_assert_double_eq_tol(nn_lr_at(&o, 0), 1.0, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 50), 0.55, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 25), 0.9 * 0.5 * (1 + sqrt(0.5)) + 0.1, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 100), 0.1, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 1000), 0.1, 1e-15);
	/* linear warm-up from initial to the target over warmup_steps, then the
	 * cosine from the target */
	o.schedule = (struct nn_lr_schedule){.kind = NN_LR_COSINE, .initial_learning_rate = 0.0,
					     .decay_steps = 100, .has_warmup = true, .warmup_target = 1.0,
					     .warmup_steps = 10};
	ck_assert(nn_lr_valid(&o.schedule));
	ck_assert_double_eq(nn_lr_at(&o, 0), 0.0);
	ck_assert_double_eq_tol(nn_lr_at(&o, 5), 0.5, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 10), 1.0, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 60), 0.5, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 110), 0.0, 1e-15);
	ck_assert_double_eq_tol(nn_lr_at(&o, 5000), 0.0, 1e-15);

	/* out of range */
	struct nn_lr_schedule bad = {.kind = NN_LR_EXPONENTIAL, .initial_learning_rate = 0.1, .decay_steps = 0,
				     .decay_rate = 0.5};
	ck_assert(!nn_lr_valid(&bad));
	bad.decay_steps = 10, bad.decay_rate = 0;
	ck_assert(!nn_lr_valid(&bad));
	bad = (struct nn_lr_schedule){.kind = NN_LR_PIECEWISE, .n_boundaries = 2, .boundaries = {20, 10},
				      .values = {1, 1, 1}};
	ck_assert(!nn_lr_valid(&bad));
	bad = (struct nn_lr_schedule){.kind = NN_LR_COSINE, .initial_learning_rate = 1, .decay_steps = 10,
				      .alpha = 1.5};
	ck_assert(!nn_lr_valid(&bad));
	bad.kind = NN_LR_COUNT;
	ck_assert(!nn_lr_valid(&bad));
}
END_TEST

/* y = w x + b on one row x = 1, target 1000, mean absolute error, plain
 * SGD from zeros: while the prediction is below the target dL/dw = dL/db
 * = -1, so each step adds its learning rate to w and to b. The weights are
 * the sum of the rates of the steps taken, in float32 exactly for these
 * dyadic rates. */
static void climb_spec(struct nn_model_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	spec->input_dim = 1;
	spec->n_layers = 1;
	nn_dense_defaults(&spec->layers[0], 1, NN_ACT_LINEAR);
	spec->layers[0].kernel_init = NN_INIT_ZEROS;
	spec->loss.kind = NN_LOSS_MAE;
	nn_opt_defaults(NN_OPT_SGD, &spec->opt);
}

START_TEST(test_lr_schedule_step_counting)
{
	/* ExponentialDecay(1, 1, 0.5): Keras's first step sees iterations 0,
	 * so 4 steps use 1, 1/2, 1/4, 1/8 (sum 1.875); counting from 1 would
	 * give 0.9375 */
	struct nn_model_spec spec;
	climb_spec(&spec);
	spec.opt.schedule = (struct nn_lr_schedule){.kind = NN_LR_EXPONENTIAL, .initial_learning_rate = 1.0,
						    .decay_steps = 1, .decay_rate = 0.5};
	spec.opt.learning_rate = 1.0;
	struct nn_model *m = make_model(&spec, 1);
	const float x[1] = {1}, y[1] = {1000};
	struct nn_data d = {x, y, 1, 1, 1};
	struct nn_fit_opts opts = {.epochs = 4, .batch_size = 1, .seed = 1};
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_float_eq(nn_model_params(m)[0], 1.875f);
	ck_assert_float_eq(nn_model_params(m)[1], 1.875f);
	/* each row logs optimizer.learning_rate at the epoch's end: the rate of
	 * the next step */
	for (int e = 0; e < 4; e++)
		ck_assert_double_eq_tol(h.log[e].learning_rate, ldexp(1.0, -(e + 1)), 1e-15);
	nn_model_destroy(m);

	/* no schedule: the constant rate in every row */
	climb_spec(&spec);
	m = make_model(&spec, 1);
	h.n = 0;
	opts.epochs = 2;
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_double_eq(h.log[1].learning_rate, 0.01);
	nn_model_destroy(m);
}
END_TEST

/* ReduceLROnPlateau on loss with a min_delta no epoch can beat: the first
 * epoch improves on +inf, then waiting counts. patience 2, factor 0.5,
 * cooldown 2, min_lr 0.3, rate 1, worked by Keras's rules (a cooldown of 1
 * would change nothing: it ends at the start of the next epoch, before
 * waiting counts):
 *   epoch  rate logged  cooldown  wait after  reduction
 *   1      1            0         0 (best)
 *   2      1            0         1
 *   3      1            0         2 -> 0      1 -> 0.5, cooldown 2
 *   4      0.5          2 -> 1    0           (in cooldown: waiting does not count)
 *   5      0.5          1 -> 0    1
 *   6      0.5          0         2 -> 0      0.5 -> max(0.25, 0.3) = 0.3, cooldown 2
 *   7      0.3          2 -> 1    0
 *   8      0.3          1 -> 0    1
 * One step per epoch adds its rate to w. A checkpoint after epoch 4 (mid
 * cooldown) resumes to the same rows and weights. */
START_TEST(test_reduce_lr_on_plateau_scripted)
{
	struct nn_model_spec spec;
	climb_spec(&spec);
	spec.opt.learning_rate = 1.0;
	const float x[1] = {1}, y[1] = {1000};
	struct nn_data d = {x, y, 1, 1, 1};
	struct nn_fit_opts opts = {.epochs = 8, .batch_size = 1, .seed = 1, .reduce_lr_on_plateau = true,
				   .plateau_monitor = NN_MONITOR_LOSS, .plateau_factor = 0.5,
				   .plateau_patience = 2, .plateau_min_delta = 1e9, .plateau_cooldown = 2,
				   .plateau_min_lr = 0.3};
	const double want[8] = {1, 1, 1, 0.5, 0.5, 0.5, (float)0.3, (float)0.3};
	struct nn_model *m = make_model(&spec, 1);
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_ptr_nonnull(t);
	struct nn_epoch_log log[8];
	uint8_t blob[108], *model_blob = NULL;
	size_t model_size = nn_model_state_size(m);
	for (int e = 0; e < 8; e++) {
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log[e]), NN_OK);
		ck_assert_msg(log[e].learning_rate == want[e], "epoch %d: rate %.9g, want %.9g", e + 1,
			      log[e].learning_rate, want[e]);
		if (e == 3) {
			ck_assert_uint_eq(nn_train_state_size(t), sizeof blob);
			nn_train_state_save(t, blob);
			model_blob = malloc(model_size);
			nn_model_state_save(m, model_blob);
		}
	}
	float w = 0.0f;
	for (int e = 0; e < 8; e++)
		w += (float)want[e];
	ck_assert_float_eq(nn_model_params(m)[0], w);

	struct nn_model *b = make_model(&spec, 1);
	struct nn_train *tb = nn_train_create(b, &d, NULL, &opts, NULL);
	ck_assert_int_eq(nn_model_state_load(b, model_blob, model_size), NN_OK);
	ck_assert_int_eq(nn_train_state_load(tb, blob, sizeof blob), NN_OK);
	for (int e = 4; e < 8; e++) {
		struct nn_epoch_log again;
		ck_assert_int_eq(nn_train_epoch(tb, NULL, &again), NN_OK);
		ck_assert(memcmp(&again, &log[e], sizeof again) == 0);
	}
	ck_assert_mem_eq(nn_model_params(b), nn_model_params(m), 2 * sizeof(float));

	/* a version-1 blob (72 bytes, before the plateau) still loads: the
	 * plateau starts afresh at the spec's rate */
	uint8_t v1[72];
	memcpy(v1, blob, 64);
	nn_put_u32(v1 + 4, 1);
	nn_put_u64(v1 + 64, nn_checksum(v1, 64));
	ck_assert_int_eq(nn_train_state_load(tb, v1, sizeof v1), NN_OK);
	ck_assert_uint_eq(nn_train_epochs_done(tb), 4);
	opts.epochs = 9;
	struct nn_train *tc = nn_train_create(b, &d, NULL, &opts, NULL);
	ck_assert_int_eq(nn_train_state_load(tc, v1, sizeof v1), NN_OK);
	struct nn_epoch_log first;
	ck_assert_int_eq(nn_train_epoch(tc, NULL, &first), NN_OK);
	ck_assert_double_eq(first.learning_rate, 1.0);

	/* mode max on a loss: the first epoch improves on -inf, then an ever
	 * lower loss never does: reduced after epoch 2, logged from epoch 3 */
	opts.epochs = 3;
	opts.plateau_mode = NN_PLATEAU_MAX;
	opts.plateau_min_delta = 0;
	opts.plateau_patience = 1;
	opts.plateau_min_lr = 0;
	struct nn_model *c = make_model(&spec, 1);
	struct nn_train *td = nn_train_create(c, &d, NULL, &opts, NULL);
	double rates[3];
	for (int e = 0; e < 3; e++) {
		ck_assert_int_eq(nn_train_epoch(td, NULL, &first), NN_OK);
		rates[e] = first.learning_rate;
	}
	ck_assert_double_eq(rates[0], 1.0);
	ck_assert_double_eq(rates[1], 1.0);
	ck_assert_double_eq(rates[2], 0.5);
	/* factor 1 is refused (Keras: factor must be < 1) */
	opts.plateau_factor = 1.0;
	ck_assert_ptr_null(nn_train_create(c, &d, NULL, &opts, NULL));

	free(model_blob);
	nn_train_destroy(t), nn_train_destroy(tb), nn_train_destroy(tc), nn_train_destroy(td);
	nn_model_destroy(m), nn_model_destroy(b), nn_model_destroy(c);
}
END_TEST

/* ---- restore_best_weights ---------------------------------------------------------------- */

/* A constructed run: y = w x + b, x = 1, target 2.5, MAE, SGD rate 1, from
 * zeros. Each step moves w and b by 1 toward the target, so the epoch
 * losses (before each epoch's step) and weights after it are
 *   epoch 1: loss 2.5, then w = b = 1     epoch 3: loss 1.5, then w = b = 1
 *   epoch 2: loss 0.5, then w = b = 2     epoch 4: loss 0.5, then w = b = 2
 * EarlyStopping on loss, patience 1: epoch 2 is best, epoch 3 does not
 * improve and stops training; Keras 3 restores the weights of the end of
 * epoch 2: (2, 2) instead of the last (1, 1). */
START_TEST(test_restore_best_weights_constructed)
{
	struct nn_model_spec spec;
	climb_spec(&spec);
	spec.opt.learning_rate = 1.0;
	const float x[1] = {1}, y[1] = {2.5f};
	struct nn_data d = {x, y, 1, 1, 1};
	struct nn_fit_opts opts = {.epochs = 10, .batch_size = 1, .seed = 1, .early_stopping = true,
				   .monitor = NN_MONITOR_LOSS, .patience = 1, .restore_best_weights = true};
	struct nn_model *m = make_model(&spec, 1);
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	struct nn_epoch_log log[3];
	for (int e = 0; e < 3; e++)
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log[e]), NN_OK);
	ck_assert(nn_train_done(t));
	ck_assert_double_eq(log[0].loss, 2.5);
	ck_assert_double_eq(log[1].loss, 0.5);
	ck_assert_double_eq(log[2].loss, 1.5);
	ck_assert(!log[1].stop && log[2].stop);
	ck_assert(!log[1].restored && log[2].restored);
	ck_assert_uint_eq(log[0].best_epoch, 1);
	ck_assert_uint_eq(log[2].best_epoch, 2);
	ck_assert_float_eq(nn_model_params(m)[0], 2.0f);
	ck_assert_float_eq(nn_model_params(m)[1], 2.0f);
	nn_train_destroy(t);
	nn_model_destroy(m);

	/* without restore_best_weights the last weights stay */
	opts.restore_best_weights = false;
	m = make_model(&spec, 1);
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, NULL, NULL, NULL), NN_OK);
	ck_assert_float_eq(nn_model_params(m)[0], 1.0f);
	nn_model_destroy(m);

	/* Keras 3 restores at the end of training also when it did not stop
	 * early: 3 epochs, patience 5, best epoch 2 */
	opts.restore_best_weights = true;
	opts.epochs = 3;
	opts.patience = 5;
	m = make_model(&spec, 1);
	struct history h = {0};
	ck_assert_int_eq(nn_fit(m, &d, NULL, &opts, NULL, record, NULL, &h), NN_OK);
	ck_assert_int_eq(h.n, 3);
	ck_assert(!h.log[2].stop && h.log[2].restored);
	ck_assert_float_eq(nn_model_params(m)[0], 2.0f);
	nn_model_destroy(m);

	/* the kept weights are in the checkpoint: stop after epoch 2 (state
	 * saved), resume in another trainer, and the restore still happens */
	opts.epochs = 10;
	opts.patience = 1;
	m = make_model(&spec, 1);
	t = nn_train_create(m, &d, NULL, &opts, NULL);
	for (int e = 0; e < 2; e++)
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log[e]), NN_OK);
	size_t ts = nn_train_state_size(t), ms = nn_model_state_size(m);
	ck_assert_uint_eq(ts, 100 + 4 * 2 + 8);
	uint8_t *tb = malloc(ts), *mb = malloc(ms);
	nn_train_state_save(t, tb);
	nn_model_state_save(m, mb);
	struct nn_model *b = make_model(&spec, 1);
	struct nn_train *t2 = nn_train_create(b, &d, NULL, &opts, NULL);
	ck_assert_int_eq(nn_model_state_load(b, mb, ms), NN_OK);
	ck_assert_int_eq(nn_train_state_load(t2, tb, ts), NN_OK);
	ck_assert_int_eq(nn_train_epoch(t2, NULL, &log[2]), NN_OK);
	ck_assert(log[2].stop && log[2].restored);
	ck_assert_float_eq(nn_model_params(b)[0], 2.0f);
	ck_assert_float_eq(nn_model_params(b)[1], 2.0f);
	/* a blob without kept weights does not fit a trainer that keeps them */
	uint8_t v1[72];
	memcpy(v1, tb, 64);
	nn_put_u32(v1 + 4, 1);
	nn_put_u64(v1 + 64, nn_checksum(v1, 64));
	ck_assert_int_eq(nn_train_state_load(t2, v1, sizeof v1), NN_EFORMAT);
	free(tb), free(mb);
	nn_train_destroy(t), nn_train_destroy(t2);
	nn_model_destroy(m), nn_model_destroy(b);
}
END_TEST

Suite *suite_nn_train(void)
{
	Suite *s = suite_create("nn_train");
	TCase *learn = tcase_create("learning");
	tcase_set_timeout(learn, 60);
	tcase_add_test(learn, test_xor);
	tcase_add_test(learn, test_tutorial_classifier);
	tcase_add_test(learn, test_linear_regression_recovers_coefficients);
	suite_add_tcase(s, learn);
	TCase *tc = tcase_create("fit");
	tcase_add_test(tc, test_same_seed_bit_identical);
	tcase_add_test(tc, test_checkpoint_resume_bit_identical);
	tcase_add_test(tc, test_validation_split_rows);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_epoch_loss_is_history_mean);
	tcase_add_test(tc, test_early_stopping_scripted);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_divergence);
	tcase_add_test(tc, test_no_epoch_ends_with_non_finite_weights);
	tcase_add_loop_test(tc, test_class_weight_loss_and_step, 0, 3);
	tcase_add_test(tc, test_class_weight_ones_and_invalid);
	tcase_add_test(tc, test_lr_schedule_values);
	tcase_add_test(tc, test_lr_schedule_step_counting);
	tcase_add_test(tc, test_reduce_lr_on_plateau_scripted);
	tcase_add_test(tc, test_restore_best_weights_constructed);
	suite_add_tcase(s, tc);
	return s;
}
