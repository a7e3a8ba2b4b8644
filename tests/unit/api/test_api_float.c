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
#include "api/api_pow5.h"
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

/* ---- the fast paths (api_float_fast.c) -------------------------------------------- */

/* Multiword unsigned integers, 32-bit limbs, least significant first: just
 * enough to check the power-of-five table without trusting its generator. */
#define BN_LIMBS 16
struct bn {
	uint32_t l[BN_LIMBS];
};

static void bn_set_u64(struct bn *a, uint64_t v)
{
	memset(a, 0, sizeof *a);
	a->l[0] = (uint32_t)v;
	a->l[1] = (uint32_t)(v >> 32);
}

static void bn_mul_small(struct bn *a, uint32_t m)
{
	uint64_t carry = 0;

	for (int i = 0; i < BN_LIMBS; i++) {
		uint64_t t = (uint64_t)a->l[i] * m + carry;

		a->l[i] = (uint32_t)t;
		carry = t >> 32;
	}
	ck_assert_uint_eq(carry, 0);
}

static void bn_mul(struct bn *out, const struct bn *a, const struct bn *b)
{
	uint64_t acc[2 * BN_LIMBS] = {0};

	for (int i = 0; i < BN_LIMBS; i++) {
		uint64_t carry = 0;

		for (int j = 0; i + j < 2 * BN_LIMBS && j < BN_LIMBS; j++) {
			uint64_t t = (uint64_t)a->l[i] * b->l[j] + acc[i + j] + carry;

			acc[i + j] = (uint32_t)t;
			carry = t >> 32;
		}
		ck_assert_uint_eq(carry, 0);
	}
	for (int i = BN_LIMBS; i < 2 * BN_LIMBS; i++)
		ck_assert_uint_eq(acc[i], 0);
	for (int i = 0; i < BN_LIMBS; i++)
		out->l[i] = (uint32_t)acc[i];
}

static int bn_cmp(const struct bn *a, const struct bn *b)
{
	for (int i = BN_LIMBS - 1; i >= 0; i--)
		if (a->l[i] != b->l[i])
			return a->l[i] < b->l[i] ? -1 : 1;
	return 0;
}

static int bn_bitlen(const struct bn *a)
{
	for (int i = BN_LIMBS - 1; i >= 0; i--)
		if (a->l[i])
			return 32 * i + 32 - __builtin_clz(a->l[i]);
	return 0;
}

static void bn_pow2(struct bn *a, int k)
{
	ck_assert_int_lt(k, 32 * BN_LIMBS);
	memset(a, 0, sizeof *a);
	a->l[k / 32] = 1u << (k % 32);
}

static void bn_shl(struct bn *a, int k)
{
	struct bn p;

	bn_pow2(&p, k);
	bn_mul(a, a, &p);
}

/* Every entry: 2^127 <= T < 2^128, e = floor(log2(5^q)), T = floor(5^q * 2^(127 - e)). */
START_TEST(test_pow5_table)
{
	ck_assert_int_eq(API_POW5_MIN, -65);
	ck_assert_int_eq(API_POW5_MAX, 38);
	for (int q = API_POW5_MIN; q <= API_POW5_MAX; q++) {
		const struct api_pow5 *t = &api_pow5[q - API_POW5_MIN];
		struct bn T, T1, p5, lhs, rhs, two;
		int r = q < 0 ? -q : q;

		bn_set_u64(&T, t->lo);
		memcpy(&T.l[2], (uint32_t[2]){(uint32_t)t->hi, (uint32_t)(t->hi >> 32)}, 8);
		ck_assert_msg(bn_bitlen(&T) == 128, "5^%d: T has %d bits", q, bn_bitlen(&T));
		bn_set_u64(&p5, 1);
		for (int i = 0; i < r; i++)
			bn_mul_small(&p5, 5);
		if (q >= 0) {
			/* exact: T = 5^q << (127 - e), e = bitlen(5^q) - 1 */
			ck_assert_int_eq(t->e, bn_bitlen(&p5) - 1);
			bn_shl(&p5, 127 - t->e);
			ck_assert_msg(bn_cmp(&T, &p5) == 0, "5^%d", q);
		} else {
			/* 5^-r lies in [2^-bitlen, 2^(1-bitlen)) (5^r is no power of two);
			 * T * 5^r <= 2^(127 - e) < (T + 1) * 5^r */
			ck_assert_int_eq(t->e, -bn_bitlen(&p5));
			bn_mul(&lhs, &T, &p5);
			T1 = T;
			{
				struct bn one;

				bn_set_u64(&one, 1);
				/* T + 1 without a carry past 128 bits (T < 2^128 - 1 here) */
				for (int i = 0; i < BN_LIMBS; i++) {
					uint64_t s = (uint64_t)T1.l[i] + one.l[i];

					T1.l[i] = (uint32_t)s;
					if (i + 1 < BN_LIMBS)
						one.l[i + 1] += (uint32_t)(s >> 32);
				}
			}
			bn_mul(&rhs, &T1, &p5);
			bn_pow2(&two, 127 - t->e);
			ck_assert_msg(bn_cmp(&lhs, &two) <= 0, "5^%d: T too large", q);
			ck_assert_msg(bn_cmp(&two, &rhs) < 0, "5^%d: T too small", q);
		}
	}
}
END_TEST

