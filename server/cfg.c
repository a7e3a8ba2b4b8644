/*
 * cfg.c — flags and FITD_* environment variables into struct cfg.
 *
 * One table row per option: its flag, its variable, its kind and where it
 * lands, so the usage text, the environment and the flags cannot drift apart.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cfg.h"

#ifndef FITD_VERSION
#define FITD_VERSION "0.1.0"
#endif

enum opt_kind { OPT_UINT, OPT_U64, OPT_PORT, OPT_STR, OPT_LOG };

/* One option: the single definition of its flag, its variable, its range and
 * its default. The usage text, the README's Configuration table (checked by
 * tests/check_docs.py) and defaults() all come from these rows. */
struct opt {
	const char *flag;
	const char *env;
	enum opt_kind kind;
	size_t offset;
	size_t size;        /* strings: buffer size */
	unsigned long long min, max;
	const char *value;  /* the default, parsed like a flag's value; NULL: computed at start */
	const char *shown;  /* the default as the usage text says it; NULL: value */
	const char *help;
};

#define STR(field) OPT_STR, offsetof(struct cfg, field), sizeof(((struct cfg *)0)->field), 0, 0
#define UINT(field, lo, hi) OPT_UINT, offsetof(struct cfg, field), 0, lo, hi
static const struct opt opts[] = {
	{"--port", "FITD_PORT", OPT_PORT, offsetof(struct cfg, port), 0, 0, 65535, "8080", NULL,
	 "TCP port (0 picks a free one)"},
	{"--bind", "FITD_BIND", STR(bind), "127.0.0.1", NULL, "address to listen on"},
	{"--db", "FITD_DB", STR(db), "./fitd.db", NULL, "SQLite database file, or a postgresql:// URI"},
	{"--workers", "FITD_WORKERS", UINT(workers, 1, 256), NULL, "number of cores",
	 "training worker threads (the CPUs available, a container's CPU quota included)"},
	{"--threads", "FITD_THREADS", UINT(threads, 1, 1024), NULL, "number of cores",
	 "CPU threads training uses in all: a job running alone borrows the idle ones for its matrix products "
	 "(1 = one thread per job)"},
	{"--queue", "FITD_QUEUE", UINT(queue, 1, 1000000), "256", NULL, "queued jobs before POST /v1/jobs answers 503"},
	{"--max-body-mb", "FITD_MAX_BODY_MB", UINT(max_body_mb, 1, 1024), "32", NULL, "largest JSON body in MiB"},
	{"--max-upload-mb", "FITD_MAX_UPLOAD_MB", UINT(max_upload_mb, 1, 1048576), "4096", NULL,
	 "largest streamed CSV upload in MiB"},
	{"--api-key", "FITD_API_KEY", STR(api_key), "", "unset", "require Authorization: Bearer KEY (unset: no auth)"},
	{"--cors-origin", "FITD_CORS_ORIGIN", STR(cors_origin), "", "unset",
	 "allowed CORS origin, or * (unset: no CORS headers)"},
	{"--commit-interval-ms", "FITD_COMMIT_INTERVAL_MS", UINT(commit_interval_ms, 0, 3600000), "1000", NULL,
	 "group fast epochs into one commit at least this often"},
	{"--http-threads", "FITD_HTTP_THREADS", UINT(http_threads, 1, 1024), NULL, "2 × cores, at least 4",
	 "HTTP threads"},
	{"--max-connections", "FITD_MAX_CONNECTIONS", UINT(max_connections, 16, 1000000), "2048", NULL,
	 "open connections"},
	{"--per-ip-connections", "FITD_PER_IP_CONNECTIONS", UINT(per_ip_connections, 0, 1000000), "0", "0 (unlimited)",
	 "open connections per client address (behind a proxy every client shares its address)"},
	{"--timeout", "FITD_TIMEOUT", UINT(timeout_s, 1, 86400), "60", NULL,
	 "seconds before an idle connection is closed"},
	{"--max-rows", "FITD_MAX_ROWS", OPT_U64, offsetof(struct cfg, max_rows), 0, 1, 1000000000ULL, "10000000", NULL,
	 "samples per dataset"},
	{"--max-instances", "FITD_MAX_INSTANCES", UINT(max_instances, 1, 10000000), "10000", NULL,
	 "rows per predict request"},
	{"--log-format", "FITD_LOG_FORMAT", OPT_LOG, offsetof(struct cfg, log_format), 0, 0, 0, "text", NULL,
	 "text or json"},
	{"--share-dir", "FITD_SHARE_DIR", STR(share_dir), NULL, "the folder above the binary's",
	 "folder holding migrations/, web/ and docs/openapi.json"},
	{"--vendor-dir", "FITD_VENDOR_DIR", STR(vendor_dir), "/usr/share/javascript", NULL,
	 "folder of packaged JavaScript libraries"},
	{"--node-id", "FITD_NODE_ID", STR(node_id), NULL, "<hostname>:<port>",
	 "this node's id in GET /v1/nodes and in its jobs' leases"},
	{"--lease-ttl-ms", "FITD_LEASE_TTL_MS", UINT(lease_ttl_ms, 1000, 3600000), "10000", NULL,
	 "a running job's lease: on PostgreSQL another node resumes the job this long after its node's last "
	 "heartbeat"},
	{"--heartbeat-ms", "FITD_HEARTBEAT_MS", UINT(heartbeat_ms, 100, 600000), "2000", NULL,
	 "how often a node records its heartbeat and renews its jobs' leases (less than --lease-ttl-ms)"},
};
#undef STR
#undef UINT
#define N_OPTS (sizeof opts / sizeof opts[0])

