/*
 * test_api_float.c — decimal to float32 in one correctly rounded step
 * (api/api_float.c), through both readers: the CSV reader and the JSON
 * reader (api_json_parse + api_read_float), bit for bit against glibc's
 * strtof, on a table of adversarial decimals — just above and below float
 * midpoints, 9 to 110 significant digits, subnormals, the overflow edge —
 * and a few values whose bits are written out by hand.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "tests/unit/api/test_api_util.h"

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static float from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- the two readers ---------------------------------------------------------- */

struct one_cell {
	float value;
	int rows;
};

static int on_row(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	struct one_cell *c = ctx;

	(void)label;
	(void)err;
	ck_assert_uint_eq(n_features, 1);
	c->value = features[0];
	c->rows++;
	return 0;
}

/* The CSV reader on "text,0\n": 0 and the value, or -1. */
static int via_csv(const char *text, float *out)
{
	struct api_csv_opts opts = {.header = API_CSV_HEADER_NO, .label_index = -1, .max_rows = 10, .max_cells = 100};
	struct one_cell cell = {0};
	struct api_csv *csv = api_csv_create(&opts, on_row, &cell);
	struct api_err err = {0};
	char *body;
	int rc;

	ck_assert_ptr_nonnull(csv);
	ck_assert_int_ne(asprintf(&body, "%s,0\n", text), -1);
	rc = api_csv_feed(csv, body, strlen(body), &err);
	if (rc == 0)
		rc = api_csv_finish(csv, &err);
	if (rc == 0) {
		ck_assert_int_eq(cell.rows, 1);
		*out = cell.value;
	} else {
		ck_assert_int_eq(err.code, API_INVALID_CSV);
	}
	api_csv_destroy(csv);
	free(body);
	return rc;
}

/* The JSON reader on "[text]": 0 and the value, or -1 (422). */
static int via_json(const char *text, float *out)
{
	struct api_err err = {0};
	char *body;
	cJSON *root;
	int rc;

	ck_assert_int_ne(asprintf(&body, "[%s]", text), -1);
	root = api_json_parse(body, strlen(body), &err);
	ck_assert_msg(root != NULL, "%s: %s", body, err.message);
	rc = api_read_float(root->child, "x", out, &err);
	if (rc)
		ck_assert_int_eq(err.code, API_VALIDATION_FAILED);
	cJSON_Delete(root);
	free(body);
	return rc;
}

/* Both readers agree with strtof, bit for bit; an overflow is refused by both. */
static void check_decimal(const char *text)
{
	float want = strtof(text, NULL), got;
	bool finite = isfinite(want);

	if (via_csv(text, &got) == 0) {
		ck_assert_msg(finite, "CSV took %s, which overflows float32", text);
		ck_assert_msg(bits(got) == bits(want), "CSV: %s gave %a, strtof %a", text, (double)got, (double)want);
	} else {
		ck_assert_msg(!finite, "CSV refused %s", text);
	}
	if (via_json(text, &got) == 0) {
		ck_assert_msg(finite, "JSON took %s, which overflows float32", text);
		ck_assert_msg(bits(got) == bits(want), "JSON: %s gave %a, strtof %a", text, (double)got, (double)want);
	} else {
		ck_assert_msg(!finite, "JSON refused %s", text);
	}
}

/* ---- hand-checked values -------------------------------------------------------- */

