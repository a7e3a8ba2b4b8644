/*
 * db_model.c — models: the canonical definition JSON, the status, the state
 * blob (weights and optimizer state) that training jobs advance, and the
 * name that addresses a model (unique among named models, migration 0005).
 */
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"

/* The name is the column's (a rename changes it), not the definition's. */
#define MODEL_COLS "id, definition, n_params, status, created_at, updated_at, name, named, version"
#define STATE_COL 9

static int read_info(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_model_info *m = item;
	const char *def = db_col_str(st, 1);
	const char *status = db_col_str(st, 3);

	memset(m, 0, sizeof *m);
	m->id = db_col_int64(st, 0);
	if (!def || api_model_decode(def, (size_t)db_col_bytes(st, 1), &m->def, err))
		return api_fail(err, API_INTERNAL, NULL, "model %lld has a damaged definition", (long long)m->id);
	m->n_params = (uint64_t)db_col_int64(st, 2);
	if (!status || !api_model_status_parse(status, &m->status))
		m->status = API_MODEL_UNTRAINED;
	db_col_text(st, 4, m->created_at, sizeof m->created_at);
	db_col_text(st, 5, m->updated_at, sizeof m->updated_at);
	db_col_text(st, 6, m->def.name, sizeof m->def.name);
	m->named = db_col_int(st, 7) != 0;
	m->version = (uint32_t)db_col_int64(st, 8);
	return 0;
}