/* Random decimals of every shape the fast paths branch on. */
static int random_decimal(char *buf, size_t size, int kind)
{
	int len = 0;
	uint32_t u;
	float f, g;

	switch (kind) {
	case 0: /* MNIST-like cells */
		return snprintf(buf, size, "%u", next_u32() % 256);
	case 1: /* 9 significant digits in [0, 1) */
		return snprintf(buf, size, "0.%09u", next_u32() % 1000000000);
	case 2: /* a random float printed with 1..25 digits */
		do {
			u = next_u32() ^ (next_u32() << 16);
			memcpy(&f, &u, sizeof f);
		} while (!isfinite(f));
		return snprintf(buf, size, "%.*e", (int)(next_u32() % 25), (double)f);
	case 3: { /* 1..45 random digits, a point anywhere, a random exponent */
		int nd = 1 + (int)(next_u32() % 45), point = (int)(next_u32() % (unsigned)(nd + 1));

		if (next_u32() % 2)
			buf[len++] = '-';
		for (int k = 0; k < nd; k++) {
			if (k == point)
				buf[len++] = '.';
			buf[len++] = (char)('0' + next_u32() % 10);
		}
		return len + snprintf(buf + len, size - (size_t)len, "e%d", (int)(next_u32() % 120) - 75);
	}
	case 4: /* 19, 20, 21 significant digits: the significand's cut */
		return snprintf(buf, size, "%u%09u%09u%.*u.5e%d", 1 + next_u32() % 9, next_u32() % 1000000000,
				next_u32() % 1000000000, (int)(next_u32() % 3), next_u32() % 100,
				(int)(next_u32() % 90) - 70);
	case 5: /* a midpoint between adjacent floats, 8..45 digits, cut or exact */
		do {
			u = next_u32() & 0x7fffffff;
			memcpy(&f, &u, sizeof f);
			g = nextafterf(f, INFINITY);
		} while (!isfinite(g));
		return snprintf(buf, size, "%.*e", (int)(8 + next_u32() % 38), ((double)f + (double)g) / 2);
	case 6: /* many leading zeros, long exponents */
		len = snprintf(buf, size, "%s0.", next_u32() % 2 ? "+" : "");
		for (int k = (int)(next_u32() % 60); k > 0; k--)
			buf[len++] = '0';
		return len + snprintf(buf + len, size - (size_t)len, "%ue%s%012u", next_u32() % 100000,
				      (const char *[]){"", "+", "-"}[next_u32() % 3], next_u32() % 60);
	case 7: /* around the overflow edge and the bottom of the subnormals */
		if (next_u32() % 2)
			return snprintf(buf, size, "3.40282%0*ue38", (int)(1 + next_u32() % 20),
					next_u32() % 1000000000);
		return snprintf(buf, size, "%u.%0*ue-%u", 1 + next_u32() % 9, (int)(1 + next_u32() % 20),
				next_u32() % 1000000000, 44 + next_u32() % 3);
	default: /* a float32 printed with %.9g: reads back to itself */
		do {
			u = next_u32() ^ (next_u32() << 16);
			memcpy(&f, &u, sizeof f);
		} while (!isfinite(f));
		return snprintf(buf, size, "%.9g", (double)f);
	}
}

