/*
 * api_dataset.c — datasets: the JSON upload body to float32 arrays, the
 * statistics of the targets that decide y_kind, and dataset records to JSON.
 *
 * A JSON body is parsed whole by cJSON (about 30-80 bytes of heap per number),
 * so the server bounds it by --max-body-mb; CSV is the streaming path for
 * large data (api_csv.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define FIELD_MAX sizeof(((struct api_err *)0)->field)

const char *api_y_kind_name(enum api_y_kind kind)
{
	static const char *const names[] = {"class", "one_hot", "real"};
	return (unsigned)kind < 3 ? names[kind] : "real";
}

void api_y_stats_init(struct api_y_stats *s, uint32_t y_dim)
{
	memset(s, 0, sizeof *s);
	s->y_dim = y_dim;
	s->min = INFINITY;
	s->max = -INFINITY;
	s->integral = true;
	s->one_hot = y_dim >= 2;
}

void api_y_stats_add(struct api_y_stats *s, const float *y_row)
{
	uint32_t width = s->y_dim ? s->y_dim : 1, ones = 0;

	for (uint32_t i = 0; i < width; i++) {
		double v = y_row[i];

		if (v < s->min)
			s->min = v;
		if (v > s->max)
			s->max = v;
		if (v != floor(v))
			s->integral = false;
		if (v == 1.0)
			ones++;
		else if (v != 0.0)
			s->one_hot = false;
	}
	if (ones != 1)
		s->one_hot = false;
	s->n++;
}

void api_y_stats_finish(const struct api_y_stats *s, struct api_dataset_info *info)
{
	info->y_dim = s->y_dim;
	info->y_min = s->n ? s->min : 0;
	info->y_max = s->n ? s->max : 0;
	info->y_integral = s->integral;
	info->n_classes = 0;
	if (s->y_dim == 0 && s->n && s->integral && s->min >= 0 && s->max < 1e6) {
		info->y_kind = API_Y_CLASS;
		info->n_classes = (uint32_t)s->max + 1;
	} else if (s->y_dim >= 2 && s->n && s->one_hot) {
		info->y_kind = API_Y_ONE_HOT;
		info->n_classes = s->y_dim;
	} else {
		info->y_kind = API_Y_REAL;
	}
}

bool api_task_parse(const char *s, enum api_task *out)
{
	if (!s)
		*out = API_TASK_AUTO;
	else if (strcmp(s, "classification") == 0)
		*out = API_TASK_CLASSIFICATION;
	else if (strcmp(s, "regression") == 0)
		*out = API_TASK_REGRESSION;
	else
		return false;
	return true;
}

int api_dataset_task(struct api_dataset_info *info, enum api_task task, bool text_label, struct api_err *err)
{
	switch (task) {
	case API_TASK_AUTO:
		return 0;
	case API_TASK_REGRESSION:
		if (text_label)
			return api_fail(err, API_VALIDATION_FAILED, "task",
					"task=regression needs a numeric label; this label holds text (class names)");
		info->y_kind = API_Y_REAL;
		info->n_classes = 0;
		return 0;
	case API_TASK_CLASSIFICATION:
		if (info->y_kind != API_Y_REAL)
			return 0;
		if (info->y_dim == 0 && info->y_integral && info->y_min >= 0 && info->y_max < NN_MAX_UNITS) {
			info->y_kind = API_Y_CLASS;
			info->n_classes = (uint32_t)info->y_max + 1;
			return 0;
		}
		return api_fail(err, API_VALIDATION_FAILED, "task",
				"task=classification needs one class per row, text or a whole number in 0..%d; the "
				"targets here are %s in %g..%g",
				NN_MAX_UNITS - 1, info->y_dim ? "rows of several values" :
						     info->y_integral ? "whole numbers" : "not all whole numbers",
				info->y_min, info->y_max);
	}
	return 0;
}

int api_dataset_decode(const char *body, size_t len, const struct api_limits *lim, struct api_dataset_body *out,
		       struct api_err *err)
{
	static const char *const keys[] = {"name", "x", "y", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *x, *y, *first;
	char field[FIELD_MAX];
	struct api_y_stats stats;
	uint64_t n, d, y_dim = 0;
	size_t i = 0;

	memset(out, 0, sizeof *out);
	if (!root)
		return -1;
	snprintf(out->info.name, sizeof out->info.name, "dataset");
	if (api_obj_check(root, "", "the dataset body", keys, err) ||
	    api_get_string(root, "", "name", false, API_NAME_MAX, out->info.name, err))
		goto fail;
	x = cJSON_GetObjectItemCaseSensitive(root, "x");
	y = cJSON_GetObjectItemCaseSensitive(root, "y");
	if (!cJSON_IsArray(x) || !x->child) {
		api_fail(err, API_VALIDATION_FAILED, "x", "x must be a non-empty array of rows of numbers");
		goto fail;
	}
	if (!cJSON_IsArray(y)) {
		api_fail(err, API_VALIDATION_FAILED, "y", "y must be an array with one target per row of x");
		goto fail;
	}
	n = (uint64_t)cJSON_GetArraySize(x);
	first = x->child;
	if (!cJSON_IsArray(first) || !first->child) {
		api_fail(err, API_VALIDATION_FAILED, "x[0]", "x[0] must be a non-empty array of numbers");
		goto fail;
	}
	d = (uint64_t)cJSON_GetArraySize(first);
	if (n > lim->max_rows) {
		api_fail(err, API_VALIDATION_FAILED, "x", "x has %llu rows; the limit is %llu", (unsigned long long)n,
			 (unsigned long long)lim->max_rows);
		goto fail;
	}
	if (d > NN_MAX_INPUT_DIM) {
		api_fail(err, API_VALIDATION_FAILED, "x[0]", "x[0] has %llu values; at most %d features",
			 (unsigned long long)d, NN_MAX_INPUT_DIM);
		goto fail;
	}
	if ((uint64_t)cJSON_GetArraySize(y) != n) {
		api_fail(err, API_VALIDATION_FAILED, "y", "y has %d rows but x has %llu", cJSON_GetArraySize(y),
			 (unsigned long long)n);
		goto fail;
	}
	if (cJSON_IsArray(y->child)) {
		y_dim = (uint64_t)cJSON_GetArraySize(y->child);
		if (y_dim < 1 || y_dim > NN_MAX_UNITS) {
			api_fail(err, API_VALIDATION_FAILED, "y[0]", "y[0] must hold 1..%d values", NN_MAX_UNITS);
			goto fail;
		}
	}
	if (n * (d + (y_dim ? y_dim : 1)) > lim->max_cells) {
		api_fail(err, API_VALIDATION_FAILED, "x", "the dataset has more than %llu values",
			 (unsigned long long)lim->max_cells);
		goto fail;
	}
	/* The sizes are bounded by the body the server accepted, and checked above. */
	out->x = api_malloc(n * d * sizeof(float));
	out->y = api_malloc(n * (y_dim ? y_dim : 1) * sizeof(float));
	if (!out->x || !out->y) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto fail;
	}
	api_y_stats_init(&stats, (uint32_t)y_dim);
	i = 0;
	for (const cJSON *row = x->child; row; row = row->next, i++) {
		api_path_index(field, sizeof field, "x", i);
		if (api_read_floats(row, field, (uint32_t)d, out->x + i * d, err))
			goto fail;
	}
	i = 0;
	for (const cJSON *row = y->child; row; row = row->next, i++) {
		float *dst = out->y + i * (y_dim ? y_dim : 1);

		api_path_index(field, sizeof field, "y", i);
		if (y_dim ? api_read_floats(row, field, (uint32_t)y_dim, dst, err)
			  : api_read_float(row, field, dst, err))
			goto fail;
		api_y_stats_add(&stats, dst);
	}
	out->info.n_samples = n;
	out->info.n_features = (uint32_t)d;
	api_y_stats_finish(&stats, &out->info);
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	api_dataset_body_free(out);
	return -1;
}

