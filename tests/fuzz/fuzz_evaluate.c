/*
 * fuzz_evaluate.c — POST /v1/models/{id}/evaluate bodies through
 * api_evaluate_decode. Properties: no crash, leak or undefined behaviour; a
 * refusal is a proper error; an accepted body names a positive dataset id.
 */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_err err = {0};
	int64_t id = 0;

	if (api_evaluate_decode((const char *)data, size, &id, &err) != 0) {
		fuzz_check_err(&err);
		return 0;
	}
	FUZZ_CHECK(id >= 1, "dataset_id %lld accepted", (long long)id);
	return 0;
}
