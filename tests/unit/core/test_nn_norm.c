/*
 * test_nn_norm.c — the normalization layer of core/nn_model.c: Keras's
 * documented examples (adapt, then call; given mean and variance), the
 * epsilon floor, adapt on the training rows only and only once, its weights
 * untouched bit for bit by every optimizer, the input gradient against
 * central differences, and the spec rules (first layer, parameter count).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_norm(void);

/* normalization, then dense(units, linear) with an identity kernel when
 * units == dim, so that predict shows the normalized inputs */
static struct nn_model *norm_model(uint32_t dim, uint32_t units, enum nn_opt_kind opt, bool given)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = dim;
	spec.n_layers = 2;
	spec.layers[0].kind = NN_LAYER_NORMALIZATION;
	spec.layers[0].norm_given = given;
	nn_dense_defaults(&spec.layers[1], units, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(opt, &spec.opt);
	/* momentum and nesterov where they exist: the update has the most terms */
	if (opt == NN_OPT_SGD || opt == NN_OPT_RMSPROP)
		spec.opt.momentum = 0.9;
	spec.opt.nesterov = opt == NN_OPT_SGD;
	if (opt == NN_OPT_SGD)
		spec.opt.learning_rate = 0.001;
	struct nn_model *m = nn_model_create(&spec);
	ck_assert_ptr_nonnull(m);
	struct nn_rng rng;
	nn_rng_seed(&rng, 3);
	nn_model_init(m, &rng);
	ck_assert_uint_eq(nn_model_n_params(m), 2 * dim + 1 + dim * units + units);
	if (units == dim) {
		float *k = nn_model_params(m) + 2 * dim + 1;
		memset(k, 0, (dim * units + units) * sizeof(float));
		for (uint32_t j = 0; j < dim; j++)
			k[j * units + j] = 1.0f;
	}
	return m;
}

START_TEST(test_keras_examples)
{
	/* keras.layers.Normalization(axis=-1); adapt on these rows; call on
	 * [[0, 7, 4]] -> [-1, -1, -1] (mean 1, 8, 5; variance 1, 1, 1) */
	const float adapt[12] = {0, 7, 4, 2, 9, 6, 0, 7, 4, 2, 9, 6};
	struct nn_model *m = norm_model(3, 3, NN_OPT_SGD, false);
	const float *w = nn_model_params_const(m);
	ck_assert(w[0] == 0 && w[3] == 1 && w[6] == 0); /* Keras's initial mean, variance, count */
	ck_assert(nn_norm_needs_adapt(m));
	struct nn_data d = {adapt, adapt, 4, 3, 3};
	nn_norm_adapt(m, &d, NULL, 4);
	const float mean[3] = {1, 8, 5}, var[3] = {1, 1, 1};
	ck_assert(memcmp(w, mean, sizeof mean) == 0 && memcmp(w + 3, var, sizeof var) == 0);
	ck_assert(w[6] == 4.0f);
	ck_assert(!nn_norm_needs_adapt(m));
	const float x[3] = {0, 7, 4};
	float out[3];
	ck_assert_int_eq(nn_predict(m, x, 1, out), NN_OK);
	ck_assert(out[0] == -1.0f && out[1] == -1.0f && out[2] == -1.0f);
	nn_model_destroy(m);

	/* Normalization(mean=3., variance=2.) on [[1], [2], [3]]:
	 * [-1.4142135, -0.70710677, 0] in float32 */
	m = norm_model(1, 1, NN_OPT_SGD, true);
	float *p = nn_model_params(m);
	p[0] = 3.0f;
	p[1] = 2.0f;
	ck_assert(!nn_norm_needs_adapt(m)); /* given: never adapted */
	const float x1[3] = {1, 2, 3};
	float o1[3];
	ck_assert_int_eq(nn_predict(m, x1, 3, o1), NN_OK);
	ck_assert(o1[0] == -1.4142135f && o1[1] == -0.70710677f && o1[2] == 0.0f);

	/* a zero variance divides by epsilon 1e-7, as Keras's max(sqrt(var), eps) */
	p[1] = 0.0f;
	ck_assert_int_eq(nn_predict(m, x1, 1, o1), NN_OK);
	ck_assert(o1[0] == -2.0f / 1e-7f);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_adapt_training_rows_once)
{
	/* 10 rows; the last 2 (validation_split 0.2) are outliers the mean must not see */
	float x[20], y[10];
	for (int r = 0; r < 10; r++) {
		x[2 * r] = r < 8 ? (float)r : 1000.0f;
		x[2 * r + 1] = r < 8 ? (float)(r % 2) : -1000.0f;
		y[r] = 0;
	}
	struct nn_model *m = norm_model(2, 1, NN_OPT_ADAM, false);
	struct nn_data d = {x, y, 10, 2, 1};
	struct nn_fit_opts o = {.epochs = 1, .batch_size = 4, .seed = 1, .validation_split = 0.2};
	struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_ptr_nonnull(t);
	const float *w = nn_model_params_const(m);
	/* rows 0..7: mean 3.5 and 0.5; variance 5.25 and 0.25; count 8 */
	ck_assert(w[0] == 3.5f && w[1] == 0.5f && w[2] == 5.25f && w[3] == 0.25f && w[4] == 8.0f);
	ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	nn_train_destroy(t);
	/* a later fit on other data keeps the adapted values (Keras adapts once, before fit) */
	float mean_before[5];
	memcpy(mean_before, w, sizeof mean_before);
	for (int i = 0; i < 20; i++)
		x[i] *= 3;
	o.validation_split = 0;
	t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert(memcmp(mean_before, w, sizeof mean_before) == 0);
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_every_optimizer_leaves_it_unchanged)
{
	enum nn_opt_kind opt = (enum nn_opt_kind)_i;
	float x[64 * 3], y[64];
	struct nn_rng rng;
	nn_rng_seed(&rng, 11);
	for (int r = 0; r < 64; r++) {
		for (int j = 0; j < 3; j++)
			x[r * 3 + j] = (float)(5.0 * nn_rng_normal(&rng) + j * 10);
		y[r] = x[r * 3] - 0.5f * x[r * 3 + 2];
	}
	for (int given = 0; given < 2; given++) {
		struct nn_model *m = norm_model(3, 1, opt, given);
		float *p = nn_model_params(m);
		if (given) {
			const float w[7] = {-0.0f, 10.0f, 20.0f, 25.0f, 24.0f, 26.0f, 0.0f};
			memcpy(p, w, sizeof w);
		}
		struct nn_data d = {x, y, 64, 3, 1};
		struct nn_fit_opts fo = {.epochs = 3, .batch_size = 8, .shuffle = true, .seed = 2};
		struct nn_train *t = nn_train_create(m, &d, NULL, &fo, NULL);
		ck_assert_ptr_nonnull(t);
		float before[7];
		memcpy(before, p, sizeof before);
		const float *dense_before = p + 7;
		float k0 = dense_before[0];
		while (!nn_train_done(t))
			ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
		ck_assert_msg(memcmp(before, p, sizeof before) == 0, "%s moved the normalization weights",
			      nn_opt_table[opt].name);
		ck_assert_msg(p[7] != k0, "%s trained the dense layer", nn_opt_table[opt].name);
		nn_train_destroy(t);
		nn_model_destroy(m);
	}
}
END_TEST

