/*
 * test_cfg.c — server/cfg.c: the option table's defaults, FITD_* variables,
 * flags (both `--flag value` and `--flag=value`) and that a flag wins over its
 * variable, every kind of bad value, and the usage text made from the rows.
 * Each test starts with no FITD_* variable set.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cfg.h"

Suite *suite_cfg(void);

extern char **environ;

static void clear_env(void)
{
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "FITD_", 5) == 0) {
				char name[128];
				size_t n = strcspn(*e, "=");

				snprintf(name, sizeof name, "%.*s", (int)n, *e);
				unsetenv(name);
				again = 1;
				break;
			}
		}
	}
}

/* cfg_load over a NULL-terminated argument list (argv[0] is "fitd"). */
static int load(struct cfg *cfg, char *msg, size_t size, const char *const *args)
{
	char *argv[16] = {"fitd"};
	int argc = 1;

	for (; args && *args; args++)
		argv[argc++] = (char *)*args;
	msg[0] = '\0';
	return cfg_load(cfg, argc, argv, msg, size);
}

START_TEST(test_defaults_come_from_the_table)
{
	struct cfg cfg;
	char msg[256];

	clear_env();
	ck_assert_int_eq(load(&cfg, msg, sizeof msg, NULL), 0);
	ck_assert_uint_eq(cfg.port, 8080);
	ck_assert_str_eq(cfg.bind, "127.0.0.1");
	ck_assert_str_eq(cfg.db, "./fitd.db");
	ck_assert_uint_eq(cfg.queue, 256);
	ck_assert_uint_eq(cfg.max_body_mb, 32);
	ck_assert_uint_eq(cfg.max_upload_mb, 4096);
	ck_assert_str_eq(cfg.api_key, "");
	ck_assert_str_eq(cfg.cors_origin, "");
	ck_assert_uint_eq(cfg.commit_interval_ms, 1000);
	ck_assert_uint_eq(cfg.max_connections, 2048);
	ck_assert_uint_eq(cfg.per_ip_connections, 0);
	ck_assert_uint_eq(cfg.timeout_s, 60);
	ck_assert_uint_eq(cfg.max_rows, 10000000);
	ck_assert_uint_eq(cfg.max_instances, 10000);
	ck_assert_int_eq(cfg.log_format, CFG_LOG_TEXT);
	ck_assert_str_eq(cfg.vendor_dir, "/usr/share/javascript");
	/* computed: the CPUs, twice as many HTTP threads (at least 4), a share folder */
	ck_assert_uint_ge(cfg.workers, 1);
	ck_assert_uint_eq(cfg.http_threads, cfg.workers * 2 < 4 ? 4 : cfg.workers * 2);
	ck_assert_uint_gt(strlen(cfg.share_dir), 0);
}
END_TEST

START_TEST(test_environment_then_flags)
{
	struct cfg cfg;
	char msg[256];

	clear_env();
	setenv("FITD_PORT", "9000", 1);
	setenv("FITD_QUEUE", "10", 1);
	setenv("FITD_LOG_FORMAT", "json", 1);
	setenv("FITD_API_KEY", "from-env", 1);
	setenv("FITD_MAX_ROWS", "", 1); /* empty: the default stands */
	{
		const char *args[] = {"--queue", "20", "--api-key=from-flag", "--max-rows=123", NULL};

		ck_assert_msg(load(&cfg, msg, sizeof msg, args) == 0, "%s", msg);
	}
	ck_assert_uint_eq(cfg.port, 9000);           /* variable */
	ck_assert_uint_eq(cfg.queue, 20);            /* the flag wins */
	ck_assert_int_eq(cfg.log_format, CFG_LOG_JSON);
	ck_assert_str_eq(cfg.api_key, "from-flag"); /* --flag=value */
	ck_assert_uint_eq(cfg.max_rows, 123);
	clear_env();
}
END_TEST

