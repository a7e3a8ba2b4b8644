/*
 * test_db_util.c — what the store's tests share: temporary folders, a fresh
 * migrated database, an independent SQLite connection to look at the file,
 * and a valid model.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/server/store/test_db_util.h"

void tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/fitd-test-db-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->db, sizeof t->db, "%s/test.db", t->dir);
	snprintf(t->mig, sizeof t->mig, "%s/migrations", t->dir);
}

/* Removes every file of dir (one level), then dir. */
static void rm_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void tmp_remove(struct tmp *t)
{
	rm_flat(t->mig);
	rm_flat(t->dir);
}

sqlite3 *peek_open(const char *path)
{
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return h;
}

/* The first column of the first row of sql as an integer (-1: no row). */
long long peek_int(const char *path, const char *sql)
{
	sqlite3 *h = peek_open(path);
	sqlite3_stmt *st;
	long long v = -1;

	ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

void peek_exec(const char *path, const char *sql)
{
	sqlite3 *h = peek_open(path);
	char *emsg = NULL;
	int rc = sqlite3_exec(h, sql, NULL, NULL, &emsg);

	sqlite3_close(h);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, emsg ? emsg : "?");
	sqlite3_free(emsg);
}

struct db *open_db(const char *path)
{
	char msg[512] = "";
	struct db *db = db_open(path, msg, sizeof msg);

	ck_assert_msg(db != NULL, "db_open %s: %s", path, msg);
	return db;
}

void migrate_ok(struct db *db, const char *dir)
{
	char msg[512] = "";

	ck_assert_msg(db_migrate(db, dir, msg, sizeof msg) == 0, "db_migrate %s: %s", dir, msg);
}

struct db *fresh_db(struct tmp *t)
{
	struct db *db;

	tmp_make(t);
	db = open_db(t->db);
	migrate_ok(db, REAL_MIGRATIONS);
	return db;
}

void model_info(struct api_model_info *m, const char *json)
{
	struct api_err err = {0};
	uint64_t n_params = 0;

	memset(m, 0, sizeof *m);
	ck_assert_msg(api_model_decode(json, strlen(json), &m->def, &err) == 0, "%s", err.message);
	ck_assert_int_eq(nn_spec_check(&m->def.spec, &n_params, NULL), NN_OK);
	m->n_params = n_params;
}
