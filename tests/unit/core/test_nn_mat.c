/*
 * test_nn_mat.c — core/nn_mat.c: the CBLAS gemm against the naive triple
 * loop on random shapes (odd sizes, transposes, padded strides, alpha/beta);
 * the tiled product against the same reference and bit for bit against
 * itself whatever order or thread runs its tiles; core/nn_fp.c's
 * flush-to-zero mode.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_mat(void);

static void fill(struct nn_rng *rng, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(2.0 * nn_rng_uniform(rng) - 1.0);
}

START_TEST(test_gemm_matches_naive)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, 11);
	for (int trial = 0; trial < 120; trial++) {
		bool ta = trial & 1, tb = trial & 2;
		size_t m = 1 + nn_rng_below(&rng, 70), n = 1 + nn_rng_below(&rng, 70);
		size_t k = 1 + nn_rng_below(&rng, 130);
		size_t pad = nn_rng_below(&rng, 3);
		/* stored shapes: A is m x k (k x m when transposed), B is k x n (n x k) */
		size_t a_rows = ta ? k : m, a_cols = ta ? m : k;
		size_t b_rows = tb ? n : k, b_cols = tb ? k : n;
		size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
		float *a = malloc(a_rows * lda * sizeof(float));
		float *b = malloc(b_rows * ldb * sizeof(float));
		float *c1 = malloc(m * ldc * sizeof(float)), *c2 = malloc(m * ldc * sizeof(float));
		fill(&rng, a, a_rows * lda);
		fill(&rng, b, b_rows * ldb);
		fill(&rng, c1, m * ldc);
		memcpy(c2, c1, m * ldc * sizeof(float));
		float alpha = trial % 5 == 0 ? 0.5f : 1.0f;
		float beta = trial % 3 == 0 ? 0.0f : trial % 3 == 1 ? 1.0f : -0.25f;
		nn_mat_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc);
		nn_mat_gemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
		/* float32 accumulation of k products of magnitude <= 1: error bound
		 * ~ k * 2^-24 * sum|a b| <= k^2 * 6e-8; 1e-5 * k is loose for k <= 130
		 * but catches any indexing or transpose mistake (errors of O(1)). */
		for (size_t i = 0; i < m; i++)
			for (size_t j = 0; j < n; j++)
				ck_assert_float_eq_tol(c1[i * ldc + j], c2[i * ldc + j], 1e-5f * (float)k);
		free(a), free(b), free(c1), free(c2);
	}
}
END_TEST

/* Parallel-for stand-ins: tiles in reverse order, and odd tiles before even
 * ones: any order must give the same bits. */
static void run_reverse(void *ctx, size_t n, nn_task_fn fn, void *arg)
{
	(void)ctx;
	for (size_t i = n; i-- > 0;)
		fn(arg, i);
}

static void run_odd_first(void *ctx, size_t n, nn_task_fn fn, void *arg)
{
	(void)ctx;
	for (size_t i = 1; i < n; i += 2)
		fn(arg, i);
	for (size_t i = 0; i < n; i += 2)
		fn(arg, i);
}

