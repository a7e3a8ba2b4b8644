/*
 * db_pg.c — the store's statements on PostgreSQL through libpq (see db_pg.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>

#include <libpq-fe.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

/* Type OIDs of pg_type.h (libpq does not export them). */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_NUMERIC = 1700,
};

/* The store numbers at most this many parameters in one statement
 * (migrate-db's INSERTs name every column of a table: jobs has 33). */
#define MAX_PARAMS 64

struct db_pg {
	PGconn *c;
	unsigned generation;  /* bumped by every reset: statements prepare again */
	unsigned n_prepared;  /* names statements s1, s2, ... */
	bool in_tx;           /* between a BEGIN and its COMMIT or ROLLBACK */
	char sqlstate[6];     /* of the last error, "" when the connection failed */
	char msg[512];
};

struct db_pg_stmt {
	struct db_pg *pg;
	char name[16];
	char *text;           /* the rewritten SQL */
	int n_params;
	unsigned generation;  /* the connection's when prepared */
	const char *values[MAX_PARAMS];
	int lengths[MAX_PARAMS];
	int formats[MAX_PARAMS];
	char *owned[MAX_PARAMS]; /* text copies of values, freed on rebind */
	bool oom;             /* a copy failed: the next step fails instead of running with a NULL */
	PGresult *res;        /* the run's rows, NULL before the first step */
	int row;
	char scratch[4][32];  /* numbers read as text */
};

static void ignore_notice(void *arg, const char *message)
{
	(void)arg, (void)message;
}

static void keep_error(struct db_pg *pg, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *text = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", state ? state : "");
	snprintf(pg->msg, sizeof pg->msg, "%s", text ? text : PQerrorMessage(pg->c));
	/* libpq's own messages end with a newline */
	pg->msg[strcspn(pg->msg, "\n")] = '\0';
}

struct db_pg *db_pg_open(const char *uri, char *msg, size_t size)
{
	struct db_pg *pg = calloc(1, sizeof *pg);

