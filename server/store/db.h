/*
 * db.h — fitd's storage, as operations on datasets, models, jobs and
 * predictions. Only server/db*.c know that SQLite (and SQL) is behind it, so
 * a second backend can replace these files without touching api/ or core/.
 *
 * DESIGN
 * One connection per thread (db_thread()), WAL, a busy timeout, foreign keys
 * on, synchronous=FULL: a write acknowledged with 2xx survives a crash of the
 * process or the machine. Every multi-row change is one transaction
 * (BEGIN IMMEDIATE, so two writers never deadlock on a lock upgrade).
 *
 * Errors: operations return 0 on success and -1 with *err filled: 404
 * not_found, 409 conflict, 503 queue_full / unavailable (disk full, read-only
 * or busy database), 500 internal_error. Create operations that take a
 * struct db_idem return 1 instead of 0 when the Idempotency-Key was already
 * used by the same request: *id is then the resource the first request made.
 * Ownership: arrays returned through pointers are new (free with free()).
 */
#ifndef FITD_DB_H
#define FITD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

struct db;
struct db_listener;

/* ---- connections ------------------------------------------------------------- */

/* Sets the database path every db_thread() opens. Call before starting threads. */
void db_set_path(const char *path);
/* Is path a PostgreSQL URI (postgresql:// or postgres://) rather than a SQLite file? */
bool db_is_postgres(const char *path);
/* Returns a new connection with fitd's pragmas, or NULL with a message. */
struct db *db_open(const char *path, char *msg, size_t size);
/* Closes a connection; NULL is a no-op. */
void db_close(struct db *db);
/* This thread's connection, opened on first use and closed when the thread
 * exits (or by db_thread_close). NULL when it cannot be opened. */
struct db *db_thread(void);
void db_thread_close(void);

/* Applies the NNNN_name.sql files of dir above PRAGMA user_version, each in
 * its own transaction. Refuses (-1) a database newer than the files. */
int db_migrate(struct db *db, const char *dir, char *msg, size_t size);
int db_schema_version(struct db *db);
/* A cheap read: is the database usable? */
bool db_ping(struct db *db);
/* False from a write that failed because the file cannot be written (disk
 * full, read-only, I/O error) until a later write commits. Thread-safe. */
bool db_writable(void);
/* This connection's commits no longer checkpoint the write-ahead log (SQLite
 * does it by default past 1000 pages, inside the commit that crosses them:
 * a commit then also writes and syncs the database file). Whoever turns it
 * off runs db_checkpoint. */
void db_autocheckpoint_off(struct db *db);
/* A passive checkpoint: copies what it can of the write-ahead log into the
 * database file without waiting for, or blocking, readers and writers.
 * *wal_frames and *copied_frames (may be NULL) get the log's size and how
 * much of it is now in the database. Returns 0, or -1 on an I/O error. */
int db_checkpoint(struct db *db, int *wal_frames, int *copied_frames);
/* Copies the database to path, consistent while in use (VACUUM INTO). */
int db_backup(struct db *db, const char *path, char *msg, size_t size);

/* Start-up housekeeping: drops uploads a dead process left half-written;
 * jobs found running are queued again, or failed after max_attempts runs.
 * Returns the number of jobs requeued, or -1. */
int db_recover(struct db *db, unsigned max_attempts, struct api_err *err);

/* ---- idempotency -------------------------------------------------------------- */

struct db_idem {
	const char *route;       /* "datasets", "models", "jobs" */
	const char *key;         /* the Idempotency-Key header */
	unsigned char hash[32];  /* SHA-256 of the request body */
};

/* Was this key used before? 1 with *id set, 0 when not (or idem is NULL), -1
 * on error (409 when the key was used by a different request). Routes ask
 * before decoding a body; creating calls ask again inside their transaction. */
int db_idem_lookup(struct db *db, const struct db_idem *idem, int64_t *id, struct api_err *err);

/* ---- datasets ------------------------------------------------------------------ */

