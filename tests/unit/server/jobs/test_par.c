/*
 * test_par.c — server/jobs/par.c, the helper threads a lone job borrows: every
 * tile runs exactly once, helpers really take tiles, and a training run gives
 * the same bits with 1, 2 or 4 threads (the same weights_sha256 whatever the
 * thread count).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn.h"
#include "server/jobs/par.h"

Suite *suite_par(void);

struct counts {
	atomic_int calls[1000];
};

static void count_call(void *arg, size_t i)
{
	struct counts *c = arg;
	atomic_fetch_add(&c->calls[i], 1);
}

START_TEST(test_every_tile_once)
{
	struct par_pool *p = par_start(4);
	ck_assert_ptr_nonnull(p);
	struct nn_par hook = par_hook(p);
	struct counts *c = calloc(1, sizeof *c);
	par_job_begin(p);
	for (size_t n = 0; n <= 1000; n += 37) {
		memset(c, 0, sizeof *c);
		hook.run(hook.ctx, n, count_call, c);
		for (size_t i = 0; i < 1000; i++)
			ck_assert_int_eq(atomic_load(&c->calls[i]), i < n ? 1 : 0);
	}
	par_job_end(p);
	free(c);
	par_stop(p);
	par_stop(NULL);
}
END_TEST

/* Wraps a pool's hook to record how many tiles ran off the calling thread. */
struct spy {
	struct nn_par inner;
	pthread_t caller;
	atomic_long helped, total;
	nn_task_fn fn;
	void *arg;
};

static void spy_tile(void *arg, size_t i)
{
	struct spy *s = arg;
	if (!pthread_equal(pthread_self(), s->caller))
		atomic_fetch_add(&s->helped, 1);
	atomic_fetch_add(&s->total, 1);
	s->fn(s->arg, i);
}

static void spy_run(void *ctx, size_t n, nn_task_fn fn, void *arg)
{
	struct spy *s = ctx;
	s->caller = pthread_self();
	s->fn = fn;
	s->arg = arg;
	s->inner.run(s->inner.ctx, n, spy_tile, s);
}

/* Trains 64-512-512-10 (products over the tiling threshold, Adam over more
 * than two optimizer chunks) for 2 epochs with `threads` threads (0: no
 * pool at all) and returns the parameters (new; free with free()). */
static float *train(unsigned threads, double *loss, long *helped, long *tiles)
{
	enum { ROWS = 512, D = 64, K = 10 };
	float *x = malloc(ROWS * D * sizeof(float)), *y = malloc(ROWS * sizeof(float));
	struct nn_rng rng;
	nn_rng_seed(&rng, 77);
	for (size_t i = 0; i < ROWS * D; i++)
		x[i] = (float)nn_rng_normal(&rng);
	for (size_t r = 0; r < ROWS; r++)
		y[r] = (float)(r % K);
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = D;
	spec.n_layers = 3;
	nn_dense_defaults(&spec.layers[0], 512, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], 512, NN_ACT_TANH);
	nn_dense_defaults(&spec.layers[2], K, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	ck_assert_ptr_nonnull(m);
	nn_rng_seed(&rng, 5);
	nn_model_init(m, &rng);
	struct nn_data d = {x, y, ROWS, D, 1};
	struct nn_fit_opts opts = {.epochs = 2, .batch_size = 256, .shuffle = true, .seed = 3,
				   .validation_split = 0.25};
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, NULL);
	ck_assert_ptr_nonnull(t);
	struct par_pool *p = threads ? par_start(threads) : NULL;
	struct spy spy = {.inner = par_hook(p)};
	struct nn_par hook = {spy_run, &spy};
	if (threads) {
		ck_assert_ptr_nonnull(p);
		nn_train_set_par(t, &hook);
		par_job_begin(p);
	}
	struct nn_epoch_log log;
	while (!nn_train_done(t))
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log), NN_OK);
	*loss = log.loss + log.val_loss;
	*helped = atomic_load(&spy.helped);
	*tiles = atomic_load(&spy.total);
	if (threads)
		par_job_end(p);
	par_stop(p);
	nn_train_destroy(t);
	float *params = malloc(nn_model_n_params(m) * sizeof(float));
	memcpy(params, nn_model_params_const(m), nn_model_n_params(m) * sizeof(float));
	nn_model_destroy(m);
	free(x), free(y);
	return params;
}

START_TEST(test_same_bits_any_thread_count)
{
	size_t n_params = 64 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10;
	double loss[4];
	long helped[4], tiles[4];
	float *w[4];
	static const unsigned threads[4] = {0, 1, 2, 4};
	for (int i = 0; i < 4; i++)
		w[i] = train(threads[i], &loss[i], &helped[i], &tiles[i]);
	for (int i = 1; i < 4; i++) {
		ck_assert(memcmp(w[0], w[i], n_params * sizeof(float)) == 0);
		ck_assert(memcmp(&loss[0], &loss[i], sizeof loss[0]) == 0);
	}
	/* the pools were used: tiles went through the hook, and with more than
	 * one thread some ran on a helper; one thread lends nothing */
	ck_assert_int_gt(tiles[2], 0);
	ck_assert_int_eq(helped[1], 0);
	ck_assert_int_gt(helped[2] + helped[3], 0);
	for (int i = 0; i < 4; i++)
		free(w[i]);
}
END_TEST

START_TEST(test_busy_jobs_borrow_nothing)
{
	/* two threads, two jobs computing: no CPU is idle, so no helper runs */
	struct par_pool *p = par_start(2);
	ck_assert_ptr_nonnull(p);
	par_job_begin(p);
	par_job_begin(p);
	struct spy spy = {.inner = par_hook(p)};
	struct counts *c = calloc(1, sizeof *c);
	for (int rep = 0; rep < 50; rep++)
		spy_run(&spy, 1000, count_call, c);
	ck_assert_int_eq(atomic_load(&spy.helped), 0);
	ck_assert_int_eq(atomic_load(&spy.total), 50 * 1000);
	ck_assert_uint_eq(par_busy(p), 0);
	par_job_end(p);
	par_job_end(p);
	free(c);
	par_stop(p);
}
END_TEST

Suite *suite_par(void)
{
	Suite *s = suite_create("par");
	TCase *tc = tcase_create("par");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_tile_once);
	tcase_add_test(tc, test_same_bits_any_thread_count);
	tcase_add_test(tc, test_busy_jobs_borrow_nothing);
	suite_add_tcase(s, tc);
	return s;
}
