/*
 * test_api_util.c — helpers shared by the tests of api/ (see test_api_util.h).
 * No suite of its own.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/api/test_api_util.h"

struct tbody tq(const char *s)
{
	struct tbody b = tb_raw(s, strlen(s));

	for (size_t i = 0; i < b.n; i++)
		if (b.p[i] == '\'')
			b.p[i] = '"';
	return b;
}

struct tbody tb_raw(const char *s, size_t n)
{
	struct tbody b = {malloc(n ? n : 1), n};

	ck_assert_ptr_nonnull(b.p);
	if (n)
		memcpy(b.p, s, n);
	return b;
}

void tb_free(struct tbody *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

void t_expect_err(const struct api_err *err, enum api_code code, const char *field, const char *msg_part,
		  const char *what)
{
	ck_assert_msg(err->code == code, "%s: code %s (%s: %s), expected %s", what, api_code_name(err->code),
		      err->field, err->message, api_code_name(code));
	ck_assert_msg(strcmp(err->field, field) == 0, "%s: field \"%s\" (%s), expected \"%s\"", what, err->field,
		      err->message, field);
	if (msg_part)
		ck_assert_msg(strstr(err->message, msg_part) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
			      err->message, msg_part);
	ck_assert_msg(err->message[0] != '\0', "%s: empty message", what);
}
