/*
 * test_nn_model.c — core/nn_model.c and nn_data.c: the full backward pass
 * against finite differences for every activation x every loss x
 * from_logits (with dropout and L2), inference and evaluation against a
 * hand-written forward, nn_classes, spec and data checks, state blobs.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/nn_internal.h"
#include "tests/unit/ulp.h"

Suite *suite_nn_model(void);

/* ---- gradient check -------------------------------------------------------------- */

/* Activation variants: every enum nn_act, plus gelu's tanh form. */
#define N_VARIANTS (NN_ACT_COUNT + 1)

/* Output-layer bias that puts act(b) near 0.5, so that probabilities stay
 * inside Keras's clip range and away from 0 and 1 whatever the activation:
 * the check then sees the smooth loss, the only place a gradient exists. */
static float centre_bias(enum nn_act act)
{
	switch (act) {
	case NN_ACT_SOFTPLUS:
		return -0.4f; /* softplus(-0.4) = 0.51 */
	case NN_ACT_GELU:
		return 0.7f;  /* 0.53 */
	case NN_ACT_SWISH:
		return 0.8f;  /* 0.55 */
	case NN_ACT_TANH:
		return 0.55f; /* 0.50 */
	case NN_ACT_SIGMOID:
	case NN_ACT_SOFTMAX:
		return 0.0f;
	default:
		return 0.5f;  /* linear, relu, leaky_relu, elu */
	}
}

/* 3 -> Dense(4, act, L2 0.01) -> Dropout(0.3) -> Dense(k, act, L2 0.02). */
static void gradcheck_spec(struct nn_model_spec *spec, int variant, enum nn_loss_kind loss,
			   bool logits, uint32_t k)
{
	enum nn_act act = variant == NN_ACT_COUNT ? NN_ACT_GELU : (enum nn_act)variant;
	memset(spec, 0, sizeof *spec);
	spec->input_dim = 3;
	spec->n_layers = 3;
	nn_dense_defaults(&spec->layers[0], 4, act);
	spec->layers[0].l2 = 0.01;
	spec->layers[1].kind = NN_LAYER_DROPOUT;
	spec->layers[1].rate = 0.3;
	nn_dense_defaults(&spec->layers[2], k, act);
	spec->layers[2].l2 = 0.02;
	for (int i = 0; i < 3; i += 2) {
		spec->layers[i].approximate = variant == NN_ACT_COUNT;
		spec->layers[i].alpha = act == NN_ACT_ELU ? 0.7 : 0.2;
	}
	spec->loss.kind = loss;
	spec->loss.from_logits = logits;
	nn_opt_defaults(NN_OPT_SGD, &spec->opt);
}

/* Loss of the batch with the dropout mask drawn from mask_seed every time
 * (a fixed mask), L2 included: what the backward pass differentiates. */
static double full_loss(struct nn_model *m, struct nn_work *w, const float *x, const float *y,
			size_t n, uint64_t mask_seed)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, mask_seed);
	nn_forward(m, w, x, n, &rng);
	return nn_loss_batch(m, w, y, n, false, NULL) / (double)n + nn_model_penalty(m);
}

/* Central difference of full_loss in one float variable v, step h, using
 * the float-rounded arguments actually evaluated. */
static double difference(struct nn_model *m, struct nn_work *w, const float *x, const float *y,
			 size_t n, float *v, double h)
{
	float saved = *v;
	*v = (float)(saved + h);
	float hi = *v;
	double up = full_loss(m, w, x, y, n, 99);
	*v = (float)(saved - h);
	float lo = *v;
	double down = full_loss(m, w, x, y, n, 99);
	*v = saved;
	return (up - down) / ((double)hi - lo);
}

