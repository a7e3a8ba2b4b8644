/*
 * test_nn_init.c — core/nn_init.c: every initializer's sample mean, variance
 * and bounds within statistical tolerance, and nn_model_init's order and fans.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_init(void);

struct init_expect {
	enum nn_init kind;
	double variance; /* for fan_in 100, fan_out 300 */
	double bound;    /* largest |x| allowed */
};

/* glorot: 2/(fan_in+fan_out) = 0.005; he: 2/fan_in = 0.02; lecun: 1/fan_in = 0.01.
 * Uniform bound sqrt(3 var); truncated normal bound 2 sigma = 2 sqrt(var)/0.8796. */
static const struct init_expect expects[] = {
	{NN_INIT_GLOROT_UNIFORM, 0.005, 0.12247449},
	{NN_INIT_GLOROT_NORMAL, 0.005, 2 * 0.070710678 / 0.87962566103423978},
	{NN_INIT_HE_UNIFORM, 0.02, 0.24494897},
	{NN_INIT_HE_NORMAL, 0.02, 2 * 0.14142136 / 0.87962566103423978},
	{NN_INIT_LECUN_UNIFORM, 0.01, 0.17320508},
	{NN_INIT_LECUN_NORMAL, 0.01, 2 * 0.1 / 0.87962566103423978},
};

START_TEST(test_variance_scaling)
{
	const struct init_expect *e = &expects[_i];
	const size_t n = 200000;
	float *w = malloc(n * sizeof(float));
	struct nn_rng rng;
	nn_rng_seed(&rng, 100 + (uint64_t)_i);
	nn_init_fill(e->kind, w, n, 100, 300, &rng);
	double sum = 0, sq = 0, largest = 0;
	for (size_t i = 0; i < n; i++) {
		sum += w[i];
		sq += (double)w[i] * w[i];
		largest = fmax(largest, fabs(w[i]));
	}
	double mean = sum / n, var = sq / n - mean * mean;
	/* mean: 6 standard errors sqrt(var/n); variance: relative standard error
	 * about sqrt(0.8/n) = 0.2% for these shapes, allow 2%. */
	ck_assert_double_le(fabs(mean), 6 * sqrt(e->variance / n));
	ck_assert_double_eq_tol(var / e->variance, 1.0, 0.02);
	ck_assert_double_le(largest, e->bound * (1 + 1e-6));
	/* and the draws reach near the bound (not a narrower distribution) */
	ck_assert_double_ge(largest, e->bound * 0.97);
	free(w);
}
END_TEST

START_TEST(test_constants)
{
	float w[5] = {9, 9, 9, 9, 9};
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	struct nn_rng before = rng;
	nn_init_fill(NN_INIT_ZEROS, w, 5, 3, 4, &rng);
	for (int i = 0; i < 5; i++)
		ck_assert(w[i] == 0.0f);
	nn_init_fill(NN_INIT_ONES, w, 5, 3, 4, &rng);
	for (int i = 0; i < 5; i++)
		ck_assert(w[i] == 1.0f);
	/* constants draw nothing */
	ck_assert(memcmp(&before, &rng, sizeof rng) == 0);
}
END_TEST

START_TEST(test_model_init_order_and_bias_fans)
{
	/* 3 -> Dense(4) -> Dropout -> Dense(2), he_uniform biases: draws go layer by
	 * layer, kernel then bias; a bias's fans are its own (units, units), as
	 * Keras computes them for a 1-D shape. */
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 3;
	spec.n_layers = 3;
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_RELU);
	spec.layers[0].bias_init = NN_INIT_HE_UNIFORM;
	spec.layers[1].kind = NN_LAYER_DROPOUT;
	spec.layers[1].rate = 0.5;
	nn_dense_defaults(&spec.layers[2], 2, NN_ACT_LINEAR);
	spec.layers[2].kernel_init = NN_INIT_LECUN_NORMAL;
	spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(nn_model_n_params(m), 3 * 4 + 4 + 4 * 2 + 2);
	struct nn_rng rng, ref;
	nn_rng_seed(&rng, 5);
	nn_rng_seed(&ref, 5);
	nn_model_init(m, &rng);
	float expect[26];
	nn_init_fill(NN_INIT_GLOROT_UNIFORM, expect, 12, 3, 4, &ref);
	nn_init_fill(NN_INIT_HE_UNIFORM, expect + 12, 4, 4, 4, &ref);
	nn_init_fill(NN_INIT_LECUN_NORMAL, expect + 16, 8, 4, 2, &ref);
	nn_init_fill(NN_INIT_ZEROS, expect + 24, 2, 2, 2, &ref);
	ck_assert(memcmp(expect, nn_model_params(m), sizeof expect) == 0);
	ck_assert(memcmp(&rng, &ref, sizeof rng) == 0);
	for (int i = 12; i < 16; i++)
		ck_assert_float_le(fabsf(nn_model_params(m)[i]), sqrtf(6.0f / 4.0f));
	nn_model_destroy(m);
}
END_TEST

Suite *suite_nn_init(void)
{
	Suite *s = suite_create("nn_init");
	TCase *tc = tcase_create("init");
	tcase_add_loop_test(tc, test_variance_scaling, 0, (int)(sizeof expects / sizeof expects[0]));
	tcase_add_test(tc, test_constants);
	tcase_add_test(tc, test_model_init_order_and_bias_fans);
	suite_add_tcase(s, tc);
	return s;
}