/* Stores a whole dataset in one transaction; fills info->id and created_at. */
int db_dataset_create(struct db *db, struct api_dataset_info *info, const float *x, const float *y,
		      const struct db_idem *idem, struct api_err *err);

/* A streamed upload: rows arrive in chunks, each committed on its own, under
 * a dataset row that stays invisible until db_upload_finish. */
int db_upload_begin(struct db *db, const char *name, uint32_t n_features, int64_t *id, struct api_err *err);
int db_upload_chunk(struct db *db, int64_t id, uint32_t seq, uint32_t n_rows, const float *x, size_t x_len,
		    const float *y, size_t y_len, struct api_err *err);
/* Publishes the dataset with its final statistics (info->id must be the upload's). */
int db_upload_finish(struct db *db, struct api_dataset_info *info, const struct db_idem *idem, struct api_err *err);
/* Deletes an unfinished upload; safe to call on any error path. */
void db_upload_abort(struct db *db, int64_t id);

int db_dataset_get(struct db *db, int64_t id, struct api_dataset_info *info, struct api_err *err);
int db_dataset_list(struct db *db, uint32_t limit, uint64_t offset, struct api_dataset_info **items, size_t *n,
		    uint64_t *total, struct api_err *err);
/* 409 while a queued or running job uses it. */
int db_dataset_delete(struct db *db, int64_t id, struct api_err *err);
/* All rows: x is n_samples x n_features, y n_samples x max(1, y_dim). */
int db_dataset_load(struct db *db, int64_t id, struct api_dataset_info *info, float **x, float **y,
		    struct api_err *err);
/* What a CSV upload learned of its columns, written on the unpublished
 * upload's row before db_upload_finish (JSON texts; class_names may be NULL). */
int db_upload_columns(struct db *db, int64_t id, const char *columns, const char *class_names,
		      struct api_err *err);
/* Rewrites every target y of an unpublished upload (one per row) as
 * map[y], in one transaction; a target outside 0..n-1 is a 500 (damaged). */
int db_upload_remap_y(struct db *db, int64_t id, const uint32_t *map, uint32_t n, struct api_err *err);
/* The stored JSON texts of a dataset (new strings, NULL when absent). */
int db_dataset_columns(struct db *db, int64_t id, char **columns, char **class_names, struct api_err *err);
/* Rows [offset, offset + limit) (fewer at the end): *x is *n x n_features,
 * *y *n x max(1, y_dim); reads only the chunks that hold them. */
int db_dataset_rows(struct db *db, int64_t id, uint64_t offset, uint32_t limit, struct api_dataset_info *info,
		    float **x, float **y, size_t *n, struct api_err *err);

/* ---- models ---------------------------------------------------------------------- */

/* A model's class names (a JSON array, new string), NULL when it has none. */
int db_model_class_names(struct db *db, int64_t id, char **class_names, struct api_err *err);
/* Gives a model class names when it has none yet (a no-op otherwise). */
int db_model_set_class_names(struct db *db, int64_t id, const char *class_names, struct api_err *err);
/* The same for the feature column names (a JSON array in input order). */
int db_model_feature_names(struct db *db, int64_t id, char **names, struct api_err *err);
int db_model_set_feature_names(struct db *db, int64_t id, const char *names, struct api_err *err);
/* The same for the preprocessing (api_prep_encode's JSON). */
int db_model_preprocessing(struct db *db, int64_t id, char **prep, struct api_err *err);
int db_model_set_preprocessing(struct db *db, int64_t id, const char *prep, struct api_err *err);

int db_model_create(struct db *db, struct api_model_info *info, const uint8_t *state, size_t state_len,
		    const struct db_idem *idem, struct api_err *err);
int db_model_get(struct db *db, int64_t id, struct api_model_info *info, struct api_err *err);
/* The model and its state blob (*state new, free with free()). */
int db_model_get_state(struct db *db, int64_t id, struct api_model_info *info, uint8_t **state, size_t *len,
		       struct api_err *err);
