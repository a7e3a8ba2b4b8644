/*
 * api_v2.c — the Open Inference Protocol (KServe V2 REST) in JSON: the
 * inference request and response, model and server metadata, the error body
 * (api_v2.h says what a fitd model looks like through the protocol).
 *
 * The request is read as strictly as fitd's own bodies (unknown keys refused,
 * numbers finite in float32, shape and data agreeing before anything is
 * allocated for the rows); "parameters" objects are free-form in the
 * protocol, so their unknown keys are ignored, except the binary-data
 * extension's, which fitd does not speak and refuses rather than misread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/api_v2.h"

/* The protocol's tensor data types (all but FP32 are refused by name). */
static const char *const datatypes[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
					"INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", NULL};

static bool known_datatype(const char *s)
{
	for (size_t i = 0; datatypes[i]; i++)
		if (strcmp(s, datatypes[i]) == 0)
			return true;
	return false;
}

/* A "parameters" object: any keys, but none asking for binary data. */
static int check_parameters(const cJSON *obj, const char *path, struct api_err *err)
{
	static const char *const binary[] = {"binary_data", "binary_data_size", "binary_data_output", NULL};
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
	char field[sizeof err->field];

	api_path(field, sizeof field, path, "parameters");
	if (!p || cJSON_IsNull(p))
		return 0;
	if (!cJSON_IsObject(p))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an object", field);
	for (size_t i = 0; binary[i]; i++) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, binary[i]);

		if (b && !cJSON_IsFalse(b))
			return api_fail(err, API_BAD_REQUEST, field,
					"%s.%s: the binary tensor data extension is not supported; send JSON data",
					field, binary[i]);
	}
	return 0;
}

/* shape: [n, input_dim] with 1 <= n <= max_rows. */
static int read_shape(const cJSON *in, uint32_t input_dim, uint32_t max_rows, size_t *n, struct api_err *err)
{
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
	double dims[2];
	int i = 0;

	if (!shape)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].shape", "inputs[0].shape is required");
	if (!cJSON_IsArray(shape))
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].shape",
				"inputs[0].shape must be an array of integers");
	for (const cJSON *d = shape->child; d; d = d->next, i++) {
		double v;

		/* The range first: converting a double past int64's is undefined (fuzz_v2_infer). */
		if (!api_number_value(d, &v) || !(v >= 0 && v <= 4294967295.0) || v != (double)(int64_t)v)
			return api_fail(err, API_VALIDATION_FAILED, "inputs[0].shape",
					"inputs[0].shape must be an array of non-negative integers");
		if (i < 2)
			dims[i] = v;
	}
	if (i != 2 || dims[1] != input_dim)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].shape",
				"inputs[0].shape must be [rows, %u]: the model takes %u features per row", input_dim,
				input_dim);
	if (dims[0] < 1 || dims[0] > max_rows)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].shape",
				"inputs[0].shape[0] must be 1..%u rows", max_rows);
	*n = (size_t)dims[0];
	return 0;
}

/* data: n * d numbers flat, or n rows of d numbers; into out (n * d floats). */
static int read_data(const cJSON *data, size_t n, uint32_t d, float *out, struct api_err *err)
{
	char field[sizeof err->field];
	size_t count = (size_t)cJSON_GetArraySize(data), i = 0;

	if (data->child && cJSON_IsArray(data->child)) {
		if (count != n)
			return api_fail(err, API_VALIDATION_FAILED, "inputs[0].data",
					"inputs[0].data has %zu rows; inputs[0].shape says %zu", count, n);
		for (const cJSON *row = data->child; row; row = row->next, i++) {
			api_path_index(field, sizeof field, "inputs[0].data", i);
			if (api_read_floats(row, field, d, out + i * d, err))
				return -1;
		}
		return 0;
	}
	if (count != n * d)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].data",
				"inputs[0].data has %zu values; inputs[0].shape [%zu, %u] holds %zu", count, n, d,
				n * d);
	for (const cJSON *v = data->child; v; v = v->next, i++) {
		api_path_index(field, sizeof field, "inputs[0].data", i);
		if (api_read_float(v, field, &out[i], err))
			return -1;
	}
	return 0;
}

