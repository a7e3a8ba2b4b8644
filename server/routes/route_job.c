/*
 * route_job.c — training jobs: submit, list, read, history, cancel, and the
 * Server-Sent Events stream of a job's epochs and status changes.
 *
 * The SSE stream replays the job's event log (job_events) from the client's
 * Last-Event-ID: every event is already committed when it is sent, so a
 * client that reconnects misses nothing and sees nothing twice. When there is
 * nothing new the stream's connection sleeps (http.c suspends it) until a
 * worker commits and publishes, or the 1 s tick comes for a heartbeat check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/routes/route.h"

#define CANCEL_WAIT_MS 10000

static void reply_job_info(struct http_req *r, const struct api_job_info *job, int status)
{
	char location[64];

	http_reply_json(r, status, api_job_encode(job));
	if (status == 202) {
		snprintf(location, sizeof location, "/v1/jobs/%lld", (long long)job->id);
		http_set_header(r, "Location", location);
	}
}

static void reply_job(struct http_req *r, struct db *db, int64_t id, int status)
{
	struct api_job_info job;
	struct api_err err = {0};

	if (db_job_get(db, id, &job, &err))
		http_reply_error(r, &err);
	else
		reply_job_info(r, &job, status);
}

/* Replies with err naming the body field whose id was not found. */
static void reply_lookup_error(struct http_req *r, struct api_err *err, const char *field)
{
	if (err->code == API_NOT_FOUND)
		snprintf(err->field, sizeof err->field, "%s", field);
	http_reply_error(r, err);
}

/* Does the request fit its model and datasets (they exist, the shapes
 * agree)? Replies and returns false when not. A request without a seed
 * takes the model's (README: the model's seed makes its jobs repeatable). */
static bool job_fits(struct http_req *r, struct db *db, struct api_job_req *req)
{
	struct api_dataset_info train, val;
	struct api_model_info model;
	struct api_err err = {0};

	/* "model_id": "<name>" names the model: the job stores its id */
	if (req->model_name[0] && db_model_resolve(db, req->model_name, &req->model_id, &err)) {
		reply_lookup_error(r, &err, "model_id");
		return false;
	}
	if (db_model_get(db, req->model_id, &model, &err)) {
		reply_lookup_error(r, &err, "model_id");
		return false;
	}
	if (!req->has_seed && model.def.has_seed) {
		req->fit.seed = model.def.seed;
		req->has_seed = true;
	}
	if (db_dataset_get(db, req->dataset_id, &train, &err)) {
		reply_lookup_error(r, &err, "dataset_id");
		return false;
	}
	if (req->validation_dataset_id && db_dataset_get(db, req->validation_dataset_id, &val, &err)) {
		reply_lookup_error(r, &err, "validation_dataset_id");
		return false;
	}
	if (api_job_check(req, &model.def, &train, req->validation_dataset_id ? &val : NULL, &err) ||
	    route_same_classes(db, req->model_id, req->dataset_id, "dataset_id", &err) ||
	    (req->validation_dataset_id &&
	     route_same_dataset_classes(db, req->dataset_id, req->validation_dataset_id, "validation_dataset_id", &err))) {
		http_reply_error(r, &err);
		return false;
	}
	return true;
}

/* A model given a text-label dataset to train on answers with its class
 * names from now on, and one given a CSV dataset takes rows by its column
 * names; a model that has column names must be trained on the same columns. */
static int learn_names(struct db *db, const struct api_job_req *req, struct api_err *err)
{
	char *columns, *names, *features = NULL, *known = NULL;
	int rc = db_dataset_columns(db, req->dataset_id, &columns, &names, err);

	if (rc == 0 && columns && !(features = api_columns_feature_names(columns)))
		rc = api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (rc == 0 && features)
		rc = db_model_feature_names(db, req->model_id, &known, err);
	if (rc == 0 && known && features && strcmp(known, features) != 0)
		rc = api_fail(err, API_VALIDATION_FAILED, "dataset_id",
			      "model %lld takes the columns %.200s but dataset %lld has %.200s", (long long)req->model_id,
			      known, (long long)req->dataset_id, features ? features : "");
	if (rc == 0 && features && !known)
		rc = db_model_set_feature_names(db, req->model_id, features, err);
	if (rc == 0 && names)
		rc = db_model_set_class_names(db, req->model_id, names, err);
	free(columns);
	free(names);
	free(features);
	free(known);
	return rc;
}

