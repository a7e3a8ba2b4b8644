/*
 * api_csv.c — incremental CSV reader for dataset uploads.
 *
 * DESIGN
 * A byte-at-a-time state machine (RFC 4180: commas, optional double quotes
 * with "" escapes, CRLF or LF line ends, an optional UTF-8 BOM) that keeps only
 * the cell being read and the values of the current row, so the memory of an
 * upload is bounded by one row whatever the size of the body. The first
 * record fixes the column count; the header, when there is one, is only
 * scanned for the label column's name. Every cell of a data row must be a
 * decimal number; errors name the line (1-based, counting the header) and
 * the column (1-based field number). An unquoted cell's bytes are found
 * many at a time (api_csv_scan.c) and copied at once; plain numeric cells of
 * a data row but its last go straight into the values (api_csv_fast_cells),
 * everything else through the state machine.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define CELL_MAX 256

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

/* A cell is complete: store it in the record (or match it against the label name). */
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
	if (csv->first_record && csv->field >= NN_MAX_INPUT_DIM + 1)
		return csv_error(csv, err, "too many columns");
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
		csv->values_cap = cap;
	}
	if (csv->first_record && csv->opts.header != API_CSV_HEADER_NO) {
		/* Maybe a header: look for the label's name, note text. */
		if (csv->opts.label_name && strcmp(s, csv->opts.label_name) == 0 && csv->label < 0)
			csv->label = csv->field;
		if (!parse_number(s, len, &csv->values[csv->field]))
			csv->first_text = true;
	} else if (len == 0) {
		return csv_error(csv, err, "empty cell; every cell must be a number");
	} else if (!parse_number(s, len, &csv->values[csv->field])) {
		char what[CELL_MAX + 64];

		snprintf(what, sizeof what, "\"%.40s%s\" is not a finite number", s, len > 40 ? "..." : "");
		return csv_error(csv, err, what);
	}
	csv->field++;
	csv->cell_len = 0;
	csv->cell_quoted = false;
	return 0;
}

/* Resolves the label column once the column count is known. */
static int resolve_label(struct api_csv *csv, struct api_err *err, bool header)
{
	if (csv->n_cols < 2)
		return api_fail(err, API_INVALID_CSV, NULL,
				"line %llu: a dataset needs at least two columns (features and a label)",
				(unsigned long long)csv->line);
	if (csv->opts.label_name) {
		if (!header)
			return api_fail(err, API_VALIDATION_FAILED, "label",
					"label \"%s\" is a column name, but the CSV has no header line (give a 0-based "
					"index instead)",
					csv->opts.label_name);
		if (csv->label < 0)
			return api_fail(err, API_VALIDATION_FAILED, "label", "the header has no column named \"%s\"",
					csv->opts.label_name);
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
		if (!header)
			csv->label = -1; /* a name matched a number: not a header after all */
		if (resolve_label(csv, err, header))
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

/* A comma ends the cell; CR or LF the record (a CR swallows a following LF). */
static int end_of(struct api_csv *csv, char c, struct api_err *err)
{
	if (c == ',') {
		csv->state = CSV_FIELD_START;
		return end_cell(csv, err);
	}
	csv->skip_lf = c == '\r';
	return end_record(csv, err);
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
			if (!csv->first_record && csv->cell_len == 0 && csv->field + 1 < csv->n_cols) {
				/* plain numeric cells before the record's last: straight into values */
				uint32_t k;
				size_t used = api_csv_fast_cells(data + i, len - i, ',', csv->values + csv->field,
								 csv->n_cols - 1 - csv->field, &k);

				if (k) {
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
			if (c != ',' && c != '\n' && c != '\r' && c != '"') {
				/* the cell's bytes up to the next special one, at once */
				size_t n = api_csv_scan(data + i, len - i, ',');

				if (n > CELL_MAX - csv->cell_len)
					return csv_error(csv, err, "cell longer than 256 bytes");
				memcpy(csv->cell + csv->cell_len, data + i, n);
				csv->cell_len += n;
				i += n - 1;
				break;
			}
			if (c == ',' || c == '\n' || c == '\r') {
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
			if (c == ',' || c == '\n' || c == '\r') {
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

int api_csv_finish(struct api_csv *csv, struct api_err *err)
{
	if (csv->state == CSV_QUOTED)
		return csv_error(csv, err, "the body ends inside a quoted cell");
	if ((csv->field > 0 || csv->cell_len > 0 || csv->cell_quoted) && end_record(csv, err))
		return -1;
	if (csv->rows == 0)
		return api_fail(err, API_INVALID_CSV, NULL, "the CSV has no data rows");
	return 0;
}
