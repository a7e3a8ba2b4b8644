/*
 * api_job.c — training jobs: POST /v1/jobs bodies to fit options, the check
 * that a dataset fits a model (done at submit time, so a job that cannot run
 * is refused with a 422 instead of failing later), and jobs, epochs and
 * histories to JSON.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

static const char *const monitor_names[] = {"loss", "val_loss", "accuracy", "val_accuracy"};

static int decode_early_stopping(const cJSON *root, struct nn_fit_opts *fit, struct api_err *err)
{
	static const char *const keys[] = {"monitor", "patience", "min_delta", NULL};
	const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "early_stopping");
	char monitor[16] = "val_loss";
	int64_t patience = 0;
	bool found = false;

	if (!es || cJSON_IsNull(es))
		return 0;
	if (api_obj_check(es, "early_stopping", "early_stopping", keys, err) ||
	    api_get_string(es, "early_stopping", "monitor", false, sizeof monitor - 1, monitor, err) ||
	    api_get_int(es, "early_stopping", "patience", false, 0, NN_MAX_EPOCHS, &patience, err) ||
	    api_get_number(es, "early_stopping", "min_delta", false, 0.0, 1e30, &fit->min_delta, err))
		return -1;
	for (int i = 0; i < 4; i++) {
		if (strcmp(monitor, monitor_names[i]) == 0) {
			fit->monitor = (enum nn_monitor)i;
			found = true;
		}
	}
	if (!found)
		return api_fail(err, API_VALIDATION_FAILED, "early_stopping.monitor",
				"early_stopping.monitor must be loss, val_loss, accuracy or val_accuracy");
	fit->early_stopping = true;
	fit->patience = (uint32_t)patience;
	return 0;
}

int api_job_decode(const char *body, size_t len, struct api_job_req *out, struct api_err *err)
{
	static const char *const keys[] = {"model_id", "dataset_id", "validation_dataset_id", "epochs", "batch_size",
					   "validation_split", "shuffle", "seed", "early_stopping", NULL};
	cJSON *root = api_json_parse(body, len, err);
	int64_t epochs = 1, batch = 32, seed = 0;
	int rc = -1;

	if (!root)
		return -1;
	memset(out, 0, sizeof *out);
	out->fit.shuffle = true;
	out->fit.monitor = NN_MONITOR_VAL_LOSS;
	if (api_obj_check(root, "", "the job body", keys, err) ||
	    api_get_int(root, "", "model_id", true, 1, INT64_MAX, &out->model_id, err) ||
	    api_get_int(root, "", "dataset_id", true, 1, INT64_MAX, &out->dataset_id, err) ||
	    api_get_int(root, "", "validation_dataset_id", false, 1, INT64_MAX, &out->validation_dataset_id, err) ||
	    api_get_int(root, "", "epochs", false, 1, NN_MAX_EPOCHS, &epochs, err) ||
	    api_get_int(root, "", "batch_size", false, 1, NN_MAX_BATCH, &batch, err) ||
	    api_get_number(root, "", "validation_split", false, 0.0, 0.999999, &out->fit.validation_split, err) ||
	    api_get_bool(root, "", "shuffle", false, &out->fit.shuffle, err) ||
	    api_get_int(root, "", "seed", false, 0, 9007199254740991LL, &seed, err) ||
	    decode_early_stopping(root, &out->fit, err))
		goto out;
	if (out->validation_dataset_id && out->fit.validation_split > 0) {
		api_fail(err, API_VALIDATION_FAILED, "validation_split",
			 "give either validation_split or validation_dataset_id, not both");
		goto out;
	}
	out->fit.epochs = (uint32_t)epochs;
	out->fit.batch_size = (uint32_t)batch;
	out->has_seed = cJSON_GetObjectItemCaseSensitive(root, "seed") &&
			!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "seed"));
	out->fit.seed = (uint64_t)seed;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int api_dataset_fits(const struct nn_model_spec *spec, const struct api_dataset_info *d, const char *field,
		     struct api_err *err)
{
	uint32_t outputs = nn_spec_outputs(spec);
	const char *loss = spec->loss.kind == NN_LOSS_BINARY_CROSSENTROPY ? "binary_crossentropy"
			   : spec->loss.kind == NN_LOSS_CATEGORICAL_CROSSENTROPY ? "categorical_crossentropy"
			   : "this loss";

	/* Categorical columns are one-hot encoded by the model's preprocessing. */
	if ((d->n_categorical || d->n_missing) && d->encoded_width != spec->input_dim)
		return api_fail(err, API_VALIDATION_FAILED, field,
				"dataset %lld has %u feature columns, %u of them categorical, which one-hot encode to %u "
				"inputs; the model's input_dim is %u (make it %u)",
				(long long)d->id, d->n_features, d->n_categorical, d->encoded_width, spec->input_dim,
				d->encoded_width);
	if (!(d->n_categorical || d->n_missing) && d->n_features != spec->input_dim)
		return api_fail(err, API_VALIDATION_FAILED, field,
				"dataset %lld has %u features but the model's input_dim is %u", (long long)d->id,
				d->n_features, spec->input_dim);
	switch (spec->loss.kind) {
	case NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
		if (d->y_dim != 0)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"sparse_categorical_crossentropy needs one integer class label per row; dataset "
					"%lld has rows of %u targets (use categorical_crossentropy for one-hot rows)",
					(long long)d->id, d->y_dim);
		if (!d->y_integral || d->y_min < 0 || d->y_max > (double)outputs - 1)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"labels must be integers in 0..%u for a model with %u output units; dataset %lld "
					"has labels in %g..%g",
					outputs - 1, outputs, (long long)d->id, d->y_min, d->y_max);
		return 0;
	case NN_LOSS_CATEGORICAL_CROSSENTROPY:
		if (d->y_dim != outputs)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"categorical_crossentropy needs rows of %u targets (one-hot) for %u output units; "
					"dataset %lld has %s",
					outputs, outputs, (long long)d->id,
					d->y_dim ? "rows of another width" :
						   "one label per row (use sparse_categorical_crossentropy)");
		return 0;
	case NN_LOSS_BINARY_CROSSENTROPY:
		if (d->y_min < 0 || d->y_max > 1)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"binary_crossentropy needs targets in 0..1; dataset %lld has %g..%g",
					(long long)d->id, d->y_min, d->y_max);
		/* fall through */
	default:
		if (!(d->y_dim == 0 && outputs == 1) && d->y_dim != outputs)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s needs %u target%s per row for %u output units; dataset %lld has %u", loss,
					outputs, outputs == 1 ? "" : "s", outputs, (long long)d->id,
					d->y_dim ? d->y_dim : 1);
		return 0;
	}
}

