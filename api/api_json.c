/*
 * api_json.c — strict JSON reading on top of cJSON, and the output buffer.
 *
 * cJSON parses leniently by design (it keeps duplicate keys, turns 1e999 into
 * infinity, has no notion of integers). fitd's contract is strict, so every
 * reader goes through these getters, which refuse what cJSON lets through.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

/* ---- parsing ---------------------------------------------------------------- */

static void json_position(const char *body, size_t offset, size_t *line, size_t *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset; i++) {
		if (body[i] == '\n') {
			(*line)++;
			*column = 1;
		} else {
			(*column)++;
		}
	}
}

/* Does a string of the (valid) JSON text hold the escape \u0000? cJSON
 * would silently cut the string there. A backslash escapes the 'u' when an
 * odd number of backslashes precede it. */
static bool has_nul_escape(const char *body, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		size_t slashes = 0;

		if (body[i] != '\\' || body[i + 1] != 'u' || memcmp(body + i + 2, "0000", 4) != 0)
			continue;
		while (slashes < i && body[i - 1 - slashes] == '\\')
			slashes++;
		if (slashes % 2 == 0)
			return true;
	}
	return false;
}

cJSON *api_json_parse(const char *body, size_t len, struct api_err *err)
{
	const char *end = NULL;
	size_t line, column;
	unsigned long failures = api_alloc_failures();
	cJSON *root;

	if (len == 0 || !body) {
		api_fail(err, API_INVALID_JSON, NULL, "the body is empty; expected a JSON object");
		return NULL;
	}
	/* The end pointer, not the global cJSON_GetErrorPtr(), which threads share. */
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root && api_alloc_failures() != failures) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		return NULL;
	}
	if (!root) {
		size_t offset = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
		json_position(body, offset, &line, &column);
		api_fail(err, API_INVALID_JSON, NULL, "the body is not valid JSON: syntax error at line %zu, column %zu (byte %zu)",
			 line, column, offset);
		return NULL;
	}
	if (has_nul_escape(body, len)) {
		cJSON_Delete(root);
		api_fail(err, API_VALIDATION_FAILED, NULL, "strings must not contain \\u0000");
		return NULL;
	}
	if (!api_utf8_valid(body, len)) {
		cJSON_Delete(root);
		api_fail(err, API_INVALID_JSON, NULL, "the body is not valid UTF-8");
		return NULL;
	}
	for (const char *p = end; p < body + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			json_position(body, (size_t)(p - body), &line, &column);
			cJSON_Delete(root);
			api_fail(err, API_INVALID_JSON, NULL,
				 "the body is not valid JSON: unexpected data after the value at line %zu, column %zu",
				 line, column);
			return NULL;
		}
	}
	api_float_fix_json(root, body, len);
	return root;
}

bool api_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p, need;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			need = 1, cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2, cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3, cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= need)
			return false;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		/* overlong forms, surrogates and values past U+10FFFF */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return false;
		p += need + 1;
	}
	return true;
}

bool api_name_valid(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return n >= 1 && n <= API_NAME_MAX && api_utf8_valid(s, n);
}

/* ---- paths -------------------------------------------------------------------- */

void api_path(char *out, size_t size, const char *parent, const char *key)
{
	if (!parent || !parent[0])
		snprintf(out, size, "%s", key);
	else
		snprintf(out, size, "%s.%s", parent, key);
}

void api_path_index(char *out, size_t size, const char *parent, size_t index)
{
	snprintf(out, size, "%s[%zu]", parent ? parent : "", index);
}

/* ---- objects ------------------------------------------------------------------- */

