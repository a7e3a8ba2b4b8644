/*
 * test_db_pg.c — the pure parts of the PostgreSQL driver (server/store/db_pg.c):
 * the rewrite of the store's SQL and the decoding of binary numerics, checked
 * against hand-written expectations. The driver's statements themselves run
 * against a real PostgreSQL in the integration suite (make test-pg).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

static void expect_rewrite(const char *sql, const char *want, int want_params)
{
	int n = -1;
	char *got = db_pg_rewrite(sql, &n);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(n, want_params);
	free(got);
}

START_TEST(test_rewrite)
{
	expect_rewrite("SELECT 1", "SELECT 1", 0);
	expect_rewrite("SELECT a FROM t WHERE id = ?1 AND b = ?12 OR c = ?2", "SELECT a FROM t WHERE id = $1 AND b = $12 OR c = $2", 12);
	/* inside a string literal nothing changes, '' included */
	expect_rewrite("SELECT '?1', 'it''s ?2', ?3", "SELECT '?1', 'it''s ?2', $3", 3);
	/* a bare ? is not a parameter of the store's form */
	expect_rewrite("SELECT ? ", "SELECT ? ", 0);
	expect_rewrite("UPDATE t SET at = " DB_NOW " WHERE id = ?1",
		       "UPDATE t SET at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') WHERE id = $1", 1);
	expect_rewrite(DB_NOW ", " DB_NOW,
		       "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		       "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
		       0);
	expect_rewrite("SELECT instr(a, ?1), xinstr(b), my_instr(c)", "SELECT strpos(a, $1), xinstr(b), my_instr(c)", 1);
	expect_rewrite("SELECT 'instr(' || ?1", "SELECT 'instr(' || $1", 1);
}
END_TEST

/* Builds a numeric: ndigits, weight, sign, dscale, then the digits. */
static int numeric(unsigned char *p, int weight, int sign, int dscale, const int *digits, int n)
{
	int v[4] = {n, weight & 0xffff, sign, dscale};

	for (int k = 0; k < 4; k++) {
		p[2 * k] = (unsigned char)(v[k] >> 8);
		p[2 * k + 1] = (unsigned char)v[k];
	}
	for (int k = 0; k < n; k++) {
		p[8 + 2 * k] = (unsigned char)(digits[k] >> 8);
		p[8 + 2 * k + 1] = (unsigned char)digits[k];
	}
	return 8 + 2 * n;
}

START_TEST(test_numeric)
{
	unsigned char p[64];
	int len;

	/* 12345.678 = 1|2345|.6780: weight 1 */
	len = numeric(p, 1, 0x0000, 3, (const int[]){1, 2345, 6780}, 3);
	ck_assert_double_eq_tol(db_pg_numeric(p, len), 12345.678, 1e-9);
	/* -0.5 = -.5000: weight -1 */
	len = numeric(p, -1, 0x4000, 1, (const int[]){5000}, 1);
	ck_assert_double_eq(db_pg_numeric(p, len), -0.5);
	/* 0: no digits */
	len = numeric(p, 0, 0x0000, 0, NULL, 0);
	ck_assert_double_eq(db_pg_numeric(p, len), 0.0);
	/* 3 * 10^20 = 3|0000|0000|0000|0000|0000 trimmed to one digit at weight 5 */
	len = numeric(p, 5, 0x0000, 0, (const int[]){3}, 1);
	ck_assert_double_eq_tol(db_pg_numeric(p, len), 3e20, 1e5);
	/* NaN, and a value shorter than its digit count */
	len = numeric(p, 0, 0xC000, 0, NULL, 0);
	ck_assert(isnan(db_pg_numeric(p, len)));
	len = numeric(p, 0, 0x0000, 0, (const int[]){7, 7}, 2);
	ck_assert(isnan(db_pg_numeric(p, len - 1)));
	ck_assert(isnan(db_pg_numeric(p, 4)));
}
END_TEST

Suite *suite_db_pg(void);

Suite *suite_db_pg(void)
{
	Suite *s = suite_create("db_pg");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_rewrite);
	tcase_add_test(tc, test_numeric);
	suite_add_tcase(s, tc);
	return s;
}
