/*
 * db_dataset.c — datasets: rows stored as float32 blobs in chunks of about
 * 4 MiB, so that no value comes near SQLite's 1 GB limit and a streamed upload
 * can commit as it goes.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"

#define CHUNK_BYTES (4u << 20)

static int read_info(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_dataset_info *d = item;
	const char *kind;

	(void)err;
	memset(d, 0, sizeof *d);
	d->id = db_col_int64(st, 0);
	db_col_text(st, 1, d->name, sizeof d->name);
	d->n_samples = (uint64_t)db_col_int64(st, 2);
	d->n_features = (uint32_t)db_col_int64(st, 3);
	d->y_dim = (uint32_t)db_col_int64(st, 4);
	kind = db_col_str(st, 5);
	d->y_kind = kind && strcmp(kind, "class") == 0 ? API_Y_CLASS
		    : kind && strcmp(kind, "one_hot") == 0 ? API_Y_ONE_HOT
		    : API_Y_REAL;
	d->n_classes = (uint32_t)db_col_int64(st, 6);
	d->y_min = db_col_double(st, 7);
	d->y_max = db_col_double(st, 8);
	d->y_integral = db_col_int(st, 9) != 0;
	db_col_text(st, 10, d->created_at, sizeof d->created_at);
	d->n_categorical = (uint32_t)db_col_int64(st, 11);
	d->n_missing = (uint64_t)db_col_int64(st, 12);
	d->encoded_width = (uint32_t)db_col_int64(st, 13);
	return 0;
}

static int insert_chunk(struct db *db, int64_t id, uint32_t seq, uint32_t n_rows, const float *x, size_t x_len,
			const float *y, size_t y_len, struct api_err *err)
{
	static const char sql[] = "INSERT INTO dataset_chunks (dataset_id, seq, n_rows, x, y) VALUES (?1, ?2, ?3, ?4, ?5)";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, seq);
	db_bind_int64(st, 3, n_rows);
	db_bind_blob(st, 4, x, x_len * sizeof(float));
	db_bind_blob(st, 5, y, y_len * sizeof(float));
	return db_write_stmt(db, st, err);
}

static int insert_dataset(struct db *db, const char *name, const char *state, uint32_t n_features, int64_t *id,
			  struct api_err *err)
{
	static const char sql[] =
		"INSERT INTO datasets (name, state, n_features, y_dim, created_at, upload_node) "
		"VALUES (?1, ?2, ?3, 0, " DB_NOW ", ?4) RETURNING id";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_text(st, 1, name);
	db_bind_text(st, 2, state);
	db_bind_int64(st, 3, n_features);
	db_bind_text(st, 4, db_node_id());
	return db_write_insert(db, st, id, err);
}

/* Writes the final statistics and makes the dataset visible. */
static int publish(struct db *db, const struct api_dataset_info *info, struct api_err *err)
{
	static const char sql[] =
		"UPDATE datasets SET state = 'ready', n_samples = ?2, n_features = ?3, y_dim = ?4, y_kind = ?5, "
		"n_classes = ?6, y_min = ?7, y_max = ?8, y_integral = ?9, n_categorical = ?10, n_missing = ?11, "
		"encoded_width = ?12 WHERE id = ?1";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, info->id);
	db_bind_int64(st, 2, (int64_t)info->n_samples);
	db_bind_int64(st, 3, info->n_features);
	db_bind_int64(st, 4, info->y_dim);
	db_bind_text(st, 5, api_y_kind_name(info->y_kind));
	db_bind_int64(st, 6, info->n_classes);
	db_bind_double(st, 7, info->y_min);
	db_bind_double(st, 8, info->y_max);
	db_bind_int64(st, 9, info->y_integral);
	db_bind_int64(st, 10, info->n_categorical);
	db_bind_int64(st, 11, (int64_t)info->n_missing);
	db_bind_int64(st, 12, info->encoded_width);
	return db_exec_stmt(db, st, err);
}