/* One bad input: cfg_load fails and its message names what and where. */
static void refused(const char *env, const char *env_value, const char *const *args, const char *expect)
{
	struct cfg cfg;
	char msg[256];

	clear_env();
	if (env)
		setenv(env, env_value, 1);
	ck_assert_int_eq(load(&cfg, msg, sizeof msg, args), -1);
	ck_assert_msg(strstr(msg, expect) != NULL, "message \"%s\" lacks \"%s\"", msg, expect);
	clear_env();
}

START_TEST(test_bad_values_refused)
{
	const char *unknown[] = {"--prot", "1", NULL};
	const char *missing[] = {"--port", NULL};
	const char *range[] = {"--port", "70000", NULL};
	const char *negative[] = {"--workers=-1", NULL};
	const char *text[] = {"--queue", "many", NULL};
	const char *zero[] = {"--timeout=0", NULL};
	const char *trailing[] = {"--max-body-mb", "5x", NULL};
	const char *log[] = {"--log-format", "xml", NULL};
	char long_value[300];
	const char *too_long[] = {"--bind", long_value, NULL};

	refused(NULL, NULL, unknown, "unknown option --prot");
	refused(NULL, NULL, missing, "--port needs a value");
	refused(NULL, NULL, range, "--port: expected an integer in 0..65535");
	refused(NULL, NULL, negative, "--workers: expected an integer in 1..256");
	refused(NULL, NULL, text, "got \"many\"");
	refused(NULL, NULL, zero, "--timeout");
	refused(NULL, NULL, trailing, "--max-body-mb");
	refused(NULL, NULL, log, "expected text or json");
	memset(long_value, 'a', sizeof long_value - 1);
	long_value[sizeof long_value - 1] = '\0';
	refused(NULL, NULL, too_long, "--bind: value too long");
	/* a bad variable is named by its variable */
	refused("FITD_MAX_CONNECTIONS", "8", NULL, "FITD_MAX_CONNECTIONS: expected an integer in 16..");
	refused("FITD_LOG_FORMAT", "yaml", NULL, "FITD_LOG_FORMAT");
}
END_TEST

START_TEST(test_usage_lists_every_row_with_its_default)
{
	const char *usage = cfg_usage();
	static const char *const rows[][3] = {
		{"--port", "FITD_PORT", "[default: 8080]"},
		{"--workers", "FITD_WORKERS", "[default: number of cores]"},
		{"--api-key", "FITD_API_KEY", "[default: unset]"},
		{"--per-ip-connections", "FITD_PER_IP_CONNECTIONS", "[default: 0 (unlimited)]"},
		{"--max-rows", "FITD_MAX_ROWS", "[default: 10000000]"},
		{"--vendor-dir", "FITD_VENDOR_DIR", "[default: /usr/share/javascript]"},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *line = strstr(usage, rows[i][0]);

		ck_assert_msg(line != NULL, "%s missing from the usage", rows[i][0]);
		ck_assert_msg(strstr(line, rows[i][1]) != NULL && strstr(line, rows[i][2]) != NULL &&
				      strstr(line, rows[i][2]) < strchr(line, '\n'),
			      "%s: its line lacks %s or %s", rows[i][0], rows[i][1], rows[i][2]);
	}
	ck_assert_int_eq((int)(strstr(usage, "fitd backup PATH") != NULL), 1);
}
END_TEST

START_TEST(test_help_and_version_stop)
{
	struct cfg cfg;
	char msg[256];
	const char *help[] = {"--help", NULL};
	const char *version[] = {"--queue", "5", "--version", NULL};

	clear_env();
	ck_assert_int_eq(load(&cfg, msg, sizeof msg, help), 1);
	ck_assert_int_eq(load(&cfg, msg, sizeof msg, version), 1);
}
END_TEST

Suite *suite_cfg(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc = tcase_create("cfg");

	tcase_add_test(tc, test_defaults_come_from_the_table);
	tcase_add_test(tc, test_environment_then_flags);
	tcase_add_test(tc, test_bad_values_refused);
	tcase_add_test(tc, test_usage_lists_every_row_with_its_default);
	tcase_add_test(tc, test_help_and_version_stop);
	suite_add_tcase(s, tc);
	return s;
}
