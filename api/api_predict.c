/*
 * api_predict.c — predictions and evaluation (TensorFlow Serving's
 * {"instances": ...} request shape), and the small parsers every list and
 * item route shares: paging and ids.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

int api_instances_decode(const char *body, size_t len, uint32_t input_dim, uint32_t max_rows, float **x,
			 size_t *n, struct api_err *err)
{
	static const char *const keys[] = {"instances", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *inst;
	char field[sizeof err->field];
	size_t rows, i = 0;
	float *out = NULL;

	*x = NULL;
	*n = 0;
	if (!root)
		return -1;
	if (api_obj_check(root, "", "the predict body", keys, err))
		goto fail;
	inst = cJSON_GetObjectItemCaseSensitive(root, "instances");
	if (!cJSON_IsArray(inst) || !inst->child) {
		api_fail(err, API_VALIDATION_FAILED, "instances",
			 "instances must be a non-empty array of rows of %u numbers", input_dim);
		goto fail;
	}
	rows = (size_t)cJSON_GetArraySize(inst);
	if (rows > max_rows) {
		api_fail(err, API_VALIDATION_FAILED, "instances", "at most %u instances per request", max_rows);
		goto fail;
	}
	out = api_malloc(rows * input_dim * sizeof *out);
	if (!out) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto fail;
	}
	for (const cJSON *row = inst->child; row; row = row->next, i++) {
		api_path_index(field, sizeof field, "instances", i);
		if (api_read_floats(row, field, input_dim, out + i * input_dim, err))
			goto fail;
	}
	cJSON_Delete(root);
	*x = out;
	*n = rows;
	return 0;
fail:
	free(out);
	cJSON_Delete(root);
	return -1;
}

/* [[a, b], [c, d]] of n rows of width floats. */
static void put_matrix(struct api_buf *b, const float *v, size_t n, uint32_t width)
{
	api_buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		api_buf_puts(b, i ? ",[" : "[");
		for (uint32_t j = 0; j < width; j++) {
			if (j)
				api_buf_put(b, ",", 1);
			api_buf_float(b, v[i * width + j]);
		}
		api_buf_put(b, "]", 1);
	}
	api_buf_put(b, "]", 1);
}

static void put_classes(struct api_buf *b, const int32_t *classes, size_t n)
{
	api_buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++)
		api_buf_printf(b, i ? ",%d" : "%d", (int)classes[i]);
	api_buf_put(b, "]", 1);
}

char *api_predictions_encode_named(int64_t id, const float *out, size_t n, uint32_t outputs,
				   const int32_t *classes, const char *class_names)
{
	unsigned long failures = api_alloc_failures();
	cJSON *names = class_names && classes ? cJSON_Parse(class_names) : NULL;
	struct api_buf b = {0};
	char *text;
	int n_names = cJSON_IsArray(names) ? cJSON_GetArraySize(names) : 0;

	if (!n_names) {
		cJSON_Delete(names);
		return api_predictions_encode(id, out, n, outputs, classes);
	}
	api_buf_put(&b, "{", 1);
	if (id > 0)
		api_buf_printf(&b, "\"id\":%lld,", (long long)id);
	api_buf_puts(&b, "\"predictions\":");
	put_matrix(&b, out, n, outputs);
	api_buf_puts(&b, ",\"classes\":[");
	for (size_t i = 0; i < n; i++) {
		const cJSON *name = classes[i] >= 0 && classes[i] < n_names ? cJSON_GetArrayItem(names, classes[i]) : NULL;
		char *quoted = cJSON_IsString(name) ? cJSON_PrintUnformatted(name) : NULL;

		if (i)
			api_buf_put(&b, ",", 1);
		if (quoted)
			api_buf_puts(&b, quoted);
		else
			api_buf_printf(&b, "%d", classes[i]); /* an index past the names: the index */
		free(quoted);
	}
	api_buf_puts(&b, "]}");
	cJSON_Delete(names);
	text = api_buf_finish(&b);
	if (text && api_alloc_failures() != failures) {
		free(text);
		return NULL;
	}
	return text;
}

char *api_json_add_raw(char *object, const char *key, const char *value)
{
	size_t len = object ? strlen(object) : 0, add;
	char *out;

	if (len < 2 || object[len - 1] != '}') {
		free(object);
		return NULL;
	}
	add = strlen(key) + (value ? strlen(value) : 4) + 5;
	out = api_realloc(object, len + add + 1);
	if (!out) {
		free(object);
		return NULL;
	}
	snprintf(out + len - 1, add + 2, "%s\"%s\":%s}", len > 2 ? "," : "", key, value ? value : "null");
	return out;
}

char *api_predictions_encode(int64_t id, const float *out, size_t n, uint32_t outputs, const int32_t *classes)
{
	struct api_buf b = {0};

	api_buf_put(&b, "{", 1);
	if (id > 0)
		api_buf_printf(&b, "\"id\":%lld,", (long long)id);
	api_buf_puts(&b, "\"predictions\":");
	put_matrix(&b, out, n, outputs);
	if (classes) {
		api_buf_puts(&b, ",\"classes\":");
		put_classes(&b, classes, n);
	}
	api_buf_put(&b, "}", 1);
	return api_buf_finish(&b);
}

