/*
 * api_prep.c — the preprocessing a model carries for CSV data: categorical
 * feature columns one-hot encoded with the training rows' categories,
 * missing numeric cells imputed with the training rows' mean.
 *
 * DESIGN
 * Built once, from the training dataset's columns (their names, kinds and
 * categories, api_csv.c) and its training rows (the rows before a validation
 * split's tail), then stored with the model as JSON and read back: a resumed
 * or later job, evaluate and predict all encode with the same numbers. A
 * stored dataset holds, per categorical cell, the index of its category in
 * that dataset's own list, so another dataset is encoded by the categories'
 * text, never by index. An unseen or missing category encodes as all zeros.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

void api_prep_free(struct api_prep *p)
{
	for (uint32_t i = 0; p->cols && i < p->n_cols; i++) {
		for (uint32_t k = 0; k < p->cols[i].n_cats; k++)
			free(p->cols[i].cats[k]);
		free(p->cols[i].cats);
		free(p->cols[i].name);
	}
	free(p->cols);
	memset(p, 0, sizeof *p);
}

/* The feature columns of a stored columns array, in order; NULL when damaged. */
static cJSON *feature_columns(const char *columns, uint32_t n_features, struct api_err *err)
{
	cJSON *cols = columns ? cJSON_Parse(columns) : NULL, *features = cJSON_CreateArray();
	cJSON *col, *next;

	if (!cJSON_IsArray(cols) || !features) {
		cJSON_Delete(cols);
		cJSON_Delete(features);
		api_fail(err, API_INTERNAL, NULL, "the dataset's stored columns are missing or damaged");
		return NULL;
	}
	for (col = cols->child; col; col = next) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(col, "role");

		next = col->next;
		if (cJSON_IsString(role) && strcmp(role->valuestring, "feature") == 0)
			cJSON_AddItemToArray(features, cJSON_DetachItemViaPointer(cols, col));
	}
	cJSON_Delete(cols);
	if ((uint32_t)cJSON_GetArraySize(features) != n_features) {
		cJSON_Delete(features);
		api_fail(err, API_INTERNAL, NULL, "the dataset's stored columns do not match its rows");
		return NULL;
	}
	return features;
}

static bool is_categorical(const cJSON *col)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(col, "kind");

	return cJSON_IsString(kind) && strcmp(kind->valuestring, "categorical") == 0;
}

/* The text of category k of a stored column, or NULL. */
static const char *category_value(const cJSON *col, int k)
{
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col, "categories");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cats, k), "value");

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int api_prep_build(const char *columns, const float *x, size_t n, const uint8_t *skip, uint32_t n_features,
		   struct api_prep *p, struct api_err *err)
{
	cJSON *features = feature_columns(columns, n_features, err);
	const cJSON *col;
	uint32_t j = 0;
	bool *used = NULL;

	memset(p, 0, sizeof *p);
	if (!features)
		return -1;
	p->cols = api_calloc(n_features ? n_features : 1, sizeof *p->cols);
	used = api_calloc(API_CSV_MAX_CATEGORIES, sizeof *used);
	if (!p->cols || !used)
		goto oom;
	p->n_cols = n_features;
	cJSON_ArrayForEach(col, features) {
		struct api_prep_col *c = &p->cols[j];
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(col, "name");

		c->name = api_strdup(cJSON_IsString(name) ? name->valuestring : "");
		if (!c->name)
			goto oom;
		if (is_categorical(col)) {
			int n_cats = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(col, "categories"));

			/* the categories the training rows hold, in the dataset's order */
			memset(used, 0, API_CSV_MAX_CATEGORIES * sizeof *used);
			for (size_t r = 0; r < n; r++) {
				float v = x[r * n_features + j];

				if (skip && skip[r])
					continue;
				if (!isnan(v) && v >= 0 && v < (float)n_cats && v < API_CSV_MAX_CATEGORIES)
					used[(int)v] = true;
			}
			c->categorical = true;
			c->cats = api_calloc(n_cats ? (size_t)n_cats : 1, sizeof *c->cats);
			if (!c->cats)
				goto oom;
			for (int k = 0; k < n_cats && k < API_CSV_MAX_CATEGORIES; k++) {
				const char *value = category_value(col, k);

				if (!used[k] || !value)
					continue;
				if (!(c->cats[c->n_cats] = api_strdup(value)))
					goto oom;
				c->n_cats++;
			}
			p->width += c->n_cats;
		} else {
			double sum = 0;
			size_t seen = 0;

			for (size_t r = 0; r < n; r++) {
				float v = x[r * n_features + j];

				if (!isnan(v) && !(skip && skip[r])) {
					sum += v;
					seen++;
				}
			}
			c->mean = seen ? sum / (double)seen : 0;
			p->width++;
		}
		j++;
	}
	free(used);
	cJSON_Delete(features);
	return 0;
oom:
	free(used);
	cJSON_Delete(features);
	api_prep_free(p);
	return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
}

