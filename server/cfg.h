/*
 * cfg.h — fitd's configuration: command-line flags, each with a FITD_*
 * environment twin (the flag wins). Flags, variables, ranges and defaults are
 * defined once, by the rows of the option table in cfg.c (`fitd --help`
 * prints them; docs/API.md and the README's Configuration table describe them).
 */
#ifndef FITD_CFG_H
#define FITD_CFG_H

#include <stdbool.h>
#include <stdint.h>

enum cfg_log_format { CFG_LOG_TEXT, CFG_LOG_JSON };

struct cfg {
	uint16_t port;                 /* --port */
	char bind[64];                 /* --bind */
	char db[1024];                 /* --db */
	unsigned workers;              /* --workers */
	unsigned threads;              /* --threads */
	unsigned queue;                /* --queue */
	unsigned max_body_mb;          /* --max-body-mb */
	unsigned max_upload_mb;        /* --max-upload-mb */
	char api_key[256];             /* --api-key */
	char cors_origin[256];         /* --cors-origin */
	unsigned commit_interval_ms;   /* --commit-interval-ms */
	unsigned http_threads;         /* --http-threads */
	unsigned max_connections;      /* --max-connections */
	unsigned per_ip_connections;   /* --per-ip-connections */
	unsigned timeout_s;            /* --timeout */
	uint64_t max_rows;             /* --max-rows */
	unsigned max_instances;        /* --max-instances */
	enum cfg_log_format log_format;/* --log-format */
	char share_dir[1024];          /* --share-dir */
	char vendor_dir[1024];         /* --vendor-dir */
	char node_id[128];             /* --node-id */
	unsigned lease_ttl_ms;         /* --lease-ttl-ms */
	unsigned heartbeat_ms;         /* --heartbeat-ms */
};

/* Fills *cfg from the environment, then argv (argv[0] is skipped). Returns 0,
 * 1 when --help or --version was printed, or -1 with a message in msg. */
int cfg_load(struct cfg *cfg, int argc, char **argv, char *msg, size_t msg_size);
/* The usage text. */
const char *cfg_usage(void);

#endif