static int read_input(const cJSON *inputs, uint32_t input_dim, uint32_t max_rows, struct api_v2_infer *out,
		      struct api_err *err)
{
	static const char *const keys[] = {"name", "shape", "datatype", "parameters", "data", NULL};
	const cJSON *in, *name, *type, *data;

	if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) != 1)
		return api_fail(err, API_VALIDATION_FAILED, "inputs",
				"inputs must be an array of one tensor, \"" API_V2_INPUT "\" (FP32, [rows, %u])",
				input_dim);
	in = inputs->child;
	if (api_obj_check(in, "inputs[0]", "inputs[0]", keys, err) || check_parameters(in, "inputs[0]", err))
		return -1;
	name = cJSON_GetObjectItemCaseSensitive(in, "name");
	if (!cJSON_IsString(name))
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].name", "inputs[0].name must be a string");
	if (strcmp(name->valuestring, API_V2_INPUT) != 0)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].name",
				"unexpected inference input '%.64s': the model's only input is '" API_V2_INPUT "'",
				name->valuestring);
	type = cJSON_GetObjectItemCaseSensitive(in, "datatype");
	if (!cJSON_IsString(type))
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].datatype",
				"inputs[0].datatype must be a string (FP32)");
	if (strcmp(type->valuestring, "FP32") != 0)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].datatype",
				known_datatype(type->valuestring)
					? "input '" API_V2_INPUT "' has datatype %.16s; the model takes FP32"
					: "inputs[0].datatype %.16s is not a tensor data type; the model takes FP32",
				type->valuestring);
	if (read_shape(in, input_dim, max_rows, &out->n, err))
		return -1;
	data = cJSON_GetObjectItemCaseSensitive(in, "data");
	if (!data)
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].data", "inputs[0].data is required");
	if (!cJSON_IsArray(data))
		return api_fail(err, API_VALIDATION_FAILED, "inputs[0].data",
				"inputs[0].data must be an array of numbers, flat or nested by row");
	/* Bounded by max_rows * NN_MAX_INPUT_DIM, checked by read_shape. */
	out->x = api_malloc(out->n * input_dim * sizeof *out->x);
	if (!out->x)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	return read_data(data, out->n, input_dim, out->x, err);
}

static int read_outputs(const cJSON *outputs, struct api_err *err)
{
	static const char *const keys[] = {"name", "parameters", NULL};
	char field[sizeof err->field];
	size_t i = 0;

	if (!outputs || cJSON_IsNull(outputs))
		return 0;
	if (!cJSON_IsArray(outputs))
		return api_fail(err, API_VALIDATION_FAILED, "outputs", "outputs must be an array of {\"name\"}");
	for (const cJSON *o = outputs->child; o; o = o->next, i++) {
		const cJSON *name;

		api_path_index(field, sizeof field, "outputs", i);
		if (api_obj_check(o, field, field, keys, err) || check_parameters(o, field, err))
			return -1;
		name = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (!cJSON_IsString(name))
			return api_fail(err, API_VALIDATION_FAILED, field, "%s.name must be a string", field);
		if (strcmp(name->valuestring, API_V2_OUTPUT) != 0)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"unexpected inference output '%.64s': the model's only output is '"
					API_V2_OUTPUT "'", name->valuestring);
	}
	return 0;
}

static int read_id(const cJSON *root, struct api_v2_infer *out, struct api_err *err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");

	if (!id)
		return 0;
	if (!cJSON_IsString(id))
		return api_fail(err, API_VALIDATION_FAILED, "id", "id must be a string");
	if (strlen(id->valuestring) > API_V2_ID_MAX)
		return api_fail(err, API_VALIDATION_FAILED, "id", "id must be at most %d bytes", API_V2_ID_MAX);
	out->id = api_strdup(id->valuestring);
	if (!out->id)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	return 0;
}

static int read_store(const cJSON *root, struct api_v2_infer *out, struct api_err *err)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "parameters");

	out->store = true;
	if (!cJSON_IsObject(p))
		return 0; /* absent; anything else was refused by check_parameters */
	return api_get_bool(p, "parameters", "store", false, &out->store, err);
}

