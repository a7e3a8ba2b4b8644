/*
 * db.c — connections (one per thread), prepared statements, error mapping,
 * transactions and the row helpers every table file uses; backup. SQLite is
 * here; PostgreSQL's side of each call is in db_pg.c. Migrations are in
 * db_migrate.c, idempotency keys in db_idem.c, start-up recovery in
 * db_recover.c, one file per table besides.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

#define BUSY_TIMEOUT_MS 10000
/* How often a read-only connection tries to become writable again. */
#define REOPEN_INTERVAL_MS 1000

static char db_path[1024] = "./fitd.db";
/* Set when a write fails because the file cannot be written (disk full,
 * read-only, I/O error), cleared by the next write that commits: /readyz
 * reports it. One flag for the process, as all connections share the file. */
static atomic_bool write_failing;
static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;

void db_set_path(const char *path)
{
	snprintf(db_path, sizeof db_path, "%s", path);
}

bool db_is_postgres(const char *path)
{
	return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

struct db *db_open(const char *path, char *msg, size_t size)
{
	/* page_size takes effect on a new, empty file only (before WAL fixes
	 * it): 16 KiB pages write a dataset's blobs in a quarter of the
	 * syscalls and WAL frames of the default 4 KiB (a 329 MB CSV uploads in
	 * 1.06 s instead of 1.34 s, bench/csv_ingest.py). */
	static const char *const pragmas =
		"PRAGMA page_size=16384;"
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		"PRAGMA foreign_keys=ON;"
		"PRAGMA temp_store=MEMORY;";
	struct db *db = calloc(1, sizeof *db);
	char *emsg = NULL;
	int rc;

	if (!db) {
		snprintf(msg, size, "out of memory");
		return NULL;
	}
	if (db_is_postgres(path)) {
		db->pg = db_pg_open(path, msg, size);
		if (!db->pg)
			goto fail;
		clock_gettime(CLOCK_MONOTONIC, &db->opened);
		return db;
	}
	rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, size, "cannot open database %s: %s", path, db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db->h, 1);
	if (sqlite3_exec(db->h, pragmas, NULL, NULL, &emsg) != SQLITE_OK) {
		snprintf(msg, size, "cannot configure database %s: %s", path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		goto fail;
	}
	/* SQLite opens read-only, silently, a file it cannot open for writing
	 * (an immutable file, a read-only mount): db_thread reopens later. */
	db->readonly = sqlite3_db_readonly(db->h, "main") == 1;
	clock_gettime(CLOCK_MONOTONIC, &db->opened);
	return db;
fail:
	db_close(db);
	return NULL;
}

static void finalize_all(struct db *db)
{
	for (int i = 0; i < db->n_cached; i++) {
		sqlite3_finalize(db->cache[i].lite);
		db_pg_stmt_free(db->cache[i].pg);
	}
	db->n_cached = 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	finalize_all(db);
	sqlite3_close(db->h);
	db_pg_close(db->pg);
	free(db);
}

static void thread_close(void *p)
{
	db_close(p);
}

static void thread_key_init(void)
{
	pthread_key_create(&thread_key, thread_close);
}

static bool statement_active(struct db *db)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(db->h, NULL); st; st = sqlite3_next_stmt(db->h, st))
		if (sqlite3_stmt_busy(st))
			return true;
	return false;
}

/* A connection opened while the file could not be written stays read-only
 * for good: every write on its thread would answer 503 after the disk came
 * back. Before each write, and once a second besides, when nothing is in
 * flight on it, it is replaced in place (the same struct db) by a new one if
 * that one can write. */
static void reopen_if_writable(struct db *db, bool writing_next)
{
	struct timespec now;
	struct db *fresh;
	char msg[512];

	if (!db->readonly || db->writing || statement_active(db))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!writing_next && (now.tv_sec - db->opened.tv_sec) * 1000 + (now.tv_nsec - db->opened.tv_nsec) / 1000000 <
				     REOPEN_INTERVAL_MS)
		return;
	db->opened = now;
	fresh = db_open(db_path, msg, sizeof msg);
	if (!fresh || fresh->readonly) {
		db_close(fresh);
		return;
	}
	finalize_all(db);
	sqlite3_close(db->h);
	db->h = fresh->h;
	db->readonly = false;
	if (db->no_autocheckpoint)
		sqlite3_wal_autocheckpoint(db->h, 0);
	free(fresh); /* its handle now belongs to db; its cache is empty */
}

struct db *db_thread(void)
{
	struct db *db;
	char msg[512];

