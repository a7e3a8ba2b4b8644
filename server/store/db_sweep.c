/*
 * db_sweep.c — sweeps: the sweeps and sweep_points tables (migration 0007),
 * and each point's model and job written in the same transaction as the
 * sweep. The jobs stay ordinary jobs: the worker, recovery after a crash and
 * cancellation treat them as any other, and a sweep's status, counts and best
 * metrics are read from them, never copied.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"
#include "server/store/db_sweep.h"

/* Jobs of sweep ?1 (alias s.id in the lists) in one status. */
#define COUNT_STATUS(st) \
	"(SELECT count(*) FROM sweep_points p JOIN jobs j ON j.id = p.job_id WHERE p.sweep_id = s.id AND j.status = '" st "')"
#define SWEEP_COLS                                                                                                 \
	"s.id, s.name, s.kind, s.metric, s.mode, s.definition, s.n_points, s.cancel_requested, s.created_at, "     \
	COUNT_STATUS("queued") ", " COUNT_STATUS("running") ", " COUNT_STATUS("succeeded") ", " COUNT_STATUS( \
		"failed") ", " COUNT_STATUS("cancelled")

_Static_assert(API_JOB_QUEUED == 0 && API_JOB_RUNNING == 1 && API_JOB_SUCCEEDED == 2 && API_JOB_FAILED == 3 &&
		       API_JOB_CANCELLED == 4,
	       "SWEEP_COLS counts the statuses in enum order");

static int read_sweep(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_sweep_info *s = item;
	const char *metric = db_col_str(st, 3);
	const char *def = db_col_str(st, 5);
	const char *kind = db_col_str(st, 2);
	const char *mode = db_col_str(st, 4);

	memset(s, 0, sizeof *s);
	s->id = db_col_int64(st, 0);
	db_col_text(st, 1, s->name, sizeof s->name);
	s->kind = kind && strcmp(kind, "random") == 0 ? API_SWEEP_RANDOM : API_SWEEP_GRID;
	for (int i = 0; i < 4; i++)
		if (metric && strcmp(metric, api_sweep_metric_name((enum nn_monitor)i)) == 0)
			s->metric = (enum nn_monitor)i;
	s->maximize = mode && strcmp(mode, "max") == 0;
	s->definition = strdup(def ? def : "{}");
	if (!s->definition)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	s->n_points = (uint32_t)db_col_int64(st, 6);
	s->cancel_requested = db_col_int(st, 7) != 0;
	db_col_text(st, 8, s->created_at, sizeof s->created_at);
	for (int i = 0; i < API_JOB_N_STATUS; i++)
		s->counts[i] = (uint64_t)db_col_int64(st, 9 + i);
	return 0;
}

static void drop_sweep(void *item)
{
	free((char *)((struct api_sweep_info *)item)->definition);
}

void db_sweep_free(struct api_sweep_info *items, size_t n, bool free_array)
{
	for (size_t i = 0; items && i < n; i++)
		drop_sweep(&items[i]);
	if (free_array)
		free(items);
}

int db_sweep_get(struct db *db, int64_t id, struct api_sweep_info *info, struct api_err *err)
{
	static const char sql[] = "SELECT " SWEEP_COLS " FROM sweeps s WHERE s.id = ?1";

	memset(info, 0, sizeof *info);
	return db_get_by_id(db, sql, id, "sweep", read_sweep, info, err);
}