	if (!pg) {
		snprintf(msg, size, "out of memory");
		return NULL;
	}
	pg->c = PQconnectdb(uri);
	if (!pg->c || PQstatus(pg->c) != CONNECTION_OK) {
		snprintf(msg, size, "cannot connect to PostgreSQL: %s", pg->c ? PQerrorMessage(pg->c) : "out of memory");
		msg[strcspn(msg, "\n")] = '\0';
		db_pg_close(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg->c, ignore_notice, NULL);
	if (db_pg_exec(pg, "SET TIME ZONE 'UTC'")) {
		snprintf(msg, size, "cannot configure the PostgreSQL session: %s", pg->msg);
		db_pg_close(pg);
		return NULL;
	}
	return pg;
}

void db_pg_close(struct db_pg *pg)
{
	if (!pg)
		return;
	PQfinish(pg->c);
	free(pg);
}

/* A connection that was lost is reset before it is used again; what was
 * prepared on it is prepared again. Returns false when it is still down. */
static bool reconnect(struct db_pg *pg)
{
	/* An idle connection has nothing to read, unless its server went away
	 * meanwhile (a restart sends a FATAL message, a crash closes the
	 * socket): reading it then marks it bad, and it is reset here instead
	 * of failing the next statement. */
	if (!pg->in_tx && PQstatus(pg->c) == CONNECTION_OK) {
		struct pollfd p = {.fd = PQsocket(pg->c), .events = POLLIN};

		/* the message, then the end of the stream: a read each */
		for (int k = 0; k < 4 && PQstatus(pg->c) == CONNECTION_OK && poll(&p, 1, 0) > 0; k++)
			if (!PQconsumeInput(pg->c))
				break;
	}
	if (PQstatus(pg->c) == CONNECTION_OK)
		return true;
	/* A transaction's statements must not go on in a new session's
	 * autocommit: they fail until the caller rolls back. */
	if (pg->in_tx) {
		snprintf(pg->sqlstate, sizeof pg->sqlstate, "08006"); /* connection_failure */
		snprintf(pg->msg, sizeof pg->msg, "the connection was lost during a transaction");
		return false;
	}
	PQreset(pg->c);
	if (PQstatus(pg->c) != CONNECTION_OK) {
		keep_error(pg, NULL);
		return false;
	}
	pg->generation++;
	PQsetNoticeProcessor(pg->c, ignore_notice, NULL);
	return db_pg_exec(pg, "SET TIME ZONE 'UTC'") == 0;
}

/* ---- the SQL ------------------------------------------------------------------------------ */

static void put(char **out, const char *s, size_t n)
{
	memcpy(*out, s, n);
	*out += n;
}

char *db_pg_rewrite(const char *sql, int *n_params)
{
	static const char now_lite[] = DB_NOW;
	static const char now_pg[] = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
	/* Each DB_NOW may grow to now_pg; nothing else grows. */
	size_t len = strlen(sql), cap = len + (len / (sizeof now_lite - 1) + 1) * sizeof now_pg + 1;
	char *text = malloc(cap), *out = text;
	bool quoted = false;

	*n_params = 0;
	if (!text)
		return NULL;
	for (const char *p = sql; *p;) {
		if (*p == '\'') {
			quoted = !quoted;
			put(&out, p++, 1);
		} else if (quoted) {
			put(&out, p++, 1);
		} else if (strncmp(p, now_lite, sizeof now_lite - 1) == 0) {
			put(&out, now_pg, sizeof now_pg - 1);
			p += sizeof now_lite - 1;
		} else if (strncmp(p, "instr(", 6) == 0 && (p == sql || !(p[-1] == '_' || isalnum((unsigned char)p[-1])))) {
			put(&out, "strpos(", 7);
			p += 6;
		} else if (*p == '?' && p[1] >= '1' && p[1] <= '9') {
			int n = 0;

			*out++ = '$';
			for (p++; *p >= '0' && *p <= '9'; p++) {
				n = n * 10 + (*p - '0');
				*out++ = *p;
			}
			if (n > *n_params)
				*n_params = n;
		} else {
			put(&out, p++, 1);
		}
	}
	*out = '\0';
	return text;
}

/* Prepares st on the current connection. */
static bool prepare(struct db_pg_stmt *st)
{
	struct db_pg *pg = st->pg;
	PGresult *res;
	bool ok;

	snprintf(st->name, sizeof st->name, "s%u", ++pg->n_prepared);
	res = PQprepare(pg->c, st->name, st->text, st->n_params, NULL);
	ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		keep_error(pg, res);
	PQclear(res);
	st->generation = pg->generation;
	return ok;
}

struct db_pg_stmt *db_pg_prepare(struct db_pg *pg, const char *sql)
{
	struct db_pg_stmt *st = calloc(1, sizeof *st);

