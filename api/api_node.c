/*
 * api_node.c — nodes (issue 15): their ids and the GET /v1/nodes list.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

bool api_node_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > API_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-:@", c)))
			return false;
	}
	return true;
}

void api_node_free(struct api_node_info *n)
{
	free(n->running);
	n->running = NULL;
	n->n_running = 0;
}

static cJSON *node_json(const struct api_node_info *n, int64_t now_ms, unsigned lease_ttl_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *jobs;

	cJSON_AddStringToObject(o, "id", n->id);
	cJSON_AddBoolToObject(o, "alive", !n->stopped && now_ms - n->heartbeat_ms < (int64_t)lease_ttl_ms);
	cJSON_AddBoolToObject(o, "stopped", n->stopped);
	api_add_number(o, "workers", n->workers);
	jobs = cJSON_AddArrayToObject(o, "running_jobs");
	for (size_t i = 0; i < n->n_running; i++)
		api_json_append(jobs, cJSON_CreateNumber((double)n->running[i]));
	cJSON_AddStringToObject(o, "started_at", n->started_at);
	cJSON_AddStringToObject(o, "heartbeat_at", n->heartbeat_at);
	return o;
}

char *api_node_list_encode(const struct api_node_info *items, size_t n, int64_t now_ms, unsigned lease_ttl_ms)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, node_json(&items[i], now_ms, lease_ttl_ms));
	api_add_number(o, "total", (double)n);
	return api_json_print_free(o, failures);
}
