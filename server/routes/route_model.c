/*
 * route_model.c — models, their weights, predictions and evaluation.
 *
 * Weights are initialised at creation from the seed (a random one when the
 * body has none, returned in the model). A stored prediction is answered only
 * once the prediction writer has committed it (predq.c): the connection is
 * suspended meanwhile and holds no thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/hash.h"
#include "server/routes/route.h"

/* Loads model id into a new nn_model (with its weights and optimizer state):
 * the current ones, or version's when version is not 0 (a 404 then names the
 * field version). Replies and returns NULL on failure. */
static struct nn_model *load_version(struct http_req *r, struct db *db, int64_t id, uint32_t version,
				     struct api_model_info *info)
{
	struct api_err err = {0};
	struct nn_model *m;
	uint8_t *state;
	size_t len;
	int rc = version ? db_version_get_state(db, id, version, "version", info, &state, &len, &err)
			 : db_model_get_state(db, id, info, &state, &len, &err);

	if (rc) {
		http_reply_error(r, &err);
		return NULL;
	}
	m = nn_model_create(&info->def.spec);
	if (!m || nn_model_state_load(m, state, len) != NN_OK) {
		if (m)
			http_fail(r, API_INTERNAL, NULL, "model %lld has a damaged state", (long long)id);
		else
			http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		nn_model_destroy(m);
		m = NULL;
	}
	free(state);
	return m;
}

static struct nn_model *load_model(struct http_req *r, struct db *db, int64_t id, struct api_model_info *info)
{
	return load_version(r, db, id, 0, info);
}

/* Serializes the model's state into a new buffer; replies on failure. */
static uint8_t *save_state(struct http_req *r, const struct nn_model *m, size_t *len)
{
	uint8_t *state;

	*len = nn_model_state_size(m);
	state = malloc(*len);
	if (!state)
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
	else
		nn_model_state_save(m, state);
	return state;
}

static void reply_model(struct http_req *r, struct db *db, int64_t id, int status)
{
	struct api_model_info info;
	struct api_err err = {0};

	char *names = NULL, *features = NULL, *prep = NULL;

	if (db_model_get(db, id, &info, &err) || db_model_class_names(db, id, &names, &err) ||
	    db_model_feature_names(db, id, &features, &err) || db_model_preprocessing(db, id, &prep, &err)) {
		http_reply_error(r, &err);
		free(names);
		free(features);
		return;
	}
	http_reply_json(r, status,
			api_json_add_raw(api_json_add_raw(api_json_add_raw(api_model_encode(&info), "class_names", names),
							  "feature_names", features),
					 "preprocessing", prep));
	free(names);
	free(features);
	free(prep);
}

static void create_model(struct http_req *r, struct db *db, const char *body, size_t len, struct api_model_info *info,
			 const struct db_idem *idem);

void route_model_create(struct http_req *r)
{
	struct api_model_info info;
	struct route_idem_buf idem_buf;
	struct db_idem *idem;
	struct api_err err = {0};
	struct db *db = route_db(r);
	const char *body;
	size_t len;

	if (!db)
		return;
	body = http_body(r, &len);
	if (route_idem_replayed(r, db, "models", body, len, &idem_buf, &idem, reply_model, 201))
		return;
	memset(&info, 0, sizeof info);
	if (api_model_decode(body, len, &info.def, &err)) {
		http_reply_error(r, &err);
		return;
	}
	create_model(r, db, body, len, &info, idem);
}

/* Creates the model info->def describes, with weights initialised from its
 * seed (a random one when it has none), and replies 201. */
