/*
 * bench.c — `make bench`: training throughput of fitd's core on one thread,
 * against OpenBLAS's own sgemm at the same shapes and the machine's measured
 * FMA peak, and a lone job's speed-up from lent threads; printed as a table.
 *
 * Workloads (issue 2): (a) 64-25-15-10 relu/relu/softmax, batch 32, 1,797 x 64
 * digits-shaped blobs; (b) 784-256-128-10, batch 128, 60,000 rows; (c)
 * 784-1024-1024-10, batch 256, 20,000 rows. All: Adam (Keras defaults),
 * sparse categorical crossentropy, shuffling, no validation. The data are
 * Gaussian blobs made here with fixed seeds (10 classes, centres N(0, s^2)
 * per feature, unit noise).
 *
 * It runs on the BLAS kernels the server would use (server/kernels.c: the
 * user's OPENBLAS_CORETYPE, else the best the CPU supports) and says which.
 * GFLOP/s counts the dense layers' matrix products only: forward X W,
 * backward X^T dZ and dZ W^T (none below the first layer), 2 m n k each.
 * "sgemm" runs the same sequence of products, same shapes, as single
 * cblas_sgemm calls in the same process: the ceiling the training loop is
 * held to. "peak" is this core's FMA throughput measured here with the
 * widest vectors it has (independent multiply-adds, no memory traffic).
 * The threads table trains (c) with 1 thread and with every CPU lent
 * through server/jobs/par.c, and checks both end with the same weights.
 * `bench a c` runs only the workloads named; `-n` skips the sgemm and peak
 * measurements; `-t` skips the threads table.
 *
 * `bench --data FILE HIDDEN BATCH EPOCHS` trains Dense(h, relu)... Dense(k,
 * softmax) with Adam on an MLPD file (../shared/bench/bench_data.py's
 * write_bin: the bytes PyTorch and the service are given) and prints one
 * line: samples/s over the epochs, one thread. bench/service_vs_torch.py
 * compares the service with it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/nn_internal.h"
#include "server/kernels.h"
#include "server/jobs/par.h"

struct workload {
	const char *name;
	uint32_t input_dim;
	uint32_t hidden[2];
	uint32_t classes;
	uint32_t batch;
	size_t rows;
	double spread;       /* class centre spread */
	unsigned epochs;     /* epochs per repetition */
	unsigned reps;       /* repetitions; the best is reported */
};

static const struct workload workloads[] = {
	{"(a) 64-25-15-10 b32", 64, {25, 15}, 10, 32, 1797, 0.3, 40, 7},
	{"(b) 784-256-128-10 b128", 784, {256, 128}, 10, 128, 60000, 0.15, 1, 3},
	{"(c) 784-1024-1024-10 b256", 784, {1024, 1024}, 10, 256, 20000, 0.15, 1, 3},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void make_blobs(const struct workload *w, float *x, float *y, uint64_t seed)
{
	struct nn_rng rng;
	nn_rng_seed(&rng, 1234);
	float *centres = malloc((size_t)w->classes * w->input_dim * sizeof(float));
	for (size_t i = 0; i < (size_t)w->classes * w->input_dim; i++)
		centres[i] = (float)(w->spread * nn_rng_normal(&rng));
	nn_rng_seed(&rng, seed);
	for (size_t r = 0; r < w->rows; r++) {
		uint32_t c = (uint32_t)nn_rng_below(&rng, w->classes);
		y[r] = (float)c;
		for (uint32_t j = 0; j < w->input_dim; j++)
			x[r * w->input_dim + j] =
				centres[(size_t)c * w->input_dim + j] + (float)nn_rng_normal(&rng);
	}
	free(centres);
}

static void make_spec(const struct workload *w, struct nn_model_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	spec->input_dim = w->input_dim;
	spec->n_layers = 3;
	nn_dense_defaults(&spec->layers[0], w->hidden[0], NN_ACT_RELU);
	nn_dense_defaults(&spec->layers[1], w->hidden[1], NN_ACT_RELU);
	nn_dense_defaults(&spec->layers[2], w->classes, NN_ACT_SOFTMAX);
	spec->loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec->opt);
}

