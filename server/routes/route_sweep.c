/*
 * route_sweep.c — hyper-parameter sweeps: create (one model and one job per
 * point, in one transaction), list, read with the ranked points, cancel, and
 * the Server-Sent Events stream of all the sweep's jobs at once.
 *
 * A sweep adds nothing to the running of jobs: its points are ordinary jobs
 * on the one queue, so workers, crash recovery, cancellation and the per-job
 * stream treat them as any other. The sweep stream replays the job events of
 * its points in commit order; the event id is the event's row id, so
 * Last-Event-ID resumes it exactly like the job stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/routes/route.h"
#include "server/store/db_sweep.h"

#define CANCEL_WAIT_MS 10000
/* Initial model states held at once while a sweep is created. */
#define SWEEP_MAX_STATE_BYTES ((size_t)256 << 20)

static void reply_sweep(struct http_req *r, struct db *db, int64_t id, int status)
{
	struct api_sweep_point_info *points = NULL;
	struct api_sweep_info info;
	struct api_err err = {0};
	char location[64];
	size_t n = 0;

	if (db_sweep_get(db, id, &info, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (db_sweep_points(db, id, info.metric, info.maximize, &points, &n, &err)) {
		db_sweep_free(&info, 1, false);
		http_reply_error(r, &err);
		return;
	}
	api_sweep_rank(points, n, info.maximize);
	http_reply_json(r, status, api_sweep_encode(&info, points, n));
	if (status == 202) {
		snprintf(location, sizeof location, "/v1/sweeps/%lld", (long long)id);
		http_set_header(r, "Location", location);
	}
	db_sweep_points_free(points, n);
	db_sweep_free(&info, 1, false);
}

/* Renames an error of point i's job check as the sweep's ("job.<field>"). */
static void reply_point_error(struct http_req *r, struct api_err *err, size_t i, const char *params)
{
	char field[sizeof err->field];

	snprintf(field, sizeof field, "job%s%.150s", err->field[0] ? "." : "", err->field);
	http_fail(r, err->code, field, "point %zu %.200s: %s", i, params, err->message);
}

/* Every point's datasets exist and fit its model. Replies and returns false when not. */
static bool points_fit(struct http_req *r, struct db *db, const struct api_sweep_req *req)
{
	for (size_t i = 0; i < req->n_points; i++) {
		const struct api_sweep_point *pt = &req->points[i];
		struct api_dataset_info train, val;
		struct api_err err = {0};

		if (db_dataset_get(db, pt->job.dataset_id, &train, &err)) {
			if (err.code == API_NOT_FOUND)
				snprintf(err.field, sizeof err.field, "dataset_id");
			reply_point_error(r, &err, i, pt->params);
			return false;
		}
		if (pt->job.validation_dataset_id && db_dataset_get(db, pt->job.validation_dataset_id, &val, &err)) {
			if (err.code == API_NOT_FOUND)
				snprintf(err.field, sizeof err.field, "validation_dataset_id");
			reply_point_error(r, &err, i, pt->params);
			return false;
		}
		if (api_job_check(&pt->job, &pt->model, &train, pt->job.validation_dataset_id ? &val : NULL, &err)) {
			reply_point_error(r, &err, i, pt->params);
			return false;
		}
	}
	return true;
}

/* Each point's initial weights, drawn from its model's seed as POST /v1/models
 * draws them. Replies and returns NULL on failure. */
static struct db_sweep_state *initial_states(struct http_req *r, const struct api_sweep_req *req)
{
	struct db_sweep_state *states = calloc(req->n_points, sizeof *states);
	size_t total = 0;

	if (!states) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < req->n_points; i++) {
		struct nn_model *m = nn_model_create(&req->points[i].model.spec);
		struct nn_rng rng;
		uint8_t *state;

		if (!m) {
			http_fail(r, API_UNAVAILABLE, NULL, "out of memory creating the model of point %zu", i);
			goto fail;
		}
		states[i].len = nn_model_state_size(m);
		total += states[i].len;
		if (total > SWEEP_MAX_STATE_BYTES) {
			nn_model_destroy(m);
			http_fail(r, API_VALIDATION_FAILED, "model",
				  "the sweep's models would hold more than %zu MB of weights in all: fewer points or "
				  "smaller models",
				  SWEEP_MAX_STATE_BYTES >> 20);
			goto fail;
		}
		state = malloc(states[i].len);
		if (!state) {
			nn_model_destroy(m);
			http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
			goto fail;
		}
		nn_rng_seed(&rng, req->points[i].model.seed);
		nn_model_init(m, &rng);
		nn_model_state_save(m, state);
		states[i].state = state;
		states[i].n_params = nn_model_n_params(m);
		nn_model_destroy(m);
	}
	return states;
fail:
	for (size_t i = 0; i < req->n_points; i++)
		free((uint8_t *)states[i].state);
	free(states);
	return NULL;
}

void route_sweep_create(struct http_req *r)
{
	struct app *app = route_app(r);
	struct api_sweep_seeds seeds = {route_random_seed(), route_random_seed(), route_random_seed()};
	struct db_sweep_state *states = NULL;
	struct api_sweep_req req = {0};
	struct route_idem_buf idem_buf;
	struct db_idem *idem;
	struct api_err err = {0};
	struct db *db = route_db(r);
	const char *body;
	size_t len;
	int64_t id;
	int rc;

	if (!db)
		return;
	body = http_body(r, &len);
	if (route_idem_replayed(r, db, "sweeps", body, len, &idem_buf, &idem, reply_sweep, 202))
		return;
	if (api_sweep_decode(body, len, &seeds, &req, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (req.n_points > app->cfg->queue) {
		http_fail(r, API_VALIDATION_FAILED, req.kind == API_SWEEP_GRID ? "grid" : "random.trials",
			  "the sweep has %zu points, more than the queue holds (%u, --queue)", req.n_points,
			  app->cfg->queue);
		goto out;
	}
	if (!points_fit(r, db, &req) || !(states = initial_states(r, &req)))
		goto out;
	rc = db_sweep_create(db, &req, states, app->cfg->queue, idem, &id, &err);
	if (rc < 0) {
		http_reply_error(r, &err);
		goto out;
	}
	if (rc == 0) {
		for (size_t i = 0; i < req.n_points; i++)
			jobq_notify(app->jobq);
		jobq_publish(app->jobq);
	}
	reply_sweep(r, db, id, 202);
out:
	for (size_t i = 0; states && i < req.n_points; i++)
		free((uint8_t *)states[i].state);
	free(states);
	api_sweep_req_free(&req);
}

void route_sweep_list(struct http_req *r)
{
	struct api_sweep_info *items;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint64_t offset, total;
	uint32_t limit;
	size_t n;

	if (!db || !route_page(r, &limit, &offset))
		return;
	if (db_sweep_list(db, limit, offset, &items, &n, &total, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_sweep_list_encode(items, n, total));
	db_sweep_free(items, n, true);
}

void route_sweep_get(struct http_req *r)
{
	static const struct route_resource sweeps = {.reply_one = reply_sweep};

	route_get(r, &sweeps);
}

void route_sweep_cancel(struct http_req *r)
{
	struct app *app = route_app(r);
	struct api_err err = {0};
	struct db *db = route_db(r);
	struct timespec start, now;
	int64_t id, *running;
	unsigned long gen;
	size_t n;

	if (!db || !route_id(r, 0, &id))
		return;
	gen = jobq_generation(app->jobq);
	if (db_sweep_cancel(db, id, &running, &n, &err)) {
		http_reply_error(r, &err);
		return;
	}
	jobq_publish(app->jobq);
	for (size_t i = 0; i < n; i++)
		jobq_cancel(app->jobq, running[i]);
	free(running);
	/* Running points stop within one batch; answer once they have (or after CANCEL_WAIT_MS). */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct api_sweep_info info;

		if (db_sweep_get(db, id, &info, &err)) {
			http_reply_error(r, &err);
			return;
		}
		db_sweep_free(&info, 1, false);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (info.counts[API_JOB_RUNNING] == 0 ||
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > CANCEL_WAIT_MS)
			break;
		jobq_wait_change(app->jobq, &gen, 200);
	}
	reply_sweep(r, db, id, 200);
}

void route_sweep_delete(struct http_req *r)
{
	struct app *app = route_app(r);
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id, *models;
	size_t n;

	if (!db || !route_id(r, 0, &id))
		return;
	if (db_sweep_delete(db, id, &models, &n, &err)) {
		http_reply_error(r, &err);
		return;
	}
	/* The deleted models leave the cache of loaded models. */
	for (size_t i = 0; i < n; i++)
		mcache_invalidate(app->mcache, models[i]);
	free(models);
	http_reply_empty(r, 204);
}

/* ---- Server-Sent Events (as route_job.c's, over all the sweep's jobs) ------------------------------- */

void route_sweep_events(struct http_req *r)
{
	struct api_sweep_info info;
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id;

	if (!db || !route_id(r, 0, &id))
		return;
	if (db_sweep_get(db, id, &info, &err)) {
		http_reply_error(r, &err);
		return;
	}
	db_sweep_free(&info, 1, false);
	route_events_stream(r, id, db_sweep_events);
}