	if (!st || !(st->text = db_pg_rewrite(sql, &st->n_params))) {
		free(st);
		snprintf(pg->sqlstate, sizeof pg->sqlstate, "53200"); /* out_of_memory */
		snprintf(pg->msg, sizeof pg->msg, "out of memory");
		return NULL;
	}
	st->pg = pg;
	if (st->n_params > MAX_PARAMS) {
		snprintf(pg->sqlstate, sizeof pg->sqlstate, "54023"); /* too_many_arguments */
		snprintf(pg->msg, sizeof pg->msg, "a statement has %d parameters, more than %d", st->n_params,
			 MAX_PARAMS);
		db_pg_stmt_free(st);
		return NULL;
	}
	if (!reconnect(pg) || !prepare(st)) {
		db_pg_stmt_free(st);
		return NULL;
	}
	return st;
}

void db_pg_stmt_free(struct db_pg_stmt *st)
{
	if (!st)
		return;
	db_pg_reset(st);
	db_pg_clear(st);
	free(st->text);
	free(st);
}

/* ---- running ------------------------------------------------------------------------------- */

void db_pg_reset(struct db_pg_stmt *st)
{
	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
}

void db_pg_clear(struct db_pg_stmt *st)
{
	for (int i = 0; i < MAX_PARAMS; i++) {
		free(st->owned[i]);
		st->owned[i] = NULL;
		st->values[i] = NULL;
		st->lengths[i] = 0;
		st->formats[i] = 0;
	}
	st->oom = false;
}

int db_pg_step(struct db_pg_stmt *st)
{
	struct db_pg *pg = st->pg;

	if (!st->res) {
		ExecStatusType status;

		if (st->oom) {
			snprintf(pg->sqlstate, sizeof pg->sqlstate, "53200"); /* out_of_memory */
			snprintf(pg->msg, sizeof pg->msg, "out of memory");
			return DB_PG_ERROR;
		}
		if (!reconnect(pg) || (st->generation != pg->generation && !prepare(st)))
			return DB_PG_ERROR;
		st->res = PQexecPrepared(pg->c, st->name, st->n_params, st->values, st->lengths, st->formats, 1);
		status = st->res ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
		if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
			keep_error(pg, st->res);
			db_pg_reset(st);
			return DB_PG_ERROR;
		}
		st->row = -1;
	}
	st->row++;
	return st->row < PQntuples(st->res) ? DB_ROW : DB_DONE;
}

static void bind(struct db_pg_stmt *st, int i, char *owned, const char *value, int length, int format)
{
	if (i < 1 || i > st->n_params) {
		free(owned);
		return;
	}
	i--;
	free(st->owned[i]);
	st->owned[i] = owned;
	st->values[i] = value;
	st->lengths[i] = length;
	st->formats[i] = format;
}

static void bind_text_copy(struct db_pg_stmt *st, int i, const char *text)
{
	char *copy = strdup(text);

	if (!copy)
		st->oom = true;
	bind(st, i, copy, copy, 0, 0);
}

void db_pg_bind_int64(struct db_pg_stmt *st, int i, int64_t v)
{
	char text[24];

	snprintf(text, sizeof text, "%lld", (long long)v);
	bind_text_copy(st, i, text);
}

void db_pg_bind_double(struct db_pg_stmt *st, int i, double v)
{
	char text[32];

	snprintf(text, sizeof text, "%.17g", v);
	bind_text_copy(st, i, text);
}

void db_pg_bind_text(struct db_pg_stmt *st, int i, const char *s)
{
	bind_text_copy(st, i, s);
}

void db_pg_bind_blob(struct db_pg_stmt *st, int i, const void *p, size_t n)
{
	/* libpq takes an int length: the store's blobs (4 MiB chunks, model
	 * states) are far below 2 GiB, which the API's limits guarantee. */
	bind(st, i, NULL, n ? p : "", (int)n, 1);
}

void db_pg_bind_null(struct db_pg_stmt *st, int i)
{
	bind(st, i, NULL, NULL, 0, 0);
}

/* ---- reading ----------------------------------------------------------------------------- */

static uint64_t be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	for (int k = 0; k < bytes; k++)
		v = v << 8 | p[k];
	return v;
}

/* A binary numeric: digits in base 10,000, the first at 10,000^weight. */
double db_pg_numeric(const unsigned char *p, int len)
{
	int ndigits, weight, sign;
	double v = 0;

	if (len < 8)
		return NAN;
	ndigits = (int)be(p, 2);
	weight = (int16_t)be(p + 2, 2);
	sign = (int)be(p + 4, 2);
	if (sign == 0xC000 || len < 8 + 2 * ndigits)
		return NAN;
	for (int k = 0; k < ndigits; k++)
		v += (double)be(p + 8 + 2 * k, 2) * pow(10000.0, weight - k);
	return sign == 0x4000 ? -v : v;
}

