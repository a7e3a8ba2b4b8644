/*
 * test_nn_opt.c — core/nn_opt.c: three steps of every optimizer on a fixed
 * gradient against values computed by hand (the arithmetic is written out;
 * the digits were checked with a double-precision Python script). Two
 * parameters, w0 = [1, 1], gradient g = [0.5, -2] at every step, lr 0.1.
 */
#include <check.h>
#include <math.h>

#include "core/nn_internal.h"

Suite *suite_nn_opt(void);

/* Runs three steps and compares each with expected[step][param]. float32
 * arithmetic against a double reference: a few ulp of values near 1 per
 * step, so 2e-6 absolute. */
static void check_three_steps(struct nn_opt_spec *o, const double expected[3][2])
{
	float w[2] = {1.0f, 1.0f}, g[2] = {0.5f, -2.0f}, slots[4];
	const struct nn_opt_ops *ops = &nn_opt_table[o->kind];
	unsigned n_slots = ops->n_slots(o);
	ck_assert_uint_le(n_slots, 2);
	ops->reset(o, slots, 2);
	for (int t = 1; t <= 3; t++) {
		ops->step(o, (uint64_t)t, w, g, slots, 2, 2);
		for (int i = 0; i < 2; i++)
			ck_assert_double_eq_tol(w[i], expected[t - 1][i], 2e-6);
	}
}

START_TEST(test_sgd_plain)
{
	/* w -= lr g: w0 = 1 - 0.1*0.5 = 0.95, 0.90, 0.85;
	 *            w1 = 1 + 0.1*2 = 1.2, 1.4, 1.6 */
	static const double expected[3][2] = {{0.95, 1.2}, {0.9, 1.4}, {0.85, 1.6}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_SGD, &o);
	o.learning_rate = 0.1;
	ck_assert_uint_eq(nn_opt_table[NN_OPT_SGD].n_slots(&o), 0);
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_sgd_momentum)
{
	/* m = 0.9 m - 0.1 g; w += m
	 * w0: m = -0.05 -> 0.95; m = -0.045-0.05 = -0.095 -> 0.855;
	 *     m = -0.0855-0.05 = -0.1355 -> 0.7195
	 * w1: m = 0.2 -> 1.2; m = 0.18+0.2 = 0.38 -> 1.58; m = 0.342+0.2 = 0.542 -> 2.122 */
	static const double expected[3][2] = {{0.95, 1.2}, {0.855, 1.58}, {0.7195, 2.122}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_SGD, &o);
	o.learning_rate = 0.1;
	o.momentum = 0.9;
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_sgd_nesterov)
{
	/* m = 0.9 m - 0.1 g; w += 0.9 m - 0.1 g
	 * w0: m = -0.05: 1 - 0.045 - 0.05 = 0.905; m = -0.095: 0.905 - 0.0855 - 0.05
	 *     = 0.7695; m = -0.1355: 0.7695 - 0.12195 - 0.05 = 0.59755
	 * w1: m = 0.2: 1 + 0.18 + 0.2 = 1.38; m = 0.38: 1.38 + 0.342 + 0.2 = 1.922;
	 *     m = 0.542: 1.922 + 0.4878 + 0.2 = 2.6098 */
	static const double expected[3][2] = {{0.905, 1.38}, {0.7695, 1.922}, {0.59755, 2.6098}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_SGD, &o);
	o.learning_rate = 0.1;
	o.momentum = 0.9;
	o.nesterov = true;
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_adagrad)
{
	/* acc starts at 0.1; acc += g^2; w -= 0.1 g / sqrt(acc + 1e-7)
	 * w0: acc 0.35: 1 - 0.05/0.5916080 = 0.9154846; acc 0.60: - 0.05/0.7745967
	 *     = 0.8509349; acc 0.85: - 0.05/0.9219545 = 0.7967023
	 * w1: acc 4.1: 1 + 0.2/2.0248457 = 1.0987730; acc 8.1: + 0.2/2.8460499
	 *     = 1.1690458; acc 12.1: + 0.2/3.4785054 = 1.2265418 */
	static const double expected[3][2] = {
		{0.915484587, 1.09877296}, {0.85093487, 1.16904579}, {0.796702258, 1.22654175}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_ADAGRAD, &o);
	o.learning_rate = 0.1;
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_rmsprop_plain)
{
	/* v = 0.9 v + 0.1 g^2; w -= 0.1 g / sqrt(v + 1e-7)
	 * w0: v 0.025: 1 - 0.05/0.1581142 = 0.6837729; v 0.0475: - 0.05/0.2179452
	 *     = 0.4543574; v 0.06775: - 0.05/0.2602883 = 0.2622628
	 * w1: v 0.4: 1 + 0.2/0.6324556 = 1.3162277; v 0.76: + 0.2/0.8717798
	 *     = 1.5456435; v 1.084: + 0.2/1.0411532 = 1.7377381 */
	static const double expected[3][2] = {
		{0.683772866, 1.31622773}, {0.454357374, 1.54564345}, {0.262262828, 1.73773812}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_RMSPROP, &o);
	o.learning_rate = 0.1;
	ck_assert_uint_eq(nn_opt_table[NN_OPT_RMSPROP].n_slots(&o), 1);
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_rmsprop_momentum)
{
	/* as plain, then mom = 0.5 mom + inc; w -= mom
	 * w0: inc 0.3162271, 0.2294157, 0.1920948: mom 0.3162271 -> 0.6837729;
	 *     mom 0.1581136 + 0.2294157 = 0.3875293 -> 0.2962436;
	 *     mom 0.1937647 + 0.1920948 = 0.3858594 -> -0.0896153
	 * w1: inc -0.3162277, -0.2294157, -0.1920946: mom -0.3162277 -> 1.3162277;
	 *     mom -0.1581139 - 0.2294157 = -0.3875296 -> 1.7037573;
	 *     mom -0.1937648 - 0.1920946 = -0.3858594 -> 2.0896168 */
	static const double expected[3][2] = {
		{0.683772866, 1.31622773}, {0.296243807, 1.70375731}, {-0.0896152681, 2.08961678}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_RMSPROP, &o);
	o.learning_rate = 0.1;
	o.momentum = 0.5;
	ck_assert_uint_eq(nn_opt_table[NN_OPT_RMSPROP].n_slots(&o), 2);
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_adam)
{
	/* alpha_t = 0.1 sqrt(1 - 0.999^t) / (1 - 0.9^t): 0.0316228, 0.0235317, 0.0202011
	 * m += (g - m) 0.1; v += (g^2 - v) 0.001; w -= alpha m / (sqrt(v) + 1e-7)
	 * w0: m 0.05, v 0.00025: 0.0316228*0.05/(0.0158114+1e-7) = 0.0999994
	 *     -> 0.9000006; m 0.095, v 0.00049975: 0.0235317*0.095/(0.0223551+1e-7)
	 *     = 0.0999996 -> 0.8000011; m 0.1355, v 0.00074925:
	 *     0.0202011*0.1355/(0.0273724+1e-7) = 0.0999998 -> 0.7000014
	 * w1: m -0.2, v 0.004: step -0.0999998 -> 1.0999998; then 1.1999997,
	 *     1.2999996 (each step lr * (1 - ~2.5e-6)) */
	static const double expected[3][2] = {
		{0.900000632, 1.09999984}, {0.80000108, 1.19999973}, {0.700001445, 1.29999964}};
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_ADAM, &o);
	o.learning_rate = 0.1;
	check_three_steps(&o, expected);
}
END_TEST