/*
 * Tolerance. The forward pass is float32, so the loss carries relative noise
 * of ~1e-7 (a few roundings of O(1) values); over steps of h = 1e-2 down to
 * 2.5e-3 that is at most ~4e-5 in a difference quotient. The central
 * difference's truncation error (h^2 |f'''| / 6, up to ~5e-4 here) is
 * cancelled by Richardson extrapolation over h and h/2, leaving O(h^4). We
 * accept |analytic - numeric| <= 2e-4 + 1e-2 |numeric| (relative 1e-2, the
 * float32 tolerance), which any wrong term (a missing factor, a wrong sign,
 * a dropped chain-rule factor) exceeds by orders of magnitude. Where the
 * loss has a kink within h (relu at 0) differences are meaningless: such a
 * variable shows up as two extrapolations (steps h..h/2 and h/2..h/4) that
 * disagree, and is skipped; at most 10% of a case's variables may be.
 */
START_TEST(test_full_backward_matches_differences)
{
	int variant = _i / (2 * NN_LOSS_COUNT);
	enum nn_loss_kind loss = (enum nn_loss_kind)((_i / 2) % NN_LOSS_COUNT);
	bool logits = _i % 2;
	const uint32_t k = 3;
	const size_t n = 4;
	struct nn_model_spec spec;
	gradcheck_spec(&spec, variant, loss, logits, k);
	struct nn_model *m = nn_model_create(&spec);
	ck_assert_ptr_nonnull(m);
	struct nn_rng rng;
	nn_rng_seed(&rng, 1000 + (uint64_t)_i);
	float *p = nn_model_params(m);
	/* hidden: W ~ U(-1, 1), b ~ U(-0.5, 0.5); output: W ~ U(-0.1, 0.1), b
	 * centred: the outputs stay within about +-0.3 of act(b), off the kinks
	 * at z = 0 of relu and leaky_relu and inside (0, 1) */
	for (size_t i = 0; i < 16; i++)
		p[i] = (float)((i < 12 ? 2.0 : 1.0) * (nn_rng_uniform(&rng) - 0.5));
	for (size_t i = 16; i < 28; i++)
		p[i] = (float)(0.2 * (nn_rng_uniform(&rng) - 0.5));
	for (size_t i = 28; i < 31; i++)
		p[i] = centre_bias(spec.layers[2].act);
	ck_assert_uint_eq(nn_model_n_params(m), 31);

	float x[12], y[12], dx[12];
	for (int i = 0; i < 12; i++)
		x[i] = (float)(2 * nn_rng_uniform(&rng) - 1);
	for (size_t r = 0; r < n; r++) {
		double row_sum = 0;
		for (uint32_t j = 0; j < k; j++) {
			float t = (float)nn_rng_uniform(&rng);
			if (loss == NN_LOSS_HUBER && j == 0)
				t += 2.0f; /* huber's linear region */
			if (loss == NN_LOSS_MAE) /* far from the outputs: off mae's kink */
				t = (r + j) % 2 ? t + 2.0f : -1.0f - t;
			y[r * k + j] = t;
			row_sum += t;
		}
		if (loss == NN_LOSS_CATEGORICAL_CROSSENTROPY) /* soft rows, one summing to 1.3 */
			for (uint32_t j = 0; j < k; j++)
				y[r * k + j] = (float)(y[r * k + j] / row_sum * (r == 1 ? 1.3 : 1.0));
		if (loss == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
			y[r] = (float)(r % k);
	}

	struct nn_work w;
	ck_assert_int_eq(nn_work_init(&w, m, n, true, true), NN_OK);
	nn_rng_seed(&rng, 99);
	nn_forward(m, &w, x, n, &rng);
	double value = nn_loss_batch(m, &w, y, n, true, NULL) / (double)n;
	double penalty = nn_backward(m, &w, n, dx);
	/* the penalty the backward pass adds is sum(l2 W^2) over every dense
	 * kernel, summed here independently in double */
	double expect_penalty = 0.0;
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind != NN_LAYER_DENSE)
			continue;
		for (size_t j = 0; j < (size_t)m->in_dim[i] * l->units; j++)
			expect_penalty += l->l2 * (double)p[m->kernel_off[i] + j] * p[m->kernel_off[i] + j];
	}
	ck_assert_double_eq_tol(penalty, expect_penalty, 1e-12 * (1 + expect_penalty));
	ck_assert(isfinite(value));

	int checked = 0, skipped = 0;
	for (int v = 0; v < 31 + 12; v++) {
		float *var = v < 31 ? &p[v] : &x[v - 31];
		double analytic = v < 31 ? m->grads[v] : dx[v - 31];
		/* Richardson: (4 D(h/2) - D(h)) / 3 cancels the h^2 term */
		double d1 = difference(m, &w, x, y, n, var, 1e-2);
		double d2 = difference(m, &w, x, y, n, var, 5e-3);
		double d4 = difference(m, &w, x, y, n, var, 2.5e-3);
		double coarse = (4 * d2 - d1) / 3, numeric = (4 * d4 - d2) / 3;
		double tol = 2e-4 + 1e-2 * fabs(numeric);
		if (fabs(numeric - coarse) > tol) {
			if (getenv("GC_DEBUG"))
				fprintf(stderr, "skip %d: %g %g %g\n", v, analytic, numeric, coarse);
			skipped++;
			continue;
		}
		checked++;
		ck_assert_msg(fabs(analytic - numeric) <= tol,
			      "act %s%s loss %s logits %d var %d: analytic %.7g numeric %.7g",
			      nn_act_table[spec.layers[0].act].name, variant == NN_ACT_COUNT ? "(tanh)" : "",
			      nn_loss_table[loss].name, logits, v, analytic, numeric);
	}
	ck_assert_msg(skipped * 10 <= checked + skipped, "skipped %d of %d", skipped, checked + skipped);
	nn_work_free(&w);
	nn_model_destroy(m);
}
END_TEST

