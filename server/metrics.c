/*
 * metrics.c — request counters and latency histograms, as atomics indexed by
 * route and status class; rendered in Prometheus's text format on demand.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

#define MAX_ROUTES 64
static const int statuses[] = {200, 201, 202, 204, 304, 400, 401, 404, 405, 409, 413, 415, 422, 500, 503, 0};
#define N_STATUS (sizeof statuses / sizeof statuses[0]) /* the last slot holds every other status */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static metrics_label_fn metric_label;
static size_t metric_n_routes;
static atomic_ulong requests[MAX_ROUTES + 1][N_STATUS];
static atomic_ulong latency[MAX_ROUTES + 1][N_BUCKETS + 1];
static atomic_ulong latency_sum_us[MAX_ROUTES + 1];

void metrics_init(size_t n_routes, metrics_label_fn label)
{
	metric_label = label;
	metric_n_routes = n_routes < MAX_ROUTES ? n_routes : MAX_ROUTES;
}

static size_t route_slot(int route_index)
{
	return route_index >= 0 && (size_t)route_index < metric_n_routes ? (size_t)route_index : MAX_ROUTES;
}

void metrics_request(int route_index, int status, double seconds)
{
	size_t r = route_slot(route_index), s = 0, b = 0;

	while (s < N_STATUS - 1 && statuses[s] != status)
		s++;
	while (b < N_BUCKETS && seconds > buckets[b])
		b++;
	atomic_fetch_add_explicit(&requests[r][s], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&latency[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&latency_sum_us[r], (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

/* Appends to the exposition text (fitd's one growable buffer). */
__attribute__((format(printf, 2, 3))) static void put(struct api_buf *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_buf_vprintf(o, fmt, ap);
	va_end(ap);
}

static void route_label(size_t r, char *out, size_t size)
{
	const char *method = "", *pattern = "unmatched";

	if (r < metric_n_routes)
		metric_label(r, &method, &pattern);
	snprintf(out, size, "method=\"%s\",route=\"%s\"", method, pattern);
}

/* A label value in the exposition format: \, " and newline escaped. */
static void escape_label(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; in && *in && n + 3 < size; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n')
			out[n++] = '\\';
		out[n++] = *in == '\n' ? 'n' : *in;
	}
	out[n] = '\0';
}

char *metrics_render(const struct metrics_jobs *jobs)
{
	struct api_buf o = {0};
	char label[256], reason[512];

	put(&o, "# HELP fitd_http_requests_total HTTP requests by route and status.\n"
		"# TYPE fitd_http_requests_total counter\n");
	for (size_t r = 0; r <= MAX_ROUTES; r++) {
		if (r >= metric_n_routes && r != MAX_ROUTES)
			continue;
		route_label(r, label, sizeof label);
		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);

			if (!v)
				continue;
			if (statuses[s])
				put(&o, "fitd_http_requests_total{%s,status=\"%d\"} %lu\n", label, statuses[s], v);
			else
				put(&o, "fitd_http_requests_total{%s,status=\"other\"} %lu\n", label, v);
		}
	}
	put(&o, "# HELP fitd_http_request_duration_seconds Time from request headers to the response being queued.\n"
		"# TYPE fitd_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r <= MAX_ROUTES; r++) {
		unsigned long cumulative = 0;

		if (r >= metric_n_routes && r != MAX_ROUTES)
			continue;
		for (size_t b = 0; b <= N_BUCKETS; b++)
			cumulative += atomic_load_explicit(&latency[r][b], memory_order_relaxed);
		if (!cumulative)
			continue;
		route_label(r, label, sizeof label);
		cumulative = 0;
		for (size_t b = 0; b <= N_BUCKETS; b++) {
			cumulative += atomic_load_explicit(&latency[r][b], memory_order_relaxed);
			if (b < N_BUCKETS)
				put(&o, "fitd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n", label, buckets[b],
				    cumulative);
			else
				put(&o, "fitd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n", label, cumulative);
		}
		put(&o, "fitd_http_request_duration_seconds_sum{%s} %.6f\n", label,
		    atomic_load_explicit(&latency_sum_us[r], memory_order_relaxed) / 1e6);
		put(&o, "fitd_http_request_duration_seconds_count{%s} %lu\n", label, cumulative);
	}
	put(&o, "# HELP fitd_jobs Training jobs by state.\n# TYPE fitd_jobs gauge\n");
	for (int s = 0; s < API_JOB_N_STATUS; s++)
		put(&o, "fitd_jobs{state=\"%s\"} %llu\n", api_job_status_name((enum api_job_status)s),
		    (unsigned long long)jobs->by_status[s]);
	put(&o, "# HELP fitd_queue_depth Jobs waiting for a worker.\n# TYPE fitd_queue_depth gauge\n"
		"fitd_queue_depth %llu\n", (unsigned long long)jobs->by_status[API_JOB_QUEUED]);
	put(&o, "# HELP fitd_workers Training worker threads.\n# TYPE fitd_workers gauge\nfitd_workers %u\n",
	    jobs->workers);
	put(&o, "# HELP fitd_workers_busy Workers running a job.\n# TYPE fitd_workers_busy gauge\n"
		"fitd_workers_busy %u\n", jobs->busy_workers);
	put(&o, "# HELP fitd_training_samples_per_second Training throughput of the running jobs.\n"
		"# TYPE fitd_training_samples_per_second gauge\nfitd_training_samples_per_second %.1f\n",
	    jobs->samples_per_second);
	put(&o, "# HELP fitd_training_samples_total Samples trained since start.\n"
		"# TYPE fitd_training_samples_total counter\nfitd_training_samples_total %llu\n",
	    (unsigned long long)jobs->samples_total);
	put(&o, "# HELP fitd_threads CPU threads training may use in all.\n# TYPE fitd_threads gauge\n"
		"fitd_threads %u\n", jobs->threads);
	put(&o, "# HELP fitd_helpers_busy Helper threads lending idle CPUs to a job's matrix products.\n"
		"# TYPE fitd_helpers_busy gauge\nfitd_helpers_busy %u\n", jobs->helpers_busy);
	escape_label(jobs->kernels, label, sizeof label);
	escape_label(jobs->kernels_reason, reason, sizeof reason);
	put(&o, "# HELP fitd_blas_info The BLAS kernel set in use and why it was chosen.\n"
		"# TYPE fitd_blas_info gauge\nfitd_blas_info{kernels=\"%s\",reason=\"%s\"} 1\n", label, reason);
	return api_buf_finish(&o);
}