START_TEST(test_defaults)
{
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_SGD, &o);
	ck_assert(o.learning_rate == 0.01 && o.momentum == 0.0 && !o.nesterov);
	nn_opt_defaults(NN_OPT_ADAGRAD, &o);
	ck_assert(o.learning_rate == 0.001 && o.initial_accumulator_value == 0.1 &&
		  o.epsilon == 1e-7);
	nn_opt_defaults(NN_OPT_RMSPROP, &o);
	ck_assert(o.learning_rate == 0.001 && o.rho == 0.9 && o.momentum == 0.0);
	nn_opt_defaults(NN_OPT_ADAM, &o);
	ck_assert(o.learning_rate == 0.001 && o.beta_1 == 0.9 && o.beta_2 == 0.999 &&
		  o.epsilon == 1e-7);
	/* adagrad's accumulator starts at initial_accumulator_value */
	float slots[3];
	nn_opt_defaults(NN_OPT_ADAGRAD, &o);
	nn_opt_table[NN_OPT_ADAGRAD].reset(&o, slots, 3);
	ck_assert(slots[0] == 0.1f && slots[2] == 0.1f);
}
END_TEST

Suite *suite_nn_opt(void)
{
	Suite *s = suite_create("nn_opt");
	TCase *tc = tcase_create("steps");
	tcase_add_test(tc, test_sgd_plain);
	tcase_add_test(tc, test_sgd_momentum);
	tcase_add_test(tc, test_sgd_nesterov);
	tcase_add_test(tc, test_adagrad);
	tcase_add_test(tc, test_rmsprop_plain);
	tcase_add_test(tc, test_rmsprop_momentum);
	tcase_add_test(tc, test_adam);
	tcase_add_test(tc, test_defaults);
	suite_add_tcase(s, tc);
	return s;
}