START_TEST(test_input_gradient_matches_differences)
{
	/* loss = mse of dense(norm(x)); dL/dx by backward against central
	 * differences of the loss in double around each input */
	struct nn_model *m = norm_model(3, 2, NN_OPT_SGD, true);
	float *p = nn_model_params(m);
	const float w[7] = {1.0f, -2.0f, 0.5f, 4.0f, 0.25f, 9.0f, 0.0f};
	memcpy(p, w, sizeof w);
	float x[2 * 3] = {0.3f, -1.2f, 2.0f, 1.5f, 0.7f, -0.4f}, y[2 * 2] = {0.1f, -0.3f, 0.5f, 0.2f};
	struct nn_work work;
	ck_assert_int_eq(nn_work_init(&work, m, 2, true, true), NN_OK);
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	nn_forward(m, &work, x, 2, &rng);
	nn_loss_batch(m, &work, y, 2, true, NULL);
	float dx[6];
	nn_backward(m, &work, 2, dx);
	for (int i = 0; i < 6; i++) {
		const float h = 1e-2f;
		float keep = x[i];
		x[i] = keep + h;
		nn_forward(m, &work, x, 2, &rng);
		double up = nn_loss_batch(m, &work, y, 2, false, NULL) / 2;
		x[i] = keep - h;
		nn_forward(m, &work, x, 2, &rng);
		double down = nn_loss_batch(m, &work, y, 2, false, NULL) / 2;
		x[i] = keep;
		double fd = (up - down) / (2.0 * (double)h);
		/* the loss is quadratic in x: central differences are exact but for
		 * float32 rounding of the forward pass (~1e-7 relative of losses ~1,
		 * divided by 2h) */
		ck_assert_msg(fabs(fd - dx[i]) <= 2e-4 * fmax(1.0, fabs(fd)), "dx[%d] %.9g, differences %.9g", i, dx[i], fd);
	}
	/* no parameter gradient for the normalization weights */
	for (int i = 0; i < 7; i++)
		ck_assert(m->grads[i] == 0.0f);
	nn_work_free(&work);
	nn_model_destroy(m);
}
END_TEST

/* Crash-resume: a job interrupted after its first epoch (model state with
 * the adapted values, trainer state) and one interrupted before it (the
 * model as created, count 0: adapt runs again on the same rows) both end
 * bit-identical to an uninterrupted run. */