static const struct {
	const char *text;
	uint32_t want;   /* the float's bits; 0xFFFFFFFF: refused (overflows) */
} known[] = {
	/* above the midpoint 1 + 2^-24 by 1e-26: the next float, not 1.0 */
	{"1.00000005960464477539062501", 0x3f800001},
	/* the midpoint itself: ties to even, 1.0 */
	{"1.000000059604644775390625", 0x3f800000},
	/* below it */
	{"1.00000005960464477539062499", 0x3f800000},
	/* midpoint 1 + 3 * 2^-24 between odd 1+2^-23 and even 1+2^-22: up to even */
	{"1.000000178813934326171875", 0x3f800002},
	{"1.000000178813934326171874999999", 0x3f800001},
	{"-1.00000005960464477539062501", 0xbf800001},
	{"-0", 0x80000000},
	{"0.1", 0x3dcccccd},
	{"16777217", 0x4b800000},            /* 2^24 + 1, a midpoint: to even 2^24 */
	{"16777217.000000001", 0x4b800001},
	{"16777219", 0x4b800002},            /* 2^24 + 3: to even 2^24 + 4 */
	/* subnormals: 2^-149 is the smallest; 2^-150 is halfway to zero */
	{"1.4012984643248170709237295832899161312802619418765e-45", 0x00000001},
	{"7.0064923216240853546186479164495806564013097093825788587853414194489554134293e-46", 0x00000000},
	{"7.00649232162408535461864791644958065640130970938257885878534141944895541342931e-46", 0x00000001},
	{"7.0064923216240853546186479164495806564013097093825788587853414194489554134292e-46", 0x00000000},
	{"1e-50", 0x00000000},
	{"1.1754942106924410754870294448492873488270524287458933338571745305715888704756e-38", 0x007fffff},
	{"1.17549435082228750796873653722224568e-38", 0x00800000}, /* FLT_MIN */
	/* the overflow edge: FLT_MAX + half an ulp = 2^128 - 2^103 rounds to 2^128 */
	{"3.40282347e+38", 0x7f7fffff},
	{"340282356779733661637539395458142568447.99999", 0x7f7fffff},
	{"340282356779733661637539395458142568448", 0xFFFFFFFF},
	{"340282356779733661637539395458142568448.00001", 0xFFFFFFFF},
	{"3.4028236e38", 0xFFFFFFFF},
	{"1e39", 0xFFFFFFFF},
};

START_TEST(test_known_values)
{
	float got;
	const char *t = known[_i].text;

	if (known[_i].want == 0xFFFFFFFF) {
		ck_assert_msg(via_csv(t, &got) == -1, "CSV took %s", t);
		ck_assert_msg(via_json(t, &got) == -1, "JSON took %s", t);
	} else {
		ck_assert_int_eq(via_csv(t, &got), 0);
		ck_assert_msg(bits(got) == known[_i].want, "CSV: %s gave %08x, want %08x", t, bits(got), known[_i].want);
		ck_assert_int_eq(via_json(t, &got), 0);
		ck_assert_msg(bits(got) == known[_i].want, "JSON: %s gave %08x, want %08x", t, bits(got), known[_i].want);
	}
	check_decimal(t);
}
END_TEST

/* ---- generated: around the midpoints of random floats ------------------------------- */

/* The exact decimal expansion of a double, as "d.ddd...e±N" without the
 * trailing zeros of its digits (glibc prints doubles exactly). */
