/*
 * test_api_util.h — helpers shared by the tests of api/ (test_api_*.c).
 *
 * Bodies in the case tables are JSON written with single quotes, so that a
 * table reads like the requests it stands for: tq("{'units': 2}") is the body
 * {"units": 2}. A literal double quote inside a JSON string (a Keras model
 * given as a string) is written \' in the JSON text, "\\'" in C.
 *
 * Every body is handed to the decoders in a heap block of exactly its length,
 * without a terminating NUL, as the server hands them over: under
 * AddressSanitizer a decoder that reads past len fails the test.
 */
#ifndef FITD_TEST_API_UTIL_H
#define FITD_TEST_API_UTIL_H

#include <stddef.h>

#include "api/api.h"

/* A body: n bytes at p, not NUL-terminated. Free with tb_free. */
struct tbody {
	char *p;
	size_t n;
};

/* s with every ' turned into ", in a new exact-size block. */
struct tbody tq(const char *s);
/* s as is (n bytes), in a new exact-size block. */
struct tbody tb_raw(const char *s, size_t n);
void tb_free(struct tbody *b);

/* Asserts that a decoder failed with code and field (field "" = none) and,
 * when msg_part is non-NULL, that the message contains it. what says which
 * case failed (the table row and its body). */
void t_expect_err(const struct api_err *err, enum api_code code, const char *field, const char *msg_part,
		  const char *what);

#endif
