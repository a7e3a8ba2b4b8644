/*
 * http.c — the daemon and the request cycle. server/http/ is the only folder
 * that touches libmicrohttpd; route matching is in http_match.c, streams and
 * their ticker in http_stream.c.
 *
 * DESIGN
 * Every request gets a struct http_req on its first callback, when only the
 * headers are in. There the route is matched and the request vetted (API key,
 * CORS preflight, content type, Content-Length against the limit, shutdown),
 * so a refusal goes out before any body byte is read. The body then arrives
 * in pieces: buffered up to the limit, or passed to a route's sink. On the
 * last callback the handler runs and its reply is queued — unless it was
 * deferred, in which case the connection is suspended until http_complete.
 *
 * Suspension is guarded by one mutex (suspend_lock) so that a resume can
 * never precede its suspend: the suspending thread holds the lock from the
 * moment it decides to sleep until MHD_suspend_connection returns, and the
 * waking thread takes the same lock. A generation counter, bumped before the
 * lock is taken, closes the window in which a stream could miss a wake-up.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/http/http_internal.h"
#include "server/log.h"
#include "server/metrics.h"

/* ---- replies ------------------------------------------------------------------------------ */

static void reply_reset(struct http_req *r)
{
	free(r->resp_body);
	r->resp_body = NULL;
	r->resp_len = 0;
	for (int i = 0; i < r->n_headers; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	r->n_headers = 0;
	free(r->cache_control);
	r->cache_control = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

void http_reply_json(struct http_req *r, int status, char *body)
{
	http_reply_body(r, status, body, "application/json");
}

void http_reply_body(struct http_req *r, int status, char *body, const char *content_type)
{
	bool oom = !body;

	reply_reset(r);
	r->replied = true;
	if (oom) {
		/* The body could not be built: out of memory is a 503 like
		 * everywhere else (API_UNAVAILABLE), with its Retry-After. */
		static const char text[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}";

		body = strdup(text);
		status = api_status(API_UNAVAILABLE);
		content_type = "application/json";
	}
	r->status = status;
	r->resp_body = body;
	r->resp_len = body ? strlen(body) : 0;
	r->content_type = content_type;
	if (oom) {
		char seconds[16];

		snprintf(seconds, sizeof seconds, "%d", api_retry_after(API_UNAVAILABLE));
		http_set_header(r, "Retry-After", seconds);
	}
}

void http_reply_bytes(struct http_req *r, int status, char *body, size_t len, const char *content_type)
{
	if (!body) {
		http_reply_body(r, status, NULL, content_type); /* the out-of-memory reply */
		return;
	}
	reply_reset(r);
	r->replied = true;
	r->status = status;
	r->resp_body = body;
	r->resp_len = len;
	r->content_type = content_type;
}

void http_reply_error(struct http_req *r, const struct api_err *err)
{
	char *body = api_err_json(err);
	int retry_after = api_retry_after(err->code);

	if (!body) {
		http_reply_json(r, 503, NULL); /* the out-of-memory reply */
		return;
	}
	http_reply_json(r, api_status(err->code), body);
	if (err->code == API_METHOD_NOT_ALLOWED)
		return;
	if (retry_after > 0) {
		char seconds[16];

		snprintf(seconds, sizeof seconds, "%d", retry_after);
		http_set_header(r, "Retry-After", seconds);
	}
	if (err->code == API_UNAUTHORIZED)
		http_set_header(r, "WWW-Authenticate", "Bearer");
}

void http_reply_empty(struct http_req *r, int status)
{
	reply_reset(r);
	r->replied = true;
	r->status = status;
	r->content_type = NULL;
}

void http_reply_file(struct http_req *r, int fd, size_t size, const char *content_type, const char *cache_control)
{
	reply_reset(r);
	r->replied = true;
	r->status = 200;
	r->fd = fd;
	r->file_size = size;
	r->content_type = content_type;
	r->cache_control = cache_control ? strdup(cache_control) : NULL;
}

void http_set_header(struct http_req *r, const char *name, const char *value)
{
	assert(r->n_headers < MAX_HEADERS); /* no reply sets more */
	if (r->n_headers == MAX_HEADERS)
		return;
	r->headers[r->n_headers].name = strdup(name);
	r->headers[r->n_headers].value = strdup(value);
	r->n_headers++;
}

void http_reply_stream(struct http_req *r, const char *content_type, http_stream_fn fn, void *ctx,
		       void (*free_fn)(void *ctx))
{
	struct stream *s = calloc(1, sizeof *s);

	reply_reset(r);
	if (!s) {
		if (free_fn)
			free_fn(ctx);
		http_reply_json(r, 503, NULL); /* NULL: the out-of-memory reply */
		return;
	}
	s->http = r->http;
	s->conn = r->conn;
	s->fn = fn;
	s->ctx = ctx;
	s->free_fn = free_fn;
	r->replied = true;
	r->status = 200;
	r->stream = s;
	r->content_type = content_type;
}

void http_fail(struct http_req *r, enum api_code code, const char *field, const char *fmt, ...)
{
	struct api_err err = {0};
	va_list ap;

	va_start(ap, fmt);
	api_failv(&err, code, field, fmt, ap);
	va_end(ap);
	http_reply_error(r, &err);
}

static void add_cors(const struct http *h, struct MHD_Response *resp)
{
	if (!h->cfg->cors_origin[0])
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", h->cfg->cors_origin);
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location, Retry-After");
	if (strcmp(h->cfg->cors_origin, "*") != 0)
		MHD_add_response_header(resp, "Vary", "Origin");
}

static enum MHD_Result queue_reply(struct http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, http_stream_read, r->stream,
							 http_stream_free);
		if (!resp) {
			http_stream_free(r->stream);
		} else {
			MHD_add_response_header(resp, "Cache-Control", "no-cache");
			MHD_add_response_header(resp, "X-Accel-Buffering", "no");
		}
		r->stream = NULL;
	} else if (r->fd >= 0) {
		resp = MHD_create_response_from_fd(r->file_size, r->fd);
		if (resp)
			r->fd = -1; /* MHD closes it */
		r->bytes_out = r->file_size;
	} else {
		resp = MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE);
		if (resp)
			r->resp_body = NULL; /* MHD frees it */
		r->bytes_out = r->resp_len;
	}
	if (!resp)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, "Content-Type", r->content_type);
	if (r->cache_control)
		MHD_add_response_header(resp, "Cache-Control", r->cache_control);
	for (int i = 0; i < r->n_headers; i++)
		if (r->headers[i].name && r->headers[i].value)
			MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	add_cors(r->http, resp);
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	r->queued = true;
	/* Counted now, not at completion: a client that reads /metrics right
	 * after its response must see its request counted. */
	metrics_request(r->route_index, r->status, now_seconds() - r->start);
	return ret;
}

