/*
 * fuzz_http_match.c — the route matcher (http_match) on request paths,
 * against the real route patterns, which fuzz.mk extracts from server/routes/route.c
 * into build/fuzz/routes.inc (one "pattern", per line) at build time.
 *
 * Input: a path (up to the first NUL). Or, when the input holds a newline,
 * "pattern\npath": an arbitrary pattern, for the matcher's own robustness.
 *
 * Properties, for every real pattern: no crash, leak or undefined behaviour;
 * the answer does not depend on whether params are wanted (unless the
 * pattern has more {..} than the array holds); a match yields one
 * non-empty, slash-free segment per {..} of the pattern, and substituting them
 * into the pattern gives back the path exactly; too small a params array makes
 * the match fail without leaking; no path matches two different patterns.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "tests/fuzz/fuzz_common.h"

#define MAX_PARAMS 4

static const char *const patterns[] = {
#include "routes.inc"
};
#define N_PATTERNS (sizeof patterns / sizeof patterns[0])

static int count_params(const char *pattern)
{
	int n = 0;

	for (const char *p = pattern; *p; p++)
		n += *p == '{';
	return n;
}

/* The pattern with its {..} replaced by params, in a new string. */
static char *substitute(const char *pattern, char **params)
{
	size_t cap = strlen(pattern) + 1, len = 0;
	char *out;
	int i = 0;

	for (int k = 0; k < MAX_PARAMS && params[k]; k++)
		cap += strlen(params[k]);
	out = malloc(cap);
	if (!out)
		abort();
	for (const char *p = pattern; *p;) {
		if (*p == '{') {
			size_t n = strlen(params[i]);

			memcpy(out + len, params[i++], n);
			len += n;
			p = strchr(p, '}') + 1;
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

static bool check(const char *pattern, const char *path, bool real)
{
	char *params[MAX_PARAMS + 1] = {0};
	int n = -1, want = count_params(pattern);
	bool with = http_match(pattern, path, params, MAX_PARAMS, &n);
	bool without = http_match(pattern, path, NULL, 0, NULL);

	/* A pattern with more {..} than the array holds fails only with params. */
	FUZZ_CHECK(with == without || (!with && want > MAX_PARAMS), "pattern %s path %s: %d with params, %d without",
		   pattern, path, with, without);
	/* A failed match frees what it copied (LeakSanitizer checks); the
	 * array's slots are then unspecified, as the header says. */
	if (!with)
		return false;
	FUZZ_CHECK(n >= 0 && n <= MAX_PARAMS, "n_params %d", n);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(params[i] && params[i][0] && !strchr(params[i], '/'), "pattern %s path %s: param %d \"%s\"",
			   pattern, path, i, params[i] ? params[i] : "(null)");
	if (real) {
		char *back;

		FUZZ_CHECK(n == want, "pattern %s path %s: %d params, the pattern has %d", pattern, path, n, want);
		back = substitute(pattern, params);
		FUZZ_CHECK(strcmp(back, path) == 0, "pattern %s path %s: substituting the params gives %s", pattern,
			   path, back);
		free(back);
		if (n > 0) {
			char *few[MAX_PARAMS] = {0};
			int m = -1;

			FUZZ_CHECK(!http_match(pattern, path, few, n - 1, &m),
				   "pattern %s path %s matched with room for %d params", pattern, path, n - 1);
		}
	}
	for (int i = 0; i < n; i++)
		free(params[i]);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), *nl = strchr(text, '\n');
	const char *first = NULL;

	if (nl) {
		*nl = '\0';
		check(text, nl + 1, false);
		free(text);
		return 0;
	}
	for (size_t i = 0; i < N_PATTERNS; i++) {
		if (!check(patterns[i], text, true))
			continue;
		FUZZ_CHECK(!first || strcmp(first, patterns[i]) == 0, "path %s matches both %s and %s", text, first,
			   patterns[i]);
		first = patterns[i];
	}
	free(text);
	return 0;
}
