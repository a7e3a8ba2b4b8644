/*
 * db_prediction.c — stored predictions: inputs, outputs and classes as
 * float32 / int32 blobs, written in batches by the prediction writer.
 */
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"

struct insert {
	struct db_prediction *p;
	size_t n;
};

static int insert_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char sql[] =
		"INSERT INTO predictions (model_id, n, input_dim, outputs, inputs, predictions, classes, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, " DB_NOW ") RETURNING id";
	struct insert *in = ctx;
	struct db_prediction *p = in->p;

	for (size_t i = 0; i < in->n; i++) {
		struct db_stmt *st = db_stmt(db, sql, err);

		if (!st)
			return -1;
		db_bind_int64(st, 1, p[i].model_id);
		db_bind_int64(st, 2, p[i].n);
		db_bind_int64(st, 3, p[i].input_dim);
		db_bind_int64(st, 4, p[i].outputs);
		db_bind_blob(st, 5, p[i].inputs, (size_t)p[i].n * p[i].input_dim * sizeof(float));
		db_bind_blob(st, 6, p[i].outputs_v, (size_t)p[i].n * p[i].outputs * sizeof(float));
		if (p[i].classes)
			db_bind_blob(st, 7, p[i].classes, (size_t)p[i].n * sizeof(int32_t));
		if (db_insert(db, st, &p[i].id, err))
			return -1;
	}
	return 0;
}

int db_prediction_insert(struct db *db, struct db_prediction *p, size_t n, struct api_err *err)
{
	struct insert in = {p, n};

	return db_transaction(db, insert_tx, &in, err);
}

#define PRED_COLS "id, model_id, n, input_dim, outputs, inputs, predictions, classes, created_at"

/* Copies a row's arrays into one new buffer, which p->inputs points at. */
static int read_prediction(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_prediction_info *p = item;
	size_t in_bytes, out_bytes, cls_bytes;
	char *b;

	memset(p, 0, sizeof *p);
	p->id = db_col_int64(st, 0);
	p->model_id = db_col_int64(st, 1);
	p->n = (uint32_t)db_col_int64(st, 2);
	p->input_dim = (uint32_t)db_col_int64(st, 3);
	p->outputs = (uint32_t)db_col_int64(st, 4);
	in_bytes = (size_t)db_col_bytes(st, 5);
	out_bytes = (size_t)db_col_bytes(st, 6);
	cls_bytes = (size_t)db_col_bytes(st, 7);
	if (in_bytes != (size_t)p->n * p->input_dim * sizeof(float) ||
	    out_bytes != (size_t)p->n * p->outputs * sizeof(float) ||
	    (cls_bytes && cls_bytes != (size_t)p->n * sizeof(int32_t)))
		return api_fail(err, API_INTERNAL, NULL, "prediction %lld is damaged", (long long)p->id);
	b = malloc(in_bytes + out_bytes + cls_bytes + 1);
	if (!b)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	memcpy(b, db_col_blob(st, 5), in_bytes);
	memcpy(b + in_bytes, db_col_blob(st, 6), out_bytes);
	if (cls_bytes)
		memcpy(b + in_bytes + out_bytes, db_col_blob(st, 7), cls_bytes);
	p->inputs = (const float *)b;
	p->outputs_v = (const float *)(b + in_bytes);
	p->classes = cls_bytes ? (const int32_t *)(b + in_bytes + out_bytes) : NULL;
	db_col_text(st, 8, p->created_at, sizeof p->created_at);
	return 0;
}

void db_prediction_free(struct api_prediction_info *p)
{
	free((void *)p->inputs);
	p->inputs = p->outputs_v = NULL;
	p->classes = NULL;
}

static void drop_prediction(void *item)
{
	db_prediction_free(item);
}

int db_prediction_get(struct db *db, int64_t id, struct api_prediction_info *p, struct api_err *err)
{
	static const char sql[] = "SELECT " PRED_COLS " FROM predictions WHERE id = ?1";

	return db_get_by_id(db, sql, id, "prediction", read_prediction, p, err);
}

int db_prediction_list(struct db *db, int64_t model_id, uint32_t limit, uint64_t offset,
		       struct api_prediction_info **items, size_t *n, uint64_t *total, struct api_err *err)
{
	static const char model_sql[] = "SELECT count(*) FROM models WHERE id = ?1";
	static const char count[] = "SELECT count(*) FROM predictions WHERE model_id = ?1";
	static const char sql[] =
		"SELECT " PRED_COLS " FROM predictions WHERE model_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3";
	struct db_stmt *st = db_stmt(db, model_sql, err);
	uint64_t models;

	*items = NULL;
	*n = 0;
	if (!st)
		return -1;
	db_bind_int64(st, 1, model_id);
	if (db_count(db, st, &models, err))
		return -1;
	if (models == 0)
		return api_fail(err, API_NOT_FOUND, NULL, "no model with id %lld", (long long)model_id);
	st = db_stmt(db, count, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, model_id);
	if (db_count(db, st, total, err) || !(st = db_stmt(db, sql, err)))
		return -1;
	db_bind_int64(st, 1, model_id);
	db_bind_int64(st, 2, limit);
	db_bind_int64(st, 3, (int64_t)offset);
	return db_read_rows(db, st, sizeof **items, limit, read_prediction, drop_prediction, (void **)items, n, err);
}