/* Dropout: the mask keeps about 1 - rate, scales kept values by 1/(1-rate),
 * is the identity in inference and with rate 0. */
START_TEST(test_dropout_mask)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 1000;
	spec.n_layers = 2;
	spec.layers[0].kind = NN_LAYER_DROPOUT;
	spec.layers[0].rate = 0.25;
	nn_dense_defaults(&spec.layers[1], 1, NN_ACT_LINEAR);
	spec.layers[1].kernel_init = NN_INIT_ONES;
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	struct nn_rng rng;
	nn_rng_seed(&rng, 3);
	nn_model_init(m, &rng);
	float x[1000];
	for (int i = 0; i < 1000; i++)
		x[i] = 1.0f;
	struct nn_work w;
	ck_assert_int_eq(nn_work_init(&w, m, 1, true, false), NN_OK);
	nn_forward(m, &w, x, 1, &rng);
	int kept = 0;
	for (int i = 0; i < 1000; i++) {
		ck_assert(w.a[0][i] == 0.0f || w.a[0][i] == 1.0f / 0.75f);
		kept += w.a[0][i] != 0.0f;
	}
	/* Binomial(1000, 0.75): sd 13.7 */
	ck_assert_int_lt(abs(kept - 750), 70);
	ck_assert_float_eq_tol(w.out[0], kept / 0.75f, 1e-2f);
	nn_work_free(&w);
	float out;
	ck_assert_int_eq(nn_predict(m, x, 1, &out), NN_OK);
	ck_assert(out == 1000.0f);
	nn_model_destroy(m);
}
END_TEST

/* ---- inference ------------------------------------------------------------------- */

static struct nn_model *small_classifier(enum nn_loss_kind loss, uint32_t k, enum nn_act out_act)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 3;
	spec.n_layers = 3;
	nn_dense_defaults(&spec.layers[0], 5, NN_ACT_TANH);
	spec.layers[0].l2 = 0.05;
	spec.layers[1].kind = NN_LAYER_DROPOUT;
	spec.layers[1].rate = 0.5;
	nn_dense_defaults(&spec.layers[2], k, out_act);
	spec.loss.kind = loss;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	struct nn_rng rng;
	nn_rng_seed(&rng, 21);
	nn_model_init(m, &rng);
	/* non-zero biases */
	float *p = nn_model_params(m);
	for (int i = 15; i < 20; i++)
		p[i] = 0.1f * (float)(i - 17);
	return m;
}

