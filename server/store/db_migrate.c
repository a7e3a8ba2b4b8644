/*
 * db_migrate.c — the schema: numbered .sql files of migrations/, applied in
 * order at start-up, each in its own transaction, the version recorded.
 * A landed migration is never edited; a change is a new file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

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

	if (db->pg)
		return db_pg_schema_version(db->pg);
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static const char *errmsg(struct db *db)
{
	return db->pg ? db_pg_errmsg(db->pg) : sqlite3_errmsg(db->h);
}

/* Applies one file as version v in one transaction: 0, or -1 with why in msg. */
static int migrate_one(struct db *db, int v, const char *sql, char *msg, size_t size)
{
	char pragma[64], *emsg = NULL;

	if (db->pg) {
		if (db_pg_migrate_one(db->pg, v, sql) == 0)
			return 0;
		snprintf(msg, size, "%s", db_pg_errmsg(db->pg));
		return -1;
	}
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v);
	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK ||
	    sqlite3_exec(db->h, sql, NULL, NULL, &emsg) != SQLITE_OK ||
	    sqlite3_exec(db->h, pragma, NULL, NULL, &emsg) != SQLITE_OK ||
	    sqlite3_exec(db->h, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
		snprintf(msg, size, "%s", emsg ? emsg : sqlite3_errmsg(db->h));
		sqlite3_free(emsg);
		db_rollback(db);
		return -1;
	}
	return 0;
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
	/* Nodes starting together over one PostgreSQL migrate one at a time. */
	if (db->pg && db_pg_exec(db->pg, "SELECT pg_advisory_lock(7237)")) {
		snprintf(msg, size, "cannot lock the schema: %s", errmsg(db));
		goto out;
	}
	current = db_schema_version(db);
	if (current < 0) {
		snprintf(msg, size, "cannot read the schema version: %s", errmsg(db));
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
		char path[1200], *sql, why[512];

		snprintf(path, sizeof path, "%s/%s", dir, list[v - 1].name);
		sql = read_file(path);
		if (!sql) {
			snprintf(msg, size, "cannot read %s", path);
			goto out;
		}
		if (migrate_one(db, v, sql, why, sizeof why)) {
			snprintf(msg, size, "migration %s failed: %s", list[v - 1].name, why);
			free(sql);
			goto out;
		}
		free(sql);
	}
	rc = 0;
out:
	if (db->pg)
		db_pg_exec(db->pg, "SELECT pg_advisory_unlock(7237)");
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	return rc;
}