	pthread_once(&thread_once, thread_key_init);
	db = pthread_getspecific(thread_key);
	if (db) {
		reopen_if_writable(db, false);
		return db;
	}
	db = db_open(db_path, msg, sizeof msg);
	if (!db) {
		fprintf(stderr, "fitd: %s\n", msg);
		return NULL;
	}
	pthread_setspecific(thread_key, db);
	return db;
}

void db_thread_close(void)
{
	pthread_once(&thread_once, thread_key_init);
	db_close(pthread_getspecific(thread_key));
	pthread_setspecific(thread_key, NULL);
}

/* ---- statements and errors ------------------------------------------------------- */

struct db_stmt *db_stmt(struct db *db, const char *sql, struct api_err *err)
{
	struct db_stmt *st;
	int rc;

	for (int i = 0; i < db->n_cached; i++) {
		st = &db->cache[i];
		if (st->sql == sql) {
			if (st->lite) {
				sqlite3_reset(st->lite);
				sqlite3_clear_bindings(st->lite);
			} else {
				db_pg_reset(st->pg);
				db_pg_clear(st->pg);
			}
			return st;
		}
	}
	/* A full cache would leak: every SQL string of fitd fits in it. */
	assert(db->n_cached < DB_STMT_CACHE);
	st = &db->cache[db->n_cached];
	*st = (struct db_stmt){.db = db, .sql = sql};
	if (db->pg) {
		st->pg = db_pg_prepare(db->pg, sql);
		if (!st->pg) {
			db_pg_fail(db->pg, err);
			return NULL;
		}
	} else {
		rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL);
		if (rc != SQLITE_OK) {
			db_fail(db, rc, err);
			return NULL;
		}
	}
	db->n_cached++;
	return st;
}

void db_reset(struct db_stmt *st)
{
	if (st->lite)
		sqlite3_reset(st->lite);
	else
		db_pg_reset(st->pg);
}

void db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	if (st->lite)
		sqlite3_bind_int64(st->lite, i, v);
	else
		db_pg_bind_int64(st->pg, i, v);
}

void db_bind_double(struct db_stmt *st, int i, double v)
{
	if (st->lite)
		sqlite3_bind_double(st->lite, i, v);
	else
		db_pg_bind_double(st->pg, i, v);
}

void db_bind_text(struct db_stmt *st, int i, const char *s)
{
	if (st->lite)
		sqlite3_bind_text(st->lite, i, s, -1, SQLITE_TRANSIENT);
	else
		db_pg_bind_text(st->pg, i, s);
}

void db_bind_blob(struct db_stmt *st, int i, const void *p, size_t n)
{
	if (st->lite)
		sqlite3_bind_blob64(st->lite, i, p, n, SQLITE_STATIC);
	else
		db_pg_bind_blob(st->pg, i, p, n);
}

void db_bind_null(struct db_stmt *st, int i)
{
	if (st->lite)
		sqlite3_bind_null(st->lite, i);
	else
		db_pg_bind_null(st->pg, i);
}

int64_t db_col_int64(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_int64(st->lite, i) : db_pg_col_int64(st->pg, i);
}

int db_col_int(struct db_stmt *st, int i)
{
	return (int)db_col_int64(st, i);
}

double db_col_double(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_double(st->lite, i) : db_pg_col_double(st->pg, i);
}

const char *db_col_str(struct db_stmt *st, int i)
{
	return st->lite ? (const char *)sqlite3_column_text(st->lite, i) : db_pg_col_str(st->pg, i);
}

const void *db_col_blob(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_blob(st->lite, i) : db_pg_col_blob(st->pg, i);
}

size_t db_col_bytes(struct db_stmt *st, int i)
{
	return st->lite ? (size_t)sqlite3_column_bytes(st->lite, i) : db_pg_col_bytes(st->pg, i);
}

bool db_col_null(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_type(st->lite, i) == SQLITE_NULL : db_pg_col_null(st->pg, i);
}

struct db_stmt *db_stmt_new(struct db *db, const char *sql, struct api_err *err)
{
	size_t len = strlen(sql) + 1;
	struct db_stmt *st = malloc(sizeof *st + len);
	int rc;

	if (!st) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		return NULL;
	}
	/* the SQL lives with the statement: db_step's fault injection reads it */
	*st = (struct db_stmt){.db = db, .sql = memcpy((char *)(st + 1), sql, len)};
	if (db->pg) {
		st->pg = db_pg_prepare(db->pg, sql);
		if (!st->pg) {
			db_pg_fail(db->pg, err);
			free(st);
			return NULL;
		}
	} else {
		rc = sqlite3_prepare_v2(db->h, sql, -1, &st->lite, NULL);
		if (rc != SQLITE_OK) {
			db_fail(db, rc, err);
			sqlite3_finalize(st->lite);
			free(st);
			return NULL;
		}
	}
	return st;
}