/* Matrix-product flops of one training step of `rows` rows. */
static double step_flops(const struct workload *w, size_t rows)
{
	uint32_t dims[4] = {w->input_dim, w->hidden[0], w->hidden[1], w->classes};
	double flops = 0.0;
	for (int l = 0; l < 3; l++) {
		double mnk = 2.0 * (double)rows * dims[l] * dims[l + 1];
		flops += l == 0 ? 2 * mnk : 3 * mnk;
	}
	return flops;
}

/* GFLOP/s of the step's products alone: forward X W (beta 1, as the bias
 * pre-fill does), dW = X^T dZ, dX = dZ W^T, at full batch. */
static double sgemm_gflops(const struct workload *w, double min_seconds)
{
	uint32_t dims[4] = {w->input_dim, w->hidden[0], w->hidden[1], w->classes};
	size_t b = w->batch, widest = 1024;
	float *x = calloc(b * 1024, sizeof(float)), *g = calloc(b * 1024, sizeof(float));
	float *z = calloc(b * 1024, sizeof(float)), *dx = calloc(b * 1024, sizeof(float));
	float *wt = calloc(1024 * widest, sizeof(float)), *dw = calloc(1024 * widest, sizeof(float));
	for (size_t i = 0; i < b * 1024; i++)
		x[i] = g[i] = (float)((i % 7) * 0.1);
	for (size_t i = 0; i < 1024 * widest; i++)
		wt[i] = (float)((i % 5) * 0.01);
	double best = 0.0;
	/* best of 8 short runs: the machine is shared and noisy */
	for (int rep = 0; rep < 8; rep++) {
		long iterations = 0;
		double start = now(), elapsed;
		do {
			for (int l = 0; l < 3; l++)
				nn_mat_gemm(false, false, b, dims[l + 1], dims[l], 1.0f, x, dims[l], wt,
					    dims[l + 1], 1.0f, z, dims[l + 1]);
			for (int l = 2; l >= 0; l--) {
				nn_mat_gemm(true, false, dims[l], dims[l + 1], b, 1.0f, x, dims[l], g,
					    dims[l + 1], 0.0f, dw, dims[l + 1]);
				if (l > 0)
					nn_mat_gemm(false, true, b, dims[l], dims[l + 1], 1.0f, g,
						    dims[l + 1], wt, dims[l + 1], 0.0f, dx, dims[l]);
			}
			iterations++;
			elapsed = now() - start;
		} while (elapsed < min_seconds / 8);
		double gflops = step_flops(w, b) * (double)iterations / elapsed * 1e-9;
		if (gflops > best)
			best = gflops;
	}
	free(x), free(g), free(z), free(dx), free(wt), free(dw);
	return best;
}

/* Training samples per second: best repetition of w->epochs epochs, the
 * products lent to par (may be NULL). *params (may be NULL) gets the final
 * parameters (new; free with free()). */
static double train_samples(const struct workload *w, const struct nn_par *par, double *final_loss,
			    double *final_acc, float **params)
{
	float *x = malloc(w->rows * w->input_dim * sizeof(float));
	float *y = malloc(w->rows * sizeof(float));
	make_blobs(w, x, y, 1235);
	struct nn_model_spec spec;
	make_spec(w, &spec);
	struct nn_model *m = nn_model_create(&spec);
	struct nn_data data = {x, y, w->rows, w->input_dim, 1};
	struct nn_fit_opts opts = {.epochs = w->epochs * w->reps, .batch_size = w->batch,
				   .shuffle = true, .seed = 7};
	struct nn_rng rng;
	nn_rng_seed(&rng, 42);
	nn_model_init(m, &rng);
	int status;
	struct nn_train *t = nn_train_create(m, &data, NULL, &opts, &status);
	if (!t) {
		fprintf(stderr, "bench: trainer: %s\n", nn_strerror(status));
		exit(1);
	}
	nn_train_set_par(t, par);
	double best = 0.0;
	struct nn_epoch_log log = {0};
	for (unsigned rep = 0; rep < w->reps; rep++) {
		double start = now();
		for (unsigned e = 0; e < w->epochs; e++)
			if (nn_train_epoch(t, NULL, &log) != NN_OK) {
				fprintf(stderr, "bench: epoch failed\n");
				exit(1);
			}
		double rate = (double)w->rows * w->epochs / (now() - start);
		if (rate > best)
			best = rate;
	}
	*final_loss = log.loss;
	*final_acc = log.metric;
	if (params) {
		*params = malloc(nn_model_n_params(m) * sizeof(float));
		memcpy(*params, nn_model_params_const(m), nn_model_n_params(m) * sizeof(float));
	}
	nn_train_destroy(t);
	nn_model_destroy(m);
	free(x), free(y);
	return best;
}