int db_sweep_list(struct db *db, uint32_t limit, uint64_t offset, struct api_sweep_info **items, size_t *n,
		  uint64_t *total, struct api_err *err)
{
	static const char count[] = "SELECT count(*) FROM sweeps";
	static const char sql[] = "SELECT " SWEEP_COLS " FROM sweeps s ORDER BY s.id DESC LIMIT ?1 OFFSET ?2";
	struct db_stmt *st = db_stmt(db, count, err);

	*items = NULL;
	*n = 0;
	if (!st || db_count(db, st, total, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, limit);
	db_bind_int64(st, 2, (int64_t)offset);
	return db_read_rows(db, st, sizeof **items, limit, read_sweep, drop_sweep, (void **)items, n, err);
}

/* ---- creation ----------------------------------------------------------------------- */

struct create {
	const struct api_sweep_req *req;
	const struct db_sweep_state *states;
	unsigned capacity;
	const struct db_idem *idem;
	int64_t id;
};

static int create_checks(struct db *db, const struct create *c, struct api_err *err)
{
	static const char dataset_sql[] = "SELECT 1 FROM datasets WHERE id = ?1 AND state = 'ready'";
	static const char queued_sql[] = "SELECT count(*) FROM jobs WHERE status = 'queued'";
	uint64_t queued = 0;
	struct db_stmt *st;

	for (size_t i = 0; i < c->req->n_points; i++) {
		const struct api_job_req *j = &c->req->points[i].job;

		if (db_exists(db, dataset_sql, j->dataset_id, "job.dataset_id", "dataset", err) ||
		    (j->validation_dataset_id &&
		     db_exists(db, dataset_sql, j->validation_dataset_id, "job.validation_dataset_id", "dataset", err)))
			return -1;
	}
	st = db_stmt(db, queued_sql, err);
	if (!st || db_count(db, st, &queued, err))
		return -1;
	if (queued + c->req->n_points > c->capacity)
		return api_fail(err, API_QUEUE_FULL, NULL,
				"the queue holds %llu of its %u jobs: no room for the sweep's %zu; retry later",
				(unsigned long long)queued, c->capacity, c->req->n_points);
	return 0;
}

/* Inserts point i's model, job (with its status event) and row. */
static int create_point(struct db *db, const struct create *c, size_t i, struct api_err *err)
{
	static const char model_sql[] =
		"INSERT INTO models (name, definition, n_params, status, state, created_at, updated_at) "
		"VALUES (?1, ?2, ?3, 'untrained', ?4, " DB_NOW ", " DB_NOW ") RETURNING id";
	static const char job_sql[] =
		"INSERT INTO jobs (model_id, dataset_id, validation_dataset_id, options, status, epochs, "
		"model_was_trained, created_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, 0, " DB_NOW ") RETURNING id";
	static const char point_sql[] =
		"INSERT INTO sweep_points (sweep_id, idx, params, model_id, job_id) VALUES (?1, ?2, ?3, ?4, ?5)";
	const struct api_sweep_point *pt = &c->req->points[i];
	struct api_job_req job = pt->job;
	char *def = api_model_def_encode(&pt->model), *options = NULL;
	int64_t model_id, job_id;
	struct db_stmt *st;
	int rc = -1;

	if (!def) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	st = db_stmt(db, model_sql, err);
	if (!st)
		goto out;
	db_bind_text(st, 1, pt->model.name);
	db_bind_text(st, 2, def);
	db_bind_int64(st, 3, (int64_t)c->states[i].n_params);
	db_bind_blob(st, 4, c->states[i].state, c->states[i].len);
	if (db_insert(db, st, &model_id, err))
		goto out;
	job.model_id = model_id;
	options = api_job_req_encode(&job);
	if (!options) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	st = db_stmt(db, job_sql, err);
	if (!st)
		goto out;
	db_bind_int64(st, 1, model_id);
	db_bind_int64(st, 2, job.dataset_id);
	if (job.validation_dataset_id)
		db_bind_int64(st, 3, job.validation_dataset_id);
	else
		db_bind_null(st, 3);
	db_bind_text(st, 4, options);
	db_bind_int64(st, 5, job.fit.epochs);
	if (db_insert(db, st, &job_id, err))
		goto out;
	if (db_job_status_event(db, job_id, err))
		goto out;
	st = db_stmt(db, point_sql, err);
	if (!st)
		goto out;
	db_bind_int64(st, 1, c->id);
	db_bind_int64(st, 2, (int64_t)i);
	db_bind_text(st, 3, pt->params);
	db_bind_int64(st, 4, model_id);
	db_bind_int64(st, 5, job_id);
	rc = db_exec_stmt(db, st, err);
out:
	free(def);
	free(options);
	return rc;
}

static int create_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char sql[] = "INSERT INTO sweeps (name, kind, metric, mode, definition, n_points, created_at) "
				  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, " DB_NOW ") RETURNING id";
	struct create *c = ctx;
	const struct api_sweep_req *req = c->req;
	struct db_stmt *st;
	int rc = db_idem_lookup(db, c->idem, &c->id, err);

	if (rc != 0)
		return rc;
	if (create_checks(db, c, err))
		return -1;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_text(st, 1, req->name);
	db_bind_text(st, 2, req->kind == API_SWEEP_RANDOM ? "random" : "grid");
	db_bind_text(st, 3, api_sweep_metric_name(req->metric));
	db_bind_text(st, 4, req->maximize ? "max" : "min");
	db_bind_text(st, 5, req->definition);
	db_bind_int64(st, 6, (int64_t)req->n_points);
	if (db_insert(db, st, &c->id, err))
		return -1;
	for (size_t i = 0; i < req->n_points; i++)
		if (create_point(db, c, i, err))
			return -1;
	return db_idem_record(db, c->idem, c->id, err);
}

