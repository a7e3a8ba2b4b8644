/*
 * db_version.c — model versions: an immutable copy of a model's weights (its
 * state blob) and their hash, per change of the current weights. A job's
 * version is written by db_job.c in the job's final commit; PUT weights by
 * db_model.c; a restore here. Numbers count 1, 2, ... per model and are never
 * reused while the model lives.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"

#define VERSION_COLS                                                                                        \
	"v.model_id, v.version, v.source, v.job_id, v.restored_from, v.weights_sha256, v.epoch, v.loss, "  \
	"v.accuracy, v.val_loss, v.val_accuracy, v.created_at, "                                           \
	"(SELECT m.version FROM models AS m WHERE m.id = v.model_id) IS NOT DISTINCT FROM v.version"

static int read_version(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_version_info *v = item;
	const char *source = db_col_str(st, 2);

	memset(v, 0, sizeof *v);
	v->model_id = db_col_int64(st, 0);
	v->version = (uint32_t)db_col_int64(st, 1);
	if (!source || !api_version_source_parse(source, &v->source))
		return api_fail(err, API_INTERNAL, NULL, "version %u of model %lld is damaged", v->version,
				(long long)v->model_id);
	v->job_id = db_col_int64(st, 3);
	v->restored_from = (uint32_t)db_col_int64(st, 4);
	db_col_text(st, 5, v->weights_sha256, sizeof v->weights_sha256);
	v->epoch = (uint32_t)db_col_int64(st, 6);
	v->loss = db_col_real(st, 7);
	v->accuracy = db_col_real(st, 8);
	v->val_loss = db_col_real(st, 9);
	v->val_accuracy = db_col_real(st, 10);
	db_col_text(st, 11, v->created_at, sizeof v->created_at);
	v->current = db_col_int(st, 12) != 0;
	return 0;
}

static const char model_exists[] = "SELECT 1 FROM models WHERE id = ?1";

int db_version_list(struct db *db, int64_t model_id, uint32_t limit, uint64_t offset,
		    struct api_version_info **items, size_t *n, uint64_t *total, struct api_err *err)
{
	static const char count[] = "SELECT count(*) FROM model_versions WHERE model_id = ?1";
	static const char sql[] = "SELECT " VERSION_COLS " FROM model_versions AS v WHERE v.model_id = ?1 "
				  "ORDER BY v.version DESC LIMIT ?2 OFFSET ?3";
	struct db_stmt *st;
	void *page = NULL;
	int rc;

	*items = NULL;
	*n = 0;
	if (db_exists(db, model_exists, model_id, NULL, "model", err))
		return -1;
	st = db_stmt(db, count, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, model_id);
	if (db_count(db, st, total, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, model_id);
	db_bind_int64(st, 2, limit);
	db_bind_int64(st, 3, (int64_t)offset);
	rc = db_read_rows(db, st, sizeof **items, limit, read_version, NULL, &page, n, err);
	*items = page;
	return rc;
}

/* Row of (model_id, version) of sql (?1, ?2) through read; 404 for an unknown
 * model, or an unknown version naming field. */
static int version_row(struct db *db, const char *sql, int64_t model_id, uint32_t version, const char *field,
		       db_read_fn read, void *item, struct api_err *err)
{
	struct db_stmt *st;
	int rc;

	if (db_exists(db, model_exists, model_id, NULL, "model", err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, model_id);
	db_bind_int64(st, 2, version);
	rc = db_step(st);
	if (rc == DB_ROW) {
		rc = read(st, item, err);
		db_reset(st);
		return rc < 0 ? -1 : 0;
	}
	db_reset(st);
	if (rc != DB_DONE)
		return db_fail(db, rc, err);
	return api_fail(err, API_NOT_FOUND, field, "model %lld has no version %u", (long long)model_id, version);
}

int db_version_get(struct db *db, int64_t model_id, uint32_t version, struct api_version_info *v,
		   struct api_err *err)
{
	static const char sql[] = "SELECT " VERSION_COLS " FROM model_versions AS v WHERE v.model_id = ?1 AND "
				  "v.version = ?2";

	return version_row(db, sql, model_id, version, NULL, read_version, v, err);
}

struct blob {
	uint8_t *data;
	size_t len;
};

static int read_blob(struct db_stmt *st, void *item, struct api_err *err)
{
	struct blob *b = item;

	b->len = (size_t)db_col_bytes(st, 0);
	b->data = malloc(b->len ? b->len : 1);
	if (!b->data)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (b->len)
		memcpy(b->data, db_col_blob(st, 0), b->len);
	return 0;
}

int db_version_get_state(struct db *db, int64_t model_id, uint32_t version, const char *field,
			 struct api_model_info *info, uint8_t **state, size_t *len, struct api_err *err)
{
	static const char sql[] = "SELECT state FROM model_versions WHERE model_id = ?1 AND version = ?2";
	struct blob b = {NULL, 0};

	*state = NULL;
	*len = 0;
	if (db_model_get(db, model_id, info, err) ||
	    version_row(db, sql, model_id, version, field, read_blob, &b, err)) {
		free(b.data);
		return -1;
	}
	*state = b.data;
	*len = b.len;
	return 0;
}

struct restore {
	int64_t model_id;
	uint32_t version;
	struct api_version_info *out;
};

static int restore_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char busy[] =
		"SELECT id FROM jobs WHERE model_id = ?1 AND status IN ('queued', 'running') LIMIT 1";
	static const char insert[] =
		"INSERT INTO model_versions (model_id, version, source, job_id, restored_from, weights_sha256, epoch, loss, "
		"accuracy, val_loss, val_accuracy, state, created_at) "
		"SELECT model_id, (SELECT MAX(version) FROM model_versions WHERE model_id = ?1) + 1, 'restore', job_id, "
		"version, weights_sha256, epoch, loss, accuracy, val_loss, val_accuracy, state, " DB_NOW
		" FROM model_versions WHERE model_id = ?1 AND version = ?2 RETURNING version";
	static const char update[] =
		"UPDATE models SET state = (SELECT state FROM model_versions WHERE model_id = ?1 AND version = ?2), "
		"version = ?2, updated_at = " DB_NOW " WHERE id = ?1";
	struct restore *c = ctx;
	struct api_version_info old;
	struct db_stmt *st;
	int64_t job = 0;
	uint32_t made = 0;
	int rc;

	if (db_version_get(db, c->model_id, c->version, &old, err))
		return -1;
	rc = db_find_id(db, busy, c->model_id, &job, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return api_fail(err, API_CONFLICT, NULL, "cannot restore a version of model %lld while job %lld trains it",
				(long long)c->model_id, (long long)job);
	st = db_stmt(db, insert, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->model_id);
	db_bind_int64(st, 2, c->version);
	rc = db_step(st);
	if (rc == DB_ROW)
		made = (uint32_t)db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW)
		return db_fail(db, rc, err);
	st = db_stmt(db, update, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->model_id);
	db_bind_int64(st, 2, made);
	if (db_exec_stmt(db, st, err))
		return -1;
	return db_version_get(db, c->model_id, made, c->out, err);
}

int db_version_restore(struct db *db, int64_t model_id, uint32_t version, struct api_version_info *v,
		       struct api_err *err)
{
	struct restore c = {model_id, version, v};

	return db_transaction(db, restore_tx, &c, err);
}
