/*
 * db_copy.c — `fitd migrate-db FROM TO`: copies a fitd database into a new,
 * empty one. Either side is a SQLite file path or a postgresql:// URI, so it
 * moves a SQLite database to PostgreSQL (what it is for), back, or copies
 * one engine to itself.
 *
 * USAGE
 *     fitd migrate-db FROM TO [--share-dir DIR]
 *
 *   FROM  an existing fitd database: a SQLite file (it must exist) or a
 *         postgresql:// URI. It is only read, once brought to this fitd's
 *         schema as a server start would (migrations of DIR/migrations/sqlite
 *         or DIR/migrations/postgres). Stop the servers that write to it
 *         first: rows they write during the copy are not in it (the copy
 *         reads one snapshot).
 *   TO    a new database: a SQLite path (made when missing) or the URI of an
 *         existing, empty PostgreSQL database (CREATE DATABASE it first). It
 *         is migrated to the latest schema, then refused unless every table
 *         is empty (but nodes: a server started on it to make the schema
 *         leaves its node's row, which stays).
 *   Prints each table and its row count, exit 0; on error `fitd: ...`,
 *   exit 1, and no row is written to TO (the copy is one transaction on
 *   TO; TO keeps the schema its migration made, empty, so the same command
 *   can run again).
 *   Jobs are copied as they are: a job found running (FROM's server
 *   crashed mid-run) resumes on TO as it would have on FROM — SQLite: the
 *   next start's recovery requeues it; PostgreSQL: a node claims it once
 *   the dead node's lease has ended. FROM's migration may write to FROM
 *   (an older schema is upgraded in place, as a server start would).
 *
 * HOW (main.c opens and migrates both; db_copy does the rest)
 *   - Tables come from TO's catalog (pg_class / sqlite_schema; not the
 *     schema-version bookkeeping nor SQLite's sqlite_* tables), ordered so
 *     that a table comes after every table its foreign keys reference (the
 *     catalog's foreign keys). A table FROM has and TO lacks is an error if
 *     it has rows; TO's tables FROM lacks stay empty.
 *   - FROM is read in one snapshot (SQLite: a read transaction; PostgreSQL:
 *     REPEATABLE READ, READ ONLY), row by row (PostgreSQL: a cursor, one
 *     row per FETCH while rows are large), never a whole table in memory:
 *     dataset_chunks rows hold 4 MiB blobs. Every column is copied by name,
 *     the value as the engine stored it (integer, real, text, blob or NULL).
 *   - TO is written in one transaction (db_begin: SQLite's BEGIN IMMEDIATE,
 *     PostgreSQL's writer lock), its user triggers off for the copy (the
 *     jobs_lineage trigger would rewrite the lineage being copied):
 *     PostgreSQL disables them (ALTER TABLE ... DISABLE TRIGGER, undone
 *     before the commit), SQLite drops and recreates them from their SQL.
 *   - Ids continue where FROM's left off: each identity (PostgreSQL) or
 *     AUTOINCREMENT counter (SQLite's sqlite_sequence) of TO is set to the
 *     larger of the largest id copied and FROM's own counter, so an id FROM
 *     handed out once (to a row since deleted) is not handed out again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

#define MAX_TABLES 64
#define MAX_EDGES 256
#define MAX_TRIGGERS 64
#define NAME_SIZE 64
/* Rows a PostgreSQL cursor hands over per FETCH (libpq holds a whole result
 * in memory): one at first and while rows are large (dataset_chunks' 4 MiB
 * blobs, model states), FETCH_MANY once a batch averaged under
 * SMALL_ROW_BYTES, so a batch stays under about FETCH_MANY * SMALL_ROW_BYTES
 * plus one row. */
#define FETCH_MANY "64"
#define SMALL_ROW_BYTES 65536

/* Tables that say which processes ran on a database, not what it holds: a
 * server started on the new, empty TO before the copy (to make its schema)
 * left its node's row there. TO may already have rows in them; FROM's rows
 * are added, but not one whose key TO has. */
static const char *const bookkeeping[] = {"nodes"};

static bool is_bookkeeping(const char *table)
{
	for (size_t i = 0; i < sizeof bookkeeping / sizeof bookkeeping[0]; i++)
		if (strcmp(table, bookkeeping[i]) == 0)
			return true;
	return false;
}

struct names {
	char v[MAX_TABLES][NAME_SIZE];
	size_t n;
};

struct edge {
	char child[NAME_SIZE], parent[NAME_SIZE];
};

