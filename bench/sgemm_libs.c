/*
 * sgemm_libs.c — single-precision GEMM of one BLAS library at fitd's shapes,
 * one thread: the measurement behind the choice of kernels (bench/README.md).
 * Built once per library by bench/sgemm_libs.sh: -DLIB_OPENBLAS, -DLIB_BLIS
 * (both through CBLAS) or -DLIB_DNNL (oneDNN's dnnl_sgemm, row-major).
 * Prints one line per shape: GFLOP/s, best of several runs of ~0.2 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(LIB_DNNL)
#include <dnnl.h>
#else
#include <cblas.h>
#endif

/* fitd's products: forward X W (NN), dW = X^T dZ (TN), dX = dZ W^T (NT) */
static const struct shape {
	const char *name;
	char ta, tb;
	int m, n, k;
} shapes[] = {
	{"(b) fwd 128x256x784", 'N', 'N', 128, 256, 784},
	{"(b) dW 784x256x128", 'T', 'N', 784, 256, 128},
	{"(c) fwd 256x1024x784", 'N', 'N', 256, 1024, 784},
	{"(c) fwd 256x1024x1024", 'N', 'N', 256, 1024, 1024},
	{"(c) dW 1024x1024x256", 'T', 'N', 1024, 1024, 256},
	{"(c) dX 256x1024x1024", 'N', 'T', 256, 1024, 1024},
	{"square 1024^3", 'N', 'N', 1024, 1024, 1024},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void gemm(const struct shape *s, const float *a, const float *b, float *c)
{
	int lda = s->ta == 'T' ? s->m : s->k, ldb = s->tb == 'T' ? s->k : s->n;
#if defined(LIB_DNNL)
	dnnl_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
#else
	cblas_sgemm(CblasRowMajor, s->ta == 'T' ? CblasTrans : CblasNoTrans,
		    s->tb == 'T' ? CblasTrans : CblasNoTrans, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
		    s->n);
#endif
}

int main(void)
{
	const char *lib =
#if defined(LIB_DNNL)
		"oneDNN dnnl_sgemm";
#elif defined(LIB_BLIS)
		"BLIS";
#else
		openblas_get_corename();
	openblas_set_num_threads(1);
#endif
	float *a = malloc(1024 * 1024 * sizeof(float)), *b = malloc(1024 * 1024 * sizeof(float));
	float *c = malloc(1024 * 1024 * sizeof(float));
	for (int i = 0; i < 1024 * 1024; i++) {
		a[i] = (float)(i % 13) * 0.01f;
		b[i] = (float)(i % 7) * 0.02f;
	}
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const struct shape *s = &shapes[i];
		double best = 0.0;
		gemm(s, a, b, c);
		for (int rep = 0; rep < 5; rep++) {
			long calls = 0;
			double start = now(), elapsed;
			do {
				gemm(s, a, b, c);
				calls++;
				elapsed = now() - start;
			} while (elapsed < 0.2);
			double gflops = 2.0 * s->m * s->n * s->k * (double)calls / elapsed * 1e-9;
			if (gflops > best)
				best = gflops;
		}
		printf("%s\t%s\t%.1f\n", lib, s->name, best);
		fflush(stdout);
	}
	free(a), free(b), free(c);
	return 0;
}