int api_v2_infer_decode(const char *body, size_t len, uint32_t input_dim, uint32_t max_rows,
			struct api_v2_infer *out, struct api_err *err)
{
	static const char *const keys[] = {"id", "parameters", "inputs", "outputs", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *inputs;

	memset(out, 0, sizeof *out);
	if (!root)
		return -1;
	if (api_obj_check(root, "", "the inference request", keys, err) || check_parameters(root, "", err) ||
	    read_store(root, out, err) || read_id(root, out, err) ||
	    read_outputs(cJSON_GetObjectItemCaseSensitive(root, "outputs"), err))
		goto fail;
	inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
	if (!inputs) {
		api_fail(err, API_VALIDATION_FAILED, "inputs", "inputs is required");
		goto fail;
	}
	if (read_input(inputs, input_dim, max_rows, out, err))
		goto fail;
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	api_v2_infer_free(out);
	return -1;
}

void api_v2_infer_free(struct api_v2_infer *in)
{
	free(in->id);
	free(in->x);
	in->id = NULL;
	in->x = NULL;
}

/* ---- responses ------------------------------------------------------------------------- */

/* A JSON string literal of s, quotes and escapes included. */
static void put_string(struct api_buf *b, const char *s)
{
	api_buf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			api_buf_put(b, "\\", 1);
			api_buf_put(b, s, 1);
		} else if (c < 0x20) {
			api_buf_printf(b, "\\u%04x", c);
		} else {
			api_buf_put(b, s, 1);
		}
	}
	api_buf_put(b, "\"", 1);
}

char *api_v2_infer_encode(const char *model_name, const char *model_version, const char *id,
			  const float *out, size_t n, uint32_t outputs)
{
	struct api_buf b = {0};

	api_buf_puts(&b, "{\"model_name\":");
	put_string(&b, model_name);
	if (model_version) {
		api_buf_puts(&b, ",\"model_version\":");
		put_string(&b, model_version);
	}
	if (id) {
		api_buf_puts(&b, ",\"id\":");
		put_string(&b, id);
	}
	api_buf_printf(&b, ",\"outputs\":[{\"name\":\"" API_V2_OUTPUT "\",\"shape\":[%zu,%u],\"datatype\":\"FP32\","
			   "\"data\":[", n, outputs);
	api_buf_floats(&b, out, n * outputs);
	api_buf_puts(&b, "]}]}");
	return api_buf_finish(&b);
}

static void put_tensor(struct api_buf *b, const char *name, uint32_t width)
{
	api_buf_printf(b, "[{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[-1,%u]}]", name, width);
}

char *api_v2_model_encode(const char *name, const char *version, uint32_t input_dim, uint32_t outputs)
{
	struct api_buf b = {0};

	api_buf_puts(&b, "{\"name\":");
	put_string(&b, name);
	if (version) {
		api_buf_puts(&b, ",\"versions\":[");
		put_string(&b, version);
		api_buf_puts(&b, "]");
	}
	api_buf_puts(&b, ",\"platform\":\"fitd\",\"inputs\":");
	put_tensor(&b, API_V2_INPUT, input_dim);
	api_buf_puts(&b, ",\"outputs\":");
	put_tensor(&b, API_V2_OUTPUT, outputs);
	api_buf_puts(&b, "}");
	return api_buf_finish(&b);
}

char *api_v2_model_ready_encode(const char *name, bool ready)
{
	struct api_buf b = {0};

	api_buf_puts(&b, "{\"name\":");
	put_string(&b, name);
	api_buf_puts(&b, ready ? ",\"ready\":true}" : ",\"ready\":false}");
	return api_buf_finish(&b);
}

char *api_v2_server_encode(const char *version)
{
	struct api_buf b = {0};

	api_buf_puts(&b, "{\"name\":\"fitd\",\"version\":");
	put_string(&b, version);
	api_buf_puts(&b, ",\"extensions\":[]}");
	return api_buf_finish(&b);
}

char *api_v2_error_json(const struct api_err *err)
{
	struct api_buf b = {0};
	char message[sizeof err->message];

	api_utf8_clean(err->message[0] ? err->message : api_code_name(err->code), message, sizeof message);
	api_buf_puts(&b, "{\"error\":");
	put_string(&b, message);
	api_buf_puts(&b, "}");
	return api_buf_finish(&b);
}

int api_v2_status(enum api_code code)
{
	int status = api_status(code);

	return status == 422 ? 400 : status;
}
