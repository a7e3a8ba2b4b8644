/*
 * test_db_copy.c — db_copy (server/store/db_copy.c, `fitd migrate-db`)
 * between two SQLite files (the PostgreSQL directions run against a real
 * server in tests/integration/test_migrate_db.py): every row and value as
 * stored (blobs byte for byte, an empty blob not turned NULL, NULLs, reals),
 * a job's lineage kept although the jobs_lineage trigger would rewrite it
 * (and the trigger back and working afterwards), AUTOINCREMENT counters past
 * a deleted id, tables reported in foreign-key order; a TO with rows refused
 * (a node's row there is no data: it stays, FROM's nodes added beside it)
 * and a failing insert rolling everything back. Read back through an
 * independent connection.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db.h"
#include "tests/unit/server/store/test_db_util.h"

Suite *suite_db_copy(void);

/* One of each kind of row, written as a server would leave them, then
 * changed where a copy could go wrong. */
static const char source_rows[] =
	"PRAGMA foreign_keys = ON;" /* as fitd runs: the delete below sets job 7's dataset_id NULL */
	"INSERT INTO datasets (id, name, n_samples, n_features, y_dim, y_kind, n_classes, y_min, y_max, created_at, "
	"columns) VALUES (1, 'iris', 2, 2, 0, 'class', 3, 0, 2, '2026-01-01T00:00:00Z', '[{\"name\":\"a\"}]');"
	"INSERT INTO datasets (id, name, n_samples, n_features, y_dim, created_at) "
	"VALUES (2, 'gone later', 0, 2, 0, '2026-01-01T00:00:01Z');"
	"INSERT INTO dataset_chunks (dataset_id, seq, n_rows, x, y) VALUES (1, 0, 2, x'0000803f000000400000404000008040', "
	"x'00000000');"
	"INSERT INTO dataset_chunks (dataset_id, seq, n_rows, x, y) VALUES (1, 1, 0, x'', x'');"
	"INSERT INTO models (id, name, definition, n_params, state, created_at, updated_at, named, version) "
	"VALUES (1, 'm', '{}', 9, x'0102030405', '2026-01-01T00:00:02Z', '2026-01-01T00:00:03Z', 1, NULL);"
	"INSERT INTO jobs (id, model_id, dataset_id, options, status, epochs, loss, accuracy, created_at) "
	"VALUES (7, 1, 2, '{}', 'succeeded', 3, 0.125, NULL, '2026-01-01T00:00:04Z');"
	"INSERT INTO jobs (id, model_id, dataset_id, options, status, epochs, created_at) "
	"VALUES (8, 1, 1, '{}', 'running', 3, '2026-01-01T00:00:05Z');"
	"DELETE FROM datasets WHERE id = 2;" /* job 7 keeps its lineage: ref 2, 'gone later' */
	"INSERT INTO job_epochs (job_id, epoch, loss, seconds) VALUES (7, 1, 0.5, 0.25);"
	"INSERT INTO job_events (id, job_id, seq, kind, data) VALUES (41, 7, 1, 'status', '{}');"
	"INSERT INTO model_versions (model_id, version, source, job_id, weights_sha256, state, created_at) "
	"VALUES (1, 1, 'job', 7, 'ab', x'0102', '2026-01-01T00:00:06Z');"
	"INSERT INTO idempotency_keys (route, key, request_hash, resource_id, created_at) "
	"VALUES ('jobs', 'k1', x'00ff', 7, 1700000000);"
	/* ids once handed out and since deleted: not to be handed out again */
	"UPDATE sqlite_sequence SET seq = 50 WHERE name = 'jobs';"
	"UPDATE sqlite_sequence SET seq = 60 WHERE name = 'job_events';";

struct fixture {
	struct tmp from_t, to_t;
	struct db *from, *to;
};

static void setup(struct fixture *f)
{
	f->from = fresh_db(&f->from_t);
	f->to = fresh_db(&f->to_t);
	peek_exec(f->from_t.db, source_rows);
}

static void teardown(struct fixture *f)
{
	db_close(f->from);
	db_close(f->to);
	tmp_remove(&f->from_t);
	tmp_remove(&f->to_t);
}