int db_sweep_create(struct db *db, const struct api_sweep_req *req, const struct db_sweep_state *states,
		    unsigned capacity, const struct db_idem *idem, int64_t *id, struct api_err *err)
{
	struct create c = {req, states, capacity, idem, 0};
	int rc = db_transaction(db, create_tx, &c, err);

	*id = c.id;
	return rc;
}

/* ---- points ---------------------------------------------------------------------------- */

void db_sweep_points_free(struct api_sweep_point_info *points, size_t n)
{
	for (size_t i = 0; points && i < n; i++)
		free((char *)points[i].params);
	free(points);
}

/* The best value of the metric over the job's epochs, the first epoch that reached it. */
static int best_of(struct db *db, struct api_sweep_point_info *p, enum nn_monitor metric, bool maximize,
		   struct api_err *err)
{
	static const char sql[] =
		"SELECT epoch, m FROM (SELECT epoch, CASE CAST(?2 AS INTEGER) WHEN 0 THEN loss WHEN 1 THEN val_loss WHEN 2 THEN accuracy "
		"ELSE val_accuracy END AS m FROM job_epochs WHERE job_id = ?1) AS e WHERE m IS NOT NULL ORDER BY m * CAST(?3 AS INTEGER), "
		"epoch LIMIT 1";
	struct db_stmt *st;
	int rc;

	p->best = NAN;
	p->best_epoch = 0;
	if (!p->job_id)
		return 0;
	st = db_stmt(db, sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, p->job_id);
	db_bind_int64(st, 2, (int)metric);
	db_bind_int64(st, 3, maximize ? -1 : 1);
	rc = db_step(st);
	if (rc == DB_ROW) {
		p->best_epoch = (uint32_t)db_col_int64(st, 0);
		p->best = db_col_double(st, 1);
	}
	db_reset(st);
	return rc == DB_ROW || rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

static int read_point(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_sweep_point_info *p = item;
	const char *params = db_col_str(st, 1);
	const char *status = db_col_str(st, 4);

	memset(p, 0, sizeof *p);
	p->index = (uint32_t)db_col_int64(st, 0);
	p->params = strdup(params ? params : "{}");
	if (!p->params)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	p->model_id = db_col_int64(st, 2);
	p->job_id = db_col_int64(st, 3);
	if (!status || !api_job_status_parse(status, &p->status))
		p->status = API_JOB_CANCELLED; /* its job was deleted with its model */
	p->epoch = (uint32_t)db_col_int64(st, 5);
	p->epochs = (uint32_t)db_col_int64(st, 6);
	return 0;
}

static void drop_point(void *item)
{
	free((char *)((struct api_sweep_point_info *)item)->params);
}

int db_sweep_points(struct db *db, int64_t id, enum nn_monitor metric, bool maximize,
		    struct api_sweep_point_info **points, size_t *n, struct api_err *err)
{
	static const char sql[] = "SELECT p.idx, p.params, p.model_id, p.job_id, j.status, j.epoch, j.epochs "
				  "FROM sweep_points p LEFT JOIN jobs j ON j.id = p.job_id WHERE p.sweep_id = ?1 "
				  "ORDER BY p.idx";
	struct db_stmt *st = db_stmt(db, sql, err);

