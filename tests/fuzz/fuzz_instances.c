/*
 * fuzz_instances.c — POST /v1/models/{id}/predict bodies through
 * api_instances_decode, then the rest of the predict path as the server runs
 * it: nn_predict on a tutorial-shaped model (input 4 -> Dense(25, relu) ->
 * Dense(15, relu) -> Dense(4, softmax)), nn_classes, api_predictions_encode.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error; accepted rows are finite and within max_rows; the response body is
 * valid UTF-8 JSON with one prediction and one class per row.
 */
#include <math.h>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_tutorial_model.h"

#define MAX_ROWS 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_err err = {0};
	float *x = NULL, *out;
	int32_t *classes;
	size_t n = 0;
	char *json;
	cJSON *back;

	if (api_instances_decode((const char *)data, size, FUZZ_INPUT_DIM, MAX_ROWS, &x, &n, &err) != 0) {
		fuzz_check_err(&err);
		FUZZ_CHECK(x == NULL && n == 0, "a refused body leaves rows behind");
		return 0;
	}
	FUZZ_CHECK(n >= 1 && n <= MAX_ROWS && x, "%zu rows accepted", n);
	for (size_t i = 0; i < n * FUZZ_INPUT_DIM; i++)
		FUZZ_CHECK(isfinite(x[i]), "instance value %zu not finite", i);
	out = malloc(n * FUZZ_OUTPUTS * sizeof *out);
	classes = malloc(n * sizeof *classes);
	if (!out || !classes)
		abort();
	FUZZ_CHECK(nn_predict(model, x, n, out) == NN_OK, "nn_predict failed");
	FUZZ_CHECK(nn_classes(nn_model_spec(model), out, n, classes) == NN_OK, "nn_classes failed");
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(classes[i] >= 0 && classes[i] < FUZZ_OUTPUTS, "class %d", classes[i]);
	json = api_predictions_encode(0, out, n, FUZZ_OUTPUTS, classes);
	FUZZ_CHECK(json && api_utf8_valid(json, strlen(json)), "predictions do not encode");
	back = cJSON_Parse(json);
	FUZZ_CHECK(back && cJSON_GetArraySize(cJSON_GetObjectItem(back, "predictions")) == (int)n &&
			   cJSON_GetArraySize(cJSON_GetObjectItem(back, "classes")) == (int)n,
		   "predictions body does not parse back with %zu rows", n);
	cJSON_Delete(back);
	free(json);
	free(out);
	free(classes);
	free(x);
	return 0;
}
