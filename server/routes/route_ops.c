/*
 * route_ops.c — health, readiness, service information, metrics, the
 * dashboard's static files and the OpenAPI document.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/hash.h"
#include "server/kernels.h"
#include "server/metrics.h"
#include "server/routes/route.h"

#ifndef FITD_VERSION
#define FITD_VERSION "0.1.0"
#endif

void route_healthz(struct http_req *r)
{
	http_reply_json(r, 200, strdup("{\"status\":\"ok\"}"));
}

void route_readyz(struct http_req *r)
{
	struct app *app = route_app(r);
	struct db *db = db_thread();

	if (!db || !db_ping(db))
		http_fail(r, API_UNAVAILABLE, NULL, "the database is not available");
	else if (!db_writable())
		http_fail(r, API_UNAVAILABLE, NULL, "the database cannot be written: the last write failed");
	else if (!atomic_load(&app->workers_running) || http_stopping(app->http))
		http_fail(r, API_UNAVAILABLE, NULL, "the workers are not running");
	else
		http_reply_json(r, 200, strdup("{\"status\":\"ready\"}"));
}

void route_info(struct http_req *r)
{
	const struct app *app = route_app(r);
	const struct cfg *cfg = app->cfg;
	struct api_info info = {
		.version = FITD_VERSION,
		.blas = nn_blas_name(),
		.kernels = kernels_name(),
		.kernels_reason = kernels_reason(),
		.threads = cfg->threads,
		.workers = cfg->workers,
		.queue_capacity = cfg->queue,
		.http_threads = cfg->http_threads,
		.commit_interval_ms = cfg->commit_interval_ms,
		.auth = cfg->api_key[0] != '\0',
		.max_body_bytes = (uint64_t)cfg->max_body_mb << 20,
		.max_upload_bytes = (uint64_t)cfg->max_upload_mb << 20,
		.max_rows = cfg->max_rows,
		.max_instances = cfg->max_instances,
	};

	http_reply_json(r, 200, api_info_encode(&info));
}

void route_nodes(struct http_req *r)
{
	const struct app *app = route_app(r);
	struct api_node_info *items;
	struct api_err err = {0};
	struct db *db = route_db(r);
	struct timespec now;
	size_t n;

	if (!db)
		return;
	if (db_node_list(db, &items, &n, &err)) {
		http_reply_error(r, &err);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	http_reply_json(r, 200,
			api_node_list_encode(items, n, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
					     app->cfg->lease_ttl_ms));
	for (size_t i = 0; i < n; i++)
		api_node_free(&items[i]);
	free(items);
}

void route_metrics(struct http_req *r)
{
	struct app *app = route_app(r);
	struct metrics_jobs jobs;
	struct jobq_stats stats;
	struct api_err err = {0};
	struct db *db = route_db(r);
	char *text;

	if (!db)
		return;
	memset(&jobs, 0, sizeof jobs);
	if (db_job_counts(db, jobs.by_status, &err)) {
		http_reply_error(r, &err);
		return;
	}
	jobq_stats(app->jobq, &stats);
	jobs.busy_workers = stats.busy;
	jobs.workers = app->cfg->workers;
	jobs.samples_per_second = stats.samples_per_second;
	jobs.samples_total = stats.samples_total;
	jobs.threads = app->cfg->threads;
	jobs.helpers_busy = par_busy(app->par);
	jobs.kernels = kernels_name();
	jobs.kernels_reason = kernels_reason();
	text = metrics_render(&jobs);
	if (!text) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	http_reply_body(r, 200, text, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- static files -------------------------------------------------------------------- */

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
	{NULL, NULL},
};

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	for (int i = 0; dot && content_types[i].ext; i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return NULL;
}

/* Only plain segments of [A-Za-z0-9._-], none starting with a dot: no "..",
 * no hidden files, no encoded tricks (libmicrohttpd has already decoded %xx). */
