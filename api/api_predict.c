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

/* One row given by column name: every name once, each a finite number. */
static int read_named_row(const cJSON *row, const char *path, const cJSON *names, const char *const *keys,
			  uint32_t width, float *out, struct api_err *err)
{
	char field[sizeof err->field];
	uint32_t k = 0;

	if (api_obj_check(row, path, path, keys, err))
		return -1;
	for (const cJSON *name = names->child; name; name = name->next, k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name->valuestring);

		api_path(field, sizeof field, path, name->valuestring);
		if (!v)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s is required: the model takes the %u columns it was trained on", field, width);
		if (cJSON_IsNull(v) || cJSON_IsString(v))
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s must be a number (missing values and categories need preprocessing that "
					"fitd does not do yet)",
					field);
		if (api_read_float(v, field, &out[k], err))
			return -1;
	}
	return 0;
}

/* One row by column name through the model's preprocessing: numbers or null
 * (the training mean) for numeric columns, a category's text or null (all
 * zeros; an unseen category too) for categorical ones. */
static int read_prep_row(const cJSON *row, const char *path, const struct api_prep *p, const char *const *keys,
			 float *out, struct api_err *err)
{
	char field[sizeof err->field];
	uint32_t at = 0;

	if (api_obj_check(row, path, path, keys, err))
		return -1;
	for (uint32_t j = 0; j < p->n_cols; j++) {
		const struct api_prep_col *c = &p->cols[j];
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, c->name);

		api_path(field, sizeof field, path, c->name);
		if (!v)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s is required (null for a missing value): the model takes the %u columns it was "
					"trained on",
					field, p->n_cols);
		if (c->categorical) {
			if (!cJSON_IsNull(v) && !cJSON_IsString(v))
				return api_fail(err, API_VALIDATION_FAILED, field,
						"%s must be one of the column's categories (a string) or null", field);
			memset(out + at, 0, c->n_cats * sizeof *out);
			for (uint32_t k = 0; cJSON_IsString(v) && k < c->n_cats; k++)
				if (strcmp(c->cats[k], v->valuestring) == 0)
					out[at + k] = 1;
			at += c->n_cats;
		} else {
			if (cJSON_IsNull(v))
				out[at] = (float)c->mean;
			else if (api_read_float(v, field, &out[at], err))
				return -1;
			at++;
		}
	}
	return 0;
}

int api_instances_decode_named(const char *body, size_t len, uint32_t input_dim, const char *feature_names,
			       uint32_t max_rows, float **x, size_t *n, struct api_err *err)
{
	return api_instances_decode_model(body, len, input_dim, feature_names, NULL, max_rows, x, n, err);
}

int api_instances_decode_model(const char *body, size_t len, uint32_t input_dim, const char *feature_names,
			       const char *prep_text, uint32_t max_rows, float **x, size_t *n, struct api_err *err)
{
	struct api_prep prep = {0};
	static const char *const keys[] = {"instances", NULL};
	cJSON *root = api_json_parse(body, len, err), *names = NULL;
	const char **name_keys = NULL;
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
			 "instances must be a non-empty array of rows of %u numbers (or objects by column name)", input_dim);
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
		if (!cJSON_IsObject(row)) {
			if (api_read_floats(row, field, input_dim, out + i * input_dim, err))
				goto fail;
			continue;
		}
		if (prep_text && !prep.cols) {
			if (api_prep_decode(prep_text, &prep, err))
				goto fail;
			if (prep.width != input_dim) {
				api_fail(err, API_INTERNAL, NULL, "the model's stored preprocessing does not match it");
				goto fail;
			}
			name_keys = api_calloc((size_t)prep.n_cols + 1, sizeof *name_keys);
			if (!name_keys) {
				api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
				goto fail;
			}
			for (uint32_t k = 0; k < prep.n_cols; k++)
				name_keys[k] = prep.cols[k].name;
		}
		if (prep.cols) {
			if (read_prep_row(row, field, &prep, name_keys, out + i * input_dim, err))
				goto fail;
			continue;
		}
		if (!names) {
			uint32_t k = 0;

			names = feature_names ? cJSON_Parse(feature_names) : NULL;
			if (!cJSON_IsArray(names) || (uint32_t)cJSON_GetArraySize(names) != input_dim) {
				api_fail(err, API_VALIDATION_FAILED, field,
					 "this model has no column names (it was not trained on a CSV with a header): give "
					 "%s as an array of %u numbers",
					 field, input_dim);
				goto fail;
			}
			name_keys = api_calloc((size_t)input_dim + 1, sizeof *name_keys);
			if (!name_keys) {
				api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
				goto fail;
			}
			for (const cJSON *nm = names->child; nm; nm = nm->next)
				name_keys[k++] = cJSON_IsString(nm) ? nm->valuestring : "";
		}
		if (read_named_row(row, field, names, name_keys, input_dim, out + i * input_dim, err))
			goto fail;
	}
	free(name_keys);
	cJSON_Delete(names);
	api_prep_free(&prep);
	cJSON_Delete(root);
	*x = out;
	*n = rows;
	return 0;
fail:
	free(name_keys);
	cJSON_Delete(names);
	api_prep_free(&prep);
	free(out);
	cJSON_Delete(root);
	return -1;
}

int api_instances_decode(const char *body, size_t len, uint32_t input_dim, uint32_t max_rows, float **x,
			 size_t *n, struct api_err *err)
{
	return api_instances_decode_named(body, len, input_dim, NULL, max_rows, x, n, err);
}

char *api_columns_feature_names(const char *columns)
{
	unsigned long failures = api_alloc_failures();
	cJSON *cols = columns ? cJSON_Parse(columns) : NULL, *names = cJSON_CreateArray();
	const cJSON *col;
	char *text;

	if (!cJSON_IsArray(cols)) {
		cJSON_Delete(cols);
		cJSON_Delete(names);
		return NULL;
	}
	cJSON_ArrayForEach(col, cols) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(col, "role");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(col, "name");

		if (cJSON_IsString(role) && strcmp(role->valuestring, "feature") == 0 && cJSON_IsString(name))
			api_json_append(names, cJSON_CreateString(name->valuestring));
	}
	cJSON_Delete(cols);
	text = api_json_print_free(names, failures);
	return text;
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
	api_buf_matrix(&b, out, n, outputs);
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
	api_buf_matrix(&b, out, n, outputs);
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
	api_buf_matrix(b, p->inputs, p->n, p->input_dim);
	api_buf_puts(b, ",\"predictions\":");
	api_buf_matrix(b, p->outputs_v, p->n, p->outputs);
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

char *api_evaluate_metrics_encode(const struct nn_eval *e, uint32_t mask, const double *values,
				  const uint64_t *confusion, uint32_t classes)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();

	api_json_add(o, "loss", api_json_number_or_null(e->loss));
	if (e->has_metric)
		api_json_add(o, "accuracy", api_json_number_or_null(e->metric));
	for (int m = NN_METRIC_ACCURACY + 1; m < NN_METRIC_COUNT; m++)
		if (mask & NN_METRIC_BIT(m))
			api_json_add(o, nn_metric_name((enum nn_metric)m), api_json_number_or_null(values[m]));
	if (confusion) {
		cJSON *rows = cJSON_AddArrayToObject(o, "confusion_matrix");

		for (uint32_t i = 0; i < classes; i++) {
			cJSON *row = cJSON_CreateArray();

			for (uint32_t j = 0; j < classes; j++)
				api_json_append(row, cJSON_CreateNumber((double)confusion[(size_t)i * classes + j]));
			api_json_append(rows, row);
		}
	}
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
