/*
 * test_nn_bn.c — the batch normalization layer of core/nn_model.c: the
 * training forward pass (batch mean, biased variance) and the inference one
 * (moving statistics) against double references computed here, every
 * gradient (dense kernels, gamma, beta, the inputs) against central
 * differences, Keras's moving-statistics update, the moving statistics left
 * bit for bit by every optimizer (even with slots that would move them), a
 * resumed fit bit-identical, and the spec rules.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_bn(void);

/* [dense(3, tanh)] -> batch_norm -> dense(2, linear), mse */
static struct nn_model *bn_model(uint32_t dim, bool dense_first, bool center, bool scale, enum nn_opt_kind opt)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = dim;
	uint32_t k = 0;
	if (dense_first)
		nn_dense_defaults(&spec.layers[k++], dim, NN_ACT_TANH);
	nn_bn_defaults(&spec.layers[k]);
	spec.layers[k].center = center;
	spec.layers[k++].scale = scale;
	nn_dense_defaults(&spec.layers[k++], 2, NN_ACT_LINEAR);
	spec.n_layers = k;
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(opt, &spec.opt);
	if (opt == NN_OPT_SGD || opt == NN_OPT_RMSPROP)
		spec.opt.momentum = 0.9;
	spec.opt.nesterov = opt == NN_OPT_SGD;
	struct nn_model *m = nn_model_create(&spec);
	ck_assert_ptr_nonnull(m);
	struct nn_rng rng;
	nn_rng_seed(&rng, 5);
	nn_model_init(m, &rng);
	return m;
}

/* Offset of the BN layer's weights and of its moving mean. */
static size_t bn_off(const struct nn_model *m, uint32_t layer)
{
	return m->kernel_off[layer];
}

static void data(float *x, float *y, int rows, uint32_t dim, uint64_t seed)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, seed);
	for (int r = 0; r < rows; r++) {
		for (uint32_t j = 0; j < dim; j++)
			x[r * dim + j] = (float)(3.0 * nn_rng_normal(&rng) + 2.0 * j - 1.0);
		y[2 * r] = x[r * dim] - 0.5f * x[r * dim + 1];
		y[2 * r + 1] = 0.25f * x[r * dim + dim - 1];
	}
}

/* BN first: training output = gamma (x - mean) / sqrt(var + eps) + beta with
 * the batch's mean and biased variance; inference = the same with the moving
 * statistics. References in double; float32 results within a few ulps. */
START_TEST(test_forward_training_and_inference)
{
	struct nn_model *m = bn_model(3, false, true, true, NN_OPT_ADAM);
	float *p = nn_model_params(m);
	/* gamma, beta, moving mean, moving variance */
	const float w[12] = {1.5f, -0.5f, 2.0f, 0.25f, 1.0f, -3.0f, 0.5f, -1.0f, 4.0f, 2.0f, 0.04f, 9.0f};
	memcpy(p, w, sizeof w);
	float x[4 * 3] = {0.3f, -1.2f, 2.0f, 1.5f, 0.7f, -0.4f, -2.0f, 0.1f, 5.0f, 0.9f, 0.9f, 3.5f};
	struct nn_work tw, iw;
	ck_assert_int_eq(nn_work_init(&tw, m, 4, true, false), NN_OK);
	ck_assert_int_eq(nn_work_init(&iw, m, 4, false, false), NN_OK);
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	nn_forward(m, &tw, x, 4, &rng);
	nn_forward(m, &iw, x, 4, NULL);
	for (int j = 0; j < 3; j++) {
		double mean = 0, var = 0, eps = 1e-3;
		for (int r = 0; r < 4; r++)
			mean += x[r * 3 + j] / 4.0;
		for (int r = 0; r < 4; r++)
			var += (x[r * 3 + j] - mean) * (x[r * 3 + j] - mean) / 4.0; /* biased: / N */
		for (int r = 0; r < 4; r++) {
			double train = w[j] * (x[r * 3 + j] - mean) / sqrt(var + eps) + w[3 + j];
			double infer = w[j] * (x[r * 3 + j] - w[6 + j]) / sqrt(w[9 + j] + eps) + w[3 + j];
			float got_t = tw.a[0][r * 3 + j], got_i = iw.a[0][r * 3 + j];
			ck_assert_msg(fabs(got_t - train) <= 4e-7 * fmax(1.0, fabs(train)), "train [%d][%d] %.9g, want %.9g",
				      r, j, got_t, train);
			ck_assert_msg(fabs(got_i - infer) <= 4e-7 * fmax(1.0, fabs(infer)), "infer [%d][%d] %.9g, want %.9g",
				      r, j, got_i, infer);
		}
	}
	/* nn_bn_affine gives the very bits inference uses */
	float s[3], t[3];
	nn_bn_affine(&m->spec.layers[0], p, 3, s, t);
	for (int r = 0; r < 4; r++)
		for (int j = 0; j < 3; j++)
			ck_assert(iw.a[0][r * 3 + j] == x[r * 3 + j] * s[j] + t[j]);
	nn_work_free(&tw);
	nn_work_free(&iw);
	nn_model_destroy(m);
}
END_TEST