static int created_at(struct db *db, struct api_dataset_info *info, struct api_err *err)
{
	static const char sql[] = "SELECT created_at FROM datasets WHERE id = ?1";
	struct db_stmt *st = db_stmt(db, sql, err);
	int rc;

	if (!st)
		return -1;
	db_bind_int64(st, 1, info->id);
	rc = db_step(st);
	if (rc == DB_ROW)
		db_col_text(st, 0, info->created_at, sizeof info->created_at);
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

struct create {
	struct api_dataset_info *info;
	const float *x, *y;
	const struct db_idem *idem;
};

static int create_tx(struct db *db, void *ctx, struct api_err *err)
{
	struct create *c = ctx;
	struct api_dataset_info *info = c->info;
	size_t y_width = info->y_dim ? info->y_dim : 1;
	size_t row_bytes = (info->n_features + y_width) * sizeof(float);
	uint64_t rows_per_chunk = row_bytes >= CHUNK_BYTES ? 1 : CHUNK_BYTES / row_bytes;
	int64_t id;
	int rc = db_idem_lookup(db, c->idem, &info->id, err);

	if (rc != 0)
		return rc;
	if (insert_dataset(db, info->name, "uploading", info->n_features, &id, err))
		return -1;
	info->id = id;
	for (uint64_t row = 0, seq = 0; row < info->n_samples; row += rows_per_chunk, seq++) {
		uint64_t n = info->n_samples - row < rows_per_chunk ? info->n_samples - row : rows_per_chunk;

		if (insert_chunk(db, id, (uint32_t)seq, (uint32_t)n, c->x + row * info->n_features,
				 n * info->n_features, c->y + row * y_width, n * y_width, err))
			return -1;
	}
	return publish(db, info, err) || db_idem_record(db, c->idem, id, err) || created_at(db, info, err) ? -1 : 0;
}

int db_dataset_create(struct db *db, struct api_dataset_info *info, const float *x, const float *y,
		      const struct db_idem *idem, struct api_err *err)
{
	struct create c = {info, x, y, idem};

	return db_transaction(db, create_tx, &c, err);
}

int db_upload_begin(struct db *db, const char *name, uint32_t n_features, int64_t *id, struct api_err *err)
{
	return insert_dataset(db, name, "uploading", n_features, id, err);
}

int db_upload_chunk(struct db *db, int64_t id, uint32_t seq, uint32_t n_rows, const float *x, size_t x_len,
		    const float *y, size_t y_len, struct api_err *err)
{
	return insert_chunk(db, id, seq, n_rows, x, x_len, y, y_len, err);
}

struct finish {
	struct api_dataset_info *info;
	const struct db_idem *idem;
	int64_t other; /* a retry: the dataset the first request made */
};

static int finish_tx(struct db *db, void *ctx, struct api_err *err)
{
	struct finish *f = ctx;
	int rc = db_idem_lookup(db, f->idem, &f->other, err);

	if (rc != 0)
		return rc;
	return publish(db, f->info, err) || db_idem_record(db, f->idem, f->info->id, err) ||
			       created_at(db, f->info, err)
		       ? -1
		       : 0;
}

int db_upload_finish(struct db *db, struct api_dataset_info *info, const struct db_idem *idem, struct api_err *err)
{
	struct finish f = {info, idem, 0};
	int rc = db_transaction(db, finish_tx, &f, err);

	if (rc == 1) {
		/* A retry of a request that already landed: drop this copy. */
		db_upload_abort(db, info->id);
		info->id = f.other;
	}
	return rc;
}

void db_upload_abort(struct db *db, int64_t id)
{
	static const char sql[] = "DELETE FROM datasets WHERE id = ?1 AND state = 'uploading'";
	struct api_err err;
	struct db_stmt *st;

	if (!db || id <= 0)
		return;
	st = db_stmt(db, sql, &err);
	if (!st)
		return;
	db_bind_int64(st, 1, id);
	db_write_stmt(db, st, &err);
}

#define DATASET_COLS                                                                                   \
	"id, name, n_samples, n_features, y_dim, y_kind, n_classes, y_min, y_max, y_integral, created_at, " \
	"n_categorical, n_missing, encoded_width"

int db_dataset_get(struct db *db, int64_t id, struct api_dataset_info *info, struct api_err *err)
{
	static const char sql[] = "SELECT " DATASET_COLS " FROM datasets WHERE id = ?1 AND state = 'ready'";

	return db_get_by_id(db, sql, id, "dataset", read_info, info, err);
}

int db_dataset_list(struct db *db, uint32_t limit, uint64_t offset, struct api_dataset_info **items, size_t *n,
		    uint64_t *total, struct api_err *err)
{
	static const char count[] = "SELECT count(*) FROM datasets WHERE state = 'ready'";
	static const char sql[] =
		"SELECT " DATASET_COLS " FROM datasets WHERE state = 'ready' ORDER BY id LIMIT ?1 OFFSET ?2";
	void *page;
	int rc = db_page(db, count, sql, limit, offset, sizeof **items, read_info, &page, n, total, err);

	*items = page;
	return rc;
}

static int delete_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char busy[] =
		"SELECT id FROM jobs WHERE (dataset_id = ?1 OR validation_dataset_id = ?1) "
		"AND status IN ('queued', 'running') LIMIT 1";
	static const char del[] = "DELETE FROM datasets WHERE id = ?1 AND state = 'ready'";
	int64_t id = *(const int64_t *)ctx, job = 0;
	struct api_dataset_info info;
	struct db_stmt *st;
	int rc;

	if (db_dataset_get(db, id, &info, err))
		return -1;
	rc = db_find_id(db, busy, id, &job, err);
	if (rc == 1)
		api_fail(err, API_CONFLICT, NULL, "dataset %lld is used by job %lld, which is queued or running",
			 (long long)id, (long long)job);
	if (rc != 0)
		return -1;
	st = db_stmt(db, del, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	return db_exec_stmt(db, st, err);
}

int db_dataset_delete(struct db *db, int64_t id, struct api_err *err)
{
	return db_transaction(db, delete_tx, &id, err);
}

/* Reads a chunk's blobs into x and y. SQLite: straight into them, one copy
 * out of its page cache, where sqlite3_column_blob would first assemble the
 * overflow pages in a buffer of its own (a job's start-up cost for a large
 * dataset). PostgreSQL: one chunk's row at a time. */
static int read_chunk(struct db *db, int64_t id, int64_t seq, int64_t rowid, void *x, size_t x_bytes, void *y,
		      size_t y_bytes, struct api_err *err)
{
	static const char sql[] = "SELECT x, y FROM dataset_chunks WHERE dataset_id = ?1 AND seq = ?2";
	struct db_stmt *st;
	sqlite3_blob *blob = NULL;
	int rc;

	if (!db->pg) {
		rc = sqlite3_blob_open(db->h, "main", "dataset_chunks", "x", rowid, 0, &blob);
		if (rc == SQLITE_OK)
			rc = sqlite3_blob_read(blob, x, (int)x_bytes, 0);
		sqlite3_blob_close(blob);
		blob = NULL;
		if (rc == SQLITE_OK)
			rc = sqlite3_blob_open(db->h, "main", "dataset_chunks", "y", rowid, 0, &blob);
		if (rc == SQLITE_OK)
			rc = sqlite3_blob_read(blob, y, (int)y_bytes, 0);
		sqlite3_blob_close(blob);
		return rc == SQLITE_OK ? 0 : db_fail(db, rc, err);
	}
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, seq);
	rc = db_step(st);
	if (rc == DB_ROW && (db_col_bytes(st, 0) != x_bytes || db_col_bytes(st, 1) != y_bytes)) {
		db_reset(st);
		return api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: chunk sizes disagree", (long long)id);
	}
	if (rc == DB_ROW) {
		memcpy(x, db_col_blob(st, 0), x_bytes);
		memcpy(y, db_col_blob(st, 1), y_bytes);
	}
	db_reset(st);
	if (rc == DB_DONE)
		return api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: a chunk vanished", (long long)id);
	return rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

int db_dataset_load(struct db *db, int64_t id, struct api_dataset_info *info, float **x, float **y,
		    struct api_err *err)
{
	/* length() of a blob reads no overflow page; the statement's read
	 * transaction covers the blob reads made while it steps */
	static const char lite[] =
		"SELECT rowid, n_rows, length(x), length(y), seq FROM dataset_chunks WHERE dataset_id = ?1 ORDER BY seq";
	static const char pg[] =
		"SELECT 0, n_rows, length(x), length(y), seq FROM dataset_chunks WHERE dataset_id = ?1 ORDER BY seq";
	size_t y_width, row = 0;
	struct db_stmt *st;
	int rc;

	*x = *y = NULL;
	if (db_dataset_get(db, id, info, err))
		return -1;
	y_width = info->y_dim ? info->y_dim : 1;
	*x = malloc(info->n_samples * info->n_features * sizeof(float));
	*y = malloc(info->n_samples * y_width * sizeof(float));
	if (!*x || !*y) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory loading dataset %lld", (long long)id);
		goto fail;
	}
	st = db_stmt(db, db->pg ? pg : lite, err);
	if (!st)
		goto fail;
	db_bind_int64(st, 1, id);
	while ((rc = db_step(st)) == DB_ROW) {
		int64_t rowid = db_col_int64(st, 0);
		size_t n = (size_t)db_col_int64(st, 1);
		size_t x_bytes = n * info->n_features * sizeof(float), y_bytes = n * y_width * sizeof(float);

		if (row + n > info->n_samples || (size_t)db_col_int64(st, 2) != x_bytes ||
		    (size_t)db_col_int64(st, 3) != y_bytes || x_bytes > INT_MAX || y_bytes > INT_MAX) {
			db_reset(st);
			api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: chunk sizes disagree", (long long)id);
			goto fail;
		}
		if (n && read_chunk(db, id, db_col_int64(st, 4), rowid, *x + row * info->n_features, x_bytes,
				    *y + row * y_width, y_bytes, err)) {
			db_reset(st);
			goto fail;
		}
		row += n;
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	if (row != info->n_samples) {
		api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: %zu rows stored, %llu expected", (long long)id,
			 row, (unsigned long long)info->n_samples);
		goto fail;
	}
	return 0;
fail:
	free(*x);
	free(*y);
	*x = *y = NULL;
	return -1;
}

