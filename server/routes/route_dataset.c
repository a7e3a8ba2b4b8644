/*
 * route_dataset.c — POST/GET/DELETE /v1/datasets.
 *
 * A JSON body is buffered (bounded by --max-body-mb) and decoded whole. A CSV
 * body is streamed: each chunk of bytes goes to the incremental CSV reader,
 * complete rows fill a ~4 MiB block, and each full block is committed under
 * a dataset row that stays invisible until the upload ends well. Blocks are
 * committed by a writer thread of the upload while the next one is parsed
 * (two blocks in memory at most), so the disk and the parser work at once. A client
 * that vanishes, or a bad cell, deletes the partial rows (and start-up
 * recovery does it if the process dies), so no half-written dataset is ever
 * visible.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/hash.h"
#include "server/routes/route.h"

#define BLOCK_BYTES (4u << 20)

/* The upload's writer thread and the one block handed to it. */
struct chunk_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool busy;            /* a block is handed over and not yet committed */
	bool closing;
	bool failed;          /* err holds the first failure; no block is written after it */
	int64_t dataset_id;
	uint32_t n_features;
	float *x, *y;         /* the block handed over (or the spare buffers) */
	uint32_t rows, seq;
	struct api_err err;
};

struct csv_upload {
	struct http_req *r;
	struct api_csv *csv;
	struct db *db;
	char name[API_NAME_MAX + 1];
	int64_t dataset_id;   /* 0 until the first row */
	bool published;
	uint32_t n_features;
	float *x, *y;         /* the block being filled */
	uint32_t rows, block_rows, seq;
	struct api_y_stats stats;
	struct hash *hash;    /* of the body, when an Idempotency-Key came with it */
	enum api_task task;
	struct api_err err;
	struct chunk_writer *writer; /* started at the first full block */
};

static void *writer_main(void *arg)
{
	struct chunk_writer *w = arg;
	struct db *db = db_thread();

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct api_err err = {0};
		int rc;

		while (!w->busy && !w->closing)
			pthread_cond_wait(&w->cv, &w->lock);
		if (!w->busy)
			break;
		pthread_mutex_unlock(&w->lock);
		/* the block is the writer's until busy is cleared */
		rc = !db ? api_fail(&err, API_UNAVAILABLE, NULL, "cannot open the database")
			 : w->failed ? 0
				     : db_upload_chunk(db, w->dataset_id, w->seq, w->rows, w->x,
						       (size_t)w->rows * w->n_features, w->y, w->rows, &err);
		pthread_mutex_lock(&w->lock);
		if (rc && !w->failed) {
			w->failed = true;
			w->err = err;
		}
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->lock);
	db_thread_close();
	return NULL;
}

static struct chunk_writer *writer_start(struct csv_upload *u)
{
	struct chunk_writer *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	w->dataset_id = u->dataset_id;
	w->n_features = u->n_features;
	w->x = malloc((size_t)u->block_rows * u->n_features * sizeof(float));
	w->y = malloc((size_t)u->block_rows * sizeof(float));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (!w->x || !w->y || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->lock);
		free(w->x);
		free(w->y);
		free(w);
		return NULL;
	}
	return w;
}

