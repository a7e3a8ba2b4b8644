/*
 * check_main.c — the unit-test runner: every suite listed in suites.h.
 * CK_RUN_SUITE / CK_RUN_CASE (Check's own variables) select a subset;
 * FITD_UNIT_SKIP lists suites to leave out (comma-separated, e.g. "db": the
 * per-kernel-set runs skip the suites that compute nothing). Runs on the BLAS
 * kernels the server would choose (server/kernels.c).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/kernels.h"

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

/* Is suite `name` (without its suite_ prefix) in the comma list skip? */
static bool skipped(const char *skip, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = skip; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	(void)argc;
	/* the kernels fitd itself would run (may execute this runner again) */
	kernels_choose(argv);
	printf("BLAS kernels %s: %s\n", kernels_name(), kernels_reason());
	const char *skip = getenv("FITD_UNIT_SKIP");
	SRunner *runner = srunner_create(NULL);
#define SUITE(name)                                                                                \
	if (!skipped(skip, #name + strlen("suite_")))                                              \
		srunner_add_suite(runner, name());
#include "suites.h"
#undef SUITE
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