static bool has_row(const struct db_pg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < PQntuples(st->res) && i >= 0 && i < PQnfields(st->res);
}

bool db_pg_col_null(struct db_pg_stmt *st, int i)
{
	return !has_row(st, i) || PQgetisnull(st->res, st->row, i);
}

double db_pg_col_double(struct db_pg_stmt *st, int i)
{
	const unsigned char *p;
	int len;

	if (db_pg_col_null(st, i))
		return 0;
	p = (const unsigned char *)PQgetvalue(st->res, st->row, i);
	len = PQgetlength(st->res, st->row, i);
	switch (PQftype(st->res, i)) {
	case OID_FLOAT8: {
		uint64_t bits = be(p, 8);
		double d;

		memcpy(&d, &bits, sizeof d);
		return d;
	}
	case OID_FLOAT4: {
		uint32_t bits = (uint32_t)be(p, 4);
		float f;

		memcpy(&f, &bits, sizeof f);
		return f;
	}
	case OID_NUMERIC:
		return db_pg_numeric(p, len);
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
	case OID_BOOL:
		return (double)db_pg_col_int64(st, i);
	default:
		return strtod((const char *)p, NULL);
	}
}

int64_t db_pg_col_int64(struct db_pg_stmt *st, int i)
{
	const unsigned char *p;

	if (db_pg_col_null(st, i))
		return 0;
	p = (const unsigned char *)PQgetvalue(st->res, st->row, i);
	switch (PQftype(st->res, i)) {
	case OID_INT8:
		return (int64_t)be(p, 8);
	case OID_INT4:
		return (int32_t)be(p, 4);
	case OID_INT2:
		return (int16_t)be(p, 2);
	case OID_BOOL:
		return p[0] != 0;
	case OID_FLOAT8:
	case OID_FLOAT4:
	case OID_NUMERIC:
		return (int64_t)db_pg_col_double(st, i);
	default:
		return strtoll((const char *)p, NULL, 10);
	}
}

const char *db_pg_col_str(struct db_pg_stmt *st, int i)
{
	char *scratch;

	if (db_pg_col_null(st, i))
		return NULL;
	switch (PQftype(st->res, i)) {
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
	case OID_BOOL:
		scratch = st->scratch[i & 3];
		snprintf(scratch, sizeof st->scratch[0], "%lld", (long long)db_pg_col_int64(st, i));
		return scratch;
	case OID_FLOAT8:
	case OID_FLOAT4:
	case OID_NUMERIC:
		scratch = st->scratch[i & 3];
		snprintf(scratch, sizeof st->scratch[0], "%.17g", db_pg_col_double(st, i));
		return scratch;
	default: /* text and bytea: libpq ends every value with a NUL */
		return PQgetvalue(st->res, st->row, i);
	}
}

const void *db_pg_col_blob(struct db_pg_stmt *st, int i)
{
	return db_pg_col_null(st, i) ? NULL : PQgetvalue(st->res, st->row, i);
}

size_t db_pg_col_bytes(struct db_pg_stmt *st, int i)
{
	return db_pg_col_null(st, i) ? 0 : (size_t)PQgetlength(st->res, st->row, i);
}

int db_pg_col_count(struct db_pg_stmt *st)
{
	return st->res ? PQnfields(st->res) : 0;
}

const char *db_pg_col_name(struct db_pg_stmt *st, int i)
{
	return st->res && i >= 0 && i < PQnfields(st->res) ? PQfname(st->res, i) : NULL;
}

int db_pg_col_kind(struct db_pg_stmt *st, int i)
{
	if (db_pg_col_null(st, i))
		return DB_KIND_NULL;
	switch (PQftype(st->res, i)) {
	case OID_INT8:
	case OID_INT4:
	case OID_INT2:
	case OID_BOOL:
		return DB_KIND_INT;
	case OID_FLOAT8:
	case OID_FLOAT4:
	case OID_NUMERIC:
		return DB_KIND_REAL;
	case OID_BYTEA:
		return DB_KIND_BLOB;
	default:
		return DB_KIND_TEXT;
	}
}

