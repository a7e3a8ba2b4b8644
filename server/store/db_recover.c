/*
 * db_recover.c — start-up recovery, in one transaction: uploads a crash cut
 * short are dropped, and every job left running is queued again, or failed
 * once the process died during max_attempts of its runs.
 */
#include <stdbool.h>
#include <stdio.h>

#include "server/store/db_internal.h"

int db_recover(struct db *db, unsigned max_attempts, struct api_err *err)
{
	static const char uploads[] = "DELETE FROM datasets WHERE state = 'uploading'";
	static const char running[] = "SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY id";
	static const char requeue[] = "UPDATE jobs SET status = 'queued' WHERE id = ?1";
	static const char fail[] =
		"UPDATE jobs SET status = 'failed', finished_at = " DB_NOW ", error = ?2 WHERE id = ?1";
	static const char model_status[] =
		"UPDATE models SET status = CASE WHEN (SELECT epoch > 0 OR model_was_trained FROM jobs WHERE id = ?1) "
		"THEN 'trained' ELSE 'untrained' END, updated_at = " DB_NOW
		" WHERE id = (SELECT model_id FROM jobs WHERE id = ?1)";
	int64_t ids[256];
	int attempts[256], n = 0, requeued = 0;
	sqlite3_stmt *st;
	int rc;

	if (db_begin(db, err))
		return -1;
	st = db_stmt(db, uploads, err);
	if (!st || db_exec_stmt(db, st, err))
		goto fail;
	/* In batches: a crash loop must not leave any running job behind. */
	do {
		n = 0;
		st = db_stmt(db, running, err);
		if (!st)
			goto fail;
		while (n < 256 && (rc = db_step(st)) == SQLITE_ROW) {
			ids[n] = sqlite3_column_int64(st, 0);
			attempts[n++] = sqlite3_column_int(st, 1);
		}
		sqlite3_reset(st);
		/* A batch cut short by an error is not the last batch: roll back,
		 * so that no job stays half recovered. */
		if (n < 256 && rc != SQLITE_DONE) {
			db_fail(db, rc, err);
			goto fail;
		}
		for (int i = 0; i < n; i++) {
			bool give_up = (unsigned)attempts[i] >= max_attempts;
			char why[200];

			st = db_stmt(db, give_up ? fail : requeue, err);
			if (!st)
				goto fail;
			sqlite3_bind_int64(st, 1, ids[i]);
			if (give_up) {
				snprintf(why, sizeof why,
					 "the process died during each of the job's %d runs; it is not retried again",
					 attempts[i]);
				sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
			}
			if (db_exec_stmt(db, st, err))
				goto fail;
			/* The model is "training" only while a job runs. */
			st = db_stmt(db, model_status, err);
			if (!st)
				goto fail;
			sqlite3_bind_int64(st, 1, ids[i]);
			if (db_exec_stmt(db, st, err) || db_job_status_event(db, ids[i], err))
				goto fail;
			requeued += !give_up;
		}
	} while (n == 256);
	if (db_commit(db, err))
		return -1;
	return requeued;
fail:
	db_rollback(db);
	return -1;
}