/* Is name taken by another named model than id? 1 yes (409 in err), 0 no, -1 error. */
static int name_taken(struct db *db, const char *name, int64_t id, struct api_err *err)
{
	static const char sql[] = "SELECT id FROM models WHERE named = 1 AND name = ?1 AND id <> ?2";
	struct db_stmt *st;
	int64_t other;
	int rc;

	if (!name[0])
		return 0;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, name);
	db_bind_int64(st, 2, id);
	rc = db_step(st);
	other = rc == DB_ROW ? db_col_int64(st, 0) : 0;
	db_reset(st);
	if (rc == DB_ROW)
		return api_fail(err, API_CONFLICT, "name", "a model named %s exists already (id %lld); names are unique",
				name, (long long)other),
		       1;
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
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
		"INSERT INTO models (name, named, definition, n_params, status, state, created_at, updated_at) "
		"VALUES (?1, CASE WHEN ?1 <> '' THEN 1 ELSE 0 END, ?2, ?3, 'untrained', ?4, " DB_NOW ", " DB_NOW ") RETURNING id, created_at, updated_at";
	struct create *c = ctx;
	struct api_model_info *info = c->info;
	struct db_stmt *st;
	int64_t other;
	int rc = db_idem_lookup(db, c->idem, &other, err);

	if (rc != 0) {
		info->id = other;
		return rc;
	}
	if (name_taken(db, info->def.name, 0, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, info->def.name);
	db_bind_text(st, 2, c->def);
	db_bind_int64(st, 3, (int64_t)info->n_params);
	db_bind_blob(st, 4, c->state, c->state_len);
	rc = db_step(st);
	if (rc != DB_ROW) {
		db_fail(db, rc, err);
		db_reset(st);
		return -1;
	}
	info->id = db_col_int64(st, 0);
	db_col_text(st, 1, info->created_at, sizeof info->created_at);
	db_col_text(st, 2, info->updated_at, sizeof info->updated_at);
	db_reset(st);
	info->status = API_MODEL_UNTRAINED;
	info->named = info->def.name[0] != '\0';
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

/* The model's columns, then its state blob (column STATE_COL) copied. */
static int read_with_state(struct db_stmt *st, void *item, struct api_err *err)
{
	struct model_state *ms = item;

	if (read_info(st, ms->info, err))
		return -1;
	ms->len = (size_t)db_col_bytes(st, STATE_COL);
	ms->state = malloc(ms->len ? ms->len : 1);
	if (!ms->state)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (ms->len)
		memcpy(ms->state, db_col_blob(st, STATE_COL), ms->len);
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
	struct db_stmt *st;

	if (db_exists(db, model_exists, c->id, NULL, "model", err) || model_busy(db, c->id, c->doing, err))
		return -1;
	st = db_stmt(db, c->sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	if (c->state)
		db_bind_blob(st, 2, c->state, c->len);
	return db_exec_stmt(db, st, err);
}


int db_model_put_state(struct db *db, int64_t id, const uint8_t *state, size_t len, struct api_err *err)
{
	static const char sql[] = "UPDATE models SET state = ?2, version = NULL, updated_at = " DB_NOW " WHERE id = ?1";
	struct change c = {sql, "change the weights of", id, state, len};

	return db_transaction(db, change_tx, &c, err);
}

/* ---- names, versions of the weights, deletion ---------------------------------------------- */

int db_model_resolve(struct db *db, const char *ref, int64_t *id, struct api_err *err)
{
	static const char sql[] = "SELECT id FROM models WHERE named = 1 AND name = ?1";
	struct db_stmt *st;
	int rc;

	if (api_id_parse(ref, id))
		return 0;
	*id = 0;
	if (!ref || !api_model_name_valid(ref))
		return api_fail(err, API_NOT_FOUND, NULL,
				"no model %s: a model is named by its id (a positive integer) or its name", ref ? ref : "");
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, ref);
	rc = db_step(st);
	if (rc == DB_ROW)
		*id = db_col_int64(st, 0);
	db_reset(st);
	if (rc == DB_ROW)
		return 0;
	if (rc != DB_DONE)
		return db_fail(db, rc, err);
	return api_fail(err, API_NOT_FOUND, NULL, "no model named %s", ref);
}

struct rename {
	int64_t id;
	const char *name;
	struct api_model_info *info;
};

static int rename_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char sql[] = "UPDATE models SET name = ?2, named = CASE WHEN ?2 <> '' THEN 1 ELSE 0 END, updated_at = " DB_NOW " WHERE id = ?1";
	struct rename *c = ctx;
	struct db_stmt *st;

	if (db_exists(db, model_exists, c->id, NULL, "model", err) || name_taken(db, c->name, c->id, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	db_bind_text(st, 2, c->name);
	if (db_exec_stmt(db, st, err))
		return -1;
	return db_model_get(db, c->id, c->info, err);
}

int db_model_rename(struct db *db, int64_t id, const char *name, struct api_model_info *info, struct api_err *err)
{
	struct rename c = {id, name, info};

	return db_transaction(db, rename_tx, &c, err);
}

struct remove {
	int64_t id;
	bool cascade;
};

static int remove_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char jobs[] = "SELECT count(*) FROM jobs WHERE model_id = ?1";
	static const char versions[] = "SELECT count(*) FROM model_versions WHERE model_id = ?1";
	static const char sql[] = "DELETE FROM models WHERE id = ?1";
	struct remove *c = ctx;
	int64_t n_jobs = 0, n_versions = 0;
	struct db_stmt *st;

	if (db_exists(db, model_exists, c->id, NULL, "model", err) || model_busy(db, c->id, "delete", err))
		return -1;
	if (!c->cascade) {
		if (db_find_id(db, jobs, c->id, &n_jobs, err) < 0 || db_find_id(db, versions, c->id, &n_versions, err) < 0)
			return -1;
		if (n_jobs || n_versions)
			return api_fail(err, API_CONFLICT, "cascade",
					"model %lld has %lld job(s) and %lld version(s); DELETE /v1/models/%lld?cascade=true "
					"deletes it with them (and its stored predictions)",
					(long long)c->id, (long long)n_jobs, (long long)n_versions, (long long)c->id);
	}
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	return db_exec_stmt(db, st, err);
}

int db_model_remove(struct db *db, int64_t id, bool cascade, struct api_err *err)
{
	struct remove c = {id, cascade};

	return db_transaction(db, remove_tx, &c, err);
}

int db_model_delete(struct db *db, int64_t id, struct api_err *err)
{
	return db_model_remove(db, id, false, err);
}

struct put_weights {
	int64_t id;
	const uint8_t *state;
	size_t len;
	const char *sha;
	uint32_t *version;
};

static int put_weights_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char insert[] =
		"INSERT INTO model_versions (model_id, version, source, weights_sha256, state, created_at) "
		"VALUES (?1, COALESCE((SELECT MAX(version) FROM model_versions WHERE model_id = ?1), 0) + 1, 'weights', "
		"?2, ?3, " DB_NOW ") RETURNING version";
	static const char update[] =
		"UPDATE models SET state = ?3, version = ?2, updated_at = " DB_NOW " WHERE id = ?1";
	struct put_weights *c = ctx;
	struct db_stmt *st;
	int rc;

	if (db_exists(db, model_exists, c->id, NULL, "model", err) ||
	    model_busy(db, c->id, "change the weights of", err))
		return -1;
	st = db_stmt(db, insert, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	db_bind_text(st, 2, c->sha);
	db_bind_blob(st, 3, c->state, c->len);
	rc = db_step(st);
	if (rc == DB_ROW)
		*c->version = (uint32_t)db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW)
		return db_fail(db, rc, err);
	st = db_stmt(db, update, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	db_bind_int64(st, 2, *c->version);
	db_bind_blob(st, 3, c->state, c->len);
	return db_exec_stmt(db, st, err);
}

int db_model_put_weights(struct db *db, int64_t id, const uint8_t *state, size_t len, const char *sha,
			 uint32_t *version, struct api_err *err)
{
	struct put_weights c = {id, state, len, sha, version};

	return db_transaction(db, put_weights_tx, &c, err);
}

/* One of the model's JSON text columns (sql selects it), copied; NULL when absent. */
static int model_text(struct db *db, const char *sql, int64_t id, char **out, struct api_err *err)
{
	struct db_stmt *st = db_stmt(db, sql, err);
	const char *text;
	int rc;

	*out = NULL;
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW && (text = db_col_str(st, 0)) && !(*out = strdup(text))) {
		db_reset(st);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	db_reset(st);
	if (rc == DB_DONE)
		return api_fail(err, API_NOT_FOUND, NULL, "no model %lld", (long long)id);
	return rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

static int set_model_text(struct db *db, const char *sql, int64_t id, const char *text, struct api_err *err)
{
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, text);
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
