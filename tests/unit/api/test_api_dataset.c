/*
 * test_api_dataset.c — api/api_dataset.c: the JSON dataset body to float32
 * arrays, the target statistics that decide y_kind (class labels, one-hot
 * rows, real values), and dataset records to JSON.
 *
 * The body cases are a table (jq.test style): a body written with single
 * quotes (test_api_util.h) and either the shape and kind it must decode to or
 * the status and field of its refusal.
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

Suite *suite_api_dataset(void);

static const struct api_limits limits = {.max_rows = 1000, .max_cells = 100000, .max_instances = 100};

static int decode_with(const char *sq, const struct api_limits *lim, struct api_dataset_body *out,
		       struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_dataset_decode(b.p, b.n, lim, out, err);
	tb_free(&b);
	return rc;
}

/* ---- accepted bodies ---------------------------------------------------------- */

static const struct {
	const char *body;
	uint64_t n;
	uint32_t d, y_dim;
	enum api_y_kind kind;
	uint32_t n_classes;
	double y_min, y_max;
	bool integral;
} good_rows[] = {
	/* integer class labels: n_classes = max + 1 */
	{"{'x': [[0, 1], [1, 0], [2, 2]], 'y': [0, 2, 1]}", 3, 2, 0, API_Y_CLASS, 3, 0, 2, true},
	{"{'x': [[0.5]], 'y': [0]}", 1, 1, 0, API_Y_CLASS, 1, 0, 0, true},
	{"{'x': [[1], [2]], 'y': [0, 9]}", 2, 1, 0, API_Y_CLASS, 10, 0, 9, true},
	{"{'x': [[1], [2]], 'y': [3.0, 1e0]}", 2, 1, 0, API_Y_CLASS, 4, 1, 3, true},
	/* one-hot rows */
	{"{'x': [[1, 2], [3, 4]], 'y': [[1, 0, 0], [0, 0, 1]]}", 2, 2, 3, API_Y_ONE_HOT, 3, 0, 1, true},
	{"{'x': [[1], [2], [3]], 'y': [[0, 1], [1, 0], [0, 1]]}", 3, 1, 2, API_Y_ONE_HOT, 2, 0, 1, true},
	/* real values */
	{"{'x': [[1, 2], [3, 4]], 'y': [0.5, 1.5]}", 2, 2, 0, API_Y_REAL, 0, 0.5, 1.5, false},
	{"{'x': [[1], [2]], 'y': [-1, 2]}", 2, 1, 0, API_Y_REAL, 0, -1, 2, true},
	{"{'x': [[1], [2]], 'y': [0, 1000000]}", 2, 1, 0, API_Y_REAL, 0, 0, 1e6, true},
	/* 2-D real: rows of k values that are not one-hot */
	{"{'x': [[1], [2]], 'y': [[0.5, 1], [2, 3]]}", 2, 1, 2, API_Y_REAL, 0, 0.5, 3, false},
	{"{'x': [[1], [2]], 'y': [[1, 1], [0, 1]]}", 2, 1, 2, API_Y_REAL, 0, 0, 1, true},
	{"{'x': [[1], [2]], 'y': [[0, 0], [0, 1]]}", 2, 1, 2, API_Y_REAL, 0, 0, 1, true},
	{"{'x': [[1], [2]], 'y': [[0, 2], [0, 1]]}", 2, 1, 2, API_Y_REAL, 0, 0, 2, true},
	/* rows of one value */
	{"{'x': [[1], [2]], 'y': [[0.25], [0.75]]}", 2, 1, 1, API_Y_REAL, 0, 0.25, 0.75, false},
	/* numbers in every JSON spelling, and a name */
	{"{'name': 'digits', 'x': [[-0.0, 1e-3, 2E+2, -4.5e-1]], 'y': [7]}", 1, 4, 0, API_Y_CLASS, 8, 7, 7, true},
};

START_TEST(test_good_bodies)
{
	struct api_dataset_body d;
	struct api_err err;
	const char *body = good_rows[_i].body;

	ck_assert_msg(decode_with(body, &limits, &d, &err) == 0, "%s -> %s %s: %s", body, api_code_name(err.code),
		      err.field, err.message);
	ck_assert_uint_eq(d.info.n_samples, good_rows[_i].n);
	ck_assert_uint_eq(d.info.n_features, good_rows[_i].d);
	ck_assert_uint_eq(d.info.y_dim, good_rows[_i].y_dim);
	ck_assert_msg(d.info.y_kind == good_rows[_i].kind, "%s: y_kind %s", body, api_y_kind_name(d.info.y_kind));
	ck_assert_uint_eq(d.info.n_classes, good_rows[_i].n_classes);
	ck_assert_msg(d.info.y_min == good_rows[_i].y_min && d.info.y_max == good_rows[_i].y_max, "%s: y in %g..%g",
		      body, d.info.y_min, d.info.y_max);
	ck_assert(d.info.y_integral == good_rows[_i].integral);
	ck_assert_ptr_nonnull(d.x);
	ck_assert_ptr_nonnull(d.y);
	api_dataset_body_free(&d);
	ck_assert_ptr_null(d.x);
	ck_assert_ptr_null(d.y);
}
END_TEST