/* ---- deferred replies ------------------------------------------------------------------------ */

void http_defer(struct http_req *r)
{
	r->deferred = true;
}

void http_complete(struct http_req *r)
{
	struct http *h = r->http;

	pthread_mutex_lock(&h->suspend_lock);
	r->completed = true;
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&h->suspend_lock);
}

/* After the handler: queue the reply, or sleep until http_complete. */
static enum MHD_Result finish(struct http_req *r)
{
	struct http *h = r->http;

	if (r->deferred) {
		pthread_mutex_lock(&h->suspend_lock);
		if (!r->completed) {
			r->suspended = true;
			MHD_suspend_connection(r->conn);
			pthread_mutex_unlock(&h->suspend_lock);
			return MHD_YES;
		}
		pthread_mutex_unlock(&h->suspend_lock);
	}
	if (!r->replied)
		http_fail(r, API_INTERNAL, NULL, "the handler gave no reply");
	return queue_reply(r);
}

/* ---- request accessors -------------------------------------------------------------------------- */

void *http_app(const struct http_req *r)
{
	return r->http->app;
}

const char *http_path(const struct http_req *r)
{
	return r->path;
}

const char *http_param(const struct http_req *r, int i)
{
	return i >= 0 && i < r->n_params ? r->params[i] : NULL;
}

const char *http_query(const struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const struct http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.len ? r->body.data : NULL;
}

