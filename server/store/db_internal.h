/*
 * db_internal.h — what server/store/db*.c share: the connection struct, a cache of
 * prepared statements, transactions and the mapping of database errors to API
 * errors. Nothing outside server/store/ includes it.
 *
 * Two engines run the same store code: SQLite (a file path) and PostgreSQL
 * (a postgresql:// URI, db_pg.c). The table files see only struct db_stmt
 * and the db_bind_* / db_col_* calls below; their SQL is written in the
 * subset both engines accept, with ?N placeholders (db_pg.c rewrites them,
 * and DB_NOW, for PostgreSQL).
 */
#ifndef FITD_DB_INTERNAL_H
#define FITD_DB_INTERNAL_H

#include <sqlite3.h>
#include <time.h>

#include "server/store/db.h"

/* Float blobs are stored little-endian; fitd builds on little-endian hosts only. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "float32 blobs are stored little-endian");

/* Every static SQL string of server/store/ (about 60) fits, with room. */
#define DB_STMT_CACHE 128

struct db_pg;
struct db_pg_stmt;

/* A prepared statement of either engine. */
struct db_stmt {
	struct db *db;
	const char *sql;          /* identity of a static SQL string */
	sqlite3_stmt *lite;       /* SQLite */
	struct db_pg_stmt *pg;    /* PostgreSQL */
};

/* db_step's results besides an engine's error code. */
#define DB_ROW SQLITE_ROW
#define DB_DONE SQLITE_DONE

struct db {
	sqlite3 *h;        /* SQLite, or NULL */
	struct db_pg *pg;  /* PostgreSQL, or NULL */
	struct db_stmt cache[DB_STMT_CACHE];
	int n_cached;
	bool writing;  /* holds the process's write lock (inside db_begin .. db_commit) */
	bool readonly; /* SQLite fell back to a read-only open: the file was not writable */
	bool no_autocheckpoint;
	struct timespec opened; /* CLOCK_MONOTONIC */
};

/* The prepared statement for sql (a string literal: cached by address),
 * reset and with bindings cleared; NULL with *err filled on failure. */
struct db_stmt *db_stmt(struct db *db, const char *sql, struct api_err *err);
/* Runs st or moves to its next row: DB_ROW, DB_DONE or an error code for
 * db_fail — unless a fault armed by db_fault_step answers instead. Every
 * step in server/store/ goes through it. */
int db_step(struct db_stmt *st);
/* Ends st's run (its rows are gone); bindings stay. */
void db_reset(struct db_stmt *st);
/* Parameters, numbered from 1. Text is copied; a blob must stay valid until
 * the statement is stepped (or reset). */
void db_bind_int64(struct db_stmt *st, int i, int64_t v);
void db_bind_double(struct db_stmt *st, int i, double v);
void db_bind_text(struct db_stmt *st, int i, const char *s);
void db_bind_blob(struct db_stmt *st, int i, const void *p, size_t n);
void db_bind_null(struct db_stmt *st, int i);
/* Columns of the current row, numbered from 0. Text and blobs stay valid
 * until the next step or reset; NULL reads as 0, NULL text, or no bytes. */
int64_t db_col_int64(struct db_stmt *st, int i);
int db_col_int(struct db_stmt *st, int i);
double db_col_double(struct db_stmt *st, int i);
const char *db_col_str(struct db_stmt *st, int i);
const void *db_col_blob(struct db_stmt *st, int i);
size_t db_col_bytes(struct db_stmt *st, int i);
bool db_col_null(struct db_stmt *st, int i);
/* Steps an INSERT ... RETURNING id and reads the id. */
int db_insert(struct db *db, struct db_stmt *st, int64_t *id, struct api_err *err);
/* The same outside db_begin .. db_commit (see db_write_stmt). */
int db_write_insert(struct db *db, struct db_stmt *st, int64_t *id, struct api_err *err);
/* Fills *err from the connection's last error and returns -1. */
int db_fail(struct db *db, int rc, struct api_err *err);
int db_begin(struct db *db, struct api_err *err);
int db_commit(struct db *db, struct api_err *err);
void db_rollback(struct db *db);
/* The body of one write transaction: 0 or a positive result to commit, -1
 * with err filled to roll back. */
typedef int (*db_tx_fn)(struct db *db, void *ctx, struct api_err *err);
/* db_begin, body, then db_commit, or db_rollback when body or the commit
 * fails: every multi-statement write of the store goes through here.
 * Returns body's result, or -1 with err. */
int db_transaction(struct db *db, db_tx_fn body, void *ctx, struct api_err *err);
/* The id in the first column of sql's first row (?1 bound to id) into
 * *found: 1 when there is a row, 0 when none, -1 with err. */