START_TEST(test_values_row_major)
{
	struct api_dataset_body d;
	struct api_err err;

	ck_assert_int_eq(decode_with("{'name': 'm', 'x': [[0.1, 2], [3, -4e-3], [5, 6]], 'y': [[1, 0], [0, 1], [0.5, "
				     "0.25]]}",
				     &limits, &d, &err),
			 0);
	ck_assert_str_eq(d.info.name, "m");
	ck_assert(d.x[0] == 0.1f && d.x[1] == 2.0f && d.x[2] == 3.0f && d.x[3] == -4e-3f && d.x[5] == 6.0f);
	ck_assert(d.y[0] == 1.0f && d.y[1] == 0.0f && d.y[3] == 1.0f && d.y[4] == 0.5f && d.y[5] == 0.25f);
	api_dataset_body_free(&d);

	ck_assert_int_eq(decode_with("{'x': [[1]], 'y': [2]}", &limits, &d, &err), 0);
	ck_assert_str_eq(d.info.name, "dataset");
	api_dataset_body_free(&d);
}
END_TEST

/* ---- refused bodies ---------------------------------------------------------------- */

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
} bad_rows[] = {
	{"", API_INVALID_JSON, ""},
	{"{'x': [[1]], 'y': [1]", API_INVALID_JSON, ""},
	{"{'x': [[1]], 'y': [1]} []", API_INVALID_JSON, ""},
	{"[]", API_VALIDATION_FAILED, ""},
	/* unknown and duplicate keys */
	{"{'x': [[1]], 'y': [1], 'labels': [1]}", API_VALIDATION_FAILED, "labels"},
	{"{'X': [[1]], 'y': [1]}", API_VALIDATION_FAILED, "X"},
	{"{'x': [[1]], 'y': [1], 'x': [[2]]}", API_VALIDATION_FAILED, "x"},
	/* x */
	{"{'y': [1]}", API_VALIDATION_FAILED, "x"},
	{"{'x': 5, 'y': [1]}", API_VALIDATION_FAILED, "x"},
	{"{'x': [], 'y': []}", API_VALIDATION_FAILED, "x"},
	{"{'x': [1, 2], 'y': [1, 2]}", API_VALIDATION_FAILED, "x[0]"},
	{"{'x': [[]], 'y': [1]}", API_VALIDATION_FAILED, "x[0]"},
	/* ragged x names the first short or long row */
	{"{'x': [[1, 2], [3]], 'y': [0, 1]}", API_VALIDATION_FAILED, "x[1]"},
	{"{'x': [[1, 2], [3, 4], [5, 6, 7]], 'y': [0, 1, 2]}", API_VALIDATION_FAILED, "x[2]"},
	{"{'x': [[1, 2], 3], 'y': [0, 1]}", API_VALIDATION_FAILED, "x[1]"},
	{"{'x': [[1, 2], []], 'y': [0, 1]}", API_VALIDATION_FAILED, "x[1]"},
	/* non-numbers and non-finite numbers in x */
	{"{'x': [[1, '2']], 'y': [0]}", API_VALIDATION_FAILED, "x[0][1]"},
	{"{'x': [[1, 2], [null, 2]], 'y': [0, 1]}", API_VALIDATION_FAILED, "x[1][0]"},
	{"{'x': [[true]], 'y': [0]}", API_VALIDATION_FAILED, "x[0][0]"},
	{"{'x': [[[1]]], 'y': [0]}", API_VALIDATION_FAILED, "x[0][0]"},
	{"{'x': [[1e999]], 'y': [0]}", API_VALIDATION_FAILED, "x[0][0]"},
	{"{'x': [[-1e999]], 'y': [0]}", API_VALIDATION_FAILED, "x[0][0]"},
	{"{'x': [[1], [1e39]], 'y': [0, 1]}", API_VALIDATION_FAILED, "x[1][0]"},
	/* y */
	{"{'x': [[1]]}", API_VALIDATION_FAILED, "y"},
	{"{'x': [[1]], 'y': 1}", API_VALIDATION_FAILED, "y"},
	{"{'x': [[1], [2]], 'y': [1]}", API_VALIDATION_FAILED, "y"},
	{"{'x': [[1], [2]], 'y': [1, 2, 3]}", API_VALIDATION_FAILED, "y"},
	{"{'x': [[1], [2]], 'y': []}", API_VALIDATION_FAILED, "y"},
	{"{'x': [[1], [2]], 'y': [0, 'a']}", API_VALIDATION_FAILED, "y[1]"},
	{"{'x': [[1], [2]], 'y': [0, null]}", API_VALIDATION_FAILED, "y[1]"},
	{"{'x': [[1], [2]], 'y': [1e999, 0]}", API_VALIDATION_FAILED, "y[0]"},
	{"{'x': [[1]], 'y': [[]]}", API_VALIDATION_FAILED, "y[0]"},
	{"{'x': [[1], [2]], 'y': [[1, 0], [1]]}", API_VALIDATION_FAILED, "y[1]"},
	{"{'x': [[1], [2]], 'y': [[1, 0], 1]}", API_VALIDATION_FAILED, "y[1]"},
	{"{'x': [[1], [2]], 'y': [1, [1, 0]]}", API_VALIDATION_FAILED, "y[1]"},
	{"{'x': [[1], [2]], 'y': [[1, 0], [0, 'b']]}", API_VALIDATION_FAILED, "y[1][1]"},
	/* name */
	{"{'name': '', 'x': [[1]], 'y': [1]}", API_VALIDATION_FAILED, "name"},
	{"{'name': 7, 'x': [[1]], 'y': [1]}", API_VALIDATION_FAILED, "name"},
	{"{'name': 'a\\nb', 'x': [[1]], 'y': [1]}", API_VALIDATION_FAILED, "name"},
};