static void put_prediction(struct api_buf *b, const struct api_prediction_info *p)
{
	api_buf_printf(b, "{\"id\":%lld,\"model_id\":%lld,\"n\":%u,\"instances\":", (long long)p->id,
		       (long long)p->model_id, p->n);
	put_matrix(b, p->inputs, p->n, p->input_dim);
	api_buf_puts(b, ",\"predictions\":");
	put_matrix(b, p->outputs_v, p->n, p->outputs);
	if (p->classes) {
		api_buf_puts(b, ",\"classes\":");
		put_classes(b, p->classes, p->n);
	}
	api_buf_printf(b, ",\"created_at\":\"%s\"}", p->created_at);
}

char *api_prediction_encode(const struct api_prediction_info *p)
{
	struct api_buf b = {0};

	put_prediction(&b, p);
	return api_buf_finish(&b);
}

char *api_prediction_list_encode(const struct api_prediction_info *items, size_t n, uint64_t total)
{
	struct api_buf b = {0};

	api_buf_puts(&b, "{\"items\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			api_buf_put(&b, ",", 1);
		put_prediction(&b, &items[i]);
	}
	api_buf_printf(&b, "],\"total\":%llu}", (unsigned long long)total);
	return api_buf_finish(&b);
}

int api_evaluate_decode(const char *body, size_t len, int64_t *dataset_id, struct api_err *err)
{
	static const char *const keys[] = {"dataset_id", NULL};
	cJSON *root = api_json_parse(body, len, err);
	int rc;

	if (!root)
		return -1;
	rc = api_obj_check(root, "", "the evaluate body", keys, err) ||
	     api_get_int(root, "", "dataset_id", true, 1, INT64_MAX, dataset_id, err);
	cJSON_Delete(root);
	return rc ? -1 : 0;
}

char *api_evaluate_encode(const struct nn_eval *e)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();

	api_json_add(o, "loss", api_json_number_or_null(e->loss));
	if (e->has_metric)
		api_json_add(o, "accuracy", api_json_number_or_null(e->metric));
	api_add_number(o, "n_samples", (double)e->n);
	return api_json_print_free(o, failures);
}

char *api_info_encode(const struct api_info *info)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *limits;

	cJSON_AddStringToObject(o, "name", "fitd");
	cJSON_AddStringToObject(o, "version", info->version);
	api_add_number(o, "workers", info->workers);
	api_add_number(o, "queue_capacity", info->queue_capacity);
	api_add_number(o, "http_threads", info->http_threads);
	api_add_number(o, "commit_interval_ms", info->commit_interval_ms);
	cJSON_AddStringToObject(o, "blas", info->blas);
	cJSON_AddStringToObject(o, "kernels", info->kernels);
	cJSON_AddStringToObject(o, "kernels_reason", info->kernels_reason);
	api_add_number(o, "threads", info->threads);
	cJSON_AddBoolToObject(o, "auth", info->auth);
	limits = cJSON_AddObjectToObject(o, "limits");
	api_add_number(limits, "max_body_bytes", (double)info->max_body_bytes);
	api_add_number(limits, "max_upload_bytes", (double)info->max_upload_bytes);
	api_add_number(limits, "max_rows", (double)info->max_rows);
	api_add_number(limits, "max_instances", info->max_instances);
	api_add_number(limits, "max_layers", NN_MAX_LAYERS);
	api_add_number(limits, "max_units", NN_MAX_UNITS);
	api_add_number(limits, "max_input_dim", NN_MAX_INPUT_DIM);
	api_add_number(limits, "max_params", (double)NN_MAX_PARAMS);
	api_add_number(limits, "max_epochs", NN_MAX_EPOCHS);
	api_add_number(limits, "max_batch_size", NN_MAX_BATCH);
	return api_json_print_free(o, failures);
}

/* ---- ids and paging ------------------------------------------------------------- */

bool api_id_parse(const char *s, int64_t *id)
{
	int64_t v = 0;

	if (!s || !*s || *s == '0' || strlen(s) > 15)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	*id = v;
	return true;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 15)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

int api_page_parse(const char *limit, const char *offset, uint32_t *lim, uint64_t *off, struct api_err *err)
{
	uint64_t v;

	*lim = 50;
	*off = 0;
	if (limit) {
		if (!parse_uint(limit, 500, &v) || v == 0)
			return api_fail(err, API_VALIDATION_FAILED, "limit", "limit must be an integer in 1..500");
		*lim = (uint32_t)v;
	}
	if (offset) {
		if (!parse_uint(offset, 1000000000000ULL, &v))
			return api_fail(err, API_VALIDATION_FAILED, "offset", "offset must be a non-negative integer");
		*off = v;
	}
	return 0;
}
