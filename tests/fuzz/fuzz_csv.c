/*
 * fuzz_csv.c — the incremental CSV reader of dataset uploads (api_csv_*).
 *
 * Input: byte 0 picks the options (header auto / no / yes; label: last
 * column, index 0, 1 or 3, or the name "target"; the delimiter , ; tab |),
 * byte 1 seeds the chunking,
 * the rest is the CSV body. The body is parsed three ways — whole in one
 * feed, in random-sized chunks (0..N bytes, N from byte 1) drawn from a
 * generator seeded by the input, and (for bodies up to 2 KiB) byte by byte —
 * and every way must give the same outcome: the same rows (bit for bit), the
 * same feature count, the same error (code, field, message: "line L, column
 * C" must not depend on where the network split the body).
 *
 * The whole feed takes the fast lane for plain numeric cells
 * (api_csv_fast_cells), the byte-by-byte one never does: agreeing checks it,
 * the columns' kinds and statistics (api_csv_columns_encode) too. The
 * scanner gives a byte loop's answer from every offset, with the upload's
 * delimiter.
 *
 * Other properties: no crash, leak or undefined behaviour; a refusal is a
 * proper error; every label handed to on_row is finite and every feature
 * finite or NaN (a missing cell); rows and cells stay
 * within the limits; a success has at least one row.
 */
#include <math.h>

#include "tests/fuzz/fuzz_common.h"

#define MAX_ROWS 2000
#define MAX_CELLS 200000

struct outcome {
	uint8_t *rows; /* per row: n_features (u32), features, label (floats) */
	size_t len, cap;
	uint64_t n_rows;
	int rc;
	struct api_err err;
	uint32_t n_features;
	uint64_t reader_rows;
	char *columns; /* api_csv_columns_encode after a success */
};

static int on_row(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	struct outcome *o = ctx;
	size_t need = 4 + 4 * (size_t)n_features + 4;

	(void)err;
	FUZZ_CHECK(n_features >= 1, "a row with %u features", n_features);
	FUZZ_CHECK(isfinite(label), "label of row %llu not finite", (unsigned long long)o->n_rows);
	for (uint32_t i = 0; i < n_features; i++)
		FUZZ_CHECK(isfinite(features[i]) || isnan(features[i]), "feature %u of row %llu infinite", i,
			   (unsigned long long)o->n_rows);
	if (o->len + need > o->cap) {
		o->cap = (o->len + need) * 2;
		o->rows = realloc(o->rows, o->cap);
		if (!o->rows)
			abort();
	}
	memcpy(o->rows + o->len, &n_features, 4);
	memcpy(o->rows + o->len + 4, features, 4 * (size_t)n_features);
	memcpy(o->rows + o->len + 4 + 4 * (size_t)n_features, &label, 4);
	o->len += need;
	o->n_rows++;
	FUZZ_CHECK(o->n_rows <= MAX_ROWS && o->n_rows * (n_features + 1) <= MAX_CELLS, "past the limits: %llu rows",
		   (unsigned long long)o->n_rows);
	return 0;
}

/* xorshift64*: the chunk sizes, reproducible from the input. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* chunk 0: whole; 1: byte by byte; otherwise random sizes up to max_chunk. */
static void parse(const struct api_csv_opts *opts, const char *body, size_t len, int mode, uint64_t seed,
		  size_t max_chunk, struct outcome *o)
{
	struct api_csv *csv = api_csv_create(opts, on_row, o);
	size_t at = 0;

	memset(o, 0, sizeof *o);
	if (!csv)
		abort();
	o->rc = 0;
	while (o->rc == 0 && at < len) {
		size_t n = mode == 0 ? len - at : mode == 1 ? 1 : (size_t)(next(&seed) % (max_chunk + 1));

		if (n > len - at)
			n = len - at;
		/* A zero-length feed is legal (an empty network read). */
		o->rc = api_csv_feed(csv, body + at, n, &o->err);
		at += n;
	}
	if (o->rc == 0)
		o->rc = api_csv_finish(csv, &o->err);
	o->n_features = api_csv_n_features(csv);
	o->reader_rows = api_csv_n_rows(csv);
	if (o->rc == 0) {
		o->columns = api_csv_columns_encode(csv);
		FUZZ_CHECK(o->columns != NULL, "columns of a success not encoded");
	}
	api_csv_destroy(csv);
}

