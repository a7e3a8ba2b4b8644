/*
 * test_api_csv_scan.c — the CSV reader's scanner (api/api_csv_scan.c)
 * against a byte-at-a-time reference, on random bytes with delimiters,
 * quotes, CR and LF at every alignment and every length around the 8- and
 * 16-byte steps; and the reader itself (api_csv_feed), which gives the same
 * rows and the same error whatever the chunks the body arrives in.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "tests/unit/api/test_api_util.h"

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint32_t next_u32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static size_t reference_scan(const char *p, size_t len, char delim)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == delim || p[i] == '"' || p[i] == '\n' || p[i] == '\r')
			return i;
	return len;
}

/* Bytes that look like the special ones to a careless word trick: the
 * special bytes with the high bit set or one bit off, 0x00, 0xFF, 0x80. */
static char random_byte(unsigned special_per_256, char delim)
{
	static const unsigned char near[] = {0xAC, 0x8A, 0x8D, 0xA2, 0x2D, 0x2E, 0x0B, 0x0C, 0x23, 0x00, 0xFF, 0x80, 0x7F, 0x01};
	static const char special[] = {'"', '\n', '\r'};
	uint32_t r = next_u32() % 256;

	if (r < special_per_256)
		return next_u32() % 4 == 0 ? delim : special[next_u32() % 3];
	if (r % 3 == 0)
		return (char)near[next_u32() % sizeof near];
	return (char)('0' + next_u32() % 10);
}

START_TEST(test_scan_matches_reference)
{
	static const char delims[] = {',', ';', '\t', '|', (char)0xAC};
	char *buf = malloc(256);
	long checked = 0;

	ck_assert_ptr_nonnull(buf);
	for (size_t d = 0; d < sizeof delims; d++) {
		for (int round = 0; round < 60; round++) {
			/* from no special byte at all to one in two */
			unsigned density = round % 6 == 0 ? 0 : 1u << (round % 8);

			for (size_t i = 0; i < 256; i++)
				buf[i] = random_byte(density, delims[d]);
			/* every alignment, every length up to 3 x 16 + 7 */
			for (size_t start = 0; start < 32; start++)
				for (size_t len = 0; len <= 55 && start + len <= 256; len++) {
					size_t got = api_csv_scan(buf + start, len, delims[d]);
					size_t want = reference_scan(buf + start, len, delims[d]);

					ck_assert_msg(got == want, "delim 0x%02x, start %zu, len %zu: %zu, want %zu",
						      (unsigned char)delims[d], start, len, got, want);
					checked++;
				}
		}
	}
	ck_assert_int_gt(checked, 400000);
	free(buf);
}
END_TEST

/* A special byte at each position of a run of digits, at each alignment. */
START_TEST(test_scan_each_position)
{
	static const char specials[] = {',', '"', '\n', '\r'};
	char buf[128];

	for (size_t s = 0; s < sizeof specials; s++)
		for (size_t start = 0; start < 16; start++)
			for (size_t pos = 0; pos < 64; pos++) {
				memset(buf, '7', sizeof buf);
				buf[start + pos] = specials[s];
				buf[start + pos + 1] = specials[s];
				ck_assert_uint_eq(api_csv_scan(buf + start, 64, ','), pos);
				ck_assert_uint_eq(api_csv_scan(buf + start, pos, ','), pos); /* just out of reach */
			}
}
END_TEST

/* ---- the reader, chunked at random ------------------------------------------- */

struct rows_out {
	char *text;
	size_t len, cap;
};

static int collect(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	struct rows_out *o = ctx;
	char line[64];

	(void)err;
	for (uint32_t i = 0; i <= n_features; i++) {
		int n = snprintf(line, sizeof line, "%a%c", (double)(i < n_features ? features[i] : label),
				 i < n_features ? ',' : '\n');

		if (o->len + (size_t)n + 1 > o->cap) {
			o->cap = (o->cap + (size_t)n + 1) * 2;
			o->text = realloc(o->text, o->cap);
			ck_assert_ptr_nonnull(o->text);
		}
		memcpy(o->text + o->len, line, (size_t)n + 1);
		o->len += (size_t)n;
	}
	return 0;
}

/* The reader on body split at the given chunk sizes (0: one byte at a
 * time, else random sizes up to max): the rows as text, and the error. */