/* ---- the machine's FMA peak ---------------------------------------------------- */

/* 12 independent chains of acc = acc * a + b: enough to cover the latency of
 * two FMA pipes; the values converge to b / (1 - a), never subnormal. Returns
 * GFLOP/s (2 flops per lane per FMA), the best of 5 runs of ~0.1 s. */
#define FMA_CHAINS 12
#if defined(__x86_64__) && defined(__GNUC__)
/* One round: each of the 12 chains advances by one FMA. Named variables, so
 * that the chains live in registers. */
#define FMA_ROUND(fma)                                                                             \
	do {                                                                                       \
		c0 = fma(c0, a, b), c1 = fma(c1, a, b), c2 = fma(c2, a, b), c3 = fma(c3, a, b);     \
		c4 = fma(c4, a, b), c5 = fma(c5, a, b), c6 = fma(c6, a, b), c7 = fma(c7, a, b);     \
		c8 = fma(c8, a, b), c9 = fma(c9, a, b), c10 = fma(c10, a, b), c11 = fma(c11, a, b); \
	} while (0)
#define FMA_PEAK(type, set1, fma, add, lanes)                                                      \
	double best = 0.0;                                                                         \
	for (int rep = 0; rep < 5; rep++) {                                                        \
		type a = set1(0.999f), b = set1(0.001f);                                           \
		type c0 = set1(0), c1 = set1(1), c2 = set1(2), c3 = set1(3), c4 = set1(4);         \
		type c5 = set1(5), c6 = set1(6), c7 = set1(7), c8 = set1(8), c9 = set1(9);         \
		type c10 = set1(10), c11 = set1(11);                                               \
		long iters = 0;                                                                    \
		double start = now(), elapsed;                                                     \
		do {                                                                               \
			for (int r = 0; r < 1000; r++)                                             \
				FMA_ROUND(fma);                                                    \
			iters += 1000;                                                             \
			elapsed = now() - start;                                                   \
		} while (elapsed < 0.1);                                                           \
		type sum = add(add(add(add(c0, c1), add(c2, c3)), add(add(c4, c5), add(c6, c7))),  \
			       add(add(c8, c9), add(c10, c11)));                                   \
		float out[lanes];                                                                  \
		memcpy(out, &sum, sizeof out);                                                     \
		double gflops = (double)iters * FMA_CHAINS * (lanes) * 2 / elapsed * 1e-9;         \
		if (gflops > best && out[0] == out[0])                                             \
			best = gflops;                                                             \
	}                                                                                          \
	return best

__attribute__((target("avx512f"))) static double peak_avx512(void)
{
	FMA_PEAK(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16);
}

__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
	FMA_PEAK(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8);
}
#endif

/* The one-thread FMA peak of the widest vectors this CPU runs; *isa names them. */
static double fma_peak(const char **isa)
{
	*isa = "none measured";
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) {
		*isa = "AVX-512";
		return peak_avx512();
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		*isa = "AVX2+FMA";
		return peak_avx2();
	}
#endif
	return NAN;
}

/* "model name (family F, model M)" from /proc/cpuinfo: a virtual machine's
 * model name can be as vague as "AMD EPYC"; family and model pin it down. */
static void cpu_model(char *out, size_t size)
{
	char line[512], name[256] = "unknown CPU", family[16] = "?", model[16] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");

	/* the first processor's block ends at the first empty line */
	while (f && fgets(line, sizeof line, f) && line[0] != '\n') {
		char *value = strchr(line, ':');
		if (!value)
			continue;
		value += strspn(value, ": ");
		value[strcspn(value, "\n")] = '\0';
		if (strncmp(line, "model name", 10) == 0)
			snprintf(name, sizeof name, "%s", value);
		else if (strncmp(line, "cpu family", 10) == 0)
			snprintf(family, sizeof family, "%s", value);
		else if (strncmp(line, "model\t", 6) == 0)
			snprintf(model, sizeof model, "%s", value);
	}
	if (f)
		fclose(f);
	snprintf(out, size, "%s (family %s, model %s)", name, family, model);
}