static void same_rows(const struct fixture *f, const char *table, const char *cols)
{
	char sql[600];
	sqlite3 *a = peek_open(f->from_t.db);
	sqlite3_stmt *st;

	/* every row of FROM, with each value's type, is in TO, and the counts match */
	snprintf(sql, sizeof sql, "ATTACH DATABASE '%s' AS t2", f->to_t.db);
	ck_assert_int_eq(sqlite3_exec(a, sql, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof sql,
		 "SELECT (SELECT count(*) FROM (SELECT %s FROM main.%s EXCEPT SELECT %s FROM t2.%s)), "
		 "(SELECT count(*) FROM main.%s), (SELECT count(*) FROM t2.%s)",
		 cols, table, cols, table, table, table);
	ck_assert_int_eq(sqlite3_prepare_v2(a, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_msg(sqlite3_column_int(st, 0) == 0, "%s: %d rows of FROM are not in TO", table,
		      sqlite3_column_int(st, 0));
	ck_assert_int_eq(sqlite3_column_int(st, 1), sqlite3_column_int(st, 2));
	ck_assert_int_gt(sqlite3_column_int(st, 1), 0);
	sqlite3_finalize(st);
	sqlite3_close(a);
}

static size_t report_index(const struct db_copied *t, size_t n, const char *table)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].table, table) == 0)
			return i;
	ck_abort_msg("%s is not in the report", table);
	return n;
}

START_TEST(test_copy_keeps_everything)
{
	struct fixture f;
	struct db_copied *t;
	size_t n;
	char msg[512];
	sqlite3 *c;
	sqlite3_stmt *st;

	setup(&f);
	long long triggers = peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'");

	ck_assert_msg(db_copy(f.from, f.to, &t, &n, msg, sizeof msg) == 0, "%s", msg);
	/* every trigger dropped for the copy is back */
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), triggers);
	ck_assert_int_eq((int)n, (int)peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
						   "AND name NOT LIKE 'sqlite%'"));
	ck_assert_int_eq((int)t[report_index(t, n, "datasets")].rows, 1);
	ck_assert_int_eq((int)t[report_index(t, n, "dataset_chunks")].rows, 2);
	ck_assert_int_eq((int)t[report_index(t, n, "jobs")].rows, 2);
	ck_assert_int_eq((int)t[report_index(t, n, "sweeps")].rows, 0);
	/* foreign-key order: every referenced table before the table referencing it */
	c = peek_open(f.to_t.db);
	ck_assert_int_eq(sqlite3_prepare_v2(c, "SELECT m.name, k.\"table\" FROM sqlite_schema m "
					       "JOIN pragma_foreign_key_list(m.name) k WHERE m.type = 'table'",
					    -1, &st, NULL),
			 SQLITE_OK);
	int edges = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *child = (const char *)sqlite3_column_text(st, 0), *parent = (const char *)sqlite3_column_text(st, 1);

		ck_assert_msg(report_index(t, n, parent) < report_index(t, n, child), "%s copied before %s", child, parent);
		edges++;
	}
	ck_assert_int_ge(edges, 10);
	sqlite3_finalize(st);
	sqlite3_close(c);
	free(t);

	same_rows(&f, "datasets", "*, typeof(columns), typeof(class_names), typeof(y_min)");
	same_rows(&f, "dataset_chunks", "*, typeof(x), typeof(y)"); /* an empty blob stays a blob */
	same_rows(&f, "models", "*, typeof(version)");
	same_rows(&f, "jobs", "*, typeof(loss), typeof(accuracy)");
	same_rows(&f, "job_epochs", "*");
	same_rows(&f, "job_events", "*");
	same_rows(&f, "model_versions", "*");
	same_rows(&f, "idempotency_keys", "*");
	/* the lineage of a job whose dataset is gone, not rewritten by the trigger */
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT dataset_ref FROM jobs WHERE id = 7 AND dataset_id IS NULL "
					     "AND dataset_name = 'gone later'"),
			 2);
	/* counters past the deleted ids; the copy of the max where FROM's is lower */
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'"), 50);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT seq FROM sqlite_sequence WHERE name = 'job_events'"), 60);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT seq FROM sqlite_sequence WHERE name = 'models'"), 1);
	/* the trigger is back and fills a new job's lineage; the new id follows the counter */
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' "
					     "AND name = 'jobs_lineage'"),
			 1);
	peek_exec(f.to_t.db, "INSERT INTO jobs (model_id, dataset_id, options, epochs, created_at) "
			     "VALUES (1, 1, '{}', 1, '2026-01-02T00:00:00Z')");
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT id FROM jobs WHERE dataset_name = 'iris' AND dataset_ref = 1 "
					     "AND created_at = '2026-01-02T00:00:00Z'"),
			 51);
	teardown(&f);
}
END_TEST