/* The index of value among c's categories, or -1. */
static long prep_category(const struct api_prep_col *c, const char *value)
{
	for (uint32_t k = 0; value && k < c->n_cats; k++)
		if (strcmp(c->cats[k], value) == 0)
			return k;
	return -1;
}

int api_prep_apply(const struct api_prep *p, const char *columns, const float *x, size_t n, uint32_t n_features,
		   float *out, struct api_err *err)
{
	cJSON *features;
	const cJSON *col;
	long *map = NULL;
	uint32_t j = 0, at = 0;

	if (n_features != p->n_cols)
		return api_fail(err, API_VALIDATION_FAILED, "dataset_id",
				"the dataset has %u feature columns; the model's preprocessing takes %u", n_features,
				p->n_cols);
	features = feature_columns(columns, n_features, err);
	if (!features)
		return -1;
	map = api_malloc(API_CSV_MAX_CATEGORIES * sizeof *map);
	if (!map) {
		cJSON_Delete(features);
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	}
	cJSON_ArrayForEach(col, features) {
		const struct api_prep_col *c = &p->cols[j];
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(col, "name");

		if (!cJSON_IsString(name) || strcmp(name->valuestring, c->name) != 0 || is_categorical(col) != c->categorical) {
			api_fail(err, API_VALIDATION_FAILED, "dataset_id",
				 "the dataset's column %u is not the model's \"%.40s\" (%s)", j + 1, c->name,
				 c->categorical ? "categorical" : "numeric");
			goto fail;
		}
		if (c->categorical) {
			int n_cats = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(col, "categories"));

			for (int k = 0; k < n_cats && k < API_CSV_MAX_CATEGORIES; k++)
				map[k] = prep_category(c, category_value(col, k));
			for (size_t r = 0; r < n; r++) {
				float v = x[r * n_features + j];
				float *o = out + r * p->width + at;
				long k = !isnan(v) && v >= 0 && v < (float)n_cats ? map[(int)v] : -1;

				memset(o, 0, c->n_cats * sizeof *o);
				if (k >= 0)
					o[k] = 1;
			}
			at += c->n_cats;
		} else {
			for (size_t r = 0; r < n; r++) {
				float v = x[r * n_features + j];

				out[r * p->width + at] = isnan(v) ? (float)c->mean : v;
			}
			at++;
		}
		j++;
	}
	free(map);
	cJSON_Delete(features);
	return 0;
fail:
	free(map);
	cJSON_Delete(features);
	return -1;
}

char *api_prep_encode(const struct api_prep *p)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject(), *cols = cJSON_AddArrayToObject(o, "columns");

	for (uint32_t j = 0; j < p->n_cols; j++) {
		const struct api_prep_col *c = &p->cols[j];
		cJSON *col = api_json_append(cols, cJSON_CreateObject());

		if (!col)
			break;
		cJSON_AddStringToObject(col, "name", c->name);
		cJSON_AddStringToObject(col, "kind", c->categorical ? "categorical" : "numeric");
		if (c->categorical) {
			cJSON *cats = cJSON_AddArrayToObject(col, "categories");

			for (uint32_t k = 0; cats && k < c->n_cats; k++)
				api_json_append(cats, cJSON_CreateString(c->cats[k]));
		} else {
			api_add_number(col, "impute", c->mean);
		}
	}
	api_add_number(o, "width", p->width);
	return api_json_print_free(o, failures);
}

int api_prep_decode(const char *text, struct api_prep *p, struct api_err *err)
{
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(o, "columns"), *col;
	uint32_t j = 0;

	memset(p, 0, sizeof *p);
	if (!cJSON_IsArray(cols)) {
		cJSON_Delete(o);
		return api_fail(err, API_INTERNAL, NULL, "the model's stored preprocessing is damaged");
	}
	p->n_cols = (uint32_t)cJSON_GetArraySize(cols);
	p->cols = api_calloc(p->n_cols ? p->n_cols : 1, sizeof *p->cols);
	if (!p->cols)
		goto oom;
	cJSON_ArrayForEach(col, cols) {
		struct api_prep_col *c = &p->cols[j++];
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(col, "name");
		const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col, "categories");
		const cJSON *impute = cJSON_GetObjectItemCaseSensitive(col, "impute"), *v;

		if (!(c->name = api_strdup(cJSON_IsString(name) ? name->valuestring : "")))
			goto oom;
		c->categorical = is_categorical(col);
		if (c->categorical) {
			c->cats = api_calloc((size_t)cJSON_GetArraySize(cats) + 1, sizeof *c->cats);
			if (!c->cats)
				goto oom;
			cJSON_ArrayForEach(v, cats) {
				if (!(c->cats[c->n_cats] = api_strdup(cJSON_IsString(v) ? v->valuestring : "")))
					goto oom;
				c->n_cats++;
			}
			p->width += c->n_cats;
		} else {
			c->mean = cJSON_IsNumber(impute) ? impute->valuedouble : 0;
			p->width++;
		}
	}
	cJSON_Delete(o);
	return 0;
oom:
	cJSON_Delete(o);
	api_prep_free(p);
	return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
}

