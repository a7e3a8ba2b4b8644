/*
 * test_nn_loss.c — core/nn_loss.c: known values of every loss (Keras's
 * formulas evaluated by hand), stability at extreme logits, clipping, the
 * gradient of every loss against central differences of its value, and
 * accuracy counting.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_loss(void);

/* Mean over the batch of loss kind on outputs a (and pre-activations z). */
static double batch_loss(enum nn_loss_kind kind, bool logits, bool fused, const float *z,
			 const float *a, const float *y, size_t n, uint32_t k, float *grad)
{
	struct nn_loss_io io = {
		.z = z, .a = a, .y = y, .n = n, .k = k,
		.y_dim = kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? 1 : k,
		.from_logits = logits, .fused = fused, .grad_scale = 1.0 / (double)n, .grad = grad,
	};
	return nn_loss_table[kind].loss(&io) / (double)n;
}

START_TEST(test_regression_values)
{
	/* rows: p = [1, 2] vs y = [0, 0]; p = [0.5, -3] vs y = [0, 0]
	 * mse: (1 + 4)/2 = 2.5 and (0.25 + 9)/2 = 4.625 -> mean 3.5625
	 * mae: 1.5 and 1.75 -> 1.625
	 * huber: (0.5 + 1.5)/2 = 1 and (0.125 + 2.5)/2 = 1.3125 -> 1.15625 */
	const float a[4] = {1, 2, 0.5f, -3}, y[4] = {0, 0, 0, 0};
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_MSE, false, false, a, a, y, 2, 2, NULL), 3.5625, 1e-12);
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_MAE, false, false, a, a, y, 2, 2, NULL), 1.625, 1e-12);
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_HUBER, false, false, a, a, y, 2, 2, NULL), 1.15625, 1e-12);
	/* mae's gradient is sign(p - y) / k / n, 0 at p = y */
	float g[4];
	const float same[4] = {0, 0, 1, 1};
	batch_loss(NN_LOSS_MAE, false, false, same, same, y, 2, 2, g);
	ck_assert(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.25f && g[3] == 0.25f);
}
END_TEST

START_TEST(test_binary_crossentropy_values)
{
	/* from logits: z = 0, y = 1: log 2; z = 100, y = 0: 100 + log1p(e^-100) */
	const float z[2] = {0, 100}, y[2] = {1, 0};
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_BINARY_CROSSENTROPY, true, false, z, z, y, 2, 1, NULL),
				(log(2.0) + 100.0) / 2, 1e-9);
	const float zm[1] = {-1e30f}, y1[1] = {1};
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_BINARY_CROSSENTROPY, true, false, zm, zm, y1, 1, 1, NULL),
				-(double)zm[0], 1e16);
	/* probabilities: p = 0.8, y = 1 -> -log 0.8; p = 1, y = 0 -> clipped to
	 * 1 - 1e-7: -log(1e-7) = 16.118095651; p = 0, y = 0 -> -log(1 - 1e-7) */
	const float p[3] = {0.8f, 1.0f, 0.0f}, t[3] = {1, 0, 0};
	double expect = (-log((double)0.8f) - log(1e-7) - log1p(-1e-7)) / 3;
	float g[3];
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_BINARY_CROSSENTROPY, false, false, p, p, t, 3, 1, g),
				expect, 1e-9);
	/* clipped entries have no gradient; inside, (p - y) / (p (1 - p)) / n */
	ck_assert(g[1] == 0.0f && g[2] == 0.0f);
	ck_assert_float_eq_tol(g[0], (float)((0.8 - 1) / (0.8 * 0.2) / 3), 1e-6f);
	/* fused (sigmoid output): value from log-sigmoid clamped like the clipped
	 * formula; z = 40 with y = 0 gives -log(1e-7), not -log(sigma(-40)) = 40 */
	const float zf[2] = {40, -0.5f}, af[2] = {1.0f, (float)(1 / (1 + exp(0.5)))}, yf[2] = {0, 1};
	double fused = batch_loss(NN_LOSS_BINARY_CROSSENTROPY, false, true, zf, af, yf, 2, 1, g);
	ck_assert_double_eq_tol(fused, (-log(1e-7) + log1p(exp(0.5))) / 2, 1e-9);
	/* fused gradient: (sigma(z) - y) / k / n */
	ck_assert_float_eq_tol(g[0], 0.5f, 1e-7f);
	ck_assert_float_eq_tol(g[1], (af[1] - 1) / 2, 1e-7f);
}
END_TEST

