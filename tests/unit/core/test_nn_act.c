/*
 * test_nn_act.c — core/nn_act.c: known values of every activation (the
 * closed forms evaluated in double here, within a few float32 ulps), stability at extreme inputs, and each backward
 * against central differences of its own forward.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/nn_internal.h"
#include "tests/unit/ulp.h"

Suite *suite_nn_act(void);

static float act1(enum nn_act act, float z, float alpha, bool approximate)
{
	struct nn_act_param p = {alpha, approximate};
	float a;
	nn_act_table[act].forward(&z, &a, 1, 1, &p);
	return a;
}

START_TEST(test_softmax_known_values)
{
	struct nn_act_param p = {0, false};
	float z[2] = {1000, 1000}, a[2];
	nn_act_table[NN_ACT_SOFTMAX].forward(z, a, 1, 2, &p);
	ck_assert(a[0] == 0.5f && a[1] == 0.5f);
	/* [1,2,3] -> e^k / (e + e^2 + e^3) = 0.09003057, 0.24472847, 0.66524096 */
	float z3[3] = {1, 2, 3}, a3[3];
	double sum3 = exp(1) + exp(2) + exp(3);
	nn_act_table[NN_ACT_SOFTMAX].forward(z3, a3, 1, 3, &p);
	ck_assert_ulps(a3[0], exp(1) / sum3, 4);
	ck_assert_ulps(a3[1], exp(2) / sum3, 4);
	ck_assert_ulps(a3[2], exp(3) / sum3, 4);
	/* extreme logits, two rows, in place */
	float x[6] = {-3e38f, 0, 3e38f, -1e30f, -1e30f, -1e30f};
	nn_act_table[NN_ACT_SOFTMAX].forward(x, x, 2, 3, &p);
	ck_assert(x[0] == 0.0f && x[1] == 0.0f && x[2] == 1.0f);
	for (int i = 3; i < 6; i++)
		ck_assert_ulps(x[i], 1.0 / 3, 4);
}
END_TEST

START_TEST(test_known_values)
{
	/* closed forms evaluated in double */
	ck_assert(act1(NN_ACT_LINEAR, -2.5f, 0, false) == -2.5f);
	ck_assert(act1(NN_ACT_RELU, -2.5f, 0, false) == 0.0f);
	ck_assert(act1(NN_ACT_RELU, 2.5f, 0, false) == 2.5f);
	ck_assert(act1(NN_ACT_SIGMOID, 0, 0, false) == 0.5f);
	ck_assert_ulps(act1(NN_ACT_SIGMOID, 2, 0, false), 1 / (1 + exp(-2.0)), 4);
	ck_assert(act1(NN_ACT_SIGMOID, -800, 0, false) == 0.0f);
	ck_assert(act1(NN_ACT_SIGMOID, 800, 0, false) == 1.0f);
	ck_assert_ulps(act1(NN_ACT_TANH, 0.5f, 0, false), tanh(0.5), 4);
	ck_assert_ulps(act1(NN_ACT_LEAKY_RELU, -2, 0.2f, false), -2 * (double)0.2f, 1);
	ck_assert(act1(NN_ACT_LEAKY_RELU, 3, 0.2f, false) == 3.0f);
	/* elu(-1) = alpha (e^-1 - 1) = -0.63212056 for alpha 1 */
	ck_assert_ulps(act1(NN_ACT_ELU, -1, 1, false), expm1(-1.0), 4);
	ck_assert_ulps(act1(NN_ACT_ELU, -1, 0.5f, false), 0.5 * expm1(-1.0), 4);
	ck_assert(act1(NN_ACT_ELU, 2, 1, false) == 2.0f);
	/* gelu(1) = 0.5 (1 + erf(1/sqrt 2)) = 0.84134475; tanh form 0.84119199 */
	ck_assert_ulps(act1(NN_ACT_GELU, 1, 0, false), 0.5 * (1 + erf(1 / sqrt(2.0))), 4);
	ck_assert_ulps(act1(NN_ACT_GELU, 1, 0, true), 0.5 * (1 + tanh(sqrt(2 / M_PI) * (1 + 0.044715))), 4);
	ck_assert_ulps(act1(NN_ACT_GELU, -2, 0, false), -2 * 0.5 * (1 + erf(-2 / sqrt(2.0))), 8);
	/* softplus(0) = log 2; softplus(100) = 100; softplus(-100) = e^-100 ~ 0 */
	ck_assert_ulps(act1(NN_ACT_SOFTPLUS, 0, 0, false), log(2.0), 4);
	ck_assert(act1(NN_ACT_SOFTPLUS, 100, 0, false) == 100.0f);
	ck_assert_float_le(act1(NN_ACT_SOFTPLUS, -100, 0, false), 1e-40f);
	/* swish(1) = sigma(1) = 0.73105858; swish(-1) = -0.26894142 */
	ck_assert_ulps(act1(NN_ACT_SWISH, 1, 0, false), 1 / (1 + exp(-1.0)), 4);
	ck_assert_ulps(act1(NN_ACT_SWISH, -1, 0, false), -1 / (1 + exp(1.0)), 4);
	ck_assert(act1(NN_ACT_SWISH, -1000, 0, false) == 0.0f);
}
END_TEST

