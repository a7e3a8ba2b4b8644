/*
 * test_api_predict.c — api/api_predict.c (instances in, predictions out,
 * evaluation, paging and ids), api/api_err.c (the error table and the error
 * body) and api/api_json.c's strict parser (where a syntax error is, data
 * after the value, UTF-8).
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api_internal.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_predict(void);

/* ---- instances ---------------------------------------------------------------------- */

static int decode_instances(const char *sq, uint32_t input_dim, uint32_t max_rows, float **x, size_t *n,
			    struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_instances_decode(b.p, b.n, input_dim, max_rows, x, n, err);
	tb_free(&b);
	return rc;
}

START_TEST(test_instances_good)
{
	float *x = NULL;
	size_t n = 0;
	struct api_err err;

	ck_assert_int_eq(decode_instances("{'instances': [[1, 2.5], [-3e-2, 0.1]]}", 2, 3, &x, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(x[0] == 1.0f && x[1] == 2.5f && x[2] == -3e-2f && x[3] == 0.1f);
	free(x);
	/* exactly max_rows */
	ck_assert_int_eq(decode_instances("{'instances': [[1], [2], [3]]}", 1, 3, &x, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert(x[2] == 3.0f);
	free(x);
}
END_TEST

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
} instances_bad[] = {
	{"", API_INVALID_JSON, ""},
	{"{'instances': [[1, 2]]", API_INVALID_JSON, ""},
	{"[[1, 2]]", API_VALIDATION_FAILED, ""},
	{"{}", API_VALIDATION_FAILED, "instances"},
	{"{'instances': []}", API_VALIDATION_FAILED, "instances"},
	{"{'instances': {}}", API_VALIDATION_FAILED, "instances"},
	{"{'instances': [1, 2]}", API_VALIDATION_FAILED, "instances[0]"},
	{"{'instances': [[1, 2], [3]]}", API_VALIDATION_FAILED, "instances[1]"},
	{"{'instances': [[1, 2], [3, 4, 5]]}", API_VALIDATION_FAILED, "instances[1]"},
	{"{'instances': [[1, 2], 5]}", API_VALIDATION_FAILED, "instances[1]"},
	{"{'instances': [[1, 2], {'a': 1}]}", API_VALIDATION_FAILED, "instances[1]"},
	{"{'instances': [[1, 2], []]}", API_VALIDATION_FAILED, "instances[1]"},
	{"{'instances': [[1, 'a']]}", API_VALIDATION_FAILED, "instances[0][1]"},
	{"{'instances': [[1, 2], [null, 4]]}", API_VALIDATION_FAILED, "instances[1][0]"},
	{"{'instances': [[1, 1e999]]}", API_VALIDATION_FAILED, "instances[0][1]"},
	{"{'instances': [[1, 2], [3, -1e39]]}", API_VALIDATION_FAILED, "instances[1][1]"},
	{"{'instances': [[1, 2], [3, 4], [5, 6], [7, 8]]}", API_VALIDATION_FAILED, "instances"},
	{"{'instances': [[1, 2]], 'signature_name': 'serving_default'}", API_VALIDATION_FAILED, "signature_name"},
	{"{'inputs': [[1, 2]]}", API_VALIDATION_FAILED, "inputs"},
	{"{'instances': [[1, 2]], 'instances': [[3, 4]]}", API_VALIDATION_FAILED, "instances"},
};

START_TEST(test_instances_bad)
{
	float *x = (float *)&x;
	size_t n = 99;
	struct api_err err;
	char what[200];

	snprintf(what, sizeof what, "row %d: %s", _i, instances_bad[_i].body);
	ck_assert_msg(decode_instances(instances_bad[_i].body, 2, 3, &x, &n, &err) == -1, "%s: accepted", what);
	ck_assert_ptr_null(x);
	ck_assert_uint_eq(n, 0);
	t_expect_err(&err, instances_bad[_i].code, instances_bad[_i].field, NULL, what);
}
END_TEST

/* ---- predictions out ---------------------------------------------------------------------- */

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

/* Reads every number after "predictions": with strtof, in order, until the
 * matrix closes. Returns how many it read. */
static size_t read_prediction_floats(const char *s, float *out, size_t max)
{
	const char *p = strstr(s, "\"predictions\":");
	size_t n = 0;
	int depth = 0;

	ck_assert_ptr_nonnull(p);
	p += strlen("\"predictions\":");
	do {
		if (*p == '[') {
			depth++, p++;
		} else if (*p == ']') {
			depth--, p++;
		} else if (*p == ',') {
			p++;
		} else {
			char *end;

			ck_assert_uint_lt(n, max);
			if (strncmp(p, "null", 4) == 0) {
				out[n++] = NAN;
				p += 4;
				continue;
			}
			out[n++] = strtof(p, &end);
			ck_assert_msg(end != p, "not a number at \"%.20s\"", p);
			p = end;
		}
	} while (depth > 0);
	return n;
}

START_TEST(test_predictions_roundtrip_strtof)
{
	static const float v[] = {0.1f, 1.0f / 3.0f, 1.4e-45f, -1.17549421e-38f, FLT_MIN, FLT_MAX, -FLT_MAX, -0.0f,
				  123456789.0f, 1e-7f, 0.99999994f, 16777217.0f, 2.0f / 3.0f, -5.5e-30f, 7.0f, 1e30f};
	static const int32_t classes[4] = {3, 0, -1, 2147483647};
	float back[16];
	char *s;
	cJSON *root, *pred;

	s = api_predictions_encode(12, v, 4, 4, classes);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(read_prediction_floats(s, back, 16), 16);
	for (int i = 0; i < 16; i++)
		ck_assert_msg(bits(back[i]) == bits(v[i]), "value %d: %a came back as %a (%s)", i, (double)v[i],
			      (double)back[i], s);
	root = cJSON_Parse(s);
	ck_assert_ptr_nonnull(root);
	free(s);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "id")->valueint, 12);
	pred = cJSON_GetObjectItemCaseSensitive(root, "predictions");
	ck_assert_int_eq(cJSON_GetArraySize(pred), 4);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetArrayItem(pred, 3)), 4);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "classes")), 4);
	ck_assert(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "classes"), 3)->valuedouble == 2147483647.0);
	cJSON_Delete(root);
}
END_TEST