/* Every gradient of dense(tanh) -> BN -> dense against central differences
 * of the training loss (batch statistics), for each of center / scale;
 * the moving statistics get exactly 0. */
START_TEST(test_gradients_match_differences)
{
	bool center = _i & 1, scale = _i & 2;
	struct nn_model *m = bn_model(3, true, center, scale, NN_OPT_SGD);
	float *p = nn_model_params(m);
	size_t n_params = nn_model_n_params(m);
	size_t affine = (center + scale) * 3u, moving = bn_off(m, 1) + affine;
	ck_assert_uint_eq(n_params, 9 + 3 + affine + 6 + 6 + 2);
	for (size_t i = bn_off(m, 1); i < moving; i++) /* gamma / beta away from 1 / 0 */
		p[i] = 0.6f + 0.1f * (float)(i % 5);
	float x[5 * 3], y[5 * 2];
	data(x, y, 5, 3, 7);
	struct nn_work work;
	ck_assert_int_eq(nn_work_init(&work, m, 5, true, true), NN_OK);
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	nn_forward(m, &work, x, 5, &rng);
	nn_loss_batch(m, &work, y, 5, true, NULL);
	float dx[15];
	nn_backward(m, &work, 5, dx);
	float *grads = malloc(n_params * sizeof(float));
	memcpy(grads, m->grads, n_params * sizeof(float));
	for (size_t i = moving; i < moving + 6; i++)
		ck_assert_msg(grads[i] == 0.0f, "moving statistic %zu has gradient %g", i - moving, grads[i]);
	/* central differences in the loss (the batch mean of mse, float32
	 * forward): h 1e-3, so float rounding (~1e-7 of a loss ~1) / 2h is
	 * ~1e-4 and the truncation h^2 f''' / 6 is below 1e-5 */
	const float h = 1e-3f;
	for (size_t i = 0; i < n_params + 15; i++) {
		if (i >= moving && i < moving + 6)
			continue;
		float *v = i < n_params ? &p[i] : &x[i - n_params];
		float keep = *v;
		*v = keep + h;
		nn_forward(m, &work, x, 5, &rng);
		double up = nn_loss_batch(m, &work, y, 5, false, NULL) / 5;
		*v = keep - h;
		nn_forward(m, &work, x, 5, &rng);
		double down = nn_loss_batch(m, &work, y, 5, false, NULL) / 5;
		*v = keep;
		double fd = (up - down) / (2.0 * (double)h);
		double got = i < n_params ? grads[i] : dx[i - n_params];
		ck_assert_msg(fabs(fd - got) <= 1e-3 * fmax(1.0, fabs(fd)), "center %d scale %d: %s %zu: %.9g, differences %.9g",
			      center, scale, i < n_params ? "parameter" : "input", i < n_params ? i : i - n_params, got, fd);
	}
	free(grads);
	nn_work_free(&work);
	nn_model_destroy(m);
}
END_TEST

/* One full batch, one epoch: moving = moving * momentum + batch * (1 -
 * momentum) in float32, with the batch's biased variance (Keras), here
 * computed from the rows in double. */