START_TEST(test_no_nan_at_extremes)
{
	static const float zs[] = {-3e38f, -1e4f, -88.8f, -0.0f, 0.0f, 88.8f, 1e4f, 3e38f};
	for (int act = 0; act < NN_ACT_COUNT; act++) {
		for (int approx = 0; approx < 2; approx++) {
			struct nn_act_param p = {0.2f, approx};
			for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
				float z = zs[i], a, dz, da = 1.0f;
				nn_act_table[act].forward(&z, &a, 1, 1, &p);
				nn_act_table[act].backward(&z, &a, &da, &dz, 1, 1, &p);
				ck_assert_msg(!isnan(a) && !isnan(dz), "%s(%g) = %g, d %g",
					      nn_act_table[act].name, z, a, dz);
			}
		}
	}
}
END_TEST

/* backward(da) vs central differences of forward, over a 2 x 3 block with
 * random upstream gradients (this covers softmax's row coupling). h = 1e-3
 * on inputs of order 1: the float32 forward's rounding (~6e-8) over 2h gives
 * ~3e-5 of noise, truncation h^2 f''' / 6 ~ 1e-6; tolerance 2e-4 + 1e-3 rel. */
START_TEST(test_backward_matches_differences)
{
	static const float base[6] = {-2.1f, -0.7f, 0.35f, 1.3f, 2.4f, -0.05f};
	static const float da[6] = {0.3f, -1.1f, 0.8f, 0.5f, -0.4f, 1.7f};
	for (int act = 0; act < NN_ACT_COUNT; act++) {
		for (int approx = 0; approx < 2; approx++) {
			struct nn_act_param p = {act == NN_ACT_ELU ? 0.7f : 0.2f, approx};
			float z[6], a[6], dz[6];
			memcpy(z, base, sizeof z);
			nn_act_table[act].forward(z, a, 2, 3, &p);
			nn_act_table[act].backward(z, a, da, dz, 2, 3, &p);
			for (int i = 0; i < 6; i++) {
				/* (sum da f(z + h e_i) - sum da f(z - h e_i)) / (z+ - z-), with
				 * the float-rounded z+ and z- */
				double h = 1e-3, dot[2], at[2];
				for (int side = 0; side < 2; side++) {
					float zp[6], ap[6];
					memcpy(zp, base, sizeof zp);
					zp[i] = (float)(base[i] + (side ? h : -h));
					at[side] = zp[i];
					nn_act_table[act].forward(zp, ap, 2, 3, &p);
					dot[side] = 0;
					for (int j = 0; j < 6; j++)
						dot[side] += (double)da[j] * ap[j];
				}
				double expect = (dot[1] - dot[0]) / (at[1] - at[0]);
				ck_assert_msg(fabs(dz[i] - expect) <= 2e-4 + 1e-3 * fabs(expect),
					      "%s approx %d i %d: backward %g, differences %g",
					      nn_act_table[act].name, approx, i, dz[i], expect);
			}
		}
	}
}
END_TEST

Suite *suite_nn_act(void)
{
	Suite *s = suite_create("nn_act");
	TCase *tc = tcase_create("act");
	tcase_add_test(tc, test_softmax_known_values);
	tcase_add_test(tc, test_known_values);
	tcase_add_test(tc, test_no_nan_at_extremes);
	tcase_add_test(tc, test_backward_matches_differences);
	suite_add_tcase(s, tc);
	return s;
}
