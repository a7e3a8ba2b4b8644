/*
 * api_v2.h — the Open Inference Protocol (KServe V2 REST) in JSON: the
 * inference request decoded into rows of float32, the inference response,
 * model and server metadata, and the protocol's error body.
 *
 * A fitd model is one tensor in, one tensor out: the input is named "input"
 * (FP32, shape [-1, input_dim]) and the output "output" (FP32, shape
 * [-1, outputs]), what POST /v1/models/{id}/predict returns as predictions.
 * The same names as the ONNX export's.
 *
 * Errors are recorded in a struct api_err like everywhere in api/; the
 * protocol renders them as {"error": "<message>"} (api_v2_error_json) with
 * the status api_v2_status gives: a request the protocol calls bad is a 400
 * (fitd's 422 validation_failed becomes 400 here).
 */
#ifndef FITD_API_V2_H
#define FITD_API_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

#define API_V2_INPUT "input"
#define API_V2_OUTPUT "output"
#define API_V2_ID_MAX 256 /* bytes of a request id, echoed in the response */

/* A decoded inference request. */
struct api_v2_infer {
	char *id;     /* the request's "id" (new), NULL when absent */
	float *x;     /* n x input_dim rows, row-major (new) */
	size_t n;     /* rows: shape[0] */
	bool store;   /* parameters.store (default true): keep the prediction like /v1 predict */
};

/* Decodes POST /v2/models/{model}/infer against a model of input_dim inputs:
 * exactly one input named "input", datatype "FP32", shape [n, input_dim]
 * with 1 <= n <= max_rows, data flat row-major (n * input_dim numbers) or
 * nested ([[...] x n], each of input_dim numbers), every number finite in
 * float32; "outputs", when given, names only "output". The binary-data
 * extension is refused. On success fills *out (free with api_v2_infer_free);
 * on failure *out holds nothing to free and err is filled. */
int api_v2_infer_decode(const char *body, size_t len, uint32_t input_dim, uint32_t max_rows,
			struct api_v2_infer *out, struct api_err *err);
/* Frees what the decoder allocated; safe after a failed decode. */
void api_v2_infer_free(struct api_v2_infer *in);

/* {"model_name", "model_version" (omitted when NULL), "id" (when the request
 * had one), "outputs": [{"name": "output", "shape": [n, outputs], "datatype":
 * "FP32", "data": [flat row-major]}]}; floats round-trip float32. */
char *api_v2_infer_encode(const char *model_name, const char *model_version, const char *id,
			  const float *out, size_t n, uint32_t outputs);

/* Model metadata: {"name", "versions": [version] (omitted when NULL),
 * "platform": "fitd", "inputs": [{"name": "input", "datatype": "FP32",
 * "shape": [-1, input_dim]}], "outputs": [{"name": "output", ...}]}. */
char *api_v2_model_encode(const char *name, const char *version, uint32_t input_dim, uint32_t outputs);
/* {"name": name, "ready": ready} */
char *api_v2_model_ready_encode(const char *name, bool ready);
/* Server metadata: {"name": "fitd", "version": version, "extensions": []}. */
char *api_v2_server_encode(const char *version);

/* {"error": "<message>"} (new; free with free()); NULL when out of memory. */
char *api_v2_error_json(const struct api_err *err);
/* The protocol's status for an error: 400 for every bad request (fitd's
 * 422 included), else fitd's own (404, 503, ...). */
int api_v2_status(enum api_code code);

#endif