/* A trigger of TO switched off for the copy. */
struct trigger {
	char table[NAME_SIZE], name[NAME_SIZE];
	char *sql; /* SQLite: the CREATE TRIGGER that restores it */
};

struct copy {
	struct db *from, *to;
	struct names order;        /* TO's tables in foreign-key order */
	struct trigger triggers[MAX_TRIGGERS];
	size_t n_triggers;
	struct db_copied *report;  /* one per table of order */
};

static int oom(struct api_err *err)
{
	return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
}

/* s as a double-quoted identifier, into out. */
static int quote(char *out, size_t size, const char *s, struct api_err *err)
{
	size_t k = 0;

	if (k + 1 >= size)
		return api_fail(err, API_INTERNAL, NULL, "identifier too long");
	out[k++] = '"';
	for (; *s; s++) {
		if (k + 3 >= size)
			return api_fail(err, API_INTERNAL, NULL, "identifier too long");
		if (*s == '"')
			out[k++] = '"';
		out[k++] = *s;
	}
	out[k++] = '"';
	out[k] = '\0';
	return 0;
}

static bool has(const struct names *n, const char *name)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i], name) == 0)
			return true;
	return false;
}

/* Copies text column col into a name buffer; -1 when it does not fit. */
static int col_name_copy(struct db_stmt *st, int col, char out[NAME_SIZE], struct api_err *err)
{
	const char *s = db_col_str(st, col);

	if (!s || strlen(s) >= NAME_SIZE)
		return api_fail(err, API_INTERNAL, NULL, "a table or trigger name is empty or longer than %d bytes",
				NAME_SIZE - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* The database's tables, by name. */
static int list_tables(struct db *db, struct names *out, struct api_err *err)
{
	static const char lite[] = "SELECT name FROM sqlite_schema WHERE type = 'table' "
				   "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
	static const char pg[] = "SELECT relname::text FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
				 "AND relkind IN ('r', 'p') AND relname <> 'fitd_schema_version' ORDER BY relname";
	struct db_stmt *st = db_stmt(db, db->pg ? pg : lite, err);
	int rc;

	out->n = 0;
	if (!st)
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		if (out->n == MAX_TABLES) {
			db_reset(st);
			return api_fail(err, API_INTERNAL, NULL, "more than %d tables", MAX_TABLES);
		}
		if (col_name_copy(st, 0, out->v[out->n], err)) {
			db_reset(st);
			return -1;
		}
		out->n++;
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

/* Orders tables so that every table comes after those its foreign keys
 * reference (a reference to itself aside): the first ready table by name,
 * again and again. */
static int fk_order(struct db *db, const struct names *tables, struct names *order, struct api_err *err)
{
	static const char lite[] = "SELECT m.name, f.\"table\" FROM sqlite_schema m "
				   "JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'";
	static const char pg[] = "SELECT a.relname::text, b.relname::text FROM pg_constraint k "
				 "JOIN pg_class a ON a.oid = k.conrelid JOIN pg_class b ON b.oid = k.confrelid "
				 "WHERE k.contype = 'f' AND a.relnamespace = current_schema()::regnamespace";
	struct edge *edges = calloc(MAX_EDGES, sizeof *edges);
	struct db_stmt *st = edges ? db_stmt(db, db->pg ? pg : lite, err) : NULL;
	size_t n_edges = 0;
	bool placed[MAX_TABLES] = {0};
	int rc = DB_DONE;

	order->n = 0;
	if (!edges)
		return oom(err);
	if (!st)
		goto fail;
	while ((rc = db_step(st)) == DB_ROW) {
		if (n_edges == MAX_EDGES) {
			db_reset(st);
			api_fail(err, API_INTERNAL, NULL, "more than %d foreign keys", MAX_EDGES);
			goto fail;
		}
		if (col_name_copy(st, 0, edges[n_edges].child, err) || col_name_copy(st, 1, edges[n_edges].parent, err)) {
			db_reset(st);
			goto fail;
		}
		n_edges++;
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	while (order->n < tables->n) {
		size_t pick = tables->n;

		for (size_t t = 0; t < tables->n && pick == tables->n; t++) {
			bool ready = !placed[t];

			for (size_t e = 0; ready && e < n_edges; e++)
				if (strcmp(edges[e].child, tables->v[t]) == 0 && strcmp(edges[e].parent, tables->v[t]) != 0 &&
				    has(tables, edges[e].parent) && !has(order, edges[e].parent))
					ready = false;
			if (ready)
				pick = t;
		}
		if (pick == tables->n) {
			api_fail(err, API_INTERNAL, NULL, "the foreign keys between the tables make a cycle");
			goto fail;
		}
		placed[pick] = true;
		memcpy(order->v[order->n++], tables->v[pick], NAME_SIZE);
	}
	free(edges);
	return 0;
fail:
	free(edges);
	return -1;
}

/* Does table hold a row? 1, 0, or -1 with err. */
static int has_rows(struct db *db, const char *table, struct api_err *err)
{
	char q[2 * NAME_SIZE + 8], sql[3 * NAME_SIZE + 32];
	struct db_stmt *st;
	int rc;

	if (quote(q, sizeof q, table, err))
		return -1;
	snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", q);
	if (!(st = db_stmt_new(db, sql, err)))
		return -1;
	rc = db_step(st);
	db_stmt_free(st);
	if (rc == DB_ROW)
		return 1;
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

/* The one integer of a single-row query with ?1, ?2 bound to a, b (either
 * may be NULL: not bound) into *v (0 for no row or NULL). */
static int query_int(struct db *db, const char *sql, bool cached, const char *a, const char *b, int64_t *v,
		     struct api_err *err)
{
	struct db_stmt *st = cached ? db_stmt(db, sql, err) : db_stmt_new(db, sql, err);
	int rc;

	*v = 0;
	if (!st)
		return -1;
	if (a)
		db_bind_text(st, 1, a);
	if (b)
		db_bind_text(st, 2, b);
	rc = db_step(st);
	if (rc == DB_ROW)
		*v = db_col_int64(st, 0);
	if (cached)
		db_reset(st);
	else
		db_stmt_free(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

/* The count(*) of table. */
static int count_rows(struct db *db, const char *table, int64_t *n, struct api_err *err)
{
	char q[2 * NAME_SIZE + 8], sql[3 * NAME_SIZE + 32];

	if (quote(q, sizeof q, table, err))
		return -1;
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", q);
	return query_int(db, sql, false, NULL, NULL, n, err);
}

/* The column of table that numbers its rows from a counter — a PostgreSQL
 * identity, or the INTEGER PRIMARY KEY of a SQLite AUTOINCREMENT table —
 * into col; "" when it has none. */
static int counter_column(struct db *db, const char *table, char col[NAME_SIZE], struct api_err *err)
{
	static const char lite[] = "SELECT p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p "
				   "WHERE m.type = 'table' AND m.name = ?1 AND p.pk = 1 "
				   "AND m.sql LIKE '%AUTOINCREMENT%'";
	static const char pg[] = "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
				 "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ?1 "
				 "AND a.attidentity <> '' AND a.attnum > 0 AND NOT a.attisdropped";
	struct db_stmt *st = db_stmt(db, db->pg ? pg : lite, err);
	int rc;

	col[0] = '\0';
	if (!st)
		return -1;
	db_bind_text(st, 1, table);
	rc = db_step(st);
	if (rc == DB_ROW && col_name_copy(st, 0, col, err)) {
		db_reset(st);
		return -1;
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

/* The last id table's counter handed out (0 when none). */
static int counter_value(struct db *db, const char *table, const char *col, int64_t *v, struct api_err *err)
{
	static const char lite_has[] = "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'";
	static const char lite[] = "SELECT seq FROM sqlite_sequence WHERE name = ?1";
	static const char pg[] = "SELECT pg_sequence_last_value(pg_get_serial_sequence(?1, ?2)::regclass)";
	int64_t exists;

	*v = 0;
	if (db->pg) {
		char q[2 * NAME_SIZE + 8];

		/* pg_get_serial_sequence takes a (possibly quoted) table name */
		if (quote(q, sizeof q, table, err))
			return -1;
		return query_int(db, pg, true, q, col, v, err);
	}
	if (query_int(db, lite_has, true, NULL, NULL, &exists, err))
		return -1;
	return exists ? query_int(db, lite, true, table, NULL, v, err) : 0;
}

/* Sets TO's counter of table (its column col) past FROM's counter and the
 * largest id copied. */
static int set_counter(struct copy *c, const char *table, const char *col, struct api_err *err)
{
	static const char pg_set[] = "SELECT setval(pg_get_serial_sequence(?1, ?2)::regclass, ?3)";
	static const char lite_del[] = "DELETE FROM sqlite_sequence WHERE name = ?1";
	static const char lite_set[] = "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)";
	char qt[2 * NAME_SIZE + 8], qc[2 * NAME_SIZE + 8], sql[4 * NAME_SIZE + 64], from_col[NAME_SIZE];
	int64_t copied, counted = 0, v;
	struct db_stmt *st;

	if (quote(qt, sizeof qt, table, err) || quote(qc, sizeof qc, col, err))
		return -1;
	snprintf(sql, sizeof sql, "SELECT max(%s) FROM %s", qc, qt);
	if (query_int(c->to, sql, false, NULL, NULL, &copied, err))
		return -1;
	/* FROM's counter, when FROM's table has one (its own column name). */
	if (counter_column(c->from, table, from_col, err))
		return -1;
	if (from_col[0] && counter_value(c->from, table, from_col, &counted, err))
		return -1;
	v = copied > counted ? copied : counted;
	if (v <= 0)
		return 0;
	if (c->to->pg) {
		if (!(st = db_stmt(c->to, pg_set, err)))
			return -1;
		db_bind_text(st, 1, qt);
		db_bind_text(st, 2, col);
		db_bind_int64(st, 3, v);
		return db_exec_stmt(c->to, st, err);
	}
	if (!(st = db_stmt(c->to, lite_del, err)))
		return -1;
	db_bind_text(st, 1, table);
	if (db_exec_stmt(c->to, st, err) || !(st = db_stmt(c->to, lite_set, err)))
		return -1;
	db_bind_text(st, 1, table);
	db_bind_int64(st, 2, v);
	return db_exec_stmt(c->to, st, err);
}

/* Switches TO's user triggers off for the copy (see the top). */
static int triggers_off(struct copy *c, struct api_err *err)
{
	static const char lite[] = "SELECT tbl_name, name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY name";
	static const char pg[] = "SELECT c.relname::text, t.tgname::text, NULL FROM pg_trigger t "
				 "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
				 "AND c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2";
	struct db_stmt *st = db_stmt(c->to, c->to->pg ? pg : lite, err);
	int rc;

	if (!st)
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		struct trigger *t = &c->triggers[c->n_triggers];
		const char *sql = db_col_str(st, 2);

		if (c->n_triggers == MAX_TRIGGERS) {
			db_reset(st);
			return api_fail(err, API_INTERNAL, NULL, "more than %d triggers", MAX_TRIGGERS);
		}
		if (col_name_copy(st, 0, t->table, err) || col_name_copy(st, 1, t->name, err)) {
			db_reset(st);
			return -1;
		}
		if (!c->to->pg && !(t->sql = strdup(sql ? sql : ""))) {
			db_reset(st);
			return oom(err);
		}
		c->n_triggers++;
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(c->to, rc, err);
	for (size_t i = 0; i < c->n_triggers; i++) {
		char qt[2 * NAME_SIZE + 8], qn[2 * NAME_SIZE + 8], sql[4 * NAME_SIZE + 64];

		if (quote(qt, sizeof qt, c->triggers[i].table, err) || quote(qn, sizeof qn, c->triggers[i].name, err))
			return -1;
		if (c->to->pg)
			snprintf(sql, sizeof sql, "ALTER TABLE %s DISABLE TRIGGER %s", qt, qn);
		else
			snprintf(sql, sizeof sql, "DROP TRIGGER %s", qn);
		if (db_exec_sql(c->to, sql, err))
			return -1;
	}
	return 0;
}

static int triggers_on(struct copy *c, struct api_err *err)
{
	for (size_t i = 0; i < c->n_triggers; i++) {
		char qt[2 * NAME_SIZE + 8], qn[2 * NAME_SIZE + 8], sql[4 * NAME_SIZE + 64];

		if (!c->to->pg) {
			if (db_exec_sql(c->to, c->triggers[i].sql, err))
				return -1;
			continue;
		}
		if (quote(qt, sizeof qt, c->triggers[i].table, err) || quote(qn, sizeof qn, c->triggers[i].name, err))
			return -1;
		snprintf(sql, sizeof sql, "ALTER TABLE %s ENABLE TRIGGER %s", qt, qn);
		if (db_exec_sql(c->to, sql, err))
			return -1;
	}
	return 0;
}

/* "INSERT INTO table (every column of src's result) VALUES (?1, ...)" on TO. */
static struct db_stmt *insert_for(struct copy *c, const char *table, struct db_stmt *src, struct api_err *err)
{
	int n = db_col_count(src);
	size_t cap = 64 + 2 * NAME_SIZE + (size_t)n * (2 * NAME_SIZE + 16), len;
	char *sql = malloc(cap), q[2 * NAME_SIZE + 8];
	struct db_stmt *st = NULL;

	if (!sql) {
		oom(err);
		return NULL;
	}
	if (quote(q, sizeof q, table, err))
		goto out;
	len = (size_t)snprintf(sql, cap, "INSERT INTO %s (", q);
	for (int i = 0; i < n; i++) {
		const char *name = db_col_name(src, i);

		if (!name || quote(q, sizeof q, name, err)) {
			if (!name)
				api_fail(err, API_INTERNAL, NULL, "column %d of %s has no name", i, table);
			goto out;
		}
		len += (size_t)snprintf(sql + len, cap - len, "%s%s", i ? ", " : "", q);
	}
	len += (size_t)snprintf(sql + len, cap - len, ") VALUES (");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%s?%d", i ? ", " : "", i + 1);
	snprintf(sql + len, cap - len, ")%s", is_bookkeeping(table) ? " ON CONFLICT DO NOTHING" : "");
	st = db_stmt_new(c->to, sql, err);
out:
	free(sql);
	return st;
}

/* Binds the current row of src to ins, value by value, as src stores it. */
static void bind_row(struct db_stmt *ins, struct db_stmt *src, int n)
{
	for (int i = 0; i < n; i++) {
		switch (db_col_kind(src, i)) {
		case DB_KIND_INT:
			db_bind_int64(ins, i + 1, db_col_int64(src, i));
			break;
		case DB_KIND_REAL:
			db_bind_double(ins, i + 1, db_col_double(src, i));
			break;
		case DB_KIND_TEXT:
			db_bind_text(ins, i + 1, db_col_str(src, i));
			break;
		case DB_KIND_BLOB: {
			const void *p = db_col_blob(src, i);

			/* SQLite gives no pointer for an empty blob: an empty blob is not NULL */
			db_bind_blob(ins, i + 1, p ? p : "", db_col_bytes(src, i));
			break;
		}
		default:
			db_bind_null(ins, i + 1);
			break;
		}
	}
}

/* The bytes of the current row's text and blob values. */
static uint64_t row_bytes(struct db_stmt *st, int n)
{
	uint64_t bytes = 0;

	for (int i = 0; i < n; i++)
		bytes += db_col_bytes(st, i);
	return bytes;
}

/* Copies every row of table, counting them into *rows. */
static int copy_table(struct copy *c, const char *table, uint64_t *rows, struct api_err *err)
{
	char q[2 * NAME_SIZE + 8], sql[3 * NAME_SIZE + 96];
	bool cursor = c->from->pg != NULL;
	struct db_stmt *src = NULL, *one = NULL, *many = NULL, *ins = NULL;
	uint64_t batch = 0, batch_bytes = 0;
	int rc, n = 0, result = -1;

	*rows = 0;
	if (quote(q, sizeof q, table, err))
		return -1;
	if (cursor) {
		snprintf(sql, sizeof sql, "DECLARE fitd_copy NO SCROLL CURSOR FOR SELECT * FROM %s", q);
		if (db_exec_sql(c->from, sql, err) || !(one = db_stmt_new(c->from, "FETCH 1 FROM fitd_copy", err)) ||
		    !(many = db_stmt_new(c->from, "FETCH " FETCH_MANY " FROM fitd_copy", err)))
			goto out;
		src = one;
	} else {
		snprintf(sql, sizeof sql, "SELECT * FROM %s", q);
		if (!(src = db_stmt_new(c->from, sql, err)))
			goto out;
	}
	for (;;) {
		rc = db_step(src);
		if (rc == DB_ROW) {
			if (!ins) {
				n = db_col_count(src);
				if (!(ins = insert_for(c, table, src, err)))
					goto out;
			}
			bind_row(ins, src, n);
			if (db_exec_stmt(c->to, ins, err))
				goto out;
			(*rows)++;
			batch++;
			if (cursor) /* (SQLite would convert numbers to text to count their bytes) */
				batch_bytes += row_bytes(src, n);
			continue;
		}
		if (rc != DB_DONE) {
			db_fail(c->from, rc, err);
			goto out;
		}
		if (!cursor || batch == 0)
			break;
		db_reset(src); /* its rows are copied: free them before the next FETCH */
		src = batch_bytes / batch < SMALL_ROW_BYTES ? many : one;
		batch = 0;
		batch_bytes = 0;
	}
	result = 0;
out:
	db_stmt_free(ins);
	if (cursor) {
		db_stmt_free(one);
		db_stmt_free(many);
	} else {
		db_stmt_free(src);
	}
	if (cursor && result == 0 && db_exec_sql(c->from, "CLOSE fitd_copy", err))
		result = -1;
	return result;
}

/* Everything between the two transactions' starts and their ends. */
static int copy_all(struct copy *c, char *msg, size_t size)
{
	struct api_err err = {0};
	struct names to_tables, from_tables;
	const char *table = NULL;

	if (list_tables(c->to, &to_tables, &err) || fk_order(c->to, &to_tables, &c->order, &err))
		goto fail_to;
	if (list_tables(c->from, &from_tables, &err))
		goto fail_from;
	/* FROM's rows must all have a place in TO. */
	for (size_t i = 0; i < from_tables.n; i++) {
		int rows;

		if (has(&to_tables, from_tables.v[i]))
			continue;
		rows = has_rows(c->from, from_tables.v[i], &err);
		if (rows < 0)
			goto fail_from;
		if (rows) {
			snprintf(msg, size,
				 "FROM's table %s has rows but TO's schema has no such table: are FROM's and TO's "
				 "migrations of the same fitd?",
				 from_tables.v[i]);
			return -1;
		}
	}
	/* TO must be new. */
	for (size_t i = 0; i < c->order.n; i++) {
		int rows = is_bookkeeping(c->order.v[i]) ? 0 : has_rows(c->to, c->order.v[i], &err);

		if (rows < 0)
			goto fail_to;
		if (rows) {
			snprintf(msg, size,
				 "TO is not empty (its table %s has rows): migrate-db copies into a new, empty "
				 "database only; nothing was written",
				 c->order.v[i]);
			return -1;
		}
	}
	if (triggers_off(c, &err))
		goto fail_to;
	for (size_t i = 0; i < c->order.n; i++) {
		char col[NAME_SIZE];

		int64_t before = 0, after = 0;

		table = c->order.v[i];
		memcpy(c->report[i].table, table, NAME_SIZE);
		c->report[i].rows = 0;
		if (is_bookkeeping(table) && count_rows(c->to, table, &before, &err))
			goto fail_table;
		if (has(&from_tables, table) && copy_table(c, table, &c->report[i].rows, &err))
			goto fail_table;
		/* the rows added, those TO had already left out */
		if (is_bookkeeping(table)) {
			if (count_rows(c->to, table, &after, &err))
				goto fail_table;
			c->report[i].rows = (uint64_t)(after - before);
		}
		if (counter_column(c->to, table, col, &err) || (col[0] && set_counter(c, table, col, &err)))
			goto fail_table;
	}
	if (triggers_on(c, &err))
		goto fail_to;
	return 0;
fail_table:
	snprintf(msg, size, "copying table %s: %s", table, err.message);
	return -1;
fail_to:
	snprintf(msg, size, "TO: %s", err.message);
	return -1;
fail_from:
	snprintf(msg, size, "FROM: %s", err.message);
	return -1;
}

int db_copy(struct db *from, struct db *to, struct db_copied **tables, size_t *n, char *msg, size_t size)
{
	struct copy *c = calloc(1, sizeof *c);
	struct api_err err = {0};
	int rc = -1;

	*tables = NULL;
	*n = 0;
	if (!c || !(c->report = calloc(MAX_TABLES, sizeof *c->report))) {
		free(c);
		snprintf(msg, size, "out of memory");
		return -1;
	}
	c->from = from;
	c->to = to;
	/* One snapshot of FROM, read only. */
	if (db_exec_sql(from, from->pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN", &err)) {
		snprintf(msg, size, "FROM: %s", err.message);
		goto out;
	}
	if (db_begin(to, &err)) {
		snprintf(msg, size, "TO: %s", err.message);
		db_rollback(from);
		goto out;
	}
	if (copy_all(c, msg, size)) {
		db_rollback(to);
		db_rollback(from);
		goto out;
	}
	if (db_commit(to, &err)) {
		snprintf(msg, size, "TO: the copy's commit failed: %s", err.message);
		db_rollback(from);
		goto out;
	}
	db_rollback(from); /* it only read */
	*tables = c->report;
	*n = c->order.n;
	c->report = NULL;
	rc = 0;
out:
	for (size_t i = 0; i < c->n_triggers; i++)
		free(c->triggers[i].sql);
	free(c->report);
	free(c);
	return rc;
}