void db_stmt_free(struct db_stmt *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->lite);
	db_pg_stmt_free(st->pg);
	free(st);
}

int db_col_count(struct db_stmt *st)
{
	return st->lite ? sqlite3_column_count(st->lite) : db_pg_col_count(st->pg);
}

const char *db_col_name(struct db_stmt *st, int i)
{
	return st->lite ? sqlite3_column_name(st->lite, i) : db_pg_col_name(st->pg, i);
}

enum db_kind db_col_kind(struct db_stmt *st, int i)
{
	if (!st->lite)
		return (enum db_kind)db_pg_col_kind(st->pg, i);
	switch (sqlite3_column_type(st->lite, i)) {
	case SQLITE_INTEGER:
		return DB_KIND_INT;
	case SQLITE_FLOAT:
		return DB_KIND_REAL;
	case SQLITE_TEXT:
		return DB_KIND_TEXT;
	case SQLITE_BLOB:
		return DB_KIND_BLOB;
	default:
		return DB_KIND_NULL;
	}
}

/* The armed fault, if any (db_fault_step). The flag keeps the common path
 * to one relaxed load. */
static atomic_bool fault_armed;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static char fault_sql[256];
static unsigned fault_skip;
static int fault_rc;

void db_fault_step(const char *sql_part, unsigned skip, int rc)
{
	pthread_mutex_lock(&fault_lock);
	snprintf(fault_sql, sizeof fault_sql, "%s", sql_part ? sql_part : "");
	fault_skip = skip;
	fault_rc = rc;
	atomic_store(&fault_armed, sql_part != NULL);
	pthread_mutex_unlock(&fault_lock);
}

int db_step(struct db_stmt *st)
{
	if (atomic_load_explicit(&fault_armed, memory_order_relaxed)) {
		const char *sql = st->sql;
		int rc = SQLITE_OK;

		pthread_mutex_lock(&fault_lock);
		if (atomic_load(&fault_armed) && sql && strstr(sql, fault_sql)) {
			if (fault_skip == 0) {
				rc = fault_rc;
				atomic_store(&fault_armed, false);
			} else {
				fault_skip--;
			}
		}
		pthread_mutex_unlock(&fault_lock);
		if (rc != SQLITE_OK)
			return rc;
	}
	return st->lite ? sqlite3_step(st->lite) : db_pg_step(st->pg);
}

int db_fail(struct db *db, int rc, struct api_err *err)
{
	if (db && db->pg)
		return db_pg_fail(db->pg, err);

	const char *detail = db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_IOERR:
		atomic_store(&write_failing, true);
		break;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return api_fail(err, API_UNAVAILABLE, NULL, "the database cannot be written: the disk is full (%s)", detail);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return api_fail(err, API_UNAVAILABLE, NULL, "the database cannot be written: %s", detail);
	case SQLITE_IOERR: {
		int sys = db && db->h ? sqlite3_system_errno(db->h) : 0;

		return api_fail(err, API_UNAVAILABLE, NULL, "the database had an I/O error: %s%s%s%s", detail,
				sys ? " (" : "", sys ? strerror(sys) : "", sys ? ")" : "");
	}
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return api_fail(err, API_UNAVAILABLE, NULL, "the database is busy; retry shortly");
	case SQLITE_NOMEM:
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	default:
		return api_fail(err, API_INTERNAL, NULL, "database error: %s", detail);
	}
}

int db_exec_stmt(struct db *db, struct db_stmt *st, struct api_err *err)
{
	int rc = db_step(st);

	db_reset(st);
	return rc == DB_DONE || rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

int db_insert(struct db *db, struct db_stmt *st, int64_t *id, struct api_err *err)
{
	int rc = db_step(st);

	if (rc == DB_ROW)
		*id = db_col_int64(st, 0);
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

static int exec_sql(struct db *db, const char *sql, struct api_err *err)
{
	if (db->pg)
		return db_pg_exec(db->pg, sql) ? db_pg_fail(db->pg, err) : 0;

	int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc, err);
}

int db_exec_sql(struct db *db, const char *sql, struct api_err *err)
{
	return exec_sql(db, sql, err);
}

/* Writers of this process queue here before BEGIN IMMEDIATE. SQLite's busy
 * handler polls with growing sleeps and is not fair: with workers committing
 * every few milliseconds, a prediction or an upload could starve for
 * seconds. A mutex hands the write lock over in turn, without sleeping. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void release_write_lock(struct db *db)
{
	if (db->writing) {
		db->writing = false;
		pthread_mutex_unlock(&write_lock);
	}
}

void db_autocheckpoint_off(struct db *db)
{
	db->no_autocheckpoint = true;
	if (db->h)
		sqlite3_wal_autocheckpoint(db->h, 0);
}

int db_checkpoint(struct db *db, int *wal_frames, int *copied_frames)
{
	if (db->pg) { /* PostgreSQL checkpoints by itself */
		if (wal_frames)
			*wal_frames = 0;
		if (copied_frames)
			*copied_frames = 0;
		return 0;
	}

	int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, wal_frames, copied_frames);

	/* BUSY: another connection is checkpointing; nothing lost, the next call goes on. */
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : -1;
}

