/*
 * test_api_v2.c — api/api_v2.c: the Open Inference Protocol's inference
 * request (flat and nested data, shape against data, datatypes, names, the
 * binary extension refused), its response, metadata and error bodies, and
 * the decoder under allocation failures.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_v2.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_v2(void);

static int decode(const char *sq, uint32_t input_dim, uint32_t max_rows, struct api_v2_infer *in,
		  struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_v2_infer_decode(b.p, b.n, input_dim, max_rows, in, err);
	tb_free(&b);
	return rc;
}

START_TEST(test_decode_flat_and_nested)
{
	static const char *const bodies[] = {
		"{'inputs': [{'name': 'input', 'shape': [2, 3], 'datatype': 'FP32', 'data': [1, 2.5, -3, 0.1, 0, 1e-3]}]}",
		"{'id': 'r1', 'parameters': {'store': false, 'x': [1]}, 'outputs': [{'name': 'output'}],"
		" 'inputs': [{'name': 'input', 'shape': [2, 3], 'datatype': 'FP32', 'parameters': {},"
		" 'data': [[1, 2.5, -3], [0.1, 0, 1e-3]]}]}",
	};
	static const float want[] = {1.0f, 2.5f, -3.0f, 0.1f, 0.0f, 1e-3f};

	for (size_t k = 0; k < 2; k++) {
		struct api_v2_infer in;
		struct api_err err;

		ck_assert_msg(decode(bodies[k], 3, 2, &in, &err) == 0, "%s", err.message);
		ck_assert_uint_eq(in.n, 2);
		for (int i = 0; i < 6; i++)
			ck_assert_msg(in.x[i] == want[i], "body %zu value %d", k, i);
		if (k == 0) {
			ck_assert_ptr_null(in.id);
			ck_assert(in.store);
		} else {
			ck_assert_str_eq(in.id, "r1");
			ck_assert(!in.store);
		}
		api_v2_infer_free(&in);
		api_v2_infer_free(&in); /* safe twice */
	}
}
END_TEST

#define REST(fields) "'inputs': [{" fields "}]}" /* the end of a body whose beginning has other keys */
#define IN(fields) "{" REST(fields)
#define GOOD_T "'name': 'input', 'datatype': 'FP32'"

