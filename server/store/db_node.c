/*
 * db_node.c — nodes and job leases (issue 15): this process's node id, its
 * heartbeat row, the leases of the jobs it runs, and the nodes list.
 *
 * A claim leases a job to this node until now + the lease's length; every
 * heartbeat renews the leases of the node's running jobs. On PostgreSQL a
 * running job whose lease ended is claimed by the next node to look
 * (db_job_claim), so a node that cannot renew its leases for a lease's
 * length stops writing its jobs (db_lease_held) before another node may
 * claim them, and db_job_commit fences every commit by the lease besides.
 * Times are the nodes' clocks in unix milliseconds: nodes keep their clocks
 * within a small fraction of the lease of each other.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/store/db_internal.h"

static char node_id[API_NODE_ID_MAX + 1] = "local";
static unsigned lease_ms = 10000;
static unsigned attempts_max = 3;
/* When the last heartbeat that renewed the leases committed (monotonic ms; 0: none yet). */
static atomic_llong renewed_at;
static atomic_bool shared_db;

void db_set_node(const char *id, unsigned lease_ttl_ms, unsigned max_attempts)
{
	snprintf(node_id, sizeof node_id, "%s", id);
	lease_ms = lease_ttl_ms;
	attempts_max = max_attempts;
}

const char *db_node_id(void)
{
	return node_id;
}

unsigned db_lease_ms(void)
{
	return lease_ms;
}

unsigned db_max_attempts(void)
{
	return attempts_max;
}

int64_t db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool db_shared(struct db *db)
{
	return db->pg != NULL;
}

unsigned db_claim_wait_ms(struct db *db, unsigned cap)
{
	static const char sql[] = "SELECT min(lease_expires_ms) FROM jobs WHERE status = 'running'";
	struct api_err err;
	struct db_stmt *st;
	int64_t wait = cap;

	if (!db->pg || !(st = db_stmt(db, sql, &err)))
		return cap;
	if (db_step(st) == DB_ROW && !db_col_null(st, 0))
		wait = db_col_int64(st, 0) - db_now_ms() + 1;
	db_reset(st);
	return wait < 1 ? 1 : wait > cap ? cap : (unsigned)wait;
}

bool db_lease_held(void)
{
	long long at = atomic_load(&renewed_at);

	/* Claims lease a job for lease_ms from the claim: a node that never
	 * heartbeat yet holds what it just claimed. */
	return !atomic_load(&shared_db) || at == 0 || monotonic_ms() - at < (long long)lease_ms;
}

void db_lease_claimed(struct db *db)
{
	if (db->pg && atomic_load(&renewed_at) == 0)
		atomic_store(&renewed_at, monotonic_ms());
}

/* Appends v to the array *ids of *n; false when out of memory. */
static bool append_id(int64_t **ids, size_t *n, int64_t v)
{
	int64_t *grown = realloc(*ids, (*n + 1) * sizeof *grown);

	if (!grown)
		return false;
	*ids = grown;
	(*ids)[(*n)++] = v;
	return true;
}

struct beat {
	unsigned workers;
	const int64_t *running;
	size_t n_running;
	int64_t now;
	int64_t *cancel;
	size_t n_cancel;
};

static int heartbeat_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char node_sql[] =
		"INSERT INTO nodes (id, workers, started_at, heartbeat_at, heartbeat_ms, stopped) "
		"VALUES (?1, ?2, " DB_NOW ", " DB_NOW ", ?3, 0) ON CONFLICT (id) DO UPDATE SET workers = excluded.workers, "
		"heartbeat_at = excluded.heartbeat_at, heartbeat_ms = excluded.heartbeat_ms, stopped = 0";
	static const char lease_sql[] =
		"UPDATE jobs SET lease_expires_ms = ?2 WHERE id = ?3 AND node = ?1 AND status = 'running'";
	static const char cancel_sql[] =
		"SELECT cancel_requested FROM jobs WHERE id = ?2 AND node = ?1 AND status = 'running'";
	struct beat *b = ctx;
	struct db_stmt *st = db_stmt(db, node_sql, err);
	int rc;

	if (!st)
		return -1;
	db_bind_text(st, 1, node_id);
	db_bind_int64(st, 2, b->workers);
	db_bind_int64(st, 3, b->now);
	if (db_exec_stmt(db, st, err))
		return -1;
	for (size_t i = 0; i < b->n_running; i++) {
		bool cancel;

		if (!(st = db_stmt(db, lease_sql, err)))
			return -1;
		db_bind_text(st, 1, node_id);
		db_bind_int64(st, 2, b->now + lease_ms);
		db_bind_int64(st, 3, b->running[i]);
		if (db_exec_stmt(db, st, err) || !(st = db_stmt(db, cancel_sql, err)))
			return -1;
		db_bind_text(st, 1, node_id);
		db_bind_int64(st, 2, b->running[i]);
		rc = db_step(st);
		cancel = rc == DB_ROW && db_col_int64(st, 0) != 0;
		db_reset(st);
		if (rc != DB_ROW && rc != DB_DONE)
			return db_fail(db, rc, err);
		if (cancel && !append_id(&b->cancel, &b->n_cancel, b->running[i]))
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	return 0;
}

