/*
 * fuzz_dataset.c — POST /v1/datasets JSON bodies through api_dataset_decode.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error; an accepted dataset has n >= 1 rows within the limits, finite values,
 * target statistics that agree with its rows, and a record that encodes.
 */
#include <math.h>

#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_limits lim = {.max_rows = 100000, .max_cells = 1u << 22, .max_instances = 10000};
	struct api_dataset_body d;
	struct api_err err = {0};
	uint64_t n, w;
	char *json;

	if (api_dataset_decode((const char *)data, size, &lim, &d, &err) != 0) {
		fuzz_check_err(&err);
		FUZZ_CHECK(d.x == NULL && d.y == NULL, "a refused dataset keeps its arrays");
		return 0;
	}
	n = d.info.n_samples;
	w = d.info.y_dim ? d.info.y_dim : 1;
	FUZZ_CHECK(n >= 1 && n <= lim.max_rows, "n_samples %llu", (unsigned long long)n);
	FUZZ_CHECK(d.info.n_features >= 1 && d.info.n_features <= NN_MAX_INPUT_DIM, "n_features %u", d.info.n_features);
	FUZZ_CHECK(n * (d.info.n_features + w) <= lim.max_cells, "cells over the limit");
	FUZZ_CHECK(fuzz_name_ok(d.info.name), "invalid name accepted");
	for (uint64_t i = 0; i < n * d.info.n_features; i++)
		FUZZ_CHECK(isfinite(d.x[i]), "x[%llu] not finite", (unsigned long long)i);
	for (uint64_t i = 0; i < n * w; i++) {
		FUZZ_CHECK(isfinite(d.y[i]), "y[%llu] not finite", (unsigned long long)i);
		FUZZ_CHECK(d.y[i] >= d.info.y_min && d.y[i] <= d.info.y_max, "y[%llu] = %g outside y_min..y_max %g..%g",
			   (unsigned long long)i, d.y[i], d.info.y_min, d.info.y_max);
	}
	if (d.info.y_kind == API_Y_CLASS)
		FUZZ_CHECK(d.info.y_integral && d.info.n_classes == (uint32_t)d.info.y_max + 1, "class statistics");
	if (d.info.y_kind == API_Y_ONE_HOT)
		FUZZ_CHECK(d.info.n_classes == d.info.y_dim, "one-hot statistics");
	json = api_dataset_encode(&d.info);
	FUZZ_CHECK(json && api_utf8_valid(json, strlen(json)), "dataset record does not encode");
	free(json);
	api_dataset_body_free(&d);
	return 0;
}
