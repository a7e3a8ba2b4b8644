/*
 * db_model.c — models: the canonical definition JSON, the status, and the
 * state blob (weights and optimizer state) that training jobs advance.
 */
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"

#define MODEL_COLS "id, definition, n_params, status, created_at, updated_at"

static int read_info(sqlite3_stmt *st, void *item, struct api_err *err)
{
	struct api_model_info *m = item;
	const char *def = (const char *)sqlite3_column_text(st, 1);
	const char *status = (const char *)sqlite3_column_text(st, 3);

	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	if (!def || api_model_decode(def, (size_t)sqlite3_column_bytes(st, 1), &m->def, err))
		return api_fail(err, API_INTERNAL, NULL, "model %lld has a damaged definition", (long long)m->id);
	m->n_params = (uint64_t)sqlite3_column_int64(st, 2);
	if (!status || !api_model_status_parse(status, &m->status))
		m->status = API_MODEL_UNTRAINED;
	db_col_text(st, 4, m->created_at, sizeof m->created_at);
	db_col_text(st, 5, m->updated_at, sizeof m->updated_at);
	return 0;
}

/* Is a job queued or running for the model? 1 yes (409 in err), 0 no, -1 error. */
static int model_busy(struct db *db, int64_t id, const char *doing, struct api_err *err)
{
	static const char sql[] = "SELECT id FROM jobs WHERE model_id = ?1 AND status IN ('queued', 'running') LIMIT 1";
	int64_t job = 0;
	int rc = db_find_id(db, sql, id, &job, err);

	if (rc == 1)
		api_fail(err, API_CONFLICT, NULL, "cannot %s model %lld while job %lld trains it", doing, (long long)id,
			 (long long)job);
	return rc;
}

struct create {
	struct api_model_info *info;
	const char *def;
	const uint8_t *state;
	size_t state_len;
	const struct db_idem *idem;
};

static int create_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char sql[] =
		"INSERT INTO models (name, definition, n_params, status, state, created_at, updated_at) "
		"VALUES (?1, ?2, ?3, 'untrained', ?4, " DB_NOW ", " DB_NOW ") RETURNING created_at, updated_at";
	struct create *c = ctx;
	struct api_model_info *info = c->info;
	sqlite3_stmt *st;
	int64_t other;
	int rc = db_idem_lookup(db, c->idem, &other, err);

	if (rc != 0) {
		info->id = other;
		return rc;
	}
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, info->def.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->def, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)info->n_params);
	sqlite3_bind_blob64(st, 4, c->state, c->state_len, SQLITE_STATIC);
	rc = db_step(st);
	if (rc != SQLITE_ROW) {
		db_fail(db, rc, err);
		sqlite3_reset(st);
		return -1;
	}
	db_col_text(st, 0, info->created_at, sizeof info->created_at);
	db_col_text(st, 1, info->updated_at, sizeof info->updated_at);
	sqlite3_reset(st);
	info->id = sqlite3_last_insert_rowid(db->h);
	info->status = API_MODEL_UNTRAINED;
	return db_idem_record(db, c->idem, info->id, err);
}

int db_model_create(struct db *db, struct api_model_info *info, const uint8_t *state, size_t state_len,
		    const struct db_idem *idem, struct api_err *err)
{
	struct create c = {info, api_model_def_encode(&info->def), state, state_len, idem};
	int rc;

	if (!c.def)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	rc = db_transaction(db, create_tx, &c, err);
	free((char *)c.def);
	return rc;
}

int db_model_get(struct db *db, int64_t id, struct api_model_info *info, struct api_err *err)
{
	static const char sql[] = "SELECT " MODEL_COLS " FROM models WHERE id = ?1";

	return db_get_by_id(db, sql, id, "model", read_info, info, err);
}

struct model_state {
	struct api_model_info *info;
	uint8_t *state;
	size_t len;
};

/* The model's columns, then its state blob (column 6) copied. */
static int read_with_state(sqlite3_stmt *st, void *item, struct api_err *err)
{
	struct model_state *ms = item;

	if (read_info(st, ms->info, err))
		return -1;
	ms->len = (size_t)sqlite3_column_bytes(st, 6);
	ms->state = malloc(ms->len ? ms->len : 1);
	if (!ms->state)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (ms->len)
		memcpy(ms->state, sqlite3_column_blob(st, 6), ms->len);
	return 0;
}

