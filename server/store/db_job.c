/*
 * db_job.c — training jobs: submission, the worker's claim and commits, the
 * per-epoch history, cancellation and the event log the SSE stream replays.
 *
 * DESIGN
 * The jobs table is the queue: a worker claims the oldest queued row inside a
 * transaction, so no job runs twice and a job outlives any process. A commit
 * writes a group of finished epochs (history rows and events), the job's
 * progress and trainer checkpoint, and the model's weights and optimizer
 * state in one transaction: after a crash the job resumes from exactly the
 * state its last committed epoch left.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/db_internal.h"
#include "server/store/db_pg.h"

#define JOB_COLS                                                                                    \
	"id, model_id, dataset_id, validation_dataset_id, options, status, epoch, epochs, loss, accuracy, " \
	"val_loss, val_accuracy, samples_per_second, error, attempts, weights_sha256, created_at, "        \
	"started_at, finished_at, kernels, dataset_ref, dataset_name, validation_dataset_ref, "           \
	"validation_dataset_name, metrics, best_epoch, stopped_epoch, node, nodes"

/* The model's status once its job stops: trained when it holds trained weights. */
#define MODEL_STATUS_AFTER                                                                                       \
	"UPDATE models SET status = CASE WHEN (SELECT epoch > 0 OR model_was_trained <> 0 FROM jobs WHERE id = ?1) "      \
	"THEN 'trained' ELSE 'untrained' END, updated_at = " DB_NOW " WHERE id = (SELECT model_id FROM jobs WHERE " \
	"id = ?1)"

static int read_job(struct db_stmt *st, void *item, struct api_err *err)
{
	struct api_job_info *j = item;
	const char *options = db_col_str(st, 4);
	const char *status = db_col_str(st, 5);

	memset(j, 0, sizeof *j);
	j->id = db_col_int64(st, 0);
	j->model_id = db_col_int64(st, 1);
	j->dataset_id = db_col_int64(st, 2);
	j->validation_dataset_id = db_col_int64(st, 3);
	if (!options || api_job_decode(options, (size_t)db_col_bytes(st, 4), &j->req, err))
		return api_fail(err, API_INTERNAL, NULL, "job %lld has damaged options", (long long)j->id);
	if (!status || !api_job_status_parse(status, &j->status))
		j->status = API_JOB_FAILED;
	j->epoch = (uint32_t)db_col_int64(st, 6);
	j->req.fit.epochs = (uint32_t)db_col_int64(st, 7);
	j->last.epoch = j->epoch;
	j->last.loss = db_col_real(st, 8);
	j->last.accuracy = db_col_real(st, 9);
	j->last.val_loss = db_col_real(st, 10);
	j->last.val_accuracy = db_col_real(st, 11);
	j->samples_per_second = db_col_real(st, 12);
	db_col_text(st, 13, j->error, sizeof j->error);
	j->attempts = (uint32_t)db_col_int64(st, 14);
	db_col_text(st, 15, j->weights_sha256, sizeof j->weights_sha256);
	db_col_text(st, 16, j->created_at, sizeof j->created_at);
	db_col_text(st, 17, j->started_at, sizeof j->started_at);
	db_col_text(st, 18, j->finished_at, sizeof j->finished_at);
	db_col_text(st, 19, j->kernels, sizeof j->kernels);
	/* lineage (migration 0005): what the datasets were, also once deleted */
	j->dataset.id = db_col_int64(st, 20);
	db_col_text(st, 21, j->dataset.name, sizeof j->dataset.name);
	j->validation_dataset.id = db_col_int64(st, 22);
	db_col_text(st, 23, j->validation_dataset.name, sizeof j->validation_dataset.name);
	switch (api_epoch_metrics_decode(db_col_str(st, 24), &j->last)) {
	case 0:
		break;
	case -2:
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	default:
		return api_fail(err, API_INTERNAL, NULL, "job %lld has damaged metrics", (long long)j->id);
	}
	j->best_epoch = (uint32_t)db_col_int64(st, 25);
	j->stopped_epoch = (uint32_t)db_col_int64(st, 26);
	db_col_text(st, 27, j->node, sizeof j->node);
	db_col_text(st, 28, j->nodes, sizeof j->nodes);
	return 0;
}

