/*
 * test_api_csv.c — api/api_csv.c: the incremental CSV reader of dataset
 * uploads.
 *
 * Every case of the table is fed in several ways — whole, byte by byte, in
 * chunks of two, and in random chunk sizes (with empty feeds between them) —
 * and each way must give exactly the expected rows, or exactly the expected
 * error: the reader's state must not depend on where the network split the
 * body. Each chunk is copied into a heap block of its own length, so under
 * AddressSanitizer a read past a chunk fails the test.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_csv(void);

/* ---- feeding -------------------------------------------------------------------- */

struct rows {
	float *v; /* each row: its features, then its label */
	size_t n, cap;
	uint32_t n_features;
	uint64_t calls;
	bool width_changed;
	long fail_at; /* the callback refuses this row (0-based), -1 never */
};

static int collect(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	struct rows *r = ctx;

	if (r->calls > 0 && n_features != r->n_features)
		r->width_changed = true;
	r->n_features = n_features;
	if ((long)r->calls == r->fail_at) {
		r->calls++;
		return api_fail(err, API_UNAVAILABLE, NULL, "the store refused row %ld", r->fail_at);
	}
	r->calls++;
	if (r->n + n_features + 1 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;

		while (cap < r->n + n_features + 1)
			cap *= 2;
		r->v = realloc(r->v, cap * sizeof *r->v);
		ck_assert_ptr_nonnull(r->v);
		r->cap = cap;
	}
	memcpy(r->v + r->n, features, n_features * sizeof *features);
	r->v[r->n + n_features] = label;
	r->n += n_features + 1;
	return 0;
}

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_PAIRS, SPLIT_RANDOM };
#define N_RANDOM_SEEDS 4

struct outcome {
	int rc;
	struct api_err err;
	struct rows rows;
	uint32_t n_features; /* api_csv_n_features at the end */
	uint64_t n_rows;     /* api_csv_n_rows at the end */
};

