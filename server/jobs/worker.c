/*
 * worker.c — the training worker pool: each thread claims the oldest queued
 * job, loads its model, optimizer state, checkpoint and data, and runs the
 * core trainer one epoch at a time.
 *
 * DESIGN
 * After every epoch the worker snapshots the model into a shadow model of the
 * same spec (one memcpy of the parameters and optimizer slots) and the
 * trainer state (72 bytes); the snapshot is serialized and checksummed only
 * when it is committed. Epochs are committed with their snapshot: at once
 * when an epoch took at least the commit interval, otherwise grouped so that
 * there is a commit at least once per interval — fsyncs stay bounded however
 * fast the epochs are. A stop in the middle of an epoch (cancel, shutdown, a
 * diverged loss) commits the finished epochs with the last snapshot, so the
 * partial epoch leaves no trace and the job can resume exactly.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/store/db.h"
#include "server/hash.h"
#include "server/jobs/jobq.h"
#include "server/kernels.h"
#include "server/log.h"
#include "server/jobs/worker.h"

#define MAX_PENDING 256
#define COMMIT_RETRY_US 1000000

struct worker_pool {
	struct jobq *q;
	struct mcache *cache;
	struct par_pool *par;
	unsigned commit_interval_ms;
	unsigned n;
	pthread_t threads[];
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Everything a running job holds; freed by run_free. */
struct run_state {
	struct db_run run;
	struct api_dataset_info train_info, val_info;
	float *train_x, *train_y, *val_x, *val_y;
	struct nn_model *model;
	struct nn_model *shadow;   /* the model after the last finished epoch */
	struct nn_train *trainer;
	struct nn_par par;  /* lent to the trainer: the pool's idle helpers */
	uint8_t *model_state, *train_state;
	size_t model_state_len, train_state_len;
	struct api_epoch pending[MAX_PENDING];
	size_t n_pending;
	double compute_seconds;
	uint64_t samples;
};

static void run_free(struct run_state *s)
{
	nn_train_destroy(s->trainer);
	nn_model_destroy(s->model);
	nn_model_destroy(s->shadow);
	free(s->train_x);
	free(s->train_y);
	free(s->val_x);
	free(s->val_y);
	free(s->model_state);
	free(s->train_state);
	db_run_free(&s->run);
}

static struct nn_data data_view(const struct api_dataset_info *info, const float *x, const float *y)
{
	struct nn_data d = {x, y, info->n_samples, info->n_features, info->y_dim ? info->y_dim : 1};

	return d;
}

static bool needs_prep(const struct api_dataset_info *d)
{
	return d->n_categorical || d->n_missing;
}

/* Encodes one loaded dataset in place (x becomes rows of p->width). */
static int encode_dataset(struct db *db, const struct api_prep *p, struct api_dataset_info *info, float **x,
			  struct api_err *err)
{
	char *columns = NULL, *names = NULL;
	float *out = malloc((info->n_samples ? info->n_samples : 1) * (size_t)(p->width ? p->width : 1) * sizeof *out);
	int rc = out ? db_dataset_columns(db, info->id, &columns, &names, err)
		     : api_fail(err, API_UNAVAILABLE, NULL, "out of memory");

	if (rc == 0)
		rc = api_prep_apply(p, columns, *x, info->n_samples, info->n_features, out, err);
	free(columns);
	free(names);
	if (rc) {
		free(out);
		return -1;
	}
	free(*x);
	*x = out;
	info->n_features = p->width;
	return 0;
}

/* A dataset with categorical columns or missing cells goes through the
 * model's preprocessing: the one it stored, or one built now from the
 * training rows (the rows before a validation split's tail) and stored
 * before the first epoch, so that a resumed run, evaluate and predict use
 * the same numbers. */