static int set_opt(struct cfg *cfg, const struct opt *o, const char *value, const char *from, char *msg, size_t size);

/* The CPUs this process may use: its affinity mask, capped by a cgroup v2
 * CPU quota (a container's --cpus), rounded up. */
static long available_cpus(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	FILE *f;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		cores = CPU_COUNT(&set);
	f = fopen("/sys/fs/cgroup/cpu.max", "r");
	if (f) {
		long long quota, period;

		if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0 &&
		    (quota + period - 1) / period < cores)
			cores = (long)((quota + period - 1) / period);
		fclose(f);
	}
	return cores < 1 ? 1 : cores;
}

/* Every row's default, then the computed ones (workers, HTTP threads; the
 * share folder once the flags are read). */
static void defaults(struct cfg *cfg)
{
	long cores = available_cpus();
	char msg[128];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < N_OPTS; i++) {
		int rc = opts[i].value ? set_opt(cfg, &opts[i], opts[i].value, opts[i].flag, msg, sizeof msg) : 0;

		assert(rc == 0 && "a default of the table is out of its own range");
		(void)rc;
	}
	cfg->workers = (unsigned)cores;
	cfg->threads = (unsigned)cores;
	cfg->http_threads = cores * 2 < 4 ? 4 : (unsigned)cores * 2;
}

/* The folder above the executable when it holds migrations/ (a build tree or
 * an install prefix), else the current directory. */
static void default_share_dir(struct cfg *cfg)
{
	char exe[900], probe[1100];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	snprintf(cfg->share_dir, sizeof cfg->share_dir, ".");
	if (n <= 0)
		return;
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return;
		*slash = '\0';
		if (up == 1) {
			snprintf(probe, sizeof probe, "%s/migrations", exe[0] ? exe : "/");
			if (access(probe, R_OK) == 0)
				snprintf(cfg->share_dir, sizeof cfg->share_dir, "%s", exe[0] ? exe : "/");
		}
	}
}