START_TEST(test_bad_bodies)
{
	struct api_dataset_body d;
	struct api_err err;
	char what[300];

	snprintf(what, sizeof what, "row %d: %s", _i, bad_rows[_i].body);
	memset(&d, 0x5A, sizeof d);
	ck_assert_msg(decode_with(bad_rows[_i].body, &limits, &d, &err) == -1, "%s: accepted", what);
	/* nothing left to free on failure */
	ck_assert_ptr_null(d.x);
	ck_assert_ptr_null(d.y);
	t_expect_err(&err, bad_rows[_i].code, bad_rows[_i].field, NULL, what);
}
END_TEST

/* Limits are checked before the arrays are allocated. */
START_TEST(test_limits)
{
	static const struct api_limits rows2 = {.max_rows = 2, .max_cells = 1000, .max_instances = 1};
	static const struct api_limits cells6 = {.max_rows = 1000, .max_cells = 6, .max_instances = 1};
	struct api_dataset_body d;
	struct api_err err;

	/* max_rows: 2 rows pass, 3 do not */
	ck_assert_int_eq(decode_with("{'x': [[1], [2]], 'y': [0, 1]}", &rows2, &d, &err), 0);
	api_dataset_body_free(&d);
	ck_assert_int_eq(decode_with("{'x': [[1], [2], [3]], 'y': [0, 1, 2]}", &rows2, &d, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "x", "limit", "3 rows, max_rows 2");
	/* max_cells counts rows x (features + targets): 2 x (2 + 1) = 6 pass ... */
	ck_assert_int_eq(decode_with("{'x': [[1, 2], [3, 4]], 'y': [0, 1]}", &cells6, &d, &err), 0);
	api_dataset_body_free(&d);
	/* ... 2 x (2 + 2) = 8 do not, nor 3 x (1 + 1) */
	ck_assert_int_eq(decode_with("{'x': [[1, 2], [3, 4]], 'y': [[0, 1], [1, 0]]}", &cells6, &d, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "x", NULL, "8 cells, max_cells 6");
	ck_assert_int_eq(decode_with("{'x': [[1], [2], [3], [4]], 'y': [0, 1, 0, 1]}", &cells6, &d, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "x", NULL, "8 cells, max_cells 6");
	ck_assert_ptr_null(d.x);
}
END_TEST

/* A target row wider than any output layer is refused before the cell count. */
START_TEST(test_y_row_too_wide)
{
	static const struct api_limits big = {.max_rows = 10, .max_cells = 1000000, .max_instances = 1};
	size_t cap = 65537 * 3 + 64, len;
	char *body = malloc(cap);
	struct api_dataset_body d;
	struct api_err err;

	ck_assert_ptr_nonnull(body);
	len = (size_t)snprintf(body, cap, "{'x': [[1]], 'y': [[1");
	for (int i = 1; i < 65537; i++)
		len += (size_t)snprintf(body + len, cap - len, ",0");
	snprintf(body + len, cap - len, "]]}");
	ck_assert_int_eq(decode_with(body, &big, &d, &err), -1);
	free(body);
	t_expect_err(&err, API_VALIDATION_FAILED, "y[0]", "65536", "a y row of 65537 values");
}
END_TEST

/* A decimal that rounds to FLT_MAX is a finite float32 (numpy prints float32
 * max as 3.4028235e+38, fitd's own %.9g as 3.40282347e+38): both must be
 * read as FLT_MAX, so that fitd's output can be sent back; one past the
 * rounding midpoint (3.4028236e38) is infinite as a float and refused. */
START_TEST(test_float32_extremes)
{
	struct api_dataset_body d;
	struct api_err err;
	int rc;

	memset(&err, 0, sizeof err);
	rc = decode_with("{'x': [[3.4028235e38, -3.40282347e+38]], 'y': [1.17549435e-38]}", &limits, &d, &err);
	if (rc == 0) {
		bool exact = d.x[0] == FLT_MAX && d.x[1] == -FLT_MAX && d.y[0] == FLT_MIN;

		api_dataset_body_free(&d);
		ck_assert(exact);
	}
	ck_assert_msg(rc == 0, "%s %s: %s", api_code_name(err.code), err.field, err.message);
	ck_assert_int_eq(decode_with("{'x': [[1, 3.4028236e38]], 'y': [1]}", &limits, &d, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "x[0][1]", NULL, "3.4028236e38");
}
END_TEST

/* ---- target statistics -------------------------------------------------------------- */

static void stats_of(uint32_t y_dim, const float *rows, size_t n, struct api_dataset_info *info)
{
	struct api_y_stats s;
	uint32_t width = y_dim ? y_dim : 1;

	memset(info, 0x5A, sizeof *info);
	api_y_stats_init(&s, y_dim);
	for (size_t i = 0; i < n; i++)
		api_y_stats_add(&s, rows + i * width);
	api_y_stats_finish(&s, info);
}

START_TEST(test_y_stats_edges)
{
	struct api_dataset_info info;

	/* no rows at all: nothing is known, so real with a zero range */
	stats_of(0, NULL, 0, &info);
	ck_assert_int_eq(info.y_kind, API_Y_REAL);
	ck_assert_uint_eq(info.n_classes, 0);
	ck_assert(info.y_min == 0 && info.y_max == 0);
	ck_assert_uint_eq(info.y_dim, 0);
	stats_of(3, NULL, 0, &info);
	ck_assert_int_eq(info.y_kind, API_Y_REAL);
	ck_assert_uint_eq(info.y_dim, 3);
	ck_assert_uint_eq(info.n_classes, 0);

	/* one class */
	{
		static const float y[] = {0};
		stats_of(0, y, 1, &info);
		ck_assert_int_eq(info.y_kind, API_Y_CLASS);
		ck_assert_uint_eq(info.n_classes, 1);
	}
	/* the largest class label is 999999 (a million classes) */
	{
		static const float y[] = {999999, 0};
		stats_of(0, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_CLASS);
		ck_assert_uint_eq(info.n_classes, 1000000);
	}
	{
		static const float y[] = {1000000};
		stats_of(0, y, 1, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert(info.y_integral);
	}
	/* -0 is the integer 0 */
	{
		static const float y[] = {-0.0f, 1};
		stats_of(0, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_CLASS);
		ck_assert_uint_eq(info.n_classes, 2);
	}
	/* a negative integer, a fraction */
	{
		static const float y[] = {2, -1};
		stats_of(0, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert(info.y_integral);
		ck_assert(info.y_min == -1 && info.y_max == 2);
	}
	{
		static const float y[] = {1, 2, 2.5f, 3};
		stats_of(0, y, 4, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert(!info.y_integral);
		ck_assert(info.y_min == 1 && info.y_max == 3);
	}
	/* one-hot: every row exactly one 1, the rest 0 */
	{
		static const float y[] = {0, 0, 1};
		stats_of(3, y, 1, &info);
		ck_assert_int_eq(info.y_kind, API_Y_ONE_HOT);
		ck_assert_uint_eq(info.n_classes, 3);
	}
	{
		static const float y[] = {0, 1, 1, 0, 0, 0}; /* a row of zeros */
		stats_of(2, y, 3, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert_uint_eq(info.n_classes, 0);
	}
	{
		static const float y[] = {1, 0, 1, 1}; /* a row of two ones */
		stats_of(2, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
	}
	{
		static const float y[] = {1, 0, 0.999999f, 0};
		stats_of(2, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert(!info.y_integral);
	}
	/* the one-hot test is not fooled by -0 */
	{
		static const float y[] = {1, -0.0f, -0.0f, 1};
		stats_of(2, y, 2, &info);
		ck_assert_int_eq(info.y_kind, API_Y_ONE_HOT);
	}
	/* rows of one value are never one-hot, never class labels */
	{
		static const float y[] = {1, 1, 1};
		stats_of(1, y, 3, &info);
		ck_assert_int_eq(info.y_kind, API_Y_REAL);
		ck_assert_uint_eq(info.y_dim, 1);
	}
	/* min and max over every value of every row */
	{
		static const float y[] = {0.5f, -3, 7, 0.25f};
		stats_of(2, y, 2, &info);
		ck_assert(info.y_min == -3 && info.y_max == 7);
	}
}
END_TEST

/* ---- records to JSON ----------------------------------------------------------------- */

START_TEST(test_encode)
{
	struct api_dataset_info info;
	cJSON *root, *shape;
	char *s;

	memset(&info, 0, sizeof info);
	info.id = 3;
	snprintf(info.name, sizeof info.name, "digits");
	info.n_samples = 1797;
	info.n_features = 64;
	info.y_kind = API_Y_CLASS;
	info.n_classes = 10;
	snprintf(info.created_at, sizeof info.created_at, "2026-11-26T21:03:04Z");
	s = api_dataset_encode(&info);
	ck_assert_ptr_nonnull(s);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "id")->valueint, 3);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "name")->valuestring, "digits");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "n_samples")->valueint, 1797);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "n_features")->valueint, 64);
	shape = cJSON_GetObjectItemCaseSensitive(root, "y_shape");
	ck_assert_int_eq(cJSON_GetArraySize(shape), 1);
	ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, 1797);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "y_kind")->valuestring, "class");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "n_classes")->valueint, 10);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "created_at")->valuestring, "2026-11-26T21:03:04Z");
	cJSON_Delete(root);

	/* rows of targets: y_shape [n, k]; real targets: n_classes null */
	info.y_dim = 3;
	info.y_kind = API_Y_REAL;
	info.n_classes = 0;
	s = api_dataset_encode(&info);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	shape = cJSON_GetObjectItemCaseSensitive(root, "y_shape");
	ck_assert_int_eq(cJSON_GetArraySize(shape), 2);
	ck_assert_int_eq(cJSON_GetArrayItem(shape, 1)->valueint, 3);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "y_kind")->valuestring, "real");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "n_classes")));
	cJSON_Delete(root);

	s = api_dataset_list_encode(&info, 1, 42);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "items")), 1);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "total")->valueint, 42);
	cJSON_Delete(root);

	s = api_dataset_list_encode(NULL, 0, 0);
	ck_assert_str_eq(s, "{\"items\":[],\"total\":0}");
	free(s);

	ck_assert_str_eq(api_y_kind_name(API_Y_ONE_HOT), "one_hot");
}
END_TEST