int db_model_list(struct db *db, uint32_t limit, uint64_t offset, struct api_model_info **items, size_t *n,
		  uint64_t *total, struct api_err *err);
/* db_model_remove without cascade: 409 while a job is queued or running, or
 * while the model has jobs or versions. */
int db_model_delete(struct db *db, int64_t id, struct api_err *err);
/* Replaces the state without recording a version (the model's version
 * becomes none); 409 while a job is queued or running. PUT weights uses
 * db_model_put_weights, which records one. */
int db_model_put_state(struct db *db, int64_t id, const uint8_t *state, size_t len, struct api_err *err);

/* The model a path segment names: an id (digits, as api_id_parse reads them;
 * not checked to exist, the lookup that follows says 404) or the name of a
 * named model (404 "no model named ..." when none). The one resolver every
 * /v1/models/{id} route uses (routes call it through route_model_id). */
int db_model_resolve(struct db *db, const char *ref, int64_t *id, struct api_err *err);
/* Renames the model; name "" takes its name away. 409 when another model has
 * the name. Fills info with the renamed model. */
int db_model_rename(struct db *db, int64_t id, const char *name, struct api_model_info *info, struct api_err *err);
/* Deletes the model. Without cascade: 409 while it has jobs or versions,
 * the message saying how to force it; with cascade its jobs, versions and
 * stored predictions go with it. Either way 409 while a job is queued or
 * running. */
int db_model_remove(struct db *db, int64_t id, bool cascade, struct api_err *err);
/* Replaces the weights (PUT weights) and records them as a new version with
 * weights_sha256 sha (the hash of the parameters); 409 while a job is queued
 * or running. *version receives the new version's number. */
int db_model_put_weights(struct db *db, int64_t id, const uint8_t *state, size_t len, const char *sha,
			 uint32_t *version, struct api_err *err);

/* ---- model versions (db_version.c) ---------------------------------------------------- */

/* Newest first. */
int db_version_list(struct db *db, int64_t model_id, uint32_t limit, uint64_t offset,
		    struct api_version_info **items, size_t *n, uint64_t *total, struct api_err *err);
/* 404 for an unknown model or version. */
int db_version_get(struct db *db, int64_t model_id, uint32_t version, struct api_version_info *v,
		   struct api_err *err);
/* The model (its definition) with the version's state blob instead of the
 * current one (*state new, free with free()). 404 naming field (may be NULL)
 * for an unknown version. */
int db_version_get_state(struct db *db, int64_t model_id, uint32_t version, const char *field,
			 struct api_model_info *info, uint8_t **state, size_t *len, struct api_err *err);
/* Makes version the model's current weights by recording a new version (a
 * copy of it, source "restore"); nothing is rewritten. 409 while a job is
 * queued or running. Fills *v with the new version. */
int db_version_restore(struct db *db, int64_t model_id, uint32_t version, struct api_version_info *v,
		       struct api_err *err);

/* ---- jobs ---------------------------------------------------------------------------- */

/* Inserts a queued job in one transaction after checking, inside it, that the
 * model and datasets exist, the model has no queued or running job (409) and
 * fewer than capacity jobs are queued (503 queue_full). options is the
 * canonical JSON of req. Fills info. */
int db_job_submit(struct db *db, const struct api_job_req *req, const char *options, unsigned capacity,
		  const struct db_idem *idem, struct api_job_info *info, struct api_err *err);
int db_job_get(struct db *db, int64_t id, struct api_job_info *info, struct api_err *err);
/* status / model_id filters: NULL / 0 for none. */
int db_job_list(struct db *db, const enum api_job_status *status, int64_t model_id, uint32_t limit, uint64_t offset,
		struct api_job_info **items, size_t *n, uint64_t *total, struct api_err *err);
int db_job_history(struct db *db, int64_t id, struct api_epoch **epochs, size_t *n, struct api_err *err);
/* Cancels a queued job at once (1 = now cancelled) or flags a running one for
 * its worker (0); 409 for a final job. */