void api_dataset_body_free(struct api_dataset_body *d)
{
	free(d->x);
	free(d->y);
	d->x = d->y = NULL;
}

static cJSON *dataset_json(const struct api_dataset_info *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *shape;

	api_add_number(o, "id", (double)d->id);
	cJSON_AddStringToObject(o, "name", d->name);
	api_add_number(o, "n_samples", (double)d->n_samples);
	api_add_number(o, "n_features", d->n_features);
	shape = cJSON_AddArrayToObject(o, "y_shape");
	api_json_append(shape, api_json_number_or_null((double)d->n_samples));
	if (d->y_dim)
		api_json_append(shape, api_json_number_or_null(d->y_dim));
	cJSON_AddStringToObject(o, "y_kind", api_y_kind_name(d->y_kind));
	if (d->n_classes)
		api_add_number(o, "n_classes", d->n_classes);
	else
		cJSON_AddNullToObject(o, "n_classes");
	cJSON_AddStringToObject(o, "created_at", d->created_at);
	api_add_number(o, "n_categorical", d->n_categorical);
	api_add_number(o, "n_missing", (double)d->n_missing);
	api_add_number(o, "encoded_width", d->encoded_width ? d->encoded_width : d->n_features);
	return o;
}

/* A stored JSON text as a node (null when absent or damaged). */
static cJSON *stored_json(const char *text)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;

	return v ? v : cJSON_CreateNull();
}

