/*
 * fuzz_weights.c — PUT /v1/models/{id}/weights bodies through
 * api_weights_decode, for a small fixed model with every kind of layer:
 * input 3 -> Dense(4, relu) -> Dropout(0.2) -> Dense(3, tanh, no bias)
 * -> Dense(2, softmax), 36 parameters.
 *
 * Properties: no crash, leak or undefined behaviour, no write past the
 * parameter array (it is allocated at its exact size); a refusal is a proper
 * error; accepted weights are finite, and GET -> PUT is lossless:
 * api_weights_encode then api_weights_decode gives the same bits.
 */
#include <math.h>

#include "tests/fuzz/fuzz_common.h"

static struct nn_model_spec spec;
static uint64_t n_params;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	spec.input_dim = 3;
	spec.n_layers = 4;
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_RELU);
	spec.layers[1].kind = NN_LAYER_DROPOUT;
	spec.layers[1].rate = 0.2;
	nn_dense_defaults(&spec.layers[2], 3, NN_ACT_TANH);
	spec.layers[2].use_bias = false;
	nn_dense_defaults(&spec.layers[3], 2, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	if (nn_spec_check(&spec, &n_params, NULL) != NN_OK || n_params != 36)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	float *params = malloc(n_params * sizeof *params), *again = malloc(n_params * sizeof *again);
	struct api_err err = {0};
	char *json;

	if (!params || !again)
		abort();
	if (api_weights_decode((const char *)data, size, &spec, params, &err) != 0) {
		fuzz_check_err(&err);
		goto out;
	}
	for (uint64_t i = 0; i < n_params; i++)
		FUZZ_CHECK(isfinite(params[i]), "parameter %llu accepted but not finite", (unsigned long long)i);
	json = api_weights_encode(&spec, params);
	FUZZ_CHECK(json != NULL, "api_weights_encode returned NULL");
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(api_weights_decode(json, strlen(json), &spec, again, &err) == 0,
		   "GET weights output is refused by PUT: %s\n  %s", err.message, json);
	FUZZ_CHECK(memcmp(params, again, n_params * sizeof *params) == 0, "GET -> PUT is not lossless: %s", json);
	free(json);
out:
	free(params);
	free(again);
	return 0;
}
