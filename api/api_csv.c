/*
 * api_csv.c — incremental CSV reader for dataset uploads.
 *
 * DESIGN
 * A byte-at-a-time state machine (RFC 4180: a delimiter, ',' unless the
 * upload names another, optional double quotes with "" escapes, CRLF or LF
 * line ends, an optional UTF-8 BOM) that keeps only the cell being read and
 * the values of the current row, so the memory of an upload is bounded by one
 * row whatever the size of the body. The first record fixes the column count
 * and, when it is a header, the columns' names. Every data cell goes through
 * one function, data_cell(): a missing-value token, a number (a numeric
 * column) or a category (a categorical column); each column keeps its
 * statistics in one pass (sums shifted by the column's first value, in
 * doubles) and a
 * categorical one its categories in a small open-addressing hash table,
 * bounded per column and per upload before anything is allocated. Errors name
 * the line (1-based, counting the header) and the column (1-based field
 * number). An unquoted cell's bytes are found many at a time
 * (api_csv_scan.c, with the upload's delimiter) and copied at once. Once a
 * column's kind is fixed, plain numeric cells of a numeric column (not the
 * record's last) go straight into the values (api_csv_fast_cells) and into
 * the same statistics as data_cell's (numeric_stat); every other cell, and
 * every missing-value token, through the state machine and data_cell().
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"

#define CELL_MAX 256
#define NAME_SHOWN 40 /* bytes of a column name or cell quoted in a message */
#define CATEGORY_OVERHEAD 48

enum col_kind { COL_UNKNOWN, COL_NUMERIC, COL_CATEGORICAL };

/* A column's name, kind and statistics. */
struct csv_col {
	char *name;
	enum col_kind kind;
	uint64_t count, missing;      /* cells with a value, missing cells */
	double min, max;              /* numeric: the extremes, and the sums of v - shift */
	double shift, sum, sum2;      /* and of its square, shift being the first value (no division per cell) */
	char **cats;                  /* categorical: the values, in order of first appearance */
	uint64_t *cat_counts;
	uint32_t n_cats, cats_cap;
	uint32_t *slots;              /* hash table of category index + 1; 0 is empty */
	uint32_t n_slots;             /* a power of two, at least twice n_cats */
};

enum csv_state { CSV_FIELD_START, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE_IN_QUOTED, CSV_AFTER_QUOTE };

struct api_csv {
	struct api_csv_opts opts;
	char *label_name;
	api_csv_row_fn on_row;
	void *ctx;

	enum csv_state state;
	bool skip_lf;       /* a CR ended the last record; swallow a following LF */
	bool bom_checked;
	unsigned bom_seen;  /* bytes of a BOM matched so far */
	uint64_t line;      /* line of the record being read (1-based) */
	uint64_t next_line; /* line after quoted newlines */
	bool first_record;  /* the column count is not known yet */
	bool first_text;    /* a cell of the first record is not a number */

	char cell[CELL_MAX + 1];
	size_t cell_len;
	bool cell_quoted;

	uint32_t n_cols;    /* fixed by the first record */
	uint32_t field;     /* index of the cell being read in the record */
	long label;         /* resolved label column, -1 until known */
	float *values;      /* n_cols values of the current record */
	size_t values_cap;
	uint64_t rows;

	char delim;
	char **first;       /* the first record's cells, until it is known to be a header or data */
	uint32_t n_first;
	struct csv_col *cols; /* n_cols, once the first record is read */
	size_t category_bytes;
	uint64_t n_missing; /* missing feature cells */
	uint32_t *remap;    /* a text label's first-appearance index -> class index */
	uint32_t *lane;     /* n_cols: numeric columns from column i on, the record's last not counted */
	bool lane_stale;    /* a column's kind was fixed since lane was computed */
};

struct api_csv *api_csv_create(const struct api_csv_opts *opts, api_csv_row_fn on_row, void *ctx)
{
	struct api_csv *csv = api_calloc(1, sizeof *csv);