int db_begin(struct db *db, struct api_err *err)
{
	reopen_if_writable(db, true);
	pthread_mutex_lock(&write_lock);
	db->writing = true;
	/* PostgreSQL: one writer at a time across every node, as SQLite's
	 * BEGIN IMMEDIATE gives one file, so the checks a transaction makes
	 * before it writes (a model has no running job, the queue has room)
	 * still hold when it commits. */
	if (exec_sql(db, db->pg ? "BEGIN; SELECT pg_advisory_xact_lock(7236)" : "BEGIN IMMEDIATE", err)) {
		if (db->pg) /* BEGIN may have run before the lock failed */
			db_pg_rollback(db->pg);
		release_write_lock(db);
		return -1;
	}
	return 0;
}

int db_write_stmt(struct db *db, struct db_stmt *st, struct api_err *err)
{
	int rc;

	if (db->writing)
		return db_exec_stmt(db, st, err);
	pthread_mutex_lock(&write_lock);
	rc = db_exec_stmt(db, st, err);
	pthread_mutex_unlock(&write_lock);
	if (rc == 0)
		atomic_store(&write_failing, false);
	return rc;
}

int db_write_insert(struct db *db, struct db_stmt *st, int64_t *id, struct api_err *err)
{
	int rc;

	if (db->writing)
		return db_insert(db, st, id, err);
	pthread_mutex_lock(&write_lock);
	rc = db_insert(db, st, id, err);
	pthread_mutex_unlock(&write_lock);
	if (rc == 0)
		atomic_store(&write_failing, false);
	return rc;
}

int db_commit(struct db *db, struct api_err *err)
{
	assert(db->writing); /* inside db_begin .. db_commit */
	if (exec_sql(db, "COMMIT", err)) {
		db_rollback(db);
		return -1;
	}
	release_write_lock(db);
	atomic_store(&write_failing, false);
	return 0;
}

bool db_writable(void)
{
	return !atomic_load(&write_failing);
}

void db_rollback(struct db *db)
{
	if (db->pg)
		db_pg_rollback(db->pg);
	else if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	release_write_lock(db);
}

int db_transaction(struct db *db, db_tx_fn body, void *ctx, struct api_err *err)
{
	int rc;

	if (db_begin(db, err))
		return -1;
	rc = body(db, ctx, err);
	if (rc < 0 || db_commit(db, err)) {
		db_rollback(db);
		return -1;
	}
	return rc;
}

void db_col_text(struct db_stmt *st, int col, char *out, size_t size)
{
	const char *t = db_col_str(st, col);

	snprintf(out, size, "%s", t ? t : "");
}

double db_col_real(struct db_stmt *st, int col)
{
	return db_col_null(st, col) ? NAN : db_col_double(st, col);
}

void db_bind_real(struct db_stmt *st, int col, double v)
{
	if (isfinite(v))
		db_bind_double(st, col, v);
	else
		db_bind_null(st, col);
}

/* The first row of sql (?1 bound to id) through read: 1 when there is one
 * (read's failure aside), 0 when none, -1 with err. */