START_TEST(test_tiled_matches_naive_and_itself)
{
	static const struct nn_par reverse = {run_reverse, NULL}, odd_first = {run_odd_first, NULL};
	/* shapes over the tiling threshold: rows cut (m > n) and columns cut */
	static const size_t shapes[][3] = {{600, 130, 160}, {130, 600, 160}, {257, 300, 131}, {96, 1000, 140}};
	struct nn_rng rng;
	nn_rng_seed(&rng, 12);
	for (int trial = 0; trial < 8; trial++) {
		bool ta = trial & 1, tb = trial & 2;
		size_t m = shapes[trial % 4][0], n = shapes[trial % 4][1], k = shapes[trial % 4][2];
		ck_assert_uint_ge(nn_mat_tiles(m, n, k), 2);
		size_t lda = ta ? m : k, ldb = tb ? k : n, a_rows = ta ? k : m, b_rows = tb ? n : k;
		float *a = malloc(a_rows * lda * sizeof(float)), *b = malloc(b_rows * ldb * sizeof(float));
		float *c[4];
		for (int i = 0; i < 4; i++)
			c[i] = malloc(m * n * sizeof(float));
		fill(&rng, a, a_rows * lda);
		fill(&rng, b, b_rows * ldb);
		fill(&rng, c[0], m * n);
		for (int i = 1; i < 4; i++)
			memcpy(c[i], c[0], m * n * sizeof(float));
		float beta = trial < 4 ? 0.0f : 1.0f;
		nn_mat_gemm_naive(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c[0], n);
		nn_mat_gemm_tiled(NULL, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c[1], n);
		nn_mat_gemm_tiled(&reverse, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c[2], n);
		nn_mat_gemm_tiled(&odd_first, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c[3], n);
		/* the bound of test_gemm_matches_naive */
		for (size_t i = 0; i < m * n; i++)
			ck_assert_float_eq_tol(c[1][i], c[0][i], 1e-5f * (float)k);
		ck_assert(memcmp(c[1], c[2], m * n * sizeof(float)) == 0);
		ck_assert(memcmp(c[1], c[3], m * n * sizeof(float)) == 0);
		for (int i = 0; i < 4; i++)
			free(c[i]);
		free(a), free(b);
	}
}
END_TEST

START_TEST(test_tiles_depend_on_shape_only)
{
	/* small products are one call; large ones at most 4 tiles */
	ck_assert_uint_eq(nn_mat_tiles(32, 25, 64), 1);
	ck_assert_uint_eq(nn_mat_tiles(256, 1024, 784), 4);
	ck_assert_uint_eq(nn_mat_tiles(1, 1 << 20, 64), 4);
	ck_assert_uint_eq(nn_mat_tiles(600, 130, 160), 2);
	ck_assert_uint_eq(nn_mat_tiles(0, 0, 0), 1);
}
END_TEST

START_TEST(test_flush_to_zero)
{
#if defined(__x86_64__) || defined(__SSE__)
	volatile float tiny = 1e-38f, sub = 1e-40f, half = 0.5f, big = 1e10f;
	unsigned saved = nn_fp_enter();
	float flushed = tiny * half, zeroed = sub * big;
	nn_fp_leave(saved);
	/* flush-to-zero: a subnormal result is 0; denormals-are-zero: a
	 * subnormal input reads as 0 */
	ck_assert(flushed == 0.0f);
	ck_assert(zeroed == 0.0f);
	/* and the caller's mode is back: the same products are not flushed */
	float kept = tiny * half, scaled = sub * big;
	ck_assert(kept > 0.0f && kept < 1e-38f);
	ck_assert_float_eq_tol(scaled, 1e-30f, 1e-35f);
#endif
}
END_TEST

START_TEST(test_naive_known_product)
{
	/* [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]; A^T B = [26 30; 38 44] */
	const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
	float c[4];
	nn_mat_gemm(false, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	ck_assert(c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50);
	nn_mat_gemm_naive(true, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	ck_assert(c[0] == 26 && c[1] == 30 && c[2] == 38 && c[3] == 44);
	nn_mat_gemm(true, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	ck_assert(c[0] == 26 && c[1] == 30 && c[2] == 38 && c[3] == 44);
	/* A B^T = [17 23; 39 53] */
	nn_mat_gemm(false, true, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	ck_assert(c[0] == 17 && c[1] == 23 && c[2] == 39 && c[3] == 53);
}
END_TEST

START_TEST(test_blas_info)
{
	nn_blas_single_threaded();
	ck_assert_ptr_nonnull(nn_blas_name());
	ck_assert(strlen(nn_blas_name()) > 0);
}
END_TEST

Suite *suite_nn_mat(void)
{
	Suite *s = suite_create("nn_mat");
	TCase *tc = tcase_create("gemm");
	tcase_add_test(tc, test_gemm_matches_naive);
	tcase_add_test(tc, test_naive_known_product);
	tcase_add_test(tc, test_blas_info);
	tcase_add_test(tc, test_tiled_matches_naive_and_itself);
	tcase_add_test(tc, test_tiles_depend_on_shape_only);
	tcase_add_test(tc, test_flush_to_zero);
	suite_add_tcase(s, tc);
	return s;
}
