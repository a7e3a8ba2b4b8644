"""mutants.py — the curated breaks of `make test-mutants` (run by run.py).

Each mutant names a source file by its basename (found under server/, api/
and core/ with find, so moving a file into a sub-folder needs no change
here), an exact snippet that must occur exactly once in that file, what
replaces it (and optionally more (snippet, replacement) pairs in the same
file under "also"), and the tests that must fail once it is in. A snippet that is
no longer found (or found twice) fails the run loudly: update the row with
the code it targets.

Tests are one of:
  ("it", PATTERN...)   python3 tests/integration/run.py -k PATTERN ...
  ("unit", SUITE)      build/unit with CK_RUN_SUITE=SUITE
"""

MUTANTS = [
    # ---- the four the issue found no test for ----------------------------------------------
    dict(name="start-up sweep of half-finished uploads removed",
         file="db.c",
         find='"DELETE FROM datasets WHERE state = \'uploading\'"',
         replace='"DELETE FROM datasets WHERE 0"',
         tests=[("it", "test_sigkill_mid_csv_upload_then_restart_leaves_nothing")]),
    dict(name="model_busy always 0",
         file="db_model.c",
         find="\tsqlite3_reset(st);\n\tif (rc == SQLITE_ROW)\n\t\treturn 1;\n\treturn rc == SQLITE_DONE ? 0 : db_fail(db, rc, err);",
         replace="\tsqlite3_reset(st);\n\t(void)db_fail;\n\treturn 0;",
         tests=[("it", "test_delete_and_put_weights_refused_while_a_job_holds_the_model")]),
    dict(name="/readyz always 200",
         file="route_ops.c",
         find="\tstruct db *db = db_thread();\n\n\tif (!db || !db_ping(db))",
         replace="\tstruct db *db = db_thread();\n\n\tif (0 && (!db || !db_ping(db)))",
         tests=[("it", "TestReadyz")],
         also=[("\telse if (!db_writable())", "\telse if (0)")]),
    dict(name="db_upload_abort a no-op",
         file="db_dataset.c",
         find="\tif (!db || id <= 0)\n\t\treturn;\n\tst = db_stmt(db, sql, &err);",
         replace="\tif (db || id <= 0)\n\t\treturn;\n\tst = db_stmt(db, sql, &err);",
         tests=[("it", "test_bad_cell_after_the_first_committed_block")]),
    # ---- the error paths added with them ---------------------------------------------------
    dict(name="a refused CSV upload answers before deleting its rows",
         file="route_dataset.c",
         find="\tif (api_csv_feed(u->csv, data, len, &u->err)) {\n\t\tabort_upload(u);",
         replace="\tif (api_csv_feed(u->csv, data, len, &u->err)) {",
         tests=[("it", "test_bad_cell_after_the_first_committed_block")]),
    dict(name="a failed write does not mark the database unwritable",
         file="db.c",
         find="\t\tatomic_store(&write_failing, true);",
         replace="\t\tatomic_store(&write_failing, false);",
         tests=[("it", "test_503_while_the_database_cannot_be_written")]),
    dict(name="dropped fsync: PRAGMA synchronous=NORMAL (WAL commits not flushed)",
         file="db.c",
         find='"PRAGMA synchronous=FULL;"',
         replace='"PRAGMA synchronous=NORMAL;"',
         tests=[("it", "test_an_acknowledged_write_was_flushed")]),
    dict(name="skipped rollback",
         file="db.c",
         find='\tif (!sqlite3_get_autocommit(db->h))\n\t\tsqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);',
         replace="\t(void)0;",
         tests=[("it", "test_delete_and_put_weights_refused_while_a_job_holds_the_model")]),
    dict(name="off by one in a limit: a 128-byte name refused",
         file="api_json.c",
         find="return n >= 1 && n <= API_NAME_MAX && api_utf8_valid(s, n);",
         replace="return n >= 1 && n < API_NAME_MAX && api_utf8_valid(s, n);",
         tests=[("unit", "api_model")]),
    dict(name="off by one in a limit: 2^24 parameters refused",
         file="nn_model.c",
         find="if (total > NN_MAX_PARAMS)",
         replace="if (total >= NN_MAX_PARAMS)",
         tests=[("unit", "api_model")]),
    dict(name="reversed comparison: the float midpoint test looks on the wrong side",
         file="api_float.c",
         find="\tif ((double)f > a) {",
         replace="\tif ((double)f < a) {",
         tests=[("unit", "api_float")]),
    dict(name="floats rounded twice again in the CSV reader",
         file="api_float.c",
         find="\tv = strtof(text, &end);",
         replace="\tv = (float)strtod(text, &end);",
         tests=[("unit", "api_float")]),
    dict(name="JSON numbers on a float midpoint not corrected",
         file="api_json.c",
         find="\tapi_float_fix_json(root, body, len);",
         replace="\t(void)api_float_fix_json;",
         tests=[("unit", "api_float")]),
    dict(name="elu forward uses exp instead of expm1 (checked on predictions)",
         file="nn_act.c",
         find="a[i] = z[i] > 0.0f ? z[i] : (float)(alpha * expm1(z[i]));",
         replace="a[i] = z[i] > 0.0f ? z[i] : (float)(alpha * exp(z[i]));",
         tests=[("it", "test_activations_and_layer_options")]),
    dict(name="Adam's second-moment bias correction one step ahead",
         file="nn_opt.c",
         find="sqrt(1.0 - pow(o->beta_2, step))",
         replace="sqrt(1.0 - pow(o->beta_2, step + 1.0))",
         tests=[("it", "test_tutorial_model_trains_like_keras_in_torch_float64")]),
]