/* ns per parameter of one Adam step over moments in float32's subnormal
 * range (a converged model's), in the thread's current floating-point mode. */
static double adam_ns(void)
{
	enum { N = 1 << 16, REPS = 200 };
	float *w = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float)), *slots = malloc(2 * N * sizeof(float));
	struct nn_opt_spec o;
	nn_opt_defaults(NN_OPT_ADAM, &o);
	for (size_t i = 0; i < N; i++) {
		w[i] = 1.0f;
		g[i] = 1e-20f;          /* g^2 = 1e-40: subnormal */
		slots[i] = 1e-39f;      /* m */
		slots[N + i] = 1e-40f;  /* v */
	}
	double start = now();
	for (int r = 0; r < REPS; r++)
		nn_opt_table[NN_OPT_ADAM].step(&o, 1000 + (uint64_t)r, w, g, slots, N, N);
	double ns = (now() - start) * 1e9 / ((double)N * REPS);
	free(w), free(g), free(slots);
	return ns;
}

/* The subnormal stall: the same step with IEEE subnormals and with the
 * core's flush-to-zero mode. */
static void subnormal_table(void)
{
	double ieee = adam_ns();
	unsigned saved = nn_fp_enter();
	double ftz = adam_ns();
	nn_fp_leave(saved);
	printf("\nAdam step over subnormal moments: %.2f ns/parameter with IEEE subnormals, %.2f with "
	       "flush-to-zero (the core's mode): %.1fx\n", ieee, ftz, ieee / ftz);
}

/* The threads table: (c) on 1 thread, then with n threads lent through a
 * par pool (as the server lends idle CPUs to a lone job). */
static void threads_table(const struct workload *w, unsigned n)
{
	double loss1, acc1, loss_n, acc_n;
	float *p1, *pn;
	double one = train_samples(w, NULL, &loss1, &acc1, &p1);
	struct par_pool *pool = par_start(n);
	struct nn_par hook = par_hook(pool);
	par_job_begin(pool);
	double many = train_samples(w, &hook, &loss_n, &acc_n, &pn);
	par_job_end(pool);
	par_stop(pool);
	size_t n_params = (size_t)w->input_dim * w->hidden[0] + w->hidden[0] +
			  (size_t)w->hidden[0] * w->hidden[1] + w->hidden[1] +
			  (size_t)w->hidden[1] * w->classes + w->classes;
	bool same = memcmp(p1, pn, n_params * sizeof(float)) == 0 && loss1 == loss_n;
	printf("\nA lone job lent every CPU (server/jobs/par.c), %s:\n", w->name);
	printf("%-10s %12s %9s\n", "threads", "samples/s", "speed-up");
	printf("%-10u %12.0f %8.2fx\n", 1u, one, 1.0);
	printf("%-10u %12.0f %8.2fx\n", n, many, many / one);
	printf("same weights with 1 and %u threads: %s\n", n, same ? "yes (bit for bit)" : "NO");
	free(p1), free(pn);
}