START_TEST(test_moving_statistics_update)
{
	struct nn_model *m = bn_model(3, false, true, true, NN_OPT_ADAM);
	m->spec.layers[0].momentum = 0.9;
	float *p = nn_model_params(m);
	float x[6 * 3], y[6 * 2];
	data(x, y, 6, 3, 9);
	struct nn_data d = {x, y, 6, 3, 2};
	struct nn_fit_opts o = {.epochs = 1, .batch_size = 6};
	struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	for (int j = 0; j < 3; j++) {
		double mean = 0, var = 0;
		for (int r = 0; r < 6; r++)
			mean += x[r * 3 + j];
		mean /= 6;
		for (int r = 0; r < 6; r++)
			var += (x[r * 3 + j] - mean) * (x[r * 3 + j] - mean);
		var /= 6;
		float want_mean = 0.0f * 0.9f + (float)mean * (float)(1.0 - 0.9);
		float want_var = 1.0f * 0.9f + (float)var * (float)(1.0 - 0.9);
		ck_assert_msg(p[6 + j] == want_mean, "moving mean %d: %.9g, want %.9g", j, p[6 + j], want_mean);
		ck_assert_msg(p[9 + j] == want_var, "moving variance %d: %.9g, want %.9g (unbiased would be %.9g)", j,
			      p[9 + j], want_var, 0.9 + var * 6 / 5 * 0.1);
	}
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

/* With momentum 1 the layer itself keeps its moving statistics; no
 * optimizer may change them either, even with slots that would move a
 * parameter of gradient 0 (SGD's velocity, Adam's m): the optimizer steps
 * the trainable spans only. gamma and beta do train. */
START_TEST(test_every_optimizer_leaves_moving_statistics)
{
	enum nn_opt_kind opt = (enum nn_opt_kind)_i;
	struct nn_model *m = bn_model(3, true, true, true, opt);
	m->spec.layers[1].momentum = 1.0;
	float *p = nn_model_params(m);
	size_t off = bn_off(m, 1), moving = off + 6;
	const float stats[6] = {0.5f, -1.0f, 0.0f, 2.0f, 0.125f, 3.0f};
	memcpy(p + moving, stats, sizeof stats);
	for (unsigned s = 0; s < m->n_slots; s++)
		for (size_t i = moving; i < moving + 6; i++)
			m->slots[s * m->n_params + i] = 0.5f;
	float x[32 * 3], y[32 * 2];
	data(x, y, 32, 3, 13);
	struct nn_data d = {x, y, 32, 3, 2};
	struct nn_fit_opts o = {.epochs = 2, .batch_size = 8, .shuffle = true, .seed = 4};
	struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_ptr_nonnull(t);
	float gamma0 = p[off], beta0 = p[off + 3];
	while (!nn_train_done(t))
		ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	ck_assert_msg(memcmp(p + moving, stats, sizeof stats) == 0, "%s moved the moving statistics",
		      nn_opt_table[opt].name);
	ck_assert_msg(p[off] != gamma0 && p[off + 3] != beta0, "%s left gamma / beta", nn_opt_table[opt].name);
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

/* Interrupted after its first epoch and resumed from the model and trainer
 * states: the same weights, moving statistics included, bit for bit. */
START_TEST(test_resume_bit_identical)
{
	float x[40 * 3], y[40 * 2];
	data(x, y, 40, 3, 17);
	struct nn_data d = {x, y, 40, 3, 2};
	struct nn_fit_opts o = {.epochs = 3, .batch_size = 8, .shuffle = true, .seed = 3, .validation_split = 0.25};
	struct nn_model *full = bn_model(3, true, true, true, NN_OPT_ADAM);
	size_t len = nn_model_state_size(full);
	uint8_t *after1 = malloc(len), tstate[256];
	struct nn_train *t = nn_train_create(full, &d, NULL, &o, NULL);
	ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	nn_model_state_save(full, after1);
	ck_assert_uint_le(nn_train_state_size(t), sizeof tstate);
	nn_train_state_save(t, tstate);
	while (!nn_train_done(t))
		ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
	nn_train_destroy(t);
	ck_assert(nn_model_params_const(full)[bn_off(full, 1) + 6] != 0.0f); /* the moving mean moved */
	struct nn_model *m = bn_model(3, true, true, true, NN_OPT_ADAM);
	ck_assert_int_eq(nn_model_state_load(m, after1, len), NN_OK);
	struct nn_train *r = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_int_eq(nn_train_state_load(r, tstate, nn_train_state_size(r)), NN_OK);
	while (!nn_train_done(r))
		ck_assert_int_eq(nn_train_epoch(r, NULL, NULL), NN_OK);
	ck_assert_msg(memcmp(nn_model_params_const(m), nn_model_params_const(full),
			     nn_model_n_params(m) * sizeof(float)) == 0, "resumed: other weights");
	nn_train_destroy(r);
	nn_model_destroy(m);
	free(after1);
	nn_model_destroy(full);
}
END_TEST

static void reverse_run(void *ctx, size_t n, nn_task_fn fn, void *arg)
{
	size_t *calls = ctx;
	for (size_t i = n; i-- > 0;) {
		fn(arg, i);
		(*calls)++;
	}
}

/* Trainable spans longer than a chunk on both sides of the moving
 * statistics, stepped chunk by chunk through lent "threads" (run in reverse
 * order): the same bits as one loop per span, moving statistics included. */
START_TEST(test_chunked_spans_through_par)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 64;
	spec.n_layers = 4;
	nn_dense_defaults(&spec.layers[0], 1100, NN_ACT_RELU);
	nn_bn_defaults(&spec.layers[1]);
	nn_dense_defaults(&spec.layers[2], 70, NN_ACT_TANH);
	nn_dense_defaults(&spec.layers[3], 1, NN_ACT_LINEAR);
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	float *x = malloc(8 * 64 * sizeof(float)), y[8];
	struct nn_rng rng;
	nn_rng_seed(&rng, 23);
	for (int i = 0; i < 8 * 64; i++)
		x[i] = (float)nn_rng_normal(&rng);
	for (int r = 0; r < 8; r++)
		y[r] = x[r * 64] - x[r * 64 + 1];
	struct nn_data d = {x, y, 8, 64, 1};
	struct nn_fit_opts o = {.epochs = 2, .batch_size = 4};
	struct nn_model *m[2];
	size_t calls = 0;
	struct nn_par par = {reverse_run, &calls};
	for (int k = 0; k < 2; k++) {
		m[k] = nn_model_create(&spec);
		ck_assert_ptr_nonnull(m[k]);
		nn_rng_seed(&rng, 1);
		nn_model_init(m[k], &rng);
		ck_assert_uint_eq(m[k]->n_train_spans, 2);
		ck_assert_uint_gt(m[k]->train_len[0], 65536);
		ck_assert_uint_gt(m[k]->train_len[1], 65536);
		struct nn_train *t = nn_train_create(m[k], &d, NULL, &o, NULL);
		ck_assert_ptr_nonnull(t);
		if (k)
			nn_train_set_par(t, &par);
		while (!nn_train_done(t))
			ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
		nn_train_destroy(t);
	}
	ck_assert_uint_gt(calls, 0);
	ck_assert(memcmp(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float)) == 0);
	size_t moving = m[0]->kernel_off[1] + 2 * 1100;
	ck_assert(m[0]->params[moving] != 0.0f); /* the moving mean moved */
	nn_model_destroy(m[0]);
	nn_model_destroy(m[1]);
	free(x);
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
	nn_bn_defaults(&spec.layers[0]);
	nn_dense_defaults(&spec.layers[1], 2, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	ck_assert(spec.layers[0].momentum == 0.99 && spec.layers[0].epsilon == 1e-3);
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_OK);
	ck_assert_uint_eq(n, 16 + 10);
	spec.layers[0].center = false;
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_OK);
	ck_assert_uint_eq(n, 12 + 10);
	const double bad_momentum[] = {-0.1, 1.5, NAN}, bad_epsilon[] = {0.0, -1e-3, INFINITY};
	for (int i = 0; i < 3; i++) {
		spec.layers[0].momentum = bad_momentum[i];
		ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_EINVAL);
		ck_assert_int_eq(bad, 0);
		spec.layers[0].momentum = 0.5;
		spec.layers[0].epsilon = bad_epsilon[i];
		ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_EINVAL);
		spec.layers[0].epsilon = 1e-3;
	}
	/* not last */
	spec.n_layers = 1;
	ck_assert_int_eq(nn_spec_check(&spec, &n, &bad), NN_EINVAL);
	/* gamma only and beta only: as many parameters, but a state blob of one
	 * does not load into the other */
	spec.n_layers = 2;
	struct nn_model_spec other = spec;
	spec.layers[0].center = false;
	spec.layers[0].scale = true;
	other.layers[0].center = true;
	other.layers[0].scale = false;
	struct nn_model *a = nn_model_create(&spec), *b = nn_model_create(&other);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	size_t len = nn_model_state_size(a);
	ck_assert_uint_eq(len, nn_model_state_size(b));
	uint8_t *blob = malloc(len);
	nn_model_state_save(a, blob);
	ck_assert_int_eq(nn_model_state_load(b, blob, len), NN_EFORMAT);
	ck_assert_int_eq(nn_model_state_load(a, blob, len), NN_OK);
	free(blob);
	nn_model_destroy(a);
	nn_model_destroy(b);
}
END_TEST

Suite *suite_nn_bn(void)
{
	Suite *s = suite_create("nn_bn");
	TCase *tc = tcase_create("bn");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_forward_training_and_inference);
	tcase_add_loop_test(tc, test_gradients_match_differences, 0, 4);
	tcase_add_test(tc, test_moving_statistics_update);
	tcase_add_loop_test(tc, test_every_optimizer_leaves_moving_statistics, 0, NN_OPT_COUNT);
	tcase_add_test(tc, test_resume_bit_identical);
	tcase_add_test(tc, test_chunked_spans_through_par);
	tcase_add_test(tc, test_spec_rules);
	suite_add_tcase(s, tc);
	return s;
}