/* Waits until the block handed over is committed; -1 with *err if a block failed. */
static int writer_drain(struct chunk_writer *w, struct api_err *err)
{
	int rc = 0;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->lock);
	if (w->failed) {
		*err = w->err;
		rc = -1;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void writer_stop(struct chunk_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
	free(w->x);
	free(w->y);
	free(w);
}

/* Deletes the rows of an upload that will not be published, before the
 * error is answered: a client that sees the 4xx finds nothing left behind. */
static void abort_upload(struct csv_upload *u)
{
	/* the writer thread ends first (its connection closed): no block lands
	 * after the delete, and nothing of the upload outlives its rows */
	writer_stop(u->writer);
	u->writer = NULL;
	if (u->dataset_id && !u->published)
		db_upload_abort(u->db, u->dataset_id);
	u->dataset_id = 0;
}

/* Hands the block to the writer thread (the last one of a one-block upload
 * is written here: no thread for it). */
static int flush_block(struct csv_upload *u, bool last, struct api_err *err)
{
	struct chunk_writer *w;
	float *swap;

	if (u->rows == 0)
		return 0;
	if (!u->writer && last) {
		if (db_upload_chunk(u->db, u->dataset_id, u->seq, u->rows, u->x, (size_t)u->rows * u->n_features, u->y,
				    u->rows, err))
			return -1;
		u->seq++;
		u->rows = 0;
		return 0;
	}
	if (!u->writer && !(u->writer = writer_start(u)))
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory (or threads)");
	w = u->writer;
	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->lock);
	if (w->failed) {
		*err = w->err;
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	swap = w->x, w->x = u->x, u->x = swap;
	swap = w->y, w->y = u->y, u->y = swap;
	w->rows = u->rows;
	w->seq = u->seq;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
	u->seq++;
	u->rows = 0;
	return 0;
}

static int on_row(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	struct csv_upload *u = ctx;

	if (!u->dataset_id) {
		size_t row_bytes = ((size_t)n_features + 1) * sizeof(float);

		u->n_features = n_features;
		u->block_rows = row_bytes >= BLOCK_BYTES ? 1 : (uint32_t)(BLOCK_BYTES / row_bytes);
		u->x = malloc((size_t)u->block_rows * n_features * sizeof(float));
		u->y = malloc((size_t)u->block_rows * sizeof(float));
		if (!u->x || !u->y)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		if (db_upload_begin(u->db, u->name, n_features, &u->dataset_id, err))
			return -1;
	}
	memcpy(u->x + (size_t)u->rows * n_features, features, n_features * sizeof(float));
	u->y[u->rows] = label;
	api_y_stats_add(&u->stats, &label);
	if (++u->rows == u->block_rows)
		return flush_block(u, false, err);
	return 0;
}

static int csv_sink(struct http_req *r, void *ctx, const char *data, size_t len)
{
	struct csv_upload *u = ctx;

	if (u->err.code != API_OK)
		return -1;
	if (u->hash)
		hash_update(u->hash, data, len);
	if (api_csv_feed(u->csv, data, len, &u->err)) {
		abort_upload(u);
		http_reply_error(r, &u->err);
		return -1;
	}
	return 0;
}

static void csv_free(void *ctx)
{
	struct csv_upload *u = ctx;

	abort_upload(u);
	writer_stop(u->writer);
	api_csv_destroy(u->csv);
	if (u->hash)
		hash_final(u->hash, (unsigned char[32]){0});
	free(u->x);
	free(u->y);
	free(u);
}

static bool parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* Sets up a streamed CSV upload from the query string. */
/* ?delimiter=: one of , ; | : or a tab ("tab" or %09). */
static bool parse_delimiter(const char *s, char *out)
{
	if (strcmp(s, "tab") == 0 || strcmp(s, "\t") == 0) {
		*out = '\t';
		return true;
	}
	if (strlen(s) == 1 && strchr(",;|:\t", s[0])) {
		*out = s[0];
		return true;
	}
	return false;
}

/* ?task= of an upload; replies 422 and returns false when bad. */
static bool query_task(struct http_req *r, enum api_task *task)
{
	if (api_task_parse(http_query(r, "task"), task))
		return true;
	http_fail(r, API_VALIDATION_FAILED, "task", "task must be classification or regression");
	return false;
}

static void begin_csv(struct http_req *r)
{
	struct app *app = route_app(r);
	const char *name = http_query(r, "name"), *label = http_query(r, "label"), *header = http_query(r, "header");
	const char *delimiter = http_query(r, "delimiter"), *task = http_query(r, "task");
	struct api_csv_opts opts = {
		.header = API_CSV_HEADER_AUTO,
		.label_index = -1,
		.max_rows = app->limits.max_rows,
		.max_cells = app->limits.max_cells,
	};
	enum api_task task_kind;
	struct csv_upload *u;
	bool flag;

	if (delimiter && !parse_delimiter(delimiter, &opts.delimiter)) {
		http_fail(r, API_VALIDATION_FAILED, "delimiter",
			  "delimiter must be one character of , ; | : or a tab (?delimiter=tab); a ';' is written %%3B");
		return;
	}
	if (!query_task(r, &task_kind))
		return;

	if (header) {
		if (!parse_bool(header, &flag)) {
			http_fail(r, API_VALIDATION_FAILED, "header", "header must be true or false");
			return;
		}
		opts.header = flag ? API_CSV_HEADER_YES : API_CSV_HEADER_NO;
	}
	if (label && *label) {
		int64_t index;

		if (strcmp(label, "0") == 0)
			opts.label_index = 0;
		else if (api_id_parse(label, &index) && index <= NN_MAX_INPUT_DIM)
			opts.label_index = (long)index;
		else
			opts.label_name = label;
	}
	if (name && !api_name_valid(name)) {
		http_fail(r, API_VALIDATION_FAILED, "name", "name must be 1..%d bytes of UTF-8 text", API_NAME_MAX);
		return;
	}
	u = calloc(1, sizeof *u);
	if (!u) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	u->r = r;
	u->task = task_kind;
	u->db = route_db(r);
	snprintf(u->name, sizeof u->name, "%s", name ? name : "dataset");
	api_y_stats_init(&u->stats, 0);
	/* The options are part of the request an Idempotency-Key stands for;
	 * without a key nothing needs the body's hash. */
	if (http_header(r, "Idempotency-Key")) {
		u->hash = hash_begin();
		for (size_t i = 0; u->hash && i < 5; i++) {
			const char *v = (const char *[]){name, label, header, delimiter, task}[i];

			v = v ? v : "";
			hash_update(u->hash, v, strlen(v) + 1);
		}
	}
	u->csv = api_csv_create(&opts, on_row, u);
	if (!u->db || !u->csv || (!u->hash && http_header(r, "Idempotency-Key"))) {
		if (u->db)
			http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		csv_free(u);
		return;
	}
	http_take_body(r, csv_sink, u, csv_free, (size_t)app->cfg->max_upload_mb << 20);
}

void route_dataset_begin(struct http_req *r)
{
	const char *ct = http_header(r, "Content-Type");
	size_t n = ct ? strcspn(ct, ";") : 0;

	if (!ct || (n == 16 && strncasecmp(ct, "application/json", 16) == 0))
		return; /* buffered JSON */
	if ((n == 8 && strncasecmp(ct, "text/csv", 8) == 0) || (n == 15 && strncasecmp(ct, "application/csv", 15) == 0)) {
		begin_csv(r);
		return;
	}
	http_fail(r, API_UNSUPPORTED_MEDIA_TYPE, "Content-Type",
		  "datasets are uploaded as application/json or text/csv, not %.*s (NPY uploads are not supported)",
		  (int)n, ct);
}

static void reply_dataset(struct http_req *r, struct db *db, int64_t id, int status)
{
	struct api_dataset_info info;
	struct api_err err = {0};
	char *columns, *class_names;

	if (db_dataset_get(db, id, &info, &err) || db_dataset_columns(db, id, &columns, &class_names, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, status, api_dataset_encode_full(&info, columns, class_names));
	free(columns);
	free(class_names);
}

static void finish_csv(struct http_req *r, struct csv_upload *u)
{
	struct api_dataset_info info;
	char *columns, *class_names;
	bool oom;
	struct db_idem idem_buf, *idem;
	char key[256];
	bool bad_key;
	int rc;

	idem = route_idem(r, "datasets", NULL, 0, &idem_buf, key, sizeof key, &bad_key);
	if (bad_key)
		return;
	if (idem) {
		struct hash *h = u->hash;

		u->hash = NULL;
		hash_final(h, idem->hash);
	}
	if (api_csv_finish(u->csv, &u->err) || flush_block(u, true, &u->err) || writer_drain(u->writer, &u->err)) {
		abort_upload(u);
		http_reply_error(r, &u->err);
		return;
	}
	memset(&info, 0, sizeof info);
	info.id = u->dataset_id;
	snprintf(info.name, sizeof info.name, "%s", u->name);
	info.n_samples = api_csv_n_rows(u->csv);
	info.n_features = u->n_features;
	info.n_categorical = api_csv_n_categorical(u->csv);
	info.n_missing = api_csv_n_missing(u->csv);
	info.encoded_width = api_csv_encoded_width(u->csv);
	api_y_stats_finish(&u->stats, &info);
	columns = api_csv_columns_encode(u->csv);
	class_names = api_csv_class_names_encode(u->csv, &oom);
	if (!columns || oom) {
		rc = api_fail(&u->err, API_UNAVAILABLE, NULL, "out of memory");
	} else {
		uint32_t n_classes;
		const uint32_t *remap = api_csv_label_remap(u->csv, &n_classes);

		rc = api_dataset_task(&info, u->task, class_names != NULL, &u->err);
		if (rc == 0 && remap)
			rc = db_upload_remap_y(u->db, u->dataset_id, remap, n_classes, &u->err);
		if (rc == 0)
			rc = db_upload_columns(u->db, u->dataset_id, columns, class_names, &u->err);
	}
	free(columns);
	free(class_names);
	if (rc == 0)
		rc = db_upload_finish(u->db, &info, idem, &u->err);
	if (rc < 0) {
		abort_upload(u);
		http_reply_error(r, &u->err);
		return;
	}
	u->published = true; /* published, or dropped as a duplicate by db_upload_finish */
	reply_dataset(r, u->db, info.id, 201);
}

void route_dataset_create(struct http_req *r)
{
	struct app *app = route_app(r);
	struct csv_upload *u = http_sink_ctx(r);
	struct api_dataset_body body;
	enum api_task task;
	struct route_idem_buf idem_buf;
	struct db_idem *idem;
	struct api_err err = {0};
	const char *data;
	struct db *db;
	size_t len;
	int rc;

	if (u) {
		finish_csv(r, u);
		return;
	}
	/* The CSV options mean nothing to a JSON body: refused rather than ignored. */
	for (size_t i = 0; i < 4; i++) {
		const char *option = (const char *[]){"name", "label", "header", "delimiter"}[i];

		if (http_query(r, option)) {
			http_fail(r, API_VALIDATION_FAILED, option,
				  "%s is an option of CSV uploads (Content-Type: text/csv); a JSON body carries its "
				  "name in the body",
				  option);
			return;
		}
	}
	if (!query_task(r, &task))
		return;
	db = route_db(r);
	if (!db)
		return;
	data = http_body(r, &len);
	if (route_idem_replayed(r, db, "datasets", data, len, &idem_buf, &idem, reply_dataset, 201))
		return;
	if (api_dataset_decode(data, len, &app->limits, &body, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (api_dataset_task(&body.info, task, false, &err)) {
		api_dataset_body_free(&body);
		http_reply_error(r, &err);
		return;
	}
	rc = db_dataset_create(db, &body.info, body.x, body.y, idem, &err);
	api_dataset_body_free(&body);
	if (rc < 0)
		http_reply_error(r, &err);
	else
		reply_dataset(r, db, body.info.id, 201);
}

static int list_datasets(struct db *db, uint32_t limit, uint64_t offset, void **items, size_t *n, uint64_t *total,
			 struct api_err *err)
{
	struct api_dataset_info *page = NULL;
	int rc = db_dataset_list(db, limit, offset, &page, n, total, err);

	*items = page;
	return rc;
}

static char *encode_datasets(const void *items, size_t n, uint64_t total)
{
	return api_dataset_list_encode(items, n, total);
}

static const struct route_resource datasets = {list_datasets, encode_datasets, reply_dataset, db_dataset_delete,
						 NULL};

void route_dataset_list(struct http_req *r)
{
	route_list(r, &datasets);
}

void route_dataset_get(struct http_req *r)
{
	route_get(r, &datasets);
}

void route_dataset_delete(struct http_req *r)
{
	route_delete(r, &datasets);
}

/* GET /v1/datasets/{id}/rows?offset=&limit=: a page of rows by column name. */
void route_dataset_rows(struct http_req *r)
{
	struct api_dataset_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	char *columns = NULL, *class_names = NULL;
	float *x = NULL, *y = NULL;
	uint64_t offset;
	uint32_t limit;
	int64_t id;
	size_t n;

	if (!db || !route_id(r, 0, &id) || !route_page(r, &limit, &offset))
		return;
	if (db_dataset_rows(db, id, offset, limit, &info, &x, &y, &n, &err) ||
	    db_dataset_columns(db, id, &columns, &class_names, &err))
		http_reply_error(r, &err);
	else
		http_reply_json(r, 200, api_dataset_rows_encode(&info, columns, x, y, n, offset));
	free(x);
	free(y);
	free(columns);
	free(class_names);
}
