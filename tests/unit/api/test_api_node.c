/*
 * test_api_node.c — node ids and the GET /v1/nodes list (api/api_node.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

START_TEST(test_node_ids)
{
	char longest[API_NODE_ID_MAX + 2];

	ck_assert(api_node_id_valid("host-a:8080"));
	ck_assert(api_node_id_valid("fitd_1.example.com@eu:pid42"));
	ck_assert(!api_node_id_valid(""));
	ck_assert(!api_node_id_valid("a,b"));    /* jobs list their nodes comma-separated */
	ck_assert(!api_node_id_valid("a b"));
	ck_assert(!api_node_id_valid("caf\xc3\xa9"));
	ck_assert(!api_node_id_valid("a\nb"));
	memset(longest, 'n', sizeof longest);
	longest[API_NODE_ID_MAX] = '\0';
	ck_assert(api_node_id_valid(longest));
	longest[API_NODE_ID_MAX] = 'n';
	longest[API_NODE_ID_MAX + 1] = '\0';
	ck_assert(!api_node_id_valid(longest));
}
END_TEST

START_TEST(test_node_list)
{
	int64_t running[] = {7, 9};
	struct api_node_info items[3] = {
		{.id = "a", .workers = 4, .started_at = "2026-12-01T00:00:00Z", .heartbeat_at = "2026-12-01T00:00:10Z",
		 .heartbeat_ms = 10000, .running = running, .n_running = 2},
		/* its heartbeat is exactly a lease old: no longer alive */
		{.id = "b", .workers = 1, .started_at = "2026-12-01T00:00:00Z", .heartbeat_at = "2026-12-01T00:00:05Z",
		 .heartbeat_ms = 5000},
		{.id = "c", .workers = 2, .started_at = "2026-12-01T00:00:00Z", .heartbeat_at = "2026-12-01T00:00:11Z",
		 .heartbeat_ms = 11000, .stopped = true},
	};
	char *json = api_node_list_encode(items, 3, 15000, 10000);

	ck_assert_ptr_nonnull(json);
	ck_assert_str_eq(json,
			 "{\"items\":[{\"id\":\"a\",\"alive\":true,\"stopped\":false,\"workers\":4,\"running_jobs\":[7,9],"
			 "\"started_at\":\"2026-12-01T00:00:00Z\",\"heartbeat_at\":\"2026-12-01T00:00:10Z\"},"
			 "{\"id\":\"b\",\"alive\":false,\"stopped\":false,\"workers\":1,\"running_jobs\":[],"
			 "\"started_at\":\"2026-12-01T00:00:00Z\",\"heartbeat_at\":\"2026-12-01T00:00:05Z\"},"
			 "{\"id\":\"c\",\"alive\":false,\"stopped\":true,\"workers\":2,\"running_jobs\":[],"
			 "\"started_at\":\"2026-12-01T00:00:00Z\",\"heartbeat_at\":\"2026-12-01T00:00:11Z\"}],\"total\":3}");
	free(json);
}
END_TEST

Suite *suite_api_node(void);

Suite *suite_api_node(void)
{
	Suite *s = suite_create("api_node");
	TCase *tc = tcase_create("nodes");

	tcase_add_test(tc, test_node_ids);
	tcase_add_test(tc, test_node_list);
	suite_add_tcase(s, tc);
	return s;
}
