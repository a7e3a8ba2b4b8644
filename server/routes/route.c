/*
 * route.c — the route table (one row per method and path, Redis's command
 * table in spirit) and the steps every handler shares.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server/hash.h"
#include "server/routes/route.h"

/* The last column names the query parameters a route takes (none when
 * absent): any other is a 422 naming it (http.h). */
const struct http_route route_table[] = {
	{"GET", "/healthz", route_healthz, NULL, HTTP_PUBLIC, NULL},
	{"GET", "/readyz", route_readyz, NULL, HTTP_PUBLIC, NULL},
	{"GET", "/metrics", route_metrics, NULL, 0, NULL},
	{"GET", "/v1/info", route_info, NULL, 0, NULL},
	{"GET", "/v1/nodes", route_nodes, NULL, 0, NULL},
	{"GET", "/openapi.json", route_openapi, NULL, HTTP_PUBLIC, NULL},

	{"POST", "/v1/datasets", route_dataset_create, route_dataset_begin, 0, "name label header delimiter task"},
	{"GET", "/v1/datasets", route_dataset_list, NULL, 0, "limit offset"},
	{"GET", "/v1/datasets/{id}", route_dataset_get, NULL, 0, NULL},
	{"DELETE", "/v1/datasets/{id}", route_dataset_delete, NULL, 0, NULL},
	{"GET", "/v1/datasets/{id}/rows", route_dataset_rows, NULL, 0, "offset limit"},

	{"POST", "/v1/models", route_model_create, NULL, HTTP_JSON_BODY, NULL},
	{"GET", "/v1/models", route_model_list, NULL, 0, "limit offset"},
	{"GET", "/v1/models/{id}", route_model_get, NULL, 0, NULL},
	{"DELETE", "/v1/models/{id}", route_model_delete, NULL, 0, "cascade"},
	{"GET", "/v1/models/{id}/weights", route_weights_get, NULL, 0, NULL},
	{"PUT", "/v1/models/{id}/weights", route_weights_put, NULL, HTTP_JSON_BODY, NULL},
	{"POST", "/v1/models/{id}/predict", route_predict, NULL, HTTP_JSON_BODY, "store version"},
	{"POST", "/v1/models/{id}/evaluate", route_evaluate, NULL, HTTP_JSON_BODY, "version"},
	{"GET", "/v1/models/{id}/predictions", route_model_predictions, NULL, 0, "limit offset"},
	{"PATCH", "/v1/models/{id}", route_model_rename, NULL, HTTP_JSON_BODY, NULL},
	{"PUT", "/v1/models/{id}", route_model_put, NULL, HTTP_JSON_BODY, NULL},
	{"GET", "/v1/models/{id}/versions", route_version_list, NULL, 0, "limit offset"},
	{"GET", "/v1/models/{id}/versions/{v}", route_version_get, NULL, 0, NULL},
	{"GET", "/v1/models/{id}/versions/{v}/weights", route_version_weights, NULL, 0, NULL},
	{"POST", "/v1/models/{id}/versions/{v}/restore", route_version_restore, NULL, 0, NULL},
	{"GET", "/v1/predictions/{id}", route_prediction_get, NULL, 0, NULL},
	{"GET", "/v1/models/{id}/export", route_model_export, NULL, 0, "format version"},

	{"POST", "/v1/jobs", route_job_create, NULL, HTTP_JSON_BODY, NULL},
	{"GET", "/v1/jobs", route_job_list, NULL, 0, "status model_id limit offset"},
	{"GET", "/v1/jobs/{id}", route_job_get, NULL, 0, NULL},
	{"GET", "/v1/jobs/{id}/history", route_job_history, NULL, 0, NULL},
	{"GET", "/v1/jobs/{id}/events", route_job_events, NULL, 0, "last_event_id"},
	{"POST", "/v1/jobs/{id}/cancel", route_job_cancel, NULL, 0, NULL},

	/* Sweeps, route_sweep.c. */
	{"POST", "/v1/sweeps", route_sweep_create, NULL, HTTP_JSON_BODY, NULL},
	{"GET", "/v1/sweeps", route_sweep_list, NULL, 0, "limit offset"},
	{"GET", "/v1/sweeps/{id}", route_sweep_get, NULL, 0, NULL},
	{"GET", "/v1/sweeps/{id}/events", route_sweep_events, NULL, 0, "last_event_id"},
	{"POST", "/v1/sweeps/{id}/cancel", route_sweep_cancel, NULL, 0, NULL},
	{"DELETE", "/v1/sweeps/{id}", route_sweep_delete, NULL, 0, NULL},

	/* The Open Inference Protocol (KServe V2 REST), route_v2.c. */
	{"GET", "/v2/health/live", route_v2_live, NULL, HTTP_PUBLIC, NULL},
	{"GET", "/v2/health/ready", route_v2_ready, NULL, HTTP_PUBLIC, NULL},
	{"GET", "/v2", route_v2_server, NULL, 0, NULL},
	{"GET", "/v2/models/{model}", route_v2_model, NULL, 0, NULL},
	{"GET", "/v2/models/{model}/ready", route_v2_model_ready, NULL, 0, NULL},
	{"POST", "/v2/models/{model}/infer", route_v2_infer, NULL, 0, NULL},
	{"GET", "/v2/models/{model}/versions/{v}", route_v2_model_version, NULL, 0, NULL},
	{"GET", "/v2/models/{model}/versions/{v}/ready", route_v2_model_version_ready, NULL, 0, NULL},
	{"POST", "/v2/models/{model}/versions/{v}/infer", route_v2_infer_version, NULL, 0, NULL},

	/* The dashboard: every other GET outside /v1. Last, so it never shadows an API route. */
	{"GET", "/", route_web, NULL, HTTP_PUBLIC | HTTP_STATIC, NULL},
};
const size_t route_count = sizeof route_table / sizeof route_table[0];

