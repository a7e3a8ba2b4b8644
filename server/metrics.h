/*
 * metrics.h — Prometheus text for GET /metrics: requests by route and status,
 * a request latency histogram, and the job gauges the caller passes in.
 * metrics_request is lock-free (atomic counters) and safe from any thread.
 */
#ifndef FITD_METRICS_H
#define FITD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

/* routes is borrowed for the process's life (labels of the counters). */
void metrics_init(const struct http_route *routes, size_t n_routes);
/* A response was queued; seconds since its request arrived. route_index -1:
 * no route matched. */
void metrics_request(int route_index, int status, double seconds);

struct metrics_jobs {
	uint64_t by_status[5];      /* indexed by enum api_job_status */
	unsigned busy_workers;
	unsigned workers;
	double samples_per_second;  /* summed over running jobs */
	uint64_t samples_total;     /* trained since start */
};
/* Returns the whole exposition text (free with free()), or NULL. */
char *metrics_render(const struct metrics_jobs *jobs);

#endif
