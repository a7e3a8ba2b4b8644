/*
 * db_recover.c — start-up recovery, in one transaction: uploads a crash cut
 * short are dropped, and every job left running is queued again, or failed
 * once the process died during max_attempts of its runs.
 */
#include <stdbool.h>
#include <stdio.h>

#include "server/store/db_internal.h"

#define BATCH 256

/* Queues job id again, or fails it after max_attempts runs, and gives its
 * model back the status it had (it is "training" only while a job runs).
 * Returns 1 when requeued, 0 when failed, -1 on error. */
static int recover_job(struct db *db, int64_t id, int attempts, unsigned max_attempts, struct api_err *err)
{
	static const char requeue[] = "UPDATE jobs SET status = 'queued', node = NULL, lease_expires_ms = NULL WHERE id = ?1";
	static const char fail[] = "UPDATE jobs SET status = 'failed', finished_at = " DB_NOW
				   ", error = ?2, node = NULL, lease_expires_ms = NULL WHERE id = ?1";
	static const char model_status[] =
		"UPDATE models SET status = CASE WHEN (SELECT epoch > 0 OR model_was_trained <> 0 FROM jobs WHERE id = ?1) "
		"THEN 'trained' ELSE 'untrained' END, updated_at = " DB_NOW
		" WHERE id = (SELECT model_id FROM jobs WHERE id = ?1)";
	bool give_up = (unsigned)attempts >= max_attempts;
	struct db_stmt *st = db_stmt(db, give_up ? fail : requeue, err);
	char why[200];

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	if (give_up) {
		snprintf(why, sizeof why, "the process died during each of the job's %d runs; it is not retried again",
			 attempts);
		db_bind_text(st, 2, why);
	}
	if (db_exec_stmt(db, st, err))
		return -1;
	st = db_stmt(db, model_status, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	if (db_exec_stmt(db, st, err) || db_job_status_event(db, id, err))
		return -1;
	return give_up ? 0 : 1;
}

static int recover_tx(struct db *db, void *ctx, struct api_err *err)
{
	/* SQLite: one process, whose start finds what its dead predecessor
	 * left. PostgreSQL: other nodes' uploads and jobs may be alive. A node
	 * drops its own dead uploads (under the same id, before it died) and
	 * those of nodes that stopped or whose heartbeat is older than a lease;
	 * it requeues its own running jobs, while other nodes' jobs wait for
	 * their leases to end and the next claim (db_job_claim). */
	static const char uploads[] = "DELETE FROM datasets WHERE state = 'uploading'";
	static const char running[] = "SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY id";
	static const char uploads_pg[] =
		"DELETE FROM datasets WHERE state = 'uploading' AND (upload_node = ?1 OR upload_node IS NULL OR "
		"upload_node NOT IN (SELECT id FROM nodes WHERE stopped = 0 AND heartbeat_ms > ?2))";
	static const char running_pg[] =
		"SELECT id, attempts FROM jobs WHERE status = 'running' AND (node = ?1 OR node IS NULL) ORDER BY id";
	unsigned max_attempts = *(const unsigned *)ctx;
	int64_t ids[BATCH];
	int attempts[BATCH], n, requeued = 0, rc;
	struct db_stmt *st = db_stmt(db, db->pg ? uploads_pg : uploads, err);

	if (!st)
		return -1;
	if (db->pg) {
		db_bind_text(st, 1, db_node_id());
		db_bind_int64(st, 2, db_now_ms() - db_lease_ms());
	}
	if (db_exec_stmt(db, st, err))
		return -1;
	/* In batches: a crash loop must not leave any running job behind. */
	do {
		n = 0;
		st = db_stmt(db, db->pg ? running_pg : running, err);
		if (!st)
			return -1;
		if (db->pg)
			db_bind_text(st, 1, db_node_id());
		while (n < BATCH && (rc = db_step(st)) == DB_ROW) {
			ids[n] = db_col_int64(st, 0);
			attempts[n++] = db_col_int(st, 1);
		}
		db_reset(st);
		/* A batch cut short by an error is not the last batch: roll back,
		 * so that no job stays half recovered. */
		if (n < BATCH && rc != DB_DONE)
			return db_fail(db, rc, err);
		for (int i = 0; i < n; i++) {
			rc = recover_job(db, ids[i], attempts[i], max_attempts, err);
			if (rc < 0)
				return -1;
			requeued += rc;
		}
	} while (n == BATCH);
	return requeued;
}

int db_recover(struct db *db, unsigned max_attempts, struct api_err *err)
{
	return db_transaction(db, recover_tx, &max_attempts, err);
}
