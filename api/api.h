/*
 * api.h — the language of fitd's HTTP API: request bodies in, validated structs
 * out; records in, response bodies out; every error as one value.
 *
 * DESIGN
 * Pure translation. No I/O, no SQL, no libmicrohttpd: every validation rule is
 * unit-testable without a server. The server decodes a request with api_*,
 * acts on the result with db_ / jobq_, and encodes its answer with api_*.
 * JSON is read strictly (case-sensitive keys, unknown keys refused, numbers
 * finite, integers integral); the first failing check fills a struct api_err
 * whose field is the JSON path of the culprit ("layers[1].units").
 *
 * Ownership: decoders fill caller-owned structs; anything they allocate is
 * released by the matching *_free. Encoders return a new NUL-terminated string
 * (free with free()), or NULL when out of memory.
 * Thread-safety: every function is reentrant.
 */
#ifndef FITD_API_H
#define FITD_API_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nn.h"

/* ---- errors ---------------------------------------------------------------- */

/* The error table (docs/API.md, "Errors"): name, HTTP status, code string,
 * Retry-After in seconds (0: no header). */
#define API_ERRORS(X)                                                   \
	X(API_OK, 200, "ok", 0)                                         \
	X(API_INVALID_JSON, 400, "invalid_json", 0)                     \
	X(API_INVALID_CSV, 400, "invalid_csv", 0)                       \
	X(API_INVALID_NPY, 400, "invalid_npy", 0)                       \
	X(API_BAD_REQUEST, 400, "bad_request", 0)                       \
	X(API_UNAUTHORIZED, 401, "unauthorized", 0)                     \
	X(API_NOT_FOUND, 404, "not_found", 0)                           \
	X(API_METHOD_NOT_ALLOWED, 405, "method_not_allowed", 0)         \
	X(API_CONFLICT, 409, "conflict", 0)                             \
	X(API_PAYLOAD_TOO_LARGE, 413, "payload_too_large", 0)           \
	X(API_URI_TOO_LONG, 414, "uri_too_long", 0)                     \
	X(API_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", 0) \
	X(API_VALIDATION_FAILED, 422, "validation_failed", 0)           \
	X(API_HEADERS_TOO_LARGE, 431, "headers_too_large", 0)           \
	X(API_INTERNAL, 500, "internal_error", 0)                       \
	X(API_QUEUE_FULL, 503, "queue_full", 5)                         \
	X(API_SHUTTING_DOWN, 503, "shutting_down", 2)                   \
	X(API_UNAVAILABLE, 503, "unavailable", 2)

enum api_code {
#define API_ENUM(name, status, code, retry_after) name,
	API_ERRORS(API_ENUM)
#undef API_ENUM
	API_CODE_COUNT
};

struct api_err {
	enum api_code code; /* API_OK while nothing failed */
	char field[160];    /* JSON path or parameter name; "" when none */
	char message[400];
};

/* Records the failure in *err and returns -1, so a check reads
 * `return api_fail(err, API_VALIDATION_FAILED, "epochs", "must be ...");`.
 * field may be NULL. */
int api_fail(struct api_err *err, enum api_code code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The one fail function: api_fail and the server's http_fail wrap it. */
int api_failv(struct api_err *err, enum api_code code, const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
int api_status(enum api_code code);
/* Seconds a client should wait before retrying (the Retry-After header), 0
 * when the error is not worth retrying as is. */
int api_retry_after(enum api_code code);
const char *api_code_name(enum api_code code);
/* {"error": {"code", "message", "field"}} — field omitted when empty. */
char *api_err_json(const struct api_err *err);

/* ---- memory --------------------------------------------------------------------- */

/* malloc, calloc, realloc and strdup for api/ (cJSON uses api_malloc too):
 * NULL on failure, and every failure is counted for the calling thread. */
void *api_malloc(size_t size);
void *api_calloc(size_t n, size_t size);
void *api_realloc(void *p, size_t size);
char *api_strdup(const char *s);
/* Allocation failures on this thread so far (a decoder or an encoder
 * compares the count before and after a cJSON call). */
unsigned long api_alloc_failures(void);
/* Test hook: the n-th allocation from now (1 = the next), in any thread,
 * fails once; n <= 0 disarms. api_alloc_fail_pending: not reached yet. */
void api_alloc_fail_nth(long n);
bool api_alloc_fail_pending(void);

/* ---- the growable buffer ------------------------------------------------------------ */

/* fitd's one growable buffer: large numeric JSON (weights, predictions, where
 * a cJSON node per number would cost ~80 bytes each), /metrics, SSE streams,
 * request bodies. Zero-initialise it; the text stays NUL-terminated. An
 * allocation failure sets failed, after which every append is a no-op, so a
 * writer checks once at the end. */
struct api_buf {
	char *data;
	size_t len, cap;
	size_t max;  /* 0, or the largest len it will hold: growth stops at max + 1 bytes */
	bool failed; /* an allocation failed (or max would be passed) */
};
void api_buf_put(struct api_buf *b, const char *s, size_t n);
void api_buf_puts(struct api_buf *b, const char *s);
void api_buf_printf(struct api_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void api_buf_vprintf(struct api_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* A float32 that parses back to the same float32 ("%.9g"), or null when not finite. */
void api_buf_float(struct api_buf *b, float v);
/* Empties the buffer, keeping its memory. */
void api_buf_clear(struct api_buf *b);
/* Returns the NUL-terminated text (new; free with free()) and leaves b
 * empty, or NULL (b freed) if anything failed. */
char *api_buf_finish(struct api_buf *b);
/* Frees the text; b is empty again. */
void api_buf_free(struct api_buf *b);

/* ---- small values ----------------------------------------------------------- */

/* Current time as RFC 3339 UTC is produced by the server; api only carries it. */
#define API_TIME_LEN 24
#define API_NODE_ID_MAX 127
#define API_NAME_MAX 128
/* Does a finite double round to a finite float32? */
bool api_fits_float(double v);
/* A name (dataset, model): 1..API_NAME_MAX bytes of UTF-8, no control characters. */
bool api_name_valid(const char *s);

/* ---- datasets --------------------------------------------------------------- */

enum api_y_kind { API_Y_CLASS, API_Y_ONE_HOT, API_Y_REAL };
const char *api_y_kind_name(enum api_y_kind kind);

/* What is known of a stored dataset without reading its rows. y_dim 0 means
 * one value per row (y_shape [n]); y_dim k means rows of k values. */
struct api_dataset_info {
	int64_t id;
	char name[API_NAME_MAX + 1];
	uint64_t n_samples;
	uint32_t n_features;
	uint32_t y_dim;
	enum api_y_kind y_kind;
	uint32_t n_classes;   /* 0 for real-valued targets */
	double y_min, y_max;  /* over every target value */
	bool y_integral;      /* every target value is an integer */
	char created_at[API_TIME_LEN];
	uint32_t n_categorical; /* categorical feature columns (CSV uploads) */
	uint64_t n_missing;     /* missing feature cells (CSV uploads) */
	uint32_t encoded_width; /* inputs once one-hot encoded; 0: n_features */
};

/* task= of an upload: the guess of y_kind, or what the user says it is. */
enum api_task { API_TASK_AUTO, API_TASK_CLASSIFICATION, API_TASK_REGRESSION };
/* "classification" / "regression" (NULL: auto); false for anything else. */
bool api_task_parse(const char *s, enum api_task *out);
/* Applies task to the guess api_y_stats_finish made; text_label: the label
 * column held text (its values are class indices). 422 naming "task" when
 * the targets cannot be that. */
int api_dataset_task(struct api_dataset_info *info, enum api_task task, bool text_label, struct api_err *err);

/* Running statistics of the targets, fed row by row, that decide y_kind. */
struct api_y_stats {
	uint32_t y_dim;
	uint64_t n;
	double min, max;
	bool integral;   /* all values integers */
	bool one_hot;    /* every row so far is one 1 and zeros (y_dim >= 2) */
};
void api_y_stats_init(struct api_y_stats *s, uint32_t y_dim);
void api_y_stats_add(struct api_y_stats *s, const float *y_row);
/* Fills y_kind, n_classes, y_min, y_max, y_integral, y_dim of info. */
void api_y_stats_finish(const struct api_y_stats *s, struct api_dataset_info *info);

/* A JSON dataset body decoded: x is n x n_features, y is n x max(1, y_dim),
 * both float32 row-major, owned by the struct. */
struct api_dataset_body {
	struct api_dataset_info info;
	float *x;
	float *y;
};

/* Limits applied while decoding (the server's configuration). */
struct api_limits {
	uint64_t max_rows;       /* samples of a dataset */
	uint64_t max_cells;      /* rows x (features + y values) */
	uint32_t max_instances;  /* rows of one predict request */
};

int api_dataset_decode(const char *body, size_t len, const struct api_limits *lim,
		       struct api_dataset_body *out, struct api_err *err);
void api_dataset_body_free(struct api_dataset_body *d);
char *api_dataset_encode(const struct api_dataset_info *d);
/* The same with what a CSV upload stored: columns and class_names are the
 * JSON texts (NULL: null), embedded as "columns" and "class_names". */
char *api_dataset_encode_full(const struct api_dataset_info *d, const char *columns, const char *class_names);
/* GET /v1/datasets/{id}/rows: {"columns": [names], "rows": [{name: value}],
 * "offset", "total"} for n rows of x (n x n_features) and y (n x max(1,
 * y_dim)) starting at offset. columns is the stored JSON of a CSV upload (NULL
 * for a JSON upload: then features are "x[0]".. and the target "y");
 * categorical cells become their category's text, missing ones null. */
char *api_dataset_rows_encode(const struct api_dataset_info *d, const char *columns, const float *x, const float *y,
			      size_t n, uint64_t offset);
/* {"items": [...], "total": total} */
char *api_dataset_list_encode(const struct api_dataset_info *items, size_t n, uint64_t total);

/* ---- CSV --------------------------------------------------------------------- */

/* Incremental CSV reader for dataset uploads: one label column, the others
 * features. Bytes arrive in chunks of any size; rows leave through on_row as
 * soon as they are complete. Memory is bounded by one row plus, per column,
 * its name, its statistics and (categorical columns) its categories, whatever
 * the body size.
 *
 * A column's kind is fixed by its first cell that is not missing: a number
 * makes it numeric (a later cell that is not a number is a 400 naming it), text
 * makes it categorical (every later cell is a category, numbers included).
 * Missing cells: empty, NA, N/A, null, ? (also quoted). In the rows handed to
 * on_row a numeric cell is its float32, a categorical one its category's
 * index (0, 1, ... in order of first appearance), a missing one NaN. A label
 * cell may not be missing; a text label's classes are renumbered in byte
 * order at the end (api_csv_label_remap). */
#define API_CSV_MAX_COLUMNS 65536      /* columns of a CSV upload, label included */
#define API_CSV_MAX_CATEGORIES 1000    /* distinct values of one categorical column */
#define API_CSV_CATEGORY_BYTES (16u << 20) /* every category of an upload: its text + 48 bytes */
enum api_csv_header { API_CSV_HEADER_AUTO, API_CSV_HEADER_NO, API_CSV_HEADER_YES };
struct api_csv_opts {
	/* Does the first line name the columns? AUTO: yes when any of its cells
	 * is not a number. */
	enum api_csv_header header;
	const char *label_name; /* label column by name (needs header), or NULL */
	long label_index;       /* 0-based column, or -1 for the last column */
	uint64_t max_rows;
	uint64_t max_cells;
	char delimiter;         /* between cells; 0 means ',' */
};
/* Called once per data row: features (n_features values) and the label.
 * Returning nonzero stops the parse; the callback should then have filled err. */
typedef int (*api_csv_row_fn)(void *ctx, const float *features, uint32_t n_features,
			      float label, struct api_err *err);
struct api_csv;
/* Returns a new reader or NULL (out of memory). The opts strings are copied. */
struct api_csv *api_csv_create(const struct api_csv_opts *opts, api_csv_row_fn on_row, void *ctx);
void api_csv_destroy(struct api_csv *csv);
/* Feeds the next bytes. Returns 0, or -1 with err filled (400 invalid_csv
 * naming line and column, or 422 for a bad label option / limit). */
int api_csv_feed(struct api_csv *csv, const char *data, size_t len, struct api_err *err);
/* Ends the input (a last line without a newline is a row). Returns 0 or -1. */
int api_csv_finish(struct api_csv *csv, struct api_err *err);
uint32_t api_csv_n_features(const struct api_csv *csv);
uint64_t api_csv_n_rows(const struct api_csv *csv);
/* After a successful api_csv_finish: the columns, in the file's order, as
 * a JSON array (docs/API.md "Columns"): [{"name", "role", "kind", "count",
 * "missing", "min", "max", "mean", "std"} or {..., "categories": [{"value",
 * "count"}]}]. A new string, or NULL when out of memory. */
char *api_csv_columns_encode(const struct api_csv *csv);
/* The label's category names as a JSON array (["setosa", ...], in class
 * order), or NULL when the label column is numeric (or out of memory: then
 * *oom is set). */
char *api_csv_class_names_encode(const struct api_csv *csv, bool *oom);
/* After api_csv_finish, for a text label: the class of each label index
 * on_row was given (in order of first appearance), classes being the label's
 * values in byte order; *n entries. NULL (and *n 0) for a numeric label. The
 * stored targets must be rewritten through it. */
const uint32_t *api_csv_label_remap(const struct api_csv *csv, uint32_t *n);
/* The inputs the features make once categorical ones are one-hot encoded. */
uint32_t api_csv_encoded_width(const struct api_csv *csv);
/* Categorical feature columns, and missing feature cells, so far. */
uint32_t api_csv_n_categorical(const struct api_csv *csv);
uint64_t api_csv_n_missing(const struct api_csv *csv);
/* Is s[0..len) a missing-value token (empty, NA, N/A, null, ?)? */
bool api_csv_missing(const char *s, size_t len);

/* ---- preprocessing a model carries (api_prep.c) ------------------------------------ */

/* Per feature column: one-hot over the training rows' categories, or the
 * training rows' mean for a missing numeric cell. width: the encoded inputs. */
struct api_prep_col {
	char *name;
	bool categorical;
	double mean;      /* numeric: what a missing cell becomes */
	uint32_t n_cats;  /* categorical: its one-hot width */
	char **cats;
};
struct api_prep {
	uint32_t n_cols, width;
	struct api_prep_col *cols;
};
/* From a dataset's stored columns and its training rows: those of its n rows
 * (x: rows of n_features stored values: numbers, category indices of that
 * dataset, NaN) whose skip byte is 0 (skip NULL: all n; the validation rows
 * are skipped, nn_split_val_rows marks them). */
int api_prep_build(const char *columns, const float *x, size_t n, const uint8_t *skip, uint32_t n_features,
		   struct api_prep *p, struct api_err *err);
/* Encodes n stored rows of a dataset (its columns JSON) into out (n x p->width);
 * 422 naming dataset_id when its feature columns are not the model's. */
int api_prep_apply(const struct api_prep *p, const char *columns, const float *x, size_t n, uint32_t n_features,
		   float *out, struct api_err *err);
/* {"columns": [{"name", "kind": "numeric", "impute": mean} | {"name", "kind":
 * "categorical", "categories": [...]}], "width": W} */
char *api_prep_encode(const struct api_prep *p);
int api_prep_decode(const char *text, struct api_prep *p, struct api_err *err);
void api_prep_free(struct api_prep *p);

/* ---- models ------------------------------------------------------------------- */

struct api_model_def {
	char name[API_NAME_MAX + 1];
	struct nn_model_spec spec;
	bool accuracy;      /* "accuracy" among the metrics */
	uint32_t metrics;   /* NN_METRIC_BIT of every metric asked for (accuracy included) */
	bool has_seed;
	uint64_t seed;
};

/* Decodes POST /v1/models (plain or {"keras": ...} import) into *out.
 * Checks every field and the limits (nn_spec_check) without allocating for
 * the model. */
int api_model_decode(const char *body, size_t len, struct api_model_def *out, struct api_err *err);
/* Writes the mean and variance a model body gives its first layer
 * (normalization with norm_given) into the first 2 x input_dim parameters;
 * nothing for any other model. The body must have passed api_model_decode.
 * Returns 0 or -1 with err. */
int api_model_norm_fill(const char *body, size_t len, const struct nn_model_spec *spec, float *params,
			struct api_err *err);
/* A Keras metric name or alias ("acc", "mean_absolute_error") to its metric. */
bool api_metric_parse(const char *name, enum nn_metric *out);
/* The canonical definition (every default filled in), as stored and as read
 * back by api_model_decode. */
char *api_model_def_encode(const struct api_model_def *def);

enum api_model_status { API_MODEL_UNTRAINED, API_MODEL_TRAINING, API_MODEL_TRAINED };
const char *api_model_status_name(enum api_model_status s);
bool api_model_status_parse(const char *s, enum api_model_status *out);

struct api_model_info {
	int64_t id;
	struct api_model_def def;      /* def.name: "" for a model without a name */
	enum api_model_status status;
	uint64_t n_params;
	char created_at[API_TIME_LEN];
	char updated_at[API_TIME_LEN];
	bool named;                    /* the name addresses the model (unique); false for an old duplicate label */
	uint32_t version;              /* the version the current weights are; 0 when none */
};
char *api_model_encode(const struct api_model_info *m);
char *api_model_list_encode(const struct api_model_info *items, size_t n, uint64_t total);

/* Can s name a model (and so stand for it in /v1/models/{id})? A name is
 * 1..API_NAME_MAX bytes of UTF-8 without control characters or '/', is not
 * "." or "..", and is not digits only (that reads as an id). */
bool api_model_name_valid(const char *s);
/* PATCH /v1/models/{id}: {"name": "new name"} or {"name": null} (no name:
 * name becomes ""). 422 naming the field otherwise. */
int api_model_rename_decode(const char *body, size_t len, char name[API_NAME_MAX + 1], struct api_err *err);

/* ---- model versions ------------------------------------------------------------ */

/* Where a version's weights came from. */
enum api_version_source { API_VERSION_JOB, API_VERSION_WEIGHTS, API_VERSION_RESTORE };
const char *api_version_source_name(enum api_version_source s);
bool api_version_source_parse(const char *s, enum api_version_source *out);

/* One immutable version of a model's weights. Metrics are NaN when absent. */
struct api_version_info {
	int64_t model_id;
	uint32_t version;
	enum api_version_source source;
	int64_t job_id;               /* the job that trained it; 0 when none */
	uint32_t restored_from;       /* restore: the version made current again; 0 otherwise */
	char weights_sha256[65];
	uint32_t epoch;               /* a job's: epochs it committed; 0 otherwise */
	double loss, accuracy, val_loss, val_accuracy;
	bool current;                 /* the model's current weights are this version */
	char created_at[API_TIME_LEN];
};
char *api_version_encode(const struct api_version_info *v);
char *api_version_list_encode(const struct api_version_info *items, size_t n, uint64_t total);
/* A version number from a path segment or a query value: 1..2^31-1 in
 * decimal without sign or leading zeros; false otherwise. */
bool api_version_parse(const char *s, uint32_t *v);

/* GET /v1/models/{id}/weights from the flat parameter array. */
char *api_weights_encode(const struct nn_model_spec *spec, const float *params);
/* PUT /v1/models/{id}/weights: {"layers": [...]} as GET gives it, or Keras's
 * flat get_weights() list [kernel, bias, kernel, ...]; exact shapes of spec,
 * finite values, into params (n_params floats, caller-owned; partly written
 * on failure). */
int api_weights_decode(const char *body, size_t len, const struct nn_model_spec *spec,
		       float *params, struct api_err *err);

/* ---- export ------------------------------------------------------------------------ */

/* GET /v1/models/{id}/export?format=: the formats, one row each: enum, name,
 * Content-Type, file name extension. */
#define API_EXPORT_FORMATS(X)                                        \
	X(API_EXPORT_ONNX, "onnx", "application/octet-stream", ".onnx") \
	X(API_EXPORT_C, "c", "text/x-c; charset=utf-8", ".c")          \
	X(API_EXPORT_KERAS, "keras", "application/json", ".keras.json")
enum api_export_format {
#define API_EXPORT_ENUM(name, text, type, ext) name,
	API_EXPORT_FORMATS(API_EXPORT_ENUM)
#undef API_EXPORT_ENUM
};
/* The format named s; false when none is (the list is api_export_format_names). */
bool api_export_format_parse(const char *s, enum api_export_format *out);
/* "onnx, c, keras" */
const char *api_export_format_names(void);
const char *api_export_content_type(enum api_export_format f);
const char *api_export_extension(enum api_export_format f);
/* The model (its definition, id and flat parameters) in format f: a new
 * buffer (free with free()) of *len bytes, NUL-terminated for the text
 * formats. onnx: an ONNX model, opset 13, input "input" [N, input_dim],
 * output "output" = predict's predictions; c: one C99 file needing only
 * <math.h>; keras: {"config": model.to_json(), "weights": get_weights()}.
 * Returns NULL with err: 422 for what a format cannot express, 503 out of
 * memory. */
char *api_export(enum api_export_format f, const struct api_model_def *def, int64_t id, const float *params,
		 size_t *len, struct api_err *err);

/* ---- jobs ------------------------------------------------------------------------ */

struct api_job_req {
	int64_t model_id;              /* 0 when the body named the model: see model_name */
	char model_name[API_NAME_MAX + 1]; /* "model_id": "<name>" ("" for an id); the route resolves it */
	int64_t dataset_id;
	int64_t validation_dataset_id; /* 0 when none */
	struct nn_fit_opts fit;        /* epochs, batch_size, shuffle, seed, split, early stopping */
	bool has_seed;
};

int api_job_decode(const char *body, size_t len, struct api_job_req *out, struct api_err *err);
/* Does the data fit the model? 422 naming dataset_id / validation_dataset_id /
 * batch_size / validation_split / early_stopping.monitor otherwise.
 * val may be NULL. */
int api_job_check(const struct api_job_req *req, const struct api_model_def *model,
		  const struct api_dataset_info *train, const struct api_dataset_info *val,
		  struct api_err *err);
/* Do a dataset's features and targets fit the model (input_dim, the loss's
 * label form, the output units)? 422 naming field otherwise. */
int api_dataset_fits(const struct nn_model_spec *spec, const struct api_dataset_info *d, const char *field,
		     struct api_err *err);
/* The canonical job options as stored, and read back. */
char *api_job_req_encode(const struct api_job_req *req);

/* A job's states: the enum, the names in JSON and in the database, and their
 * count, from this one list. */
#define API_JOB_STATUS_MAP(X) \
	X(QUEUED, "queued") X(RUNNING, "running") X(SUCCEEDED, "succeeded") X(FAILED, "failed") X(CANCELLED, "cancelled")
enum api_job_status {
#define API_JOB_STATUS_ENUM(name, text) API_JOB_##name,
	API_JOB_STATUS_MAP(API_JOB_STATUS_ENUM)
#undef API_JOB_STATUS_ENUM
};
#define API_JOB_STATUS_ONE(name, text) +1
enum { API_JOB_N_STATUS = 0 API_JOB_STATUS_MAP(API_JOB_STATUS_ONE) };
#undef API_JOB_STATUS_ONE
const char *api_job_status_name(enum api_job_status s);
bool api_job_status_parse(const char *s, enum api_job_status *out);
static inline bool api_job_final(enum api_job_status s)
{
	return s == API_JOB_SUCCEEDED || s == API_JOB_FAILED || s == API_JOB_CANCELLED;
}

/* Metrics of one epoch; NaN for a value that does not exist. */
struct api_epoch {
	uint32_t epoch;
	double loss, accuracy, val_loss, val_accuracy;
	double seconds;
	/* The model's other metrics (NN_METRIC_BIT mask; accuracy stays above):
	 * values[m] and val_values[m] for each m in the mask, NaN when undefined. */
	uint32_t metrics;
	double values[NN_METRIC_COUNT], val_values[NN_METRIC_COUNT];
	double learning_rate; /* the optimizer's rate at the epoch's end; NaN: not recorded */
	uint32_t best_epoch;  /* early stopping's best epoch so far, 0 = none (not in the epoch JSON) */
	bool stop;            /* early stopping ended training after this epoch (not in the epoch JSON) */
};
/* The metrics of e beyond accuracy as a JSON object {"precision": .., "val_precision": ..}
 * (new; free with free()), stored with the epoch; NULL when there are none or
 * out of memory (*oom says which; may be NULL). */
char *api_epoch_metrics_encode(const struct api_epoch *e, bool *oom);
/* Reads such an object back into e (text NULL: none). Returns 0, -1 when
 * the text is damaged, -2 out of memory. */
int api_epoch_metrics_decode(const char *text, struct api_epoch *e);

struct api_job_info {
	int64_t id;
	int64_t model_id;
	int64_t dataset_id;            /* 0 once the dataset was deleted */
	int64_t validation_dataset_id; /* 0 when none */
	struct api_job_req req;
	enum api_job_status status;
	uint32_t epoch;                /* epochs finished */
	struct api_epoch last;         /* metrics of the last finished epoch */
	double samples_per_second;     /* NaN before the first epoch */
	char error[400];               /* "" when none */
	uint32_t attempts;
	char weights_sha256[65];       /* "" until succeeded */
	char kernels[64];              /* BLAS kernel sets it ran on, comma-separated; "" before it ran */
	/* Lineage: the datasets it was submitted with, kept when they are
	 * deleted (then dataset_id is 0 and the id lives on here). id 0: none. */
	struct api_job_dataset {
		int64_t id;
		char name[API_NAME_MAX + 1];
	} dataset, validation_dataset;
	char created_at[API_TIME_LEN];
	char started_at[API_TIME_LEN]; /* "" when not yet */
	char finished_at[API_TIME_LEN];
	uint32_t best_epoch;           /* early stopping's best epoch, 0 = none */
	uint32_t stopped_epoch;        /* the epoch early stopping ended training after, 0 = it did not */
	char node[API_NODE_ID_MAX + 1];/* the node running it, "" when not running */
	char nodes[1024];              /* the nodes it ran on, comma-separated, in order */
};
char *api_job_encode(const struct api_job_info *j);
char *api_job_list_encode(const struct api_job_info *items, size_t n, uint64_t total);
/* One epoch row as a single line of JSON (history items and SSE data). */
char *api_epoch_encode(const struct api_epoch *e);
char *api_history_encode(int64_t job_id, const struct api_epoch *epochs, size_t n);

/* ---- nodes (issue 15) ---------------------------------------------------------------------- */

/* A node id (--node-id): 1..API_NODE_ID_MAX bytes of ASCII letters, digits
 * and . _ - : @ (no comma: a job lists its nodes comma-separated). */
bool api_node_id_valid(const char *id);

struct api_node_info {
	char id[API_NODE_ID_MAX + 1];
	uint32_t workers;
	char started_at[API_TIME_LEN];
	char heartbeat_at[API_TIME_LEN];
	int64_t heartbeat_ms;          /* the last heartbeat, unix milliseconds */
	bool stopped;                  /* it stopped gracefully */
	int64_t *running;              /* the jobs it runs (new array) */
	size_t n_running;
};
void api_node_free(struct api_node_info *n);
/* {"items": [...], "total": n}. A node is alive when it did not stop and
 * its last heartbeat is younger than lease_ttl_ms at now_ms. */
char *api_node_list_encode(const struct api_node_info *items, size_t n, int64_t now_ms, unsigned lease_ttl_ms);

/* ---- predictions and evaluation ------------------------------------------------------- */

/* {"instances": [[...], ...]}: n rows of input_dim finite numbers into a new
 * float array *x (free with free()). */
/* The same, where a row may also be an object by column name
 * ({"sepal_length": 5.1, ...}) when feature_names (the model's JSON array, in
 * input order) is given: every name exactly once, each a finite number; an
 * unknown or missing name is a 422 naming instances[i].name. */
int api_instances_decode_named(const char *body, size_t len, uint32_t input_dim, const char *feature_names,
			       uint32_t max_rows, float **x, size_t *n, struct api_err *err);
/* The same through the model's preprocessing (prep_text, api_prep_encode's
 * JSON, or NULL): an object row then holds numbers or null for numeric
 * columns and a category's text or null for categorical ones, and is
 * encoded to input_dim (= the preprocessing's width) inputs. */
int api_instances_decode_model(const char *body, size_t len, uint32_t input_dim, const char *feature_names,
			       const char *prep_text, uint32_t max_rows, float **x, size_t *n, struct api_err *err);
/* The names of the "feature" columns of a stored columns array, as a JSON
 * array; NULL when columns is NULL or damaged (or out of memory). */
char *api_columns_feature_names(const char *columns);
int api_instances_decode(const char *body, size_t len, uint32_t input_dim, uint32_t max_rows,
			 float **x, size_t *n, struct api_err *err);
/* {"id": id (omitted when 0), "predictions": [[...]], "classes": [...] (when
 * classes != NULL)}; floats round-trip float32. */
char *api_predictions_encode(int64_t id, const float *out, size_t n, uint32_t outputs,
			     const int32_t *classes);
/* The same with "classes" as names: class_names is the model's JSON array
 * (NULL: indices, as api_predictions_encode). */
char *api_predictions_encode_named(int64_t id, const float *out, size_t n, uint32_t outputs,
				   const int32_t *classes, const char *class_names);
/* Adds "key": value (JSON text; NULL: null) at the end of an encoded JSON
 * object, taking ownership of object. A new string, or NULL. */
char *api_json_add_raw(char *object, const char *key, const char *value);

struct api_prediction_info {
	int64_t id;
	int64_t model_id;
	uint32_t n, input_dim, outputs;
	const float *inputs;    /* borrowed */
	const float *outputs_v; /* borrowed */
	const int32_t *classes; /* borrowed; NULL when none */
	char created_at[API_TIME_LEN];
};
char *api_prediction_encode(const struct api_prediction_info *p);
char *api_prediction_list_encode(const struct api_prediction_info *items, size_t n, uint64_t total);

/* {"dataset_id": N} */
int api_evaluate_decode(const char *body, size_t len, int64_t *dataset_id, struct api_err *err);
char *api_evaluate_encode(const struct nn_eval *e);
/* The same with the metrics of mask beyond accuracy (values indexed by enum
 * nn_metric, null where undefined) and, when confusion is non-NULL, the
 * classes x classes "confusion_matrix" (row: true class, column: predicted). */
char *api_evaluate_metrics_encode(const struct nn_eval *e, uint32_t mask, const double *values,
				  const uint64_t *confusion, uint32_t classes);

/* ---- service information ------------------------------------------------------------------ */

struct api_info {
	const char *version;
	const char *blas;
	const char *kernels;        /* the BLAS kernel set in use */
	const char *kernels_reason; /* why it was chosen */
	unsigned threads;           /* CPU threads training may use in all */
	unsigned workers, queue_capacity, http_threads, commit_interval_ms;
	bool auth;
	uint64_t max_body_bytes, max_upload_bytes, max_rows;
	unsigned max_instances;
};
/* GET /v1/info, with the core's limits. */
char *api_info_encode(const struct api_info *info);

/* ---- lists and query strings -------------------------------------------------------------- */

/* limit (1..500, default 50) and offset (>= 0, default 0) from query values
 * (NULL when absent). */
int api_page_parse(const char *limit, const char *offset, uint32_t *lim, uint64_t *off,
		   struct api_err *err);
/* A positive id from a URL segment or query value; false when not one. */
bool api_id_parse(const char *s, int64_t *id);

#endif