static char *read_chunked(const char *body, size_t len, size_t max, char *error, size_t error_size)
{
	struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 100000, .max_cells = 10000000};
	struct rows_out out = {0};
	struct api_csv *csv = api_csv_create(&opts, collect, &out);
	struct api_err err = {0};
	size_t at = 0;
	int rc = 0;

	ck_assert_ptr_nonnull(csv);
	while (rc == 0 && at < len) {
		size_t n = max == 0 ? 1 : 1 + next_u32() % max;

		if (n > len - at)
			n = len - at;
		rc = api_csv_feed(csv, body + at, n, &err);
		at += n;
	}
	if (rc == 0)
		rc = api_csv_finish(csv, &err);
	snprintf(error, error_size, "%d %s", rc, rc ? err.message : "");
	api_csv_destroy(csv);
	if (!out.text)
		out.text = strdup("");
	return out.text;
}

static void random_csv(char *body, size_t cap, size_t *len, bool clean)
{
	size_t n = 0;
	int cols = 2 + (int)(next_u32() % 6), rows = 1 + (int)(next_u32() % 40);

	if (next_u32() % 2) {
		n += (size_t)snprintf(body + n, cap - n, "a,\"b,\"\"c\"");
		for (int c = 2; c < cols; c++)
			n += (size_t)snprintf(body + n, cap - n, ",x%d", c);
		n += (size_t)snprintf(body + n, cap - n, "\r\n");
	}
	for (int r = 0; r < rows && n + 3000 < cap; r++) {
		for (int c = 0; c < cols; c++) {
			uint32_t k = next_u32() % 16;

			if (c)
				body[n++] = ',';
			if (k == 0)
				n += (size_t)snprintf(body + n, cap - n, "\"%u.5\"", next_u32() % 1000);
			else if (k == 1)
				n += (size_t)snprintf(body + n, cap - n, " %d ", (int)(next_u32() % 200) - 100);
			else if (k == 5)
				/* up to 9 digits: past 2^24 the integer itself rounds */
				n += (size_t)snprintf(body + n, cap - n, "%u", next_u32() % 1000000000);
			else if (k == 6)
				n += (size_t)snprintf(body + n, cap - n, "%u%u", 1 + next_u32() % 9, next_u32() % 1000000000);
			else if (k == 2)
				n += (size_t)snprintf(body + n, cap - n, "%.9g", (double)next_u32() / 7.0);
			else if (k == 4 && !clean && next_u32() % 4 == 0) {
				/* a number just past the 256-byte cell limit, or just within it */
				size_t digits = 250 + next_u32() % 12;

				body[n] = '1';
				body[n + 1] = '.';
				memset(body + n + 2, '0', digits - 2);
				n += digits;
			} else if (k == 3 && !clean)
				n += (size_t)snprintf(body + n, cap - n, "%s", (const char *[]){"x", "1\"", "", "\"1\"x",
												 "1e", "1234567890123456789012345678901234567890123"}[next_u32() % 6]);
			else
				n += (size_t)snprintf(body + n, cap - n, "%u", next_u32() % 256);
		}
		n += (size_t)snprintf(body + n, cap - n, "%s", (const char *[]){"\n", "\r\n", "\r", "\n\n"}[next_u32() % 4]);
	}
	if (!clean && next_u32() % 4 == 0) {
		memset(body + n, '9', 300); /* a cell past the 256-byte limit */
		n += 300;
	}
	*len = n;
}

START_TEST(test_feed_any_chunking)
{
	static char body[32768];
	int failed = 0;

	for (int round = 0; round < 400; round++) {
		size_t len;
		char e1[512], e2[512], e3[512];
		char *whole, *bytes, *pieces;

		random_csv(body, sizeof body, &len, round % 2 == 0);
		whole = read_chunked(body, len, len, e1, sizeof e1);
		bytes = read_chunked(body, len, 0, e2, sizeof e2);
		pieces = read_chunked(body, len, 1 + next_u32() % 40, e3, sizeof e3);
		ck_assert_msg(strcmp(e1, e2) == 0 && strcmp(e1, e3) == 0, "errors differ: [%s] [%s] [%s] on\n%.*s", e1, e2,
			      e3, (int)len, body);
		ck_assert_str_eq(whole, bytes);
		ck_assert_str_eq(whole, pieces);
		failed += e1[0] != '0';
		if (round % 2 == 0)
			ck_assert_msg(e1[0] == '0', "clean body refused: %s\n%.*s", e1, (int)len, body);
		free(whole);
		free(bytes);
		free(pieces);
	}
	/* the dirty half did hit errors */
	ck_assert_int_gt(failed, 50);
}
END_TEST

Suite *suite_api_csv_scan(void);
Suite *suite_api_csv_scan(void)
{
	Suite *s = suite_create("api_csv_scan");
	TCase *tc = tcase_create("scan");

	tcase_add_test(tc, test_scan_matches_reference);
	tcase_add_test(tc, test_scan_each_position);
	tcase_add_test(tc, test_feed_any_chunking);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