	if (!csv)
		return NULL;
	csv->opts = *opts;
	if (opts->label_name) {
		csv->label_name = api_strdup(opts->label_name);
		if (!csv->label_name) {
			free(csv);
			return NULL;
		}
	}
	csv->opts.label_name = csv->label_name;
	csv->delim = opts->delimiter ? opts->delimiter : ',';
	/* A label given by name needs a header line to find it in. */
	if (csv->label_name && csv->opts.header == API_CSV_HEADER_AUTO)
		csv->opts.header = API_CSV_HEADER_YES;
	csv->on_row = on_row;
	csv->ctx = ctx;
	csv->line = csv->next_line = 1;
	csv->first_record = true;
	csv->label = -1;
	return csv;
}

void api_csv_destroy(struct api_csv *csv)
{
	if (!csv)
		return;
	free(csv->values);
	free(csv->label_name);
	if (csv->first) {
		for (uint32_t i = 0; i < csv->n_first; i++)
			free(csv->first[i]);
		free(csv->first);
	}
	for (uint32_t i = 0; csv->cols && i < csv->n_cols; i++) {
		struct csv_col *c = &csv->cols[i];

		free(c->name);
		for (uint32_t k = 0; k < c->n_cats; k++)
			free(c->cats[k]);
		free(c->cats);
		free(c->cat_counts);
		free(c->slots);
	}
	free(csv->cols);
	free(csv->remap);
	free(csv->lane);
	free(csv);
}

uint32_t api_csv_n_features(const struct api_csv *csv)
{
	return csv->n_cols ? csv->n_cols - 1 : 0;
}

uint64_t api_csv_n_rows(const struct api_csv *csv)
{
	return csv->rows;
}

static int csv_error(struct api_csv *csv, struct api_err *err, const char *what)
{
	return api_fail(err, API_INVALID_CSV, NULL, "line %llu, column %u: %s", (unsigned long long)csv->line,
			csv->field + 1, what);
}


/* Strict decimal number, rounded once to float32 (api_float.c). */
static bool parse_number(const char *s, size_t len, float *out)
{
	return api_float_parse(s, len, out);
}

bool api_csv_missing(const char *s, size_t len)
{
	return len == 0 || (len == 2 && memcmp(s, "NA", 2) == 0) || (len == 3 && memcmp(s, "N/A", 3) == 0) ||
	       (len == 4 && memcmp(s, "null", 4) == 0) || (len == 1 && s[0] == '?');
}

/* Meant as a number, whether or not float32 holds it: the decimal syntax
 * (1e39 too), or inf, infinity, nan in any case with an optional sign. Such a
 * cell makes a column numeric, and is refused when it is not a finite float32
 * rather than taken as a category. */
static bool number_like(const char *s, size_t len)
{
	if (len && api_float_syntax(s, len) == len)
		return true;
	if (len && (*s == '+' || *s == '-'))
		s++, len--;
	return (len == 3 && (strncasecmp(s, "inf", 3) == 0 || strncasecmp(s, "nan", 3) == 0)) ||
	       (len == 8 && strncasecmp(s, "infinity", 8) == 0);
}

/* "name" of column i for messages (cut to NAME_SHOWN bytes). */
static void col_label(const struct api_csv *csv, uint32_t i, char *out, size_t size)
{
	const char *name = csv->cols ? csv->cols[i].name : "";

	snprintf(out, size, "\"%.*s%s\"", NAME_SHOWN, name, strlen(name) > NAME_SHOWN ? "..." : "");
}

static uint32_t hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* The slot of s in c's table: its index + 1 there, or the empty slot where it belongs. */
static uint32_t *cat_slot(const struct csv_col *c, const char *s, size_t len)
{
	uint32_t mask = c->n_slots - 1, i = hash_bytes(s, len) & mask;

	for (;;) {
		uint32_t *slot = &c->slots[i];

		if (*slot == 0 || (strlen(c->cats[*slot - 1]) == len && memcmp(c->cats[*slot - 1], s, len) == 0))
			return slot;
		i = (i + 1) & mask;
	}
}