/* The forward pass by hand in double: tanh(x W1 + b1) W2 + b2, then softmax. */
static void reference_forward(const struct nn_model *m, const float *x, double *out, uint32_t k)
{
	const float *p = nn_model_params_const(m);
	double h[5];
	for (int j = 0; j < 5; j++) {
		double z = p[15 + j];
		for (int i = 0; i < 3; i++)
			z += (double)x[i] * p[i * 5 + j];
		h[j] = tanh(z);
	}
	double max = -INFINITY, sum = 0;
	for (uint32_t j = 0; j < k; j++) {
		double z = p[20 + 5 * k + j];
		for (int i = 0; i < 5; i++)
			z += h[i] * p[20 + i * k + j];
		out[j] = z;
		max = fmax(max, z);
	}
	for (uint32_t j = 0; j < k; j++)
		sum += exp(out[j] - max);
	for (uint32_t j = 0; j < k; j++)
		out[j] = exp(out[j] - max) / sum;
}

START_TEST(test_predict_evaluate_classes)
{
	const uint32_t k = 4;
	struct nn_model *m = small_classifier(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, k, NN_ACT_SOFTMAX);
	const size_t n = 600; /* more than one inference batch */
	float *x = malloc(n * 3 * sizeof(float)), *y = malloc(n * sizeof(float));
	float *out = malloc(n * k * sizeof(float));
	int32_t *classes = malloc(n * sizeof(int32_t));
	struct nn_rng rng;
	nn_rng_seed(&rng, 8);
	for (size_t i = 0; i < n * 3; i++)
		x[i] = (float)(4 * nn_rng_uniform(&rng) - 2);
	for (size_t r = 0; r < n; r++)
		y[r] = (float)nn_rng_below(&rng, k);
	ck_assert_int_eq(nn_predict(m, x, n, out), NN_OK);
	ck_assert_int_eq(nn_classes(nn_model_spec(m), out, n, classes), NN_OK);
	/* The classes are the argmax of the float32 outputs: compared with the
	 * double reference's argmax only where the reference's top two differ
	 * by more than the outputs' tolerance (a near tie may go either way in
	 * float32); the accuracy is held to the float classes' own count. */
	double loss = 0, correct = 0;
	size_t compared = 0;
	for (size_t r = 0; r < n; r++) {
		double ref[4];
		reference_forward(m, x + 3 * r, ref, k);
		int best = 0, second = -1;
		for (uint32_t j = 0; j < k; j++) {
			ck_assert_double_eq_tol(out[r * k + j], ref[j], 2e-6);
			best = ref[j] > ref[best] ? (int)j : best;
		}
		for (uint32_t j = 0; j < k; j++)
			if ((int)j != best && (second < 0 || ref[j] > ref[second]))
				second = (int)j;
		if (ref[best] - ref[second] > 4e-6) {
			ck_assert_int_eq(classes[r], best);
			compared++;
		}
		int32_t top = 0;
		for (uint32_t j = 1; j < k; j++)
			top = out[r * k + j] > out[r * k + top] ? (int32_t)j : top;
		ck_assert_int_eq(classes[r], top);
		loss -= log(ref[(int)y[r]]);
		correct += classes[r] == (int32_t)y[r];
	}
	ck_assert_uint_ge(compared, n - n / 100);
	/* evaluate = mean loss + L2 penalty (0.05 sum W1^2); accuracy */
	double penalty = 0;
	for (int i = 0; i < 15; i++)
		penalty += 0.05 * (double)nn_model_params(m)[i] * nn_model_params(m)[i];
	struct nn_data d = {x, y, n, 3, 1};
	struct nn_eval ev;
	ck_assert_int_eq(nn_evaluate(m, &d, &ev), NN_OK);
	ck_assert(ev.has_metric);
	ck_assert_uint_eq(ev.n, n);
	ck_assert_double_eq_tol(ev.loss, loss / n + penalty, 1e-5);
	ck_assert_double_eq_tol(ev.metric, correct / n, 1e-12);
	free(x), free(y), free(out), free(classes);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_classes_binary_and_regression)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 1;
	spec.n_layers = 1;
	nn_dense_defaults(&spec.layers[0], 1, NN_ACT_SIGMOID);
	spec.loss.kind = NN_LOSS_BINARY_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	const float out[3] = {0.2f, 0.5f, 0.7f};
	int32_t c[3];
	ck_assert_int_eq(nn_spec_task(&spec), NN_TASK_BINARY);
	ck_assert_int_eq(nn_classes(&spec, out, 3, c), NN_OK);
	ck_assert(c[0] == 0 && c[1] == 0 && c[2] == 1);
	spec.loss.from_logits = true;
	const float logits[3] = {-0.1f, 0.0f, 0.1f};
	ck_assert_int_eq(nn_classes(&spec, logits, 3, c), NN_OK);
	ck_assert(c[0] == 0 && c[1] == 0 && c[2] == 1);
	spec.loss.kind = NN_LOSS_MSE;
	ck_assert_int_eq(nn_spec_task(&spec), NN_TASK_REGRESSION);
	ck_assert_int_eq(nn_classes(&spec, out, 3, c), NN_EINVAL);
	spec.loss.kind = NN_LOSS_CATEGORICAL_CROSSENTROPY;
	ck_assert_int_eq(nn_spec_task(&spec), NN_TASK_MULTICLASS);
}
END_TEST