int db_job_get(struct db *db, int64_t id, struct api_job_info *info, struct api_err *err)
{
	static const char sql[] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1";

	return db_get_by_id(db, sql, id, "job", read_job, info, err);
}

/* Runs a statement bound to one job id (?1). */
static int exec_for_job(struct db *db, const char *sql, int64_t id, struct api_err *err)
{
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, id);
	return db_exec_stmt(db, st, err);
}

static int insert_event(struct db *db, int64_t job_id, const char *kind, const char *data, struct api_err *err)
{
	static const char sql[] =
		"INSERT INTO job_events (job_id, seq, kind, data) "
		"VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = ?1), ?2, ?3)";
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, job_id);
	db_bind_text(st, 2, kind);
	db_bind_text(st, 3, data);
	if (db_exec_stmt(db, st, err))
		return -1;
	/* PostgreSQL: tell every node's listener (delivered at the commit) */
	return db->pg && db_pg_exec(db->pg, "NOTIFY " DB_PG_CHANNEL) ? db_pg_fail(db->pg, err) : 0;
}

int db_job_status_event(struct db *db, int64_t job_id, struct api_err *err)
{
	struct api_job_info job;
	char *json;
	int rc;

	if (db_job_get(db, job_id, &job, err))
		return -1;
	json = api_job_encode(&job);
	if (!json)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	rc = insert_event(db, job_id, "status", json, err);
	free(json);
	return rc;
}

/* ---- submission ----------------------------------------------------------------------- */

struct submit {
	const struct api_job_req *req;
	const char *options;
	unsigned capacity;
	const struct db_idem *idem;
	struct api_job_info *info;
	int64_t id;
};

/* The model and datasets exist, the model is free, the queue has room. */
static int submit_checks(struct db *db, const struct submit *s, struct api_err *err)
{
	static const char model_sql[] = "SELECT 1 FROM models WHERE id = ?1";
	static const char dataset_sql[] = "SELECT 1 FROM datasets WHERE id = ?1 AND state = 'ready'";
	static const char busy_sql[] =
		"SELECT id FROM jobs WHERE model_id = ?1 AND status IN ('queued', 'running') LIMIT 1";
	static const char queued_sql[] = "SELECT count(*) FROM jobs WHERE status = 'queued'";
	const struct api_job_req *req = s->req;
	int64_t found = 0;
	uint64_t queued = 0;
	struct db_stmt *st;
	int rc;

	if (db_exists(db, model_sql, req->model_id, "model_id", "model", err) ||
	    db_exists(db, dataset_sql, req->dataset_id, "dataset_id", "dataset", err) ||
	    (req->validation_dataset_id && db_exists(db, dataset_sql, req->validation_dataset_id,
							"validation_dataset_id", "dataset", err)))
		return -1;
	rc = db_find_id(db, busy_sql, req->model_id, &found, err);
	if (rc == 1)
		api_fail(err, API_CONFLICT, "model_id",
			 "model %lld already has job %lld queued or running; a model trains one job at a time",
			 (long long)req->model_id, (long long)found);
	if (rc != 0)
		return -1;
	st = db_stmt(db, queued_sql, err);
	if (!st || db_count(db, st, &queued, err))
		return -1;
	if (queued >= s->capacity)
		return api_fail(err, API_QUEUE_FULL, NULL, "the queue holds %u jobs, its capacity; retry later",
				s->capacity);
	return 0;
}