/* ---- plain SQL, transactions, errors --------------------------------------------------------- */

int db_pg_exec(struct db_pg *pg, const char *sql)
{
	PGresult *res;
	ExecStatusType status;

	if (!reconnect(pg))
		return -1;
	res = PQexec(pg->c, sql);
	status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		keep_error(pg, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (strncmp(sql, "BEGIN", 5) == 0)
		pg->in_tx = true;
	else if (strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0)
		pg->in_tx = false;
	return 0;
}

void db_pg_rollback(struct db_pg *pg)
{
	PGTransactionStatusType t = PQtransactionStatus(pg->c);

	if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
		PQclear(PQexec(pg->c, "ROLLBACK"));
	/* on a lost connection the server rolled back: the next statement may reconnect */
	pg->in_tx = false;
}

const char *db_pg_errmsg(struct db_pg *pg)
{
	return pg->msg;
}

int db_pg_fail(struct db_pg *pg, struct api_err *err)
{
	const char *s = pg->sqlstate;

	if (PQstatus(pg->c) != CONNECTION_OK || s[0] == '\0' || strncmp(s, "08", 2) == 0 ||
	    strncmp(s, "57P", 3) == 0)
		return api_fail(err, API_UNAVAILABLE, NULL, "the database cannot be reached: %s", pg->msg);
	if (strcmp(s, "53200") == 0)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (strncmp(s, "53", 2) == 0 || strcmp(s, "25006") == 0)
		return api_fail(err, API_UNAVAILABLE, NULL, "the database cannot be written: %s", pg->msg);
	if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
		return api_fail(err, API_UNAVAILABLE, NULL, "the database is busy; retry shortly");
	return api_fail(err, API_INTERNAL, NULL, "database error: %s", pg->msg);
}

/* ---- migrations ---------------------------------------------------------------------------------- */

int db_pg_schema_version(struct db_pg *pg)
{
	PGresult *res;
	int v = -1;

	if (db_pg_exec(pg, "CREATE TABLE IF NOT EXISTS fitd_schema_version (version BIGINT NOT NULL)"))
		return -1;
	res = PQexec(pg->c, "SELECT coalesce(max(version), 0) FROM fitd_schema_version");
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else
		keep_error(pg, res);
	PQclear(res);
	return v;
}

int db_pg_migrate_one(struct db_pg *pg, int v, const char *sql)
{
	char record[96];

	snprintf(record, sizeof record, "INSERT INTO fitd_schema_version (version) VALUES (%d)", v);
	if (db_pg_exec(pg, "BEGIN") || db_pg_exec(pg, sql) || db_pg_exec(pg, record) || db_pg_exec(pg, "COMMIT")) {
		db_pg_rollback(pg);
		return -1;
	}
	return 0;
}

/* ---- notifications ------------------------------------------------------------------------------- */

int db_pg_wait_notify(struct db_pg **pg, const char *uri, unsigned ms)
{
	struct pollfd p;
	PGnotify *n;
	int got = 0;

	if (*pg && PQstatus((*pg)->c) != CONNECTION_OK) {
		db_pg_close(*pg);
		*pg = NULL;
	}
	if (!*pg) {
		char msg[512];

		*pg = db_pg_open(uri, msg, sizeof msg);
		if (!*pg || db_pg_exec(*pg, "LISTEN " DB_PG_CHANNEL)) {
			db_pg_close(*pg);
			*pg = NULL;
			poll(NULL, 0, (int)ms);
			return -1;
		}
	}
	p = (struct pollfd){.fd = PQsocket((*pg)->c), .events = POLLIN};
	if (poll(&p, 1, (int)ms) > 0 && !PQconsumeInput((*pg)->c))
		return -1; /* the next call reconnects */
	while ((n = PQnotifies((*pg)->c)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}
