/*
 * jobq.c — wake-ups, stop flags and gauges for the worker pool (see jobq.h).
 * One mutex guards the slots and both condition variables.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "server/jobs/jobq.h"

struct slot {
	int64_t job_id; /* 0: free */
	atomic_int flag;
	double rate;
};

struct jobq {
	pthread_mutex_t lock;
	pthread_cond_t work_cv;
	pthread_cond_t change_cv;
	unsigned pending_notes; /* notifications no worker consumed yet */
	bool stopping;
	unsigned long generation;
	uint64_t samples_total;
	void (*listener)(void *ctx);
	void *listener_ctx;
	unsigned n_slots;
	struct slot slots[];
};

struct jobq *jobq_create(unsigned slots)
{
	struct jobq *q = calloc(1, sizeof *q + slots * sizeof q->slots[0]);
	pthread_condattr_t attr;

	if (!q)
		return NULL;
	q->n_slots = slots;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->work_cv, &attr);
	pthread_cond_init(&q->change_cv, &attr);
	pthread_condattr_destroy(&attr);
	return q;
}

void jobq_destroy(struct jobq *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->work_cv);
	pthread_cond_destroy(&q->change_cv);
	free(q);
}

static void deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void jobq_notify(struct jobq *q)
{
	pthread_mutex_lock(&q->lock);
	q->pending_notes++;
	pthread_cond_signal(&q->work_cv);
	pthread_mutex_unlock(&q->lock);
}

void jobq_wait_work(struct jobq *q, unsigned ms)
{
	struct timespec until;

	deadline(&until, ms);
	pthread_mutex_lock(&q->lock);
	while (!q->stopping && q->pending_notes == 0)
		if (pthread_cond_timedwait(&q->work_cv, &q->lock, &until) != 0)
			break;
	if (q->pending_notes)
		q->pending_notes--;
	pthread_mutex_unlock(&q->lock);
}

void jobq_stop(struct jobq *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	for (unsigned i = 0; i < q->n_slots; i++) {
		int expected = JOBQ_RUN;

		if (q->slots[i].job_id)
			atomic_compare_exchange_strong(&q->slots[i].flag, &expected, JOBQ_SHUTDOWN);
	}
	pthread_cond_broadcast(&q->work_cv);
	pthread_cond_broadcast(&q->change_cv);
	pthread_mutex_unlock(&q->lock);
}

bool jobq_stopping(struct jobq *q)
{
	bool stopping;

	pthread_mutex_lock(&q->lock);
	stopping = q->stopping;
	pthread_mutex_unlock(&q->lock);
	return stopping;
}

atomic_int *jobq_run_begin(struct jobq *q, int64_t job_id)
{
	atomic_int *flag = NULL;

	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots && !flag; i++) {
		if (q->slots[i].job_id == 0) {
			q->slots[i].job_id = job_id;
			q->slots[i].rate = 0;
			atomic_store(&q->slots[i].flag, q->stopping ? JOBQ_SHUTDOWN : JOBQ_RUN);
			flag = &q->slots[i].flag;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return flag;
}

void jobq_run_end(struct jobq *q, int64_t job_id)
{
	bool found = false;

	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots; i++) {
		if (q->slots[i].job_id == job_id) {
			q->slots[i].job_id = 0;
			found = true;
		}
	}
	pthread_mutex_unlock(&q->lock);
	assert(found); /* jobq_run_begin registered it */
	(void)found;
}

size_t jobq_running(struct jobq *q, int64_t *ids, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots && n < max; i++)
		if (q->slots[i].job_id)
			ids[n++] = q->slots[i].job_id;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void jobq_stop_running(struct jobq *q)
{
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots; i++)
		if (q->slots[i].job_id)
			atomic_store(&q->slots[i].flag, JOBQ_SHUTDOWN);
	pthread_mutex_unlock(&q->lock);
}

bool jobq_cancel(struct jobq *q, int64_t job_id)
{
	bool found = false;

	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots; i++) {
		if (q->slots[i].job_id == job_id) {
			atomic_store(&q->slots[i].flag, JOBQ_CANCEL);
			found = true;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return found;
}

void jobq_set_rate(struct jobq *q, int64_t job_id, double samples_per_second, uint64_t samples)
{
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < q->n_slots; i++)
		if (q->slots[i].job_id == job_id)
			q->slots[i].rate = samples_per_second;
	q->samples_total += samples;
	pthread_mutex_unlock(&q->lock);
}

void jobq_publish(struct jobq *q)
{
	void (*fn)(void *);
	void *ctx;

	pthread_mutex_lock(&q->lock);
	q->generation++;
	pthread_cond_broadcast(&q->change_cv);
	fn = q->listener;
	ctx = q->listener_ctx;
	pthread_mutex_unlock(&q->lock);
	if (fn)
		fn(ctx);
}

void jobq_set_listener(struct jobq *q, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&q->lock);
	q->listener = fn;
	q->listener_ctx = ctx;
	pthread_mutex_unlock(&q->lock);
}

void jobq_wait_change(struct jobq *q, unsigned long *gen, unsigned ms)
{
	struct timespec until;

	deadline(&until, ms);
	pthread_mutex_lock(&q->lock);
	while (q->generation == *gen && !q->stopping)
		if (pthread_cond_timedwait(&q->change_cv, &q->lock, &until) != 0)
			break;
	*gen = q->generation;
	pthread_mutex_unlock(&q->lock);
}

unsigned long jobq_generation(struct jobq *q)
{
	unsigned long gen;

	pthread_mutex_lock(&q->lock);
	gen = q->generation;
	pthread_mutex_unlock(&q->lock);
	return gen;
}

void jobq_stats(struct jobq *q, struct jobq_stats *out)
{
	pthread_mutex_lock(&q->lock);
	out->busy = 0;
	out->samples_per_second = 0;
	for (unsigned i = 0; i < q->n_slots; i++) {
		if (q->slots[i].job_id) {
			out->busy++;
			out->samples_per_second += q->slots[i].rate;
		}
	}
	out->samples_total = q->samples_total;
	pthread_mutex_unlock(&q->lock);
}