static int preprocess(struct db *db, struct run_state *s, struct api_err *err)
{
	const struct api_job_req *req = &s->run.req;
	struct api_prep prep = {0};
	char *text = NULL, *columns = NULL, *names = NULL;
	size_t n_train = s->train_info.n_samples;
	int rc;

	if (!needs_prep(&s->train_info) && !(req->validation_dataset_id && needs_prep(&s->val_info)))
		return 0;
	rc = db_model_preprocessing(db, s->run.model.id, &text, err);
	if (rc == 0 && text) {
		rc = api_prep_decode(text, &prep, err);
	} else if (rc == 0) {
		/* learned from the training rows alone: the split's validation rows
		 * (the tail, random or stratified ones) are skipped */
		struct nn_data all = data_view(&s->train_info, s->train_x, s->train_y);
		uint8_t *is_val = NULL;

		if (!req->validation_dataset_id && req->fit.validation_split > 0) {
			if (!(is_val = malloc(n_train ? n_train : 1)))
				rc = api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			else if (nn_split_val_rows(&s->run.model.def.spec, &all, &req->fit, is_val) != NN_OK)
				rc = api_fail(err, API_VALIDATION_FAILED, "validation_split",
					      "the validation split leaves no training or no validation rows");
		}
		if (rc == 0)
			rc = db_dataset_columns(db, req->dataset_id, &columns, &names, err);
		if (rc == 0)
			rc = api_prep_build(columns, s->train_x, n_train, is_val, s->train_info.n_features, &prep,
					    err);
		free(is_val);
		if (rc == 0 && !(text = api_prep_encode(&prep)))
			rc = api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		if (rc == 0)
			rc = db_model_set_preprocessing(db, s->run.model.id, text, err);
	}
	if (rc == 0 && prep.width != s->run.model.def.spec.input_dim)
		rc = api_fail(err, API_VALIDATION_FAILED, "dataset_id",
			      "the preprocessing encodes %u inputs; the model's input_dim is %u", prep.width,
			      s->run.model.def.spec.input_dim);
	if (rc == 0 && needs_prep(&s->train_info))
		rc = encode_dataset(db, &prep, &s->train_info, &s->train_x, err);
	if (rc == 0 && req->validation_dataset_id && needs_prep(&s->val_info))
		rc = encode_dataset(db, &prep, &s->val_info, &s->val_x, err);
	api_prep_free(&prep);
	free(text);
	free(columns);
	free(names);
	return rc;
}

/* Loads data, model and trainer. Returns 0, or -1 with a message in why. */
static int run_prepare(struct db *db, struct run_state *s, char *why, size_t size)
{
	const struct api_job_req *req = &s->run.req;
	struct nn_data train, val;
	struct nn_fit_opts fit;
	struct api_err err = {0};
	int status = NN_OK;

	if (db_dataset_load(db, req->dataset_id, &s->train_info, &s->train_x, &s->train_y, &err) ||
	    (req->validation_dataset_id &&
	     db_dataset_load(db, req->validation_dataset_id, &s->val_info, &s->val_x, &s->val_y, &err))) {
		snprintf(why, size, "cannot load the data: %s", err.message);
		return -1;
	}
	if (preprocess(db, s, &err)) {
		snprintf(why, size, "cannot preprocess the data: %s", err.message);
		return -1;
	}
	s->model = nn_model_create(&s->run.model.def.spec);
	s->shadow = nn_model_create(&s->run.model.def.spec);
	if (!s->model || !s->shadow) {
		snprintf(why, size, "cannot create the model (out of memory?)");
		return -1;
	}
	if (nn_model_state_load(s->model, s->run.model_state, s->run.model_state_len) != NN_OK ||
	    nn_model_copy_state(s->shadow, s->model) != NN_OK) {
		snprintf(why, size, "the model's stored state is damaged");
		return -1;
	}
	train = data_view(&s->train_info, s->train_x, s->train_y);
	val = data_view(&s->val_info, s->val_x, s->val_y);
	/* the model's metrics beyond accuracy (which the trainer always counts) */
	fit = req->fit;
	fit.metrics = s->run.model.def.metrics & ~NN_METRIC_BIT(NN_METRIC_ACCURACY);
	s->trainer = nn_train_create(s->model, &train, req->validation_dataset_id ? &val : NULL, &fit, &status);
	if (!s->trainer) {
		snprintf(why, size, "cannot start training: %s", nn_strerror(status));
		return -1;
	}
	if (s->run.checkpoint && nn_train_state_load(s->trainer, s->run.checkpoint, s->run.checkpoint_len) != NN_OK) {
		snprintf(why, size, "the job's checkpoint is damaged");
		return -1;
	}
	s->model_state_len = nn_model_state_size(s->model);
	s->train_state_len = nn_train_state_size(s->trainer);
	s->model_state = malloc(s->model_state_len);
	s->train_state = malloc(s->train_state_len);
	if (!s->model_state || !s->train_state) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	return 0;
}

