/*
 * http.h — the HTTP server: libmicrohttpd behind a small request/response
 * interface, so that route handlers never see libmicrohttpd.
 *
 * DESIGN
 * libmicrohttpd runs an epoll thread pool. A request is matched against a
 * static route table ({method, pattern, handler}) as soon as its headers
 * arrive; authentication, CORS, content-type and body-size checks happen
 * there too, so a refused upload is answered before its body is read. Bodies
 * are either buffered (bounded by --max-body-mb) or, when a route's begin
 * hook asks for it, handed chunk by chunk to a sink and never buffered.
 *
 * Two kinds of responses outlive their handler call without holding a
 * thread: streams (SSE), whose reader suspends the connection when it has
 * nothing to say until http_wake_streams() (or the 1 s tick) resumes it, and
 * deferred replies (a prediction answered once its batch commits), completed
 * from any thread with http_complete().
 *
 * Thread-safety: handlers run on libmicrohttpd's threads, several at once.
 * http_complete() and http_wake_streams() may be called from any thread.
 */
#ifndef FITD_HTTP_H
#define FITD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/api.h"
#include "server/cfg.h"

struct http;
struct http_req;

enum http_route_flags {
	HTTP_PUBLIC = 1 << 0,    /* no API key needed */
	HTTP_JSON_BODY = 1 << 1, /* the body must be JSON (415 otherwise) */
	HTTP_STATIC = 1 << 2,    /* the web dashboard: any GET path outside /v1 */
};

struct http_route {
	const char *method;   /* "GET", "POST", ... (HEAD is served by GET routes) */
	const char *pattern;  /* "/v1/models/{id}/weights": {id} matches one segment */
	void (*handle)(struct http_req *r);
	/* Optional: runs when the headers are in, before any body byte; may
	 * reply (refusing the request) or take the body with http_take_body. */
	void (*begin)(struct http_req *r);
	unsigned flags;
	/* The query parameters the route takes, space-separated ("limit offset"),
	 * or NULL for none. Any other key, or a key given twice, is refused with
	 * 422 validation_failed naming it before the handler runs (or the body
	 * is read). The handler still checks the values. Dashboard (HTTP_STATIC)
	 * routes are not checked. */
	const char *query;
};

/* Pure route matching: does path match pattern ("/v1/jobs/{id}")? On a match
 * params (may be NULL) receive new copies of the {..} segments (free each),
 * at most max_params, and *n_params (may be NULL) their count. */
bool http_match(const char *pattern, const char *path, char **params, int max_params, int *n_params);
/* Pure: is key one of the space-separated names of list (NULL: none)? */
bool http_query_allowed(const char *list, const char *key);
/* Pure: the 0-based position of key among the names of list, or -1. */
int http_query_index(const char *list, const char *key);
/* Pure: the name of list (NULL: none) nearest to key, when it is a likely
 * typo of it (at most two edits, fewer than half the key); NULL otherwise.
 * The name is copied into out (size bytes). */
const char *http_query_suggest(const char *list, const char *key, char *out, size_t size);

/* Returns a running server, or NULL with a message. routes is borrowed for
 * the server's life; app is handed back to handlers by http_app(). */
struct http *http_start(const struct cfg *cfg, const struct http_route *routes, size_t n_routes, void *app,
			char *msg, size_t size);
/* The port actually bound (useful with --port 0). */
unsigned http_port(const struct http *h);
/* Stops accepting connections; requests in flight go on. */
void http_quiesce(struct http *h);
/* Requests in flight (streams included). */
unsigned http_active(const struct http *h);
/* Resumes everything suspended and stops the server; NULL is a no-op. */
void http_stop(struct http *h);
/* True once http_quiesce ran: streams should end, new requests get 503. */
bool http_stopping(const struct http *h);

/* ---- what a handler reads ------------------------------------------------------ */

void *http_app(const struct http_req *r);
const char *http_path(const struct http_req *r);
/* The i-th {id} of the pattern. */
const char *http_param(const struct http_req *r, int i);
/* A query-string value or NULL. Borrowed; valid during the request. */
const char *http_query(const struct http_req *r, const char *key);
const char *http_header(const struct http_req *r, const char *name);
/* The buffered body (NULL, 0 when empty). Borrowed. */
const char *http_body(const struct http_req *r, size_t *len);

/* ---- replies --------------------------------------------------------------------- */

/* Takes ownership of body (malloc'd, may be NULL: then a 500 is sent). */
void http_reply_json(struct http_req *r, int status, char *body);
/* The same with another content type (a static string). */
void http_reply_body(struct http_req *r, int status, char *body, const char *content_type);
/* The same for len bytes that may hold NULs (a binary file). */
void http_reply_bytes(struct http_req *r, int status, char *body, size_t len, const char *content_type);
void http_reply_error(struct http_req *r, const struct api_err *err);
/* Replies with the error api_fail would record (api_failv + http_reply_error). */
void http_fail(struct http_req *r, enum api_code code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void http_reply_empty(struct http_req *r, int status);
/* Takes ownership of fd (closed after sending). */
void http_reply_file(struct http_req *r, int fd, size_t size, const char *content_type, const char *cache_control);
/* Adds a response header (copied). At most 8 per reply. */
void http_set_header(struct http_req *r, const char *name, const char *value);

/* A stream: fn fills buf and returns bytes written (> 0), 0 when it has
 * nothing yet (the connection sleeps until http_wake_streams or the next
 * tick, then fn runs again) or -1 to end the response. free_fn(ctx) runs
 * once the response is gone. */
typedef ssize_t (*http_stream_fn)(void *ctx, char *buf, size_t max);
void http_reply_stream(struct http_req *r, const char *content_type, http_stream_fn fn, void *ctx,
		       void (*free_fn)(void *ctx));
void http_wake_streams(struct http *h);

/* The reply will be set later, from any thread, followed by http_complete.
 * The request holds no thread meanwhile. */
void http_defer(struct http_req *r);
void http_complete(struct http_req *r);

/* ---- streamed bodies ------------------------------------------------------------------ */

/* Called with each chunk of the body as it arrives. Returns 0, or -1 after
 * replying with an error (the rest of the body is then refused). */
typedef int (*http_sink_fn)(struct http_req *r, void *ctx, const char *data, size_t len);
/* From a route's begin hook: send the body to fn instead of buffering it;
 * limit is the largest body accepted (413 past it). free_fn(ctx) runs when
 * the request ends, however it ends (a client gone mid-upload included). */
void http_take_body(struct http_req *r, http_sink_fn fn, void *ctx, void (*free_fn)(void *ctx), size_t limit);
/* The sink context given to http_take_body, for the handler. */
void *http_sink_ctx(const struct http_req *r);

#endif