	*points = NULL;
	*n = 0;
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	if (db_read_rows(db, st, sizeof **points, API_SWEEP_MAX_POINTS, read_point, drop_point, (void **)points, n,
			 err))
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (best_of(db, &(*points)[i], metric, maximize, err)) {
			db_sweep_points_free(*points, *n);
			*points = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}

/* ---- cancellation ---------------------------------------------------------------------------- */

struct cancel {
	int64_t id;
	int64_t *running;
	size_t n_running;
};

static int cancel_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char exists_sql[] = "SELECT 1 FROM sweeps WHERE id = ?1";
	static const char flag_sql[] = "UPDATE sweeps SET cancel_requested = 1 WHERE id = ?1";
	static const char jobs_sql[] = "SELECT j.id, j.status = 'running' FROM sweep_points p JOIN jobs j ON "
				       "j.id = p.job_id WHERE p.sweep_id = ?1 AND j.status IN ('queued', 'running') "
				       "ORDER BY p.idx";
	static const char cancel_queued[] =
		"UPDATE jobs SET status = 'cancelled', finished_at = " DB_NOW " WHERE id = ?1";
	static const char flag_running[] = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1";
	struct cancel *c = ctx;
	int64_t ids[API_SWEEP_MAX_POINTS];
	bool running[API_SWEEP_MAX_POINTS];
	size_t n = 0;
	struct db_stmt *st;
	int rc;