/* ---- spec and data checks ----------------------------------------------------------- */

static void base_spec(struct nn_model_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	spec->input_dim = 4;
	spec->n_layers = 2;
	nn_dense_defaults(&spec->layers[0], 8, NN_ACT_RELU);
	nn_dense_defaults(&spec->layers[1], 3, NN_ACT_SOFTMAX);
	spec->loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec->opt);
}

/* Expects status and bad layer, and that nn_model_create refuses it too. */
static void expect_spec(const struct nn_model_spec *spec, int status, int bad)
{
	uint64_t n_params = 77;
	int bad_layer = 77;
	ck_assert_int_eq(nn_spec_check(spec, &n_params, &bad_layer), status);
	ck_assert_int_eq(bad_layer, bad);
	ck_assert_uint_eq(n_params, 0);
	ck_assert_ptr_null(nn_model_create(spec));
}

START_TEST(test_spec_check)
{
	struct nn_model_spec spec;
	base_spec(&spec);
	uint64_t n_params;
	int bad;
	ck_assert_int_eq(nn_spec_check(&spec, &n_params, &bad), NN_OK);
	ck_assert_uint_eq(n_params, 4 * 8 + 8 + 8 * 3 + 3);
	ck_assert_int_eq(bad, -1);
	ck_assert_uint_eq(nn_spec_outputs(&spec), 3);
	ck_assert_int_eq(nn_spec_check(&spec, NULL, NULL), NN_OK);

	/* 10^9 units: a limit, with the layer named */
	spec.layers[1].units = 1000000000u;
	expect_spec(&spec, NN_ELIMIT, 1);
	spec.layers[1].units = UINT32_MAX;
	expect_spec(&spec, NN_ELIMIT, 1);
	/* too many parameters: 2^20 inputs x 64 units in the first layer */
	base_spec(&spec);
	spec.input_dim = NN_MAX_INPUT_DIM;
	spec.layers[0].units = 64;
	expect_spec(&spec, NN_ELIMIT, 0);
	/* 64 layers of 65536 units: the sum passes the limit at layer 1 */
	base_spec(&spec);
	spec.n_layers = NN_MAX_LAYERS;
	for (int i = 0; i < NN_MAX_LAYERS; i++)
		nn_dense_defaults(&spec.layers[i], NN_MAX_UNITS, NN_ACT_RELU);
	expect_spec(&spec, NN_ELIMIT, 1);
	/* too many layers, too wide an input: not one layer's fault */
	base_spec(&spec);
	spec.n_layers = NN_MAX_LAYERS + 1;
	expect_spec(&spec, NN_ELIMIT, -1);
	spec.n_layers = UINT32_MAX;
	expect_spec(&spec, NN_ELIMIT, -1);
	base_spec(&spec);
	spec.input_dim = NN_MAX_INPUT_DIM + 1;
	expect_spec(&spec, NN_ELIMIT, -1);
	spec.input_dim = 0;
	expect_spec(&spec, NN_EINVAL, -1);
	base_spec(&spec);
	spec.n_layers = 0;
	expect_spec(&spec, NN_EINVAL, -1);

	/* invalid values */
	base_spec(&spec);
	spec.layers[0].units = 0;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[1].act = (enum nn_act)NN_ACT_COUNT;
	expect_spec(&spec, NN_EINVAL, 1);
	base_spec(&spec);
	spec.layers[0].act = (enum nn_act)-1;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[0].kernel_init = (enum nn_init)99;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[0].l2 = NAN;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[0].l2 = -1;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[0].act = NN_ACT_LEAKY_RELU;
	spec.layers[0].alpha = INFINITY;
	expect_spec(&spec, NN_EINVAL, 0);
	base_spec(&spec);
	spec.layers[0].kind = (enum nn_layer_kind)7;
	expect_spec(&spec, NN_EINVAL, 0);
	/* dropout: rate in [0, 1); the last layer must be dense */
	base_spec(&spec);
	spec.layers[1].kind = NN_LAYER_DROPOUT;
	spec.layers[1].rate = 1.0;
	expect_spec(&spec, NN_EINVAL, 1);
	spec.layers[1].rate = 0.5;
	expect_spec(&spec, NN_EINVAL, 1);
	spec.layers[1].rate = NAN;
	expect_spec(&spec, NN_EINVAL, 1);
	/* loss and optimizer values */
	base_spec(&spec);
	spec.loss.kind = (enum nn_loss_kind)NN_LOSS_COUNT;
	expect_spec(&spec, NN_EINVAL, -1);
	base_spec(&spec);
	spec.opt.kind = (enum nn_opt_kind)-3;
	expect_spec(&spec, NN_EINVAL, -1);
	base_spec(&spec);
	spec.opt.learning_rate = 0;
	expect_spec(&spec, NN_EINVAL, -1);
	base_spec(&spec);
	spec.opt.beta_1 = 1.0;
	expect_spec(&spec, NN_EINVAL, -1);
	base_spec(&spec);
	spec.opt.epsilon = -1e-7;
	expect_spec(&spec, NN_EINVAL, -1);
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	spec.opt.momentum = 1.5;
	expect_spec(&spec, NN_EINVAL, -1);
	ck_assert_int_eq(nn_spec_check(NULL, NULL, NULL), NN_EINVAL);
}
END_TEST

