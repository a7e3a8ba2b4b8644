/* suites.h — every Check suite of the unit-test runner, one line each:
 * SUITE(name) declares and runs `Suite *name(void)` defined in tests/unit/test_*.c. */