static void create_model(struct http_req *r, struct db *db, const char *body, size_t len, struct api_model_info *info,
			 const struct db_idem *idem)
{
	struct api_err err = {0};
	struct nn_model *m;
	struct nn_rng rng;
	uint8_t *state;
	size_t state_len;
	int rc;

	if (!info->def.has_seed) {
		info->def.seed = route_random_seed();
		info->def.has_seed = true;
	}
	m = nn_model_create(&info->def.spec);
	if (!m) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory creating the model");
		return;
	}
	nn_rng_seed(&rng, info->def.seed);
	nn_model_init(m, &rng);
	if (api_model_norm_fill(body, len, &info->def.spec, nn_model_params(m), &err)) {
		http_reply_error(r, &err);
		nn_model_destroy(m);
		return;
	}
	info->n_params = nn_model_n_params(m);
	state = save_state(r, m, &state_len);
	nn_model_destroy(m);
	if (!state)
		return;
	rc = db_model_create(db, info, state, state_len, idem, &err);
	free(state);
	if (rc < 0)
		http_reply_error(r, &err);
	else if (rc == 1)
		reply_model(r, db, info->id, 201);
	else
		http_reply_json(r, 201,
				api_json_add_raw(api_json_add_raw(api_json_add_raw(api_model_encode(info), "class_names",
										   NULL),
								  "feature_names", NULL),
						 "preprocessing", NULL));
}

/* PUT /v1/models/{name}: the model of that name with this definition —
 * created (201) when no model has the name, the existing one (200) when its
 * definition is the body's (a body without a seed matches any seed), 409
 * when the name holds another definition. Runs twice to the same end. */