int api_job_check(const struct api_job_req *req, const struct api_model_def *model,
		  const struct api_dataset_info *train, const struct api_dataset_info *val, struct api_err *err)
{
	const struct nn_fit_opts *fit = &req->fit;
	uint64_t n_train = train->n_samples, n_val = 0, batch;

	if (api_dataset_fits(&model->spec, train, "dataset_id", err) ||
	    (val && api_dataset_fits(&model->spec, val, "validation_dataset_id", err)))
		return -1;
	if (val) {
		n_val = val->n_samples;
	} else if (fit->validation_split > 0) {
		n_train = (uint64_t)floor((double)train->n_samples * (1.0 - fit->validation_split));
		n_val = train->n_samples - n_train;
		if (n_train == 0 || n_val == 0)
			return api_fail(err, API_VALIDATION_FAILED, "validation_split",
					"validation_split %g of %llu rows leaves %s empty", fit->validation_split,
					(unsigned long long)train->n_samples, n_train ? "the validation set" : "no training rows");
	}
	if (fit->early_stopping) {
		bool wants_val = fit->monitor == NN_MONITOR_VAL_LOSS || fit->monitor == NN_MONITOR_VAL_ACCURACY;
		bool wants_acc = fit->monitor == NN_MONITOR_ACCURACY || fit->monitor == NN_MONITOR_VAL_ACCURACY;

		if (wants_val && n_val == 0)
			return api_fail(err, API_VALIDATION_FAILED, "early_stopping.monitor",
					"early_stopping.monitor %s needs validation data (validation_split or "
					"validation_dataset_id)",
					monitor_names[fit->monitor]);
		if (wants_acc && nn_spec_task(&model->spec) == NN_TASK_REGRESSION)
			return api_fail(err, API_VALIDATION_FAILED, "early_stopping.monitor",
					"early_stopping.monitor %s needs a classification loss", monitor_names[fit->monitor]);
	}
	batch = fit->batch_size < n_train ? fit->batch_size : n_train;
	if (nn_spec_batch_floats(&model->spec, batch) > NN_MAX_BATCH_FLOATS)
		return api_fail(err, API_VALIDATION_FAILED, "batch_size",
				"batch_size %u needs more than %llu floats of activations for this model; use a smaller "
				"batch",
				fit->batch_size, (unsigned long long)NN_MAX_BATCH_FLOATS);
	return 0;
}