static int submit_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char insert_sql[] =
		"INSERT INTO jobs (model_id, dataset_id, validation_dataset_id, options, status, epochs, "
		"model_was_trained, created_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, "
		"(SELECT CASE WHEN status = 'trained' THEN 1 ELSE 0 END FROM models WHERE id = ?1), " DB_NOW ") RETURNING id";
	struct submit *s = ctx;
	const struct api_job_req *req = s->req;
	struct db_stmt *st;
	int rc = db_idem_lookup(db, s->idem, &s->id, err);

	if (rc == 1) /* a retry: the job the first request made */
		return db_job_get(db, s->id, s->info, err) ? -1 : 1;
	if (rc != 0 || submit_checks(db, s, err))
		return -1;
	st = db_stmt(db, insert_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, req->model_id);
	db_bind_int64(st, 2, req->dataset_id);
	if (req->validation_dataset_id)
		db_bind_int64(st, 3, req->validation_dataset_id);
	else
		db_bind_null(st, 3);
	db_bind_text(st, 4, s->options);
	db_bind_int64(st, 5, req->fit.epochs);
	if (db_insert(db, st, &s->id, err))
		return -1;
	return db_job_status_event(db, s->id, err) || db_idem_record(db, s->idem, s->id, err) ||
			       db_job_get(db, s->id, s->info, err)
		       ? -1
		       : 0;
}

int db_job_submit(struct db *db, const struct api_job_req *req, const char *options, unsigned capacity,
		  const struct db_idem *idem, struct api_job_info *info, struct api_err *err)
{
	struct submit s = {req, options, capacity, idem, info, 0};

	return db_transaction(db, submit_tx, &s, err);
}

/* ---- reading ------------------------------------------------------------------------------ */

int db_job_list(struct db *db, const enum api_job_status *status, int64_t model_id, uint32_t limit, uint64_t offset,
		struct api_job_info **items, size_t *n, uint64_t *total, struct api_err *err)
{
	static const char count[] =
		"SELECT count(*) FROM jobs WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR model_id = ?2)";
	static const char sql[] = "SELECT " JOB_COLS " FROM jobs WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND "
				  "(CAST(?2 AS BIGINT) IS NULL OR model_id = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4";
	struct db_stmt *st;

	*items = NULL;
	*n = 0;
	for (int q = 0; q < 2; q++) {
		st = db_stmt(db, q == 0 ? count : sql, err);
		if (!st)
			return -1;
		if (status)
			db_bind_text(st, 1, api_job_status_name(*status));
		if (model_id)
			db_bind_int64(st, 2, model_id);
		if (q == 0 && db_count(db, st, total, err))
			return -1;
	}
	db_bind_int64(st, 3, limit);
	db_bind_int64(st, 4, (int64_t)offset);
	return db_read_rows(db, st, sizeof **items, limit, read_job, NULL, (void **)items, n, err);
}