int api_obj_check(const cJSON *obj, const char *path, const char *what,
		  const char *const *allowed, struct api_err *err)
{
	char field[sizeof err->field];

	if (!cJSON_IsObject(obj))
		return api_fail(err, API_VALIDATION_FAILED, path && path[0] ? path : NULL,
				"%s must be a JSON object", what);
	for (const cJSON *item = obj->child; item; item = item->next) {
		bool known = false;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, item->string) == 0)
				known = true;
		api_path(field, sizeof field, path, item->string);
		if (!known)
			return api_fail(err, API_VALIDATION_FAILED, field, "unknown field \"%s\" in %s",
					item->string, what);
		for (const cJSON *other = obj->child; other != item; other = other->next)
			if (strcmp(other->string, item->string) == 0)
				return api_fail(err, API_VALIDATION_FAILED, field, "field \"%s\" appears twice in %s",
						item->string, what);
	}
	return 0;
}

bool api_number_value(const cJSON *item, double *out)
{
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return false;
	*out = item->valuedouble;
	return true;
}

bool api_fits_float(double v)
{
	/* Below FLT_MAX + half an ulp, a double rounds to a finite float
	 * (3.40282347e+38, as "%.9g" prints FLT_MAX, is just above FLT_MAX). */
	return fabs(v) < 0x1.ffffffp+127;
}

int api_read_float(const cJSON *item, const char *path, float *out, struct api_err *err)
{
	double v;

	if (!api_number_value(item, &v) || !api_fits_float(v))
		return api_fail(err, API_VALIDATION_FAILED, path, "%s must be a finite number", path);
	*out = (float)v;
	return 0;
}

int api_read_floats(const cJSON *arr, const char *path, uint32_t n, float *out, struct api_err *err)
{
	char field[sizeof err->field];
	uint32_t i = 0;

	if (!cJSON_IsArray(arr) || (uint32_t)cJSON_GetArraySize(arr) != n)
		return api_fail(err, API_VALIDATION_FAILED, path, "%s must be an array of %u numbers", path, n);
	for (const cJSON *v = arr->child; v; v = v->next, i++) {
		api_path_index(field, sizeof field, path, i);
		if (api_read_float(v, field, &out[i], err))
			return -1;
	}
	return 0;
}

/* Looks key up; 1 = found (*item set), 0 = absent and optional, -1 = failed. */
static int get_item(const cJSON *obj, const char *path, const char *key, bool required,
		    const cJSON **item, char *field, size_t field_size, struct api_err *err)
{
	api_path(field, field_size, path, key);
	*item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (*item && !cJSON_IsNull(*item))
		return 1;
	if (required)
		return api_fail(err, API_VALIDATION_FAILED, field, "%s is required", field);
	return 0;
}

