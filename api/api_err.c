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
	int retry_after;
} api_errors[] = {
#define API_ROW(name, status, code, retry_after) {status, code, retry_after},
	API_ERRORS(API_ROW)
#undef API_ROW
};

int api_failv(struct api_err *err, enum api_code code, const char *field, const char *fmt, va_list ap)
{
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	return -1;
}

int api_fail(struct api_err *err, enum api_code code, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_failv(err, code, field, fmt, ap);
	va_end(ap);
	return -1;
}

int api_status(enum api_code code)
{
	return (unsigned)code < API_CODE_COUNT ? api_errors[code].status : 500;
}

int api_retry_after(enum api_code code)
{
	return (unsigned)code < API_CODE_COUNT ? api_errors[code].retry_after : 0;
}

const char *api_code_name(enum api_code code)
{
	return (unsigned)code < API_CODE_COUNT ? api_errors[code].name : "internal_error";
}

/* Copies s, replacing every byte that does not start a valid UTF-8 sequence
 * with '?': messages quote request bytes (a CSV cell, a key) and may have
 * been cut to fit their buffer in the middle of a character. */
void api_utf8_clean(const char *s, char *out, size_t size)
{
	size_t o = 0, n = strlen(s);

	for (size_t i = 0; i < n && o + 5 < size;) {
		size_t len = 1;
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (i + len <= n && api_utf8_valid(s + i, len)) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
}

char *api_err_json(const struct api_err *err)
{
	unsigned long failures = api_alloc_failures();
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	char message[sizeof err->message], field[sizeof err->field];

	if (!e)
		goto fail;
	api_utf8_clean(err->message[0] ? err->message : api_code_name(err->code), message, sizeof message);
	api_utf8_clean(err->field, field, sizeof field);
	cJSON_AddStringToObject(e, "code", api_code_name(err->code));
	cJSON_AddStringToObject(e, "message", message);
	if (field[0])
		cJSON_AddStringToObject(e, "field", field);
	return api_json_print_free(root, failures);
fail:
	cJSON_Delete(root);
	return NULL;
}