static const struct {
	const char *body;
	enum api_code code;
	const char *msg;
} bad[] = {
	{"", API_INVALID_JSON, "empty"},
	{"[1]", API_VALIDATION_FAILED, "object"},
	{"{}", API_VALIDATION_FAILED, "inputs is required"},
	{"{'inputs': []}", API_VALIDATION_FAILED, "one tensor"},
	{"{'inputs': {}}", API_VALIDATION_FAILED, "one tensor"},
	{"{'inputs': [1]}", API_VALIDATION_FAILED, "inputs[0]"},
	{IN("'name': 'x', 'datatype': 'FP32', 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "'x'"},
	{IN("'datatype': 'FP32', 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "name"},
	{IN("'name': 'input', 'datatype': 'FP64', 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED,
	 "has datatype FP64"},
	{IN("'name': 'input', 'datatype': 'BYTES', 'shape': [1, 2], 'data': ['a', 'b']"), API_VALIDATION_FAILED,
	 "has datatype BYTES"},
	{IN("'name': 'input', 'datatype': 'float', 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED,
	 "not a tensor data type"},
	{IN("'name': 'input', 'datatype': 32, 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "datatype"},
	{IN(GOOD_T ", 'data': [1, 2]"), API_VALIDATION_FAILED, "shape is required"},
	{IN(GOOD_T ", 'shape': [2], 'data': [1, 2]"), API_VALIDATION_FAILED, "[rows, 2]"},
	{IN(GOOD_T ", 'shape': [1, 3], 'data': [1, 2, 3]"), API_VALIDATION_FAILED, "[rows, 2]"},
	{IN(GOOD_T ", 'shape': [1, 1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "[rows, 2]"},
	{IN(GOOD_T ", 'shape': [0, 2], 'data': []"), API_VALIDATION_FAILED, "1..3 rows"},
	{IN(GOOD_T ", 'shape': [4, 2], 'data': [1, 2, 3, 4, 5, 6, 7, 8]"), API_VALIDATION_FAILED, "1..3 rows"},
	{IN(GOOD_T ", 'shape': [-1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "non-negative integers"},
	{IN(GOOD_T ", 'shape': [1.5, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "non-negative integers"},
	{IN(GOOD_T ", 'shape': [1, 6e106], 'data': [1, 2]"), API_VALIDATION_FAILED, "non-negative integers"},
	{IN(GOOD_T ", 'shape': [-1e300, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "non-negative integers"},
	{IN(GOOD_T ", 'shape': '1,2', 'data': [1, 2]"), API_VALIDATION_FAILED, "array of integers"},
	{IN(GOOD_T ", 'shape': [1, 2]"), API_VALIDATION_FAILED, "data is required"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': 1"), API_VALIDATION_FAILED, "flat or nested"},
	{IN(GOOD_T ", 'shape': [2, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "has 2 values"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, 2, 3]"), API_VALIDATION_FAILED, "has 3 values"},
	{IN(GOOD_T ", 'shape': [2, 2], 'data': [[1, 2]]"), API_VALIDATION_FAILED, "has 1 rows"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [[1]]"), API_VALIDATION_FAILED, "data[0]"},
	{IN(GOOD_T ", 'shape': [2, 2], 'data': [[1, 2], 3]"), API_VALIDATION_FAILED, "data[1]"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, '2']"), API_VALIDATION_FAILED, "data[1] must be a finite"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, 1e39]"), API_VALIDATION_FAILED, "data[1] must be a finite"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, 2], 'extra': 1"), API_VALIDATION_FAILED, "extra"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, 2], 'parameters': 1"), API_VALIDATION_FAILED, "object"},
	{IN(GOOD_T ", 'shape': [1, 2], 'data': [1, 2], 'parameters': {'binary_data_size': 8}"), API_BAD_REQUEST,
	 "binary"},
	{"{'parameters': {'binary_data_output': true}, 'inputs': []}", API_BAD_REQUEST, "binary"},
	{"{'parameters': {'store': 1}, " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED,
	 "store"},
	{"{'id': 7, " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "id must be a string"},
	{"{'outputs': [{'name': 'probs'}], " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"),
	 API_VALIDATION_FAILED, "'probs'"},
	{"{'outputs': [{'name': 'output', 'parameters': {'binary_data': true}}], "
	 REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), API_BAD_REQUEST, "binary"},
	{"{'outputs': {}, " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "outputs"},
	{"{'model': 'x', " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), API_VALIDATION_FAILED, "model"},
};

START_TEST(test_decode_bad)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct api_v2_infer in;
		struct api_err err;
		char what[600];

		snprintf(what, sizeof what, "bad[%zu] %s", i, bad[i].body);
		ck_assert_msg(decode(bad[i].body, 2, 3, &in, &err) == -1, "%s: accepted", what);
		ck_assert_msg(err.code == bad[i].code, "%s: code %s, message %s", what, api_code_name(err.code),
			      err.message);
		ck_assert_msg(strstr(err.message, bad[i].msg), "%s: message \"%s\" lacks \"%s\"", what, err.message,
			      bad[i].msg);
		ck_assert_int_eq(api_v2_status(err.code), 400);
		ck_assert_ptr_null(in.x);
		ck_assert_ptr_null(in.id);
	}
}
END_TEST

START_TEST(test_id_limit)
{
	char body[512];
	struct api_v2_infer in;
	struct api_err err;
	char id[API_V2_ID_MAX + 2];

	memset(id, 'a', sizeof id - 1);
	id[API_V2_ID_MAX] = '\0'; /* exactly the limit */
	snprintf(body, sizeof body, "{'id': '%s', " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), id);
	ck_assert_msg(decode(body, 2, 1, &in, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(strlen(in.id), API_V2_ID_MAX);
	api_v2_infer_free(&in);
	id[API_V2_ID_MAX] = 'a';
	id[API_V2_ID_MAX + 1] = '\0';
	snprintf(body, sizeof body, "{'id': '%s', " REST(GOOD_T ", 'shape': [1, 2], 'data': [1, 2]"), id);
	ck_assert_int_eq(decode(body, 2, 1, &in, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "at most 256 bytes"));
}
END_TEST

START_TEST(test_encode)
{
	static const float out[] = {0.25f, 0.75f, 1.0f / 3.0f, 1e-8f};
	struct api_err err = {0};
	char *s;

	s = api_v2_infer_encode("m\"1", NULL, "a\\b\n", out, 2, 2);
	ck_assert_str_eq(s, "{\"model_name\":\"m\\\"1\",\"id\":\"a\\\\b\\u000a\",\"outputs\":[{\"name\":\"output\","
			    "\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[0.25,0.75,0.333333343,9.99999994e-09]}]}");
	free(s);
	s = api_v2_infer_encode("3", "2", NULL, out, 1, 1);
	ck_assert_str_eq(s, "{\"model_name\":\"3\",\"model_version\":\"2\",\"outputs\":[{\"name\":\"output\","
			    "\"shape\":[1,1],\"datatype\":\"FP32\",\"data\":[0.25]}]}");
	free(s);
	s = api_v2_model_encode("3", NULL, 16, 4);
	ck_assert_str_eq(s, "{\"name\":\"3\",\"platform\":\"fitd\",\"inputs\":[{\"name\":\"input\",\"datatype\":"
			    "\"FP32\",\"shape\":[-1,16]}],\"outputs\":[{\"name\":\"output\",\"datatype\":\"FP32\","
			    "\"shape\":[-1,4]}]}");
	free(s);
	s = api_v2_model_encode("3", "1", 2, 1);
	ck_assert_ptr_nonnull(strstr(s, "\"versions\":[\"1\"]"));
	free(s);
	s = api_v2_model_ready_encode("x", true);
	ck_assert_str_eq(s, "{\"name\":\"x\",\"ready\":true}");
	free(s);
	s = api_v2_server_encode("0.1.0");
	ck_assert_str_eq(s, "{\"name\":\"fitd\",\"version\":\"0.1.0\",\"extensions\":[]}");
	free(s);
	api_fail(&err, API_NOT_FOUND, NULL, "model \"a\" not found");
	s = api_v2_error_json(&err);
	ck_assert_str_eq(s, "{\"error\":\"model \\\"a\\\" not found\"}");
	free(s);
	ck_assert_int_eq(api_v2_status(API_NOT_FOUND), 404);
	ck_assert_int_eq(api_v2_status(API_INVALID_JSON), 400);
	ck_assert_int_eq(api_v2_status(API_UNAVAILABLE), 503);
}
END_TEST

/* Every allocation of a decode failed in turn: 503 unavailable, nothing leaked
 * (LeakSanitizer under make test-san), or success with the same rows. */
START_TEST(test_decode_out_of_memory)
{
	const char *sq = "{'id': 'abc', " REST(GOOD_T ", 'shape': [2, 2], 'data': [[1, 2], [3, 4]]");
	struct tbody b = tq(sq);
	long n;

	for (n = 1; n < 1000; n++) {
		struct api_v2_infer in;
		struct api_err err = {0};
		int rc;

		api_alloc_fail_nth(n);
		rc = api_v2_infer_decode(b.p, b.n, 2, 2, &in, &err);
		if (api_alloc_fail_pending()) {
			api_alloc_fail_nth(0);
			ck_assert_int_eq(rc, 0);
			api_v2_infer_free(&in);
			break;
		}
		if (rc == 0) {
			ck_assert(in.n == 2 && in.x[3] == 4.0f && strcmp(in.id, "abc") == 0);
			api_v2_infer_free(&in);
		} else {
			ck_assert_msg(err.code == API_UNAVAILABLE, "allocation %ld: %s", n, err.message);
		}
	}
	ck_assert_int_gt(n, 3);
	tb_free(&b);
}
END_TEST

Suite *suite_api_v2(void)
{
	Suite *s = suite_create("api_v2");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_decode_flat_and_nested);
	tcase_add_test(tc, test_decode_bad);
	tcase_add_test(tc, test_id_limit);
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_decode_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}
