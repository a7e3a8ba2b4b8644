/*
 * route_v2.c — the Open Inference Protocol (KServe V2 REST), so that KServe
 * and Triton clients, gateways and load testers call fitd's models unchanged:
 * health, server and model metadata, model readiness, inference.
 *
 * DESIGN
 * Every /v2/models route names a model, {model}, and optionally a version,
 * {v}. Both are resolved in one place each — model_id() and open_version() —
 * and the handlers only see the result (struct v2_model), so a version is just
 * an argument. {model} is a model's id or its name; {v} one of its versions
 * (GET /v1/models/{id}/versions), an unknown one a 404.
 *
 * Errors follow the protocol: {"error": "<message>"} with 400 for a bad
 * request and 404 for an unknown model (api_v2_status). Refusals made before
 * a handler runs (authentication, size limits) keep fitd's own error body.
 *
 * Inference is /v1 predict through another envelope: the same cached model,
 * the same nn_predict, and, unless parameters.store is false, the same
 * durable prediction writer (the reply waits for the commit).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_v2.h"
#include "server/routes/route.h"

#ifndef FITD_VERSION
#define FITD_VERSION "0.1.0"
#endif

/* ---- errors, the protocol's way ---------------------------------------------------------------- */

static void v2_reply_error(struct http_req *r, const struct api_err *err)
{
	int retry_after = api_retry_after(err->code);

	http_reply_json(r, api_v2_status(err->code), api_v2_error_json(err));
	if (retry_after > 0) {
		char seconds[16];

		snprintf(seconds, sizeof seconds, "%d", retry_after);
		http_set_header(r, "Retry-After", seconds);
	}
}