/* The index of category s in column i, added when new. */
static int category(struct api_csv *csv, uint32_t i, const char *s, size_t len, uint32_t *index, struct api_err *err)
{
	struct csv_col *c = &csv->cols[i];
	uint32_t *slot;

	if (c->n_slots && *(slot = cat_slot(c, s, len))) {
		*index = *slot - 1;
		c->cat_counts[*index]++;
		return 0;
	}
	if (c->n_cats == API_CSV_MAX_CATEGORIES)
		return csv_error(csv, err, i == (uint32_t)csv->label
						   ? "the label has more than 1000 distinct text values, the limit"
						   : "the column has more than 1000 distinct text values, the limit (an id or "
						     "free text? leave it out of the upload)");
	/* Charged with its bookkeeping (pointer, count, two hash slots, the allocator's
	 * header), so that the limit bounds the memory, not only the text. */
	if (csv->category_bytes + len + 1 + CATEGORY_OVERHEAD > API_CSV_CATEGORY_BYTES)
		return csv_error(csv, err, "the categories of the upload need more than 16 MiB, the limit (too many distinct text values)");
	if (c->n_cats == c->cats_cap) {
		uint32_t cap = c->cats_cap ? 2 * c->cats_cap : 8;
		char **cats = api_realloc(c->cats, cap * sizeof *cats);
		uint64_t *counts;

		if (!cats)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		c->cats = cats;
		counts = api_realloc(c->cat_counts, cap * sizeof *counts);
		if (!counts)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		c->cat_counts = counts;
		c->cats_cap = cap;
	}
	if (2 * (c->n_cats + 1) > c->n_slots) {
		uint32_t n_slots = c->n_slots ? 2 * c->n_slots : 16;
		uint32_t *slots = api_calloc(n_slots, sizeof *slots), *old = c->slots;

		if (!slots)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		c->slots = slots;
		c->n_slots = n_slots;
		for (uint32_t k = 0; k < c->n_cats; k++)
			*cat_slot(c, c->cats[k], strlen(c->cats[k])) = k + 1;
		free(old);
	}
	c->cats[c->n_cats] = api_malloc(len + 1);
	if (!c->cats[c->n_cats])
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	memcpy(c->cats[c->n_cats], s, len);
	c->cats[c->n_cats][len] = '\0';
	*cat_slot(c, s, len) = c->n_cats + 1;
	c->cat_counts[c->n_cats] = 1;
	csv->category_bytes += len + 1 + CATEGORY_OVERHEAD;
	*index = c->n_cats++;
	return 0;
}

/* A number v of numeric column c into its statistics: data_cell's cells and
 * the fast lane's (api_csv_feed) alike. */
static inline void numeric_stat(struct csv_col *c, float v)
{
	if (c->count++ == 0)
		c->min = c->max = c->shift = v;
	if (v < c->min)
		c->min = v;
	if (v > c->max)
		c->max = v;
	{
		double d = (double)v - c->shift;

		c->sum += d;
		c->sum2 += d * d;
	}
}

/* Every data cell passes here: s[0..len) of column i to *out (a number, a
 * category's index or NaN for a missing cell), the column's statistics updated. */
static int data_cell(struct api_csv *csv, uint32_t i, const char *s, size_t len, float *out, struct api_err *err)
{
	struct csv_col *c = &csv->cols[i];
	char what[CELL_MAX + 2 * NAME_SHOWN + 96], name[NAME_SHOWN + 8];
	uint32_t index = 0;
	float v;

	if (api_csv_missing(s, len)) {
		if (i == (uint32_t)csv->label)
			return csv_error(csv, err, "the label is missing; every row needs one");
		c->missing++;
		csv->n_missing++;
		*out = NAN;
		return 0;
	}
	if (c->kind == COL_UNKNOWN) {
		c->kind = number_like(s, len) ? COL_NUMERIC : COL_CATEGORICAL;
		csv->lane_stale = true;
	}
	if (c->kind == COL_CATEGORICAL) {
		if (category(csv, i, s, len, &index, err))
			return -1;
		c->count++;
		*out = (float)index;
		return 0;
	}
	if (!parse_number(s, len, &v)) {
		col_label(csv, i, name, sizeof name);
		if (number_like(s, len) || c->count == 0)
			snprintf(what, sizeof what, "\"%.40s%s\" is not a finite number", s, len > 40 ? "..." : "");
		else
			snprintf(what, sizeof what, "\"%.40s%s\" is not a finite number, and column %s holds numbers", s,
				 len > 40 ? "..." : "", name);
		return csv_error(csv, err, what);
	}
	numeric_stat(c, v);
	*out = v;
	return 0;
}