/* Commits the pending epochs (with the last snapshot) and an optional end,
 * retrying while the database is unavailable. */
static int commit(struct worker_pool *pool, struct db *db, struct run_state *s, enum api_job_status end,
		  const char *error)
{
	char sha[65] = "";
	struct db_commit c = {
		.epochs = s->pending,
		.n_epochs = s->n_pending,
		.model_state = s->model_state,
		.model_state_len = s->model_state_len,
		.checkpoint = s->train_state,
		.checkpoint_len = s->train_state_len,
		.samples_per_second = s->compute_seconds > 0 ? s->samples / s->compute_seconds : NAN,
		.end = end,
		.error = error,
		.weights_sha256 = sha,
		.kernels = kernels_name(),
		.attempt = s->run.attempt,
	};
	struct api_err err = {0};

	/* The shadow holds the last finished epoch: serialize it now (the
	 * blob is only read if there are epochs to commit). */
	if (s->n_pending)
		nn_model_state_save(s->shadow, s->model_state);
	/* A cancelled job's weights get a hash too (the store keeps it when the
	 * job committed an epoch): both leave a model version. */
	if ((end == API_JOB_SUCCEEDED || end == API_JOB_CANCELLED) && s->shadow)
		hash_floats_hex(nn_model_params_const(s->shadow), nn_model_n_params(s->shadow), sha);
	/* A full disk or a busy or read-only database may pass: keep the epochs
	 * in memory and retry until the write lands or the server stops (the
	 * job then resumes from its last committed epoch at the next start). */
	for (unsigned attempt = 0;; attempt++) {
		if (db_job_commit(db, s->run.job_id, &c, &err) == 0) {
			s->n_pending = 0;
			mcache_invalidate(pool->cache, s->run.model.id);
			jobq_publish(pool->q);
			if (attempt)
				log_job(s->run.job_id, "commit-recovered", NULL);
			return 0;
		}
		if (attempt == 0 || attempt % 60 == 0)
			log_job(s->run.job_id, "commit-failed", err.message);
		/* past the lease another node may have claimed the job: give it up */
		if (err.code != API_UNAVAILABLE || jobq_stopping(pool->q) || !db_lease_held())
			return -1;
		usleep(COMMIT_RETRY_US);
	}
}

