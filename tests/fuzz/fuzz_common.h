/*
 * fuzz_common.h — what every libFuzzer target of fitd shares: a fatal check
 * that names the broken property, and the checks every decoder's failure must
 * pass (an error code from the table, a message, and an error body that is
 * valid JSON in valid UTF-8 — the body a client receives).
 *
 * Targets are built by tests/fuzz/run.sh with
 * clang -fsanitize=fuzzer,address,undefined; see that script.
 */
#ifndef FITD_FUZZ_COMMON_H
#define FITD_FUZZ_COMMON_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_internal.h"

/* A property failed: print it and abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond, ...)                                                         \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "\nFUZZ CHECK FAILED %s:%d: %s\n  ", __FILE__, \
				__LINE__, #cond);                                     \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* A NUL-terminated copy of a fuzz input (the decoders take a length, but the
 * oracles sometimes want a string). Free with free(). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A stored name: 1..API_NAME_MAX bytes of UTF-8 without C0 control
 * characters (what api_get_string enforces; api_name_valid, used for the CSV
 * ?name=, also refuses DEL). */
static inline int fuzz_name_ok(const char *s)
{
	size_t n = strnlen(s, API_NAME_MAX + 1);

	if (n < 1 || n > API_NAME_MAX || !api_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return 0;
	return 1;
}

/* s with every byte outside printable ASCII as \xNN, in a static buffer
 * (for messages about text that is not valid UTF-8). */
static inline const char *fuzz_escaped(const char *s)
{
	static char out[2048];
	size_t j = 0;

	for (; *s && j + 5 < sizeof out; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			out[j++] = (char)c;
		else
			j += (size_t)snprintf(out + j, sizeof out - j, "\\x%02X", c);
	}
	out[j] = '\0';
	return out;
}

/* A decoder said no: the error must be one of the table's, carry a message,
 * and render as {"error": {...}} that is valid UTF-8 and parses back. */
static inline void fuzz_check_err(const struct api_err *err)
{
	char *json;
	cJSON *back;

	FUZZ_CHECK(err->code != API_OK && err->code < API_CODE_COUNT, "failure with code %d", (int)err->code);
	FUZZ_CHECK(err->message[0] != '\0', "failure without a message (code %s)", api_code_name(err->code));
	FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) && memchr(err->field, '\0', sizeof err->field),
		   "unterminated error strings");
	json = api_err_json(err);
	FUZZ_CHECK(json != NULL, "api_err_json returned NULL");
	/* FITD_FUZZ_SKIP_UTF8=1 skips this one check, to explore past a known finding. */
	FUZZ_CHECK(getenv("FITD_FUZZ_SKIP_UTF8") || api_utf8_valid(json, strlen(json)),
		   "the error body is not valid UTF-8 (a client cannot decode it): %s", fuzz_escaped(json));
	back = cJSON_Parse(json);
	FUZZ_CHECK(back != NULL, "the error body is not JSON: %s", json);
	cJSON_Delete(back);
	free(json);
}

#endif
