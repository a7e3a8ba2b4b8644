/*
 * par.h — threads lent to a running job's matrix products when cores are
 * idle (see par.c). Thread-safety: every function may be called from any
 * thread.
 */
#ifndef FITD_PAR_H
#define FITD_PAR_H

#include "core/nn.h"

struct par_pool;

/* Starts threads - 1 helper threads for a machine where training may use
 * `threads` CPUs in all. Returns NULL when out of memory or threads cannot
 * start; threads <= 1 starts none (every product then runs on its job's own
 * thread). Free with par_stop. */
struct par_pool *par_start(unsigned threads);
/* Wakes and joins the helpers and frees the pool; NULL is a no-op. Every
 * par_run must have returned. */
void par_stop(struct par_pool *p);

/* A job starts / stops computing on a worker thread. Helpers work only while
 * fewer than `threads` jobs run: together they use at most the idle CPUs. */
void par_job_begin(struct par_pool *p);
void par_job_end(struct par_pool *p);

/* The core's hook (struct nn_par) over p; p may be NULL (serial). */
struct nn_par par_hook(struct par_pool *p);

/* Helpers currently working, for /metrics. */
unsigned par_busy(struct par_pool *p);

#endif
