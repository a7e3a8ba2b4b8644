/*
 * fuzz_model.c — POST /v1/models bodies (plain layers and the Keras
 * to_json() import) through api_model_decode.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error; an accepted model passes nn_spec_check within the limits, and its
 * canonical form (api_model_def_encode, what the database stores and reads
 * back with api_model_decode) decodes again to the same canonical form.
 */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_model_def def, again;
	struct api_err err = {0};
	uint64_t n_params = 0;
	char *canon, *canon2;

	if (api_model_decode((const char *)data, size, &def, &err) != 0) {
		fuzz_check_err(&err);
		return 0;
	}
	FUZZ_CHECK(err.code == API_OK, "success with an error set: %s", err.message);
	FUZZ_CHECK(nn_spec_check(&def.spec, &n_params, NULL) == NN_OK, "an accepted model fails nn_spec_check");
	FUZZ_CHECK(n_params >= 1 && n_params <= NN_MAX_PARAMS, "n_params %llu", (unsigned long long)n_params);
	FUZZ_CHECK(def.spec.n_layers >= 1 && def.spec.n_layers <= NN_MAX_LAYERS, "n_layers %u", def.spec.n_layers);
	FUZZ_CHECK(!def.name[0] || (fuzz_name_ok(def.name) && api_model_name_valid(def.name)),
		   "an accepted model has an invalid name");
	canon = api_model_def_encode(&def);
	FUZZ_CHECK(canon != NULL, "api_model_def_encode returned NULL");
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(api_model_decode(canon, strlen(canon), &again, &err) == 0,
		   "the stored (canonical) form of an accepted model is refused: %s (field %s)\n  canonical: %s",
		   err.message, err.field, canon);
	canon2 = api_model_def_encode(&again);
	FUZZ_CHECK(canon2 && strcmp(canon, canon2) == 0, "canonical form is not a fixed point:\n  %s\n  %s", canon,
		   canon2 ? canon2 : "(null)");
	free(canon);
	free(canon2);
	return 0;
}