static int set_opt(struct cfg *cfg, const struct opt *o, const char *value, const char *from, char *msg, size_t size)
{
	char *base = (char *)cfg + o->offset;
	unsigned long long v;
	char *end;

	switch (o->kind) {
	case OPT_STR:
		if (strlen(value) >= o->size) {
			snprintf(msg, size, "%s: value too long", from);
			return -1;
		}
		memcpy(base, value, strlen(value) + 1);
		return 0;
	case OPT_LOG:
		if (strcmp(value, "text") == 0)
			*(enum cfg_log_format *)base = CFG_LOG_TEXT;
		else if (strcmp(value, "json") == 0)
			*(enum cfg_log_format *)base = CFG_LOG_JSON;
		else {
			snprintf(msg, size, "%s: expected text or json, got \"%s\"", from, value);
			return -1;
		}
		return 0;
	default:
		errno = 0;
		v = strtoull(value, &end, 10);
		if (errno || end == value || *end || value[0] == '-' || v < o->min || v > o->max) {
			snprintf(msg, size, "%s: expected an integer in %llu..%llu, got \"%s\"", from, o->min, o->max, value);
			return -1;
		}
		if (o->kind == OPT_PORT)
			*(uint16_t *)base = (uint16_t)v;
		else if (o->kind == OPT_U64)
			*(uint64_t *)base = v;
		else
			*(unsigned *)base = (unsigned)v;
		return 0;
	}
}

const char *cfg_usage(void)
{
	static char text[8192];
	size_t len;

	if (text[0])
		return text;
	len = (size_t)snprintf(text, sizeof text,
			       "usage: fitd [options]          serve the API\n"
			       "       fitd healthcheck        exit 0 when the server on FITD_PORT answers /healthz\n"
			       "       fitd backup PATH        copy the database to PATH (which must not exist) while in use\n"
			       "       fitd migrate-db FROM TO copy the fitd database FROM into the new, empty TO (each a\n"
			       "                               SQLite path or a postgresql:// URI; both migrated first); jobs\n"
			       "                               running in FROM (a crashed server) are copied as running and\n"
			       "                               resume on TO. Stop FROM's servers first\n\n"
			       "options (each also read from its environment variable):\n");
	for (size_t i = 0; i < N_OPTS && len < sizeof text; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "  %-22s %-24s %s [default: %s]\n", opts[i].flag,
					opts[i].env, opts[i].help, opts[i].shown ? opts[i].shown : opts[i].value);
	return text;
}

int cfg_load(struct cfg *cfg, int argc, char **argv, char *msg, size_t size)
{
	defaults(cfg);
	for (size_t i = 0; i < N_OPTS; i++) {
		const char *v = getenv(opts[i].env);

		if (v && *v && set_opt(cfg, &opts[i], v, opts[i].env, msg, size))
			return -1;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a], *value = NULL, *eq;
		const struct opt *o = NULL;
		size_t name_len;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(cfg_usage(), stdout);
			return 1;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("fitd %s\n", FITD_VERSION);
			return 1;
		}
		eq = strchr(arg, '=');
		name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (size_t i = 0; i < N_OPTS; i++)
			if (strlen(opts[i].flag) == name_len && strncmp(opts[i].flag, arg, name_len) == 0)
				o = &opts[i];
		if (!o) {
			snprintf(msg, size, "unknown option %s (see --help)", arg);
			return -1;
		}
		if (eq)
			value = eq + 1;
		else if (a + 1 < argc)
			value = argv[++a];
		else {
			snprintf(msg, size, "%s needs a value", o->flag);
			return -1;
		}
		if (set_opt(cfg, o, value, o->flag, msg, size))
			return -1;
	}
	if (!cfg->share_dir[0])
		default_share_dir(cfg);
	if (cfg->heartbeat_ms >= cfg->lease_ttl_ms) {
		snprintf(msg, size, "--heartbeat-ms (%u) must be less than --lease-ttl-ms (%u)", cfg->heartbeat_ms,
			 cfg->lease_ttl_ms);
		return -1;
	}
	if (!cfg->node_id[0]) {
		char host[256] = "localhost";

		gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		if (cfg->port)
			snprintf(cfg->node_id, sizeof cfg->node_id, "%.100s:%u", host, cfg->port);
		else /* --port 0: the port is not known yet */
			snprintf(cfg->node_id, sizeof cfg->node_id, "%.100s:pid%ld", host, (long)getpid());
	}
	return 0;
}
