/*
 * test_nn_rng.c — core/nn_rng.c: known outputs of splitmix64 + xoshiro256**
 * (computed once with an independent Python implementation of the published
 * algorithms), determinism, ranges and simple statistics.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn.h"

Suite *suite_nn_rng(void);

START_TEST(test_known_outputs)
{
	/* Python reference: seed(42) -> state from four splitmix64 steps, then
	 * the first xoshiro256** outputs. */
	struct nn_rng rng;
	nn_rng_seed(&rng, 42);
	ck_assert_uint_eq(rng.s[0], 0xbdd732262feb6e95ULL);
	ck_assert_uint_eq(rng.s[1], 0x28efe333b266f103ULL);
	ck_assert_uint_eq(rng.s[2], 0x47526757130f9f52ULL);
	ck_assert_uint_eq(rng.s[3], 0x581ce1ff0e4ae394ULL);
	ck_assert_uint_eq(nn_rng_next(&rng), 0x15780b2e0c2ec716ULL);
	ck_assert_uint_eq(nn_rng_next(&rng), 0x6104d9866d113a7eULL);
	ck_assert_uint_eq(nn_rng_next(&rng), 0xae17533239e499a1ULL);

	/* splitmix64(0)'s first output is the published 0xe220a8397b1dcdaf */
	nn_rng_seed(&rng, 0);
	ck_assert_uint_eq(rng.s[0], 0xe220a8397b1dcdafULL);
	ck_assert_uint_eq(nn_rng_next(&rng), 0x99ec5f36cb75f2b4ULL);
	ck_assert_uint_eq(nn_rng_next(&rng), 0xbf6e1f784956452aULL);

	/* uniform = (next >> 11) * 2^-53 */
	nn_rng_seed(&rng, 42);
	ck_assert(nn_rng_uniform(&rng) == 0x15780b2e0c2ec716ULL / 2048 * 0x1.0p-53);
}
END_TEST

START_TEST(test_determinism_and_copy)
{
	struct nn_rng a, b;
	nn_rng_seed(&a, 7);
	nn_rng_seed(&b, 7);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(nn_rng_next(&a), nn_rng_next(&b));
	/* the state is the struct: a copy continues the same stream */
	struct nn_rng saved = a;
	double x = nn_rng_normal(&a);
	ck_assert(x == nn_rng_normal(&saved));
	ck_assert(memcmp(&a, &saved, sizeof a) == 0);
	nn_rng_seed(&b, 8);
	ck_assert_uint_ne(nn_rng_next(&a), nn_rng_next(&b));
}
END_TEST

START_TEST(test_uniform_and_normal_statistics)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	const int n = 200000;
	double sum = 0, sq = 0, nsum = 0, nsq = 0;
	for (int i = 0; i < n; i++) {
		double u = nn_rng_uniform(&rng);
		ck_assert(u >= 0.0 && u < 1.0);
		sum += u;
		sq += u * u;
		double z = nn_rng_normal(&rng);
		ck_assert(isfinite(z));
		nsum += z;
		nsq += z * z;
	}
	/* 5-sigma bounds: sd of the mean of U(0,1) is sqrt(1/12/n) ~ 6.5e-4,
	 * of N(0,1) 1/sqrt(n) ~ 2.2e-3; of the sample variance of N(0,1)
	 * sqrt(2/n) ~ 3.2e-3. */
	ck_assert_double_eq_tol(sum / n, 0.5, 0.0033);
	ck_assert_double_eq_tol(sq / n - (sum / n) * (sum / n), 1.0 / 12, 0.002);
	ck_assert_double_eq_tol(nsum / n, 0.0, 0.011);
	ck_assert_double_eq_tol(nsq / n, 1.0, 0.016);
}
END_TEST

START_TEST(test_below)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, 3);
	ck_assert_uint_eq(nn_rng_below(&rng, 1), 0);
	int counts[7] = {0};
	const int n = 70000;
	for (int i = 0; i < n; i++) {
		uint64_t x = nn_rng_below(&rng, 7);
		ck_assert_uint_lt(x, 7);
		counts[x]++;
	}
	/* each count ~ Binomial(n, 1/7): sd ~ 93, allow 5 sd */
	for (int i = 0; i < 7; i++)
		ck_assert_int_lt(abs(counts[i] - n / 7), 465);
	/* huge bounds stay in range (the rejection path) */
	uint64_t big = (1ULL << 63) + 12345;
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_lt(nn_rng_below(&rng, big), big);
}
END_TEST

Suite *suite_nn_rng(void)
{
	Suite *s = suite_create("nn_rng");
	TCase *tc = tcase_create("rng");
	tcase_add_test(tc, test_known_outputs);
	tcase_add_test(tc, test_determinism_and_copy);
	tcase_add_test(tc, test_uniform_and_normal_statistics);
	tcase_add_test(tc, test_below);
	suite_add_tcase(s, tc);
	return s;
}
