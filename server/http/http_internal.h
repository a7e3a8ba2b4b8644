/*
 * http_internal.h — what the files of server/http/ share: the request, the
 * server and the stream records, and the functions one file gives another.
 * Nothing outside server/http/ includes it.
 */
#ifndef FITD_HTTP_INTERNAL_H
#define FITD_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "server/http/http.h"

#define MAX_PARAMS 4
#define MAX_HEADERS 8
#define STREAM_BLOCK 16384
#define TICK_MS 1000
#define DRAIN_MAX ((size_t)256 << 20)
/* Request line and headers are refused with a JSON 414 / 431 past these
 * bounds. libmicrohttpd's own per-connection memory is larger (POOL_BYTES:
 * mapped lazily, so idle connections cost little), because past it
 * libmicrohttpd answers itself, in HTML. Not much larger: libmicrohttpd
 * 0.9.75 zeroes the whole pool after every request of a keep-alive
 * connection (MHD_pool_reset), so its size is paid per request — at 256 KiB
 * that memset was a fifth of a one-row predict's CPU time (perf, bench/README.md). */
#define MAX_URL_BYTES 8192
#define MAX_HEADER_BYTES 65536
#define POOL_BYTES ((size_t)128 << 10)

struct stream {
	struct http *http;
	struct MHD_Connection *conn;
	http_stream_fn fn;
	void *ctx;
	void (*free_fn)(void *ctx);
	struct stream *next_sleeper;
	bool sleeping;
};

struct http_req {
	struct http *http;
	struct MHD_Connection *conn;
	const struct http_route *route;
	int route_index;        /* -1: no route */
	const char *method;     /* MHD's string, valid for the request */
	char *path;             /* copy of the URL path */
	char *params[MAX_PARAMS];
	int n_params;
	double start;

	/* body */
	struct api_buf body;    /* buffered; its max is the body limit */
	size_t body_len;        /* bytes received (also those given to a sink) */
	size_t body_limit;
	size_t drained;         /* body bytes read and dropped after a refusal */
	http_sink_fn sink;
	void *sink_ctx;
	void (*sink_free)(void *ctx);

	/* reply */
	bool replied;           /* a reply is set */
	bool queued;            /* it went to MHD */
	int status;
	char *resp_body;
	size_t resp_len;
	const char *content_type;
	char *cache_control;
	int fd;
	size_t file_size;
	struct stream *stream;
	struct {
		char *name, *value;
	} headers[MAX_HEADERS];
	int n_headers;
	size_t bytes_out;

	/* deferred replies */
	bool deferred, completed, suspended;
};

struct http {
	struct MHD_Daemon *daemon;
	const struct cfg *cfg;
	const struct http_route *routes;
	size_t n_routes;
	void *app;
	unsigned port;
	atomic_bool stopping;
	atomic_uint active;

	pthread_mutex_t suspend_lock;
	struct stream *sleepers;
	atomic_ulong wake_gen;

	pthread_t ticker;
	bool ticker_started;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cv;
	bool tick_stop;
};

static inline double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- route matching (http_match.c) ------------------------------------------------ */

/* Sets r->route and r->route_index to the first route that takes r's method
 * and path; leaves them (NULL, -1) when none does. */
void http_route_request(struct http_req *r);
/* The allowed methods of a path, "GET, POST, OPTIONS" (empty when the path is unknown). */
void http_allowed_methods(const struct http *h, const char *path, char *out, size_t size);
/* Does route, the dashboard's catch-all, serve method on path? */
bool http_static_path(const struct http_route *route, const char *method, const char *path);

/* ---- streams (http_stream.c) -------------------------------------------------------- */

/* libmicrohttpd's content reader for a stream: runs its function, or
 * suspends the connection until http_wake_streams when it has nothing. */
ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max);
/* Runs the stream's free function and frees it. */
void http_stream_free(void *cls);
/* The ticker thread: wakes every stream once per TICK_MS until tick_stop. */
void *http_ticker(void *arg);

#endif
