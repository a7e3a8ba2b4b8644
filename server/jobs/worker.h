/*
 * worker.h — the pool of training threads (see worker.c). Each thread owns
 * its SQLite connection and runs one job at a time.
 */
#ifndef FITD_WORKER_H
#define FITD_WORKER_H

#include "server/jobs/jobq.h"
#include "server/store/mcache.h"
#include "server/jobs/par.h"

struct worker_pool;

/* Starts n threads taking jobs signalled through q; returns NULL on failure.
 * Every commit invalidates the model's entry in cache (borrowed). A job's
 * matrix products borrow par's idle helpers (borrowed; may be NULL). */
struct worker_pool *worker_start(struct jobq *q, struct mcache *cache, struct par_pool *par, unsigned n,
				 unsigned commit_interval_ms);
/* Stops every job at a batch boundary (left resumable), joins the threads and
 * frees the pool; NULL is a no-op. */
void worker_stop(struct worker_pool *pool);

#endif
