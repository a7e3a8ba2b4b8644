/*
 * test_db.c — server/store/: migrations (db_migrate.c) and connections
 * (db.c), and round trips of datasets (chunked) and models through
 * db_dataset.c / db_model.c,
 * each against a fresh database in a temporary folder.
 *
 * What a migration left behind is read back through a second, independent
 * SQLite connection (schema, user_version, data), not through the code
 * under test. The real migrations are read from ./migrations: the runner is
 * started from the repository root (make test-unit).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "server/store/db.h"
#include "tests/unit/server/store/test_db_util.h"

Suite *suite_db(void);


/* ---- temporary folders and files ----------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
}

/* Copies migrations/<name> into the test's own migrations folder. */
static void copy_real_migration(struct tmp *t, const char *name)
{
	char path[512], *text;
	FILE *f;
	long len;

	if (access(t->mig, F_OK) != 0)
		ck_assert_int_eq(mkdir(t->mig, 0700), 0);
	snprintf(path, sizeof path, "%s/%s", REAL_MIGRATIONS, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 1);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	write_file(t->mig, name, text);
	free(text);
}

/* Number of NNNN_name.sql files in a folder. */
static int count_migrations(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_msg(d != NULL, "cannot read %s (run from the repository root)", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		bool digits = len >= 10;

		for (int i = 0; i < 4 && digits; i++)
			digits = e->d_name[i] >= '0' && e->d_name[i] <= '9';
		if (digits && e->d_name[4] == '_' && strcmp(e->d_name + len - 4, ".sql") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Copies every NNNN_name.sql of the real migrations into the test's folder. */
static void copy_all_real_migrations(struct tmp *t)
{
	DIR *d = opendir(REAL_MIGRATIONS);
	struct dirent *e;

	ck_assert_msg(d != NULL, "cannot read %s (run from the repository root)", REAL_MIGRATIONS);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len >= 10 && e->d_name[4] == '_' && strcmp(e->d_name + len - 4, ".sql") == 0)
			copy_real_migration(t, e->d_name);
	}
	closedir(d);
}

/* ---- an independent look at the file ------------------------------------------------------ */

/* The first column of the first row of sql as text, into out ("" when none). */
static void peek_text(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *h = peek_open(path);
	sqlite3_stmt *st;

	out[0] = '\0';
	ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
}

static bool has_table(const char *path, const char *name)
{
	char sql[200];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'", name);
	return peek_int(path, sql) == 1;
}

static bool has_column(const char *path, const char *table, const char *column)
{
	char sql[200];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, column);
	return peek_int(path, sql) == 1;
}