int db_upload_columns(struct db *db, int64_t id, const char *columns, const char *class_names,
		      struct api_err *err)
{
	static const char sql[] =
		"UPDATE datasets SET columns = ?2, class_names = ?3 WHERE id = ?1 AND state = 'uploading'";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, columns);
	if (class_names)
		db_bind_text(st, 3, class_names);
	else
		db_bind_null(st, 3);
	return db_write_stmt(db, st, err);
}

static char *column_copy(struct db_stmt *st, int col, bool *oom)
{
	const char *text = db_col_str(st, col);
	char *copy;

	if (!text)
		return NULL;
	copy = strdup((const char *)text);
	if (!copy)
		*oom = true;
	return copy;
}

int db_dataset_columns(struct db *db, int64_t id, char **columns, char **class_names, struct api_err *err)
{
	static const char sql[] = "SELECT columns, class_names FROM datasets WHERE id = ?1 AND state = 'ready'";
	struct db_stmt *st = db_stmt(db, sql, err);
	bool oom = false;
	int rc;

	*columns = *class_names = NULL;
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		*columns = column_copy(st, 0, &oom);
		*class_names = column_copy(st, 1, &oom);
	}
	db_reset(st);
	if (oom) {
		free(*columns);
		free(*class_names);
		*columns = *class_names = NULL;
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	if (rc == DB_DONE)
		return api_fail(err, API_NOT_FOUND, NULL, "no dataset %lld", (long long)id);
	return rc == DB_ROW ? 0 : db_fail(db, rc, err);
}

