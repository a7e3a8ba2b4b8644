/*
 * db_idem.c — Idempotency-Key records: a creating POST looks its key up
 * before acting and records it, in the same transaction as what it created,
 * so a retry finds the first answer. Keys older than IDEM_TTL_S are purged
 * as new ones are recorded.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/store/db_internal.h"

#define IDEM_TTL_S 86400

int db_idem_lookup(struct db *db, const struct db_idem *idem, int64_t *id, struct api_err *err)
{
	static const char sql[] =
		"SELECT resource_id, request_hash FROM idempotency_keys WHERE route = ?1 AND key = ?2 AND created_at > ?3";
	struct db_stmt *st;
	int rc;

	if (!idem)
		return 0;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, idem->route);
	db_bind_text(st, 2, idem->key);
	db_bind_int64(st, 3, (int64_t)time(NULL) - IDEM_TTL_S);
	rc = db_step(st);
	if (rc == DB_ROW) {
		bool same = db_col_bytes(st, 1) == 32 && memcmp(db_col_blob(st, 1), idem->hash, 32) == 0;

		*id = db_col_int64(st, 0);
		db_reset(st);
		if (!same)
			return api_fail(err, API_CONFLICT, "Idempotency-Key",
					"this Idempotency-Key was already used for a different request");
		return 1;
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

int db_idem_record(struct db *db, const struct db_idem *idem, int64_t id, struct api_err *err)
{
	static const char purge[] = "DELETE FROM idempotency_keys WHERE created_at <= ?1";
	static const char sql[] =
		"INSERT INTO idempotency_keys (route, key, request_hash, resource_id, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (route, key) DO UPDATE SET request_hash = excluded.request_hash, "
		"resource_id = excluded.resource_id, created_at = excluded.created_at";
	struct db_stmt *st;
	int64_t now = (int64_t)time(NULL);

	if (!idem)
		return 0;
	st = db_stmt(db, purge, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, now - IDEM_TTL_S);
	if (db_exec_stmt(db, st, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, idem->route);
	db_bind_text(st, 2, idem->key);
	db_bind_blob(st, 3, idem->hash, 32);
	db_bind_int64(st, 4, id);
	db_bind_int64(st, 5, now);
	return db_exec_stmt(db, st, err);
}