int db_find_id(struct db *db, const char *sql, int64_t id, int64_t *found, struct api_err *err);
/* Runs a statement that returns no rows; -1 with err on failure. */
int db_exec_stmt(struct db *db, struct db_stmt *st, struct api_err *err);
/* The same for a write outside db_begin .. db_commit: it takes its turn
 * behind the process's other writers (see db_begin). */
int db_write_stmt(struct db *db, struct db_stmt *st, struct api_err *err);
/* Copies column text into out (size bytes), "" for NULL. */
void db_col_text(struct db_stmt *st, int col, char *out, size_t size);
/* A REAL column, NaN for NULL. */
double db_col_real(struct db_stmt *st, int col);
/* Binds a double, NULL when NaN. */
void db_bind_real(struct db_stmt *st, int col, double v);
/* Reads one row of st into item; 0, or -1 with err filled. */
typedef int (*db_read_fn)(struct db_stmt *st, void *item, struct api_err *err);
/* The row of sql (?1 bound to id) read into item; 404 "no <what> with id N"
 * when there is none. */
int db_get_by_id(struct db *db, const char *sql, int64_t id, const char *what, db_read_fn read, void *item,
		 struct api_err *err);
/* Does the row of sql (?1 bound to id) exist? 404 naming field (may be NULL)
 * and "no <what> with id N" when not. */
int db_exists(struct db *db, const char *sql, int64_t id, const char *field, const char *what, struct api_err *err);
/* The count(*) of st (bound by the caller) into *total. */
int db_count(struct db *db, struct db_stmt *st, uint64_t *total, struct api_err *err);
/* Up to limit rows of st (bound by the caller) into a new array of
 * item_size-byte items (free with free()). On failure drop (may be NULL)
 * releases what read put in the items read so far. */
int db_read_rows(struct db *db, struct db_stmt *st, size_t item_size, uint32_t limit, db_read_fn read,
		 void (*drop)(void *item), void **items, size_t *n, struct api_err *err);
/* A page of an unfiltered list: the count(*) of count_sql into *total, then
 * up to limit rows of rows_sql (?1 LIMIT, ?2 OFFSET) as db_read_rows does. */
int db_page(struct db *db, const char *count_sql, const char *rows_sql, uint32_t limit, uint64_t offset,
	    size_t item_size, db_read_fn read, void **items, size_t *n, uint64_t *total, struct api_err *err);
/* Records the key for the resource id in the current transaction (no-op for
 * NULL idem). A creating call runs db_idem_lookup first in the same
 * transaction: 1 there means a retry (the caller rolls back and answers with
 * *id). */
int db_idem_record(struct db *db, const struct db_idem *idem, int64_t id, struct api_err *err);
/* An event row's data column (never NULL: "{}" stands for NULL) made into the
 * event's data: new, NULL when out of memory. */
typedef char *(*db_event_data_fn)(struct db_stmt *st, const char *data);
/* The events of sql (?1 id, ?2 after, ?3 max; columns seq, kind, data, then
 * what data_of reads) into a new array *events[0..*n) (free with
 * db_events_free); on failure *events is NULL and *n 0. */
int db_events_read(struct db *db, const char *sql, int64_t id, int64_t after, size_t max, db_event_data_fn data_of,
		   struct db_event **events, size_t *n, struct api_err *err);
/* Inserts a status event with the job's current JSON (inside a transaction). */
int db_job_status_event(struct db *db, int64_t job_id, struct api_err *err);

/* ---- SQL built at run time (db_copy.c) ---------------------------------------------------------- */

/* A statement for SQL text that is not a literal (db_stmt caches by address):
 * prepared now, outside the cache; free with db_stmt_free. NULL with err. */
struct db_stmt *db_stmt_new(struct db *db, const char *sql, struct api_err *err);
void db_stmt_free(struct db_stmt *st);
/* Runs SQL text (one or more statements, no parameters, rows ignored). */
int db_exec_sql(struct db *db, const char *sql, struct api_err *err);
/* The columns of st's result: SQLite knows them once prepared, PostgreSQL
 * once a step ran. Names stay valid until the next step or reset. */
int db_col_count(struct db_stmt *st);
const char *db_col_name(struct db_stmt *st, int i);
/* The storage class of column i of the current row. */
enum db_kind { DB_KIND_NULL, DB_KIND_INT, DB_KIND_REAL, DB_KIND_TEXT, DB_KIND_BLOB };
enum db_kind db_col_kind(struct db_stmt *st, int i);

/* The current UTC time as ISO-8601 text (db_pg.c rewrites it for PostgreSQL). */
#define DB_NOW "strftime('%Y-%m-%dT%H:%M:%SZ','now')"

/* db_node.c: this node's id and lease settings (db_set_node), the clock
 * leases are measured in, and the note a claim leaves for db_lease_held. */
unsigned db_lease_ms(void);
unsigned db_max_attempts(void);
int64_t db_now_ms(void);
void db_lease_claimed(struct db *db);

#endif
