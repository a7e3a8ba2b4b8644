/*
 * route.h — the route table and the handlers, grouped by resource
 * (route_ops.c, route_dataset.c, route_model.c, route_job.c), plus the few
 * steps every handler shares (route.c). A handler reads like a recipe: decode
 * with api_, act with db_ / jobq_, encode with api_.
 */
#ifndef FITD_ROUTE_H
#define FITD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/routes/app.h"
#include "server/store/db.h"
#include "server/http/http.h"

extern const struct http_route route_table[];
extern const size_t route_count;
/* Route i's names in the metrics (a metrics_label_fn): its method and
 * pattern, "GET" "/ (web)" for the dashboard's files. */
void route_metrics_label(size_t i, const char **method, const char **pattern);

/* ---- shared steps (each replies itself when it fails) ---------------------------- */

static inline struct app *route_app(struct http_req *r)
{
	return http_app(r);
}
/* This thread's database connection; replies 503 and returns NULL when none. */
struct db *route_db(struct http_req *r);
/* The i-th {id} of the path; replies 404 and returns false when not an id. */
bool route_id(struct http_req *r, int i, int64_t *id);
/* The i-th {id} of a /v1/models/{id} path: the model's id or its name
 * (db_model_resolve). Replies 404 and returns false when it names no model. */
bool route_model_id(struct http_req *r, struct db *db, int i, int64_t *id);
/* ?key=true|false|1|0 into *out (fallback when absent); replies 422 otherwise. */
bool route_query_bool(struct http_req *r, const char *key, bool fallback, bool *out);
/* ?version=N into *version (0 when absent); replies 422 naming version otherwise. */
bool route_query_version(struct http_req *r, uint32_t *version);
/* Fills *idem from an Idempotency-Key header over body; returns the pointer,
 * NULL when there is no key, or sets *failed after replying 422 to a bad key. */
struct db_idem *route_idem(struct http_req *r, const char *route, const char *body, size_t len,
			   struct db_idem *idem, char *key_buf, size_t key_size, bool *failed);
/* An Idempotency-Key's copy and its struct db_idem, for route_idem_replayed. */
struct route_idem_buf {
	struct db_idem idem;
	char key[256];
};
/* The start of a creating POST: route_idem over body, then db_idem_lookup.
 * True when the request is answered here: a bad key (422), a failed lookup,
 * or a key used before, whose resource reply(r, db, id, status) sends again.
 * Otherwise false with *idem the key to store with the new resource (in buf;
 * NULL when there is none). */
bool route_idem_replayed(struct http_req *r, struct db *db, const char *route, const char *body, size_t len,
			 struct route_idem_buf *buf, struct db_idem **idem,
			 void (*reply)(struct http_req *r, struct db *db, int64_t id, int status), int status);
/* A random seed for a model or job that gave none. */
uint64_t route_random_seed(void);
/* Paging from ?limit=&offset=; replies 422 and returns false when bad. */
bool route_page(struct http_req *r, uint32_t *limit, uint64_t *offset);

/* A model with class names and a dataset with class names (text labels)
 * must name the same classes in the same order: 422 naming field otherwise. */
int route_same_classes(struct db *db, int64_t model_id, int64_t dataset_id, const char *field, struct api_err *err);
/* Two datasets (training and validation) have the same class names, or
 * neither has any: 422 naming field otherwise. */
int route_same_dataset_classes(struct db *db, int64_t a, int64_t b, const char *field, struct api_err *err);

/* A job's or a sweep's stored events after `after`, at most max (db_job_events). */
typedef int (*route_events_fn)(struct db *db, int64_t id, int64_t after, size_t max, struct db_event **events,
			       size_t *n, bool *final, struct api_err *err);
/* Replies the Server-Sent Events stream of id's events from fetch: each as
 * "id", "event" (status or epoch) and "data", resuming after the request's
 * Last-Event-ID header (or ?last_event_id=; 422 when not an event id),
 * woken by the job queue, a heartbeat comment every 15 s, ending after the
 * final event (route_sse.c). */
void route_events_stream(struct http_req *r, int64_t id, route_events_fn fetch);

