/*
 * api_version.c — model names and versions in the API's language: the rule
 * for a name that can stand for a model in a path, the rename body, a version
 * number, and a version's JSON.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

bool api_model_name_valid(const char *s)
{
	bool digits_only = true;

	if (!api_name_valid(s) || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const char *p = s; *p; p++)
		digits_only = digits_only && *p >= '0' && *p <= '9';
	return !digits_only;
}

int api_model_rename_decode(const char *body, size_t len, char name[API_NAME_MAX + 1], struct api_err *err)
{
	static const char *const keys[] = {"name", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *item;
	int rc = -1;

	if (!root)
		return -1;
	name[0] = '\0';
	if (api_obj_check(root, "", "the body", keys, err))
		goto out;
	item = cJSON_GetObjectItemCaseSensitive(root, "name");
	if (!item) {
		api_fail(err, API_VALIDATION_FAILED, "name", "name is required (a string, or null for no name)");
		goto out;
	}
	if (!cJSON_IsNull(item)) {
		if (api_get_string(root, "", "name", true, API_NAME_MAX, name, err))
			goto out;
		if (!api_model_name_valid(name)) {
			api_fail(err, API_VALIDATION_FAILED, "name",
				 "name must not be digits only (that reads as an id), contain '/', or be \".\" or \"..\"");
			goto out;
		}
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static const char *const source_names[] = {"job", "weights", "restore"};

const char *api_version_source_name(enum api_version_source s)
{
	return (unsigned)s < 3 ? source_names[s] : "job";
}

bool api_version_source_parse(const char *s, enum api_version_source *out)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, source_names[i]) == 0) {
			*out = (enum api_version_source)i;
			return true;
		}
	}
	return false;
}

bool api_version_parse(const char *s, uint32_t *v)
{
	uint64_t n = 0;

	if (!s || !*s || *s == '0' || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (n > INT32_MAX)
		return false;
	*v = (uint32_t)n;
	return true;
}

static void add_metric(cJSON *o, const char *key, double v)
{
	if (isfinite(v))
		api_add_number(o, key, v);
}

static cJSON *version_json(const struct api_version_info *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *metrics;

	api_add_number(o, "model_id", (double)v->model_id);
	api_add_number(o, "version", v->version);
	cJSON_AddStringToObject(o, "source", api_version_source_name(v->source));
	api_json_add(o, "job_id", v->job_id ? api_json_number_or_null((double)v->job_id) : cJSON_CreateNull());
	api_json_add(o, "restored_from",
		     v->restored_from ? api_json_number_or_null(v->restored_from) : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "weights_sha256", v->weights_sha256);
	cJSON_AddBoolToObject(o, "current", v->current);
	api_json_add(o, "epoch", v->epoch ? api_json_number_or_null(v->epoch) : cJSON_CreateNull());
	metrics = cJSON_AddObjectToObject(o, "metrics");
	add_metric(metrics, "loss", v->loss);
	add_metric(metrics, "accuracy", v->accuracy);
	add_metric(metrics, "val_loss", v->val_loss);
	add_metric(metrics, "val_accuracy", v->val_accuracy);
	cJSON_AddStringToObject(o, "created_at", v->created_at);
	return o;
}

char *api_version_encode(const struct api_version_info *v)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(version_json(v), failures);
}

char *api_version_list_encode(const struct api_version_info *items, size_t n, uint64_t total)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, version_json(&items[i]));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o, failures);
}