static void same(const struct outcome *a, const struct outcome *b, const char *how)
{
	FUZZ_CHECK(a->rc == b->rc, "whole: rc %d (%s); %s: rc %d (%s)", a->rc, a->err.message, how, b->rc,
		   b->err.message);
	FUZZ_CHECK(a->err.code == b->err.code && strcmp(a->err.message, b->err.message) == 0 &&
			   strcmp(a->err.field, b->err.field) == 0,
		   "whole: %s \"%s\" [%s]; %s: %s \"%s\" [%s]", api_code_name(a->err.code), a->err.message,
		   a->err.field, how, api_code_name(b->err.code), b->err.message, b->err.field);
	FUZZ_CHECK(a->n_rows == b->n_rows && a->len == b->len && (a->len == 0 || memcmp(a->rows, b->rows, a->len) == 0),
		   "whole gave %llu rows, %s gave %llu rows (or different values)", (unsigned long long)a->n_rows, how,
		   (unsigned long long)b->n_rows);
	FUZZ_CHECK(a->n_features == b->n_features && a->reader_rows == b->reader_rows,
		   "n_features %u / %u, n_rows %llu / %llu (whole / %s)", a->n_features, b->n_features,
		   (unsigned long long)a->reader_rows, (unsigned long long)b->reader_rows, how);
	FUZZ_CHECK(a->rc != 0 || strcmp(a->columns, b->columns) == 0, "columns: whole %.300s; %s %.300s", a->columns,
		   how, b->columns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long label_index[] = {-1, 0, 1, 3};
	struct api_csv_opts opts = {0};
	struct outcome whole, chunked, bytes;
	const char *body;
	size_t len;
	unsigned label;
	uint64_t seed;

	if (size < 2)
		return 0;
	opts.header = (enum api_csv_header)(data[0] % 3);
	label = (data[0] / 3) % 5;
	opts.label_name = label == 4 ? "target" : NULL;
	opts.label_index = label == 4 ? -1 : label_index[label];
	opts.delimiter = ",;\t|"[(data[0] / 15) % 4];
	opts.max_rows = MAX_ROWS;
	opts.max_cells = MAX_CELLS;
	seed = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)data[1] << 32) ^ size;
	body = (const char *)data + 2;
	len = size - 2;

	parse(&opts, body, len, 0, 0, 0, &whole);
	if (whole.rc != 0)
		fuzz_check_err(&whole.err);
	else
		FUZZ_CHECK(whole.n_rows >= 1 && whole.n_rows == whole.reader_rows, "success with %llu rows",
			   (unsigned long long)whole.n_rows);
	parse(&opts, body, len, 2, seed, 1 + data[1] % 64, &chunked);
	same(&whole, &chunked, "chunked");
	free(chunked.rows);
	free(chunked.columns);
	if (len <= 2048) {
		parse(&opts, body, len, 1, 0, 0, &bytes);
		same(&whole, &bytes, "byte by byte");
		free(bytes.rows);
		free(bytes.columns);
	}
	free(whole.rows);
	free(whole.columns);
	/* the scanner (api_csv_scan.c) against a byte loop, from every offset */
	for (size_t at = 0; at < len && at < 256; at++) {
		size_t want = at;

		while (want < len && body[want] != opts.delimiter && body[want] != '"' && body[want] != '\n' &&
		       body[want] != '\r')
			want++;
		FUZZ_CHECK(api_csv_scan(body + at, len - at, opts.delimiter) == want - at, "scan from %zu: %zu, want %zu",
			   at, api_csv_scan(body + at, len - at, opts.delimiter), want - at);
	}
	return 0;
}