START_TEST(test_name_valid)
{
	char name[130];

	ck_assert(api_name_valid("digits"));
	ck_assert(api_name_valid("mod\xc3\xa8le \xe2\x82\xac"));
	ck_assert(!api_name_valid(""));
	ck_assert(!api_name_valid("a\tb"));
	ck_assert(!api_name_valid("a\x7f"));
	ck_assert(!api_name_valid("\xff"));
	ck_assert(!api_name_valid("\xc3"));          /* truncated sequence */
	ck_assert(!api_name_valid("\xc0\xaf"));      /* overlong '/' */
	ck_assert(!api_name_valid("\xed\xa0\x80"));  /* a surrogate */
	memset(name, 'a', 128);
	name[128] = '\0';
	ck_assert(api_name_valid(name));
	name[128] = 'a';
	name[129] = '\0';
	ck_assert(!api_name_valid(name));
}
END_TEST

Suite *suite_api_dataset(void)
{
	Suite *s = suite_create("api_dataset");
	TCase *tc = tcase_create("decode");
	TCase *stats = tcase_create("stats");

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
	tcase_add_loop_test(tc, test_good_bodies, 0, N(good_rows));
	tcase_add_test(tc, test_values_row_major);
	tcase_add_loop_test(tc, test_bad_bodies, 0, N(bad_rows));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_y_row_too_wide);
	tcase_add_test(tc, test_float32_extremes);
	suite_add_tcase(s, tc);
	tcase_add_test(stats, test_y_stats_edges);
	tcase_add_test(stats, test_encode);
	tcase_add_test(stats, test_name_valid);
	suite_add_tcase(s, stats);
#undef N
	return s;
}