void route_metrics_label(size_t i, const char **method, const char **pattern)
{
	const struct http_route *route = &route_table[i];

	*method = route->flags & HTTP_STATIC ? "GET" : route->method;
	*pattern = route->flags & HTTP_STATIC ? "/ (web)" : route->pattern;
}

struct db *route_db(struct http_req *r)
{
	struct db *db = db_thread();

	if (!db)
		http_fail(r, API_UNAVAILABLE, NULL, "the database cannot be opened");
	return db;
}

bool route_id(struct http_req *r, int i, int64_t *id)
{
	if (api_id_parse(http_param(r, i), id))
		return true;
	http_fail(r, API_NOT_FOUND, NULL, "no resource %s: ids are positive integers", http_path(r));
	return false;
}

bool route_model_id(struct http_req *r, struct db *db, int i, int64_t *id)
{
	struct api_err err = {0};

	if (db_model_resolve(db, http_param(r, i), id, &err) == 0)
		return true;
	http_reply_error(r, &err);
	return false;
}

bool route_query_bool(struct http_req *r, const char *key, bool fallback, bool *out)
{
	const char *v = http_query(r, key);

	*out = fallback;
	if (!v)
		return true;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else {
		http_fail(r, API_VALIDATION_FAILED, key, "%s must be true or false (or 1 or 0)", key);
		return false;
	}
	return true;
}

bool route_query_version(struct http_req *r, uint32_t *version)
{
	const char *v = http_query(r, "version");

	*version = 0;
	if (!v || api_version_parse(v, version))
		return true;
	http_fail(r, API_VALIDATION_FAILED, "version", "version must be a version number (1, 2, ...)");
	return false;
}

struct db_idem *route_idem(struct http_req *r, const char *route, const char *body, size_t len,
			   struct db_idem *idem, char *key_buf, size_t key_size, bool *failed)
{
	const char *key = http_header(r, "Idempotency-Key");
	size_t n;

	*failed = false;
	if (!key)
		return NULL;
	n = strlen(key);
	if (n == 0 || n >= key_size || n > 255) {
		http_fail(r, API_VALIDATION_FAILED, "Idempotency-Key", "Idempotency-Key must be 1..255 characters");
		*failed = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e) {
			http_fail(r, API_VALIDATION_FAILED, "Idempotency-Key",
				  "Idempotency-Key must be printable ASCII without spaces");
			*failed = true;
			return NULL;
		}
	}
	memcpy(key_buf, key, n + 1);
	idem->route = route;
	idem->key = key_buf;
	if (body)
		hash_sha256(body, len, idem->hash);
	return idem;
}