static bool safe_path(const char *path)
{
	bool segment_start = true;

	if (strlen(path) > 200)
		return false;
	for (const char *p = path; *p; p++) {
		char c = *p;

		if (c == '/') {
			if (segment_start && p != path)
				return false; /* "//" */
			segment_start = true;
			continue;
		}
		if (segment_start && c == '.')
			return false;
		segment_start = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static bool inside(const char *file, const char *root, const char *sub)
{
	char dir[1100], real_dir[PATH_MAX], real_file[PATH_MAX];
	size_t n;

	snprintf(dir, sizeof dir, "%s%s%s", root, sub ? "/" : "", sub ? sub : "");
	if (!realpath(dir, real_dir) || !realpath(file, real_file))
		return false;
	n = strlen(real_dir);
	return strncmp(real_file, real_dir, n) == 0 && real_file[n] == '/';
}

void route_web(struct http_req *r)
{
	const struct cfg *cfg = route_app(r)->cfg;
	const char *path = http_path(r), *type, *root = cfg->share_dir, *sub = "web";
	char file[2048];
	struct stat st;
	int fd;

	if (strcmp(path, "/") == 0)
		path = "/index.html";
	/* Packaged JavaScript libraries (Debian's libjs-*), e.g. /vendor/chart.js/chart.min.js. */
	if (strncmp(path, "/vendor/", 8) == 0) {
		root = cfg->vendor_dir;
		sub = NULL;
		path += 7;
	}
	type = content_type(path);
	if (!safe_path(path) || !type) {
		http_fail(r, API_NOT_FOUND, NULL, "no route %s", http_path(r));
		return;
	}
	if (sub)
		snprintf(file, sizeof file, "%s/%s%s", root, sub, path);
	else
		snprintf(file, sizeof file, "%s%s", root, path);
	/* No symlink may lead out of the served folder: the resolved path must
	 * stay under the resolved root, and the file itself is no symlink. */
	fd = inside(file, root, sub) ? open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		http_fail(r, API_NOT_FOUND, NULL, "no route %s", http_path(r));
		return;
	}
	/* The dashboard's own files change with fitd: always revalidate them, so a
	 * new page never runs with an old script. Packaged libraries may be kept. */
	http_reply_file(r, fd, (size_t)st.st_size, type, sub ? "no-cache" : "public, max-age=86400");
}

/* ---- the OpenAPI document ----------------------------------------------------------- */

int route_openapi_load(struct app *app, const char *share_dir, char *msg, size_t size)
{
	char path[1100];
	unsigned char sum[32];
	struct stat st;
	cJSON *doc;
	char *text;
	ssize_t n;
	int fd;

	app->openapi = NULL;
	app->openapi_len = 0;
	snprintf(path, sizeof path, "%s/docs/openapi.json", share_dir);
	/* O_NONBLOCK: a FIFO in its place must not hang the start-up (refused below). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(msg, size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > ROUTE_OPENAPI_MAX) {
		snprintf(msg, size, "%s: not a regular file of 1..%u bytes", path, ROUTE_OPENAPI_MAX);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	n = 0;
	while (text && n < (ssize_t)st.st_size) {
		ssize_t got = read(fd, text + n, (size_t)st.st_size - (size_t)n);

		if (got <= 0)
			break;
		n += got;
	}
	close(fd);
	if (!text || n != (ssize_t)st.st_size) {
		snprintf(msg, size, "%s: %s", path, text ? "short read" : "out of memory");
		free(text);
		return -1;
	}
	text[n] = '\0';
	/* Served as application/json: it must be one JSON object, no NUL inside. */
	doc = strlen(text) == (size_t)n ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
	if (!cJSON_IsObject(doc) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "openapi"))) {
		snprintf(msg, size, "%s: not an OpenAPI document in JSON", path);
		cJSON_Delete(doc);
		free(text);
		return -1;
	}
	cJSON_Delete(doc);
	hash_sha256(text, (size_t)n, sum);
	app->openapi_etag[0] = '"';
	for (int i = 0; i < 32; i++)
		snprintf(app->openapi_etag + 1 + 2 * i, 3, "%02x", sum[i]);
	memcpy(app->openapi_etag + 65, "\"", 2);
	app->openapi = text;
	app->openapi_len = (size_t)n;
	return 0;
}

/* Does an If-None-Match value (a list of entity tags, or *) name etag? A weak
 * W/ tag matches too (RFC 9110 13.1.2: weak comparison). */
static bool etag_listed(const char *list, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

void route_openapi(struct http_req *r)
{
	const struct app *app = route_app(r);
	const char *since = http_header(r, "If-None-Match");
	char *body;

	if (!app->openapi) {
		http_fail(r, API_NOT_FOUND, NULL,
			  "no OpenAPI document: %s/docs/openapi.json was missing or unreadable at start-up",
			  app->cfg->share_dir);
		return;
	}
	if (since && etag_listed(since, app->openapi_etag)) {
		http_reply_empty(r, 304);
	} else {
		body = malloc(app->openapi_len);
		if (body)
			memcpy(body, app->openapi, app->openapi_len);
		http_reply_bytes(r, 200, body, app->openapi_len, "application/json");
		if (!body)
			return;
	}
	/* A new fitd may serve a new document: revalidate (cheap, by ETag). */
	http_set_header(r, "ETag", app->openapi_etag);
	http_set_header(r, "Cache-Control", "no-cache");
}