START_TEST(test_resume_bit_identical)
{
	float x[80 * 3], y[80];
	struct nn_rng rng;
	nn_rng_seed(&rng, 21);
	for (int r = 0; r < 80; r++) {
		for (int j = 0; j < 3; j++)
			x[r * 3 + j] = (float)(100.0 * nn_rng_normal(&rng) + 50 * j);
		y[r] = x[r * 3] * 0.01f - x[r * 3 + 1] * 0.02f;
	}
	struct nn_data d = {x, y, 80, 3, 1};
	struct nn_fit_opts o = {.epochs = 4, .batch_size = 8, .shuffle = true, .seed = 3, .validation_split = 0.25,
				.split = NN_SPLIT_RANDOM};
	struct nn_model *full = norm_model(3, 1, NN_OPT_ADAM, false);
	size_t len = nn_model_state_size(full);
	uint8_t *created = malloc(len), *after1 = malloc(len), tstate[128];
	nn_model_state_save(full, created);
	struct nn_train *t = nn_train_create(full, &d, NULL, &o, NULL);
	ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	nn_model_state_save(full, after1);
	ck_assert_uint_le(nn_train_state_size(t), sizeof tstate);
	nn_train_state_save(t, tstate);
	while (!nn_train_done(t))
		ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	nn_train_destroy(t);

	for (int late = 0; late < 2; late++) {
		struct nn_model *m = norm_model(3, 1, NN_OPT_ADAM, false);
		ck_assert_int_eq(nn_model_state_load(m, late ? after1 : created, len), NN_OK);
		struct nn_train *r = nn_train_create(m, &d, NULL, &o, NULL);
		if (late)
			ck_assert_int_eq(nn_train_state_load(r, tstate, nn_train_state_size(r)), NN_OK);
		while (!nn_train_done(r))
			ck_assert_int_eq(nn_train_epoch(r, NULL, NULL), NN_OK);
		ck_assert_msg(memcmp(nn_model_params_const(m), nn_model_params_const(full),
				     nn_model_n_params(m) * sizeof(float)) == 0,
			      "resumed %s the first epoch: other weights", late ? "after" : "before");
		nn_train_destroy(r);
		nn_model_destroy(m);
	}
	free(created);
	free(after1);
	nn_model_destroy(full);
}
END_TEST

START_TEST(test_spec_rules)
{
	struct nn_model_spec spec;
	uint64_t n;
	int bad;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 4;
	spec.n_layers = 2;
	spec.layers[0].kind = NN_LAYER_NORMALIZATION;
	nn_dense_defaults(&spec.layers[1], 2, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_OK);
	ck_assert_uint_eq(n, 9 + 10);
	/* not first: refused, naming the layer */
	spec.n_layers = 3;
	spec.layers[2] = spec.layers[1];
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_RELU);
	spec.layers[1].kind = NN_LAYER_NORMALIZATION;
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_EINVAL);
	ck_assert_int_eq(bad, 1);
	/* not last either */
	memset(&spec.layers[0], 0, sizeof spec.layers[0]);
	spec.layers[0].kind = NN_LAYER_NORMALIZATION;
	spec.n_layers = 1;
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_EINVAL);
	/* its state blob does not load into the same dense layers without it */
	spec.n_layers = 2;
	spec.input_dim = 2;
	nn_dense_defaults(&spec.layers[1], 3, NN_ACT_SOFTMAX);
	struct nn_model *with = nn_model_create(&spec);
	struct nn_model_spec plain = spec;
	plain.n_layers = 2;
	nn_dense_defaults(&plain.layers[0], 1, NN_ACT_LINEAR); /* 2*2+1 = 5 = 2*1+1 parameters */
	plain.layers[1] = spec.layers[1];
	plain.layers[1].units = 3;
	struct nn_model *without = nn_model_create(&plain);
	ck_assert_ptr_nonnull(with);
	ck_assert_ptr_nonnull(without);
	size_t len = nn_model_state_size(with);
	uint8_t *blob = malloc(len);
	nn_model_state_save(with, blob);
	if (nn_model_state_size(without) == len)
		ck_assert_int_eq(nn_model_state_load(without, blob, len), NN_EFORMAT);
	ck_assert_int_eq(nn_model_state_load(with, blob, len), NN_OK);
	free(blob);
	nn_model_destroy(with);
	nn_model_destroy(without);
}
END_TEST

Suite *suite_nn_norm(void)
{
	Suite *s = suite_create("nn_norm");
	TCase *tc = tcase_create("norm");
	tcase_add_test(tc, test_keras_examples);
	tcase_add_test(tc, test_adapt_training_rows_once);
	tcase_add_loop_test(tc, test_every_optimizer_leaves_it_unchanged, 0, NN_OPT_COUNT);
	tcase_add_test(tc, test_input_gradient_matches_differences);
	tcase_add_test(tc, test_spec_rules);
	tcase_add_test(tc, test_resume_bit_identical);
	suite_add_tcase(s, tc);
	return s;
}
