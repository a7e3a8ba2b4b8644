/*
 * main.c — fitd's entry point: configuration, start-up (migrations, crash
 * recovery, workers, HTTP), and an orderly shutdown on SIGTERM/SIGINT.
 *
 * Also subcommands for containers and operators: `fitd healthcheck`
 * (exit 0 when /healthz answers 200; no curl needed in the image),
 * `fitd backup PATH` (a consistent copy of the live database) and
 * `fitd migrate-db FROM TO` (a copy into a new database, SQLite or
 * PostgreSQL either side: server/store/db_copy.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/routes/app.h"
#include "server/cfg.h"
#include "server/store/db.h"
#include "server/http/http.h"
#include "server/jobs/heartbeat.h"
#include "server/jobs/jobq.h"
#include "server/kernels.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/jobs/predq.h"
#include "server/routes/route.h"
#include "server/jobs/worker.h"

#define MAX_ATTEMPTS 3
#define DRAIN_SECONDS 20

static int healthcheck(const struct cfg *cfg)
{
	const char *host = strcmp(cfg->bind, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(cfg->bind, "::") == 0 ? "::1" : cfg->bind;
	struct addrinfo hints = {0}, *ai;
	struct timeval tv = {5, 0};
	char port[16], reply[64] = "";
	static const char request[] = "GET /healthz HTTP/1.0\r\n\r\n";
	ssize_t n;
	int fd, ok;

	snprintf(port, sizeof port, "%u", cfg->port);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return 1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
	     connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	     write(fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1);
	freeaddrinfo(ai);
	n = ok ? read(fd, reply, sizeof reply - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0)
		reply[n] = '\0';
	ok = n > 12 && strncmp(reply, "HTTP/1.", 7) == 0 && strncmp(reply + 9, "200", 3) == 0;
	fprintf(ok ? stdout : stderr, "healthcheck %s:%s %s\n", host, port, ok ? "ok" : "failed");
	return ok ? 0 : 1;
}

static int backup(const struct cfg *cfg, const char *path)
{
	char msg[512];
	struct db *db = db_open(cfg->db, msg, sizeof msg);
	int rc;

	if (!db) {
		fprintf(stderr, "fitd: %s\n", msg);
		return 1;
	}
	rc = db_backup(db, path, msg, sizeof msg);
	db_close(db);
	if (rc) {
		fprintf(stderr, "fitd: %s\n", msg);
		return 1;
	}
	printf("backed up %s to %s\n", cfg->db, path);
	return 0;
}

/* Opens one side of migrate-db and brings it to the latest schema of its
 * engine. FROM must already be a fitd database: a missing SQLite file or
 * one without fitd's schema is refused, not made. */
static struct db *migrate_db_open(const struct cfg *cfg, const char *which, const char *path, bool must_exist)
{
	char msg[1024], dir[1100];
	struct db *db;
	struct stat sb;

	if (must_exist && !db_is_postgres(path) && stat(path, &sb) != 0) {
		fprintf(stderr, "fitd: %s %s: %s\n", which, path, strerror(errno));
		return NULL;
	}
	if (!(db = db_open(path, msg, sizeof msg))) {
		fprintf(stderr, "fitd: %s: %s\n", which, msg);
		return NULL;
	}
	if (must_exist && db_schema_version(db) <= 0) {
		fprintf(stderr, "fitd: %s %s is not a fitd database (it has no fitd schema)\n", which, path);
		db_close(db);
		return NULL;
	}
	snprintf(dir, sizeof dir, "%s/migrations/%s", cfg->share_dir, db_is_postgres(path) ? "postgres" : "sqlite");
	if (db_migrate(db, dir, msg, sizeof msg)) {
		fprintf(stderr, "fitd: %s: %s\n", which, msg);
		db_close(db);
		return NULL;
	}
	return db;
}