static int first_row(struct db *db, const char *sql, int64_t id, db_read_fn read, void *item, struct api_err *err)
{
	struct db_stmt *st = db_stmt(db, sql, err);
	int rc;

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		rc = read(st, item, err);
		db_reset(st);
		return rc < 0 ? -1 : 1;
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

int db_get_by_id(struct db *db, const char *sql, int64_t id, const char *what, db_read_fn read, void *item,
		 struct api_err *err)
{
	int rc = first_row(db, sql, id, read, item, err);

	if (rc == 0)
		return api_fail(err, API_NOT_FOUND, NULL, "no %s with id %lld", what, (long long)id);
	return rc < 0 ? -1 : 0;
}

static int read_id(struct db_stmt *st, void *item, struct api_err *err)
{
	(void)err;
	*(int64_t *)item = db_col_int64(st, 0);
	return 0;
}

int db_find_id(struct db *db, const char *sql, int64_t id, int64_t *found, struct api_err *err)
{
	return first_row(db, sql, id, read_id, found, err);
}

static int read_nothing(struct db_stmt *st, void *item, struct api_err *err)
{
	(void)st, (void)item, (void)err;
	return 0;
}

int db_exists(struct db *db, const char *sql, int64_t id, const char *field, const char *what, struct api_err *err)
{
	if (db_get_by_id(db, sql, id, what, read_nothing, NULL, err) == 0)
		return 0;
	if (err->code == API_NOT_FOUND && field)
		snprintf(err->field, sizeof err->field, "%s", field);
	return -1;
}

int db_count(struct db *db, struct db_stmt *st, uint64_t *total, struct api_err *err)
{
	int rc = db_step(st);

	*total = rc == DB_ROW ? (uint64_t)db_col_int64(st, 0) : 0;
	db_reset(st);
	return rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

int db_read_rows(struct db *db, struct db_stmt *st, size_t item_size, uint32_t limit, db_read_fn read,
		 void (*drop)(void *item), void **items, size_t *n, struct api_err *err)
{
	char *array = calloc(limit ? limit : 1, item_size);
	int rc = DB_DONE;

	*items = NULL;
	*n = 0;
	if (!array) {
		db_reset(st);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	while (*n < limit && (rc = db_step(st)) == DB_ROW) {
		if (read(st, array + *n * item_size, err))
			goto fail;
		(*n)++;
	}
	if (rc != DB_ROW && rc != DB_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	db_reset(st);
	*items = array;
	return 0;
fail:
	db_reset(st);
	for (size_t i = 0; drop && i < *n; i++)
		drop(array + i * item_size);
	free(array);
	*n = 0;
	return -1;
}

bool db_ping(struct db *db)
{
	struct api_err err;
	struct db_stmt *st = !db ? NULL
			     : db_stmt(db, db->pg ? "SELECT 1" : "SELECT count(*) FROM sqlite_schema", &err);
	bool ok = st && db_step(st) == DB_ROW;

	if (st)
		db_reset(st);
	return ok;
}

int db_backup(struct db *db, const char *path, char *msg, size_t size)
{
	static const char sql[] = "VACUUM INTO ?1";
	struct db_stmt st = {.db = db, .sql = sql};
	int rc;

	if (db->pg) {
		snprintf(msg, size, "backup copies a SQLite file; back PostgreSQL up with pg_dump");
		return -1;
	}
	if (sqlite3_prepare_v2(db->h, sql, -1, &st.lite, NULL) != SQLITE_OK) {
		snprintf(msg, size, "%s", sqlite3_errmsg(db->h));
		return -1;
	}
	db_bind_text(&st, 1, path);
	rc = db_step(&st);
	if (rc != DB_DONE)
		snprintf(msg, size, "backup to %s failed: %s", path, sqlite3_errmsg(db->h));
	sqlite3_finalize(st.lite);
	return rc == DB_DONE ? 0 : -1;
}

int db_page(struct db *db, const char *count_sql, const char *rows_sql, uint32_t limit, uint64_t offset,
	    size_t item_size, db_read_fn read, void **items, size_t *n, uint64_t *total, struct api_err *err)
{
	struct db_stmt *st = db_stmt(db, count_sql, err);

	*items = NULL;
	*n = 0;
	if (!st || db_count(db, st, total, err) || !(st = db_stmt(db, rows_sql, err)))
		return -1;
	db_bind_int64(st, 1, limit);
	db_bind_int64(st, 2, (int64_t)offset);
	return db_read_rows(db, st, item_size, limit, read, NULL, items, n, err);
}

/* ---- cross-node notifications (PostgreSQL) --------------------------------------------------- */

struct db_listener {
	pthread_t thread;
	atomic_bool stop;
	void (*fn)(void *ctx);
	void *ctx;
};

static void *listen_main(void *arg)
{
	struct db_listener *l = arg;
	struct db_pg *pg = NULL;

	while (!atomic_load(&l->stop))
		if (db_pg_wait_notify(&pg, db_path, 250) == 1)
			l->fn(l->ctx);
	db_pg_close(pg);
	return NULL;
}

struct db_listener *db_listen_start(void (*fn)(void *ctx), void *ctx)
{
	struct db_listener *l;

	if (!db_is_postgres(db_path) || !(l = calloc(1, sizeof *l)))
		return NULL;
	l->fn = fn;
	l->ctx = ctx;
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

void db_listen_stop(struct db_listener *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	free(l);
}