int db_job_cancel(struct db *db, int64_t id, struct api_err *err);
/* Counts for /metrics: jobs per status (indexed by enum api_job_status). */
int db_job_counts(struct db *db, uint64_t counts[API_JOB_N_STATUS], struct api_err *err);

/* One SSE event. */
struct db_event {
	int64_t seq;
	bool status;     /* kind: status change, else epoch */
	char *data;      /* one line of JSON, new */
};
/* Events of a job after seq `after`, at most max; *final says the job has
 * ended (so no event will follow the last one returned). */
int db_job_events(struct db *db, int64_t id, int64_t after, size_t max, struct db_event **events, size_t *n,
		  bool *final, struct api_err *err);
void db_events_free(struct db_event *events, size_t n);

/* ---- the worker's side of a job ------------------------------------------------------------- */

/* What a worker needs to run a job; free with db_run_free. */
struct db_run {
	int64_t job_id;
	struct api_job_req req;
	struct api_model_info model;
	uint8_t *model_state;
	size_t model_state_len;
	uint8_t *checkpoint;      /* trainer state after the last committed epoch, NULL at the start */
	size_t checkpoint_len;
	uint32_t epoch;           /* epochs committed */
	uint32_t attempt;         /* which run of the job this claim is (its attempts count after the claim) */
};
void db_run_free(struct db_run *run);

/* Claims the oldest queued job (queued -> running, attempts + 1, leased to
 * this node) and loads it. On PostgreSQL a running job whose lease has
 * ended (its node died or lost the database) is claimed too, and resumes
 * from its last committed epoch; one whose runs reached max_attempts is
 * failed instead. Returns 1 with *run filled, 0 when none is queued, -1 on
 * error. */
int db_job_claim(struct db *db, struct db_run *run, struct api_err *err);

/* A group of finished epochs and the state after the last of them. */
struct db_commit {
	const struct api_epoch *epochs;
	size_t n_epochs;
	const uint8_t *model_state;
	size_t model_state_len;
	const uint8_t *checkpoint;
	size_t checkpoint_len;
	double samples_per_second;   /* NaN: leave as is */
	/* An end: API_JOB_RUNNING for none; queued means "stopped, resume later". */
	enum api_job_status end;
	const char *error;           /* failed: why */
	const char *weights_sha256;  /* succeeded, cancelled: the weights' hash (a cancelled job that committed an
				      * epoch keeps it); the end then records a model version in the same
				      * transaction */
	const char *kernels;         /* the BLAS kernel set these epochs ran on */
	uint32_t attempt;            /* the claim's db_run.attempt: the fence (0: the node's lease only) */
};
/* Commits epochs, state and an optional end in one transaction, fenced by
 * the lease: 409 when the job is no longer running on this node (another
 * node claimed it after this one's lease ended). */
int db_job_commit(struct db *db, int64_t job_id, const struct db_commit *c, struct api_err *err);
/* Is a cancel requested for this job (set by db_job_cancel)? */
bool db_job_cancel_requested(struct db *db, int64_t job_id);

/* ---- predictions ---------------------------------------------------------------------------------- */

struct db_prediction {
	int64_t model_id;
	uint32_t n, input_dim, outputs;
	const float *inputs;
	const float *outputs_v;
	const int32_t *classes;  /* NULL for regression */
	int64_t id;              /* out */
};
/* Inserts every prediction in one transaction; fills each id. */
int db_prediction_insert(struct db *db, struct db_prediction *p, size_t n, struct api_err *err);
/* A stored prediction; its arrays are new: release with db_prediction_free. */
int db_prediction_get(struct db *db, int64_t id, struct api_prediction_info *p, struct api_err *err);
/* Newest first; release each item with db_prediction_free, then the array. */
int db_prediction_list(struct db *db, int64_t model_id, uint32_t limit, uint64_t offset,
		       struct api_prediction_info **items, size_t *n, uint64_t *total, struct api_err *err);
