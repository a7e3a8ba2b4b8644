/*
 * test_api_alloc.c — out of memory in api/ (api/api_alloc.c's hook): every
 * allocation of a call is made to fail in turn (n = 1, 2, ... until the call
 * runs without reaching the n-th), and each run must end cleanly: a decoder
 * either succeeds with the same result or fails with 503 unavailable (never
 * a misleading 400 or 422), an encoder returns the complete text or NULL
 * (never a tree that silently lost a field), a CSV reader reports 503. Under
 * `make test-san` LeakSanitizer checks that no run leaks.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

Suite *suite_api_alloc(void);

#define MODEL_BODY                                                                                         \
	"{\"name\": \"m\", \"input_dim\": 3, \"layers\": [{\"type\": \"dense\", \"units\": 4, "                  \
	"\"activation\": {\"type\": \"leaky_relu\", \"alpha\": 0.1}}, {\"type\": \"dropout\", \"rate\": 0.5}, " \
	"{\"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}], \"loss\": "                          \
	"\"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\"}, \"metrics\": [\"accuracy\"], " \
	"\"seed\": 1}"

#define KERAS_BODY                                                                                              \
	"{\"name\": \"k\", \"loss\": \"mse\", \"keras\": \"{\\\"class_name\\\": \\\"Sequential\\\", \\\"config\\\": " \
	"{\\\"layers\\\": [{\\\"class_name\\\": \\\"InputLayer\\\", \\\"config\\\": {\\\"batch_input_shape\\\": "     \
	"[null, 3]}}, {\\\"class_name\\\": \\\"Dense\\\", \\\"config\\\": {\\\"units\\\": 2}}]}}\"}"

/* The fault was armed for allocation n; did the call reach it? */
static bool fault_fired(void)
{
	bool fired = !api_alloc_fail_pending();

	api_alloc_fail_nth(0);
	return fired;
}

/* A decoder run under the fault: success with the reference result, or
 * 503 unavailable. */
static void judge_decode(int rc, const struct api_err *err, bool same_as_reference, long n)
{
	if (rc == 0) {
		ck_assert_msg(same_as_reference, "allocation %ld failed, the decoder succeeded with another result", n);
		return;
	}
	ck_assert_msg(err->code == API_UNAVAILABLE && api_status(err->code) == 503,
		      "allocation %ld failed: %s (%d) \"%s\" instead of 503 unavailable", n, api_code_name(err->code),
		      api_status(err->code), err->message);
}

static void model_decode_under_faults(const char *body)
{
	struct api_model_def ref, got;
	struct api_err err = {0};
	char *ref_text, *got_text;
	long n;

	ck_assert_msg(api_model_decode(body, strlen(body), &ref, &err) == 0, "%s", err.message);
	ref_text = api_model_def_encode(&ref);
	ck_assert_ptr_nonnull(ref_text);
	for (n = 1;; n++) {
		int rc;

		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(n);
		rc = api_model_decode(body, strlen(body), &got, &err);
		if (!fault_fired()) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		got_text = rc == 0 ? api_model_def_encode(&got) : NULL;
		judge_decode(rc, &err, got_text && strcmp(got_text, ref_text) == 0, n);
		free(got_text);
	}
	ck_assert_int_gt(n, 3); /* the body does allocate: the faults were exercised */
	free(ref_text);
}

START_TEST(test_model_decode_out_of_memory)
{
	model_decode_under_faults(MODEL_BODY);
}
END_TEST

/* The Keras import parses a second JSON text (the string): its failure is
 * out of memory too, not "keras is not valid JSON". */
START_TEST(test_keras_decode_out_of_memory)
{
	model_decode_under_faults(KERAS_BODY);
}
END_TEST

START_TEST(test_dataset_decode_out_of_memory)
{
	static const char body[] = "{\"name\": \"d\", \"x\": [[1, 2], [3, 4], [5, 6]], \"y\": [0, 1, 1]}";
	struct api_limits lim = {.max_rows = 100, .max_cells = 1000, .max_instances = 10};
	struct api_dataset_body ref, got;
	struct api_err err = {0};
	long n;

	ck_assert_msg(api_dataset_decode(body, strlen(body), &lim, &ref, &err) == 0, "%s", err.message);
	for (n = 1;; n++) {
		int rc;

		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(n);
		rc = api_dataset_decode(body, strlen(body), &lim, &got, &err);
		if (!fault_fired()) {
			ck_assert_int_eq(rc, 0);
			api_dataset_body_free(&got);
			break;
		}
		judge_decode(rc, &err,
			     rc == 0 && memcmp(got.x, ref.x, 6 * sizeof(float)) == 0 &&
				     memcmp(got.y, ref.y, 3 * sizeof(float)) == 0,
			     n);
		if (rc == 0)
			api_dataset_body_free(&got);
	}
	ck_assert_int_gt(n, 3);
	api_dataset_body_free(&ref);
}
END_TEST