START_TEST(test_predictions_shapes)
{
	static const float v[3] = {0.5f, NAN, INFINITY};
	char *s;

	/* no id, no classes: a regression answer with ?store=false */
	s = api_predictions_encode(0, v, 3, 1, NULL);
	ck_assert_str_eq(s, "{\"predictions\":[[0.5],[null],[null]]}");
	free(s);
	s = api_predictions_encode(5, v, 1, 3, NULL);
	ck_assert_str_eq(s, "{\"id\":5,\"predictions\":[[0.5,null,null]]}");
	free(s);
}
END_TEST

START_TEST(test_prediction_record_encode)
{
	static const float in[4] = {1, 2, 3, 4}, out[2] = {0.25f, 0.75f};
	static const int32_t classes[2] = {0, 1};
	struct api_prediction_info p = {.id = 9, .model_id = 2, .n = 2, .input_dim = 2, .outputs = 1,
					.inputs = in, .outputs_v = out, .classes = classes};
	cJSON *root, *items;
	char *s;

	snprintf(p.created_at, sizeof p.created_at, "2026-11-26T21:03:04Z");
	s = api_prediction_encode(&p);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "id")->valueint, 9);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "model_id")->valueint, 2);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "instances")), 2);
	ck_assert(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "instances"), 1), 0)
			  ->valuedouble == 3.0);
	ck_assert(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "predictions"), 1), 0)
			  ->valuedouble == 0.75);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "created_at")->valuestring, "2026-11-26T21:03:04Z");
	cJSON_Delete(root);

	p.classes = NULL;
	s = api_prediction_list_encode(&p, 1, 30);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	items = cJSON_GetObjectItemCaseSensitive(root, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 1);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, 0), "classes"));
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "total")->valueint, 30);
	cJSON_Delete(root);
	s = api_prediction_list_encode(NULL, 0, 0);
	ck_assert_str_eq(s, "{\"items\":[],\"total\":0}");
	free(s);
}
END_TEST

/* ---- evaluation ----------------------------------------------------------------------------- */