int db_dataset_rows(struct db *db, int64_t id, uint64_t offset, uint32_t limit, struct api_dataset_info *info,
		    float **x, float **y, size_t *n, struct api_err *err)
{
	static const char sql[] =
		"SELECT n_rows, x, y FROM dataset_chunks WHERE dataset_id = ?1 ORDER BY seq";
	size_t y_width, want, got = 0;
	uint64_t first = 0; /* the chunk's first row */
	struct db_stmt *st;
	int rc;

	*x = *y = NULL;
	*n = 0;
	if (db_dataset_get(db, id, info, err))
		return -1;
	y_width = info->y_dim ? info->y_dim : 1;
	want = offset >= info->n_samples ? 0 : (size_t)(info->n_samples - offset < limit ? info->n_samples - offset : limit);
	*x = malloc((want ? want : 1) * (info->n_features ? info->n_features : 1) * sizeof(float));
	*y = malloc((want ? want : 1) * y_width * sizeof(float));
	if (!*x || !*y) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto fail;
	}
	if (want == 0)
		return 0;
	st = db_stmt(db, sql, err);
	if (!st)
		goto fail;
	db_bind_int64(st, 1, id);
	while (got < want && (rc = db_step(st)) == DB_ROW) {
		uint64_t rows = (uint64_t)db_col_int64(st, 0), from, to;
		const float *cx, *cy;

		if (first + rows <= offset + got) {
			first += rows;
			continue;
		}
		cx = db_col_blob(st, 1);
		cy = db_col_blob(st, 2);
		if ((uint64_t)db_col_bytes(st, 1) != rows * info->n_features * sizeof(float) ||
		    (uint64_t)db_col_bytes(st, 2) != rows * y_width * sizeof(float) || (rows && (!cx || !cy))) {
			db_reset(st);
			api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: chunk sizes disagree", (long long)id);
			goto fail;
		}
		from = offset + got - first;
		to = rows < from + (want - got) ? rows : from + (want - got);
		memcpy(*x + got * info->n_features, cx + from * info->n_features,
		       (size_t)(to - from) * info->n_features * sizeof(float));
		memcpy(*y + got * y_width, cy + from * y_width, (size_t)(to - from) * y_width * sizeof(float));
		got += (size_t)(to - from);
		first += rows;
	}
	if (got < want) {
		db_reset(st);
		if (rc != DB_ROW && rc != DB_DONE) {
			db_fail(db, rc, err);
			goto fail;
		}
		api_fail(err, API_INTERNAL, NULL, "dataset %lld is damaged: fewer rows stored than counted",
			 (long long)id);
		goto fail;
	}
	db_reset(st);
	*n = got;
	return 0;