START_TEST(test_data_check)
{
	struct nn_model_spec spec;
	base_spec(&spec);
	float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, y[2] = {0, 2};
	struct nn_data d = {x, y, 2, 4, 1};
	size_t bad = 0;
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_OK);
	ck_assert_uint_eq(bad, SIZE_MAX);
	y[1] = 3; /* out of range label */
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_EINVAL);
	ck_assert_uint_eq(bad, 1);
	y[1] = 1.5f; /* not an integer */
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_EINVAL);
	ck_assert_uint_eq(bad, 1);
	y[1] = 1;
	x[2] = NAN;
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_EINVAL);
	ck_assert_uint_eq(bad, 0);
	x[2] = 2;
	d.x_dim = 3;
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_EINVAL);
	ck_assert_uint_eq(bad, SIZE_MAX);
	d.x_dim = 4;
	d.y_dim = 3; /* sparse labels are one column */
	ck_assert_int_eq(nn_data_check(&spec, &d, &bad), NN_EINVAL);
	/* binary crossentropy targets in [0, 1] */
	spec.loss.kind = NN_LOSS_BINARY_CROSSENTROPY;
	float t[6] = {0, 1, 0.5f, 1, 0, 1.01f};
	struct nn_data b = {x, t, 2, 4, 3};
	ck_assert_int_eq(nn_data_check(&spec, &b, &bad), NN_EINVAL);
	ck_assert_uint_eq(bad, 1);
	t[5] = 1;
	ck_assert_int_eq(nn_data_check(&spec, &b, &bad), NN_OK);
	b.n = 0;
	ck_assert_int_eq(nn_data_check(&spec, &b, &bad), NN_EINVAL);
}
END_TEST