void db_prediction_free(struct api_prediction_info *p);

/* ---- copying a database (db_copy.c: fitd migrate-db) ------------------------------------------ */

struct db_copied {
	char table[64];
	uint64_t rows;
};
/* Copies every row of from into to, both already migrated to the latest
 * schema of their engine (SQLite or PostgreSQL, either way), in one
 * transaction on to, which must be empty (every table but nodes; refused
 * otherwise, nothing written). Ids, lineage and id counters are kept (see
 * db_copy.c).
 * *tables (new, free with free()) gets to's tables in the order copied and
 * their row counts. 0, or -1 with a message. */
int db_copy(struct db *from, struct db *to, struct db_copied **tables, size_t *n, char *msg, size_t size);

/* ---- nodes and leases (db_node.c) ------------------------------------------------------------ */

/* This process's node: its id, how long a running job's lease lasts past a
 * heartbeat, and how many runs a job gets before a crash or a lost lease
 * fails it. Claims, commits, heartbeats and start-up recovery use them. Call
 * before starting threads. */
void db_set_node(const char *id, unsigned lease_ttl_ms, unsigned max_attempts);
const char *db_node_id(void);
/* The node's heartbeat, in one transaction: its row (made on first call)
 * and the leases of the jobs its workers run (running[0..n_running), those
 * still leased to it), renewed: a job whose worker gave it up keeps the
 * lease it has, and is claimed again once it ends. *cancel (may be NULL)
 * gets the ids of those jobs a cancel was requested for, from any node (new
 * array, free with free()). */
int db_node_heartbeat(struct db *db, unsigned workers, const int64_t *running, size_t n_running, int64_t **cancel,
		      size_t *n_cancel, struct api_err *err);
/* Marks the node stopped (a graceful stop; its jobs were given back). */
int db_node_stop(struct db *db, struct api_err *err);
/* How long an idle worker may sleep before it looks for work again: cap,
 * or on PostgreSQL until the next running job's lease ends (at least 1 ms),
 * so a dead node's job is claimed as its lease ends. */
unsigned db_claim_wait_ms(struct db *db, unsigned cap);
/* May this node's workers still write their jobs? Always on SQLite (one
 * process, whose restart recovers); on PostgreSQL while the last heartbeat
 * that renewed the leases is younger than the lease: past it another node
 * may have claimed the jobs. Thread-safe. */
bool db_lease_held(void);
/* Every node, ordered by id: its row and the jobs it runs (free each with
 * api_node_free, then the array). */
int db_node_list(struct db *db, struct api_node_info **items, size_t *n, struct api_err *err);
/* A model's revision, bumped by every change of its state or definition
 * (a cache on one node tells another node's writes by it). */
int db_model_revision(struct db *db, int64_t id, int64_t *revision, struct api_err *err);
/* Does the database serve several nodes (PostgreSQL)? Then a node's caches
 * check what other nodes may have changed. */
bool db_shared(struct db *db);

/* Job events from every node as they commit: on PostgreSQL a thread
 * LISTENs to the events' channel and calls fn(ctx) for each batch of
 * notifications (SSE streams and cancel waiters then read the committed
 * event log; without notifications, an unreachable server, or on SQLite,
 * they read it once a second as before). NULL on SQLite: nothing to do. */
struct db_listener *db_listen_start(void (*fn)(void *ctx), void *ctx);
void db_listen_stop(struct db_listener *l);

/* ---- fault injection (tests) ------------------------------------------------------------ */

/* Arms one fault: the (skip + 1)-th step from now of a statement whose SQL
 * contains sql_part answers rc (an SQLite result code such as SQLITE_IOERR,
 * 10) instead of running; the fault is then disarmed. NULL disarms it.
 * Process-wide; for tests, which is why nothing else calls it. */
void db_fault_step(const char *sql_part, unsigned skip, int rc);

#endif
