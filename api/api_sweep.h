/*
 * api_sweep.h — hyper-parameter sweeps: POST /v1/sweeps bodies expanded into
 * ordinary model and job bodies (one per point), each validated as
 * POST /v1/models and POST /v1/jobs would validate it, and sweeps with their
 * ranked points to JSON.
 *
 * A parameter path addresses a value inside a template: "model.<path>" or
 * "job.<path>" name the template; a path without that prefix goes to the
 * template whose top level has its first key, or when neither has it, to the
 * body whose decoder takes that key (422 when both or neither do).
 * <path> is keys and [index]es ("layers[0].units", "optimizer.learning_rate"):
 * an [index] must exist in the template; a missing key is added (with an
 * object for each missing step on the way), so fields the templates leave to
 * their defaults (or that fitd learns later) can be swept without a code
 * change — the ordinary decoders then judge them.
 *
 * Ownership: decoders fill caller-owned structs, released by the matching
 * *_free; encoders return new text (free with free()) or NULL.
 */
#ifndef FITD_API_SWEEP_H
#define FITD_API_SWEEP_H

#include "api/api.h"

#define API_SWEEP_MAX_POINTS 256      /* points (models and jobs) of one sweep */
#define API_SWEEP_MAX_EPOCHS 100000   /* epochs summed over a sweep's points */
#define API_SWEEP_MAX_PARAMS 32       /* parameter paths of one sweep */

enum api_sweep_kind { API_SWEEP_GRID, API_SWEEP_RANDOM };

/* One point: its parameters and the model and job bodies they make. */
struct api_sweep_point {
	char *params;                 /* {"path": value, ...} (new; freed by api_sweep_req_free) */
	struct api_model_def model;   /* seed filled in */
	struct api_job_req job;       /* model_id 0 (the sweep creates the model); seed filled in */
};

struct api_sweep_req {
	char name[API_NAME_MAX + 1];
	enum api_sweep_kind kind;
	enum nn_monitor metric;       /* loss, val_loss, accuracy, val_accuracy */
	bool maximize;                /* mode "max" */
	char *definition;             /* {"model", "job", "grid" | "random"} as stored (new) */
	size_t n_points;
	struct api_sweep_point *points;
	uint64_t total_epochs;
};

/* Seeds for what the body leaves out: a template without "seed" (model, job;
 * every point shares them, so points differ only by their parameters) and a
 * random sweep without random.seed. */
struct api_sweep_seeds {
	uint64_t model, job, random;
};

/* Decodes and expands POST /v1/sweeps. Every point is validated as an
 * ordinary model and job body (its dataset fit is the server's to check):
 * 422 naming the sweep field ("grid.layers[0].units", "random.trials",
 * "metric") and, for a point, its index and parameters in the message.
 * Limits (points, epochs summed over points) are checked before expanding. */
int api_sweep_decode(const char *body, size_t len, const struct api_sweep_seeds *seeds, struct api_sweep_req *out,
		     struct api_err *err);
void api_sweep_req_free(struct api_sweep_req *req);

const char *api_sweep_metric_name(enum nn_monitor metric);

/* One point as read back. */
struct api_sweep_point_info {
	uint32_t index;
	const char *params;           /* JSON object text; borrowed */
	int64_t model_id, job_id;     /* 0 once deleted */
	enum api_job_status status;
	uint32_t epoch, epochs;
	double best;                  /* best value of the metric over its epochs; NaN when none */
	uint32_t best_epoch;          /* its epoch (the first to reach it); 0 when none */
	uint32_t rank;                /* 1-based, set by api_sweep_rank */
};

/* A sweep as read back. */
struct api_sweep_info {
	int64_t id;
	char name[API_NAME_MAX + 1];
	enum api_sweep_kind kind;
	enum nn_monitor metric;
	bool maximize;
	const char *definition;       /* borrowed */
	uint32_t n_points;
	bool cancel_requested;
	uint64_t counts[API_JOB_N_STATUS]; /* its points' jobs per status */
	char created_at[API_TIME_LEN];
};

/* queued (no point started), running, succeeded (every point), failed (one
 * failed), cancelled. */
const char *api_sweep_status(const struct api_sweep_info *s);
/* Sorts the points best first by their best metric (min or max), points
 * without one last, ties by index; sets rank. */
void api_sweep_rank(struct api_sweep_point_info *p, size_t n, bool maximize);
/* The sweep with its templates and, when points is not NULL, its ranked points. */
char *api_sweep_encode(const struct api_sweep_info *s, const struct api_sweep_point_info *points, size_t n);
char *api_sweep_list_encode(const struct api_sweep_info *items, size_t n, uint64_t total);
/* A sweep stream event's data: {"point", "job_id", "event": <data>}. */
char *api_sweep_event_encode(uint32_t point, int64_t job_id, const char *data);

#endif