START_TEST(test_evaluate)
{
	static const struct {
		const char *body;
		int rc;
		int64_t id;
		const char *field;
	} rows[] = {
		{"{'dataset_id': 3}", 0, 3, NULL},
		{"{}", -1, 0, "dataset_id"},
		{"{'dataset_id': 0}", -1, 0, "dataset_id"},
		{"{'dataset_id': '3'}", -1, 0, "dataset_id"},
		{"{'dataset_id': 3, 'batch_size': 32}", -1, 0, "batch_size"},
		{"[3]", -1, 0, ""},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct tbody b = tq(rows[i].body);
		struct api_err err = {0};
		int64_t id = 0;
		int rc = api_evaluate_decode(b.p, b.n, &id, &err);

		tb_free(&b);
		ck_assert_msg(rc == rows[i].rc, "%s: rc %d", rows[i].body, rc);
		if (rc == 0)
			ck_assert_int_eq(id, rows[i].id);
		else
			t_expect_err(&err, API_VALIDATION_FAILED, rows[i].field, NULL, rows[i].body);
	}
}
END_TEST

START_TEST(test_evaluate_encode)
{
	struct nn_eval e = {.loss = 0.5, .metric = 0.75, .has_metric = true, .n = 10};
	char *s = api_evaluate_encode(&e);

	ck_assert_str_eq(s, "{\"loss\":0.5,\"accuracy\":0.75,\"n_samples\":10}");
	free(s);
	e.has_metric = false;
	e.loss = NAN;
	s = api_evaluate_encode(&e);
	ck_assert_str_eq(s, "{\"loss\":null,\"n_samples\":10}");
	free(s);
}
END_TEST

START_TEST(test_evaluate_metrics_encode)
{
	struct nn_eval e = {.loss = 0.5, .metric = 0.75, .has_metric = true, .n = 4};
	double v[NN_METRIC_COUNT];
	const uint64_t cm[4] = {1, 1, 0, 2};
	char *s;

	for (int m = 0; m < NN_METRIC_COUNT; m++)
		v[m] = NAN;
	v[NN_METRIC_ACCURACY] = 0.75; /* accuracy comes from e, never twice */
	v[NN_METRIC_RECALL] = 1.0;
	s = api_evaluate_metrics_encode(&e, NN_METRIC_BIT(NN_METRIC_ACCURACY) | NN_METRIC_BIT(NN_METRIC_RECALL) |
						    NN_METRIC_BIT(NN_METRIC_AUC),
					v, cm, 2);
	ck_assert_str_eq(s, "{\"loss\":0.5,\"accuracy\":0.75,\"recall\":1,\"auc\":null,"
			    "\"confusion_matrix\":[[1,1],[0,2]],\"n_samples\":4}");
	free(s);
	/* regression: no confusion matrix */
	e.has_metric = false;
	v[NN_METRIC_MAE] = 0.25;
	s = api_evaluate_metrics_encode(&e, NN_METRIC_BIT(NN_METRIC_MAE), v, NULL, 0);
	ck_assert_str_eq(s, "{\"loss\":0.5,\"mae\":0.25,\"n_samples\":4}");
	free(s);
}
END_TEST

/* ---- paging and ids ----------------------------------------------------------------------- */

static const struct {
	const char *limit, *offset;
	int rc;
	uint32_t lim;
	uint64_t off;
	const char *field;
} page_rows[] = {
	{NULL, NULL, 0, 50, 0, NULL},
	{"1", NULL, 0, 1, 0, NULL},
	{"500", "0", 0, 500, 0, NULL},
	{"20", "40", 0, 20, 40, NULL},
	{NULL, "1000000000000", 0, 50, 1000000000000ULL, NULL},
	{"0", NULL, -1, 0, 0, "limit"},
	{"501", NULL, -1, 0, 0, "limit"},
	{"-1", NULL, -1, 0, 0, "limit"},
	{"", NULL, -1, 0, 0, "limit"},
	{"abc", NULL, -1, 0, 0, "limit"},
	{"10x", NULL, -1, 0, 0, "limit"},
	{" 10", NULL, -1, 0, 0, "limit"},
	{"+10", NULL, -1, 0, 0, "limit"},
	{"1e2", NULL, -1, 0, 0, "limit"},
	{"99999999999999999999", NULL, -1, 0, 0, "limit"},
	{NULL, "-1", -1, 0, 0, "offset"},
	{NULL, "", -1, 0, 0, "offset"},
	{NULL, "1.5", -1, 0, 0, "offset"},
	{NULL, "1000000000001", -1, 0, 0, "offset"},
	{NULL, "18446744073709551616", -1, 0, 0, "offset"},
	{"10", "x", -1, 0, 0, "offset"},
};

