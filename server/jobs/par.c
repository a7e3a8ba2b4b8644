/*
 * par.c — the helper threads a lone job borrows for its matrix products.
 *
 * DESIGN
 * The core cuts a large product into tiles fixed by its shapes and asks its
 * nn_par hook to run them (core/nn_mat.c). par_run publishes the tiles as a
 * task on the pool's list and runs tiles itself; helper threads sleeping on
 * the pool take tiles from any task on the list while the CPUs left idle by
 * the running jobs (threads - jobs) allow it. A tile is claimed by an atomic
 * counter, so each runs exactly once. The caller takes its task off the list
 * once every tile is claimed, then waits until the helpers still on it have
 * left; a helper never touches a task after leaving it. Which thread runs a
 * tile changes nothing in its result, so a job's weights are the same bits
 * with 1 thread or 16.
 *
 * A training step publishes a task every few hundred microseconds, and a
 * futex wake-up costs tens of them: so a helper that runs out of work spins
 * a little (SPIN_NS) watching for the next publication before it sleeps,
 * and the caller spins the same while its helpers finish their last tiles.
 * Helpers exist only while CPUs are idle, so the spin takes nothing from
 * another job.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "server/jobs/par.h"

#define SPIN_NS 50000

struct par_task {
	nn_task_fn fn;
	void *arg;
	size_t n;
	atomic_size_t next;      /* next tile to claim */
	atomic_uint helpers;     /* helpers working on it (changed under mu) */
	struct par_task *link;   /* the pool's list (under mu) */
};

struct par_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;     /* a task was published, or stop */
	pthread_cond_t left;     /* a helper left a task */
	struct par_task *tasks;  /* published tasks with tiles maybe left */
	unsigned threads;        /* CPUs training may use in all */
	unsigned jobs;           /* jobs computing now */
	unsigned busy;           /* helpers working now */
	atomic_uint published;   /* bumped (under mu) by every published task */
	bool stop;
	unsigned n;
	pthread_t helper[];
};

/* Claims and runs tiles of t until none is left. */
static void run_tiles(struct par_task *t)
{
	size_t i;

	while ((i = atomic_fetch_add(&t->next, 1)) < t->n)
		t->fn(t->arg, i);
}

static long elapsed_ns(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* Spins up to SPIN_NS while *value equals seen; true when it changed. */
static bool spin_while(const atomic_uint *value, unsigned seen)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (int i = 0; i < 64; i++) {
			if (atomic_load_explicit(value, memory_order_acquire) != seen)
				return true;
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
	} while (elapsed_ns(&start) < SPIN_NS);
	return false;
}

static bool may_help(const struct par_pool *p)
{
	return p->jobs < p->threads && p->busy < p->threads - p->jobs;
}

static void unlink_task(struct par_pool *p, struct par_task *t)
{
	for (struct par_task **at = &p->tasks; *at; at = &(*at)->link)
		if (*at == t) {
			*at = t->link;
			return;
		}
}

static void *helper_main(void *arg)
{
	struct par_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct par_task *t = p->tasks;

		while (t && atomic_load(&t->next) >= t->n)
			t = t->link;
		if (!t || !may_help(p)) {
			unsigned seen = atomic_load(&p->published);

			pthread_mutex_unlock(&p->mu);
			bool news = spin_while(&p->published, seen);
			pthread_mutex_lock(&p->mu);
			if (!news && atomic_load(&p->published) == seen && !p->stop)
				pthread_cond_wait(&p->work, &p->mu);
			continue;
		}
		atomic_fetch_add(&t->helpers, 1);
		p->busy++;
		pthread_mutex_unlock(&p->mu);
		run_tiles(t);
		pthread_mutex_lock(&p->mu);
		p->busy--;
		if (atomic_fetch_sub(&t->helpers, 1) == 1)
			pthread_cond_broadcast(&p->left);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void par_run(void *ctx, size_t n, nn_task_fn fn, void *arg)
{
	struct par_pool *p = ctx;
	struct par_task t = {.fn = fn, .arg = arg, .n = n};

	atomic_init(&t.next, 0);
	atomic_init(&t.helpers, 0);
	pthread_mutex_lock(&p->mu);
	bool lend = !p->stop && may_help(p);
	if (lend) {
		t.link = p->tasks;
		p->tasks = &t;
		atomic_fetch_add(&p->published, 1);
		pthread_cond_broadcast(&p->work);
	}
	pthread_mutex_unlock(&p->mu);
	run_tiles(&t);
	if (!lend)
		return;
	/* off the list, no helper can join; wait for those still on it */
	pthread_mutex_lock(&p->mu);
	unlink_task(p, &t);
	pthread_mutex_unlock(&p->mu);
	unsigned left = atomic_load(&t.helpers);
	while (left > 0 && spin_while(&t.helpers, left))
		left = atomic_load(&t.helpers);
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&t.helpers) > 0)
		pthread_cond_wait(&p->left, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

struct nn_par par_hook(struct par_pool *p)
{
	struct nn_par hook = {p ? par_run : NULL, p};

	return hook;
}

struct par_pool *par_start(unsigned threads)
{
	unsigned helpers = threads > 1 ? threads - 1 : 0;
	struct par_pool *p = calloc(1, sizeof *p + helpers * sizeof p->helper[0]);

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->left, NULL);
	p->threads = threads ? threads : 1;
	for (unsigned i = 0; i < helpers; i++) {
		if (pthread_create(&p->helper[i], NULL, helper_main, p) != 0) {
			par_stop(p);
			return NULL;
		}
		p->n++;
	}
	return p;
}

void par_stop(struct par_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->helper[i], NULL);
	pthread_cond_destroy(&p->left);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void par_job_begin(struct par_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->jobs++;
	pthread_mutex_unlock(&p->mu);
}

void par_job_end(struct par_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->jobs--;
	/* a CPU came free: a sleeping helper may join a task in progress */
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

unsigned par_busy(struct par_pool *p)
{
	unsigned busy;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	busy = p->busy;
	pthread_mutex_unlock(&p->mu);
	return busy;
}
