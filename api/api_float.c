/*
 * api_float.c — decimal text to float32 in one correctly rounded step, for
 * the CSV reader and the JSON reader alike.
 *
 * DESIGN. Rounding a decimal to double and then the double to float rounds
 * twice: 1.00000005960464477539062501 is nearer 1.00000012f than 1.0f, but
 * its nearest double is exactly the midpoint 1 + 2^-24, which then rounds to
 * even, 1.0f. glibc's strtof rounds the decimal to float directly (correctly,
 * in the current rounding mode), so both readers go through it:
 *
 *  - the CSV reader has the cell's text and calls api_float_parse;
 *  - cJSON parses every number to a double itself and keeps no text. Double
 *    rounding can only go wrong when that double lies exactly on a float
 *    midpoint (rounding is monotonic and every float midpoint is a double),
 *    so api_json_parse looks for such numbers after parsing, finds each one's
 *    text (numbers appear in the body in the tree's order), rounds that text
 *    with api_float_parse and moves the double one double-ulp toward the
 *    correct float, which (float) then gives. Bodies without a midpoint (all
 *    but adversarial ones) pay one walk over the tree.
 *
 * api_float_parse first tries the fast paths of api_float_fast.c (exact
 * float arithmetic for short decimals, Eisel–Lemire for the rest), which
 * give the same float and leave to strtof only the text too close to a
 * midpoint to decide with 128 bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

size_t api_float_syntax(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, exp_digits++;
		if (exp_digits == 0)
			return 0;
	}
	return i;
}

bool api_float_parse(const char *s, size_t len, float *out)
{
	char small[64], *text = small, *end;
	bool whole;
	float v;
	int fast = api_float_fast(s, len, out);

	if (fast >= 0)
		return fast == 1;
	if (len == 0 || api_float_syntax(s, len) != len)
		return false;
	/* strtof needs a terminated string; a cell or number is rarely long */
	if (len >= sizeof small) {
		text = malloc(len + 1);
		if (!text)
			return false;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	v = strtof(text, &end);
	whole = end == text + len;
	if (text != small)
		free(text);
	/* Underflow to zero or a subnormal is a value; overflow is not. */
	if (!whole || !isfinite(v))
		return false;
	*out = v;
	return true;
}

bool api_float_midpoint(double v)
{
	double a = fabs(v), lo, hi;
	float f;

	if (!(a < 0x1.ffffffp+127))
		return a == 0x1.ffffffp+127; /* halfway from FLT_MAX to 2^128 */
	f = (float)a;
	if ((double)f == a)
		return false;
	if ((double)f > a) {
		hi = f;
		lo = nextafterf(f, 0.0f);
	} else {
		lo = f;
		hi = nextafterf(f, INFINITY);
	}
	return a - lo == hi - a;
}

/* ---- JSON numbers on a float midpoint ---------------------------------------- */

static bool has_midpoint(const cJSON *item)
{
	for (; item; item = item->next) {
		if (cJSON_IsNumber(item) ? isfinite(item->valuedouble) && api_float_midpoint(item->valuedouble)
					 : has_midpoint(item->child))
			return true;
	}
	return false;
}

/* The next number token of the JSON text from *p, outside strings. */
static bool next_number(const char **p, const char *end, const char **tok, size_t *tok_len)
{
	const char *s = *p;

	while (s < end) {
		if (*s == '"') {
			for (s++; s < end && *s != '"'; s++)
				if (*s == '\\')
					s++;
			s++;
		} else if (*s == '-' || (*s >= '0' && *s <= '9')) {
			const char *start = s;

			while (s < end && ((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.' || *s == 'e' ||
					   *s == 'E'))
				s++;
			*tok = start;
			*tok_len = (size_t)(s - start);
			*p = s;
			return true;
		} else {
			s++;
		}
	}
	*p = s;
	return false;
}

/* Walks the tree in document order, which is the order of the numbers in
 * the text; false if the two disagree (then nothing more is changed). */
static bool fix_walk(cJSON *item, const char **p, const char *end)
{
	for (; item; item = item->next) {
		if (cJSON_IsNumber(item)) {
			const char *tok;
			size_t tok_len;
			double v = item->valuedouble;
			float f;

			if (!next_number(p, end, &tok, &tok_len))
				return false;
			if (!isfinite(v) || !api_float_midpoint(v))
				continue;
			/* The text's own float; an overflow keeps the midpoint, which
			 * api_fits_float refuses as the text deserves. */
			if (api_float_parse(tok, tok_len, &f) && (float)v != f)
				item->valuedouble = nextafter(v, (double)f);
		} else if (item->child && !fix_walk(item->child, p, end)) {
			return false;
		}
	}
	return true;
}

void api_float_fix_json(cJSON *root, const char *body, size_t len)
{
	const char *p = body;

	if (root && has_midpoint(root))
		fix_walk(root, &p, body + len);
}