int db_node_heartbeat(struct db *db, unsigned workers, const int64_t *running, size_t n_running, int64_t **cancel,
		      size_t *n_cancel, struct api_err *err)
{
	int64_t started = monotonic_ms();
	struct beat b = {workers, running, n_running, db_now_ms(), NULL, 0};
	int rc;

	atomic_store(&shared_db, db->pg != NULL);
	rc = db_transaction(db, heartbeat_tx, &b, err);
	if (rc < 0) {
		free(b.cancel);
		b.cancel = NULL;
		b.n_cancel = 0;
	} else {
		/* the leases run from the heartbeat's start */
		atomic_store(&renewed_at, started);
	}
	if (cancel)
		*cancel = b.cancel;
	else
		free(b.cancel);
	if (n_cancel)
		*n_cancel = b.n_cancel;
	return rc < 0 ? -1 : 0;
}

int db_node_stop(struct db *db, struct api_err *err)
{
	static const char sql[] = "UPDATE nodes SET stopped = 1, heartbeat_at = " DB_NOW ", heartbeat_ms = ?2 WHERE id = ?1";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_text(st, 1, node_id);
	db_bind_int64(st, 2, db_now_ms());
	return db_write_stmt(db, st, err);
}

static int read_node(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_node_info *n = item;

	(void)err;
	memset(n, 0, sizeof *n);
	db_col_text(st, 0, n->id, sizeof n->id);
	n->workers = (uint32_t)db_col_int64(st, 1);
	db_col_text(st, 2, n->started_at, sizeof n->started_at);
	db_col_text(st, 3, n->heartbeat_at, sizeof n->heartbeat_at);
	n->heartbeat_ms = db_col_int64(st, 4);
	n->stopped = db_col_int64(st, 5) != 0;
	return 0;
}

/* The jobs node n runs, into n->running. */
static int node_jobs(struct db *db, struct api_node_info *n, struct api_err *err)
{
	static const char sql[] = "SELECT id FROM jobs WHERE node = ?1 AND status = 'running' ORDER BY id";
	struct db_stmt *st = db_stmt(db, sql, err);
	int rc;

	if (!st)
		return -1;
	db_bind_text(st, 1, n->id);
	while ((rc = db_step(st)) == DB_ROW) {
		if (!append_id(&n->running, &n->n_running, db_col_int64(st, 0))) {
			db_reset(st);
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		}
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

/* More nodes than any deployment runs; the list is not paged. */
#define MAX_NODES 1000

int db_node_list(struct db *db, struct api_node_info **items, size_t *n, struct api_err *err)
{
	static const char sql[] =
		"SELECT id, workers, started_at, heartbeat_at, heartbeat_ms, stopped FROM nodes ORDER BY id LIMIT ?1";
	struct db_stmt *st = db_stmt(db, sql, err);

	*items = NULL;
	*n = 0;
	if (!st)
		return -1;
	db_bind_int64(st, 1, MAX_NODES);
	if (db_read_rows(db, st, sizeof **items, MAX_NODES, read_node, NULL, (void **)items, n, err))
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (node_jobs(db, &(*items)[i], err)) {
			for (size_t k = 0; k < *n; k++)
				api_node_free(&(*items)[k]);
			free(*items);
			*items = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}

int db_model_revision(struct db *db, int64_t id, int64_t *revision, struct api_err *err)
{
	static const char sql[] = "SELECT revision FROM models WHERE id = ?1";
	int rc = db_find_id(db, sql, id, revision, err);

	if (rc == 0)
		return api_fail(err, API_NOT_FOUND, NULL, "no model with id %lld", (long long)id);
	return rc < 0 ? -1 : 0;
}