/* A cell is complete: keep it (the first record) or store it in the record. */
static int end_cell(struct api_csv *csv, struct api_err *err)
{
	char *s = csv->cell;
	size_t len = csv->cell_len;

	/* Unquoted cells may carry spaces around the number. */
	if (!csv->cell_quoted) {
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		while (len && (*s == ' ' || *s == '\t'))
			s++, len--;
	}
	s[len] = '\0';
	if (csv->first_record && csv->field >= API_CSV_MAX_COLUMNS)
		return csv_error(csv, err, "too many columns (the limit of a CSV upload is 65536)");
	if (!csv->first_record && csv->field >= csv->n_cols) {
		char what[96];

		snprintf(what, sizeof what, "expected %u columns, found more", csv->n_cols);
		return csv_error(csv, err, what);
	}
	if (csv->field >= csv->values_cap) {
		size_t cap = csv->values_cap ? csv->values_cap * 2 : 64;
		float *p = api_realloc(csv->values, cap * sizeof *p);

		if (!p)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		csv->values = p;
		if (csv->first_record) {
			char **f = api_realloc(csv->first, cap * sizeof *f);

			if (!f)
				return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			csv->first = f;
		}
		csv->values_cap = cap;
	}
	if (csv->first_record) {
		float v;

		/* Maybe a header, maybe data: keep the text until the record ends. */
		csv->first[csv->field] = api_malloc(len + 1);
		if (!csv->first[csv->field])
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		memcpy(csv->first[csv->field], s, len + 1);
		csv->n_first++;
		if (!parse_number(s, len, &v))
			csv->first_text = true;
	} else if (data_cell(csv, csv->field, s, len, &csv->values[csv->field], err)) {
		return -1;
	}
	csv->field++;
	csv->cell_len = 0;
	csv->cell_quoted = false;
	return 0;
}

/* "the columns are: a, b, c" for a label that names none of them. */
static int no_such_label(struct api_csv *csv, struct api_err *err)
{
	char list[400];
	size_t len = 0;
	uint32_t i;

	for (i = 0; i < csv->n_cols && len + NAME_SHOWN + 8 < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%.*s\"", i ? ", " : "", NAME_SHOWN,
					csv->cols[i].name);
	if (i < csv->n_cols)
		snprintf(list + len, sizeof list - len, " and %u more", csv->n_cols - i);
	return api_fail(err, API_VALIDATION_FAILED, "label",
			"the header has no column named \"%s\"; its %u columns are %s%s", csv->opts.label_name,
			csv->n_cols, list,
			csv->n_cols == 1 ? " (a file separated by ';' or tabs needs ?delimiter=%3B or ?delimiter=tab; "
					   "curl -d strips newlines: use --data-binary)"
					 : "");
}

