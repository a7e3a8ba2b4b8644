/*
 * check_main.c — the unit-test runner: every suite listed in suites.h.
 * CK_RUN_SUITE / CK_RUN_CASE (Check's own variables) select a subset.
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name(void);
#include "suites.h"
#undef SUITE

int main(void)
{
	SRunner *runner = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(runner, name());
#include "suites.h"
#undef SUITE
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
