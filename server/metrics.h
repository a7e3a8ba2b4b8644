/*
 * metrics.h — Prometheus text for GET /metrics: requests by route and status,
 * a request latency histogram, and the job gauges the caller passes in.
 * metrics_request is lock-free (atomic counters) and safe from any thread.
 */
#ifndef FITD_METRICS_H
#define FITD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* Names route i in the counters ("GET", "/v1/jobs/{id}"); both strings live
 * as long as the process. */
typedef void (*metrics_label_fn)(size_t route_index, const char **method, const char **pattern);
/* n_routes route indexes are counted, each under label's names. */
void metrics_init(size_t n_routes, metrics_label_fn label);
/* A response was queued; seconds since its request arrived. route_index -1:
 * no route matched. */
void metrics_request(int route_index, int status, double seconds);

struct metrics_jobs {
	uint64_t by_status[API_JOB_N_STATUS]; /* indexed by enum api_job_status */
	unsigned busy_workers;
	unsigned workers;
	double samples_per_second;  /* summed over running jobs */
	uint64_t samples_total;     /* trained since start */
	unsigned threads;           /* CPU threads training may use in all */
	unsigned helpers_busy;      /* helper threads lending idle CPUs now */
	const char *kernels;        /* BLAS kernel set in use */
	const char *kernels_reason; /* why it was chosen */
};
/* Returns the whole exposition text (free with free()), or NULL. */
char *metrics_render(const struct metrics_jobs *jobs);

#endif