START_TEST(test_page_parse)
{
	uint32_t lim = 7;
	uint64_t off = 7;
	struct api_err err = {0};
	int rc = api_page_parse(page_rows[_i].limit, page_rows[_i].offset, &lim, &off, &err);
	char what[100];

	snprintf(what, sizeof what, "limit %s offset %s", page_rows[_i].limit ? page_rows[_i].limit : "(none)",
		 page_rows[_i].offset ? page_rows[_i].offset : "(none)");
	ck_assert_msg(rc == page_rows[_i].rc, "%s: rc %d", what, rc);
	if (rc == 0) {
		ck_assert_uint_eq(lim, page_rows[_i].lim);
		ck_assert_uint_eq(off, page_rows[_i].off);
	} else {
		t_expect_err(&err, API_VALIDATION_FAILED, page_rows[_i].field, NULL, what);
	}
}
END_TEST

START_TEST(test_id_parse)
{
	static const struct {
		const char *s;
		bool ok;
		int64_t id;
	} rows[] = {
		{"1", true, 1},
		{"42", true, 42},
		{"999999999999999", true, 999999999999999LL},
		{"1000000000000000", false, 0},
		{"0", false, 0},
		{"007", false, 0},
		{"-1", false, 0},
		{"+1", false, 0},
		{"", false, 0},
		{"12a", false, 0},
		{"1.0", false, 0},
		{" 1", false, 0},
		{"1 ", false, 0},
		{"0x10", false, 0},
		{"92233720368547758070", false, 0},
	};
	int64_t id;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		id = -7;
		ck_assert_msg(api_id_parse(rows[i].s, &id) == rows[i].ok, "\"%s\"", rows[i].s);
		if (rows[i].ok)
			ck_assert_int_eq(id, rows[i].id);
	}
	ck_assert(!api_id_parse(NULL, &id));
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */

START_TEST(test_error_table)
{
	static const struct {
		enum api_code code;
		int status;
		const char *name;
	} rows[] = {
		{API_OK, 200, "ok"},
		{API_INVALID_JSON, 400, "invalid_json"},
		{API_INVALID_CSV, 400, "invalid_csv"},
		{API_INVALID_NPY, 400, "invalid_npy"},
		{API_UNAUTHORIZED, 401, "unauthorized"},
		{API_NOT_FOUND, 404, "not_found"},
		{API_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
		{API_CONFLICT, 409, "conflict"},
		{API_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
		{API_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type"},
		{API_VALIDATION_FAILED, 422, "validation_failed"},
		{API_INTERNAL, 500, "internal_error"},
		{API_QUEUE_FULL, 503, "queue_full"},
		{API_SHUTTING_DOWN, 503, "shutting_down"},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		ck_assert_int_eq(api_status(rows[i].code), rows[i].status);
		ck_assert_str_eq(api_code_name(rows[i].code), rows[i].name);
	}
	ck_assert_int_eq(api_status(API_CODE_COUNT), 500);
	ck_assert_int_eq(api_status((enum api_code)-1), 500);
	ck_assert_str_eq(api_code_name(API_CODE_COUNT), "internal_error");
}
END_TEST

START_TEST(test_err_json_shape)
{
	struct api_err err;
	cJSON *root, *e;
	char *s;

	/* with a field: exactly {"error": {"code", "message", "field"}} */
	ck_assert_int_eq(api_fail(&err, API_VALIDATION_FAILED, "layers[1].units",
				  "layers[1].units must be an integer in %d..%d", 1, 65536),
			 -1);
	s = api_err_json(&err);
	ck_assert_str_eq(s, "{\"error\":{\"code\":\"validation_failed\",\"message\":\"layers[1].units must be an "
			    "integer in 1..65536\",\"field\":\"layers[1].units\"}}");
	free(s);

	/* without a field: no "field" key */
	api_fail(&err, API_NOT_FOUND, NULL, "no model with id %d", 9);
	s = api_err_json(&err);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(root), 1);
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	ck_assert_int_eq(cJSON_GetArraySize(e), 2);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(e, "code")->valuestring, "not_found");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring, "no model with id 9");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(e, "field"));
	cJSON_Delete(root);

	/* an empty message falls back to the code; quotes and control characters are escaped */
	api_fail(&err, API_CONFLICT, "", "%s", "");
	s = api_err_json(&err);
	ck_assert_str_eq(s, "{\"error\":{\"code\":\"conflict\",\"message\":\"conflict\"}}");
	free(s);
	api_fail(&err, API_INVALID_CSV, NULL, "line 2, column 1: \"a\tb\" is not a finite number");
	s = api_err_json(&err);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"), "message")
				 ->valuestring,
			 "line 2, column 1: \"a\tb\" is not a finite number");
	cJSON_Delete(root);
}
END_TEST

