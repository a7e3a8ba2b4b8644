/*
 * test_http_match.c — server/http/http_match.c's query-string names: which
 * keys a route takes, and the typo suggestion, against hand-worked cases
 * (edit distances counted by hand in the comments).
 */
#include <check.h>
#include <string.h>

#include "server/http/http.h"

Suite *suite_http_match(void);

START_TEST(test_query_index)
{
	const char *list = "name label header";

	ck_assert_int_eq(http_query_index(list, "name"), 0);
	ck_assert_int_eq(http_query_index(list, "label"), 1);
	ck_assert_int_eq(http_query_index(list, "header"), 2);
	ck_assert_int_eq(http_query_index(list, "lab"), -1);     /* a prefix is not the name */
	ck_assert_int_eq(http_query_index(list, "labels"), -1);  /* nor a longer key */
	ck_assert_int_eq(http_query_index(list, ""), -1);
	ck_assert_int_eq(http_query_index(list, "name label"), -1);
	ck_assert_int_eq(http_query_index(list, NULL), -1);
	ck_assert_int_eq(http_query_index(NULL, "name"), -1);    /* a route without parameters */
	ck_assert_int_eq(http_query_index("", "name"), -1);
	ck_assert_int_eq(http_query_index("  limit   offset ", "offset"), 1); /* extra spaces */
	ck_assert(http_query_allowed("limit offset", "limit"));
	ck_assert(!http_query_allowed("limit offset", "Limit")); /* names are case-sensitive */
}
END_TEST

START_TEST(test_query_suggest)
{
	const char *list = "name label header delimiter task";
	char out[32];

	/* lable -> label: one swap of neighbours. */
	ck_assert_ptr_eq(http_query_suggest(list, "lable", out, sizeof out), out);
	ck_assert_str_eq(out, "label");
	/* hedaer -> header: one swap. */
	ck_assert_ptr_nonnull(http_query_suggest(list, "hedaer", out, sizeof out));
	ck_assert_str_eq(out, "header");
	/* delimeter -> delimiter: one substitution. */
	ck_assert_ptr_nonnull(http_query_suggest(list, "delimeter", out, sizeof out));
	ck_assert_str_eq(out, "delimiter");
	/* labels -> label: one deletion. */
	ck_assert_ptr_nonnull(http_query_suggest(list, "labels", out, sizeof out));
	ck_assert_str_eq(out, "label");
	/* sep is three edits from anything here: no suggestion. */
	ck_assert_ptr_null(http_query_suggest(list, "sep", out, sizeof out));
	/* "tas" -> "task" is one edit but a third of a 3-byte key... 2*1 < 3: suggested. */
	ck_assert_ptr_nonnull(http_query_suggest(list, "tas", out, sizeof out));
	ck_assert_str_eq(out, "task");
	/* "x" is one edit from nothing shorter than 2; "ab" would be 2 edits from "a?": refused. */
	ck_assert_ptr_null(http_query_suggest("a b", "x", out, sizeof out));
	ck_assert_ptr_null(http_query_suggest(NULL, "lable", out, sizeof out));
	ck_assert_ptr_null(http_query_suggest(list, "", out, sizeof out));
	/* A suggestion that does not fit out is not given. */
	ck_assert_ptr_null(http_query_suggest(list, "delimeter", out, 4));
}
END_TEST

Suite *suite_http_match(void)
{
	Suite *s = suite_create("http_match");
	TCase *tc = tcase_create("query");

	tcase_add_test(tc, test_query_index);
	tcase_add_test(tc, test_query_suggest);
	suite_add_tcase(s, tc);
	return s;
}
