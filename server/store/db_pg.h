/*
 * db_pg.h — PostgreSQL's side of the store's connection and statement calls
 * (libpq). db.c dispatches to it for a connection opened on a
 * postgresql:// URI; nothing outside server/store/ includes it.
 *
 * Statements are the store's SQL, rewritten once when prepared: ?N becomes
 * $N, DB_NOW PostgreSQL's to_char(now()), instr() strpos(). Parameters other
 * than blobs travel as text, so the server infers their types from the SQL;
 * blobs as binary bytea. Rows come back in binary and are read by their
 * column's type. A connection that was lost is reset before its next
 * statement, which is prepared again.
 */
#ifndef FITD_DB_PG_H
#define FITD_DB_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

struct db_pg;
struct db_pg_stmt;

/* A new connection (UTC, notices silenced), or NULL with a message. */
struct db_pg *db_pg_open(const char *uri, char *msg, size_t size);
void db_pg_close(struct db_pg *pg);

/* The statement for sql, rewritten and prepared; NULL with the error kept
 * for db_pg_fail. */
struct db_pg_stmt *db_pg_prepare(struct db_pg *pg, const char *sql);
void db_pg_stmt_free(struct db_pg_stmt *st);
/* The SQL sent to PostgreSQL for sql (new string; NULL when out of memory);
 * *n_params gets the highest ?N. */
char *db_pg_rewrite(const char *sql, int *n_params);
/* A numeric in PostgreSQL's binary form (digits in base 10,000, the first
 * at 10,000^weight) as a double; NaN for NaN or a short value. */
double db_pg_numeric(const unsigned char *p, int len);

/* Runs the statement on the first call after a reset, then moves row by
 * row: DB_ROW, DB_DONE, or DB_PG_ERROR (the error kept for db_pg_fail). */
#define DB_PG_ERROR 1
int db_pg_step(struct db_pg_stmt *st);
void db_pg_reset(struct db_pg_stmt *st);
void db_pg_clear(struct db_pg_stmt *st);

void db_pg_bind_int64(struct db_pg_stmt *st, int i, int64_t v);
void db_pg_bind_double(struct db_pg_stmt *st, int i, double v);
void db_pg_bind_text(struct db_pg_stmt *st, int i, const char *s);
void db_pg_bind_blob(struct db_pg_stmt *st, int i, const void *p, size_t n);
void db_pg_bind_null(struct db_pg_stmt *st, int i);

int64_t db_pg_col_int64(struct db_pg_stmt *st, int i);
double db_pg_col_double(struct db_pg_stmt *st, int i);
const char *db_pg_col_str(struct db_pg_stmt *st, int i);
const void *db_pg_col_blob(struct db_pg_stmt *st, int i);
size_t db_pg_col_bytes(struct db_pg_stmt *st, int i);
bool db_pg_col_null(struct db_pg_stmt *st, int i);

/* The result's columns (valid once a step ran: 0 and NULL before) and the
 * kind (enum db_kind) of column i of the current row, by its type. */
int db_pg_col_count(struct db_pg_stmt *st);
const char *db_pg_col_name(struct db_pg_stmt *st, int i);
int db_pg_col_kind(struct db_pg_stmt *st, int i);

/* Runs SQL text (one or more statements, no parameters): 0, or -1 with the
 * error kept for db_pg_fail. */
int db_pg_exec(struct db_pg *pg, const char *sql);
/* Rolls back the open transaction, if any. */
void db_pg_rollback(struct db_pg *pg);
/* Fills err from the last error and returns -1: 503 unavailable when the
 * server cannot be reached, is shutting down, is out of disk or the write
 * lost a serialization race; 500 otherwise. */
int db_pg_fail(struct db_pg *pg, struct api_err *err);
/* The last error's text (for start-up messages). */
const char *db_pg_errmsg(struct db_pg *pg);

/* The channel job events are announced on (NOTIFY in the event's transaction). */
#define DB_PG_CHANNEL "fitd_job_events"

/* Waits up to ms for a notification on a connection that LISTENs to
 * DB_PG_CHANNEL (made, or made again after a failure, on demand): 1 when
 * one or more arrived, 0 when none, -1 when the server cannot be reached
 * (after waiting ms). */
int db_pg_wait_notify(struct db_pg **pg, const char *uri, unsigned ms);

/* The schema version (fitd_schema_version, made when missing), or -1. */
int db_pg_schema_version(struct db_pg *pg);
/* Applies one migration file as version v in one transaction: 0 or -1. */
int db_pg_migrate_one(struct db_pg *pg, int v, const char *sql);

#endif
