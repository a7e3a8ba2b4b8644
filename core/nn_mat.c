/*
 * nn_mat.c — matrix products: the only file of fitd that calls CBLAS.
 *
 * Row-major single-precision gemm through cblas_sgemm, the same cut into
 * fixed tiles for threads lent by the caller, a naive reference for the
 * tests, and the process-wide BLAS settings and kernel names.
 *
 * DESIGN
 * A large product C = op(A) op(B) is cut along the longer of C's two sides
 * into at most TILE_MAX tiles of whole TILE_ALIGN-wide strips; each tile is
 * one sgemm call over the full k, so no sum is ever split. Each extra tile
 * packs the other operand once more (cutting the longer side keeps that the
 * smaller one); four tiles keep two or four threads busy for a few percent
 * of packing on one. The cut depends on
 * m, n and k alone: one thread or eight run the same calls on the same
 * bytes, and the same BLAS kernels give the same bits. Products under
 * TILE_MIN_MACS multiply-adds stay one call: below that a thread hand-off
 * costs more than it saves.
 */
#include <cblas.h>
#include <strings.h>

#include "nn_internal.h"

#define TILE_MIN_MACS ((size_t)1 << 22)
#define TILE_MAX 4
#define TILE_ALIGN 32

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

/* ---- tiles ------------------------------------------------------------------ */

struct gemm_args {
	bool trans_a, trans_b, split_m;
	size_t m, n, k, step;
	float alpha, beta;
	const float *a, *b;
	size_t lda, ldb, ldc;
	float *c;
};

/* Cuts an m x n x k product: returns the tile count, the strip width in
 * *step and whether the rows (m) are cut rather than the columns (n). */
static size_t plan_tiles(size_t m, size_t n, size_t k, size_t *step, bool *split_m)
{
	size_t macs = m * n * k, dim = m > n ? m : n;
	size_t tiles = macs / TILE_MIN_MACS;

	*split_m = m > n;
	*step = dim;
	if (tiles < 2 || dim < 2 * TILE_ALIGN)
		return 1;
	if (tiles > TILE_MAX)
		tiles = TILE_MAX;
	size_t width = (dim + tiles - 1) / tiles;
	width = (width + TILE_ALIGN - 1) / TILE_ALIGN * TILE_ALIGN;
	*step = width;
	return (dim + width - 1) / width;
}

size_t nn_mat_tiles(size_t m, size_t n, size_t k)
{
	size_t step;
	bool split_m;

	return plan_tiles(m, n, k, &step, &split_m);
}

static void gemm_tile(void *arg, size_t i)
{
	const struct gemm_args *g = arg;
	size_t lo = i * g->step, dim = g->split_m ? g->m : g->n;
	size_t len = dim - lo < g->step ? dim - lo : g->step;

	if (g->split_m) {
		/* rows lo.. of op(A) and of C */
		const float *a = g->trans_a ? g->a + lo : g->a + lo * g->lda;
		nn_mat_gemm(g->trans_a, g->trans_b, len, g->n, g->k, g->alpha, a, g->lda, g->b,
			    g->ldb, g->beta, g->c + lo * g->ldc, g->ldc);
	} else {
		/* columns lo.. of op(B) and of C */
		const float *b = g->trans_b ? g->b + lo * g->ldb : g->b + lo;
		nn_mat_gemm(g->trans_a, g->trans_b, g->m, len, g->k, g->alpha, g->a, g->lda, b,
			    g->ldb, g->beta, g->c + lo, g->ldc);
	}
}

void nn_mat_gemm_tiled(const struct nn_par *par, bool trans_a, bool trans_b, size_t m, size_t n,
		       size_t k, float alpha, const float *a, size_t lda, const float *b,
		       size_t ldb, float beta, float *c, size_t ldc)
{
	struct gemm_args g = {
		.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
		.alpha = alpha, .beta = beta, .a = a, .b = b, .lda = lda, .ldb = ldb,
		.ldc = ldc, .c = c,
	};
	size_t tiles = plan_tiles(m, n, k, &g.step, &g.split_m);

	if (tiles == 1) {
		nn_mat_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	nn_par_for(par, tiles, gemm_tile, &g);
}

/* ---- lent threads ------------------------------------------------------------ */

struct fp_task {
	nn_task_fn fn;
	void *arg;
};

static void fp_task_run(void *arg, size_t i)
{
	const struct fp_task *t = arg;
	unsigned saved = nn_fp_enter();

	t->fn(t->arg, i);
	nn_fp_leave(saved);
}

void nn_par_for(const struct nn_par *par, size_t n, nn_task_fn fn, void *arg)
{
	if (!par || !par->run || n < 2) {
		unsigned saved = nn_fp_enter();
		for (size_t i = 0; i < n; i++)
			fn(arg, i);
		nn_fp_leave(saved);
		return;
	}
	struct fp_task t = {fn, arg};
	par->run(par->ctx, n, fp_task_run, &t);
}

/* ---- reference -------------------------------------------------------------- */

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

/* ---- the BLAS library --------------------------------------------------------- */

void nn_blas_single_threaded(void)
{
	openblas_set_num_threads(1);
}

const char *nn_blas_name(void)
{
	return openblas_get_config();
}

const char *nn_blas_kernels(void)
{
	return openblas_get_corename();
}

const char *nn_blas_best_kernels(const char **features)
{
	const char *best = NULL, *why = "no AVX";

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
		if (__builtin_cpu_supports("avx512bf16")) {
			best = "Cooperlake";
			why = "AVX-512 F/BW/DQ/VL and BF16";
		} else {
			best = "SkylakeX";
			why = "AVX-512 F/BW/DQ/VL";
		}
	} else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		best = __builtin_cpu_is("amd") ? "Zen" : "Haswell";
		why = "AVX2 and FMA";
	} else if (__builtin_cpu_supports("avx")) {
		best = "Sandybridge";
		why = "AVX";
	}
#endif
	if (features)
		*features = why;
	return best;
}

int nn_blas_kernels_rank(const char *name)
{
	static const struct {
		const char *name;
		int rank;
	} ranks[] = {
		{"SkylakeX", 4}, {"Cooperlake", 4}, {"SapphireRapids", 4},
		{"Haswell", 3}, {"Zen", 3},
		{"Sandybridge", 2}, {"Bulldozer", 2}, {"Piledriver", 2}, {"Steamroller", 2},
		{"Excavator", 2},
	};

	for (size_t i = 0; name && i < sizeof ranks / sizeof ranks[0]; i++)
		if (strcasecmp(name, ranks[i].name) == 0)
			return ranks[i].rank;
	return 1;
}