static void exact_decimal(double v, char *out, size_t size)
{
	char buf[400], *e, *end;

	snprintf(buf, sizeof buf, "%.200e", v);
	e = strchr(buf, 'e');
	end = e;
	while (end[-1] == '0')
		end--;
	if (end[-1] == '.')
		end--;
	snprintf(out, size, "%.*s%s", (int)(end - buf), buf, e);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t next_u32(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Variants of a midpoint's exact text: itself, one digit appended (just
 * above), the last digit cut (just below), and cut to 9..40 significant
 * digits. Returns how many of them (float)strtod rounds wrongly, which is
 * what makes the table adversarial. */
static int check_around(double midpoint, int *checked)
{
	static const int cuts[] = {9, 10, 12, 15, 17, 20, 25, 30, 40};
	char exact[400], text[450], digits[400];
	const char *e;
	size_t n_digits;
	int wrong = 0;

	exact_decimal(midpoint, exact, sizeof exact);
	e = strchr(exact, 'e');
	/* the significant digits without the point */
	n_digits = 0;
	for (const char *p = exact + (exact[0] == '-'); p < e; p++)
		if (*p != '.')
			digits[n_digits++] = *p;
	digits[n_digits] = '\0';
	for (int variant = 0; variant < 3 + (int)(sizeof cuts / sizeof cuts[0]); variant++) {
		size_t keep;
		const char *extra = "";

		if (variant == 0)
			keep = n_digits;
		else if (variant == 1)
			keep = n_digits, extra = "1";
		else if (variant == 2)
			keep = n_digits - 1;
		else
			keep = (size_t)cuts[variant - 3];
		if (keep < 1 || keep > n_digits || (variant >= 3 && keep >= n_digits))
			continue;
		/* sign, first digit, point, the rest, the extra digit, the exponent */
		snprintf(text, sizeof text, "%s%c%s%.*s%s%s", midpoint < 0 ? "-" : "", digits[0], keep > 1 || *extra ? "." : "",
			 (int)(keep - 1), digits + 1, extra, e);
		check_decimal(text);
		(*checked)++;
		if (isfinite(strtof(text, NULL)) && bits((float)strtod(text, NULL)) != bits(strtof(text, NULL)))
			wrong++;
	}
	return wrong;
}

START_TEST(test_around_midpoints)
{
	int checked = 0, double_rounding_wrong = 0;

	for (int i = 0; i < 3000; i++) {
		uint32_t u = next_u32();
		float lo, hi;

		/* every exponent, subnormals included; a third of them near 1 */
		if (i % 3 == 0)
			u = 0x3f800000u + (u & 0x7fffff) % 4096;
		else if (i % 3 == 1)
			u = u & 0x007fffff; /* subnormal */
		u &= 0x7fffffff;
		if ((u & 0x7f800000) == 0x7f800000)
			continue;
		lo = from_bits(u);
		hi = nextafterf(lo, INFINITY);
		if (!isfinite(hi))
			continue; /* FLT_MAX: its edge is checked below */
		double_rounding_wrong += check_around(((double)lo + (double)hi) / 2 * (i % 2 ? 1 : -1), &checked);
	}
	/* the FLT_MAX edge */
	double_rounding_wrong += check_around(0x1.ffffffp+127, &checked);
	ck_assert_int_gt(checked, 20000);
	/* precondition: the table does hold decimals that rounding twice gets wrong */
	ck_assert_msg(double_rounding_wrong > 1000, "only %d double-rounding cases in %d", double_rounding_wrong, checked);
}
END_TEST

/* Every float printed with %.9g (what GET weights prints) and with 17 digits reads back to itself. */
START_TEST(test_round_trip_printed_floats)
{
	char text[64];

	for (int i = 0; i < 4000; i++) {
		uint32_t u = next_u32() & 0x7fffffff;
		float f, got;

		if ((u & 0x7f800000) == 0x7f800000)
			continue;
		f = from_bits(u);
		snprintf(text, sizeof text, i % 2 ? "%.9g" : "%.17g", (double)f);
		check_decimal(text);
		ck_assert_int_eq(via_csv(text, &got), 0);
		ck_assert_uint_eq(bits(got), bits(f));
	}
}
END_TEST

/* Text the strict grammar refuses, though strtof would read it. */
START_TEST(test_syntax_refused)
{
	static const char *const bad[] = {"", "+", "-", ".", "e5", "1e", "1e+", "0x1p3", "inf", "nan", "1.5f", " 1",
					  "1 ", "1..2", "1e5.5", "--1", "1,5"};
	float got;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!api_float_parse(bad[i], strlen(bad[i]), &got), "took \"%s\"", bad[i]);
	ck_assert(api_float_parse("+.5", 3, &got) && got == 0.5f);
	ck_assert(api_float_parse("5.", 2, &got) && got == 5.0f);
	/* not terminated: only len bytes are read */
	ck_assert(api_float_parse("1.25e1xyz", 6, &got) && got == 12.5f);
	/* a long number goes through the heap copy */
	{
		char longer[300];

		memset(longer, '0', sizeof longer);
		longer[0] = '1';
		longer[1] = '.';
		longer[299] = '1';
		ck_assert(api_float_parse(longer, sizeof longer, &got) && got == 1.0f);
	}
}
END_TEST

START_TEST(test_midpoint_predicate)
{
	ck_assert(api_float_midpoint(1.0 + 0x1p-24));
	ck_assert(!api_float_midpoint(1.0));
	ck_assert(!api_float_midpoint(1.0 + 0x1p-23));
	ck_assert(!api_float_midpoint(nextafter(1.0 + 0x1p-24, 2.0)));
	ck_assert(api_float_midpoint(0x1p-150));
	ck_assert(api_float_midpoint(-0x1.ffffffp+127));
	ck_assert(!api_float_midpoint((double)FLT_MAX));
	ck_assert(!api_float_midpoint(0.0));
}
END_TEST

Suite *suite_api_float(void);
Suite *suite_api_float(void)
{
	Suite *s = suite_create("api_float");
	TCase *tc = tcase_create("float");

	tcase_add_loop_test(tc, test_known_values, 0, (int)(sizeof known / sizeof known[0]));
	tcase_add_test(tc, test_around_midpoints);
	tcase_add_test(tc, test_round_trip_printed_floats);
	tcase_add_test(tc, test_syntax_refused);
	tcase_add_test(tc, test_midpoint_predicate);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