int db_job_history(struct db *db, int64_t id, struct api_epoch **epochs, size_t *n, struct api_err *err)
{
	static const char sql[] =
		"SELECT epoch, loss, accuracy, val_loss, val_accuracy, seconds, metrics, learning_rate FROM job_epochs "
		"WHERE job_id = ?1 "
		"ORDER BY epoch";
	struct api_job_info job;
	struct db_stmt *st;
	size_t cap;
	int rc;

	*epochs = NULL;
	*n = 0;
	if (db_job_get(db, id, &job, err))
		return -1;
	cap = job.epoch ? job.epoch : 1;
	*epochs = calloc(cap, sizeof **epochs);
	if (!*epochs)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	st = db_stmt(db, sql, err);
	if (!st)
		goto fail;
	db_bind_int64(st, 1, id);
	while ((rc = db_step(st)) == DB_ROW) {
		struct api_epoch *e;

		if (*n == cap) {
			struct api_epoch *p = realloc(*epochs, 2 * cap * sizeof *p);

			if (!p) {
				db_reset(st);
				api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
				goto fail;
			}
			*epochs = p;
			cap *= 2;
		}
		e = &(*epochs)[(*n)++];
		e->epoch = (uint32_t)db_col_int64(st, 0);
		e->loss = db_col_real(st, 1);
		e->accuracy = db_col_real(st, 2);
		e->val_loss = db_col_real(st, 3);
		e->val_accuracy = db_col_real(st, 4);
		e->seconds = db_col_real(st, 5);
		rc = api_epoch_metrics_decode(db_col_str(st, 6), e);
		if (rc) {
			db_reset(st);
			if (rc == -2)
				api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			else
				api_fail(err, API_INTERNAL, NULL, "job %lld has an epoch with damaged metrics", (long long)id);
			goto fail;
		}
		e->learning_rate = db_col_real(st, 7);
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	return 0;
fail:
	free(*epochs);
	*epochs = NULL;
	*n = 0;
	return -1;
}

int db_job_counts(struct db *db, uint64_t counts[API_JOB_N_STATUS], struct api_err *err)
{
	static const char sql[] = "SELECT status, count(*) FROM jobs GROUP BY status";
	struct db_stmt *st = db_stmt(db, sql, err);
	int rc;

	memset(counts, 0, API_JOB_N_STATUS * sizeof counts[0]);
	if (!st)
		return -1;
	while ((rc = db_step(st)) == DB_ROW) {
		enum api_job_status s;
		const char *name = db_col_str(st, 0);

		if (name && api_job_status_parse(name, &s))
			counts[s] = (uint64_t)db_col_int64(st, 1);
	}
	db_reset(st);
	return rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

int db_events_read(struct db *db, const char *sql, int64_t id, int64_t after, size_t max, db_event_data_fn data_of,
		   struct db_event **events, size_t *n, struct api_err *err)
{
	struct db_stmt *st;
	int rc;

	*n = 0;
	*events = calloc(max ? max : 1, sizeof **events);
	if (!*events)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	st = db_stmt(db, sql, err);
	if (!st)
		goto fail;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, after);
	db_bind_int64(st, 3, (int64_t)max);
	while ((rc = db_step(st)) == DB_ROW) {
		struct db_event *e = &(*events)[*n];
		const char *kind = db_col_str(st, 1);
		const char *data = db_col_str(st, 2);

		e->seq = db_col_int64(st, 0);
		e->status = kind && strcmp(kind, "status") == 0;
		e->data = data_of(st, data ? data : "{}");
		if (!e->data) {
			db_reset(st);
			api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			goto fail;
		}
		(*n)++;
	}
	db_reset(st);
	if (rc != DB_DONE) {
		db_fail(db, rc, err);
		goto fail;
	}
	return 0;
fail:
	db_events_free(*events, *n);
	*events = NULL;
	*n = 0;
	return -1;
}

/* A job's event is its stored data as it is. */
static char *job_event_data(struct db_stmt *st, const char *data)
{
	(void)st;
	return strdup(data);
}

int db_job_events(struct db *db, int64_t id, int64_t after, size_t max, struct db_event **events, size_t *n,
		  bool *final, struct api_err *err)
{
	static const char sql[] =
		"SELECT seq, kind, data FROM job_events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
	struct api_job_info job;

	*events = NULL;
	*n = 0;
	/* Status first: events committed before a final status are all visible below. */
	if (db_job_get(db, id, &job, err) || db_events_read(db, sql, id, after, max, job_event_data, events, n, err))
		return -1;
	*final = api_job_final(job.status) && *n < max;
	return 0;
}

void db_events_free(struct db_event *events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(events[i].data);
	free(events);
}

/* ---- cancellation -------------------------------------------------------------------------------- */

static int cancel_tx(struct db *db, void *ctx, struct api_err *err)
{
	static const char cancel_queued[] =
		"UPDATE jobs SET status = 'cancelled', finished_at = " DB_NOW " WHERE id = ?1";
	static const char flag_running[] = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1";
	int64_t id = *(const int64_t *)ctx;
	struct api_job_info job;

	if (db_job_get(db, id, &job, err))
		return -1;
	if (api_job_final(job.status))
		return api_fail(err, API_CONFLICT, NULL, "job %lld has already %s", (long long)id,
				api_job_status_name(job.status));
	if (job.status == API_JOB_QUEUED)
		return exec_for_job(db, cancel_queued, id, err) || db_job_status_event(db, id, err) ? -1 : 1;
	return exec_for_job(db, flag_running, id, err);
}

int db_job_cancel(struct db *db, int64_t id, struct api_err *err)
{
	return db_transaction(db, cancel_tx, &id, err);
}

bool db_job_cancel_requested(struct db *db, int64_t job_id)
{
	static const char sql[] = "SELECT cancel_requested FROM jobs WHERE id = ?1";
	struct api_err err;
	struct db_stmt *st = db_stmt(db, sql, &err);
	bool yes = false;

	if (!st)
		return false;
	db_bind_int64(st, 1, job_id);
	/* A failed read answers "no": the worker asks again at the next batch. */
	if (db_step(st) == DB_ROW)
		yes = db_col_int(st, 0) != 0;
	db_reset(st);
	return yes;
}

/* ---- the worker's side ------------------------------------------------------------------------------ */

void db_run_free(struct db_run *run)
{
	free(run->model_state);
	free(run->checkpoint);
	memset(run, 0, sizeof *run);
}

/* Fails a job whose lease ended once too often (its runs killed or cut off
 * max_attempts nodes). */
static int fail_abandoned(struct db *db, int64_t id, int64_t attempts, struct api_err *err)
{
	static const char fail_sql[] = "UPDATE jobs SET status = 'failed', finished_at = " DB_NOW
				       ", error = ?2, node = NULL, lease_expires_ms = NULL WHERE id = ?1";
	static const char model_after[] = MODEL_STATUS_AFTER;
	struct db_stmt *st = db_stmt(db, fail_sql, err);
	char why[200];

	if (!st)
		return -1;
	snprintf(why, sizeof why,
		 "the node running the job stopped renewing its lease during each of its %lld runs; it is not retried "
		 "again",
		 (long long)attempts);
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, why);
	if (db_exec_stmt(db, st, err) || exec_for_job(db, model_after, id, err))
		return -1;
	return db_job_status_event(db, id, err);
}

