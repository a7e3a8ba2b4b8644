/*
 * route_ops.c — health, readiness, service information, metrics, and the
 * dashboard's static files.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
