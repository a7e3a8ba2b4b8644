/*
 * jobq.h — the in-memory side of the job queue. The queue itself is the jobs
 * table (durable); this module only wakes workers when a job is queued,
 * carries cancel and shutdown requests to the running jobs' stop flags,
 * announces committed progress (to SSE streams and cancel waiters), and keeps
 * the gauges /metrics reports.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef FITD_JOBQ_H
#define FITD_JOBQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Values of a running job's stop flag (the core's cancel flag: nonzero stops). */
enum { JOBQ_RUN = 0, JOBQ_CANCEL = 1, JOBQ_SHUTDOWN = 2 };

struct jobq;

/* Returns a new queue for at most `slots` running jobs, or NULL. */
struct jobq *jobq_create(unsigned slots);
/* NULL is a no-op. */
void jobq_destroy(struct jobq *q);

/* A job was queued: wake one idle worker. */
void jobq_notify(struct jobq *q);
/* Worker side: sleep until notified, stopped, or ms elapsed. */
void jobq_wait_work(struct jobq *q, unsigned ms);
/* Stop every running job at its next batch boundary and wake idle workers. */
void jobq_stop(struct jobq *q);
bool jobq_stopping(struct jobq *q);

/* Registers a running job and returns its stop flag (borrowed until
 * jobq_run_end). NULL when no slot is free (cannot happen with one slot per
 * worker). */
atomic_int *jobq_run_begin(struct jobq *q, int64_t job_id);
void jobq_run_end(struct jobq *q, int64_t job_id);
/* Stops every running job at its next batch boundary, to resume later
 * (JOBQ_SHUTDOWN), and leaves the workers running: a node that lost its
 * leases gives its jobs up. */
void jobq_stop_running(struct jobq *q);
/* The ids of the jobs running here (at most max) into ids; returns how many. */
size_t jobq_running(struct jobq *q, int64_t *ids, size_t max);
/* Sets a running job's flag to JOBQ_CANCEL; false when it is not running here. */
bool jobq_cancel(struct jobq *q, int64_t job_id);
/* Latest training throughput of a running job, for /metrics. */
void jobq_set_rate(struct jobq *q, int64_t job_id, double samples_per_second, uint64_t samples);

/* Something was committed: wake the listener (SSE) and change waiters. */
void jobq_publish(struct jobq *q);
void jobq_set_listener(struct jobq *q, void (*fn)(void *ctx), void *ctx);
/* Sleeps until a publish after *gen or ms elapse; updates *gen. */
void jobq_wait_change(struct jobq *q, unsigned long *gen, unsigned ms);
unsigned long jobq_generation(struct jobq *q);

struct jobq_stats {
	unsigned busy;
	double samples_per_second;
	uint64_t samples_total;
};
void jobq_stats(struct jobq *q, struct jobq_stats *out);

#endif