START_TEST(test_categorical_values)
{
	/* from logits z = [1000, -1000], y = [0, 1]: lse = 1000, loss 2000, finite */
	const float z[2] = {1000, -1000}, y[2] = {0, 1}, label[1] = {1};
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_CATEGORICAL_CROSSENTROPY, true, false, z, z, y, 1, 2, NULL),
				2000, 1e-9);
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true, false, z, z, label, 1, 2, NULL),
				2000, 1e-9);
	/* softmax output saturated: a = [1, 0]; the clipped value is -log(1e-7) */
	const float a[2] = {1, 0};
	float g[2];
	double v = batch_loss(NN_LOSS_CATEGORICAL_CROSSENTROPY, false, true, z, a, y, 1, 2, g);
	ck_assert_double_eq_tol(v, -log(1e-7), 1e-9);
	/* fused gradient softmax * sum(y) - y = [1, -1] */
	ck_assert(g[0] == 1.0f && g[1] == -1.0f);
	/* probabilities normalised by their sum: a = [2, 6] -> q = [0.25, 0.75];
	 * soft target y = [0.5, 1]: -(0.5 log 0.25 + log 0.75) */
	const float p[2] = {2, 6}, soft[2] = {0.5f, 1};
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_CATEGORICAL_CROSSENTROPY, false, false, p, p, soft, 1, 2, NULL),
				-(0.5 * log(0.25) + log(0.75)), 1e-12);
	/* a target probability very close to 1 keeps its precision:
	 * q = 1 - 1e-6 exactly representable pair a = [1e-6 * s, (1 - 1e-6) s] */
	const float near[2] = {1e-6f, 1.0f - 1e-6f}, y2[2] = {0, 1};
	double expect = -log((double)near[1] / ((double)near[0] + near[1]));
	ck_assert_double_eq_tol(batch_loss(NN_LOSS_CATEGORICAL_CROSSENTROPY, false, false, near, near, y2, 1, 2, NULL),
				expect, 1e-13);
}
END_TEST

/* Every loss's gradient against central differences of its value, on random
 * outputs in (0.05, 0.95) (no clipping) and targets of the loss's kind. The
 * value is computed in double from the float outputs, so h = 1e-3 gives
 * differences accurate to ~h^2 f''' ~ 1e-6: tolerance 1e-5 + 1e-4 relative. */
START_TEST(test_gradients_match_differences)
{
	enum nn_loss_kind kind = (enum nn_loss_kind)(_i / 2);
	bool logits = _i % 2;
	const size_t n = 3;
	const uint32_t k = 4;
	struct nn_rng rng;
	nn_rng_seed(&rng, 77 + (uint64_t)_i);
	float a[12], y[12], g[12];
	for (int i = 0; i < 12; i++) {
		a[i] = (float)(0.05 + 0.9 * nn_rng_uniform(&rng));
		y[i] = (float)nn_rng_uniform(&rng);
		if (kind == NN_LOSS_MSE || kind == NN_LOSS_HUBER)
			y[i] = (float)(3 * nn_rng_uniform(&rng) - 1); /* both huber regions */
		if (kind == NN_LOSS_MAE && fabsf(a[i] - y[i]) < 0.01f)
			y[i] += 0.1f; /* stay off mae's kink */
	}
	for (size_t r = 0; r < n; r++)
		y[r] = kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? (float)(r % k) : y[r];
	batch_loss(kind, logits, false, a, a, y, n, k, g);
	for (int i = 0; i < 12; i++) {
		float plus[12], minus[12];
		memcpy(plus, a, sizeof plus);
		memcpy(minus, a, sizeof minus);
		plus[i] = a[i] + 1e-3f;
		minus[i] = a[i] - 1e-3f;
		double numeric = (batch_loss(kind, logits, false, plus, plus, y, n, k, NULL) -
				  batch_loss(kind, logits, false, minus, minus, y, n, k, NULL)) /
				 ((double)plus[i] - minus[i]);
		ck_assert_msg(fabs(g[i] - numeric) <= 1e-5 + 1e-4 * fabs(numeric),
			      "%s logits %d i %d: %g vs %g", nn_loss_table[kind].name, logits, i,
			      g[i], numeric);
	}
}
END_TEST

START_TEST(test_accuracy)
{
	/* sparse: argmax == label (first maximum wins ties) */
	const float a[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.5f, 0.0f}, labels[2] = {1, 1};
	struct nn_loss_io io = {.a = a, .y = labels, .n = 2, .k = 3, .y_dim = 1};
	ck_assert_double_eq(nn_loss_table[NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY].correct(&io), 1.0);
	/* categorical: argmax(p) == argmax(y) */
	const float onehot[6] = {0, 1, 0, 1, 0, 0};
	io.y = onehot;
	io.y_dim = 3;
	ck_assert_double_eq(nn_loss_table[NN_LOSS_CATEGORICAL_CROSSENTROPY].correct(&io), 2.0);
	/* binary: (p > 0.5) == (y > 0.5) per output, averaged over outputs */
	const float p[4] = {0.9f, 0.2f, 0.5f, 0.6f}, t[4] = {1, 1, 0, 0};
	struct nn_loss_io b = {.a = p, .y = t, .n = 2, .k = 2, .y_dim = 2};
	ck_assert_double_eq(nn_loss_table[NN_LOSS_BINARY_CROSSENTROPY].correct(&b), 1.0);
	/* from logits: threshold 0 */
	const float zl[2] = {-0.1f, 0.1f}, tl[2] = {0, 1};
	struct nn_loss_io l = {.a = zl, .y = tl, .n = 2, .k = 1, .y_dim = 1, .from_logits = true};
	ck_assert_double_eq(nn_loss_table[NN_LOSS_BINARY_CROSSENTROPY].correct(&l), 2.0);
	ck_assert_ptr_null(nn_loss_table[NN_LOSS_MSE].correct);
}
END_TEST

Suite *suite_nn_loss(void)
{
	Suite *s = suite_create("nn_loss");
	TCase *tc = tcase_create("loss");
	tcase_add_test(tc, test_regression_values);
	tcase_add_test(tc, test_binary_crossentropy_values);
	tcase_add_test(tc, test_categorical_values);
	tcase_add_loop_test(tc, test_gradients_match_differences, 0, 2 * NN_LOSS_COUNT);
	tcase_add_test(tc, test_accuracy);
	suite_add_tcase(s, tc);
	return s;
}