static void run_job(struct worker_pool *pool, struct db *db, struct run_state *s)
{
	atomic_int *flag = jobq_run_begin(pool->q, s->run.job_id);
	double last_commit = now_seconds(), interval = pool->commit_interval_ms / 1000.0;
	size_t n_train;
	char why[512];

	log_job(s->run.job_id, "running", NULL);
	if (!flag || run_prepare(db, s, why, sizeof why)) {
		if (!flag)
			snprintf(why, sizeof why, "no free worker slot");
		log_job(s->run.job_id, "failed", why);
		commit(pool, db, s, API_JOB_FAILED, why);
		goto out;
	}
	/* A cancel that landed between the claim and the registration above. */
	if (db_job_cancel_requested(db, s->run.job_id))
		atomic_store(flag, JOBQ_CANCEL);
	n_train = nn_train_n_train(s->trainer);
	s->par = par_hook(pool->par);
	nn_train_set_par(s->trainer, &s->par);
	par_job_begin(pool->par);
	while (!nn_train_done(s->trainer)) {
		struct nn_epoch_log log;
		double t0 = now_seconds(), seconds;
		int rc = nn_train_epoch(s->trainer, flag, &log);
		bool done;

		seconds = now_seconds() - t0;
		if (rc != NN_OK) {
			int stop = atomic_load(flag);
			enum api_job_status end = rc == NN_ECANCELLED ? (stop == JOBQ_CANCEL ? API_JOB_CANCELLED : API_JOB_QUEUED)
								       : API_JOB_FAILED;

			if (rc == NN_EDIVERGED)
				snprintf(why, sizeof why,
					 "the loss diverged (NaN or infinite) during epoch %u; the model keeps the weights of "
					 "epoch %u",
					 nn_train_epochs_done(s->trainer) + 1, nn_train_epochs_done(s->trainer));
			else
				snprintf(why, sizeof why, "%s", nn_strerror(rc));
			commit(pool, db, s, end, end == API_JOB_FAILED ? why : NULL);
			log_job(s->run.job_id, api_job_status_name(end), end == API_JOB_FAILED ? why : NULL);
			goto out_computing;
		}
		s->pending[s->n_pending++] = (struct api_epoch){
			.epoch = log.epoch,
			.loss = log.loss,
			.accuracy = log.has_metric ? log.metric : NAN,
			.val_loss = log.has_val ? log.val_loss : NAN,
			.val_accuracy = log.has_val && log.has_metric ? log.val_metric : NAN,
			.seconds = seconds,
			.metrics = log.metrics,
			.learning_rate = log.learning_rate,
			.best_epoch = log.best_epoch,
			.stop = log.stop,
		};
		memcpy(s->pending[s->n_pending - 1].values, log.metric_values, sizeof log.metric_values);
		memcpy(s->pending[s->n_pending - 1].val_values, log.val_metric_values, sizeof log.val_metric_values);
		s->compute_seconds += seconds;
		s->samples += n_train;
		jobq_set_rate(pool->q, s->run.job_id, s->samples / (s->compute_seconds > 0 ? s->compute_seconds : 1),
			      n_train);
		nn_model_copy_state(s->shadow, s->model);
		nn_train_state_save(s->trainer, s->train_state);
		done = nn_train_done(s->trainer);
		if (done || seconds >= interval || now_seconds() - last_commit >= interval || s->n_pending == MAX_PENDING) {
			if (commit(pool, db, s, done ? API_JOB_SUCCEEDED : API_JOB_RUNNING, NULL)) {
				log_job(s->run.job_id, "stopped", "its progress could not be committed; it resumes at restart");
				goto out_computing;
			}
			last_commit = now_seconds();
			if (done)
				log_job(s->run.job_id, "succeeded", NULL);
			else if (db_job_cancel_requested(db, s->run.job_id))
				atomic_store(flag, JOBQ_CANCEL);
		}
	}
out_computing:
	par_job_end(pool->par);
out:
	if (flag)
		jobq_run_end(pool->q, s->run.job_id);
}

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;

	while (!jobq_stopping(pool->q)) {
		/* each time: a connection opened read-only is reopened once writable */
		struct db *db = db_thread();
		struct run_state *s;
		struct api_err err = {0};
		int rc;

		if (!db) {
			jobq_wait_work(pool->q, 1000);
			continue;
		}
		s = calloc(1, sizeof *s);
		if (!s) {
			jobq_wait_work(pool->q, 1000);
			continue;
		}
		rc = db_job_claim(db, &s->run, &err);
		if (rc == 1) {
			run_job(pool, db, s);
		} else {
			if (rc < 0)
				log_message("worker: cannot claim a job: %s", err.message);
			jobq_wait_work(pool->q, rc < 0 ? 1000 : db_claim_wait_ms(db, 1000));
		}
		run_free(s);
		free(s);
	}
	db_thread_close();
	return NULL;
}

struct worker_pool *worker_start(struct jobq *q, struct mcache *cache, struct par_pool *par, unsigned n,
				 unsigned commit_interval_ms)
{
	struct worker_pool *pool = calloc(1, sizeof *pool + n * sizeof pool->threads[0]);

	if (!pool)
		return NULL;
	pool->q = q;
	pool->cache = cache;
	pool->par = par;
	pool->commit_interval_ms = commit_interval_ms;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
			worker_stop(pool);
			return NULL;
		}
		pool->n++;
	}
	return pool;
}

void worker_stop(struct worker_pool *pool)
{
	if (!pool)
		return;
	jobq_stop(pool->q);
	for (unsigned i = 0; i < pool->n; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool);
}