START_TEST(test_to_with_rows_is_refused)
{
	struct fixture f;
	struct db_copied *t;
	size_t n;
	char msg[512];

	setup(&f);
	peek_exec(f.to_t.db, "INSERT INTO sweeps (name, kind, metric, mode, definition, n_points, created_at) "
			     "VALUES ('s', 'grid', 'loss', 'min', '{}', 0, 'now')");
	ck_assert_int_eq(db_copy(f.from, f.to, &t, &n, msg, sizeof msg), -1);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(msg, "TO is not empty (its table sweeps has rows)") != NULL, "%s", msg);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM datasets"), 0);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM sweeps"), 1);
	teardown(&f);
}
END_TEST

START_TEST(test_nodes_of_to_stay)
{
	struct fixture f;
	struct db_copied *t;
	size_t n;
	char msg[512];

	setup(&f);
	peek_exec(f.from_t.db, "INSERT INTO nodes (id, workers, started_at, heartbeat_at, heartbeat_ms, stopped) "
			       "VALUES ('a:8080', 2, 's', 'h', 1, 1), ('b:8080', 3, 's', 'h', 2, 1)");
	/* a server started on TO to make its schema: not data, and its row wins */
	peek_exec(f.to_t.db, "INSERT INTO nodes (id, workers, started_at, heartbeat_at, heartbeat_ms, stopped) "
			     "VALUES ('a:8080', 8, 's2', 'h2', 9, 0)");
	ck_assert_msg(db_copy(f.from, f.to, &t, &n, msg, sizeof msg) == 0, "%s", msg);
	ck_assert_int_eq((int)t[report_index(t, n, "nodes")].rows, 1);
	ck_assert_int_eq((int)t[report_index(t, n, "jobs")].rows, 2);
	free(t);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT workers FROM nodes WHERE id = 'a:8080'"), 8);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT workers FROM nodes WHERE id = 'b:8080'"), 3);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM nodes"), 2);
	teardown(&f);
}
END_TEST

START_TEST(test_failure_writes_nothing)
{
	struct fixture f;
	struct db_copied *t;
	size_t n;
	char msg[512];

	setup(&f);
	long long triggers = peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'");

	ck_assert_int_ge(triggers, 1);
	/* a table late in the order fails midway: nothing of the earlier ones stays */
	db_fault_step("INSERT INTO \"model_versions\"", 0, SQLITE_IOERR);
	ck_assert_int_eq(db_copy(f.from, f.to, &t, &n, msg, sizeof msg), -1);
	db_fault_step(NULL, 0, 0);
	ck_assert_msg(strstr(msg, "copying table model_versions: ") != NULL, "%s", msg);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM datasets"), 0);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM jobs"), 0);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), triggers);
	/* and the same copy then succeeds */
	ck_assert_msg(db_copy(f.from, f.to, &t, &n, msg, sizeof msg) == 0, "%s", msg);
	free(t);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM model_versions"), 1);
	/* a failing read of FROM: the same */
	peek_exec(f.to_t.db, "DELETE FROM model_versions; DELETE FROM idempotency_keys; DELETE FROM job_events; "
			     "DELETE FROM job_epochs; DELETE FROM jobs; DELETE FROM models; DELETE FROM dataset_chunks; "
			     "DELETE FROM datasets");
	db_fault_step("SELECT * FROM \"jobs\"", 1, SQLITE_IOERR);
	ck_assert_int_eq(db_copy(f.from, f.to, &t, &n, msg, sizeof msg), -1);
	db_fault_step(NULL, 0, 0);
	ck_assert_msg(strstr(msg, "copying table jobs: ") != NULL, "%s", msg);
	ck_assert_int_eq(peek_int(f.to_t.db, "SELECT count(*) FROM datasets"), 0);
	teardown(&f);
}
END_TEST

Suite *suite_db_copy(void)
{
	Suite *s = suite_create("db_copy");
	TCase *tc = tcase_create("copy");

	tcase_add_test(tc, test_copy_keeps_everything);
	tcase_add_test(tc, test_to_with_rows_is_refused);
	tcase_add_test(tc, test_nodes_of_to_stay);
	tcase_add_test(tc, test_failure_writes_nothing);
	suite_add_tcase(s, tc);
	return s;
}