int db_model_get_state(struct db *db, int64_t id, struct api_model_info *info, uint8_t **state, size_t *len,
		       struct api_err *err)
{
	static const char sql[] = "SELECT " MODEL_COLS ", state FROM models WHERE id = ?1";
	struct model_state ms = {info, NULL, 0};
	int rc = db_get_by_id(db, sql, id, "model", read_with_state, &ms, err);

	*state = rc ? NULL : ms.state;
	*len = rc ? 0 : ms.len;
	if (rc)
		free(ms.state);
	return rc;
}

int db_model_list(struct db *db, uint32_t limit, uint64_t offset, struct api_model_info **items, size_t *n,
		  uint64_t *total, struct api_err *err)
{
	static const char count[] = "SELECT count(*) FROM models";
	static const char sql[] = "SELECT " MODEL_COLS " FROM models ORDER BY id LIMIT ?1 OFFSET ?2";
	void *page;
	int rc = db_page(db, count, sql, limit, offset, sizeof **items, read_info, &page, n, total, err);

	*items = page;
	return rc;
}

static const char model_exists[] = "SELECT 1 FROM models WHERE id = ?1";

/* One statement on model id (?1, and the state as ?2 when given), inside a
 * transaction that first checks the model exists and trains no job. */
struct change {
	const char *sql;
	const char *doing;
	int64_t id;
	const uint8_t *state;
	size_t len;
};

static int change_tx(struct db *db, void *ctx, struct api_err *err)
{
	struct change *c = ctx;
	sqlite3_stmt *st;

	if (db_exists(db, model_exists, c->id, NULL, "model", err) || model_busy(db, c->id, c->doing, err))
		return -1;
	st = db_stmt(db, c->sql, err);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, c->id);
	if (c->state)
		sqlite3_bind_blob64(st, 2, c->state, c->len, SQLITE_STATIC);
	return db_exec_stmt(db, st, err);
}

int db_model_delete(struct db *db, int64_t id, struct api_err *err)
{
	static const char sql[] = "DELETE FROM models WHERE id = ?1";
	struct change c = {sql, "delete", id, NULL, 0};

	return db_transaction(db, change_tx, &c, err);
}

int db_model_put_state(struct db *db, int64_t id, const uint8_t *state, size_t len, struct api_err *err)
{
	static const char sql[] = "UPDATE models SET state = ?2, updated_at = " DB_NOW " WHERE id = ?1";
	struct change c = {sql, "change the weights of", id, state, len};

	return db_transaction(db, change_tx, &c, err);
}

/* One of the model's JSON text columns (sql selects it), copied; NULL when absent. */
static int model_text(struct db *db, const char *sql, int64_t id, char **out, struct api_err *err)
{
	sqlite3_stmt *st = db_stmt(db, sql, err);
	const unsigned char *text;
	int rc;

	*out = NULL;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == SQLITE_ROW && (text = sqlite3_column_text(st, 0)) && !(*out = strdup((const char *)text))) {
		sqlite3_reset(st);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return api_fail(err, API_NOT_FOUND, NULL, "no model %lld", (long long)id);
	return rc == SQLITE_ROW ? 0 : db_fail(db, rc, err);
}

static int set_model_text(struct db *db, const char *sql, int64_t id, const char *text, struct api_err *err)
{
	sqlite3_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	return db_write_stmt(db, st, err);
}

int db_model_class_names(struct db *db, int64_t id, char **class_names, struct api_err *err)
{
	return model_text(db, "SELECT class_names FROM models WHERE id = ?1", id, class_names, err);
}

int db_model_set_class_names(struct db *db, int64_t id, const char *class_names, struct api_err *err)
{
	return set_model_text(db, "UPDATE models SET class_names = ?2 WHERE id = ?1 AND class_names IS NULL", id,
			      class_names, err);
}

int db_model_feature_names(struct db *db, int64_t id, char **names, struct api_err *err)
{
	return model_text(db, "SELECT feature_names FROM models WHERE id = ?1", id, names, err);
}

int db_model_set_feature_names(struct db *db, int64_t id, const char *names, struct api_err *err)
{
	return set_model_text(db, "UPDATE models SET feature_names = ?2 WHERE id = ?1 AND feature_names IS NULL", id,
			      names, err);
}

int db_model_preprocessing(struct db *db, int64_t id, char **prep, struct api_err *err)
{
	return model_text(db, "SELECT preprocessing FROM models WHERE id = ?1", id, prep, err);
}

int db_model_set_preprocessing(struct db *db, int64_t id, const char *prep, struct api_err *err)
{
	return set_model_text(db, "UPDATE models SET preprocessing = ?2 WHERE id = ?1 AND preprocessing IS NULL", id,
			      prep, err);
}
