/*
 * test_nn_mat.c — core/nn_mat.c: the CBLAS gemm against the naive triple
 * loop on random shapes (odd sizes, transposes, padded strides, alpha/beta).
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
	suite_add_tcase(s, tc);
	return s;
}