char *api_dataset_encode_full(const struct api_dataset_info *d, const char *columns, const char *class_names)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = dataset_json(d);

	api_json_add(o, "class_names", stored_json(class_names));
	api_json_add(o, "columns", stored_json(columns));
	return api_json_print_free(o, failures);
}

/* Column i's category k of a stored columns array, or NULL. */
static const char *category_text(const cJSON *col, float v)
{
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col, "categories");
	const cJSON *cat;
	int k = (int)v;

	if (!cJSON_IsArray(cats) || v < 0 || (float)k != v || k >= cJSON_GetArraySize(cats))
		return NULL;
	cat = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cats, k), "value");
	return cJSON_IsString(cat) ? cat->valuestring : NULL;
}

/* One cell: a category's text, a number, or null (missing). */
static cJSON *cell_json(const cJSON *col, float v)
{
	const char *text;

	if (isnan(v))
		return cJSON_CreateNull();
	text = col ? category_text(col, v) : NULL;
	return text ? cJSON_CreateString(text) : api_json_float_or_null(v);
}

char *api_dataset_rows_encode(const struct api_dataset_info *d, const char *columns, const float *x, const float *y,
			      size_t n, uint64_t offset)
{
	unsigned long failures = api_alloc_failures();
	cJSON *cols = columns ? cJSON_Parse(columns) : NULL;
	cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "columns");
	cJSON *rows = cJSON_AddArrayToObject(o, "rows");
	size_t y_width = d->y_dim ? d->y_dim : 1;
	uint32_t n_cols = d->n_features + 1;
	char name[32];

	if (cols && (!cJSON_IsArray(cols) || (uint32_t)cJSON_GetArraySize(cols) != n_cols)) {
		cJSON_Delete(cols); /* damaged: fall back to generated names */
		cols = NULL;
	}
	for (uint32_t c = 0; c < n_cols; c++) {
		const cJSON *nm = cols ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cols, (int)c), "name") : NULL;

		if (!cJSON_IsString(nm))
			snprintf(name, sizeof name, c < d->n_features ? "x[%u]" : "y", c);
		api_json_append(names, cJSON_CreateString(cJSON_IsString(nm) ? nm->valuestring : name));
	}
	for (size_t r = 0; r < n; r++) {
		cJSON *row = api_json_append(rows, cJSON_CreateObject());
		const cJSON *col = cols ? cols->child : NULL, *nm = names->child;
		uint32_t f = 0;

		for (uint32_t c = 0; row && c < n_cols; c++, nm = nm ? nm->next : NULL) {
			const cJSON *role = col ? cJSON_GetObjectItemCaseSensitive(col, "role") : NULL;
			bool label = col ? cJSON_IsString(role) && strcmp(role->valuestring, "label") == 0
					 : c == d->n_features;
			cJSON *v;

			if (label && y_width > 1) {
				v = cJSON_CreateArray();
				for (size_t k = 0; v && k < y_width; k++)
					api_json_append(v, api_json_float_or_null(y[r * y_width + k]));
			} else if (label) {
				v = cell_json(col, y[r * y_width]);
			} else {
				v = cell_json(col, x[r * d->n_features + f++]);
			}
			api_json_add(row, nm ? nm->valuestring : "?", v);
			if (col)
				col = col->next;
		}
	}
	api_add_number(o, "offset", (double)offset);
	api_add_number(o, "total", (double)d->n_samples);
	cJSON_Delete(cols);
	return api_json_print_free(o, failures);
}

char *api_dataset_encode(const struct api_dataset_info *d)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(dataset_json(d), failures);
}

char *api_dataset_list_encode(const struct api_dataset_info *items, size_t n, uint64_t total)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, dataset_json(&items[i]));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o, failures);
}
