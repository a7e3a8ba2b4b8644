/*
 * db_sweep.h — sweeps in the store: a sweep, its points, and each point's
 * model and job, created in one transaction; read back with each point's job
 * status and best metric; cancelled as a whole; and the event log of all its
 * jobs as one stream. Errors, ownership and idempotency as in db.h.
 */
#ifndef FITD_DB_SWEEP_H
#define FITD_DB_SWEEP_H

#include "api/api_sweep.h"
#include "server/store/db.h"

/* What a point adds to the request: its model's initial state. */
struct db_sweep_state {
	const uint8_t *state;
	size_t len;
	uint64_t n_params;
};

/* Inserts the sweep, its points, one untrained model and one queued job per
 * point (states[i] for point i), in one transaction, after checking inside
 * it that the datasets exist and the queue has room for every point (503
 * queue_full). Fills *id. Returns 1 when idem replays an earlier request. */
int db_sweep_create(struct db *db, const struct api_sweep_req *req, const struct db_sweep_state *states,
		    unsigned capacity, const struct db_idem *idem, int64_t *id, struct api_err *err);
/* The sweep (its definition new: release with db_sweep_free(info, 1)). */
int db_sweep_get(struct db *db, int64_t id, struct api_sweep_info *info, struct api_err *err);
/* Newest first; release with db_sweep_free(items, n). */
int db_sweep_list(struct db *db, uint32_t limit, uint64_t offset, struct api_sweep_info **items, size_t *n,
		  uint64_t *total, struct api_err *err);
/* Frees the definitions of n infos and, when they are an array the store
 * made, the array itself (free_array). */
void db_sweep_free(struct api_sweep_info *items, size_t n, bool free_array);
/* The points of a sweep in index order, each with its job's status and the
 * best value of metric over its epochs (min, or max when maximize). Release
 * with db_sweep_points_free. */
int db_sweep_points(struct db *db, int64_t id, enum nn_monitor metric, bool maximize,
		    struct api_sweep_point_info **points, size_t *n, struct api_err *err);
void db_sweep_points_free(struct api_sweep_point_info *points, size_t n);
/* Flags the sweep cancelled, cancels its queued jobs and flags its running
 * ones, in one transaction; *running (new) lists the running jobs for their
 * workers. 409 when no point is left to cancel. */
int db_sweep_cancel(struct db *db, int64_t id, int64_t **running, size_t *n_running, struct api_err *err);
/* Deletes the sweep with its points' models (and so their jobs, histories
 * and predictions) in one transaction; *models (new) lists the models
 * deleted, for the model cache. 409 while a point is queued or running. */
int db_sweep_delete(struct db *db, int64_t id, int64_t **models, size_t *n_models, struct api_err *err);
/* The events of the sweep's jobs after event id `after` (ids are the job
 * events' row ids: increasing in commit order), at most max; each data is
 * {"point", "job_id", "event"}. *final: every job has ended and no event
 * follows the last one returned. */
int db_sweep_events(struct db *db, int64_t id, int64_t after, size_t max, struct db_event **events, size_t *n,
		    bool *final, struct api_err *err);

#endif