static uint32_t next_random(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

/* One feed of bytes [at, at + n) in its own exact-size block. */
static int feed_chunk(struct api_csv *csv, const char *input, size_t at, size_t n, struct api_err *err)
{
	char *chunk = malloc(n ? n : 1);
	int rc;

	ck_assert_ptr_nonnull(chunk);
	if (n)
		memcpy(chunk, input + at, n);
	rc = api_csv_feed(csv, chunk, n, err);
	free(chunk);
	return rc;
}

static void run(const char *input, size_t len, const struct api_csv_opts *opts, enum split split, uint32_t seed,
		long fail_at, struct outcome *out)
{
	struct api_csv *csv;
	uint32_t state = seed * 2654435761u + 1;
	size_t at = 0;

	memset(out, 0, sizeof *out);
	out->rows.fail_at = fail_at;
	csv = api_csv_create(opts, collect, &out->rows);
	ck_assert_ptr_nonnull(csv);
	while (at < len && out->rc == 0) {
		size_t n = split == SPLIT_WHOLE ? len : split == SPLIT_BYTES ? 1 : split == SPLIT_PAIRS ? 2
		                                                                                   : 1 + next_random(&state) % 17;

		if (n > len - at)
			n = len - at;
		if (split == SPLIT_RANDOM && next_random(&state) % 4 == 0)
			out->rc = feed_chunk(csv, input, at, 0, &out->err);
		if (out->rc == 0)
			out->rc = feed_chunk(csv, input, at, n, &out->err);
		at += n;
	}
	if (out->rc == 0)
		out->rc = api_csv_finish(csv, &out->err);
	out->n_features = api_csv_n_features(csv);
	out->n_rows = api_csv_n_rows(csv);
	api_csv_destroy(csv);
}

/* ---- the cases -------------------------------------------------------------------- */

#define MAX_VALUES 24

struct csv_case {
	const char *input;
	size_t len;                 /* 0: strlen(input) */
	enum api_csv_header header; /* default AUTO */
	const char *label;          /* as the query gives it: NULL (last column), an index or a name */
	uint64_t max_rows;          /* 0: 1000 */
	uint64_t max_cells;         /* 0: 100000 */
	char delimiter;             /* 0: ',' */
	/* accepted: */
	uint32_t n_features;
	size_t n_values;
	float values[MAX_VALUES];
	/* refused (code != API_OK): */
	enum api_code code;
	const char *field;
	const char *message;        /* the whole message */
};

#define ROWS(...) .n_values = sizeof((float[]){__VA_ARGS__}) / sizeof(float), .values = {__VA_ARGS__}
#define FAIL(c, f, m) .code = (c), .field = (f), .message = (m)
#define BAD(m) FAIL(API_INVALID_CSV, "", m)

static const struct csv_case cases[] = {
	/* line ends: LF, CRLF, CR, none at the end, blank lines anywhere */
	{"a,b,c\n1,2,3\n4,5,6\n", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b,c\r\n1,2,3\r\n4,5,6\r\n", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b,c\r1,2,3\r4,5,6\r", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b,c\n1,2,3\n4,5,6", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b,c\r\n1,2,3\r\n4,5,6", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"\n\na,b,c\r\n\r\n1,2,3\n\n\n4,5,6\r\n\r\n\n", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b\r\r\n1,2\r\r\n3,4", .n_features = 1, ROWS(1, 2, 3, 4)},
	/* a UTF-8 byte order mark, with and without a header */
	{"\xEF\xBB\xBF" "a,b\n1,2\n", .n_features = 1, ROWS(1, 2)},
	{"\xEF\xBB\xBF" "1,2\n3,4\n", .n_features = 1, ROWS(1, 2, 3, 4)},
	{"\xEF\xBB\xBF\"a\",b\n1,2\n", .n_features = 1, ROWS(1, 2)},
	/* quoted cells, "" escapes, separators and line ends inside quotes */
	{"\"a\",\"b\"\n\"1.5\",\"-2\"\n", .n_features = 1, ROWS(1.5f, -2)},
	{"\"1\",\"2\"\n3,4\n", .n_features = 1, ROWS(1, 2, 3, 4)},
	{"\"x \"\"1\"\"\",\"y,2\",target\n1,2,3\n", .label = "y,2", .n_features = 2, ROWS(1, 3, 2)},
	{"\"x \"\"1\"\"\",\"y,2\",target\n1,2,3\n", .label = "x \"1\"", .n_features = 2, ROWS(2, 3, 1)},
	{"\"multi\nline\",b\n1,2\n", .n_features = 1, ROWS(1, 2)},
	{"\"a\"  ,b\n\"1\" ,2\n", .n_features = 1, ROWS(1, 2)},
	/* spaces and tabs around unquoted numbers; every decimal spelling */
	{"a,b\n 1 , 2\t\n", .n_features = 1, ROWS(1, 2)},
	{"a,b,c,d,e,f\n+1,-2.5,.5,5.,1e3,-2E-2\n", .n_features = 5, ROWS(1, -2.5f, 0.5f, 5, 1000, -0.02f)},
	{"a,b\n0.1,1e-50\n", .n_features = 1, ROWS(0.1f, 0)},
	/* float32's extremes: a decimal that rounds to FLT_MAX is finite as a float
	 * (numpy writes float32 max as 3.4028235e+38, fitd's own %.9g as
	 * 3.40282347e+38); one past the rounding midpoint is not */
	{"a,b\n1,3.4028235e38\n", .n_features = 1, ROWS(1, FLT_MAX)},
	{"a,b\n-3.40282347e+38,1\n", .n_features = 1, ROWS(-FLT_MAX, 1)},
	{"a,b\n1,3.4028236e38\n", BAD("line 2, column 2: \"3.4028236e38\" is not a finite number")},
	/* header: AUTO (a text cell in the first line), YES, NO */
	{"1,2\n3,4\n", .n_features = 1, ROWS(1, 2, 3, 4)},
	{"1,2\n3,4\n", .header = API_CSV_HEADER_YES, .n_features = 1, ROWS(3, 4)},
	{"1,2\n3,4\n", .header = API_CSV_HEADER_NO, .n_features = 1, ROWS(1, 2, 3, 4)},
	{"1,b\n3,4\n", .n_features = 1, ROWS(3, 4)},
	{"a,b\n1,2\n", .header = API_CSV_HEADER_NO, .n_features = 1, ROWS(0, 0, 1, 1)}, /* text: categories in order */
	/* label: default last, by index, by name (which implies a header) */
	{"a,b,c\n9,1,2\n", .label = "0", .n_features = 2, ROWS(1, 2, 9)},
	{"a,b,c\n9,1,2\n", .label = "1", .n_features = 2, ROWS(9, 2, 1)},
	{"a,b,c\n9,1,2\n", .label = "2", .n_features = 2, ROWS(9, 1, 2)},
	{"a,b,c\n9,1,2\n", .label = "a", .n_features = 2, ROWS(1, 2, 9)},
	{"a,target,c\n9,1,2\n", .label = "target", .n_features = 2, ROWS(9, 2, 1)},
	{"9,1,2\n", .label = "0", .n_features = 2, ROWS(1, 2, 9)},
	{"a,b\n1,2\n", .label = "z", FAIL(API_VALIDATION_FAILED, "label", "the header has no column named \"z\"; its 2 columns are \"a\", \"b\"")},
	{"a,b\n1,2\n", .label = "A", FAIL(API_VALIDATION_FAILED, "label", "the header has no column named \"A\"; its 2 columns are \"a\", \"b\"")},
	{"1,2\n3,4\n", .label = "b", .header = API_CSV_HEADER_NO,
	 FAIL(API_VALIDATION_FAILED, "label",
	      "label \"b\" is a column name, but the CSV has no header line (give a 0-based index instead)")},
	{"a,b\n1,2\n", .label = "2", FAIL(API_VALIDATION_FAILED, "label", "label column 2 is past the 2 columns")},
	/* bad cells: the message names the line (1-based, counting the header and
	 * blank lines) and the column (1-based) */
	{"a,b\n1,2\n3,x\n", BAD("line 3, column 2: \"x\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\r\n1,2\r\n3,y\r\n", BAD("line 3, column 2: \"y\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\r1,2\r3,y\r", BAD("line 3, column 2: \"y\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n\n1,2\n\n\n3,z\n", BAD("line 6, column 2: \"z\" is not a finite number, and column \"b\" holds numbers")},
	{"\"multi\nline\",b\n1,2\n3,x\n", BAD("line 4, column 2: \"x\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n0,2\n\"1\n\",2\n", BAD("line 3, column 1: \"1\n\" is not a finite number, and column \"a\" holds numbers")},
	{"a,b,c\n1,2,3\nq,5,6\n", BAD("line 3, column 1: \"q\" is not a finite number, and column \"a\" holds numbers")},
	{"a,b\n1,inf\n", BAD("line 2, column 2: \"inf\" is not a finite number")},
	{"a,b\n1,-inf\n", BAD("line 2, column 2: \"-inf\" is not a finite number")},
	{"a,b\n1,Infinity\n", BAD("line 2, column 2: \"Infinity\" is not a finite number")},
	{"a,b\nnan,1\n", BAD("line 2, column 1: \"nan\" is not a finite number")},
	{"a,b\n1,NaN\n", BAD("line 2, column 2: \"NaN\" is not a finite number")},
	{"a,b\n1,2\n1,0x10\n", BAD("line 3, column 2: \"0x10\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,0x1p3\n", BAD("line 3, column 2: \"0x1p3\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,1e999\n", BAD("line 2, column 2: \"1e999\" is not a finite number")},
	{"a,b\n1,1e39\n", BAD("line 2, column 2: \"1e39\" is not a finite number")},
	{"a,b\n1,2\n1,1.2.3\n", BAD("line 3, column 2: \"1.2.3\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,1e\n", BAD("line 3, column 2: \"1e\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,+\n", BAD("line 3, column 2: \"+\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,.\n", BAD("line 3, column 2: \".\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,1_000\n", BAD("line 3, column 2: \"1_000\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,1 2\n", BAD("line 3, column 2: \"1 2\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,\" 2\"\n", BAD("line 3, column 2: \" 2\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,true\n", BAD("line 3, column 2: \"true\" is not a finite number, and column \"b\" holds numbers")},
	{"a,b\n1,2\n1,aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeee\n",
	 BAD("line 3, column 2: \"aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd...\" is not a finite number, and column \"b\" holds numbers")},
	/* missing cells: empty, NA, N/A, null, ? (quoted too) are NaN in a feature, refused in the label */
	{"a,b\n1,\n", BAD("line 2, column 2: the label is missing; every row needs one")},
	{"a,b\n,1\n", .n_features = 1, ROWS(NAN, 1)},
	{"a,b\n1,\"\"\n", BAD("line 2, column 2: the label is missing; every row needs one")},
	{"a,b\n1,  \n", BAD("line 2, column 2: the label is missing; every row needs one")},
	{"a,b\n1,2\n3,", BAD("line 3, column 2: the label is missing; every row needs one")},
	{"a,b,c\nNA,N/A,1\nnull,?,2\n\"NA\",  ,3\n4,x,4\n", .n_features = 2, ROWS(NAN, NAN, 1, NAN, NAN, 2, NAN, NAN, 3, 4, 0, 4)},
	{"a,b\nna,1\n", .n_features = 1, ROWS(0, 1)}, /* tokens are case-sensitive: "na" is text */
	{"a,b\nNA,1\n2,NA\n", BAD("line 3, column 2: the label is missing; every row needs one")},
	/* kinds: a column's first value decides; text labels are class indices in order of appearance */
	{"x,y\n1,cat\n2,dog\n3,cat\n", .n_features = 1, ROWS(1, 0, 2, 1, 3, 0)},
	{"x,y\nred,1\n7,2\nred,3\n", .n_features = 1, ROWS(0, 1, 1, 2, 0, 3)}, /* "7" is a category here */
	{"x,y\n,1\nred,2\n", .n_features = 1, ROWS(NAN, 1, 0, 2)},
	{"a,a\n1,2\n", BAD("line 1, column 2: two columns are named \"a\" (columns 1 and 2)")},
	{"a;b\n1;2\n", BAD("line 1: a dataset needs at least two columns (features and a label); the line holds ';', '|' or tabs: give ?delimiter=%3B, ?delimiter=%7C or ?delimiter=tab")},
	/* delimiters */
	{"a;b;c\n1;2;3\n", .delimiter = ';', .n_features = 2, ROWS(1, 2, 3)},
	{"a\tb\n1\t2\n", .delimiter = '\t', .n_features = 1, ROWS(1, 2)},
	{"a|b\n\"x|y\"|2\n", .delimiter = '|', .n_features = 1, ROWS(0, 2)},
	{"a;b\n1,5;2\n", .delimiter = ';', .n_features = 1, ROWS(0, 2)}, /* "1,5" is text, not a number */
	/* the fast lane (rows after the first data row, numeric columns) with the
	 * upload's delimiter: ',' is an ordinary byte of a ';' or tab file */
	{"a;b;c\n1;2;3\n4.5;5;6\n7;8e1;9\n", .delimiter = ';', .n_features = 2, ROWS(1, 2, 3, 4.5f, 5, 6, 7, 80, 9)},
	{"a\tb\tc\n1\t2\t3\n4\t5\t6\n", .delimiter = '\t', .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a;b;c\n1;2;3\n4,5;6;7\n", .delimiter = ';', BAD("line 3, column 1: \"4,5\" is not a finite number, and column \"a\" holds numbers")},
	{"a|b|c\nx|1|2\ny,z|3|4\n", .delimiter = '|', .n_features = 2, ROWS(0, 1, 2, 1, 3, 4)},
	/* a categorical column keeps its digits as categories, later rows too */
	{"c,n,y\nred,1,0\n5,2,1\n5,3,0\n7,4,1\n", .n_features = 2, ROWS(0, 1, 0, 1, 2, 1, 1, 3, 0, 2, 4, 1)},
	/* missing tokens after numbers stay missing; an unknown column becomes numeric by data_cell */
	{"a,b,c,d\n1,2,NA,3\n,NA,4,5\nN/A,null,6,7\n?,8,  ,9\n10,11,12,13\n", .n_features = 3,
	 ROWS(1, 2, NAN, 3, NAN, NAN, 4, 5, NAN, NAN, 6, 7, NAN, 8, NAN, 9, 10, 11, 12, 13)},
	/* no header: the first record is data and fixes the kinds; the lane takes the rest */
	{"1,2,3\n4,5,6\n7,8,9\n", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6, 7, 8, 9)},
	{"1,x,3\n4,5,6\n", .header = API_CSV_HEADER_NO, .n_features = 2, ROWS(1, 0, 3, 4, 1, 6)},
	/* spaces, inf and nan in later rows: judged by data_cell, not the lane */
	{"a,b,c\n1,2,3\n 4 ,5 ,6\n", .n_features = 2, ROWS(1, 2, 3, 4, 5, 6)},
	{"a,b,c\n1,2,3\n4,inf,6\n", BAD("line 3, column 2: \"inf\" is not a finite number")},
	{"a;b\n1;2\n", .delimiter = ',', BAD("line 1: a dataset needs at least two columns (features and a label); the line holds ';', '|' or tabs: give ?delimiter=%3B, ?delimiter=%7C or ?delimiter=tab")},
	/* column counts: fixed by the first line */
	{"a,b\n1,2\n3\n", BAD("line 3, column 1: expected 2 columns, found 1")},
	{"a,b,c\n1,2,3\n4,5\n", BAD("line 3, column 2: expected 3 columns, found 2")},
	{"a,b,c\n1,2,3\n4,5", BAD("line 3, column 2: expected 3 columns, found 2")},
	{"a,b\n1,2,3\n", BAD("line 2, column 3: expected 2 columns, found more")},
	{"a,b\n1,2,\n", BAD("line 2, column 3: expected 2 columns, found more")},
	{"a\n1\n", BAD("line 1: a dataset needs at least two columns (features and a label)")},
	{"\n\n5\n", BAD("line 3: a dataset needs at least two columns (features and a label)")},
	/* quoting errors */
	{"a,b\n1,2\"3\n", BAD("line 2, column 2: a quote inside an unquoted cell")},
	{"a\"b,c\n1,2\n", BAD("line 1, column 1: a quote inside an unquoted cell")},
	{"a,b\n\"1\"x,2\n", BAD("line 2, column 1: unexpected character after a closing quote")},
	{"a,b\n1,\"2\n", BAD("line 2, column 2: the body ends inside a quoted cell")},
	{"a,b\n1,\"2\n3,4\n", BAD("line 2, column 2: the body ends inside a quoted cell")},
	/* a broken byte order mark */
	{"\xEF\xBB" "a,b\n1,2\n", BAD("line 1: the body starts with a broken UTF-8 BOM")},
	{"\xEF" "a,b\n1,2\n", BAD("line 1: the body starts with a broken UTF-8 BOM")},
	/* nothing to store */
	{"a,b\n", BAD("the CSV has no data rows")},
	{"a,b\n\n\r\n", BAD("the CSV has no data rows")},
	{"", BAD("the CSV has no data rows")},
	{"\n", BAD("the CSV has no data rows")},
	{"\xEF\xBB\xBF", BAD("the CSV has no data rows")},
	/* limits: 413 */
	{"a,b\n1,2\n3,4\n", .max_rows = 2, .n_features = 1, ROWS(1, 2, 3, 4)},
	{"a,b\n1,2\n3,4\n5,6\n", .max_rows = 2,
	 FAIL(API_PAYLOAD_TOO_LARGE, "", "the CSV has more than 2 rows, the limit")},
	{"1,2\n3,4\n5,6", .max_rows = 2, FAIL(API_PAYLOAD_TOO_LARGE, "", "the CSV has more than 2 rows, the limit")},
	{"a,b\n1,2\n3,4\n", .max_cells = 4, .n_features = 1, ROWS(1, 2, 3, 4)},
	{"a,b\n1,2\n3,4\n5,6\n", .max_cells = 5,
	 FAIL(API_PAYLOAD_TOO_LARGE, "", "the CSV has more than 5 values, the limit")},
};

static void opts_of(const struct csv_case *c, struct api_csv_opts *o)
{
	char *end;

	memset(o, 0, sizeof *o);
	o->header = c->header;
	o->label_index = -1;
	o->max_rows = c->max_rows ? c->max_rows : 1000;
	o->max_cells = c->max_cells ? c->max_cells : 100000;
	o->delimiter = c->delimiter;
	if (c->label) {
		long v = strtol(c->label, &end, 10);

		if (*c->label && !*end)
			o->label_index = v;
		else
			o->label_name = c->label;
	}
}

/* Checks one outcome against the case; how names the split. */
static void check_outcome(const struct csv_case *c, const struct outcome *o, const char *how)
{
	bool want_ok = c->code == API_OK;

	if (want_ok) {
		ck_assert_msg(o->rc == 0, "%s: %s %s: %s", how, api_code_name(o->err.code), o->err.field, o->err.message);
		ck_assert_msg(!o->rows.width_changed, "%s: rows of different widths", how);
		ck_assert_msg(o->n_features == c->n_features, "%s: n_features %u", how, o->n_features);
		ck_assert_msg(o->rows.n == c->n_values, "%s: %zu values, expected %zu", how, o->rows.n, c->n_values);
		ck_assert_msg(o->n_rows == c->n_values / (c->n_features + 1), "%s: n_rows %llu", how,
			      (unsigned long long)o->n_rows);
		for (size_t i = 0; i < c->n_values; i++)
			ck_assert_msg(o->rows.v[i] == c->values[i] || (isnan(o->rows.v[i]) && isnan(c->values[i])),
				      "%s: value %zu is %g, expected %g", how, i,
				      (double)o->rows.v[i], (double)c->values[i]);
	} else {
		ck_assert_msg(o->rc == -1, "%s: accepted", how);
		t_expect_err(&o->err, c->code, c->field, NULL, how);
		ck_assert_msg(strcmp(o->err.message, c->message) == 0, "%s: message \"%s\", expected \"%s\"", how,
			      o->err.message, c->message);
		ck_assert_int_eq(api_status(o->err.code), c->code == API_INVALID_CSV ? 400
							  : c->code == API_PAYLOAD_TOO_LARGE ? 413
											     : 422);
	}
}

START_TEST(test_case_every_split)
{
	const struct csv_case *c = &cases[_i];
	size_t len = c->len ? c->len : strlen(c->input);
	struct api_csv_opts opts;
	struct outcome o;
	char how[400];

	opts_of(c, &opts);
	for (int split = SPLIT_WHOLE; split <= SPLIT_RANDOM; split++) {
		for (uint32_t seed = 0; seed < (split == SPLIT_RANDOM ? N_RANDOM_SEEDS : 1); seed++) {
			run(c->input, len, &opts, (enum split)split, seed, -1, &o);
			snprintf(how, sizeof how, "case %d (%.120s), split %d seed %u", _i, c->input, split, seed);
			/* copy out, free, then compare: a failure must not leak */
			{
				struct outcome copy = o;
				float values[MAX_VALUES + 8];
				size_t n = o.rows.n < MAX_VALUES + 8 ? o.rows.n : MAX_VALUES + 8;

				if (n)
					memcpy(values, o.rows.v, n * sizeof *values);
				free(o.rows.v);
				copy.rows.v = values;
				copy.rows.n = o.rows.n;
				if (o.rows.n > MAX_VALUES + 8)
					ck_abort_msg("%s: %zu values", how, o.rows.n);
				check_outcome(c, &copy, how);
			}
		}
	}
}
END_TEST

/* ---- longer bodies, odd cells ------------------------------------------------------------ */

/* A cell may hold 256 bytes; the 257th is refused (memory stays bounded by one row). */
START_TEST(test_cell_length_limit)
{
	char input[600];
	struct api_csv_opts opts = {.header = API_CSV_HEADER_YES, .label_index = -1, .max_rows = 10, .max_cells = 100};
	struct outcome o;
	size_t len;

	/* "0.000...01": 256 bytes, a valid (tiny) number */
	len = (size_t)snprintf(input, sizeof input, "a,b\n0.");
	memset(input + len, '0', 253);
	len += 253;
	len += (size_t)snprintf(input + len, sizeof input - len, "1,2\n");
	run(input, len, &opts, SPLIT_RANDOM, 1, -1, &o);
	free(o.rows.v);
	ck_assert_msg(o.rc == 0, "%s", o.err.message);
	ck_assert_uint_eq(o.n_rows, 1);

	len = (size_t)snprintf(input, sizeof input, "a,b\n0.");
	memset(input + len, '0', 254);
	len += 254;
	len += (size_t)snprintf(input + len, sizeof input - len, "1,2\n");
	run(input, len, &opts, SPLIT_BYTES, 0, -1, &o);
	free(o.rows.v);
	ck_assert_int_eq(o.rc, -1);
	ck_assert_int_eq(o.err.code, API_INVALID_CSV);
	ck_assert_str_eq(o.err.message, "line 2, column 1: cell longer than 256 bytes");

	/* a header name is a cell too */
	memset(input, 'h', 300);
	len = 300 + (size_t)snprintf(input + 300, sizeof input - 300, ",b\n1,2\n");
	run(input, len, &opts, SPLIT_WHOLE, 0, -1, &o);
	free(o.rows.v);
	ck_assert_int_eq(o.rc, -1);
	ck_assert_str_eq(o.err.message, "line 1, column 1: cell longer than 256 bytes");
}
END_TEST

/* Bytes a text editor would not show: a NUL inside a cell is not a number. */
START_TEST(test_nul_byte)
{
	static const char input[] = "a,b\n1,2\n1,2\0\n";
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 10, .max_cells = 100};
	struct outcome o;

	run(input, sizeof input - 1, &opts, SPLIT_WHOLE, 0, -1, &o);
	free(o.rows.v);
	ck_assert_int_eq(o.rc, -1);
	ck_assert_int_eq(o.err.code, API_INVALID_CSV);
	ck_assert_msg(strncmp(o.err.message, "line 3, column 2: ", 18) == 0, "%s", o.err.message);
}
END_TEST

/* 3000 generated rows in assorted spellings, against the values that made them. */
START_TEST(test_long_body_every_split)
{
	enum { ROWS_N = 3000, COLS = 5 };
	size_t cap = ROWS_N * COLS * 24 + 64, len = 0;
	char *input = malloc(cap);
	float *want = malloc(ROWS_N * COLS * sizeof *want);
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_name = "y", .label_index = -1,
				    .max_rows = ROWS_N, .max_cells = ROWS_N * COLS};
	uint32_t state = 12345;
	struct outcome o;

	ck_assert_ptr_nonnull(input);
	ck_assert_ptr_nonnull(want);
	len += (size_t)snprintf(input + len, cap - len, "f0,\"f1\",y,f3,f4\r\n");
	for (int r = 0; r < ROWS_N; r++) {
		float row[COLS];

		for (int c = 0; c < COLS; c++) {
			int v = (int)(next_random(&state) % 20001) - 10000;
			unsigned style = next_random(&state) % 4;
			char num[32];

			snprintf(num, sizeof num, style == 3 ? "%.4e" : "%.2f", (double)v / 100.0);
			/* the reference: the float nearest to the decimal text */
			row[c] = strtof(num, NULL);
			len += (size_t)snprintf(input + len, cap - len, style == 1 ? "%s\"%s\"" : style == 2 ? "%s %s\t" : "%s%s",
						c ? "," : "", num);
		}
		/* the label (column 2) moves to the end */
		want[r * COLS + 0] = row[0];
		want[r * COLS + 1] = row[1];
		want[r * COLS + 2] = row[3];
		want[r * COLS + 3] = row[4];
		want[r * COLS + 4] = row[2];
		len += (size_t)snprintf(input + len, cap - len, "%s", next_random(&state) % 2 ? "\n" : "\r\n");
	}
	for (int split = SPLIT_WHOLE; split <= SPLIT_RANDOM; split++) {
		size_t bad = SIZE_MAX;

		run(input, len, &opts, (enum split)split, 7, -1, &o);
		if (o.rc == 0 && o.rows.n == ROWS_N * COLS)
			for (size_t i = 0; i < ROWS_N * COLS && bad == SIZE_MAX; i++)
				if (o.rows.v[i] != want[i])
					bad = i;
		free(o.rows.v);
		ck_assert_msg(o.rc == 0, "split %d: %s", split, o.err.message);
		ck_assert_uint_eq(o.n_rows, ROWS_N);
		ck_assert_uint_eq(o.n_features, COLS - 1);
		ck_assert_msg(bad == SIZE_MAX, "split %d: value %zu differs", split, bad);
	}
	free(want);
	free(input);
}
END_TEST

/* The callback's refusal stops the parse with the callback's error. */
START_TEST(test_callback_refusal)
{
	static const char input[] = "a,b\n1,2\n3,4\n5,6\n";
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 10, .max_cells = 100};
	struct outcome o;

	for (int split = SPLIT_WHOLE; split <= SPLIT_RANDOM; split++) {
		run(input, sizeof input - 1, &opts, (enum split)split, 3, 1, &o);
		free(o.rows.v);
		ck_assert_int_eq(o.rc, -1);
		ck_assert_int_eq(o.err.code, API_UNAVAILABLE);
		ck_assert_str_eq(o.err.message, "the store refused row 1");
		ck_assert_uint_eq(o.rows.calls, 2); /* nothing after the refused row */
	}
}
END_TEST

/* The opts strings are copied: the caller's buffer may go away after create. */
START_TEST(test_opts_copied)
{
	char *label = strdup("target");
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_name = label, .label_index = -1,
				    .max_rows = 10, .max_cells = 100};
	struct rows rows = {.fail_at = -1};
	struct api_err err = {0};
	struct api_csv *csv;
	static const char input[] = "target,x\n1,2\n";

	ck_assert_ptr_nonnull(label);
	csv = api_csv_create(&opts, collect, &rows);
	ck_assert_ptr_nonnull(csv);
	memset(label, 'z', 6);
	free(label);
	ck_assert_int_eq(api_csv_feed(csv, input, sizeof input - 1, &err), 0);
	ck_assert_int_eq(api_csv_finish(csv, &err), 0);
	api_csv_destroy(csv);
	api_csv_destroy(NULL);
	ck_assert_uint_eq(rows.n, 2);
	ck_assert(rows.v[0] == 2.0f && rows.v[1] == 1.0f);
	free(rows.v);
}
END_TEST

/* ---- columns: names, kinds, statistics, categories, class names ------------------------- */

/* Feeds input whole (opts default: AUTO header, last column the label) and returns the reader, finished. */
static struct api_csv *read_all(const char *input, struct rows *rows, struct api_err *err, int *rc)
{
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 100000,
				    .max_cells = 10000000};
	struct api_csv *csv = api_csv_create(&opts, collect, rows);

	ck_assert_ptr_nonnull(csv);
	*rc = api_csv_feed(csv, input, strlen(input), err);
	if (*rc == 0)
		*rc = api_csv_finish(csv, err);
	return csv;
}

static const cJSON *col_of(const cJSON *cols, int i, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, i), key);
}

START_TEST(test_columns_statistics)
{
	/* bill: 39.5, missing, 40.25, 42 (exact in binary); sex: text with a missing cell; label text */
	static const char input[] = "bill,sex,n,species\n"
				    "39.5,male,1,dog\n"
				    "NA,?,2,cat\n"
				    "40.25,female,3,dog\n"
				    "42,male,,bird\n";
	struct rows rows = {.fail_at = -1};
	struct api_err err = {0};
	int rc;
	struct api_csv *csv = read_all(input, &rows, &err, &rc);
	char *text, *names;
	cJSON *cols;
	bool oom;
	uint32_t n_map;
	const uint32_t *map;
	/* the reference, computed here in long double, two passes */
	long double v[3] = {39.5L, 40.25L, 42.0L}, mean = (v[0] + v[1] + v[2]) / 3, ss = 0;

	for (int i = 0; i < 3; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	ck_assert_msg(rc == 0, "%s", err.message);
	ck_assert_uint_eq(api_csv_n_categorical(csv), 1);  /* sex; the label is not counted */
	ck_assert_uint_eq(api_csv_n_missing(csv), 3);      /* NA, ?, and the empty n */
	text = api_csv_columns_encode(csv);
	ck_assert_ptr_nonnull(text);
	cols = cJSON_Parse(text);
	ck_assert_ptr_nonnull(cols);
	ck_assert_int_eq(cJSON_GetArraySize(cols), 4);
	ck_assert_str_eq(col_of(cols, 0, "name")->valuestring, "bill");
	ck_assert_str_eq(col_of(cols, 0, "role")->valuestring, "feature");
	ck_assert_str_eq(col_of(cols, 0, "kind")->valuestring, "numeric");
	ck_assert_int_eq(col_of(cols, 0, "count")->valueint, 3);
	ck_assert_int_eq(col_of(cols, 0, "missing")->valueint, 1);
	ck_assert(col_of(cols, 0, "min")->valuedouble == 39.5);
	ck_assert(col_of(cols, 0, "max")->valuedouble == 42.0);
	/* one pass in doubles against two passes in long double: a few ulps of 40 */
	ck_assert_double_eq_tol(col_of(cols, 0, "mean")->valuedouble, (double)mean, 1e-12);
	ck_assert_double_eq_tol(col_of(cols, 0, "std")->valuedouble, (double)sqrtl(ss / 3), 1e-12);
	ck_assert_str_eq(col_of(cols, 1, "kind")->valuestring, "categorical");
	ck_assert_int_eq(col_of(cols, 1, "count")->valueint, 3);
	ck_assert_int_eq(col_of(cols, 1, "missing")->valueint, 1);
	{
		const cJSON *cats = col_of(cols, 1, "categories");

		ck_assert_int_eq(cJSON_GetArraySize(cats), 2); /* features keep the order of first appearance */
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 0), "value")->valuestring, "male");
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 0), "count")->valueint, 2);
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 1), "value")->valuestring, "female");
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 1), "count")->valueint, 1);
	}
	ck_assert_str_eq(col_of(cols, 2, "kind")->valuestring, "numeric");
	ck_assert_int_eq(col_of(cols, 2, "missing")->valueint, 1);
	ck_assert_double_eq_tol(col_of(cols, 2, "std")->valuedouble, sqrt(2.0 / 3.0), 1e-15); /* 1, 2, 3: variance 2/3 */
	ck_assert_str_eq(col_of(cols, 3, "role")->valuestring, "label");
	cJSON_Delete(cols);
	free(text);
	/* the label's classes in byte order; on_row saw dog 0, cat 1, bird 2 */
	names = api_csv_class_names_encode(csv, &oom);
	ck_assert(!oom);
	ck_assert_str_eq(names, "[\"bird\",\"cat\",\"dog\"]");
	free(names);
	map = api_csv_label_remap(csv, &n_map);
	ck_assert_uint_eq(n_map, 3);
	ck_assert_uint_eq(map[0], 2); /* dog */
	ck_assert_uint_eq(map[1], 1); /* cat */
	ck_assert_uint_eq(map[2], 0); /* bird */
	ck_assert(rows.v[3] == 0 && rows.v[7] == 1 && rows.v[11] == 0 && rows.v[15] == 2);
	api_csv_destroy(csv);
	free(rows.v);

	/* a numeric label: no class names, no map; all-missing column: nulls */
	rows = (struct rows){.fail_at = -1};
	csv = read_all("a,b\nNA,1\n,2\n", &rows, &err, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_null(api_csv_class_names_encode(csv, &oom));
	ck_assert(!oom);
	ck_assert_ptr_null(api_csv_label_remap(csv, &n_map));
	ck_assert_uint_eq(n_map, 0);
	text = api_csv_columns_encode(csv);
	ck_assert_str_eq(text, "[{\"name\":\"a\",\"role\":\"feature\",\"kind\":\"numeric\",\"count\":0,\"missing\":2,"
			       "\"min\":null,\"max\":null,\"mean\":null,\"std\":null},{\"name\":\"b\",\"role\":\"label\","
			       "\"kind\":\"numeric\",\"count\":2,\"missing\":0,\"min\":1,\"max\":2,\"mean\":1.5,\"std\":0.5}]");
	free(text);
	api_csv_destroy(csv);
	free(rows.v);

	/* no header: generated names */
	rows = (struct rows){.fail_at = -1};
	csv = read_all("1,2\n3,4\n", &rows, &err, &rc);
	text = api_csv_columns_encode(csv);
	ck_assert_ptr_nonnull(strstr(text, "\"name\":\"column_1\""));
	ck_assert_ptr_nonnull(strstr(text, "\"name\":\"column_2\""));
	free(text);
	api_csv_destroy(csv);
	free(rows.v);
}
END_TEST