int api_get_number(const cJSON *obj, const char *path, const char *key, bool required,
		   double lo, double hi, double *out, struct api_err *err)
{
	char field[sizeof err->field];
	const cJSON *item;
	double v;
	int found = get_item(obj, path, key, required, &item, field, sizeof field, err);

	if (found <= 0)
		return found;
	if (!cJSON_IsNumber(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a number", field);
	if (!api_number_value(item, &v))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a finite number", field);
	if (v < lo || v > hi)
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a number in %g..%g", field, lo, hi);
	*out = v;
	return 0;
}

int api_get_int(const cJSON *obj, const char *path, const char *key, bool required,
		int64_t lo, int64_t hi, int64_t *out, struct api_err *err)
{
	char field[sizeof err->field];
	const cJSON *item;
	double v;
	int found = get_item(obj, path, key, required, &item, field, sizeof field, err);

	if (found <= 0)
		return found;
	/* |v| < 2^53 first: from there on a double is not an exact integer (the
	 * text 2^53 + 1 parses as 2^53), and past INT64_MAX the conversion below
	 * would be undefined. */
	if (!api_number_value(item, &v) || fabs(v) >= 9007199254740992.0 || v != floor(v) ||
	    v < (double)lo || v > (double)hi)
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an integer in %lld..%lld", field,
				(long long)lo, (long long)hi);
	*out = (int64_t)v;
	return 0;
}

int api_get_bool(const cJSON *obj, const char *path, const char *key, bool required,
		 bool *out, struct api_err *err)
{
	char field[sizeof err->field];
	const cJSON *item;
	int found = get_item(obj, path, key, required, &item, field, sizeof field, err);

	if (found <= 0)
		return found;
	if (!cJSON_IsBool(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be true or false", field);
	*out = cJSON_IsTrue(item);
	return 0;
}

int api_get_string(const cJSON *obj, const char *path, const char *key, bool required,
		   size_t max, char *out, struct api_err *err)
{
	char field[sizeof err->field];
	const cJSON *item;
	size_t n;
	int found = get_item(obj, path, key, required, &item, field, sizeof field, err);

	if (found <= 0)
		return found;
	if (!cJSON_IsString(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a string", field);
	n = strlen(item->valuestring);
	if (n == 0 || n > max)
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be 1..%zu bytes long", field, max);
	if (!api_name_valid(item->valuestring))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must not contain control characters", field);
	memcpy(out, item->valuestring, n + 1);
	return 0;
}

/* ---- output ------------------------------------------------------------------------ */

static bool buf_reserve(struct api_buf *b, size_t extra)
{
	size_t want;
	char *p;

	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	if (b->max && b->len + extra > b->max) {
		b->failed = true;
		return false;
	}
	want = b->cap ? b->cap : 256;
	while (want < b->len + extra + 1)
		want *= 2;
	if (b->max && want > b->max + 1)
		want = b->max + 1;
	p = api_realloc(b->data, want);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = want;
	return true;
}

void api_buf_put(struct api_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void api_buf_puts(struct api_buf *b, const char *s)
{
	api_buf_put(b, s, strlen(s));
}

void api_buf_vprintf(struct api_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0 && buf_reserve(b, (size_t)n)) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void api_buf_printf(struct api_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void api_buf_clear(struct api_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void api_buf_free(struct api_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

void api_buf_float(struct api_buf *b, float v)
{
	char tmp[32];
	int n;

	if (!isfinite(v)) {
		api_buf_put(b, "null", 4);
		return;
	}
	/* 9 significant digits always round-trip a float32. */
	n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
	api_buf_put(b, tmp, (size_t)n);
}

void api_buf_floats(struct api_buf *b, const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			api_buf_put(b, ",", 1);
		api_buf_float(b, v[i]);
	}
}

void api_buf_matrix(struct api_buf *b, const float *v, size_t rows, uint32_t cols)
{
	api_buf_put(b, "[", 1);
	for (size_t i = 0; i < rows; i++) {
		api_buf_puts(b, i ? ",[" : "[");
		api_buf_floats(b, v + i * cols, cols);
		api_buf_put(b, "]", 1);
	}
	api_buf_put(b, "]", 1);
}

char *api_buf_finish(struct api_buf *b)
{
	char *text = NULL;

	if (!b->failed && buf_reserve(b, 0)) {
		text = b->data;
		b->data = NULL;
	}
	api_buf_free(b);
	return text;
}

cJSON *api_json_number_or_null(double v)
{
	char text[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(text, sizeof text, "%.*g", digits, v);
		if (strtod(text, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(text);
}

cJSON *api_json_float_or_null(float v)
{
	char text[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	for (int digits = 6; digits <= 9; digits++) {
		snprintf(text, sizeof text, "%.*g", digits, (double)v);
		if (strtof(text, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(text);
}

cJSON *api_add_number(cJSON *obj, const char *key, double v)
{
	return api_json_add(obj, key, api_json_number_or_null(v));
}

cJSON *api_json_add(cJSON *obj, const char *key, cJSON *item)
{
	if (item && !cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

cJSON *api_json_append(cJSON *arr, cJSON *item)
{
	if (item && !cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

char *api_json_print_free(cJSON *root, unsigned long failures)
{
	/* cJSON_Add* drop a node they cannot allocate and go on: a tree built
	 * while an allocation failed may lack a field, so it is not printed. */
	char *s = root && api_alloc_failures() == failures ? cJSON_PrintUnformatted(root) : NULL;

	if (s && api_alloc_failures() != failures) {
		cJSON_free(s);
		s = NULL;
	}
	cJSON_Delete(root);
	return s;
}