static int claim_tx(struct db *db, void *ctx, struct api_err *err)
{
	/* SQLite: the one process claims queued jobs (its start-up recovery
	 * requeues what a dead process left running). PostgreSQL: a running
	 * job whose lease ended too, the oldest first. */
	static const char next_lite[] =
		"SELECT id, checkpoint, epoch, status, attempts FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1";
	static const char next_pg[] =
		"SELECT id, checkpoint, epoch, status, attempts FROM jobs WHERE status = 'queued' OR "
		"(status = 'running' AND lease_expires_ms < ?1) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
	/* A job claimed again after its lease ended keeps a cancel that was
	 * requested meanwhile: its worker sees it before the first batch. */
	static const char start_sql[] =
		"UPDATE jobs SET cancel_requested = CASE WHEN status = 'running' THEN cancel_requested ELSE 0 END, "
		"status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, " DB_NOW "), "
		"node = ?2, lease_expires_ms = ?3, nodes = CASE WHEN nodes = '' THEN ?2 "
		"WHEN instr(',' || nodes || ',', ',' || ?2 || ',') > 0 THEN nodes ELSE nodes || ',' || ?2 END WHERE id = ?1";
	static const char model_sql[] =
		"UPDATE models SET status = 'training', updated_at = " DB_NOW
		" WHERE id = (SELECT model_id FROM jobs WHERE id = ?1)";
	struct db_run *run = ctx;
	struct api_job_info job;
	struct db_stmt *st;
	int64_t attempts;
	bool abandoned;
	int rc;

	for (;;) {
		int64_t now = db_now_ms();

		st = db_stmt(db, db->pg ? next_pg : next_lite, err);
		if (!st)
			return -1;
		if (db->pg)
			db_bind_int64(st, 1, now);
		rc = db_step(st);
		if (rc != DB_ROW) {
			db_reset(st);
			return rc == DB_DONE ? 0 : db_fail(db, rc, err);
		}
		run->job_id = db_col_int64(st, 0);
		run->epoch = (uint32_t)db_col_int64(st, 2);
		abandoned = strcmp(db_col_str(st, 3), "running") == 0;
		attempts = db_col_int64(st, 4);
		if (abandoned && attempts >= (int64_t)db_max_attempts()) {
			db_reset(st);
			if (fail_abandoned(db, run->job_id, attempts, err))
				return -1;
			continue;
		}
		run->checkpoint_len = (size_t)db_col_bytes(st, 1);
		if (run->checkpoint_len) {
			run->checkpoint = malloc(run->checkpoint_len);
			if (!run->checkpoint) {
				db_reset(st);
				return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			}
			memcpy(run->checkpoint, db_col_blob(st, 1), run->checkpoint_len);
		}
		db_reset(st);
		st = db_stmt(db, start_sql, err);
		if (!st)
			return -1;
		db_bind_int64(st, 1, run->job_id);
		db_bind_text(st, 2, db_node_id());
		db_bind_int64(st, 3, now + db_lease_ms());
		run->attempt = (uint32_t)attempts + 1;
		break;
	}
	if (db_exec_stmt(db, st, err) || exec_for_job(db, model_sql, run->job_id, err) ||
	    db_job_status_event(db, run->job_id, err) || db_job_get(db, run->job_id, &job, err))
		return -1;
	run->req = job.req;
	if (db_model_get_state(db, job.model_id, &run->model, &run->model_state, &run->model_state_len, err))
		return -1;
	db_lease_claimed(db);
	return 1;
}

