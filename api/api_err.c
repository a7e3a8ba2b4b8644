/*
 * api_err.c — the error table: code -> HTTP status -> code string, and the
 * JSON error body every failure is rendered as.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

static const struct {
	int status;
	const char *name;
} api_errors[] = {
#define API_ROW(name, status, code) {status, code},
	API_ERRORS(API_ROW)
#undef API_ROW
};

int api_fail(struct api_err *err, enum api_code code, const char *field, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

int api_status(enum api_code code)
{
	return (unsigned)code < API_CODE_COUNT ? api_errors[code].status : 500;
}

const char *api_code_name(enum api_code code)
{
	return (unsigned)code < API_CODE_COUNT ? api_errors[code].name : "internal_error";
}

char *api_err_json(const struct api_err *err)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");

	if (!e)
		goto fail;
	cJSON_AddStringToObject(e, "code", api_code_name(err->code));
	cJSON_AddStringToObject(e, "message", err->message[0] ? err->message : api_code_name(err->code));
	if (err->field[0])
		cJSON_AddStringToObject(e, "field", err->field);
	return api_json_print_free(root);
fail:
	cJSON_Delete(root);
	return NULL;
}
