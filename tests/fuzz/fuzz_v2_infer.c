/*
 * fuzz_v2_infer.c — POST /v2/models/{model}/infer bodies (the Open Inference
 * Protocol) through api_v2_infer_decode, then the rest of the infer path as
 * the server runs it: nn_predict on a tutorial-shaped model (input 4 ->
 * Dense(25, relu) -> Dense(15, relu) -> Dense(4, softmax)) and
 * api_v2_infer_encode with the request's id; the error body of a refusal.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error with a 400, 404 or 503 status in the protocol's {"error": "..."}
 * body; accepted rows are finite and within max_rows; the response is valid
 * UTF-8 JSON whose output holds rows x 4 numbers and whose id is the
 * request's.
 */
#include <math.h>

#include "api/api_v2.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_tutorial_model.h"

#define MAX_ROWS 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_v2_infer in;
	struct api_err err = {0};
	const cJSON *outs, *id;
	float *out;
	char *json;
	cJSON *back;

	if (api_v2_infer_decode((const char *)data, size, FUZZ_INPUT_DIM, MAX_ROWS, &in, &err) != 0) {
		int status = api_v2_status(err.code);

		fuzz_check_err(&err);
		FUZZ_CHECK(status == 400 || status == 404 || status == 503, "status %d", status);
		FUZZ_CHECK(in.x == NULL && in.id == NULL, "a refused body leaves something behind");
		json = api_v2_error_json(&err);
		FUZZ_CHECK(json && api_utf8_valid(json, strlen(json)), "error body does not encode");
		back = cJSON_Parse(json);
		FUZZ_CHECK(back && cJSON_IsString(cJSON_GetObjectItem(back, "error")), "error body does not parse");
		cJSON_Delete(back);
		free(json);
		return 0;
	}
	FUZZ_CHECK(in.n >= 1 && in.n <= MAX_ROWS && in.x, "%zu rows accepted", in.n);
	for (size_t i = 0; i < in.n * FUZZ_INPUT_DIM; i++)
		FUZZ_CHECK(isfinite(in.x[i]), "input value %zu not finite", i);
	out = malloc(in.n * FUZZ_OUTPUTS * sizeof *out);
	if (!out)
		abort();
	FUZZ_CHECK(nn_predict(model, in.x, in.n, out) == NN_OK, "nn_predict failed");
	json = api_v2_infer_encode("m", NULL, in.id, out, in.n, FUZZ_OUTPUTS);
	FUZZ_CHECK(json && api_utf8_valid(json, strlen(json)), "the response does not encode");
	back = cJSON_Parse(json);
	outs = back ? cJSON_GetArrayItem(cJSON_GetObjectItem(back, "outputs"), 0) : NULL;
	FUZZ_CHECK(outs && cJSON_GetArraySize(cJSON_GetObjectItem(outs, "data")) == (int)(in.n * FUZZ_OUTPUTS),
		   "the response does not parse back with %zu rows", in.n);
	id = cJSON_GetObjectItem(back, "id");
	FUZZ_CHECK(in.id ? cJSON_IsString(id) && strcmp(id->valuestring, in.id) == 0 : id == NULL,
		   "the id does not come back as it came");
	cJSON_Delete(back);
	free(json);
	free(out);
	api_v2_infer_free(&in);
	return 0;
}