/* ---- state blobs ---------------------------------------------------------------------- */

START_TEST(test_state_roundtrip_and_rejection)
{
	struct nn_model *m = small_classifier(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 4, NN_ACT_SOFTMAX);
	/* give the optimizer some state */
	m->steps = 7;
	for (size_t i = 0; i < 2 * nn_model_n_params(m); i++)
		m->slots[i] = 0.001f * (float)i;
	size_t size = nn_model_state_size(m);
	ck_assert_uint_eq(size, 40 + 4 * 3 * nn_model_n_params(m) + 8);
	uint8_t *blob = malloc(size), *copy = malloc(size);
	nn_model_state_save(m, blob);
	ck_assert(memcmp(blob, "FDMS", 4) == 0);
	/* little-endian whatever the host: n_params at byte 8 */
	ck_assert_uint_eq(blob[8] | blob[9] << 8, nn_model_n_params(m));

	struct nn_model *fresh = small_classifier(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 4, NN_ACT_SOFTMAX);
	memset(nn_model_params(fresh), 0, nn_model_n_params(fresh) * sizeof(float));
	ck_assert_int_eq(nn_model_state_load(fresh, blob, size), NN_OK);
	ck_assert(memcmp(nn_model_params(fresh), nn_model_params(m), nn_model_n_params(m) * 4) == 0);
	ck_assert(memcmp(fresh->slots, m->slots, 2 * nn_model_n_params(m) * 4) == 0);
	ck_assert_uint_eq(nn_model_opt_steps(fresh), 7);

	/* every truncation, every single-byte corruption: NN_EFORMAT, model unchanged */
	nn_model_init(fresh, &(struct nn_rng){{1, 2, 3, 4}});
	float *before = malloc(nn_model_n_params(fresh) * sizeof(float));
	memcpy(before, nn_model_params(fresh), nn_model_n_params(fresh) * sizeof(float));
	for (size_t len = 0; len < size; len++)
		ck_assert_int_eq(nn_model_state_load(fresh, blob, len), NN_EFORMAT);
	ck_assert_int_eq(nn_model_state_load(fresh, NULL, size), NN_EFORMAT);
	for (size_t i = 0; i < size; i++) {
		memcpy(copy, blob, size);
		copy[i] ^= (uint8_t)(1 + i % 255);
		ck_assert_int_eq(nn_model_state_load(fresh, copy, size), NN_EFORMAT);
	}
	/* garbage of the right length */
	struct nn_rng rng;
	nn_rng_seed(&rng, 4);
	for (size_t i = 0; i < size; i++)
		copy[i] = (uint8_t)nn_rng_next(&rng);
	ck_assert_int_eq(nn_model_state_load(fresh, copy, size), NN_EFORMAT);
	ck_assert(memcmp(before, nn_model_params(fresh), nn_model_n_params(fresh) * 4) == 0);
	ck_assert_uint_eq(nn_model_opt_steps(fresh), 0);

	/* another architecture / another optimizer, even of equal size: NN_EFORMAT */
	struct nn_model_spec other = *nn_model_spec(m);
	other.layers[2].units = 5;
	struct nn_model *wide = nn_model_create(&other);
	uint8_t *big = malloc(nn_model_state_size(wide));
	nn_model_state_save(wide, big);
	ck_assert_int_eq(nn_model_state_load(m, big, nn_model_state_size(wide)), NN_EFORMAT);
	ck_assert_int_eq(nn_model_state_load(wide, blob, size), NN_EFORMAT);
	other = *nn_model_spec(m);
	other.opt.kind = NN_OPT_RMSPROP;
	other.opt.momentum = 0.5; /* two slots, same size as adam */
	struct nn_model *rms = nn_model_create(&other);
	ck_assert_uint_eq(nn_model_state_size(rms), size);
	ck_assert_int_eq(nn_model_state_load(rms, blob, size), NN_EFORMAT);
	/* same size, parameters arranged differently: 3-5-4 vs 3-4-... */
	other = *nn_model_spec(m);
	other.layers[0].use_bias = false;
	other.input_dim = 4; /* 4*5 = 3*5 + 5 weights in the first layer */
	struct nn_model *shuffled = nn_model_create(&other);
	ck_assert_uint_eq(nn_model_state_size(shuffled), size);
	ck_assert_int_eq(nn_model_state_load(shuffled, blob, size), NN_EFORMAT);

	free(blob), free(copy), free(big), free(before);
	nn_model_destroy(m);
	nn_model_destroy(fresh);
	nn_model_destroy(wide);
	nn_model_destroy(rms);
	nn_model_destroy(shuffled);
	nn_model_destroy(NULL);
}
END_TEST