/* fitd migrate-db FROM TO: copies FROM into the new, empty TO. */
static int migrate_db(const struct cfg *cfg, const char *from_path, const char *to_path)
{
	struct db *from = NULL, *to = NULL;
	struct db_copied *tables = NULL;
	uint64_t total = 0;
	size_t n = 0;
	char msg[1024];
	int rc = 1;

	if (strcmp(from_path, to_path) == 0) {
		fprintf(stderr, "fitd: FROM and TO are the same database\n");
		return 1;
	}
	if (!(from = migrate_db_open(cfg, "FROM", from_path, true)) ||
	    !(to = migrate_db_open(cfg, "TO", to_path, false)))
		goto out;
	if (db_copy(from, to, &tables, &n, msg, sizeof msg)) {
		fprintf(stderr, "fitd: %s\n", msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		printf("%-20s %llu rows\n", tables[i].table, (unsigned long long)tables[i].rows);
		total += tables[i].rows;
	}
	printf("copied %llu rows of %zu tables from %s to %s\n", (unsigned long long)total, n, from_path, to_path);
	rc = 0;
out:
	free(tables);
	db_close(to);
	db_close(from);
	return rc;
}

/* Opens the database, applies migrations, recovers what a crash left. */
static int prepare_database(const struct cfg *cfg)
{
	char msg[1024], dir[1100];
	struct api_err err = {0};
	struct db *db = db_open(cfg->db, msg, sizeof msg);
	uint64_t counts[API_JOB_N_STATUS];
	int requeued;

	if (!db) {
		fprintf(stderr, "fitd: %s\n", msg);
		return -1;
	}
	/* Each engine has its own numbered migrations. */
	snprintf(dir, sizeof dir, "%s/migrations/%s", cfg->share_dir, db_is_postgres(cfg->db) ? "postgres" : "sqlite");
	if (db_migrate(db, dir, msg, sizeof msg)) {
		fprintf(stderr, "fitd: %s\n", msg);
		db_close(db);
		return -1;
	}
	requeued = db_recover(db, MAX_ATTEMPTS, &err);
	if (requeued < 0 || db_job_counts(db, counts, &err)) {
		fprintf(stderr, "fitd: recovery failed: %s\n", err.message);
		db_close(db);
		return -1;
	}
	db_close(db);
	if (requeued > 0)
		log_message("%d job(s) were running when the last process died; they resume", requeued);
	if (counts[API_JOB_QUEUED] > 0)
		log_message("%llu job(s) queued", (unsigned long long)counts[API_JOB_QUEUED]);
	return 0;
}

/* The database as the log shows it: a URI's password replaced by "***". */
static void redact_uri(const char *db, char *out, size_t size)
{
	const char *scheme = strstr(db, "://"), *at, *colon;

	snprintf(out, size, "%s", db);
	if (!scheme || !(at = strchr(scheme + 3, '@')))
		return;
	colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
	if (colon)
		snprintf(out, size, "%.*s:***%s", (int)(colon - db), db, at);
}

/* Another node committed job events: wake the streams and cancel waiters,
 * and an idle worker (the event may be a job queued there). */
static void publish_events(void *ctx)
{
	jobq_publish(ctx);
	jobq_notify(ctx);
}

static void wake_streams(void *ctx)
{
	struct app *app = ctx;

	if (app->http)
		http_wake_streams(app->http);
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	struct app app = {0};
	struct worker_pool *workers = NULL;
	struct heartbeat *heartbeat;
	struct db_listener *listener;
	char shown_db[sizeof cfg.db];
	sigset_t signals;
	char msg[1024];
	int sig = 0, rc;

	if (argc >= 2 && (strcmp(argv[1], "healthcheck") == 0 || strcmp(argv[1], "backup") == 0)) {
		const char *sub = argv[1];

		if (strcmp(sub, "backup") == 0 && argc < 3) {
			fprintf(stderr, "usage: fitd backup PATH\n");
			return 2;
		}
		rc = cfg_load(&cfg, strcmp(sub, "backup") == 0 ? argc - 2 : argc - 1,
			      strcmp(sub, "backup") == 0 ? argv + 2 : argv + 1, msg, sizeof msg);
		if (rc) {
			if (rc < 0)
				fprintf(stderr, "fitd: %s\n", msg);
			return rc < 0 ? 2 : 0;
		}
		return strcmp(sub, "healthcheck") == 0 ? healthcheck(&cfg) : backup(&cfg, argv[2]);
	}
	if (argc >= 2 && strcmp(argv[1], "migrate-db") == 0) {
		if (argc < 4 || argv[2][0] == '-' || argv[3][0] == '-') {
			fprintf(stderr, "usage: fitd migrate-db FROM TO [--share-dir DIR]\n");
			return 2;
		}
		/* options after FROM TO (argv[3] stands in for cfg_load's argv[0]) */
		rc = cfg_load(&cfg, argc - 3, argv + 3, msg, sizeof msg);
		if (rc) {
			if (rc < 0)
				fprintf(stderr, "fitd: %s\n", msg);
			return rc < 0 ? 2 : 0;
		}
		return migrate_db(&cfg, argv[2], argv[3]);
	}
	rc = cfg_load(&cfg, argc, argv, msg, sizeof msg);
	if (rc) {
		if (rc < 0)
			fprintf(stderr, "fitd: %s\n", msg);
		return rc < 0 ? 2 : 0;
	}
	/* Buffers of 1 MiB and more (a CSV upload's 4 MiB blocks, a job's data)
	 * are mapped and given back to the system when freed. glibc's default
	 * raises the threshold after the first such free, after which each
	 * thread's arena keeps its blocks for good: one more step of RSS per
	 * thread that ever took an upload. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	/* may execute fitd again with better BLAS kernels: before any thread */
	kernels_choose(argv);
	log_init(cfg.log_format);
	/* Every thread inherits this mask; main alone waits for the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past a file-size limit, a write must fail (503 to the client), not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	nn_blas_single_threaded();
	if (!api_node_id_valid(cfg.node_id)) {
		fprintf(stderr, "fitd: --node-id %s: use 1 to %d letters, digits and . _ - : @\n", cfg.node_id,
			API_NODE_ID_MAX);
		return 1;
	}
	db_set_path(cfg.db);
	db_set_node(cfg.node_id, cfg.lease_ttl_ms, MAX_ATTEMPTS);
	if (prepare_database(&cfg))
		return 1;

	app.cfg = &cfg;
	/* GET /openapi.json answers 404 without it; the server serves on. */
	if (route_openapi_load(&app, cfg.share_dir, msg, sizeof msg))
		log_message("no OpenAPI document, GET /openapi.json answers 404: %s", msg);
	app.limits = (struct api_limits){
		.max_rows = cfg.max_rows,
		.max_cells = (uint64_t)1 << 31,
		.max_instances = cfg.max_instances,
	};
	app.jobq = jobq_create(cfg.workers);
	app.predq = predq_start();
	app.mcache = mcache_create(64);
	app.par = par_start(cfg.threads);
	if (!app.jobq || !app.predq || !app.mcache || !app.par) {
		fprintf(stderr, "fitd: cannot start (out of memory?)\n");
		return 1;
	}
	metrics_init(route_count, route_metrics_label);
	app.http = http_start(&cfg, route_table, route_count, &app, msg, sizeof msg);
	if (!app.http) {
		fprintf(stderr, "fitd: %s\n", msg);
		predq_stop(app.predq);
		jobq_destroy(app.jobq);
		return 1;
	}
	jobq_set_listener(app.jobq, wake_streams, &app);
	/* PostgreSQL: other nodes' job events wake this node's streams at once */
	listener = db_listen_start(publish_events, app.jobq);
	heartbeat = heartbeat_start(app.jobq, cfg.workers, cfg.heartbeat_ms);
	if (!heartbeat) {
		fprintf(stderr, "fitd: cannot start the heartbeat\n");
		http_stop(app.http);
		predq_stop(app.predq);
		jobq_destroy(app.jobq);
		return 1;
	}
	workers = worker_start(app.jobq, app.mcache, app.par, cfg.workers, cfg.commit_interval_ms);
	if (!workers) {
		fprintf(stderr, "fitd: cannot start the workers\n");
		heartbeat_stop(heartbeat);
		http_stop(app.http);
		predq_stop(app.predq);
		jobq_destroy(app.jobq);
		return 1;
	}
	atomic_store(&app.workers_running, true);
	redact_uri(cfg.db, shown_db, sizeof shown_db);
	log_message("fitd listening on http://%s:%u (database %s, node %s, %u workers, %u threads, %s)", cfg.bind,
		    http_port(app.http), shown_db, cfg.node_id, cfg.workers, cfg.threads, nn_blas_name());
	log_message("BLAS kernels %s: %s", kernels_name(), kernels_reason());

	while (sigwait(&signals, &sig) != 0)
		;
	log_message("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");

	/* Stop accepting; stop the jobs at a batch boundary (resumable); let
	 * the requests in flight finish; then close everything. */
	http_quiesce(app.http);
	atomic_store(&app.workers_running, false);
	worker_stop(workers);
	/* the workers gave their jobs back: the node is stopped */
	heartbeat_stop(heartbeat);
	par_stop(app.par);
	for (int i = 0; i < DRAIN_SECONDS * 10 && http_active(app.http) > 0; i++)
		usleep(100000);
	predq_stop(app.predq);
	db_listen_stop(listener);
	jobq_set_listener(app.jobq, NULL, NULL);
	http_stop(app.http);
	jobq_destroy(app.jobq);
	mcache_destroy(app.mcache);
	db_thread_close();
	free(app.openapi);
	log_message("stopped");
	return 0;
}