/* api_float_parse and its fast paths against strtof, bit for bit, on 360,000
 * random decimals; the fast paths decide nearly all of the ordinary ones. */
START_TEST(test_random_vs_strtof)
{
	enum { KINDS = 9, PER_KIND = 40000 };
	int decided[KINDS] = {0};

	for (int kind = 0; kind < KINDS; kind++) {
		for (int i = 0; i < PER_KIND; i++) {
			char buf[256];
			int len = random_decimal(buf, sizeof buf, kind);
			float want = strtof(buf, NULL), got;
			bool finite = isfinite(want);
			int fast;

			ck_assert_int_gt(len, 0);
			ck_assert_uint_eq(api_float_syntax(buf, (size_t)len), (size_t)len);
			if (api_float_parse(buf, (size_t)len, &got)) {
				ck_assert_msg(finite, "took %s, which overflows", buf);
				ck_assert_msg(bits(got) == bits(want), "%s gave %a, strtof %a", buf, (double)got,
					      (double)want);
			} else {
				ck_assert_msg(!finite, "refused %s, strtof %a", buf, (double)want);
			}
			fast = api_float_fast(buf, (size_t)len, &got);
			if (fast == 1)
				ck_assert_msg(finite && bits(got) == bits(want), "fast: %s gave %a, strtof %a", buf,
					      (double)got, (double)want);
			else if (fast == 0)
				ck_assert_msg(!finite, "fast refused %s", buf);
			decided[kind] += fast >= 0;
		}
	}
	/* ordinary text never needs the exact path: integers, 9 digits, %.9g */
	ck_assert_int_eq(decided[0], PER_KIND);
	ck_assert_int_ge(decided[1], PER_KIND - 10);
	ck_assert_int_ge(decided[8], PER_KIND - 10);
	/* midpoints printed exactly must go to the exact path (cut ones need not) */
	ck_assert_int_lt(decided[5], PER_KIND);
}
END_TEST

/* The fast paths' own answers, hand-checked: Clinger's products and
 * quotients, the cut significand, the range ends. */
START_TEST(test_fast_known)
{
	static const struct {
		const char *text;
		int rc;
		uint32_t want;
	} cases[] = {
		{"0", 1, 0x00000000},
		{"-0.000e-999999999999", 1, 0x80000000},
		{"255", 1, 0x437f0000},
		{"16777216", 1, 0x4b800000},
		{"0.1", 1, 0x3dcccccd},
		{"1e10", 1, 0x501502f9},
		{"1e-10", 1, 0x2edbe6ff},
		{"123456789", 1, 0x4ceb79a3}, /* past 2^24: Eisel–Lemire */
		{"1.000000059604644775390625", -1, 0}, /* a midpoint: exact path */
		{"1.00000005960464477539062501", -1, 0},
		{"1e39", 0, 0},
		{"99999999999999999999e19", 0, 0},
		{"1e-66", 1, 0x00000000},
		{"1e-45", 1, 0x00000001},
		{"1.5e", 0, 0},
		{"", 0, 0},
		{"1..", 0, 0},
		{"3.4028234663852886e38", 1, 0x7f7fffff},
		{"3.4028235677973366e38", 1, 0x7f7fffff},
		{"3.4028235677973367e38", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		float got = 0;
		int rc = api_float_fast(cases[i].text, strlen(cases[i].text), &got);

		ck_assert_msg(rc == cases[i].rc, "%s: %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 1)
			ck_assert_msg(bits(got) == cases[i].want, "%s: %08x, want %08x", cases[i].text, bits(got),
				      cases[i].want);
	}
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
	tcase_add_test(tc, test_pow5_table);
	tcase_add_test(tc, test_random_vs_strtof);
	tcase_add_test(tc, test_fast_known);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