START_TEST(test_strerror)
{
	for (int s = 0; s >= -6; s--)
		ck_assert(strlen(nn_strerror(s)) > 0);
	ck_assert_str_eq(nn_strerror(1), "unknown status");
	ck_assert_str_eq(nn_strerror(-100), "unknown status");
}
END_TEST

START_TEST(test_copy_state)
{
	/* a snapshot by copy serializes to the same blob as its source */
	struct nn_model *m = small_classifier(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 4, NN_ACT_SOFTMAX);
	m->steps = 9;
	for (size_t i = 0; i < 2 * nn_model_n_params(m); i++)
		m->slots[i] = 0.002f * (float)i;
	struct nn_model *shadow = small_classifier(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 4, NN_ACT_SOFTMAX);
	nn_model_init(shadow, &(struct nn_rng){{5, 6, 7, 8}});
	ck_assert_int_eq(nn_model_copy_state(shadow, m), NN_OK);
	size_t size = nn_model_state_size(m);
	uint8_t *a = malloc(size), *b = malloc(size);
	nn_model_state_save(m, a);
	nn_model_state_save(shadow, b);
	ck_assert(memcmp(a, b, size) == 0);
	/* later changes to the source leave the snapshot alone */
	nn_model_params(m)[0] += 1.0f;
	m->steps++;
	nn_model_state_save(shadow, b);
	ck_assert(memcmp(a, b, size) == 0);
	/* another architecture or optimizer: NN_EINVAL, nothing copied */
	struct nn_model_spec other = *nn_model_spec(m);
	other.layers[2].units = 5;
	struct nn_model *wide = nn_model_create(&other);
	ck_assert_int_eq(nn_model_copy_state(wide, m), NN_EINVAL);
	ck_assert_int_eq(nn_model_copy_state(shadow, wide), NN_EINVAL);
	other = *nn_model_spec(m);
	other.opt.kind = NN_OPT_RMSPROP;
	other.opt.momentum = 0.5;
	struct nn_model *rms = nn_model_create(&other);
	ck_assert_int_eq(nn_model_copy_state(shadow, rms), NN_EINVAL);
	nn_model_state_save(shadow, b);
	ck_assert(memcmp(a, b, size) == 0);
	free(a), free(b);
	nn_model_destroy(m);
	nn_model_destroy(shadow);
	nn_model_destroy(wide);
	nn_model_destroy(rms);
}
END_TEST

Suite *suite_nn_model(void)
{
	Suite *s = suite_create("nn_model");
	TCase *grad = tcase_create("gradient");
	tcase_add_loop_test(grad, test_full_backward_matches_differences, 0,
			    N_VARIANTS * NN_LOSS_COUNT * 2);
	tcase_add_test(grad, test_dropout_mask);
	suite_add_tcase(s, grad);
	TCase *tc = tcase_create("model");
	tcase_add_test(tc, test_predict_evaluate_classes);
	tcase_add_test(tc, test_classes_binary_and_regression);
	tcase_add_test(tc, test_spec_check);
	tcase_add_test(tc, test_data_check);
	tcase_add_test(tc, test_state_roundtrip_and_rejection);
	tcase_add_test(tc, test_copy_state);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}
