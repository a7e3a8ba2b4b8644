/*
 * route_version.c — a model's versions: the list, one version, its weights,
 * and a restore that makes an old version current by recording a new one.
 */
#include <stdlib.h>

#include "server/routes/route.h"

/* The model of the path ({id}: id or name) and the version of {v}; replies
 * 404 and returns false when either is not one. */
static bool model_and_version(struct http_req *r, struct db *db, int64_t *id, uint32_t *version)
{
	if (!route_model_id(r, db, 0, id))
		return false;
	if (api_version_parse(http_param(r, 1), version))
		return true;
	http_fail(r, API_NOT_FOUND, NULL, "no version %s of model %lld: versions are numbered 1, 2, ...",
		  http_param(r, 1), (long long)*id);
	return false;
}

void route_version_list(struct http_req *r)
{
	struct api_version_info *items;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint64_t offset, total;
	uint32_t limit;
	int64_t id;
	size_t n;

	if (!db || !route_page(r, &limit, &offset) || !route_model_id(r, db, 0, &id))
		return;
	if (db_version_list(db, id, limit, offset, &items, &n, &total, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_version_list_encode(items, n, total));
	free(items);
}

void route_version_get(struct http_req *r)
{
	struct api_version_info v;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint32_t version;
	int64_t id;

	if (!db || !model_and_version(r, db, &id, &version))
		return;
	if (db_version_get(db, id, version, &v, &err))
		http_reply_error(r, &err);
	else
		http_reply_json(r, 200, api_version_encode(&v));
}

void route_version_weights(struct http_req *r)
{
	struct api_model_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	struct nn_model *m;
	uint8_t *state;
	uint32_t version;
	size_t len;
	int64_t id;

	if (!db || !model_and_version(r, db, &id, &version))
		return;
	if (db_version_get_state(db, id, version, NULL, &info, &state, &len, &err)) {
		http_reply_error(r, &err);
		return;
	}
	m = nn_model_create(&info.def.spec);
	if (!m)
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
	else if (nn_model_state_load(m, state, len) != NN_OK)
		http_fail(r, API_INTERNAL, NULL, "version %u of model %lld has a damaged state", version, (long long)id);
	else
		http_reply_json(r, 200, api_weights_encode(nn_model_spec(m), nn_model_params_const(m)));
	nn_model_destroy(m);
	free(state);
}

void route_version_restore(struct http_req *r)
{
	struct api_version_info v;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint32_t version;
	int64_t id;

	if (!db || !model_and_version(r, db, &id, &version))
		return;
	if (db_version_restore(db, id, version, &v, &err)) {
		http_reply_error(r, &err);
		return;
	}
	mcache_invalidate(route_app(r)->mcache, id);
	http_reply_json(r, 201, api_version_encode(&v));
}