/* Is there a job to claim? A plain read, so that idle workers polling for
 * work do not take the write lock every time (on PostgreSQL: every node's). */
static int claimable(struct db *db, struct api_err *err)
{
	static const char lite[] = "SELECT id FROM jobs WHERE status = 'queued' LIMIT 1";
	static const char pg[] = "SELECT id FROM jobs WHERE status = 'queued' OR "
				 "(status = 'running' AND lease_expires_ms < ?1) LIMIT 1";
	struct db_stmt *st = db_stmt(db, db->pg ? pg : lite, err);
	int rc;

	if (!st)
		return -1;
	if (db->pg)
		db_bind_int64(st, 1, db_now_ms());
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_fail(db, rc, err);
}

int db_job_claim(struct db *db, struct db_run *run, struct api_err *err)
{
	int rc;

	memset(run, 0, sizeof *run);
	rc = claimable(db, err);
	if (rc <= 0)
		return rc;
	rc = db_transaction(db, claim_tx, run, err);
	if (rc < 0)
		db_run_free(run);
	return rc;
}

/* Binds the job (?1), the epoch's number, loss, accuracy, val_loss and
 * val_accuracy (?2 .. ?6) and its metrics' JSON (?metrics_col, NULL when it
 * has none) to st. */
static int bind_epoch(struct db_stmt *st, int64_t job_id, const struct api_epoch *e, int metrics_col,
		      struct api_err *err)
{
	bool oom;
	char *metrics = api_epoch_metrics_encode(e, &oom);

	if (oom)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (metrics) {
		db_bind_text(st, metrics_col, metrics);
		free(metrics);
	}
	else
		db_bind_null(st, metrics_col);
	db_bind_int64(st, 1, job_id);
	db_bind_int64(st, 2, e->epoch);
	db_bind_real(st, 3, e->loss);
	db_bind_real(st, 4, e->accuracy);
	db_bind_real(st, 5, e->val_loss);
	db_bind_real(st, 6, e->val_accuracy);
	return 0;
}

static int insert_epoch(struct db *db, int64_t job_id, const struct api_epoch *e, struct api_err *err)
{
	static const char sql[] =
		"INSERT INTO job_epochs (job_id, epoch, loss, accuracy, val_loss, val_accuracy, seconds, metrics, "
		"learning_rate) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	struct db_stmt *st = db_stmt(db, sql, err);
	char *json;
	int rc;

	if (!st || bind_epoch(st, job_id, e, 8, err))
		return -1;
	db_bind_double(st, 7, e->seconds);
	db_bind_real(st, 9, e->learning_rate);
	if (db_exec_stmt(db, st, err))
		return -1;
	json = api_epoch_encode(e);
	if (!json)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	rc = insert_event(db, job_id, "epoch", json, err);
	free(json);
	return rc;
}