/* Resolves the label column once the column count is known. */
static int resolve_label(struct api_csv *csv, struct api_err *err, bool header)
{
	if (csv->n_cols < 2) {
		const char *first = csv->cols ? csv->cols[0].name : "";

		return api_fail(err, API_INVALID_CSV, NULL,
				"line %llu: a dataset needs at least two columns (features and a label)%s",
				(unsigned long long)csv->line,
				csv->delim == ',' && (strchr(first, ';') || strchr(first, '\t') || strchr(first, '|'))
					? "; the line holds ';', '|' or tabs: give ?delimiter=%3B, ?delimiter=%7C or "
					  "?delimiter=tab"
					: "");
	}
	if (csv->opts.label_name) {
		if (!header)
			return api_fail(err, API_VALIDATION_FAILED, "label",
					"label \"%s\" is a column name, but the CSV has no header line (give a 0-based "
					"index instead)",
					csv->opts.label_name);
		for (uint32_t i = 0; i < csv->n_cols && csv->label < 0; i++)
			if (strcmp(csv->cols[i].name, csv->opts.label_name) == 0)
				csv->label = i;
		if (csv->label < 0)
			return no_such_label(csv, err);
	} else if (csv->opts.label_index < 0) {
		csv->label = (long)csv->n_cols - 1;
	} else if (csv->opts.label_index >= (long)csv->n_cols) {
		return api_fail(err, API_VALIDATION_FAILED, "label", "label column %ld is past the %u columns",
				csv->opts.label_index, csv->n_cols);
	} else {
		csv->label = csv->opts.label_index;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct csv_col *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The first record is complete: the columns, named by it (a header) or
 * column_1, column_2, ... (then it is data, and its cells go through data_cell). */
static int first_record(struct api_csv *csv, bool header, struct api_err *err)
{
	csv->cols = api_calloc(csv->n_cols, sizeof *csv->cols);
	csv->lane = api_calloc(csv->n_cols, sizeof *csv->lane);
	csv->lane_stale = true;
	if (!csv->cols || !csv->lane)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	for (uint32_t i = 0; i < csv->n_cols; i++) {
		char gen[32];
		const char *name = csv->first[i];

		if (!header || !name[0]) {
			snprintf(gen, sizeof gen, "column_%u", i + 1);
			name = gen;
		}
		csv->cols[i].name = api_strdup(name);
		if (!csv->cols[i].name)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	if (header && csv->n_cols > 1) {
		struct csv_col **sorted = api_malloc(csv->n_cols * sizeof *sorted);

		if (!sorted)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		for (uint32_t i = 0; i < csv->n_cols; i++)
			sorted[i] = &csv->cols[i];
		qsort(sorted, csv->n_cols, sizeof *sorted, by_name);
		for (uint32_t i = 1; i < csv->n_cols; i++) {
			if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
				char what[NAME_SHOWN + 64];
				uint32_t a = (uint32_t)(sorted[i - 1] - csv->cols), b = (uint32_t)(sorted[i] - csv->cols);

				snprintf(what, sizeof what, "two columns are named \"%.*s\" (columns %u and %u)", NAME_SHOWN,
					 sorted[i]->name, (a < b ? a : b) + 1, (a < b ? b : a) + 1);
				free(sorted);
				csv->field = a > b ? a : b;
				return csv_error(csv, err, what);
			}
		}
		free(sorted);
	}
	if (resolve_label(csv, err, header))
		return -1;
	if (!header) {
		for (uint32_t i = 0; i < csv->n_cols; i++) {
			const char *cell = csv->first[i];

			csv->field = i;
			if (data_cell(csv, i, cell, strlen(cell), &csv->values[i], err))
				return -1;
		}
		csv->field = csv->n_cols;
	}
	for (uint32_t i = 0; i < csv->n_first; i++)
		free(csv->first[i]);
	free(csv->first);
	csv->first = NULL;
	csv->n_first = 0;
	return 0;
}

/* A record is complete. */
static int end_record(struct api_csv *csv, struct api_err *err)
{
	uint32_t n_features;
	float label;

	/* A blank line is not a record. */
	if (csv->field == 0 && csv->cell_len == 0 && !csv->cell_quoted)
		goto next;
	if (end_cell(csv, err))
		return -1;
	if (csv->first_record) {
		bool header = csv->opts.header == API_CSV_HEADER_YES ||
			      (csv->opts.header == API_CSV_HEADER_AUTO && csv->first_text);

		csv->n_cols = csv->field;
		csv->first_record = false;
		if (first_record(csv, header, err))
			return -1;
		if (header)
			goto next;
	} else if (csv->field != csv->n_cols) {
		char what[96];

		csv->field--; /* name the last column read */
		snprintf(what, sizeof what, "expected %u columns, found %u", csv->n_cols, csv->field + 1);
		return csv_error(csv, err, what);
	}
	if (csv->rows >= csv->opts.max_rows)
		return api_fail(err, API_PAYLOAD_TOO_LARGE, NULL, "the CSV has more than %llu rows, the limit",
				(unsigned long long)csv->opts.max_rows);
	if ((csv->rows + 1) * csv->n_cols > csv->opts.max_cells)
		return api_fail(err, API_PAYLOAD_TOO_LARGE, NULL, "the CSV has more than %llu values, the limit",
				(unsigned long long)csv->opts.max_cells);
	/* Move the label to the end; the features keep their order. */
	label = csv->values[csv->label];
	memmove(csv->values + csv->label, csv->values + csv->label + 1,
		(csv->n_cols - 1 - (size_t)csv->label) * sizeof(float));
	n_features = csv->n_cols - 1;
	csv->rows++;
	if (csv->on_row(csv->ctx, csv->values, n_features, label, err))
		return -1;
next:
	csv->field = 0;
	csv->cell_len = 0;
	csv->cell_quoted = false;
	csv->state = CSV_FIELD_START;
	csv->line = ++csv->next_line;
	return 0;
}

static int put_char(struct api_csv *csv, char c, struct api_err *err)
{
	if (csv->cell_len >= CELL_MAX)
		return csv_error(csv, err, "cell longer than 256 bytes");
	csv->cell[csv->cell_len++] = c;
	return 0;
}

/* The delimiter ends the cell; CR or LF the record (a CR swallows a following LF). */
static int end_of(struct api_csv *csv, char c, struct api_err *err)
{
	if (c == csv->delim) {
		csv->state = CSV_FIELD_START;
		return end_cell(csv, err);
	}
	csv->skip_lf = c == '\r';
	return end_record(csv, err);
}

/* lane[i]: how many columns from i on are numeric, in a row, the record's last never counted. */
static void lane_update(struct api_csv *csv)
{
	uint32_t run = 0;

	csv->lane[csv->n_cols - 1] = 0;
	for (uint32_t i = csv->n_cols - 1; i-- > 0;)
		csv->lane[i] = run = csv->cols[i].kind == COL_NUMERIC ? run + 1 : 0;
	csv->lane_stale = false;
}

int api_csv_feed(struct api_csv *csv, const char *data, size_t len, struct api_err *err)
{
	static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (!csv->bom_checked) {
			if ((unsigned char)c == bom[csv->bom_seen]) {
				if (++csv->bom_seen == 3)
					csv->bom_checked = true;
				continue;
			}
			if (csv->bom_seen)
				return api_fail(err, API_INVALID_CSV, NULL, "line 1: the body starts with a broken UTF-8 BOM");
			csv->bom_checked = true;
		}
		if (csv->skip_lf) {
			csv->skip_lf = false;
			if (c == '\n')
				continue;
		}
		switch (csv->state) {
		case CSV_FIELD_START:
			if (!csv->first_record && csv->lane && csv->lane_stale)
				lane_update(csv);
			if (!csv->first_record && csv->lane && csv->cell_len == 0 && csv->field + 1 < csv->n_cols &&
			    csv->lane[csv->field]) {
				/* plain numeric cells of numeric columns before the record's last:
				 * straight into values and the columns' statistics (a missing
				 * token, a text or spaced cell stops the lane: data_cell judges it) */
				uint32_t k, f = csv->field;
				size_t used = api_csv_fast_cells(data + i, len - i, csv->delim, csv->values + f, csv->lane[f],
								 &k);

				if (k) {
					for (uint32_t j = 0; j < k; j++)
						numeric_stat(&csv->cols[f + j], csv->values[f + j]);
					csv->field += k;
					i += used - 1;
					break;
				}
			}
			if (c == '"') {
				csv->state = CSV_QUOTED;
				csv->cell_quoted = true;
				continue;
			}
			csv->state = CSV_UNQUOTED;
			/* fall through */
		case CSV_UNQUOTED:
			if (c != csv->delim && c != '\n' && c != '\r' && c != '"') {
				/* the cell's bytes up to the next special one, at once */
				size_t n = api_csv_scan(data + i, len - i, csv->delim);

				if (n > CELL_MAX - csv->cell_len)
					return csv_error(csv, err, "cell longer than 256 bytes");
				memcpy(csv->cell + csv->cell_len, data + i, n);
				csv->cell_len += n;
				i += n - 1;
				break;
			}
			if (c == csv->delim || c == '\n' || c == '\r') {
				if (end_of(csv, c, err))
					return -1;
			} else if (c == '"') {
				return csv_error(csv, err, "a quote inside an unquoted cell");
			} else if (put_char(csv, c, err)) {
				return -1;
			}
			break;
		case CSV_QUOTED:
			if (c == '"') {
				csv->state = CSV_QUOTE_IN_QUOTED;
				break;
			}
			if (c == '\n')
				csv->next_line++;
			if (put_char(csv, c, err))
				return -1;
			break;
		case CSV_QUOTE_IN_QUOTED:
			if (c == '"') { /* "" is a literal quote */
				csv->state = CSV_QUOTED;
				if (put_char(csv, c, err))
					return -1;
				break;
			}
			csv->state = CSV_AFTER_QUOTE;
			/* fall through */
		case CSV_AFTER_QUOTE:
			if (c == csv->delim || c == '\n' || c == '\r') {
				if (end_of(csv, c, err))
					return -1;
			} else if (c != ' ' && c != '\t') {
				return csv_error(csv, err, "unexpected character after a closing quote");
			}
			break;
		}
	}
	return 0;
}

struct named_index {
	const char *name;
	uint32_t index;
};

static int by_category(const void *a, const void *b)
{
	return strcmp(((const struct named_index *)a)->name, ((const struct named_index *)b)->name);
}

/* A text label's classes in byte order (scikit-learn's LabelEncoder order), so
 * that two files with the same classes number them alike: reorders the
 * label's categories and keeps the map from the index of first appearance
 * (what on_row saw) to the sorted one for api_csv_label_remap. */
static int sort_label(struct api_csv *csv, struct api_err *err)
{
	struct csv_col *c = csv->cols ? &csv->cols[csv->label] : NULL;
	struct named_index *order;
	char **cats;
	uint64_t *counts;

	if (!c || c->kind != COL_CATEGORICAL || csv->remap)
		return 0;
	order = api_malloc(c->n_cats * sizeof *order);
	csv->remap = api_malloc(c->n_cats * sizeof *csv->remap);
	cats = api_malloc(c->n_cats * sizeof *cats);
	counts = api_malloc(c->n_cats * sizeof *counts);
	if (!order || !csv->remap || !cats || !counts) {
		free(order);
		free(cats);
		free(counts);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	for (uint32_t k = 0; k < c->n_cats; k++)
		order[k] = (struct named_index){c->cats[k], k};
	qsort(order, c->n_cats, sizeof *order, by_category);
	for (uint32_t k = 0; k < c->n_cats; k++) {
		cats[k] = c->cats[order[k].index];
		counts[k] = c->cat_counts[order[k].index];
		csv->remap[order[k].index] = k;
	}
	free(c->cats);
	free(c->cat_counts);
	free(order);
	c->cats = cats;
	c->cat_counts = counts;
	c->cats_cap = c->n_cats;
	free(c->slots); /* no lookups after the end */
	c->slots = NULL;
	c->n_slots = 0;
	return 0;
}

const uint32_t *api_csv_label_remap(const struct api_csv *csv, uint32_t *n)
{
	*n = csv->remap ? csv->cols[csv->label].n_cats : 0;
	return csv->remap;
}

int api_csv_finish(struct api_csv *csv, struct api_err *err)
{
	if (csv->state == CSV_QUOTED)
		return csv_error(csv, err, "the body ends inside a quoted cell");
	if ((csv->field > 0 || csv->cell_len > 0 || csv->cell_quoted) && end_record(csv, err))
		return -1;
	if (csv->rows == 0)
		return api_fail(err, API_INVALID_CSV, NULL, "the CSV has no data rows");
	return sort_label(csv, err);
}

/* ---- what the upload learned of its columns ------------------------------------------------ */

uint32_t api_csv_n_categorical(const struct api_csv *csv)
{
	uint32_t n = 0;

	for (uint32_t i = 0; csv->cols && i < csv->n_cols; i++)
		n += i != (uint32_t)csv->label && csv->cols[i].kind == COL_CATEGORICAL;
	return n;
}

uint32_t api_csv_encoded_width(const struct api_csv *csv)
{
	uint32_t n = 0;

	for (uint32_t i = 0; csv->cols && i < csv->n_cols; i++)
		if (i != (uint32_t)csv->label)
			n += csv->cols[i].kind == COL_CATEGORICAL ? csv->cols[i].n_cats : 1;
	return n;
}

uint64_t api_csv_n_missing(const struct api_csv *csv)
{
	return csv->n_missing;
}

static cJSON *categories_json(const struct csv_col *c, bool with_counts)
{
	cJSON *arr = cJSON_CreateArray();

	for (uint32_t k = 0; arr && k < c->n_cats; k++) {
		if (!with_counts) {
			api_json_append(arr, cJSON_CreateString(c->cats[k]));
			continue;
		}
		cJSON *o = api_json_append(arr, cJSON_CreateObject());

		if (o) {
			cJSON_AddStringToObject(o, "value", c->cats[k]);
			api_add_number(o, "count", (double)c->cat_counts[k]);
		}
	}
	return arr;
}

char *api_csv_columns_encode(const struct api_csv *csv)
{
	unsigned long failures = api_alloc_failures();
	cJSON *arr = cJSON_CreateArray();

	for (uint32_t i = 0; arr && csv->cols && i < csv->n_cols; i++) {
		const struct csv_col *c = &csv->cols[i];
		cJSON *o = api_json_append(arr, cJSON_CreateObject());
		bool numeric = c->kind != COL_CATEGORICAL;

		if (!o)
			break;
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "role", i == (uint32_t)csv->label ? "label" : "feature");
		cJSON_AddStringToObject(o, "kind", numeric ? "numeric" : "categorical");
		api_add_number(o, "count", (double)c->count);
		api_add_number(o, "missing", (double)c->missing);
		if (numeric) {
			/* population standard deviation (ddof 0), as NumPy's std, from sums
			 * shifted by the first value (exact enough in doubles for float32 data) */
			double n = (double)c->count, mean = c->count ? c->shift + c->sum / n : NAN;
			double var = c->count ? (c->sum2 - c->sum * c->sum / n) / n : NAN;
			double sd = c->count ? sqrt(var > 0 ? var : 0) : NAN;

			api_json_add(o, "min", api_json_float_or_null(c->count ? (float)c->min : NAN));
			api_json_add(o, "max", api_json_float_or_null(c->count ? (float)c->max : NAN));
			api_json_add(o, "mean", api_json_number_or_null(mean));
			api_json_add(o, "std", api_json_number_or_null(sd));
		} else {
			api_json_add(o, "categories", categories_json(c, true));
		}
	}
	return api_json_print_free(arr, failures);
}

char *api_csv_class_names_encode(const struct api_csv *csv, bool *oom)
{
	unsigned long failures = api_alloc_failures();
	const struct csv_col *c;
	char *text;

	*oom = false;
	if (!csv->cols || csv->label < 0 || csv->cols[csv->label].kind != COL_CATEGORICAL)
		return NULL;
	c = &csv->cols[csv->label];
	text = api_json_print_free(categories_json(c, false), failures);
	*oom = !text;
	return text;
}