bool route_idem_replayed(struct http_req *r, struct db *db, const char *route, const char *body, size_t len,
			 struct route_idem_buf *buf, struct db_idem **idem,
			 void (*reply)(struct http_req *r, struct db *db, int64_t id, int status), int status)
{
	struct api_err err = {0};
	bool bad_key;
	int64_t id;
	int rc;

	*idem = route_idem(r, route, body, len, &buf->idem, buf->key, sizeof buf->key, &bad_key);
	if (bad_key)
		return true;
	rc = db_idem_lookup(db, *idem, &id, &err);
	if (rc == 1)
		reply(r, db, id, status);
	else if (rc < 0)
		http_reply_error(r, &err);
	return rc != 0;
}

uint64_t route_random_seed(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof v, 0) != sizeof v)
		v = (uint32_t)(uintptr_t)&v;
	return v & 0x7fffffff; /* fits every seed API, Keras's and numpy's included */
}

bool route_page(struct http_req *r, uint32_t *limit, uint64_t *offset)
{
	struct api_err err = {0};

	if (api_page_parse(http_query(r, "limit"), http_query(r, "offset"), limit, offset, &err) == 0)
		return true;
	http_reply_error(r, &err);
	return false;
}

void route_list(struct http_req *r, const struct route_resource *res)
{
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint64_t offset, total;
	uint32_t limit;
	void *items;
	size_t n;

	if (!db || !route_page(r, &limit, &offset))
		return;
	if (res->list(db, limit, offset, &items, &n, &total, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, res->encode_list(items, n, total));
	free(items);
}

void route_get(struct http_req *r, const struct route_resource *res)
{
	struct db *db = route_db(r);
	int64_t id;

	if (db && route_id(r, 0, &id))
		res->reply_one(r, db, id, 200);
}

void route_delete(struct http_req *r, const struct route_resource *res)
{
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id;

	if (!db || !route_id(r, 0, &id))
		return;
	if (res->delete(db, id, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (res->deleted)
		res->deleted(r, id);
	http_reply_empty(r, 204);
}

static int classes_differ(const char *what_a, const char *a, const char *what_b, const char *b, const char *field,
			  struct api_err *err)
{
	return api_fail(err, API_VALIDATION_FAILED, field, "%s has the classes %.200s but %s has %.200s", what_a,
			a ? a : "(numbers, no names)", what_b, b ? b : "(numbers, no names)");
}

int route_same_classes(struct db *db, int64_t model_id, int64_t dataset_id, const char *field, struct api_err *err)
{
	char *model = NULL, *columns = NULL, *data = NULL, what_a[48], what_b[48];
	int rc = db_model_class_names(db, model_id, &model, err);

	if (rc == 0)
		rc = db_dataset_columns(db, dataset_id, &columns, &data, err);
	if (rc == 0 && model && data && strcmp(model, data) != 0) {
		snprintf(what_a, sizeof what_a, "model %lld", (long long)model_id);
		snprintf(what_b, sizeof what_b, "dataset %lld", (long long)dataset_id);
		rc = classes_differ(what_a, model, what_b, data, field, err);
	}
	free(model);
	free(columns);
	free(data);
	return rc;
}

int route_same_dataset_classes(struct db *db, int64_t a, int64_t b, const char *field, struct api_err *err)
{
	char *cols_a = NULL, *cols_b = NULL, *names_a = NULL, *names_b = NULL, what_a[48], what_b[48];
	int rc = db_dataset_columns(db, a, &cols_a, &names_a, err);

	if (rc == 0)
		rc = db_dataset_columns(db, b, &cols_b, &names_b, err);
	if (rc == 0 && (names_a || names_b) && (!names_a || !names_b || strcmp(names_a, names_b) != 0)) {
		snprintf(what_a, sizeof what_a, "dataset %lld", (long long)a);
		snprintf(what_b, sizeof what_b, "dataset %lld", (long long)b);
		rc = classes_differ(what_a, names_a, what_b, names_b, field, err);
	}
	free(cols_a);
	free(cols_b);
	free(names_a);
	free(names_b);
	return rc;
}