static void req_fields(cJSON *o, const struct api_job_req *req)
{
	const struct nn_fit_opts *fit = &req->fit;

	api_add_number(o, "epochs", fit->epochs);
	api_add_number(o, "batch_size", fit->batch_size);
	api_add_number(o, "validation_split", fit->validation_split);
	cJSON_AddBoolToObject(o, "shuffle", fit->shuffle);
	api_add_number(o, "seed", (double)fit->seed);
	if (fit->early_stopping) {
		cJSON *es = cJSON_AddObjectToObject(o, "early_stopping");

		cJSON_AddStringToObject(es, "monitor", monitor_names[fit->monitor]);
		api_add_number(es, "patience", fit->patience);
		api_add_number(es, "min_delta", fit->min_delta);
	} else {
		cJSON_AddNullToObject(o, "early_stopping");
	}
}

char *api_job_req_encode(const struct api_job_req *req)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();

	api_add_number(o, "model_id", (double)req->model_id);
	api_add_number(o, "dataset_id", (double)req->dataset_id);
	if (req->validation_dataset_id)
		api_add_number(o, "validation_dataset_id", (double)req->validation_dataset_id);
	req_fields(o, req);
	return api_json_print_free(o, failures);
}

const char *api_job_status_name(enum api_job_status s)
{
#define API_JOB_STATUS_NAME(name, text) text,
	static const char *const names[] = {API_JOB_STATUS_MAP(API_JOB_STATUS_NAME)};
#undef API_JOB_STATUS_NAME
	return (unsigned)s < API_JOB_N_STATUS ? names[s] : "failed";
}

bool api_job_status_parse(const char *s, enum api_job_status *out)
{
	for (int i = 0; i < API_JOB_N_STATUS; i++) {
		if (strcmp(s, api_job_status_name((enum api_job_status)i)) == 0) {
			*out = (enum api_job_status)i;
			return true;
		}
	}
	return false;
}

static void add_if_finite(cJSON *o, const char *key, double v)
{
	if (isfinite(v))
		api_add_number(o, key, v);
}

static cJSON *epoch_json(const struct api_epoch *e)
{
	cJSON *o = cJSON_CreateObject();

	api_add_number(o, "epoch", e->epoch);
	add_if_finite(o, "loss", e->loss);
	add_if_finite(o, "accuracy", e->accuracy);
	add_if_finite(o, "val_loss", e->val_loss);
	add_if_finite(o, "val_accuracy", e->val_accuracy);
	api_add_number(o, "seconds", isfinite(e->seconds) ? e->seconds : 0.0);
	return o;
}

static void add_time(cJSON *o, const char *key, const char *t)
{
	if (t[0])
		cJSON_AddStringToObject(o, key, t);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *job_json(const struct api_job_info *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *metrics;

	api_add_number(o, "id", (double)j->id);
	api_add_number(o, "model_id", (double)j->model_id);
	if (j->dataset_id)
		api_add_number(o, "dataset_id", (double)j->dataset_id);
	else
		cJSON_AddNullToObject(o, "dataset_id");
	if (j->validation_dataset_id)
		api_add_number(o, "validation_dataset_id", (double)j->validation_dataset_id);
	cJSON_AddStringToObject(o, "status", api_job_status_name(j->status));
	api_add_number(o, "epoch", j->epoch);
	req_fields(o, &j->req);
	metrics = cJSON_AddObjectToObject(o, "metrics");
	if (j->epoch > 0) {
		add_if_finite(metrics, "loss", j->last.loss);
		add_if_finite(metrics, "accuracy", j->last.accuracy);
		add_if_finite(metrics, "val_loss", j->last.val_loss);
		add_if_finite(metrics, "val_accuracy", j->last.val_accuracy);
	}
	api_json_add(o, "samples_per_second", api_json_number_or_null(j->samples_per_second));
	if (j->error[0])
		cJSON_AddStringToObject(o, "error", j->error);
	else
		cJSON_AddNullToObject(o, "error");
	api_add_number(o, "attempts", j->attempts);
	add_time(o, "weights_sha256", j->weights_sha256);
	add_time(o, "kernels", j->kernels);
	cJSON_AddStringToObject(o, "created_at", j->created_at);
	add_time(o, "started_at", j->started_at);
	add_time(o, "finished_at", j->finished_at);
	return o;
}

char *api_job_encode(const struct api_job_info *j)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(job_json(j), failures);
}

char *api_job_list_encode(const struct api_job_info *items, size_t n, uint64_t total)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, job_json(&items[i]));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o, failures);
}

char *api_epoch_encode(const struct api_epoch *e)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(epoch_json(e), failures);
}

char *api_history_encode(int64_t job_id, const struct api_epoch *epochs, size_t n)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr;

	api_add_number(o, "job_id", (double)job_id);
	arr = cJSON_AddArrayToObject(o, "epochs");
	for (size_t i = 0; i < n; i++)
		api_json_append(arr, epoch_json(&epochs[i]));
	return api_json_print_free(o, failures);
}