fail:
	free(*x);
	free(*y);
	*x = *y = NULL;
	return -1;
}

struct remap {
	int64_t id;
	const uint32_t *map;
	uint32_t n;
};

/* Chunk by chunk (seq 0, 1, ...): each read is finished before its row is updated. */
static int remap_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char sel[] = "SELECT 0, y FROM dataset_chunks WHERE dataset_id = ?1 AND seq = ?2";
	static const char upd[] = "UPDATE dataset_chunks SET y = ?3 WHERE dataset_id = ?1 AND seq = ?2";
	struct remap *m = ctx;
	float *y = NULL;
	int rc = -1;

	for (int64_t seq = 0;; seq++) {
		struct db_stmt *st = db_stmt(db, sel, err), *up;
		size_t n = 0;
		int step;

		if (!st)
			goto out;
		db_bind_int64(st, 1, m->id);
		db_bind_int64(st, 2, seq);
		step = db_step(st);
		if (step == DB_DONE) {
			db_reset(st);
			rc = 0;
			goto out;
		}
		if (step != DB_ROW) {
			db_reset(st);
			db_fail(db, step, err);
			goto out;
		}
		n = (size_t)db_col_bytes(st, 1) / sizeof(float);
		{
			float *p = realloc(y, (n ? n : 1) * sizeof *p);
			const float *src = db_col_blob(st, 1);

			if (!p) {
				db_reset(st);
				api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
				goto out;
			}
			y = p;
			if (n)
				memcpy(y, src, n * sizeof *y);
		}
		db_reset(st);
		for (size_t i = 0; i < n; i++) {
			if (!(y[i] >= 0 && y[i] < (float)m->n) || y[i] != (float)(uint32_t)y[i]) {
				api_fail(err, API_INTERNAL, NULL, "upload %lld: a stored class index is damaged",
					 (long long)m->id);
				goto out;
			}
			y[i] = (float)m->map[(uint32_t)y[i]];
		}
		up = db_stmt(db, upd, err);
		if (!up)
			goto out;
		db_bind_int64(up, 1, m->id);
		db_bind_int64(up, 2, seq);
		db_bind_blob(up, 3, y, n * sizeof(float));
		if (db_exec_stmt(db, up, err))
			goto out;
	}
out:
	free(y);
	return rc;
}

int db_upload_remap_y(struct db *db, int64_t id, const uint32_t *map, uint32_t n, struct api_err *err)
{
	struct remap m = {id, map, n};

	return db_transaction(db, remap_tx, &m, err) < 0 ? -1 : 0;
}
