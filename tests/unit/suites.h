/* suites.h — every Check suite of the unit-test runner, one line each:
 * SUITE(name) declares and runs `Suite *name(void)` defined in tests/unit/test_*.c. */
SUITE(suite_nn_rng)
SUITE(suite_nn_mat)
SUITE(suite_nn_act)
SUITE(suite_nn_loss)
SUITE(suite_nn_opt)
SUITE(suite_nn_init)
SUITE(suite_nn_model)
SUITE(suite_nn_train)