void http_take_body(struct http_req *r, http_sink_fn fn, void *ctx, void (*free_fn)(void *ctx), size_t limit)
{
	r->sink = fn;
	r->sink_ctx = ctx;
	r->sink_free = free_fn;
	r->body_limit = limit;
}

void *http_sink_ctx(const struct http_req *r)
{
	return r->sink_ctx;
}

/* ---- the request cycle -------------------------------------------------------------------------------- */

static bool authorized(const struct http_req *r)
{
	const char *key = r->http->cfg->api_key;
	const char *auth;
	size_t n, diff = 0;

	if (!key[0] || (r->route && (r->route->flags & HTTP_PUBLIC)))
		return true;
	auth = http_header(r, "Authorization");
	if (!auth || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	n = strlen(key);
	if (strlen(auth) != n)
		return false;
	for (size_t i = 0; i < n; i++) /* constant time */
		diff |= (size_t)(auth[i] ^ key[i]);
	return diff == 0;
}

static bool json_content_type(const char *ct)
{
	size_t n;

	if (!ct)
		return true; /* nothing declared: read it as JSON */
	n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static void preflight(struct http_req *r)
{
	char allow[128];

	bool web = false;

	for (size_t i = 0; i < r->http->n_routes; i++)
		web |= http_static_path(&r->http->routes[i], "GET", r->path);
	http_allowed_methods(r->http, r->path, allow, sizeof allow);
	if (!allow[0] && !web) {
		http_fail(r, API_NOT_FOUND, NULL, "no route %s", r->path);
		return;
	}
	http_reply_empty(r, 204);
	http_set_header(r, "Allow", allow[0] ? allow : "GET, HEAD, OPTIONS");
	if (r->http->cfg->cors_origin[0]) {
		http_set_header(r, "Access-Control-Allow-Methods", allow[0] ? allow : "GET, HEAD, OPTIONS");
		http_set_header(r, "Access-Control-Allow-Headers",
				"Authorization, Content-Type, Idempotency-Key, Last-Event-ID");
		http_set_header(r, "Access-Control-Max-Age", "600");
	}
}

static enum MHD_Result add_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *total = cls;

	(void)kind;
	*total += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static size_t values_length(struct MHD_Connection *conn, enum MHD_ValueKind kind)
{
	size_t total = 0;

	MHD_get_connection_values(conn, kind, add_length, &total);
	return total;
}

struct query_check {
	const char *allowed;   /* the route's names */
	unsigned long seen;    /* a bit per name of allowed */
	const char *bad;       /* the first key refused */
	bool twice;            /* ... because it came twice */
};

static enum MHD_Result check_query_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *q = cls;
	int i = http_query_index(q->allowed, key);

	(void)kind, (void)value;
	if (i < 0 || i >= (int)(8 * sizeof q->seen) || (q->seen & (1ul << i))) {
		q->bad = key;
		q->twice = i >= 0;
		return MHD_NO;
	}
	q->seen |= 1ul << i;
	return MHD_YES;
}

/* Every query key must be one the route takes, once (the values are the
 * handler's to check). Replies 422 naming the first that is not. */
static bool query_ok(struct http_req *r)
{
	struct query_check q = {r->route->query, 0, NULL, false};
	char near[64];

	if (r->route->flags & HTTP_STATIC)
		return true;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_query_key, &q);
	if (!q.bad)
		return true;
	if (q.twice)
		http_fail(r, API_VALIDATION_FAILED, q.bad, "query parameter \"%s\" is given more than once", q.bad);
	else if (!q.allowed || !*q.allowed)
		http_fail(r, API_VALIDATION_FAILED, q.bad,
			  "unknown query parameter \"%.64s\": %s %s takes no query parameters", q.bad, r->route->method,
			  r->route->pattern);
	else if (http_query_suggest(q.allowed, q.bad, near, sizeof near))
		http_fail(r, API_VALIDATION_FAILED, q.bad,
			  "unknown query parameter \"%.64s\" (did you mean \"%s\"?); %s %s takes: %s", q.bad, near,
			  r->route->method, r->route->pattern, q.allowed);
	else
		http_fail(r, API_VALIDATION_FAILED, q.bad, "unknown query parameter \"%.64s\"; %s %s takes: %s", q.bad,
			  r->route->method, r->route->pattern, q.allowed);
	return false;
}