/* bench --data FILE HIDDEN BATCH EPOCHS: see the banner. */
static int data_mode(char **argv)
{
	FILE *f = fopen(argv[2], "rb");
	char magic[4];
	int32_t dims[3];
	if (!f || fread(magic, 1, 4, f) != 4 || memcmp(magic, "MLPD", 4) != 0 || fread(dims, 4, 3, f) != 3 ||
	    dims[0] < 1 || dims[1] < 1 || dims[1] > (int32_t)NN_MAX_INPUT_DIM || dims[2] < 2 || dims[2] > 65536) {
		fprintf(stderr, "bench: %s is not an MLPD file\n", argv[2]);
		return 2;
	}
	size_t n = (size_t)dims[0], d = (size_t)dims[1];
	float *x = malloc(n * d * sizeof(float)), *y = malloc(n * sizeof(float));
	int32_t *labels = malloc(n * sizeof(int32_t));
	if (!x || !y || !labels || fread(x, sizeof(float), n * d, f) != n * d || fread(labels, 4, n, f) != n) {
		fprintf(stderr, "bench: %s is truncated\n", argv[2]);
		return 2;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		y[i] = (float)labels[i];
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = (uint32_t)d;
	for (char *h = argv[3]; *h; h += *h == ',') {
		nn_dense_defaults(&spec.layers[spec.n_layers++], (uint32_t)strtoul(h, &h, 10), NN_ACT_RELU);
		if (spec.n_layers == NN_MAX_LAYERS - 1)
			break;
	}
	nn_dense_defaults(&spec.layers[spec.n_layers++], (uint32_t)dims[2], NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	struct nn_data data = {x, y, n, (uint32_t)d, 1};
	struct nn_fit_opts opts = {.epochs = (uint32_t)atoi(argv[5]), .batch_size = (uint32_t)atoi(argv[4]),
				   .shuffle = true, .seed = 1};
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	if (!m) {
		fprintf(stderr, "bench: invalid model\n");
		return 2;
	}
	nn_model_init(m, &rng);
	int status;
	struct nn_train *t = nn_train_create(m, &data, NULL, &opts, &status);
	if (!t) {
		fprintf(stderr, "bench: trainer: %s\n", nn_strerror(status));
		return 2;
	}
	struct nn_epoch_log log = {0};
	double start = now();
	while (!nn_train_done(t))
		if (nn_train_epoch(t, NULL, &log) != NN_OK) {
			fprintf(stderr, "bench: epoch failed\n");
			return 1;
		}
	double seconds = now() - start;
	printf("samples/s %.0f loss %.6f accuracy %.4f kernels %s\n", (double)n * opts.epochs / seconds, log.loss,
	       log.metric, kernels_name());
	nn_train_destroy(t);
	nn_model_destroy(m);
	free(x), free(y), free(labels);
	return 0;
}

int main(int argc, char **argv)
{
	/* the server's kernels: may execute the bench again */
	kernels_choose(argv);
	nn_blas_single_threaded();
	if (argc >= 2 && strcmp(argv[1], "--data") == 0) {
		if (argc != 6) {
			fprintf(stderr, "usage: bench --data FILE HIDDEN BATCH EPOCHS\n");
			return 2;
		}
		return data_mode(argv);
	}
	bool sgemm_too = true, threads_too = true, named = false;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-n") == 0)
			sgemm_too = false;
		else if (strcmp(argv[a], "-t") == 0)
			threads_too = false;
		else
			named = true;
	}
	char cpu[256];
	const char *isa;
	cpu_model(cpu, sizeof cpu);
	double peak = sgemm_too ? fma_peak(&isa) : NAN;
	printf("fitd core benchmark: one thread, float32, Adam, sparse CE, shuffled mini-batches\n");
	printf("CPU: %s (%ld CPUs available)\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
	printf("BLAS: %s\nkernels: %s (%s)\n", nn_blas_name(), kernels_name(), kernels_reason());
	if (sgemm_too)
		printf("FMA peak, one thread, %s: %.1f GFLOP/s\n", isa, peak);
	printf("\n%-27s %12s %9s %12s %8s %8s %8s %8s\n", "workload", "samples/s", "GFLOP/s",
	       "sgemm GF/s", "/sgemm", "/peak", "loss", "acc");
	bool ran_c = false;
	for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
		const struct workload *w = &workloads[i];
		/* `bench a c` runs only the workloads named (by their letter) */
		bool wanted = !named;
		for (int a = 1; a < argc; a++)
			wanted |= argv[a][0] == w->name[1] && argv[a][1] == '\0';
		if (!wanted)
			continue;
		double loss, acc;
		double samples = train_samples(w, NULL, &loss, &acc, NULL);
		double gflops = samples * step_flops(w, 1) * 1e-9;
		double sgemm = sgemm_too ? sgemm_gflops(w, 2.0) : NAN;
		printf("%-27s %12.0f %9.1f %12.1f %7.0f%% %7.0f%% %8.4f %8.4f\n", w->name, samples, gflops,
		       sgemm, 100.0 * gflops / sgemm, 100.0 * gflops / peak, loss, acc);
		fflush(stdout);
		ran_c |= w->name[1] == 'c';
	}
	printf("\nTargets (issue 10): (c) >= 85%% of sgemm and >= 75%% of the FMA peak.\n"
	       "PyTorch side by side: python3 bench/vs_torch.py (make bench runs it).\n");
	if (sgemm_too)
		subnormal_table();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (threads_too && ran_c && cpus > 1)
		threads_table(&workloads[2], (unsigned)cpus);
	return 0;
}