void route_model_put(struct http_req *r)
{
	struct api_model_info info, old;
	struct api_err err = {0};
	struct db *db = route_db(r);
	const char *name = http_param(r, 0), *body;
	char *want = NULL, *have = NULL;
	int64_t id;
	size_t len;

	if (!db)
		return;
	if (!api_model_name_valid(name)) {
		http_fail(r, API_VALIDATION_FAILED, NULL,
			  "PUT /v1/models/{name} creates a model by name: %s is not a name (a name is not digits only, "
			  "has no '/', and is not \".\" or \"..\")",
			  name);
		return;
	}
	body = http_body(r, &len);
	memset(&info, 0, sizeof info);
	if (api_model_decode(body, len, &info.def, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (info.def.name[0] && strcmp(info.def.name, name) != 0) {
		http_fail(r, API_VALIDATION_FAILED, "name", "name must be the path's name (%s) or absent", name);
		return;
	}
	snprintf(info.def.name, sizeof info.def.name, "%s", name);
	if (db_model_resolve(db, name, &id, &err)) {
		if (err.code == API_NOT_FOUND)
			create_model(r, db, body, len, &info, NULL);
		else
			http_reply_error(r, &err);
		return;
	}
	if (db_model_get(db, id, &old, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (!info.def.has_seed) {
		info.def.seed = old.def.seed;
		info.def.has_seed = old.def.has_seed;
	}
	want = api_model_def_encode(&info.def);
	have = api_model_def_encode(&old.def);
	if (!want || !have)
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
	else if (strcmp(want, have) != 0)
		http_fail(r, API_CONFLICT, "name",
			  "model %s (id %lld) exists with another definition; DELETE it first, or PUT under another name",
			  name, (long long)id);
	else
		reply_model(r, db, id, 200);
	free(want);
	free(have);
}

static int list_models(struct db *db, uint32_t limit, uint64_t offset, void **items, size_t *n, uint64_t *total,
		       struct api_err *err)
{
	struct api_model_info *page = NULL;
	int rc = db_model_list(db, limit, offset, &page, n, total, err);

	*items = page;
	return rc;
}

static char *encode_models(const void *items, size_t n, uint64_t total)
{
	return api_model_list_encode(items, n, total);
}

/* A deleted model leaves the cache of loaded models. */
static void model_deleted(struct http_req *r, int64_t id)
{
	mcache_invalidate(route_app(r)->mcache, id);
}

static const struct route_resource models = {list_models, encode_models, reply_model, db_model_delete,
					       model_deleted};

void route_model_list(struct http_req *r)
{
	route_list(r, &models);
}

void route_model_get(struct http_req *r)
{
	struct db *db = route_db(r);
	int64_t id;

	if (db && route_model_id(r, db, 0, &id))
		reply_model(r, db, id, 200);
}

/* DELETE /v1/models/{id}[?cascade=true]: 409 while it has jobs or versions
 * unless cascade. */
void route_model_delete(struct http_req *r)
{
	struct api_err err = {0};
	struct db *db = route_db(r);
	bool cascade;
	int64_t id;

	if (!db || !route_query_bool(r, "cascade", false, &cascade) ||
	    !route_model_id(r, db, 0, &id))
		return;
	if (db_model_remove(db, id, cascade, &err)) {
		http_reply_error(r, &err);
		return;
	}
	model_deleted(r, id);
	http_reply_empty(r, 204);
}

/* PATCH /v1/models/{id} {"name": ...}: renames (409 when the name is taken). */
void route_model_rename(struct http_req *r)
{
	struct api_model_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	char name[API_NAME_MAX + 1];
	const char *body;
	size_t len;
	int64_t id;

	if (!db || !route_model_id(r, db, 0, &id))
		return;
	body = http_body(r, &len);
	if (api_model_rename_decode(body, len, name, &err) || db_model_rename(db, id, name, &info, &err)) {
		http_reply_error(r, &err);
		return;
	}
	mcache_invalidate(route_app(r)->mcache, id);
	http_reply_json(r, 200, api_model_encode(&info));
}

/* A shared, read-only model from the cache; replies and returns NULL on failure. */
static struct mcache_ref *cached_model(struct http_req *r, struct db *db, int64_t id, const struct nn_model **m)
{
	const struct api_model_info *info;
	struct api_err err = {0};
	struct mcache_ref *ref = mcache_get(route_app(r)->mcache, db, id, m, &info, &err);

	if (!ref)
		http_reply_error(r, &err);
	return ref;
}

void route_weights_get(struct http_req *r)
{
	struct db *db = route_db(r);
	const struct nn_model *m;
	struct mcache_ref *ref;
	int64_t id;

	if (!db || !route_model_id(r, db, 0, &id) || !(ref = cached_model(r, db, id, &m)))
		return;
	http_reply_json(r, 200, api_weights_encode(nn_model_spec(m), nn_model_params_const(m)));
	mcache_release(route_app(r)->mcache, ref);
}

void route_weights_put(struct http_req *r)
{
	struct api_model_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	struct nn_model *m;
	const char *body;
	uint8_t *state;
	size_t len, state_len;
	char sha[65];
	uint32_t version;
	int64_t id;

	if (!db || !route_model_id(r, db, 0, &id) || !(m = load_model(r, db, id, &info)))
		return;
	body = http_body(r, &len);
	/* Decoded straight into the parameters: a failure leaves nothing stored. */
	if (api_weights_decode(body, len, nn_model_spec(m), nn_model_params(m), &err)) {
		http_reply_error(r, &err);
		nn_model_destroy(m);
		return;
	}
	hash_floats_hex(nn_model_params_const(m), nn_model_n_params(m), sha);
	state = save_state(r, m, &state_len);
	nn_model_destroy(m);
	if (!state)
		return;
	/* The weights put are a new version of the model. */
	if (db_model_put_weights(db, id, state, state_len, sha, &version, &err)) {
		http_reply_error(r, &err);
	} else {
		mcache_invalidate(route_app(r)->mcache, id);
		reply_model(r, db, id, 200);
	}
	free(state);
}

/* ---- predictions -------------------------------------------------------------------- */

struct pending_prediction {
	struct predq_item item;
	struct http_req *r;
	float *x, *out;
	int32_t *classes;
	char *class_names; /* the model's, or NULL */
};

static void pending_free(struct pending_prediction *p)
{
	free(p->class_names);
	free(p->x);
	free(p->out);
	free(p->classes);
	free(p);
}

/* On the writer thread, once the batch holding this prediction committed. */
static void prediction_stored(struct predq_item *item, const struct api_err *err)
{
	struct pending_prediction *p = item->ctx;
	struct http_req *r = p->r;

	if (err)
		http_reply_error(r, err);
	else
		http_reply_json(r, 200,
				api_predictions_encode_named(item->p.id, p->out, item->p.n, item->p.outputs, p->classes,
							     p->class_names));
	pending_free(p);
	http_complete(r);
}

/* The model predict and evaluate run: the cached current one (*ref set), or
 * with ?version=N that version's, loaded for this request (*owned set, free
 * with nn_model_destroy). Replies and returns NULL on failure. */
static const struct nn_model *model_at(struct http_req *r, struct db *db, int64_t id, uint32_t version,
				       struct mcache_ref **ref, struct nn_model **owned, struct api_model_info *info_out)
{
	struct api_model_info info;
	const struct api_model_info *cached;
	const struct nn_model *m = NULL;
	struct api_err err = {0};

	*ref = NULL;
	*owned = NULL;
	if (!version) {
		*ref = mcache_get(route_app(r)->mcache, db, id, &m, &cached, &err);
		if (!*ref) {
			http_reply_error(r, &err);
			return NULL;
		}
		if (info_out)
			*info_out = *cached;
		return m;
	}
	*owned = load_version(r, db, id, version, info_out ? info_out : &info);
	return *owned;
}

static void model_release(struct http_req *r, struct mcache_ref *ref, struct nn_model *owned)
{
	if (ref)
		mcache_release(route_app(r)->mcache, ref);
	nn_model_destroy(owned);
}

void route_predict(struct http_req *r)
{
	struct app *app = route_app(r);
	struct pending_prediction *p = NULL;
	struct api_err err = {0};
	struct db *db = route_db(r);
	const struct nn_model_spec *spec;
	const char *body;
	char *features = NULL, *prep = NULL;
	const struct nn_model *m;
	struct mcache_ref *ref;
	struct nn_model *owned;
	bool has_classes, store;
	uint32_t outputs, version;
	size_t len, n;
	int64_t id;

	if (!db || !route_query_bool(r, "store", true, &store) || !route_query_version(r, &version) ||
	    !route_model_id(r, db, 0, &id) || !(m = model_at(r, db, id, version, &ref, &owned, NULL)))
		return;
	spec = nn_model_spec(m);
	outputs = nn_spec_outputs(spec);
	p = calloc(1, sizeof *p);
	if (!p) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	if (db_model_class_names(db, id, &p->class_names, &err) || db_model_feature_names(db, id, &features, &err) ||
	    db_model_preprocessing(db, id, &prep, &err)) {
		http_reply_error(r, &err);
		goto out;
	}
	body = http_body(r, &len);
	if (api_instances_decode_model(body, len, spec->input_dim, features, prep, app->cfg->max_instances, &p->x, &n,
				       &err)) {
		http_reply_error(r, &err);
		goto out;
	}
	/* Classes for single-label outputs: argmax, or a 0.5 threshold on one unit. */
	has_classes = nn_spec_task(spec) == NN_TASK_MULTICLASS || (nn_spec_task(spec) == NN_TASK_BINARY && outputs == 1);
	p->out = malloc(n * outputs * sizeof(float));
	if (has_classes)
		p->classes = malloc(n * sizeof(int32_t));
	if (!p->out || (has_classes && !p->classes) || nn_predict(m, p->x, n, p->out) != NN_OK ||
	    (has_classes && nn_classes(spec, p->out, n, p->classes) != NN_OK)) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	if (!store) {
		http_reply_json(r, 200, api_predictions_encode_named(0, p->out, n, outputs, p->classes, p->class_names));
		goto out;
	}
	p->r = r;
	p->item = (struct predq_item){
		.p = {.model_id = id, .n = (uint32_t)n, .input_dim = spec->input_dim, .outputs = outputs,
		      .inputs = p->x, .outputs_v = p->out, .classes = p->classes},
		.done = prediction_stored,
		.ctx = p,
	};
	http_defer(r);
	predq_submit(app->predq, &p->item);
	p = NULL; /* the writer owns it now */
out:
	free(features);
	free(prep);
	if (p)
		pending_free(p);
	model_release(r, ref, owned);
}

/* A dataset with categorical columns or missing cells, through the model's preprocessing. */
static int encode_for_model(struct db *db, int64_t model_id, struct api_dataset_info *info, float **x,
			    struct api_err *err)
{
	struct api_prep prep = {0};
	char *text = NULL, *columns = NULL, *names = NULL;
	float *out = NULL;
	int rc = db_model_preprocessing(db, model_id, &text, err);

	if (rc == 0 && !text)
		rc = api_fail(err, API_VALIDATION_FAILED, "dataset_id",
			      "dataset %lld has categorical columns or missing cells, and model %lld has no "
			      "preprocessing for them (it learns one when it first trains on such a dataset)",
			      (long long)info->id, (long long)model_id);
	if (rc == 0)
		rc = api_prep_decode(text, &prep, err);
	if (rc == 0)
		rc = db_dataset_columns(db, info->id, &columns, &names, err);
	if (rc == 0 && !(out = malloc((info->n_samples ? info->n_samples : 1) * (size_t)(prep.width ? prep.width : 1) *
				      sizeof *out)))
		rc = api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (rc == 0)
		rc = api_prep_apply(&prep, columns, *x, info->n_samples, info->n_features, out, err);
	if (rc == 0) {
		free(*x);
		*x = out;
		out = NULL;
		info->n_features = prep.width;
	}
	free(out);
	free(text);
	free(columns);
	free(names);
	api_prep_free(&prep);
	return rc;
}

void route_evaluate(struct http_req *r)
{
	struct api_dataset_info data_info;
	struct api_err err = {0};
	struct nn_eval eval;
	struct db *db = route_db(r);
	struct api_model_info info;
	const struct nn_model_spec *spec;
	struct nn_metrics *acc = NULL;
	double values[NN_METRIC_COUNT];
	uint32_t mask;
	const struct nn_model *m;
	struct mcache_ref *ref;
	struct nn_model *owned;
	struct nn_data data;
	float *x = NULL, *y = NULL;
	const char *body;
	int64_t id, dataset_id;
	uint32_t version;
	size_t len;

	if (!db || !route_query_version(r, &version) || !route_model_id(r, db, 0, &id))
		return;
	body = http_body(r, &len);
	if (api_evaluate_decode(body, len, &dataset_id, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (!(m = model_at(r, db, id, version, &ref, &owned, &info)))
		return;
	spec = nn_model_spec(m);
	/* the model's metrics, and accuracy's confusion matrix for classification */
	mask = info.def.metrics & ~NN_METRIC_BIT(NN_METRIC_ACCURACY);
	if (nn_metric_fits(NN_METRIC_ACCURACY, spec) && nn_metric_classes(spec) <= NN_METRIC_MAX_CLASSES)
		mask |= NN_METRIC_BIT(NN_METRIC_ACCURACY);
	if (db_dataset_get(db, dataset_id, &data_info, &err) ||
	    api_dataset_fits(spec, &data_info, "dataset_id", &err) ||
	    route_same_classes(db, id, dataset_id, "dataset_id", &err)) {
		if (err.code == API_NOT_FOUND)
			snprintf(err.field, sizeof err.field, "dataset_id");
		http_reply_error(r, &err);
		goto out;
	}
	if ((mask & NN_METRIC_BIT(NN_METRIC_AUC)) && nn_metric_auc_scores(spec, data_info.n_samples) > NN_METRIC_MAX_SCORES) {
		http_fail(r, API_VALIDATION_FAILED, "dataset_id",
			  "the model's auc metric keeps a score per row and class, at most %llu; dataset %lld has too "
			  "many rows for it",
			  (unsigned long long)NN_METRIC_MAX_SCORES, (long long)dataset_id);
		goto out;
	}
	if (db_dataset_load(db, dataset_id, &data_info, &x, &y, &err)) {
		http_reply_error(r, &err);
		goto out;
	}
	if ((data_info.n_categorical || data_info.n_missing) && encode_for_model(db, id, &data_info, &x, &err)) {
		http_reply_error(r, &err);
		goto out;
	}
	data = (struct nn_data){x, y, data_info.n_samples, data_info.n_features, data_info.y_dim ? data_info.y_dim : 1};
	if (mask && !(acc = nn_metrics_create(spec, mask, data.n))) {
		http_fail(r, API_UNAVAILABLE, NULL, "cannot evaluate: out of memory");
		goto out;
	}
	if ((acc ? nn_evaluate_metrics(m, &data, acc, &eval) : nn_evaluate(m, &data, &eval)) != NN_OK) {
		http_fail(r, API_UNAVAILABLE, NULL, "cannot evaluate: out of memory");
		goto out;
	}
	if (acc)
		nn_metrics_result(acc, values);
	http_reply_json(r, 200,
			api_evaluate_metrics_encode(&eval, mask, values, acc ? nn_metrics_confusion(acc) : NULL,
						    nn_metric_classes(spec)));
out:
	nn_metrics_destroy(acc);
	free(x);
	free(y);
	model_release(r, ref, owned);
}

void route_model_predictions(struct http_req *r)
{
	struct api_prediction_info *items;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint64_t offset, total;
	uint32_t limit;
	int64_t id;
	size_t n;

	if (!db || !route_model_id(r, db, 0, &id) || !route_page(r, &limit, &offset))
		return;
	if (db_prediction_list(db, id, limit, offset, &items, &n, &total, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_prediction_list_encode(items, n, total));
	for (size_t i = 0; i < n; i++)
		db_prediction_free(&items[i]);
	free(items);
}

void route_prediction_get(struct http_req *r)
{
	struct api_prediction_info p;
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id;

	if (!db || !route_id(r, 0, &id))
		return;
	if (db_prediction_get(db, id, &p, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_prediction_encode(&p));
	db_prediction_free(&p);
}

/* ---- export ------------------------------------------------------------------------------------ */

void route_model_export(struct http_req *r)
{
	struct api_model_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	enum api_export_format format;
	const char *format_q;
	struct nn_model *m;
	char disposition[96];
	uint32_t version;
	size_t len;
	char *body;
	int64_t id;

	if (!db || !route_query_version(r, &version) || !route_model_id(r, db, 0, &id))
		return;
	format_q = http_query(r, "format");
	if (!format_q) {
		http_fail(r, API_VALIDATION_FAILED, "format", "format is required: one of %s", api_export_format_names());
		return;
	}
	if (!api_export_format_parse(format_q, &format)) {
		http_fail(r, API_VALIDATION_FAILED, "format", "unknown format \"%.40s\"; expected one of: %s", format_q,
			  api_export_format_names());
		return;
	}
	if (!(m = load_version(r, db, id, version, &info)))
		return;
	if (!version && info.status == API_MODEL_UNTRAINED) {
		http_fail(r, API_CONFLICT, NULL,
			  "model %lld is untrained: no job has trained it yet (POST /v1/jobs), nothing to export",
			  (long long)id);
		nn_model_destroy(m);
		return;
	}
	body = api_export(format, &info.def, id, nn_model_params_const(m), &len, &err);
	nn_model_destroy(m);
	if (!body) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_bytes(r, 200, body, len, api_export_content_type(format));
	if (version)
		snprintf(disposition, sizeof disposition, "attachment; filename=\"model-%lld-v%u%s\"", (long long)id,
			 version, api_export_extension(format));
	else
		snprintf(disposition, sizeof disposition, "attachment; filename=\"model-%lld%s\"", (long long)id,
			 api_export_extension(format));
	http_set_header(r, "Content-Disposition", disposition);
}
