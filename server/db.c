/*
 * db.c — SQLite connections, migrations, transactions, error mapping,
 * idempotency keys, backup and start-up recovery.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/db_internal.h"

#define BUSY_TIMEOUT_MS 10000
#define IDEM_TTL_S 86400

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

struct db *db_open(const char *path, char *msg, size_t size)
{
	static const char *const pragmas =
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
	return db;
fail:
	db_close(db);
	return NULL;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->n_cached; i++)
		sqlite3_finalize(db->cache[i].stmt);
	sqlite3_close(db->h);
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

struct db *db_thread(void)
{
	struct db *db;
	char msg[512];

	pthread_once(&thread_once, thread_key_init);
	db = pthread_getspecific(thread_key);
	if (db)
		return db;
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

sqlite3_stmt *db_stmt(struct db *db, const char *sql, struct api_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	for (int i = 0; i < db->n_cached; i++) {
		if (db->cache[i].sql == sql) {
			st = db->cache[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, rc, err);
		return NULL;
	}
	if (db->n_cached < DB_STMT_CACHE) {
		db->cache[db->n_cached].sql = sql;
		db->cache[db->n_cached].stmt = st;
		db->n_cached++;
	}
	/* A full cache would leak: every SQL string of fitd fits in it. */
	return st;
}

int db_fail(struct db *db, int rc, struct api_err *err)
{
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

int db_exec_stmt(struct db *db, sqlite3_stmt *st, struct api_err *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_fail(db, rc, err);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

static int exec_sql(struct db *db, const char *sql, struct api_err *err)
{
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc, err);
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

int db_begin(struct db *db, struct api_err *err)
{
	pthread_mutex_lock(&write_lock);
	db->writing = true;
	if (exec_sql(db, "BEGIN IMMEDIATE", err)) {
		release_write_lock(db);
		return -1;
	}
	return 0;
}

int db_write_stmt(struct db *db, sqlite3_stmt *st, struct api_err *err)
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

int db_commit(struct db *db, struct api_err *err)
{
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
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	release_write_lock(db);
}

void db_col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, size, "%s", t ? (const char *)t : "");
}

double db_col_real(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

int db_bind_real(sqlite3_stmt *st, int col, double v)
{
	return isfinite(v) ? sqlite3_bind_double(st, col, v) : sqlite3_bind_null(st, col);
}

int db_get_by_id(struct db *db, const char *sql, int64_t id, const char *what, db_read_fn read, void *item,
		 struct api_err *err)
{
	sqlite3_stmt *st = db_stmt(db, sql, err);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = read(st, item, err);
		sqlite3_reset(st);
		return rc;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return api_fail(err, API_NOT_FOUND, NULL, "no %s with id %lld", what, (long long)id);
	return db_fail(db, rc, err);
}

static int read_nothing(sqlite3_stmt *st, void *item, struct api_err *err)
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

int db_count(struct db *db, sqlite3_stmt *st, uint64_t *total, struct api_err *err)
{
	int rc = sqlite3_step(st);

	*total = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_fail(db, rc, err);
}

int db_read_rows(struct db *db, sqlite3_stmt *st, size_t item_size, uint32_t limit, db_read_fn read,
		 void (*drop)(void *item), void **items, size_t *n, struct api_err *err)
{
	char *array = calloc(limit ? limit : 1, item_size);
	int rc = SQLITE_DONE;

	*items = NULL;
	*n = 0;
	if (!array) {
		sqlite3_reset(st);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	while (*n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read(st, array + *n * item_size, err))
			goto fail;
		(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	sqlite3_reset(st);
	*items = array;
	return 0;
fail:
	sqlite3_reset(st);
	for (size_t i = 0; drop && i < *n; i++)
		drop(array + i * item_size);
	free(array);
	*n = 0;
	return -1;
}

/* ---- migrations ---------------------------------------------------------------------- */

/* NNNN_name.sql -> NNNN; -1 for any other name. */
static int version_of(const char *name)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (name[4] != '_' || strlen(name) < 10 || strcmp(name + strlen(name) - 4, ".sql") != 0)
		return -1;
	return v;
}

int db_schema_version(struct db *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1)) != NULL) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

struct migration {
	int version;
	char *name;
};

static int migration_order(const void *a, const void *b)
{
	return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

/* The NNNN_name.sql files of dir, sorted; -1 with a message on error. */
static int list_migrations(const char *dir, struct migration **out, size_t *n, char *msg, size_t size)
{
	struct migration *list = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	*out = NULL;
	*n = 0;
	if (!d) {
		snprintf(msg, size, "cannot read migrations folder %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		int v = version_of(e->d_name);

		if (v <= 0)
			continue;
		if (count == cap) {
			struct migration *p = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof *p);

			if (!p)
				goto oom;
			list = p;
		}
		list[count].version = v;
		list[count].name = strdup(e->d_name);
		if (!list[count].name)
			goto oom;
		count++;
	}
	closedir(d);
	qsort(list, count, sizeof *list, migration_order);
	*out = list;
	*n = count;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < count; i++)
		free(list[i].name);
	free(list);
	snprintf(msg, size, "out of memory");
	return -1;
}

