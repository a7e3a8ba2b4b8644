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

#define INPUT_DIM 4
#define MAX_ROWS 10000

static struct nn_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nn_model_spec spec = {0};
	struct nn_rng rng;

	(void)argc, (void)argv;
	spec.input_dim = INPUT_DIM;
	spec.n_layers = 3;
	nn_dense_defaults(&spec.layers[0], 25, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], 15, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[2], 4, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	nn_blas_single_threaded();
	model = nn_model_create(&spec);
	if (!model)
		abort();
	nn_rng_seed(&rng, 42);
	nn_model_init(model, &rng);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_err err = {0};
	float *x = NULL, *out;
	int32_t *classes;
	size_t n = 0;
	char *json;
	cJSON *back;

	if (api_instances_decode((const char *)data, size, INPUT_DIM, MAX_ROWS, &x, &n, &err) != 0) {
		fuzz_check_err(&err);
		FUZZ_CHECK(x == NULL && n == 0, "a refused body leaves rows behind");
		return 0;
	}
	FUZZ_CHECK(n >= 1 && n <= MAX_ROWS && x, "%zu rows accepted", n);
	for (size_t i = 0; i < n * INPUT_DIM; i++)
		FUZZ_CHECK(isfinite(x[i]), "instance value %zu not finite", i);
	out = malloc(n * 4 * sizeof *out);
	classes = malloc(n * sizeof *classes);
	if (!out || !classes)
		abort();
	FUZZ_CHECK(nn_predict(model, x, n, out) == NN_OK, "nn_predict failed");
	FUZZ_CHECK(nn_classes(nn_model_spec(model), out, n, classes) == NN_OK, "nn_classes failed");
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(classes[i] >= 0 && classes[i] < 4, "class %d", classes[i]);
	json = api_predictions_encode(0, out, n, 4, classes);
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