static int write_progress(struct db *db, int64_t job_id, const struct db_commit *c, struct api_err *err)
{
	static const char job_sql[] =
		"UPDATE jobs SET epoch = ?2, loss = ?3, accuracy = ?4, val_loss = ?5, val_accuracy = ?6, "
		"checkpoint = ?7, samples_per_second = COALESCE(?8, samples_per_second), metrics = ?10, "
		/* the kernel sets the job ran on, each named once, in order */
		"kernels = CASE WHEN kernels IS NULL OR kernels = '' THEN ?9 "
		"WHEN instr(',' || kernels || ',', ',' || ?9 || ',') > 0 THEN kernels ELSE kernels || ',' || ?9 END, "
		/* early stopping: its best epoch so far, the epoch it stopped after */
		"best_epoch = NULLIF(?11, 0), stopped_epoch = COALESCE(NULLIF(?12, 0), stopped_epoch) "
		"WHERE id = ?1";
	static const char model_sql[] =
		"UPDATE models SET state = ?2, version = NULL, updated_at = " DB_NOW
		" WHERE id = (SELECT model_id FROM jobs WHERE id = ?1)";
	const struct api_epoch *last = &c->epochs[c->n_epochs - 1];
	struct db_stmt *st = db_stmt(db, job_sql, err);

	if (!st || bind_epoch(st, job_id, last, 10, err))
		return -1;
	db_bind_blob(st, 7, c->checkpoint, c->checkpoint_len);
	db_bind_real(st, 8, c->samples_per_second);
	db_bind_text(st, 9, c->kernels ? c->kernels : "");
	db_bind_int64(st, 11, last->best_epoch);
	db_bind_int64(st, 12, last->stop ? last->epoch : 0);
	if (db_exec_stmt(db, st, err))
		return -1;
	st = db_stmt(db, model_sql, err);
	if (!st)
		return -1;
	db_bind_int64(st, 1, job_id);
	db_bind_blob(st, 2, c->model_state, c->model_state_len);
	return db_exec_stmt(db, st, err);
}

/* The version a job that changed weights leaves (it committed an epoch): the
 * model's state as the job's commits left it, the job's hash and last
 * metrics; the model's current version becomes it. In the job's final
 * commit's transaction, so a job ends with exactly one version, crash-resumes
 * included. */
static int write_version(struct db *db, int64_t job_id, struct api_err *err)
{
	static const char insert[] =
		"INSERT INTO model_versions (model_id, version, source, job_id, weights_sha256, epoch, loss, accuracy, "
		"val_loss, val_accuracy, state, created_at) "
		"SELECT j.model_id, COALESCE((SELECT MAX(version) FROM model_versions WHERE model_id = j.model_id), 0) + 1, "
		"'job', j.id, j.weights_sha256, j.epoch, j.loss, j.accuracy, j.val_loss, j.val_accuracy, m.state, " DB_NOW
		" FROM jobs AS j JOIN models AS m ON m.id = j.model_id "
		"WHERE j.id = ?1 AND j.epoch > 0 AND j.weights_sha256 IS NOT NULL AND j.weights_sha256 <> ''";
	static const char current[] =
		"UPDATE models SET version = (SELECT version FROM model_versions WHERE job_id = ?1) "
		"WHERE id = (SELECT model_id FROM jobs WHERE id = ?1) AND EXISTS (SELECT 1 FROM model_versions WHERE job_id = ?1)";

	return exec_for_job(db, insert, job_id, err) || exec_for_job(db, current, job_id, err) ? -1 : 0;
}

