/*
 * fuzz_float.c — decimal text to float32 (api/api_float.c), compared by
 * value with glibc's strtof, the correctly rounded reference.
 *
 * Input: the text of one number. Properties:
 *  - api_float_parse takes the text exactly when it is a strict decimal
 *    (api_float_syntax covers all of it) whose value does not overflow
 *    float32, and then gives strtof's float bit for bit;
 *  - its fast paths (api_float_fast), when they decide, decide the same;
 *  - the JSON reader, on a body that holds the number twice, after a string
 *    with digits, an escaped quote and a minus sign (so that the search for
 *    the number's text must skip strings and keep the tree's order), gives
 *    strtof's float bit for bit for both, or refuses both when strtof
 *    overflows.
 */
#include <math.h>

#include "tests/fuzz/fuzz_common.h"

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *body;
	float want, got;
	bool strict, finite;
	struct api_err err = {0};
	cJSON *root;
	int n;

	if (size > 4096)
		return 0;
	text = fuzz_strndup(data, size);
	strict = size > 0 && strlen(text) == size && api_float_syntax(text, size) == size;
	want = strict ? strtof(text, NULL) : 0.0f;
	finite = strict && isfinite(want);
	if (api_float_parse((const char *)data, size, &got)) {
		FUZZ_CHECK(finite, "took \"%s\" (strict %d)", fuzz_escaped(text), strict);
		FUZZ_CHECK(bits(got) == bits(want), "\"%s\": %a, strtof %a", fuzz_escaped(text), (double)got, (double)want);
	} else {
		FUZZ_CHECK(!finite, "refused \"%s\", strtof reads %a", fuzz_escaped(text), (double)want);
	}

	/* the fast paths alone: when they decide, strtof's answer */
	n = api_float_fast((const char *)data, size, &got);
	if (n == 1)
		FUZZ_CHECK(finite && bits(got) == bits(want), "fast: \"%s\" gave %a, strtof %a", fuzz_escaped(text),
			   (double)got, (double)want);
	else if (n == 0)
		FUZZ_CHECK(!finite, "fast refused \"%s\", strtof reads %a", fuzz_escaped(text), (double)want);

	n = asprintf(&body, "[\"-1.5e3 \\\" 2.5\", %s, {\"k\": %s}]", text, text);
	FUZZ_CHECK(n > 0, "asprintf");
	root = api_json_parse(body, (size_t)n, &err);
	if (root) {
		const cJSON *first = cJSON_GetArrayItem(root, 1), *obj = cJSON_GetArrayItem(root, 2);
		const cJSON *second = obj ? cJSON_GetObjectItemCaseSensitive(obj, "k") : NULL;

		/* a JSON number is a strict decimal: the reference applies */
		if (strict && cJSON_IsNumber(first) && cJSON_IsNumber(second) && cJSON_GetArraySize(root) == 3) {
			for (int i = 0; i < 2; i++) {
				int rc = api_read_float(i ? second : first, "x", &got, &err);

				if (finite) {
					FUZZ_CHECK(rc == 0, "JSON refused \"%s\": %s", fuzz_escaped(text), err.message);
					FUZZ_CHECK(bits(got) == bits(want), "JSON \"%s\" (#%d): %a, strtof %a", fuzz_escaped(text), i,
						   (double)got, (double)want);
				} else {
					FUZZ_CHECK(rc == -1, "JSON took \"%s\", which overflows", fuzz_escaped(text));
				}
			}
		}
		cJSON_Delete(root);
	}
	free(body);
	free(text);
	return 0;
}