void route_job_create(struct http_req *r)
{
	struct app *app = route_app(r);
	struct api_job_req req;
	struct api_job_info job;
	struct route_idem_buf idem_buf;
	struct db_idem *idem;
	struct api_err err = {0};
	struct db *db = route_db(r);
	const char *body;
	char *options;
	size_t len;
	int rc;

	if (!db)
		return;
	body = http_body(r, &len);
	if (route_idem_replayed(r, db, "jobs", body, len, &idem_buf, &idem, reply_job, 202))
		return;
	if (api_job_decode(body, len, &req, &err)) {
		http_reply_error(r, &err);
		return;
	}
	if (!job_fits(r, db, &req))
		return;
	if (!req.has_seed) {
		req.fit.seed = route_random_seed();
		req.has_seed = true;
	}
	options = api_job_req_encode(&req);
	if (!options) {
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	/* Before the job is stored, so that a job never trains a model without
	 * its names (a job refused below leaves them: the same classes are
	 * asked of every later job anyway). */
	if (learn_names(db, &req, &err)) {
		free(options);
		http_reply_error(r, &err);
		return;
	}
	rc = db_job_submit(db, &req, options, app->cfg->queue, idem, &job, &err);
	free(options);
	if (rc < 0) {
		http_reply_error(r, &err);
		return;
	}

	if (rc == 0) {
		jobq_notify(app->jobq);
		jobq_publish(app->jobq);
	}
	reply_job_info(r, &job, 202);
}

void route_job_list(struct http_req *r)
{
	const char *status_q = http_query(r, "status"), *model_q = http_query(r, "model_id");
	enum api_job_status status;
	struct api_job_info *items;
	struct api_err err = {0};
	struct db *db = route_db(r);
	uint64_t offset, total;
	int64_t model_id = 0;
	uint32_t limit;
	size_t n;

	if (!db || !route_page(r, &limit, &offset))
		return;
	if (status_q && !api_job_status_parse(status_q, &status)) {
		http_fail(r, API_VALIDATION_FAILED, "status",
			  "status must be queued, running, succeeded, failed or cancelled");
		return;
	}
	if (model_q && !api_id_parse(model_q, &model_id)) {
		http_fail(r, API_VALIDATION_FAILED, "model_id", "model_id must be a positive integer");
		return;
	}
	if (db_job_list(db, status_q ? &status : NULL, model_id, limit, offset, &items, &n, &total, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_job_list_encode(items, n, total));
	free(items);
}

void route_job_get(struct http_req *r)
{
	static const struct route_resource jobs = {.reply_one = reply_job};

	route_get(r, &jobs);
}

void route_job_history(struct http_req *r)
{
	struct api_epoch *epochs;
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id;
	size_t n;

	if (!db || !route_id(r, 0, &id))
		return;
	if (db_job_history(db, id, &epochs, &n, &err)) {
		http_reply_error(r, &err);
		return;
	}
	http_reply_json(r, 200, api_history_encode(id, epochs, n));
	free(epochs);
}

void route_job_cancel(struct http_req *r)
{
	struct app *app = route_app(r);
	struct api_job_info job;
	struct api_err err = {0};
	struct db *db = route_db(r);
	unsigned long gen;
	int64_t id;
	int rc;

	if (!db || !route_id(r, 0, &id))
		return;
	gen = jobq_generation(app->jobq);
	rc = db_job_cancel(db, id, &err);
	if (rc < 0) {
		http_reply_error(r, &err);
		return;
	}
	if (rc == 1) {
		jobq_publish(app->jobq);
	} else {
		/* Running: its worker stops within one batch; answer once it has. */
		struct timespec start, now;

		jobq_cancel(app->jobq, id);
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (;;) {
			if (db_job_get(db, id, &job, &err)) {
				http_reply_error(r, &err);
				return;
			}
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (api_job_final(job.status) || job.status == API_JOB_QUEUED ||
			    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > CANCEL_WAIT_MS)
				break;
			jobq_wait_change(app->jobq, &gen, 200);
		}
	}
	reply_job(r, db, id, 200);
}

/* ---- Server-Sent Events -------------------------------------------------------------------- */

void route_job_events(struct http_req *r)
{
	struct api_job_info job;
	struct api_err err = {0};
	struct db *db = route_db(r);
	int64_t id;

	if (!db || !route_id(r, 0, &id))
		return;
	if (db_job_get(db, id, &job, &err)) {
		http_reply_error(r, &err);
		return;
	}
	route_events_stream(r, id, db_job_events);
}