static void v2_fail(struct http_req *r, enum api_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void v2_fail(struct http_req *r, enum api_code code, const char *fmt, ...)
{
	struct api_err err = {0};
	va_list ap;

	va_start(ap, fmt);
	api_failv(&err, code, NULL, fmt, ap);
	va_end(ap);
	v2_reply_error(r, &err);
}

/* ---- {model} and {v} ------------------------------------------------------------------------------ */

/* A model (at a version) ready to answer. */
struct v2_model {
	const char *name;    /* {model} as the client wrote it (borrowed from the request) */
	const char *version; /* {v}, NULL for the current weights */
	struct mcache_ref *ref;
	const struct nn_model *m; /* borrowed from ref, or owned (a version's weights) */
	struct nn_model *owned;   /* freed by close_model */
	int64_t id;
};

/* {model} -> the model's id (an id, or a model's name: db_model_resolve), and
 * {v} -> that version's weights in mod->owned: the one place each is named.
 * Reply and return false when they cannot. */
static bool model_id(struct http_req *r, struct db *db, struct v2_model *mod)
{
	struct api_err err = {0};

	if (db_model_resolve(db, mod->name, &mod->id, &err) == 0)
		return true;
	if (err.code == API_NOT_FOUND || err.code == API_VALIDATION_FAILED)
		v2_fail(r, API_NOT_FOUND, "model %s not found", mod->name);
	else
		v2_reply_error(r, &err);
	return false;
}

static bool open_version(struct http_req *r, struct db *db, struct v2_model *mod)
{
	struct api_model_info info;
	struct api_err err = {0};
	uint8_t *state = NULL;
	uint32_t v;
	size_t len;

	if (!api_version_parse(mod->version, &v) ||
	    db_version_get_state(db, mod->id, v, NULL, &info, &state, &len, &err)) {
		if (err.code != API_OK && err.code != API_NOT_FOUND)
			v2_reply_error(r, &err);
		else
			v2_fail(r, API_NOT_FOUND, "model %s version %s not found", mod->name, mod->version);
		return false;
	}
	mod->owned = nn_model_create(&info.def.spec);
	if (!mod->owned || nn_model_state_load(mod->owned, state, len) != NN_OK) {
		v2_fail(r, mod->owned ? API_INTERNAL : API_UNAVAILABLE, "model %s version %s cannot be loaded", mod->name,
			mod->version);
		free(state);
		return false;
	}
	free(state);
	mod->m = mod->owned;
	return true;
}

static void close_model(struct http_req *r, struct v2_model *mod)
{
	if (mod->ref)
		mcache_release(route_app(r)->mcache, mod->ref);
	nn_model_destroy(mod->owned);
	mod->ref = NULL;
	mod->owned = NULL;
}

/* Resolves {model} (param 0) and, when with_version, {v} (param 1); replies
 * 404 (or 503) and returns false when it cannot. Release with close_model. */
static bool open_model(struct http_req *r, bool with_version, struct v2_model *out)
{
	const struct api_model_info *info;
	struct api_err err = {0};
	struct db *db;

	memset(out, 0, sizeof *out);
	out->name = http_param(r, 0);
	out->version = with_version ? http_param(r, 1) : NULL;
	db = db_thread();
	if (!db) {
		v2_fail(r, API_UNAVAILABLE, "the database cannot be opened");
		return false;
	}
	if (!model_id(r, db, out))
		return false;
	out->ref = mcache_get(route_app(r)->mcache, db, out->id, &out->m, &info, &err);
	if (!out->ref) {
		if (err.code == API_NOT_FOUND)
			v2_fail(r, API_NOT_FOUND, "model %s not found", out->name);
		else
			v2_reply_error(r, &err);
		return false;
	}
	if (out->version && !open_version(r, db, out)) {
		close_model(r, out);
		return false;
	}
	return true;
}

/* ---- health and metadata ---------------------------------------------------------------------------- */

void route_v2_live(struct http_req *r)
{
	http_reply_json(r, 200, strdup("{\"live\":true}"));
}

/* Ready as GET /readyz is: the database answers and is writable, the workers run. */
void route_v2_ready(struct http_req *r)
{
	struct app *app = route_app(r);
	struct db *db = db_thread();

	if (!db || !db_ping(db))
		v2_fail(r, API_UNAVAILABLE, "the database is not available");
	else if (!db_writable())
		v2_fail(r, API_UNAVAILABLE, "the database cannot be written: the last write failed");
	else if (!atomic_load(&app->workers_running) || http_stopping(app->http))
		v2_fail(r, API_UNAVAILABLE, "the workers are not running");
	else
		http_reply_json(r, 200, strdup("{\"ready\":true}"));
}

void route_v2_server(struct http_req *r)
{
	http_reply_json(r, 200, api_v2_server_encode(FITD_VERSION));
}

static void model_metadata(struct http_req *r, bool with_version)
{
	const struct nn_model_spec *spec;
	struct v2_model mod;

	if (!open_model(r, with_version, &mod))
		return;
	spec = nn_model_spec(mod.m);
	http_reply_json(r, 200, api_v2_model_encode(mod.name, mod.version, spec->input_dim, nn_spec_outputs(spec)));
	close_model(r, &mod);
}

void route_v2_model(struct http_req *r)
{
	model_metadata(r, false);
}

void route_v2_model_version(struct http_req *r)
{
	model_metadata(r, true);
}

/* A model that loads is ready: its weights exist from its creation on. */
static void model_ready(struct http_req *r, bool with_version)
{
	struct v2_model mod;

	if (!open_model(r, with_version, &mod))
		return;
	http_reply_json(r, 200, api_v2_model_ready_encode(mod.name, true));
	close_model(r, &mod);
}

void route_v2_model_ready(struct http_req *r)
{
	model_ready(r, false);
}

void route_v2_model_version_ready(struct http_req *r)
{
	model_ready(r, true);
}

/* ---- inference ------------------------------------------------------------------------------------------ */

struct pending_infer {
	struct predq_item item;
	struct http_req *r;
	struct api_v2_infer in;
	bool with_version;
	float *out;
	int32_t *classes;
};

static void pending_free(struct pending_infer *p)
{
	api_v2_infer_free(&p->in);
	free(p->out);
	free(p->classes);
	free(p);
}

/* On the writer thread, once the batch holding this prediction committed. */
static void infer_stored(struct predq_item *item, const struct api_err *err)
{
	struct pending_infer *p = item->ctx;
	struct http_req *r = p->r;

	if (err)
		v2_reply_error(r, err);
	else
		/* The path's {model} and {v} live as long as the request. */
		http_reply_json(r, 200, api_v2_infer_encode(http_param(r, 0), p->with_version ? http_param(r, 1) : NULL,
							   p->in.id, p->out, p->in.n, item->p.outputs));
	pending_free(p);
	http_complete(r);
}

static void infer(struct http_req *r, bool with_version)
{
	struct app *app = route_app(r);
	struct pending_infer *p = NULL;
	struct api_err err = {0};
	const struct nn_model_spec *spec;
	struct v2_model mod;
	const char *body;
	bool has_classes;
	uint32_t outputs;
	size_t len;

	if (!open_model(r, with_version, &mod))
		return;
	spec = nn_model_spec(mod.m);
	outputs = nn_spec_outputs(spec);
	p = calloc(1, sizeof *p);
	if (!p) {
		v2_fail(r, API_UNAVAILABLE, "out of memory");
		goto out;
	}
	body = http_body(r, &len);
	if (api_v2_infer_decode(body, len, spec->input_dim, app->cfg->max_instances, &p->in, &err)) {
		v2_reply_error(r, &err);
		goto out;
	}
	/* Classes are stored with the prediction, as /v1 predict stores them. */
	has_classes = p->in.store && (nn_spec_task(spec) == NN_TASK_MULTICLASS ||
				      (nn_spec_task(spec) == NN_TASK_BINARY && outputs == 1));
	p->out = malloc(p->in.n * outputs * sizeof(float));
	if (has_classes)
		p->classes = malloc(p->in.n * sizeof(int32_t));
	if (!p->out || (has_classes && !p->classes) || nn_predict(mod.m, p->in.x, p->in.n, p->out) != NN_OK ||
	    (has_classes && nn_classes(spec, p->out, p->in.n, p->classes) != NN_OK)) {
		v2_fail(r, API_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (!p->in.store) {
		http_reply_json(r, 200, api_v2_infer_encode(mod.name, mod.version, p->in.id, p->out, p->in.n, outputs));
		goto out;
	}
	p->with_version = with_version;
	p->r = r;
	p->item = (struct predq_item){
		.p = {.model_id = mod.id, .n = (uint32_t)p->in.n, .input_dim = spec->input_dim, .outputs = outputs,
		      .inputs = p->in.x, .outputs_v = p->out, .classes = p->classes},
		.done = infer_stored,
		.ctx = p,
	};
	http_defer(r);
	predq_submit(app->predq, &p->item);
	p = NULL; /* the writer owns it now */
out:
	if (p)
		pending_free(p);
	close_model(r, &mod);
}

void route_v2_infer(struct http_req *r)
{
	infer(r, false);
}

void route_v2_infer_version(struct http_req *r)
{
	infer(r, true);
}