/* The fast lane's cells count in the statistics exactly as data_cell's: 300
 * rows (all but the first data row through the lane), ';'-separated, a
 * numeric column with missing cells, a categorical one of digits; the
 * reference sums here, two passes in long double. */
START_TEST(test_fast_lane_statistics)
{
	size_t cap = 64 * 1024, len = 0;
	char *input = malloc(cap);
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 100000,
				    .max_cells = 10000000, .delimiter = ';'};
	struct rows rows = {.fail_at = -1};
	struct api_err err = {0};
	struct api_csv *csv;
	long double sum = 0, mean, ss = 0, xs[300];
	int n = 0, missing = 0;
	float lo = INFINITY, hi = -INFINITY;
	char *text;
	cJSON *cols;

	ck_assert_ptr_nonnull(input);
	len += (size_t)snprintf(input + len, cap - len, "x;cat;y\n");
	for (int i = 0; i < 300; i++) {
		if (i % 7 == 3) {
			len += (size_t)snprintf(input + len, cap - len, "%s;1;%d\n", i % 2 ? "NA" : "", i);
			missing++;
			continue;
		}
		/* i/8 - 9.25: exact in binary, both signs */
		float x = (float)i / 8.0f - 9.25f;

		len += (size_t)snprintf(input + len, cap - len, "%.3f;%s;%d\n", (double)x, i == 0 ? "a" : i % 2 ? "1" : "2", i);
		xs[n++] = x;
		sum += x;
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
	}
	mean = sum / n;
	for (int i = 0; i < n; i++)
		ss += (xs[i] - mean) * (xs[i] - mean);
	csv = api_csv_create(&opts, collect, &rows);
	ck_assert_ptr_nonnull(csv);
	ck_assert_int_eq(api_csv_feed(csv, input, len, &err), 0);
	ck_assert_msg(api_csv_finish(csv, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(api_csv_n_rows(csv), 300);
	ck_assert_uint_eq(api_csv_n_missing(csv), (uint64_t)missing);
	ck_assert_uint_eq(api_csv_n_categorical(csv), 1);
	text = api_csv_columns_encode(csv);
	ck_assert_ptr_nonnull(text);
	cols = cJSON_Parse(text);
	ck_assert_ptr_nonnull(cols);
	ck_assert_str_eq(col_of(cols, 0, "kind")->valuestring, "numeric");
	ck_assert_int_eq(col_of(cols, 0, "count")->valueint, n);
	ck_assert_int_eq(col_of(cols, 0, "missing")->valueint, missing);
	ck_assert(col_of(cols, 0, "min")->valuedouble == (double)lo);
	ck_assert(col_of(cols, 0, "max")->valuedouble == (double)hi);
	/* one pass of shifted sums in doubles over 257 values of magnitude < 30:
	 * a few hundred double ulps at most, far inside 1e-9 */
	ck_assert_double_eq_tol(col_of(cols, 0, "mean")->valuedouble, (double)mean, 1e-9);
	ck_assert_double_eq_tol(col_of(cols, 0, "std")->valuedouble, (double)sqrtl(ss / n), 1e-9);
	ck_assert_str_eq(col_of(cols, 1, "kind")->valuestring, "categorical");
	ck_assert_int_eq(col_of(cols, 1, "count")->valueint, 300);
	ck_assert_int_eq(col_of(cols, 2, "count")->valueint, 300);
	ck_assert(col_of(cols, 2, "max")->valuedouble == 299.0);
	/* every value as written, the categories as indexes (a 0, 1 1, 2 2) */
	for (int i = 0, k = 0; i < 300; i++) {
		const float *row = rows.v + 3 * (size_t)i;

		if (i % 7 == 3) {
			ck_assert(isnan(row[0]));
			ck_assert(row[1] == 1);
		} else {
			ck_assert(row[0] == (float)xs[k++]);
			ck_assert(row[1] == (i == 0 ? 0.0f : i % 2 ? 1.0f : 2.0f));
		}
		ck_assert(row[2] == (float)i);
	}
	cJSON_Delete(cols);
	free(text);
	api_csv_destroy(csv);
	free(rows.v);
	free(input);
}
END_TEST

/* 1000 distinct values in a column are kept; the 1001st is a 400 (the table never grows past it). */
START_TEST(test_category_limit)
{
	size_t cap = 1100 * 16 + 32, len;
	char *input = malloc(cap);
	struct rows rows = {.fail_at = -1};
	struct api_err err = {0};
	struct api_csv *csv;
	int rc;

	ck_assert_ptr_nonnull(input);
	for (int limit = 1000; limit <= 1001; limit++) {
		len = (size_t)snprintf(input, cap, "id,y\n");
		for (int i = 0; i < limit; i++)
			len += (size_t)snprintf(input + len, cap - len, "k%d,%d\n", i, i % 2);
		rows = (struct rows){.fail_at = -1};
		csv = read_all(input, &rows, &err, &rc);
		if (limit == 1000) {
			ck_assert_msg(rc == 0, "%s", err.message);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_eq(err.code, API_INVALID_CSV);
			ck_assert_str_eq(err.message, "line 1002, column 1: the column has more than 1000 distinct text "
						      "values, the limit (an id or free text? leave it out of the upload)");
		}
		api_csv_destroy(csv);
		free(rows.v);
	}
	free(input);
	/* the whole upload's categories: 400 columns of 1000 distinct values each
	 * (~400,000 x (5 bytes + 48)) pass 16 MiB before the end */
	cap = 1000 * 400 * 8 + 400 * 8 + 64;
	input = malloc(cap);
	ck_assert_ptr_nonnull(input);
	len = 0;
	for (int c = 0; c < 400; c++)
		len += (size_t)snprintf(input + len, cap - len, "c%d,", c);
	len += (size_t)snprintf(input + len, cap - len, "y\n");
	for (int r = 0; r < 1000; r++) {
		for (int c = 0; c < 400; c++)
			len += (size_t)snprintf(input + len, cap - len, "r%d,", r);
		len += (size_t)snprintf(input + len, cap - len, "%d\n", r % 2);
	}
	rows = (struct rows){.fail_at = -1};
	csv = read_all(input, &rows, &err, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err.code, API_INVALID_CSV);
	ck_assert_msg(strstr(err.message, "need more than 16 MiB, the limit") != NULL, "%s", err.message);
	ck_assert_msg(rows.calls > 500 && rows.calls < 1000, "refused after %llu rows", (unsigned long long)rows.calls);
	api_csv_destroy(csv);
	free(rows.v);
	free(input);
	input = malloc(1100 * 16 + 32);
	ck_assert_ptr_nonnull(input);
	cap = 1100 * 16 + 32;
	/* the label too */
	len = (size_t)snprintf(input, cap, "x,y\n");
	for (int i = 0; i < 1001; i++)
		len += (size_t)snprintf(input + len, cap - len, "1,c%d\n", i);
	rows = (struct rows){.fail_at = -1};
	csv = read_all(input, &rows, &err, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.message, "line 1002, column 2: the label has more than 1000 distinct text values, the limit");
	api_csv_destroy(csv);
	free(rows.v);
	free(input);
}
END_TEST

Suite *suite_api_csv(void)
{
	Suite *s = suite_create("api_csv");
	TCase *tc = tcase_create("cases");
	TCase *more = tcase_create("bodies");

	tcase_add_loop_test(tc, test_case_every_split, 0, (int)(sizeof cases / sizeof cases[0]));
	suite_add_tcase(s, tc);
	tcase_add_test(more, test_cell_length_limit);
	tcase_add_test(more, test_nul_byte);
	tcase_add_test(more, test_long_body_every_split);
	tcase_add_test(more, test_callback_refusal);
	tcase_add_test(more, test_opts_copied);
	tcase_add_test(more, test_columns_statistics);
	tcase_add_test(more, test_category_limit);
	tcase_add_test(more, test_fast_lane_statistics);
	suite_add_tcase(s, more);
	return s;
}