START_TEST(test_instances_and_job_decode_out_of_memory)
{
	static const char instances[] = "{\"instances\": [[1, 2, 3], [4, 5, 6]]}";
	static const char job[] = "{\"model_id\": 1, \"dataset_id\": 2, \"epochs\": 3, "
				  "\"early_stopping\": {\"monitor\": \"loss\", \"patience\": 2}}";
	struct api_job_req req;
	struct api_err err = {0};
	float *x = NULL;
	size_t rows = 0;
	long n;

	for (n = 1;; n++) {
		int rc;

		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(n);
		rc = api_instances_decode(instances, strlen(instances), 3, 10, &x, &rows, &err);
		if (!fault_fired()) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		judge_decode(rc, &err, rc == 0 && rows == 2 && x[5] == 6.0f, n);
		free(x);
		x = NULL;
	}
	ck_assert_int_gt(n, 2);
	free(x);
	for (n = 1;; n++) {
		int rc;

		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(n);
		rc = api_job_decode(job, strlen(job), &req, &err);
		if (!fault_fired()) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		judge_decode(rc, &err, rc == 0 && req.fit.epochs == 3 && req.fit.patience == 2, n);
	}
	ck_assert_int_gt(n, 2);
}
END_TEST

/* ---- encoders --------------------------------------------------------------------------- */

/* Runs encode() with each allocation failing in turn: NULL or the reference. */
static void encode_under_faults(char *(*encode)(const void *arg), const void *arg)
{
	char *ref = encode(arg), *got;
	long n;

	ck_assert_ptr_nonnull(ref);
	for (n = 1;; n++) {
		api_alloc_fail_nth(n);
		got = encode(arg);
		if (!fault_fired()) {
			ck_assert_ptr_nonnull(got);
			ck_assert_str_eq(got, ref);
			free(got);
			break;
		}
		ck_assert_msg(got == NULL || strcmp(got, ref) == 0,
			      "allocation %ld failed and the encoder returned an incomplete text: %s", n, got);
		free(got);
	}
	ck_assert_int_gt(n, 1);
	free(ref);
}

static char *encode_model_def(const void *arg)
{
	return api_model_def_encode(arg);
}

static char *encode_error(const void *arg)
{
	return api_err_json(arg);
}

static char *encode_job(const void *arg)
{
	return api_job_encode(arg);
}

static char *encode_weights(const void *arg)
{
	const struct api_model_def *def = arg;
	float params[4 * 3 + 4 + 4 * 2 + 2];

	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
		params[i] = (float)i / 7.0f;
	return api_weights_encode(&def->spec, params);
}

START_TEST(test_encoders_out_of_memory)
{
	struct api_model_def def;
	struct api_err err = {0};
	struct api_job_info job;

	ck_assert_int_eq(api_model_decode(MODEL_BODY, strlen(MODEL_BODY), &def, &err), 0);
	encode_under_faults(encode_model_def, &def);
	encode_under_faults(encode_weights, &def);

	api_fail(&err, API_VALIDATION_FAILED, "layers[1].units", "layers[1].units must be an integer in 1..%d", 65536);
	encode_under_faults(encode_error, &err);

	memset(&job, 0, sizeof job);
	job.id = 7;
	job.model_id = 1;
	job.dataset_id = 2;
	job.status = API_JOB_RUNNING;
	job.epoch = 3;
	job.req.fit.epochs = 10;
	job.req.fit.batch_size = 32;
	job.last.loss = 0.25;
	strcpy(job.created_at, "2026-11-26T21:03:04Z");
	encode_under_faults(encode_job, &job);
}
END_TEST

/* ---- the CSV reader ------------------------------------------------------------------------ */

static int count_rows(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	(void)features;
	(void)n_features;
	(void)label;
	(void)err;
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_csv_out_of_memory)
{
	static const char text[] = "a,b,label\n1,2,0\n3,4,1\n5,6,1\n";
	struct api_csv_opts opts = {.header = API_CSV_HEADER_YES, .label_name = "label", .label_index = -1,
				    .max_rows = 100, .max_cells = 1000};
	struct api_err err = {0};
	long n;

	for (n = 1;; n++) {
		struct api_csv *csv;
		int rows = 0, rc = -1;

		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(n);
		csv = api_csv_create(&opts, count_rows, &rows);
		if (csv)
			rc = api_csv_feed(csv, text, sizeof text - 1, &err) || api_csv_finish(csv, &err) ? -1 : 0;
		api_csv_destroy(csv);
		if (!fault_fired()) {
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(rows, 3);
			break;
		}
		if (csv && rc != 0)
			ck_assert_msg(err.code == API_UNAVAILABLE, "allocation %ld failed: %s instead of 503", n,
				      api_code_name(err.code));
		ck_assert(!csv || rc != 0 || rows == 3);
	}
	ck_assert_int_gt(n, 2);
}
END_TEST

Suite *suite_api_alloc(void)
{
	Suite *s = suite_create("api_alloc");
	TCase *tc = tcase_create("out_of_memory");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_model_decode_out_of_memory);
	tcase_add_test(tc, test_keras_decode_out_of_memory);
	tcase_add_test(tc, test_dataset_decode_out_of_memory);
	tcase_add_test(tc, test_instances_and_job_decode_out_of_memory);
	tcase_add_test(tc, test_encoders_out_of_memory);
	tcase_add_test(tc, test_csv_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}