/* A message longer than the buffer is cut, not overflowed; a long field too. */
START_TEST(test_err_truncation)
{
	struct api_err err;
	char big[1000];

	memset(big, 'm', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	api_fail(&err, API_VALIDATION_FAILED, big, "%s", big);
	ck_assert_uint_eq(strlen(err.message), sizeof err.message - 1);
	ck_assert_uint_eq(strlen(err.field), sizeof err.field - 1);
}
END_TEST

/* A JSON integer past 2^53 cannot be told from its neighbours once parsed
 * into a double: 9007199254740993 arrives as 9007199254740992. Taking it
 * would silently act on another number (model_id 9007199254740993 would look
 * up model 9007199254740992), so integers must stay below 2^53. */
START_TEST(test_int_beyond_2_53)
{
	cJSON *o = cJSON_Parse("{\"big\": 9007199254740993, \"max\": 9007199254740991}");
	struct api_err err = {0};
	int64_t big = -1, max = -1;
	int rc_big, rc_max;

	ck_assert_ptr_nonnull(o);
	rc_big = api_get_int(o, "", "big", true, 1, INT64_MAX, &big, &err);
	rc_max = api_get_int(o, "", "max", true, 1, INT64_MAX, &max, &err);
	cJSON_Delete(o);
	ck_assert_int_eq(rc_max, 0);
	ck_assert_int_eq(max, 9007199254740991LL);
	ck_assert_msg(rc_big == -1, "9007199254740993 was taken as %lld", (long long)big);
}
END_TEST

/* ---- the strict parser ------------------------------------------------------------------------ */

static const struct {
	const char *body; /* raw (double quotes), may hold NUL: len below */
	size_t len;       /* 0: strlen */
	bool ok;
	const char *message; /* the whole message when refused */
} parse_rows[] = {
	{"{\"a\": 1}", 0, true, NULL},
	{"  \r\n\t{\"a\": [1, 2]}  \r\n\t", 0, true, NULL},
	{"{\"s\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 0, true, NULL},
	{"[1]", 0, true, NULL},
	{"", 0, false, "the body is empty; expected a JSON object"},
	{"{\n  \"a\": 1,\n  \"b\": ]\n}", 0, false,
	 "the body is not valid JSON: syntax error at line 3, column 8 (byte 19)"},
	{"{\"a\":}", 0, false, "the body is not valid JSON: syntax error at line 1, column 6 (byte 5)"},
	{"{\"a\" 1}", 0, false, "the body is not valid JSON: syntax error at line 1, column 6 (byte 5)"},
	{"{\r\n\"a\": 1,\r\n\"b\": x}", 0, false, "the body is not valid JSON: syntax error at line 3, column 6 (byte 17)"},
	{"{\"a\":1} x", 0, false, "the body is not valid JSON: unexpected data after the value at line 1, column 9"},
	{"{\"a\":1}\n\n  }", 0, false,
	 "the body is not valid JSON: unexpected data after the value at line 3, column 3"},
	{"{\"a\":1}{\"b\":2}", 0, false,
	 "the body is not valid JSON: unexpected data after the value at line 1, column 8"},
	{"{\"a\":1}\0", 8, false, "the body is not valid JSON: unexpected data after the value at line 1, column 8"},
	{"{\"a\":1}\0{\"b\":2}", 14, false,
	 "the body is not valid JSON: unexpected data after the value at line 1, column 8"},
	/* the length bounds the parse: a body cut short is not completed by what follows in memory */
	{"{\"a\":1}", 6, false, NULL},
	{"{\"a\": \"\xff\"}", 0, false, "the body is not valid UTF-8"},
	{"{\"a\": \"\xc0\xaf\"}", 0, false, "the body is not valid UTF-8"},
	{"{\"a\": \"\xed\xa0\x80\"}", 0, false, "the body is not valid UTF-8"},
	{"{\"a\": \"\xf4\x90\x80\x80\"}", 0, false, "the body is not valid UTF-8"},
	{"{\"a\": \"\xe2\x82\"}", 0, false, "the body is not valid UTF-8"},
	{"{\"a\": 1} \xe2\x82", 0, false, NULL},
};

START_TEST(test_json_parse)
{
	size_t len = parse_rows[_i].len ? parse_rows[_i].len : strlen(parse_rows[_i].body);
	struct tbody b = tb_raw(parse_rows[_i].body, len);
	struct api_err err = {0};
	cJSON *root = api_json_parse(b.p, b.n, &err);
	bool ok = root != NULL;

	cJSON_Delete(root);
	tb_free(&b);
	ck_assert_msg(ok == parse_rows[_i].ok, "row %d: %s", _i, err.message);
	if (!ok) {
		ck_assert_int_eq(err.code, API_INVALID_JSON);
		ck_assert_str_eq(err.field, "");
		if (parse_rows[_i].message)
			ck_assert_str_eq(err.message, parse_rows[_i].message);
	}
}
END_TEST

/* The strict getters: absent, null, wrong type, out of range. */
START_TEST(test_getters)
{
	cJSON *o = cJSON_Parse("{\"i\": 5, \"f\": 2.5, \"s\": \"x\", \"b\": true, \"n\": null,"
			       "\"e\": \"\", \"neg\": -0.0}");
	struct api_err err = {0};
	int64_t i = -1;
	double d = -1;
	bool b = false;
	char s[8];

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(api_get_int(o, "", "i", true, 1, 10, &i, &err), 0);
	ck_assert_int_eq(i, 5);
	ck_assert_int_eq(api_get_int(o, "p", "i", true, 6, 10, &i, &err), -1);
	ck_assert_str_eq(err.field, "p.i");
	ck_assert_int_eq(api_get_int(o, "", "f", true, 0, 10, &i, &err), -1);
	ck_assert_int_eq(api_get_int(o, "", "neg", true, 0, 10, &i, &err), 0);
	ck_assert_int_eq(i, 0);
	/* absent or null: required fails, optional leaves the value alone */
	i = 77;
	ck_assert_int_eq(api_get_int(o, "", "n", false, 0, 10, &i, &err), 0);
	ck_assert_int_eq(api_get_int(o, "", "zz", false, 0, 10, &i, &err), 0);
	ck_assert_int_eq(i, 77);
	ck_assert_int_eq(api_get_int(o, "", "n", true, 0, 10, &i, &err), -1);
	ck_assert_str_eq(err.field, "n");
	ck_assert_int_eq(api_get_number(o, "", "f", true, 0, 2.5, &d, &err), 0);
	ck_assert(d == 2.5);
	ck_assert_int_eq(api_get_number(o, "", "f", true, 0, 2.4, &d, &err), -1);
	ck_assert_int_eq(api_get_number(o, "", "s", true, 0, 2.4, &d, &err), -1);
	ck_assert_int_eq(api_get_bool(o, "", "b", true, &b, &err), 0);
	ck_assert(b);
	ck_assert_int_eq(api_get_bool(o, "", "i", true, &b, &err), -1);
	ck_assert_int_eq(api_get_string(o, "", "s", true, 7, s, &err), 0);
	ck_assert_str_eq(s, "x");
	ck_assert_int_eq(api_get_string(o, "", "e", true, 7, s, &err), -1);
	ck_assert_int_eq(api_get_string(o, "", "i", true, 7, s, &err), -1);
	cJSON_Delete(o);
}
END_TEST

/* Classes by name: an index within the names is its name (JSON-escaped), past them the index. */
START_TEST(test_predictions_named)
{
	float v[3] = {0.25f, 0.5f, 1};
	int32_t classes[3] = {1, 0, 5};
	char *s = api_predictions_encode_named(7, v, 3, 1, classes, "[\"a \\\"b\\\"\",\"c\"]");

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "{\"id\":7,\"predictions\":[[0.25],[0.5],[1]],\"classes\":[\"c\",\"a \\\"b\\\"\",5]}");
	free(s);
	/* no names: the plain encoding */
	s = api_predictions_encode_named(0, v, 1, 1, classes, NULL);
	ck_assert_str_eq(s, "{\"predictions\":[[0.25]],\"classes\":[1]}");
	free(s);
	s = api_predictions_encode_named(0, v, 1, 1, classes, "[]");
	ck_assert_str_eq(s, "{\"predictions\":[[0.25]],\"classes\":[1]}");
	free(s);
	/* a key appended to an encoded object */
	s = api_json_add_raw(strdup("{\"a\":1}"), "class_names", "[\"x\"]");
	ck_assert_str_eq(s, "{\"a\":1,\"class_names\":[\"x\"]}");
	free(s);
	s = api_json_add_raw(strdup("{}"), "k", NULL);
	ck_assert_str_eq(s, "{\"k\":null}");
	free(s);
	ck_assert_ptr_null(api_json_add_raw(NULL, "k", NULL));
	ck_assert_ptr_null(api_json_add_raw(strdup("[1]"), "k", NULL));
}
END_TEST

/* Rows by column name: any key order, every name once, numbers only; arrays still welcome. */
START_TEST(test_instances_by_name)
{
	static const char names[] = "[\"a\",\"b\"]";
	struct api_err err = {0};
	float *x;
	size_t n;
	char *fn;

	ck_assert_int_eq(api_instances_decode_named("{\"instances\": [{\"b\": 2, \"a\": 1}, [3, 4]]}", 41, 2, names,
						    10, &x, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
	free(x);
#define NAMED_FAILS(body, f)                                                                                 \
	do {                                                                                                   \
		memset(&err, 0, sizeof err);                                                                   \
		ck_assert_int_eq(api_instances_decode_named(body, strlen(body), 2, names, 10, &x, &n, &err), -1); \
		ck_assert_int_eq(err.code, API_VALIDATION_FAILED);                                             \
		ck_assert_str_eq(err.field, f);                                                                \
		ck_assert_ptr_null(x);                                                                         \
	} while (0)
	NAMED_FAILS("{\"instances\": [{\"a\": 1}]}", "instances[0].b");
	NAMED_FAILS("{\"instances\": [{\"a\": 1, \"b\": 2, \"c\": 3}]}", "instances[0].c");
	NAMED_FAILS("{\"instances\": [[1, 2], {\"a\": 1, \"B\": 2}]}", "instances[1].B");
	NAMED_FAILS("{\"instances\": [{\"a\": null, \"b\": 2}]}", "instances[0].a");
	NAMED_FAILS("{\"instances\": [{\"a\": \"x\", \"b\": 2}]}", "instances[0].a");
	NAMED_FAILS("{\"instances\": [{\"a\": 1e39, \"b\": 2}]}", "instances[0].a");
	NAMED_FAILS("{\"instances\": [{\"a\": 1, \"a\": 1, \"b\": 2}]}", "instances[0].a");
	/* a model without names */
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_instances_decode_named("{\"instances\": [{\"a\": 1, \"b\": 2}]}", 33, 2, NULL, 10, &x,
						    &n, &err), -1);
	ck_assert_str_eq(err.field, "instances[0]");
#undef NAMED_FAILS
	fn = api_columns_feature_names("[{\"name\":\"x\",\"role\":\"feature\"},{\"name\":\"y\",\"role\":\"label\"},"
				       "{\"name\":\"z\",\"role\":\"feature\"}]");
	ck_assert_str_eq(fn, "[\"x\",\"z\"]");
	free(fn);
	ck_assert_ptr_null(api_columns_feature_names(NULL));
	ck_assert_ptr_null(api_columns_feature_names("{"));
}
END_TEST

Suite *suite_api_predict(void)
{
	Suite *s = suite_create("api_predict");
	TCase *pred = tcase_create("predict");
	TCase *misc = tcase_create("paging_errors_json");

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
	tcase_add_test(pred, test_instances_good);
	tcase_add_loop_test(pred, test_instances_bad, 0, N(instances_bad));
	tcase_add_test(pred, test_predictions_roundtrip_strtof);
	tcase_add_test(pred, test_predictions_shapes);
	tcase_add_test(pred, test_predictions_named);
	tcase_add_test(pred, test_instances_by_name);
	tcase_add_test(pred, test_prediction_record_encode);
	tcase_add_test(pred, test_evaluate);
	tcase_add_test(pred, test_evaluate_encode);
	suite_add_tcase(s, pred);
	tcase_add_loop_test(misc, test_page_parse, 0, N(page_rows));
	tcase_add_test(misc, test_id_parse);
	tcase_add_test(misc, test_error_table);
	tcase_add_test(misc, test_err_json_shape);
	tcase_add_test(misc, test_err_truncation);
	tcase_add_loop_test(misc, test_json_parse, 0, N(parse_rows));
	tcase_add_test(misc, test_getters);
	tcase_add_test(misc, test_evaluate_metrics_encode);
	tcase_add_test(misc, test_int_beyond_2_53);
	suite_add_tcase(s, misc);
#undef N
	return s;
}
