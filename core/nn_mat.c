/*
 * nn_mat.c — matrix products: the only file of fitd that calls CBLAS.
 *
 * Row-major single-precision gemm through cblas_sgemm, a naive reference
 * for the tests, and the process-wide BLAS settings.
 */
#include <cblas.h>

#include "nn_internal.h"

void nn_mat_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
		 const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
		 size_t ldc)
{
	if (m == 0 || n == 0)
		return;
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
		    b, (int)ldb, beta, c, (int)ldc);
}

void nn_mat_gemm_naive(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
		       const float *a, size_t lda, const float *b, size_t ldb, float beta,
		       float *c, size_t ldc)
{
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < n; j++) {
			double sum = 0.0;
			for (size_t p = 0; p < k; p++) {
				double x = trans_a ? a[p * lda + i] : a[i * lda + p];
				double y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
				sum += x * y;
			}
			double prior = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
			c[i * ldc + j] = (float)((double)alpha * sum + prior);
		}
	}
}

void nn_blas_single_threaded(void)
{
	openblas_set_num_threads(1);
}

const char *nn_blas_name(void)
{
	return openblas_get_config();
}
