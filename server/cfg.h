/*
 * cfg.h — fitd's configuration: command-line flags, each with a FITD_*
 * environment twin (the flag wins), and the defaults of ../shared/API.md.
 */
#ifndef FITD_CFG_H
#define FITD_CFG_H

#include <stdbool.h>
#include <stdint.h>

enum cfg_log_format { CFG_LOG_TEXT, CFG_LOG_JSON };

struct cfg {
	uint16_t port;                 /* --port FITD_PORT 8080 */
	char bind[64];                 /* --bind FITD_BIND 127.0.0.1 */
	char db[1024];                 /* --db FITD_DB ./fitd.db */
	unsigned workers;              /* --workers FITD_WORKERS: cores */
	unsigned threads;              /* --threads FITD_THREADS: cores (training threads in all) */
	unsigned queue;                /* --queue FITD_QUEUE: 256 queued jobs */
	unsigned max_body_mb;          /* --max-body-mb FITD_MAX_BODY_MB: 32 (JSON bodies) */
	unsigned max_upload_mb;        /* --max-upload-mb FITD_MAX_UPLOAD_MB: 4096 (streamed CSV) */
	char api_key[256];             /* --api-key FITD_API_KEY: "" = no auth */
	char cors_origin[256];         /* --cors-origin FITD_CORS_ORIGIN: "" = no CORS */
	unsigned commit_interval_ms;   /* --commit-interval-ms FITD_COMMIT_INTERVAL_MS 1000 */
	unsigned http_threads;         /* --http-threads FITD_HTTP_THREADS: 2 x cores, at least 4 */
	unsigned max_connections;      /* --max-connections FITD_MAX_CONNECTIONS 2048 */
	unsigned per_ip_connections;   /* --per-ip-connections FITD_PER_IP_CONNECTIONS 0 = unlimited */
	unsigned timeout_s;            /* --timeout FITD_TIMEOUT: idle connection timeout, 60 s */
	uint64_t max_rows;             /* --max-rows FITD_MAX_ROWS: 10,000,000 samples per dataset */
	unsigned max_instances;        /* --max-instances FITD_MAX_INSTANCES: 10,000 rows per predict */
	enum cfg_log_format log_format;/* --log-format FITD_LOG_FORMAT text|json */
	char share_dir[1024];          /* --share-dir FITD_SHARE_DIR: holds migrations/ and web/ */
	char vendor_dir[1024];         /* --vendor-dir FITD_VENDOR_DIR: /usr/share/javascript */
};

/* Fills *cfg from the environment, then argv (argv[0] is skipped). Returns 0,
 * 1 when --help or --version was printed, or -1 with a message in msg. */
int cfg_load(struct cfg *cfg, int argc, char **argv, char *msg, size_t msg_size);
/* The usage text. */
const char *cfg_usage(void);

#endif