/* First callback: headers only. Decide everything that can be decided. */
static void begin_request(struct http_req *r)
{
	struct http *h = r->http;
	const char *cl;
	char allow[128];

	if (strlen(r->path) + values_length(r->conn, MHD_GET_ARGUMENT_KIND) > MAX_URL_BYTES) {
		http_fail(r, API_URI_TOO_LONG, NULL, "the URL is longer than 8192 bytes");
		return;
	}
	if (values_length(r->conn, MHD_HEADER_KIND) > MAX_HEADER_BYTES) {
		http_fail(r, API_HEADERS_TOO_LARGE, NULL, "the request headers are larger than 64 KiB");
		return;
	}

	if (strcmp(r->method, "OPTIONS") == 0) {
		preflight(r);
		return;
	}
	http_route_request(r);
	if (!r->route) {
		http_allowed_methods(h, r->path, allow, sizeof allow);
		if (allow[0]) {
			http_fail(r, API_METHOD_NOT_ALLOWED, NULL, "this route does not take that method");
			http_set_header(r, "Allow", allow);
		} else {
			http_fail(r, API_NOT_FOUND, NULL, "no route %s", r->path);
		}
		return;
	}
	if (atomic_load(&h->stopping)) {
		http_fail(r, API_SHUTTING_DOWN, NULL, "the server is shutting down");
		return;
	}
	if (!authorized(r)) {
		http_fail(r, API_UNAUTHORIZED, NULL,
			  "this server needs an API key: send Authorization: Bearer <key>");
		return;
	}
	if (!query_ok(r))
		return;
	if ((r->route->flags & HTTP_JSON_BODY) && !json_content_type(http_header(r, "Content-Type"))) {
		http_fail(r, API_UNSUPPORTED_MEDIA_TYPE, "Content-Type",
			    "this route takes application/json, not %s (curl: -H 'Content-Type: application/json')",
			    http_header(r, "Content-Type"));
		return;
	}
	r->body_limit = (size_t)h->cfg->max_body_mb << 20;
	if (r->route->begin)
		r->route->begin(r);
	if (r->replied)
		return;
	cl = http_header(r, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > r->body_limit) {
		http_fail(r, API_PAYLOAD_TOO_LARGE, NULL, "the body is larger than the limit of %zu MiB",
			  r->body_limit >> 20);
	}
}

/* Takes a piece of the body. */
static void take_upload(struct http_req *r, const char *data, size_t size)
{
	if (r->body_len + size > r->body_limit) {
		http_fail(r, API_PAYLOAD_TOO_LARGE, NULL, "the body is larger than the limit of %zu MiB",
			  r->body_limit >> 20);
		return;
	}
	if (r->sink) {
		r->body_len += size;
		/* A sink that refuses has replied (its contract); the rest of the
		 * body is then drained. One that did not gets a reply here. */
		if (r->sink(r, r->sink_ctx, data, size) < 0 && !r->replied)
			http_fail(r, API_INTERNAL, NULL, "the upload was refused without a reason");
		return;
	}
	r->body.max = r->body_limit;
	api_buf_put(&r->body, data, size);
	r->body_len = r->body.len;
	if (r->body.failed)
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
}