	if (db_exists(db, exists_sql, c->id, NULL, "sweep", err))
		return -1;
	st = db_stmt(db, jobs_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	while (n < API_SWEEP_MAX_POINTS && (rc = db_step(st)) == DB_ROW) {
		ids[n] = db_col_int64(st, 0);
		running[n++] = db_col_int(st, 1) != 0;
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, rc, err);
	if (n == 0)
		return api_fail(err, API_CONFLICT, NULL, "sweep %lld has no queued or running point left to cancel",
				(long long)c->id);
	c->running = calloc(n, sizeof *c->running);
	if (!c->running)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	st = db_stmt(db, flag_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	if (db_exec_stmt(db, st, err))
		return -1;
	for (size_t i = 0; i < n; i++) {
		st = db_stmt(db, running[i] ? flag_running : cancel_queued, err);
		if (!st)
			return -1;
		db_bind_int64(st, 1, ids[i]);
		if (db_exec_stmt(db, st, err) || (!running[i] && db_job_status_event(db, ids[i], err)))
			return -1;
		if (running[i])
			c->running[c->n_running++] = ids[i];
	}
	return 0;
}

int db_sweep_cancel(struct db *db, int64_t id, int64_t **running, size_t *n_running, struct api_err *err)
{
	struct cancel c = {id, NULL, 0};
	int rc = db_transaction(db, cancel_tx, &c, err);

	if (rc < 0) {
		free(c.running);
		c.running = NULL;
		c.n_running = 0;
	}
	*running = c.running;
	*n_running = c.n_running;
	return rc;
}

/* ---- deletion ---------------------------------------------------------------------------------- */

static int delete_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char exists_sql[] = "SELECT 1 FROM sweeps WHERE id = ?1";
	static const char busy_sql[] = "SELECT j.id FROM sweep_points p JOIN jobs j ON j.id = p.job_id WHERE "
				       "p.sweep_id = ?1 AND j.status IN ('queued', 'running') LIMIT 1";
	static const char models_sql[] =
		"SELECT model_id FROM sweep_points WHERE sweep_id = ?1 AND model_id IS NOT NULL ORDER BY idx";
	static const char drop_models[] =
		"DELETE FROM models WHERE id IN (SELECT model_id FROM sweep_points WHERE sweep_id = ?1)";
	static const char drop_sweep[] = "DELETE FROM sweeps WHERE id = ?1";
	struct cancel *c = ctx; /* id in, the model ids out */
	int64_t job = 0;
	struct db_stmt *st;
	int rc;

	if (db_exists(db, exists_sql, c->id, NULL, "sweep", err))
		return -1;
	rc = db_find_id(db, busy_sql, c->id, &job, err);
	if (rc == 1)
		return api_fail(err, API_CONFLICT, NULL, "sweep %lld still has job %lld queued or running: cancel it first",
				(long long)c->id, (long long)job);
	if (rc < 0)
		return -1;
	c->running = calloc(API_SWEEP_MAX_POINTS, sizeof *c->running);
	if (!c->running)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	st = db_stmt(db, models_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, c->id);
	while (c->n_running < API_SWEEP_MAX_POINTS && (rc = db_step(st)) == DB_ROW)
		c->running[c->n_running++] = db_col_int64(st, 0);
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, rc, err);
	for (int q = 0; q < 2; q++) {
		st = db_stmt(db, q == 0 ? drop_models : drop_sweep, err);
		if (!st)
			return -1;
		db_bind_int64(st, 1, c->id);
		if (db_exec_stmt(db, st, err))
			return -1;
	}
	return 0;
}

int db_sweep_delete(struct db *db, int64_t id, int64_t **models, size_t *n_models, struct api_err *err)
{
	struct cancel c = {id, NULL, 0};
	int rc = db_transaction(db, delete_tx, &c, err);

	if (rc < 0) {
		free(c.running);
		c.running = NULL;
		c.n_running = 0;
	}
	*models = c.running;
	*n_models = c.n_running;
	return rc;
}

/* ---- events ------------------------------------------------------------------------------------ */

/* A sweep's event wraps its job's data with the point and the job (columns 4 and 3). */
static char *sweep_event_data(struct db_stmt *st, const char *data)
{
	return api_sweep_event_encode((uint32_t)db_col_int64(st, 4), db_col_int64(st, 3), data);
}

int db_sweep_events(struct db *db, int64_t id, int64_t after, size_t max, struct db_event **events, size_t *n,
		    bool *final, struct api_err *err)
{
	static const char exists_sql[] = "SELECT 1 FROM sweeps WHERE id = ?1";
	static const char active_sql[] = "SELECT count(*) FROM sweep_points p JOIN jobs j ON j.id = p.job_id "
					 "WHERE p.sweep_id = ?1 AND j.status IN ('queued', 'running')";
	static const char sql[] =
		"SELECT e.id, e.kind, e.data, e.job_id, p.idx FROM sweep_points p JOIN job_events e ON "
		"e.job_id = p.job_id WHERE p.sweep_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3";
	uint64_t active = 0;
	struct db_stmt *st;

	*events = NULL;
	*n = 0;
	*final = false;
	if (db_exists(db, exists_sql, id, NULL, "sweep", err))
		return -1;
	/* Activity first: events committed before the last job ended are all visible below. */
	st = db_stmt(db, active_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	if (db_count(db, st, &active, err))
		return -1;
	if (db_events_read(db, sql, id, after, max, sweep_event_data, events, n, err))
		return -1;
	*final = active == 0 && *n < max;
	return 0;
}