/* ---- list, get and delete, once for every resource ---------------------------------------- */

/* What the generic handlers need to know of a resource. */
struct route_resource {
	/* A page of items into a new array (free with free()). */
	int (*list)(struct db *db, uint32_t limit, uint64_t offset, void **items, size_t *n, uint64_t *total,
		    struct api_err *err);
	/* {"items": [...], "total": total} */
	char *(*encode_list)(const void *items, size_t n, uint64_t total);
	/* Replies with one item, or with the error of its lookup (404). */
	void (*reply_one)(struct http_req *r, struct db *db, int64_t id, int status);
	int (*delete)(struct db *db, int64_t id, struct api_err *err);
	/* Optional: runs after a delete succeeded (a cache to drop). */
	void (*deleted)(struct http_req *r, int64_t id);
};
/* GET /v1/things: a page of items. */
void route_list(struct http_req *r, const struct route_resource *res);
/* GET /v1/things/{id}. */
void route_get(struct http_req *r, const struct route_resource *res);
/* DELETE /v1/things/{id}: 204. */
void route_delete(struct http_req *r, const struct route_resource *res);

/* ---- handlers ---------------------------------------------------------------------------- */

void route_healthz(struct http_req *r);
void route_readyz(struct http_req *r);
void route_info(struct http_req *r);
void route_metrics(struct http_req *r);
/* GET /v1/nodes: the nodes sharing the database, their workers and running jobs. */
void route_nodes(struct http_req *r);
void route_web(struct http_req *r);
/* GET /openapi.json (public): the OpenAPI document loaded at start-up. */
void route_openapi(struct http_req *r);
/* Reads <share_dir>/docs/openapi.json into app->openapi (the largest file
 * taken is ROUTE_OPENAPI_MAX bytes; it must be a JSON object). Returns 0, or
 * -1 with the reason in msg and app->openapi NULL: the route then answers 404. */
#define ROUTE_OPENAPI_MAX (16u << 20)
int route_openapi_load(struct app *app, const char *share_dir, char *msg, size_t size);

void route_dataset_begin(struct http_req *r);
void route_dataset_create(struct http_req *r);
void route_dataset_list(struct http_req *r);
void route_dataset_get(struct http_req *r);
void route_dataset_delete(struct http_req *r);
void route_dataset_rows(struct http_req *r);

void route_model_create(struct http_req *r);
void route_model_list(struct http_req *r);
void route_model_get(struct http_req *r);
void route_model_delete(struct http_req *r);
void route_weights_get(struct http_req *r);
void route_weights_put(struct http_req *r);
void route_predict(struct http_req *r);
void route_evaluate(struct http_req *r);
void route_model_predictions(struct http_req *r);
void route_model_rename(struct http_req *r);
void route_model_put(struct http_req *r);
void route_version_list(struct http_req *r);
void route_version_get(struct http_req *r);
void route_version_weights(struct http_req *r);
void route_version_restore(struct http_req *r);
void route_prediction_get(struct http_req *r);
void route_model_export(struct http_req *r);

void route_job_create(struct http_req *r);
void route_job_list(struct http_req *r);
void route_job_get(struct http_req *r);
void route_job_history(struct http_req *r);
void route_job_events(struct http_req *r);
void route_job_cancel(struct http_req *r);

/* Sweeps (route_sweep.c). */
void route_sweep_create(struct http_req *r);
void route_sweep_list(struct http_req *r);
void route_sweep_get(struct http_req *r);
void route_sweep_events(struct http_req *r);
void route_sweep_cancel(struct http_req *r);
void route_sweep_delete(struct http_req *r);

/* The Open Inference Protocol (route_v2.c). */
void route_v2_live(struct http_req *r);
void route_v2_ready(struct http_req *r);
void route_v2_server(struct http_req *r);
void route_v2_model(struct http_req *r);
void route_v2_model_version(struct http_req *r);
void route_v2_model_ready(struct http_req *r);
void route_v2_model_version_ready(struct http_req *r);
void route_v2_infer(struct http_req *r);
void route_v2_infer_version(struct http_req *r);

#endif