static struct http_req *new_request(struct http *h, struct MHD_Connection *conn, const char *url,
				    const char *method)
{
	struct http_req *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->http = h;
	r->conn = conn;
	r->method = method;
	r->route_index = -1;
	r->fd = -1;
	r->start = now_seconds();
	r->path = strdup(url);
	if (!r->path) {
		free(r);
		return NULL;
	}
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http *h = cls;
	struct http_req *r = *con_cls;

	(void)version;
	if (!r) {
		r = new_request(h, conn, url, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		atomic_fetch_add(&h->active, 1);
		begin_request(r);
		/* A refusal goes out before the body is read. */
		return r->replied ? queue_reply(r) : MHD_YES;
	}
	if (r->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* libmicrohttpd 0.9.75 takes a response only before the body or
		 * after all of it: a request refused mid-body has the rest drained
		 * (never stored), up to a bound past which the connection is cut. */
		if (r->replied) {
			r->drained += *upload_data_size;
			*upload_data_size = 0;
			return r->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
		}
		take_upload(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->deferred) /* resumed by http_complete */
		return finish(r);
	if (!r->replied)
		r->route->handle(r);
	return finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct http_req *r = *con_cls;
	const union MHD_ConnectionInfo *info;
	char remote[INET6_ADDRSTRLEN] = "-";
	double seconds;

	(void)toe;
	if (!r)
		return;
	seconds = now_seconds() - r->start;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info && info->client_addr) {
		const struct sockaddr *sa = info->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, remote, sizeof remote);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, remote,
				  sizeof remote);
	}
	log_access(remote, r->method, r->path, r->status, seconds * 1e3, r->bytes_out);
	if (r->sink_free)
		r->sink_free(r->sink_ctx);
	reply_reset(r);
	if (r->stream)
		http_stream_free(r->stream);
	for (int i = 0; i < r->n_params; i++)
		free(r->params[i]);
	api_buf_free(&r->body);
	free(r->path);
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&h->active, 1);
}

/* ---- the server ---------------------------------------------------------------------------------------- */

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_message("libmicrohttpd: %s", msg);
}

struct http *http_start(const struct cfg *cfg, const struct http_route *routes, size_t n_routes, void *app,
			char *msg, size_t size)
{
	struct http *h = calloc(1, sizeof *h);
	struct addrinfo hints = {0}, *ai = NULL;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	char port[16];
	const union MHD_DaemonInfo *info;
	int rc;

	if (!h) {
		snprintf(msg, size, "out of memory");
		return NULL;
	}
	h->cfg = cfg;
	h->routes = routes;
	h->n_routes = n_routes;
	h->app = app;
	pthread_mutex_init(&h->suspend_lock, NULL);
	pthread_mutex_init(&h->tick_lock, NULL);
	pthread_cond_init(&h->tick_cv, NULL);
	snprintf(port, sizeof port, "%u", cfg->port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(cfg->bind, port, &hints, &ai);
	if (rc != 0) {
		snprintf(msg, size, "bad --bind address %s: %s", cfg->bind, gai_strerror(rc));
		goto fail;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, h,
				     MHD_OPTION_EXTERNAL_LOGGER, log_mhd, h,
				     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->per_ip_connections,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, POOL_BYTES,
				     MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->daemon) {
		snprintf(msg, size, "cannot listen on %s:%u (in use, or not an address of this machine?)", cfg->bind,
			 cfg->port);
		goto fail;
	}
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : cfg->port;
	if (pthread_create(&h->ticker, NULL, http_ticker, h) != 0) {
		snprintf(msg, size, "cannot start the stream ticker");
		goto fail;
	}
	h->ticker_started = true;
	return h;
fail:
	http_stop(h);
	return NULL;
}

unsigned http_port(const struct http *h)
{
	return h->port;
}

void http_quiesce(struct http *h)
{
	MHD_socket fd;

	atomic_store(&h->stopping, true);
	fd = MHD_quiesce_daemon(h->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	http_wake_streams(h);
}

bool http_stopping(const struct http *h)
{
	return atomic_load(&h->stopping);
}

unsigned http_active(const struct http *h)
{
	return atomic_load(&h->active);
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, true);
	if (h->ticker_started) {
		pthread_mutex_lock(&h->tick_lock);
		h->tick_stop = true;
		pthread_cond_signal(&h->tick_cv);
		pthread_mutex_unlock(&h->tick_lock);
		pthread_join(h->ticker, NULL);
	}
	if (h->daemon) {
		/* libmicrohttpd must not stop with connections suspended. */
		http_wake_streams(h);
		MHD_stop_daemon(h->daemon);
	}
	pthread_mutex_destroy(&h->suspend_lock);
	pthread_mutex_destroy(&h->tick_lock);
	pthread_cond_destroy(&h->tick_cv);
	free(h);
}