int db_migrate(struct db *db, const char *dir, char *msg, size_t size)
{
	struct migration *list;
	size_t n;
	int latest, current, rc = -1;

	if (list_migrations(dir, &list, &n, msg, size))
		return -1;
	/* Numbered 1..n, each once. */
	for (size_t i = 0; i < n; i++) {
		if (list[i].version != (int)i + 1) {
			if (i > 0 && list[i].version == list[i - 1].version)
				snprintf(msg, size, "two migrations numbered %04d in %s", list[i].version, dir);
			else
				snprintf(msg, size, "migration %04d is missing from %s", (int)i + 1, dir);
			goto out;
		}
	}
	latest = (int)n;
	current = db_schema_version(db);
	if (current < 0) {
		snprintf(msg, size, "cannot read the schema version: %s", sqlite3_errmsg(db->h));
		goto out;
	}
	if (current > latest) {
		snprintf(msg, size,
			 "the database has schema version %d, newer than this fitd knows (%d): it was written by a newer "
			 "fitd; run that version, or restore a backup",
			 current, latest);
		goto out;
	}
	for (int v = current + 1; v <= latest; v++) {
		char path[1200], pragma[64], *sql, *emsg = NULL;

		snprintf(path, sizeof path, "%s/%s", dir, list[v - 1].name);
		sql = read_file(path);
		if (!sql) {
			snprintf(msg, size, "cannot read %s", path);
			goto out;
		}
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v);
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, sql, NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, pragma, NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
			snprintf(msg, size, "migration %s failed: %s", list[v - 1].name, emsg ? emsg : sqlite3_errmsg(db->h));
			sqlite3_free(emsg);
			free(sql);
			db_rollback(db);
			goto out;
		}
		free(sql);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	return rc;
}

bool db_ping(struct db *db)
{
	struct api_err err;
	sqlite3_stmt *st = db ? db_stmt(db, "SELECT count(*) FROM sqlite_schema", &err) : NULL;
	bool ok = st && sqlite3_step(st) == SQLITE_ROW;

	if (st)
		sqlite3_reset(st);
	return ok;
}

int db_backup(struct db *db, const char *path, char *msg, size_t size)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->h, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK) {
		snprintf(msg, size, "%s", sqlite3_errmsg(db->h));
		return -1;
	}
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		snprintf(msg, size, "backup to %s failed: %s", path, sqlite3_errmsg(db->h));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- idempotency ------------------------------------------------------------------------ */

static int idem_find(struct db *db, const struct db_idem *idem, int64_t *id, struct api_err *err)
{
	static const char sql[] =
		"SELECT resource_id, request_hash FROM idempotency_keys WHERE route = ?1 AND key = ?2 AND created_at > ?3";
	sqlite3_stmt *st = db_stmt(db, sql, err);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, idem->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, idem->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL) - IDEM_TTL_S);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		bool same = sqlite3_column_bytes(st, 1) == 32 && memcmp(sqlite3_column_blob(st, 1), idem->hash, 32) == 0;

		*id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (!same)
			return api_fail(err, API_CONFLICT, "Idempotency-Key",
					"this Idempotency-Key was already used for a different request");
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, rc, err);
}

int db_idem_lookup(struct db *db, const struct db_idem *idem, int64_t *id, struct api_err *err)
{
	return idem ? idem_find(db, idem, id, err) : 0;
}

int db_idem_claim(struct db *db, const struct db_idem *idem, int64_t *id, struct api_err *err)
{
	return idem ? idem_find(db, idem, id, err) : 0;
}

int db_idem_record(struct db *db, const struct db_idem *idem, int64_t id, struct api_err *err)
{
	static const char purge[] = "DELETE FROM idempotency_keys WHERE created_at <= ?1";
	static const char sql[] =
		"INSERT OR REPLACE INTO idempotency_keys (route, key, request_hash, resource_id, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *st;
	sqlite3_int64 now = (sqlite3_int64)time(NULL);

	if (!idem)
		return 0;
	st = db_stmt(db, purge, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now - IDEM_TTL_S);
	if (db_exec_stmt(db, st, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, idem->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, idem->key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, idem->hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, id);
	sqlite3_bind_int64(st, 5, now);
	return db_exec_stmt(db, st, err);
}

/* ---- recovery -------------------------------------------------------------------------------- */

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
		while (n < 256 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			ids[n] = sqlite3_column_int64(st, 0);
			attempts[n++] = sqlite3_column_int(st, 1);
		}
		sqlite3_reset(st);
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