static int write_end(struct db *db, int64_t job_id, const struct db_commit *c, struct api_err *err)
{
	static const char succeeded[] =
		"UPDATE jobs SET status = 'succeeded', finished_at = " DB_NOW ", weights_sha256 = ?2, node = NULL, "
		"lease_expires_ms = NULL WHERE id = ?1";
	static const char model_trained[] =
		"UPDATE models SET status = 'trained', updated_at = " DB_NOW
		" WHERE id = (SELECT model_id FROM jobs WHERE id = ?1)";
	static const char failed[] = "UPDATE jobs SET status = 'failed', finished_at = " DB_NOW
				     ", error = ?2, node = NULL, lease_expires_ms = NULL WHERE id = ?1";
	/* A cancelled job that committed an epoch changed the weights: their hash. */
	static const char cancelled[] = "UPDATE jobs SET status = 'cancelled', finished_at = " DB_NOW
					", weights_sha256 = CASE WHEN epoch > 0 THEN NULLIF(?2, '') END, node = NULL, "
					"lease_expires_ms = NULL WHERE id = ?1";
	/* Stopped by a shutdown: resumable, and the run does not count as a crash. */
	static const char requeued[] = "UPDATE jobs SET status = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
				       "node = NULL, lease_expires_ms = NULL WHERE id = ?1";
	static const char model_after[] = MODEL_STATUS_AFTER;
	const char *sql = c->end == API_JOB_SUCCEEDED ? succeeded
			  : c->end == API_JOB_FAILED  ? failed
			  : c->end == API_JOB_CANCELLED ? cancelled
			  : requeued;
	struct db_stmt *st = db_stmt(db, sql, err);

	if (!st)
		return -1;
	db_bind_int64(st, 1, job_id);
	if (c->end == API_JOB_SUCCEEDED || c->end == API_JOB_CANCELLED)
		db_bind_text(st, 2, c->weights_sha256 ? c->weights_sha256 : "");
	else if (c->end == API_JOB_FAILED)
		db_bind_text(st, 2, c->error ? c->error : "failed");
	if (db_exec_stmt(db, st, err))
		return -1;
	if (exec_for_job(db, c->end == API_JOB_SUCCEEDED ? model_trained : model_after, job_id, err))
		return -1;
	if ((c->end == API_JOB_SUCCEEDED || c->end == API_JOB_CANCELLED) && write_version(db, job_id, err))
		return -1;
	return db_job_status_event(db, job_id, err);
}

struct job_commit {
	int64_t job_id;
	const struct db_commit *c;
};

/* The fence: the job still runs on this node, in the run that claimed it
 * (its lease did not end and pass to another node, or to another worker of
 * this one). 409 otherwise. */
static int fence(struct db *db, int64_t job_id, uint32_t attempt, struct api_err *err)
{
	static const char sql[] = "SELECT node, attempts FROM jobs WHERE id = ?1 AND status = 'running'";
	struct db_stmt *st = db_stmt(db, sql, err);
	char node[API_NODE_ID_MAX + 1] = "";
	int64_t attempts = 0;
	int rc;

	if (!st)
		return -1;
	db_bind_int64(st, 1, job_id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		db_col_text(st, 0, node, sizeof node);
		attempts = db_col_int64(st, 1);
	}
	db_reset(st);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(db, rc, err);
	if (rc == DB_ROW && attempt && attempts != attempt)
		return api_fail(err, API_CONFLICT, NULL, "job %lld is no longer in run %u: its lease ended and run %lld "
				"claimed it", (long long)job_id, attempt, (long long)attempts);
	if (strcmp(node, db_node_id()) != 0)
		return api_fail(err, API_CONFLICT, NULL,
				"job %lld is no longer running on node %s: its lease ended%s%s%s", (long long)job_id,
				db_node_id(), node[0] ? " (node " : "", node, node[0] ? " runs it now)" : "");
	return 0;
}

static int commit_tx(struct db *db, void *ctx, struct api_err *err)
{
	const struct db_commit *c = ((const struct job_commit *)ctx)->c;
	int64_t job_id = ((const struct job_commit *)ctx)->job_id;

	if (fence(db, job_id, c->attempt, err))
		return -1;

	for (size_t i = 0; i < c->n_epochs; i++)
		if (insert_epoch(db, job_id, &c->epochs[i], err))
			return -1;
	if (c->n_epochs && write_progress(db, job_id, c, err))
		return -1;
	if (c->end != API_JOB_RUNNING && write_end(db, job_id, c, err))
		return -1;
	return 0;
}

int db_job_commit(struct db *db, int64_t job_id, const struct db_commit *c, struct api_err *err)
{
	struct job_commit ctx = {job_id, c};

	return db_transaction(db, commit_tx, &ctx, err);
}