/* The whole schema as one text: type, name and SQL of every object, by name. */
static char *schema_of(const char *path)
{
	sqlite3 *h = peek_open(path);
	sqlite3_stmt *st;
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(sqlite3_prepare_v2(h,
					    "SELECT type, name, coalesce(sql, '') FROM sqlite_schema "
					    "WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s %s %s\n", sqlite3_column_text(st, 0),
					sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	sqlite3_close(h);
	ck_assert_uint_lt(len, cap);
	return out;
}

/* ---- migrations ------------------------------------------------------------------------ */

START_TEST(test_migrate_empty_database)
{
	static const char *const tables[] = {"datasets", "dataset_chunks", "models", "jobs",
					     "job_epochs", "job_events", "predictions", "idempotency_keys"};
	int n_files = count_migrations(REAL_MIGRATIONS);
	struct tmp t;
	struct db *db;
	char mode[32];

	tmp_make(&t);
	db = open_db(t.db);
	ck_assert_int_eq(db_schema_version(db), 0);
	migrate_ok(db, REAL_MIGRATIONS);
	ck_assert_int_ge(n_files, 1);
	ck_assert_int_eq(db_schema_version(db), n_files);
	ck_assert(db_ping(db));
	db_close(db);

	ck_assert_int_eq(peek_int(t.db, "PRAGMA user_version"), n_files);
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		ck_assert_msg(has_table(t.db, tables[i]), "no table %s", tables[i]);
	/* the journal mode is a property of the file: WAL, as the design says */
	peek_text(t.db, "PRAGMA journal_mode", mode, sizeof mode);
	ck_assert_str_eq(mode, "wal");
	tmp_remove(&t);
}
END_TEST

START_TEST(test_migrate_idempotent)
{
	int n_files = count_migrations(REAL_MIGRATIONS);
	struct tmp t;
	struct db *db;
	char *before, *after;

	tmp_make(&t);
	db = open_db(t.db);
	migrate_ok(db, REAL_MIGRATIONS);
	before = schema_of(t.db);
	/* again on the same connection, and on a new one (a restart) */
	migrate_ok(db, REAL_MIGRATIONS);
	db_close(db);
	db = open_db(t.db);
	migrate_ok(db, REAL_MIGRATIONS);
	ck_assert_int_eq(db_schema_version(db), n_files);
	db_close(db);
	after = schema_of(t.db);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	tmp_remove(&t);
}
END_TEST

/* A database made by the schema of the day (every real migration), with data in it,
 * upgrades in place to a schema with one more migration; its rows survive, and it ends up with the
 * same schema as a database created at the new version directly. */
START_TEST(test_upgrade_from_first_schema)
{
	static const char add_note[] =
		"-- a test migration, as a later fitd would ship one\n"
		"ALTER TABLE datasets ADD COLUMN note TEXT NOT NULL DEFAULT 'none';\n"
		"CREATE TABLE notes_log (id INTEGER PRIMARY KEY, text TEXT NOT NULL);\n"
		"UPDATE datasets SET note = 'kept: ' || name;\n";
	struct tmp t, fresh;
	struct db *db;
	struct api_err err = {0};
	struct api_dataset_info info, back;
	float x[6] = {1, 2, 3, 4, 5, 6}, y[3] = {0, 1, 2}, *bx, *by;
	char note[64], *upgraded, *direct;

	int latest = count_migrations(REAL_MIGRATIONS);
	char next_name[64];

	tmp_make(&t);
	/* the schema the dataset code needs: all of today's */
	copy_all_real_migrations(&t);
	db = open_db(t.db);
	migrate_ok(db, t.mig);
	ck_assert_int_eq(db_schema_version(db), latest);
	memset(&info, 0, sizeof info);
	snprintf(info.name, sizeof info.name, "before-upgrade");
	info.n_samples = 3;
	info.n_features = 2;
	info.y_kind = API_Y_CLASS;
	info.n_classes = 3;
	info.y_max = 2;
	info.y_integral = true;
	ck_assert_msg(db_dataset_create(db, &info, x, y, NULL, &err) == 0, "%s", err.message);
	db_close(db);
	ck_assert(!has_column(t.db, "datasets", "note"));

	/* a newer fitd starts on the same file */
	snprintf(next_name, sizeof next_name, "%04d_add_note.sql", latest + 1);
	write_file(t.mig, next_name, add_note);
	db = open_db(t.db);
	migrate_ok(db, t.mig);
	ck_assert_int_eq(db_schema_version(db), latest + 1);
	ck_assert_msg(db_dataset_load(db, info.id, &back, &bx, &by, &err) == 0, "%s", err.message);
	db_close(db);
	ck_assert_str_eq(back.name, "before-upgrade");
	ck_assert_uint_eq(back.n_samples, 3);
	ck_assert_int_eq(memcmp(bx, x, sizeof x), 0);
	ck_assert_int_eq(memcmp(by, y, sizeof y), 0);
	free(bx);
	free(by);
	ck_assert(has_column(t.db, "datasets", "note"));
	ck_assert(has_table(t.db, "notes_log"));
	peek_text(t.db, "SELECT note FROM datasets", note, sizeof note);
	ck_assert_str_eq(note, "kept: before-upgrade");
	ck_assert_int_eq(peek_int(t.db, "PRAGMA user_version"), latest + 1);

	/* the same schema as a database created at that version */
	tmp_make(&fresh);
	db = open_db(fresh.db);
	migrate_ok(db, t.mig);
	db_close(db);
	upgraded = schema_of(t.db);
	direct = schema_of(fresh.db);
	ck_assert_str_eq(upgraded, direct);
	free(upgraded);
	free(direct);
	tmp_remove(&fresh);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_refuse_newer_database)
{
	struct tmp t;
	struct db *db;
	char msg[512] = "", *before, *after;

	tmp_make(&t);
	db = open_db(t.db);
	migrate_ok(db, REAL_MIGRATIONS);
	db_close(db);
	peek_exec(t.db, "PRAGMA user_version = 999");
	before = schema_of(t.db);
	db = open_db(t.db);
	ck_assert_int_eq(db_migrate(db, REAL_MIGRATIONS, msg, sizeof msg), -1);
	ck_assert_int_eq(db_schema_version(db), 999);
	db_close(db);
	ck_assert_msg(strstr(msg, "999") && strstr(msg, "newer"), "message: %s", msg);
	after = schema_of(t.db);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	tmp_remove(&t);
}
END_TEST

/* 0001 and 0003 without 0002: refused before anything is applied. */
START_TEST(test_gap_refused)
{
	struct tmp t;
	struct db *db;
	char msg[512] = "";

	tmp_make(&t);
	copy_real_migration(&t, "0001_init.sql");
	write_file(t.mig, "0003_later.sql", "CREATE TABLE later (x);\n");
	db = open_db(t.db);
	ck_assert_int_eq(db_migrate(db, t.mig, msg, sizeof msg), -1);
	ck_assert_int_eq(db_schema_version(db), 0);
	db_close(db);
	ck_assert_msg(strstr(msg, "0002") && strstr(msg, "missing"), "message: %s", msg);
	ck_assert(!has_table(t.db, "datasets"));
	ck_assert(!has_table(t.db, "later"));
	tmp_remove(&t);
}
END_TEST

START_TEST(test_duplicate_number_refused)
{
	struct tmp t;
	struct db *db;
	char msg[512] = "";

	tmp_make(&t);
	copy_real_migration(&t, "0001_init.sql");
	write_file(t.mig, "0001_again.sql", "CREATE TABLE again (x);\n");
	db = open_db(t.db);
	ck_assert_int_eq(db_migrate(db, t.mig, msg, sizeof msg), -1);
	ck_assert_int_eq(db_schema_version(db), 0);
	db_close(db);
	ck_assert_msg(strstr(msg, "0001") != NULL, "message: %s", msg);
	ck_assert(!has_table(t.db, "datasets"));
	tmp_remove(&t);
}
END_TEST

/* A migration that fails half-way leaves nothing of itself behind, and the
 * version where it was; once fixed, it applies. */
START_TEST(test_failing_migration_rolled_back)
{
	struct tmp t;
	struct db *db;
	char msg[512] = "";

	tmp_make(&t);
	copy_real_migration(&t, "0001_init.sql");
	write_file(t.mig, "0002_broken.sql",
		   "CREATE TABLE half (x);\nALTER TABLE datasets ADD COLUMN flag INTEGER;\nINSERT INTO nowhere VALUES (1);\n");
	db = open_db(t.db);
	ck_assert_int_eq(db_migrate(db, t.mig, msg, sizeof msg), -1);
	ck_assert_int_eq(db_schema_version(db), 1); /* 0001 committed on its own */
	db_close(db);
	ck_assert_msg(strstr(msg, "0002_broken.sql") && strstr(msg, "nowhere"), "message: %s", msg);
	ck_assert(has_table(t.db, "datasets"));
	ck_assert(!has_table(t.db, "half"));
	ck_assert(!has_column(t.db, "datasets", "flag"));

	write_file(t.mig, "0002_broken.sql", "CREATE TABLE half (x);\nALTER TABLE datasets ADD COLUMN flag INTEGER;\n");
	db = open_db(t.db);
	migrate_ok(db, t.mig);
	ck_assert_int_eq(db_schema_version(db), 2);
	db_close(db);
	ck_assert(has_table(t.db, "half"));
	ck_assert(has_column(t.db, "datasets", "flag"));
	tmp_remove(&t);
}
END_TEST

/* Only NNNN_name.sql files count. */
START_TEST(test_other_files_ignored)
{
	struct tmp t;
	struct db *db;

	tmp_make(&t);
	copy_real_migration(&t, "0001_init.sql");
	write_file(t.mig, "README.md", "not a migration\n");
	write_file(t.mig, "0002_draft.sql~", "syntax error here\n");
	write_file(t.mig, "0002.sql", "syntax error here\n");
	write_file(t.mig, "abcd_x.sql", "syntax error here\n");
	write_file(t.mig, "0000_zero.sql", "syntax error here\n");
	db = open_db(t.db);
	migrate_ok(db, t.mig);
	ck_assert_int_eq(db_schema_version(db), 1);
	db_close(db);
	tmp_remove(&t);
}
END_TEST

/* A migration with a long, descriptive file name is still a migration: it
 * must be applied (or refused with a message), never skipped in silence,
 * which would leave the database one schema behind the code. */
START_TEST(test_long_migration_name)
{
	static const char name[] = "0002_add_a_column_for_the_per_epoch_learning_rate_to_job_epochs.sql";
	struct tmp t;
	struct db *db;
	char msg[512] = "";
	int rc, version;

	ck_assert_uint_ge(strlen(name), 64);
	tmp_make(&t);
	copy_real_migration(&t, "0001_init.sql");
	write_file(t.mig, name, "ALTER TABLE job_epochs ADD COLUMN learning_rate REAL;\n");
	db = open_db(t.db);
	rc = db_migrate(db, t.mig, msg, sizeof msg);
	version = db_schema_version(db);
	db_close(db);
	tmp_remove(&t);
	ck_assert_msg(rc == -1 || version == 2, "%s was skipped: db_migrate returned %d, schema version %d", name, rc,
		      version);
	if (rc == -1)
		ck_assert_msg(strstr(msg, "0002") != NULL, "message: %s", msg);
}
END_TEST

START_TEST(test_missing_folder_and_bad_path)
{
	struct tmp t;
	struct db *db;
	char msg[512] = "";

	tmp_make(&t);
	db = open_db(t.db);
	ck_assert_int_eq(db_migrate(db, "/nonexistent/fitd-migrations", msg, sizeof msg), -1);
	ck_assert_msg(strstr(msg, "/nonexistent/fitd-migrations") != NULL, "message: %s", msg);
	db_close(db);
	db_close(NULL);

	msg[0] = '\0';
	ck_assert_ptr_null(db_open("/nonexistent/fitd-dir/x.db", msg, sizeof msg));
	ck_assert_msg(strstr(msg, "/nonexistent/fitd-dir/x.db") != NULL, "message: %s", msg);
	tmp_remove(&t);
}
END_TEST

/* ---- datasets and models through the store ------------------------------------------------- */

/* 2049 rows of 1023 features + 1 target = 4 KiB a row: 1024 rows per 4 MiB
 * chunk, so three chunks (1024, 1024, 1). */
START_TEST(test_dataset_chunked_roundtrip)
{
	enum { N = 2049, D = 1023 };
	struct tmp t;
	struct db *db = fresh_db(&t);
	struct api_dataset_info info, back, got;
	struct api_y_stats stats;
	struct api_err err = {0};
	float *x = malloc((size_t)N * D * sizeof *x), *y = malloc(N * sizeof *y), *bx, *by;

	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	for (size_t r = 0; r < N; r++) {
		for (size_t c = 0; c < D; c++)
			x[r * D + c] = (float)r + (float)c / 2048.0f;
		y[r] = (float)(r % 10);
	}
	memset(&info, 0, sizeof info);
	snprintf(info.name, sizeof info.name, "chunky");
	info.n_samples = N;
	info.n_features = D;
	api_y_stats_init(&stats, 0);
	for (size_t r = 0; r < N; r++)
		api_y_stats_add(&stats, &y[r]);
	api_y_stats_finish(&stats, &info);
	ck_assert_msg(db_dataset_create(db, &info, x, y, NULL, &err) == 0, "%s", err.message);
	ck_assert_int_gt(info.id, 0);
	ck_assert_uint_eq(strlen(info.created_at), 20);

	ck_assert_msg(db_dataset_load(db, info.id, &back, &bx, &by, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(back.n_samples, N);
	ck_assert_uint_eq(back.n_features, D);
	ck_assert_int_eq(back.y_kind, API_Y_CLASS);
	ck_assert_uint_eq(back.n_classes, 10);
	ck_assert(back.y_integral);
	ck_assert(memcmp(bx, x, (size_t)N * D * sizeof *x) == 0);
	ck_assert(memcmp(by, y, N * sizeof *y) == 0);
	free(bx);
	free(by);
	ck_assert_int_eq(db_dataset_get(db, info.id, &got, &err), 0);
	ck_assert_str_eq(got.name, "chunky");
	ck_assert_str_eq(got.created_at, info.created_at);
	db_close(db);

	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM dataset_chunks"), 3);
	ck_assert_int_eq(peek_int(t.db, "SELECT sum(n_rows) FROM dataset_chunks"), N);
	ck_assert_int_eq(peek_int(t.db, "SELECT max(length(x)) FROM dataset_chunks"), 1024 * D * 4);
	ck_assert_int_eq(peek_int(t.db, "SELECT n_rows FROM dataset_chunks WHERE seq = 2"), 1);
	free(x);
	free(y);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_dataset_store_operations)
{
	struct tmp t;
	struct db *db = fresh_db(&t);
	struct api_dataset_info a, b, *items = NULL;
	struct api_err err = {0};
	float x[4] = {0.5f, -1, 2, 3}, y[4] = {1, 0, 0, 1}, *bx, *by;
	size_t n = 0;
	uint64_t total = 0;

	memset(&a, 0, sizeof a);
	snprintf(a.name, sizeof a.name, "one-hot");
	a.n_samples = 2;
	a.n_features = 2;
	a.y_dim = 2;
	a.y_kind = API_Y_ONE_HOT;
	a.n_classes = 2;
	a.y_max = 1;
	a.y_integral = true;
	ck_assert_int_eq(db_dataset_create(db, &a, x, y, NULL, &err), 0);
	b = a;
	snprintf(b.name, sizeof b.name, "second");
	ck_assert_int_eq(db_dataset_create(db, &b, x, y, NULL, &err), 0);
	ck_assert_int_ne(a.id, b.id);

	ck_assert_int_eq(db_dataset_load(db, a.id, &a, &bx, &by, &err), 0);
	ck_assert_uint_eq(a.y_dim, 2);
	ck_assert_int_eq(a.y_kind, API_Y_ONE_HOT);
	ck_assert(memcmp(bx, x, sizeof x) == 0 && memcmp(by, y, sizeof y) == 0);
	free(bx);
	free(by);

	ck_assert_int_eq(db_dataset_list(db, 1, 1, &items, &n, &total, &err), 0);
	ck_assert_uint_eq(total, 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(items[0].name, "second");
	free(items);

	ck_assert_int_eq(db_dataset_delete(db, a.id, &err), 0);
	ck_assert_int_eq(db_dataset_get(db, a.id, &a, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_int_eq(db_dataset_load(db, a.id, &a, &bx, &by, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_ptr_null(bx);
	ck_assert_int_eq(db_dataset_delete(db, a.id, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	/* ids are never reused: delete the newest, create another */
	ck_assert_int_eq(db_dataset_delete(db, b.id, &err), 0);
	ck_assert_int_eq(db_dataset_create(db, &a, x, y, NULL, &err), 0);
	ck_assert_int_gt(a.id, b.id);
	ck_assert_int_eq(db_dataset_delete(db, a.id, &err), 0);
	db_close(db);
	/* the chunks went with the datasets (ON DELETE CASCADE, foreign keys on) */
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM dataset_chunks"), 0);
	tmp_remove(&t);
}
END_TEST

START_TEST(test_model_store_operations)
{
	struct tmp t;
	struct db *db = fresh_db(&t);
	struct api_model_info m, got, *items = NULL;
	struct api_err err = {0};
	uint8_t state[1000], state2[10], *blob = NULL;
	size_t len = 0, n = 0;
	uint64_t total = 0;
	char *a, *b;

	for (size_t i = 0; i < sizeof state; i++)
		state[i] = (uint8_t)(i * 7 + 3);
	model_info(&m, MODEL_JSON);
	ck_assert_msg(db_model_create(db, &m, state, sizeof state, NULL, &err) == 0, "%s", err.message);
	ck_assert_int_gt(m.id, 0);
	ck_assert_int_eq(m.status, API_MODEL_UNTRAINED);
	ck_assert_uint_eq(strlen(m.created_at), 20);

	ck_assert_msg(db_model_get(db, m.id, &got, &err) == 0, "%s", err.message);
	ck_assert_int_eq(got.id, m.id);
	ck_assert_str_eq(got.def.name, "digits-mlp");
	ck_assert_uint_eq(got.n_params, m.n_params);
	ck_assert_int_eq(got.status, API_MODEL_UNTRAINED);
	/* the definition comes back whole: same canonical JSON */
	a = api_model_def_encode(&m.def);
	b = api_model_def_encode(&got.def);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);

	ck_assert_int_eq(db_model_get_state(db, m.id, &got, &blob, &len, &err), 0);
	ck_assert_uint_eq(len, sizeof state);
	ck_assert(memcmp(blob, state, sizeof state) == 0);
	free(blob);
	memset(state2, 0xEE, sizeof state2);
	ck_assert_int_eq(db_model_put_state(db, m.id, state2, sizeof state2, &err), 0);
	ck_assert_int_eq(db_model_get_state(db, m.id, &got, &blob, &len, &err), 0);
	ck_assert_uint_eq(len, sizeof state2);
	ck_assert(memcmp(blob, state2, sizeof state2) == 0);
	free(blob);

	ck_assert_int_eq(db_model_list(db, 50, 0, &items, &n, &total, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(total, 1);
	ck_assert_int_eq(items[0].id, m.id);
	free(items);

	ck_assert_int_eq(db_model_get(db, m.id + 100, &got, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_int_eq(db_model_put_state(db, m.id + 100, state2, sizeof state2, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_int_eq(db_model_delete(db, m.id, &err), 0);
	ck_assert_int_eq(db_model_get(db, m.id, &got, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	db_close(db);
	tmp_remove(&t);
}
END_TEST

/* Idempotency-Key: a retry of the same request returns the first resource
 * and creates nothing; the same key with another body is a conflict. */
START_TEST(test_model_idempotency_key)
{
	struct tmp t;
	struct db *db = fresh_db(&t);
	struct api_model_info m, again;
	struct api_err err = {0};
	struct db_idem idem = {.route = "models", .key = "retry-1"};
	uint8_t state[4] = {1, 2, 3, 4};
	int64_t id = 0;

	memset(idem.hash, 0xA1, sizeof idem.hash);
	model_info(&m, MODEL_JSON);
	ck_assert_int_eq(db_idem_lookup(db, &idem, &id, &err), 0);
	ck_assert_int_eq(db_model_create(db, &m, state, sizeof state, &idem, &err), 0);
	ck_assert_int_eq(db_idem_lookup(db, &idem, &id, &err), 1);
	ck_assert_int_eq(id, m.id);

	model_info(&again, MODEL_JSON);
	ck_assert_int_eq(db_model_create(db, &again, state, sizeof state, &idem, &err), 1);
	ck_assert_int_eq(again.id, m.id);
	db_close(db);
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM models"), 1);

	db = open_db(t.db);
	memset(idem.hash, 0xB2, sizeof idem.hash);
	ck_assert_int_eq(db_model_create(db, &again, state, sizeof state, &idem, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	/* another route, same key: independent */
	idem.route = "datasets";
	ck_assert_int_eq(db_idem_lookup(db, &idem, &id, &err), 0);
	db_close(db);
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM models"), 1);
	tmp_remove(&t);
}
END_TEST

/* Writes 5 models of 1 MiB of state each (about 1300 pages of log) through db
 * and returns the frames left in its write-ahead log after a passive
 * checkpoint, which must have copied them all (no reader holds them). */
static int wal_frames_after_writes(bool autocheckpoint)
{
	struct api_model_info m;
	struct api_err err = {0};
	struct tmp t;
	struct db *db = fresh_db(&t);
	size_t len = (size_t)1 << 20;
	uint8_t *state = calloc(1, len);
	int wal = -1, copied = -2;

	ck_assert_ptr_nonnull(state);
	if (!autocheckpoint)
		db_autocheckpoint_off(db);
	/* 20 MiB: past 1000 pages of 16 KiB (fitd's page size) */
	for (int i = 0; i < 20; i++) {
		state[i] = (uint8_t)(i + 1);
		model_info(&m, MODEL_JSON);
		m.def.name[0] = '\0'; /* names are unique; these go unnamed */
		ck_assert_msg(db_model_create(db, &m, state, len, NULL, &err) == 0, "%s", err.message);
	}
	ck_assert_int_eq(db_checkpoint(db, &wal, &copied), 0);
	ck_assert_int_eq(copied, wal);
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM models"), 20);
	free(state);
	db_close(db);
	tmp_remove(&t);
	return wal;
}

/* A new database gets 16 KiB pages (a dataset block is a quarter of the
 * WAL frames of 4 KiB ones). */
START_TEST(test_new_database_page_size)
{
	struct tmp t;
	struct db *db = fresh_db(&t);

	ck_assert_int_eq(peek_int(t.db, "PRAGMA page_size"), 16384);
	db_close(db);
	tmp_remove(&t);
}
END_TEST

/* SQLite checkpoints inside the commit that takes the log past 1000 pages; a
 * connection with db_autocheckpoint_off never does, and db_checkpoint does
 * it when asked (the prediction writer's arrangement, predq.c). */
START_TEST(test_autocheckpoint_off_and_checkpoint)
{
	int with = wal_frames_after_writes(true), without = wal_frames_after_writes(false);

	ck_assert_msg(with < 1000, "with autocheckpoint: %d frames in the log", with);
	ck_assert_msg(without > 1000, "without autocheckpoint: %d frames in the log", without);
}
END_TEST

Suite *suite_db(void)
{
	Suite *s = suite_create("db");
	TCase *mig = tcase_create("migrations");
	TCase *ops = tcase_create("operations");

	tcase_add_test(mig, test_migrate_empty_database);
	tcase_add_test(mig, test_migrate_idempotent);
	tcase_add_test(mig, test_upgrade_from_first_schema);
	tcase_add_test(mig, test_refuse_newer_database);
	tcase_add_test(mig, test_gap_refused);
	tcase_add_test(mig, test_duplicate_number_refused);
	tcase_add_test(mig, test_failing_migration_rolled_back);
	tcase_add_test(mig, test_other_files_ignored);
	tcase_add_test(mig, test_long_migration_name);
	tcase_add_test(mig, test_missing_folder_and_bad_path);
	suite_add_tcase(s, mig);
	tcase_add_test(ops, test_dataset_chunked_roundtrip);
	tcase_add_test(ops, test_dataset_store_operations);
	tcase_add_test(ops, test_model_store_operations);
	tcase_add_test(ops, test_model_idempotency_key);
	tcase_add_test(ops, test_autocheckpoint_off_and_checkpoint);
	tcase_add_test(ops, test_new_database_page_size);
	tcase_set_timeout(ops, 30);
	suite_add_tcase(s, ops);
	return s;
}
