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
static const char *const split_names[NN_SPLIT_COUNT] = {"tail", "random", "stratified"};

static int decode_split_mode(const cJSON *root, struct nn_fit_opts *fit, struct api_err *err)
{
	char mode[16] = "tail";

	if (api_get_string(root, "", "validation_split_mode", false, sizeof mode - 1, mode, err))
		return -1;
	for (int i = 0; i < NN_SPLIT_COUNT; i++) {
		if (strcmp(mode, split_names[i]) == 0) {
			fit->split = (enum nn_split)i;
			return 0;
		}
	}
	return api_fail(err, API_VALIDATION_FAILED, "validation_split_mode",
			"validation_split_mode must be tail, random or stratified");
}

static int decode_early_stopping(const cJSON *root, struct nn_fit_opts *fit, struct api_err *err)
{
	static const char *const keys[] = {"monitor", "patience", "min_delta", "restore_best_weights", NULL};
	const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "early_stopping");
	char monitor[16] = "val_loss";
	int64_t patience = 0;
	bool found = false;

	if (!es || cJSON_IsNull(es))
		return 0;
	if (api_obj_check(es, "early_stopping", "early_stopping", keys, err) ||
	    api_get_string(es, "early_stopping", "monitor", false, sizeof monitor - 1, monitor, err) ||
	    api_get_int(es, "early_stopping", "patience", false, 0, NN_MAX_EPOCHS, &patience, err) ||
	    api_get_number(es, "early_stopping", "min_delta", false, 0.0, 1e30, &fit->min_delta, err) ||
	    api_get_bool(es, "early_stopping", "restore_best_weights", false, &fit->restore_best_weights, err))
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

/* model_id: the model's id, or its name (a string), resolved by the route. */
static int decode_model_ref(const cJSON *root, struct api_job_req *out, struct api_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "model_id");

	if (!cJSON_IsString(item))
		return api_get_int(root, "", "model_id", true, 1, INT64_MAX, &out->model_id, err);
	if (api_get_string(root, "", "model_id", true, API_NAME_MAX, out->model_name, err))
		return -1;
	if (!api_model_name_valid(out->model_name))
		return api_fail(err, API_VALIDATION_FAILED, "model_id", "model_id must be a model's id or its name");
	return 0;
}

static const char *const plateau_modes[] = {"auto", "min", "max"};

/* "reduce_lr_on_plateau": Keras's ReduceLROnPlateau arguments and defaults
 * (monitor val_loss, factor 0.1, patience 10, mode auto, min_delta 1e-4,
 * cooldown 0, min_lr 0). */
static int decode_plateau(const cJSON *root, struct nn_fit_opts *fit, struct api_err *err)
{
	static const char *const keys[] = {"monitor", "factor", "patience", "mode", "min_delta", "cooldown", "min_lr",
					   NULL};
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "reduce_lr_on_plateau");
	char monitor[16] = "val_loss", mode[8] = "auto";
	int64_t patience = 10, cooldown = 0;
	bool found = false;

	if (!p || cJSON_IsNull(p))
		return 0;
	fit->plateau_factor = 0.1;
	fit->plateau_min_delta = 1e-4;
	fit->plateau_min_lr = 0.0;
	if (api_obj_check(p, "reduce_lr_on_plateau", "reduce_lr_on_plateau", keys, err) ||
	    api_get_string(p, "reduce_lr_on_plateau", "monitor", false, sizeof monitor - 1, monitor, err) ||
	    api_get_number(p, "reduce_lr_on_plateau", "factor", false, 0.0, 0.9999999999, &fit->plateau_factor,
			   err) ||
	    api_get_int(p, "reduce_lr_on_plateau", "patience", false, 0, NN_MAX_EPOCHS, &patience, err) ||
	    api_get_string(p, "reduce_lr_on_plateau", "mode", false, sizeof mode - 1, mode, err) ||
	    api_get_number(p, "reduce_lr_on_plateau", "min_delta", false, 0.0, 1e30, &fit->plateau_min_delta, err) ||
	    api_get_int(p, "reduce_lr_on_plateau", "cooldown", false, 0, NN_MAX_EPOCHS, &cooldown, err) ||
	    api_get_number(p, "reduce_lr_on_plateau", "min_lr", false, 0.0, 1e6, &fit->plateau_min_lr, err))
		return -1;
	for (int i = 0; i < 4; i++) {
		if (strcmp(monitor, monitor_names[i]) == 0) {
			fit->plateau_monitor = (enum nn_monitor)i;
			found = true;
		}
	}
	if (!found)
		return api_fail(err, API_VALIDATION_FAILED, "reduce_lr_on_plateau.monitor",
				"reduce_lr_on_plateau.monitor must be loss, val_loss, accuracy or val_accuracy");
	found = false;
	for (int i = 0; i < 3; i++) {
		if (strcmp(mode, plateau_modes[i]) == 0) {
			fit->plateau_mode = (enum nn_plateau_mode)i;
			found = true;
		}
	}
	if (!found)
		return api_fail(err, API_VALIDATION_FAILED, "reduce_lr_on_plateau.mode",
				"reduce_lr_on_plateau.mode must be auto, min or max");
	fit->reduce_lr_on_plateau = true;
	fit->plateau_patience = (uint32_t)patience;
	fit->plateau_cooldown = (uint32_t)cooldown;
	return 0;
}

/* "class_weight": {"0": 1.0, "1": 5.0}: keys are class ids in canonical
 * decimal (no sign, no leading zero), each once; values finite, >= 0. Stored
 * as a dense table up to the largest id, the ids not named weighing 1. */
static int decode_class_weight(const cJSON *root, struct nn_fit_opts *fit, struct api_err *err)
{
	const cJSON *cw = cJSON_GetObjectItemCaseSensitive(root, "class_weight");
	bool seen[NN_MAX_CLASS_WEIGHTS] = {false};
	const cJSON *item;

	if (!cw || cJSON_IsNull(cw))
		return 0;
	if (!cJSON_IsObject(cw))
		return api_fail(err, API_VALIDATION_FAILED, "class_weight",
				"class_weight must be an object of class id to weight, like {\"0\": 1.0, \"1\": 5.0}");
	if (!cw->child)
		return api_fail(err, API_VALIDATION_FAILED, "class_weight", "class_weight must name at least one class");
	for (uint32_t c = 0; c < NN_MAX_CLASS_WEIGHTS; c++)
		fit->class_weight[c] = 1.0;
	fit->n_class_weights = 0;
	cJSON_ArrayForEach(item, cw)
	{
		const char *key = item->string;
		size_t len = strlen(key);
		unsigned long id = 0;
		double v;
		bool digits = len > 0 && len <= 3 && (len == 1 || key[0] != '0');

		for (size_t i = 0; digits && i < len; i++) {
			digits = key[i] >= '0' && key[i] <= '9';
			id = id * 10 + (unsigned long)(key[i] - '0');
		}
		if (!digits || id >= NN_MAX_CLASS_WEIGHTS)
			return api_fail(err, API_VALIDATION_FAILED, "class_weight",
					"class_weight keys must be class ids 0..%d in decimal; got \"%.32s\"",
					NN_MAX_CLASS_WEIGHTS - 1, key);
		if (seen[id])
			return api_fail(err, API_VALIDATION_FAILED, "class_weight", "class_weight names class %lu twice",
					id);
		seen[id] = true;
		if (api_get_number(cw, "class_weight", key, true, 0.0, 1e30, &v, err))
			return -1;
		fit->class_weight[id] = v;
		if (id + 1 > fit->n_class_weights)
			fit->n_class_weights = (uint32_t)id + 1;
	}
	return 0;
}

int api_job_decode(const char *body, size_t len, struct api_job_req *out, struct api_err *err)
{
	static const char *const keys[] = {"model_id", "dataset_id", "validation_dataset_id", "epochs", "batch_size",
					   "validation_split", "validation_split_mode", "shuffle", "seed", "early_stopping",
					   "class_weight", "reduce_lr_on_plateau", NULL};
	cJSON *root = api_json_parse(body, len, err);
	int64_t epochs = 1, batch = 32, seed = 0;
	int rc = -1;

	if (!root)
		return -1;
	memset(out, 0, sizeof *out);
	out->fit.shuffle = true;
	out->fit.monitor = NN_MONITOR_VAL_LOSS;
	if (api_obj_check(root, "", "the job body", keys, err) ||
	    decode_model_ref(root, out, err) ||
	    api_get_int(root, "", "dataset_id", true, 1, INT64_MAX, &out->dataset_id, err) ||
	    api_get_int(root, "", "validation_dataset_id", false, 1, INT64_MAX, &out->validation_dataset_id, err) ||
	    api_get_int(root, "", "epochs", false, 1, NN_MAX_EPOCHS, &epochs, err) ||
	    api_get_int(root, "", "batch_size", false, 1, NN_MAX_BATCH, &batch, err) ||
	    api_get_number(root, "", "validation_split", false, 0.0, 0.999999, &out->fit.validation_split, err) ||
	    api_get_bool(root, "", "shuffle", false, &out->fit.shuffle, err) ||
	    api_get_int(root, "", "seed", false, 0, 9007199254740991LL, &seed, err) ||
	    decode_early_stopping(root, &out->fit, err) || decode_split_mode(root, &out->fit, err) ||
	    decode_class_weight(root, &out->fit, err) || decode_plateau(root, &out->fit, err))
		goto out;
	if (out->validation_dataset_id && out->fit.validation_split > 0) {
		api_fail(err, API_VALIDATION_FAILED, "validation_split",
			 "give either validation_split or validation_dataset_id, not both");
		goto out;
	}
	if (out->fit.split != NN_SPLIT_TAIL && !(out->fit.validation_split > 0)) {
		api_fail(err, API_VALIDATION_FAILED, "validation_split_mode",
			 "validation_split_mode %s needs a validation_split above 0", split_names[out->fit.split]);
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
	if (fit->split == NN_SPLIT_STRATIFIED && nn_spec_task(&model->spec) == NN_TASK_REGRESSION)
		return api_fail(err, API_VALIDATION_FAILED, "validation_split_mode",
				"validation_split_mode stratified needs a classification loss (the classes to stratify "
				"by); use random");
	if ((model->metrics & NN_METRIC_BIT(NN_METRIC_AUC)) &&
	    nn_metric_auc_scores(&model->spec, n_train > n_val ? n_train : n_val) > NN_METRIC_MAX_SCORES)
		return api_fail(err, API_VALIDATION_FAILED, "dataset_id",
				"the model's auc metric keeps a score per row and class, at most %llu; %llu rows are too "
				"many for it (drop auc from the model's metrics)",
				(unsigned long long)NN_METRIC_MAX_SCORES, (unsigned long long)(n_train > n_val ? n_train : n_val));
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
	if (fit->reduce_lr_on_plateau) {
		enum nn_monitor mon = fit->plateau_monitor;

		if (model->spec.opt.schedule.kind != NN_LR_CONSTANT)
			return api_fail(err, API_VALIDATION_FAILED, "reduce_lr_on_plateau",
					"reduce_lr_on_plateau needs a constant learning_rate; the model's optimizer has a "
					"schedule (Keras cannot combine them either)");
		if ((mon == NN_MONITOR_VAL_LOSS || mon == NN_MONITOR_VAL_ACCURACY) && n_val == 0)
			return api_fail(err, API_VALIDATION_FAILED, "reduce_lr_on_plateau.monitor",
					"reduce_lr_on_plateau.monitor %s needs validation data (validation_split or "
					"validation_dataset_id)",
					monitor_names[mon]);
		if ((mon == NN_MONITOR_ACCURACY || mon == NN_MONITOR_VAL_ACCURACY) &&
		    nn_spec_task(&model->spec) == NN_TASK_REGRESSION)
			return api_fail(err, API_VALIDATION_FAILED, "reduce_lr_on_plateau.monitor",
					"reduce_lr_on_plateau.monitor %s needs a classification loss", monitor_names[mon]);
	}
	if (fit->n_class_weights) {
		enum nn_task task = nn_spec_task(&model->spec);
		uint32_t outputs = nn_spec_outputs(&model->spec);
		/* the classes a row can have: a binary model's single target
		 * rounds to 0 or 1; otherwise one class per output */
		uint32_t classes = task == NN_TASK_BINARY && outputs == 1 ? 2 : outputs;

		if (task == NN_TASK_REGRESSION)
			return api_fail(err, API_VALIDATION_FAILED, "class_weight",
					"class_weight needs a classification loss (binary_crossentropy, "
					"categorical_crossentropy or sparse_categorical_crossentropy)");
		if (fit->n_class_weights > classes)
			return api_fail(err, API_VALIDATION_FAILED, "class_weight",
					"class_weight names class %u but the model has %u classes (0..%u)",
					fit->n_class_weights - 1, classes, classes - 1);
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
	cJSON_AddStringToObject(o, "validation_split_mode", split_names[(unsigned)fit->split < NN_SPLIT_COUNT ? fit->split : 0]);
	cJSON_AddBoolToObject(o, "shuffle", fit->shuffle);
	api_add_number(o, "seed", (double)fit->seed);
	if (fit->early_stopping) {
		cJSON *es = cJSON_AddObjectToObject(o, "early_stopping");

		cJSON_AddStringToObject(es, "monitor", monitor_names[fit->monitor]);
		api_add_number(es, "patience", fit->patience);
		api_add_number(es, "min_delta", fit->min_delta);
		cJSON_AddBoolToObject(es, "restore_best_weights", fit->restore_best_weights);
	} else {
		cJSON_AddNullToObject(o, "early_stopping");
	}
	if (fit->reduce_lr_on_plateau) {
		cJSON *p = cJSON_AddObjectToObject(o, "reduce_lr_on_plateau");

		cJSON_AddStringToObject(p, "monitor", monitor_names[fit->plateau_monitor]);
		api_add_number(p, "factor", fit->plateau_factor);
		api_add_number(p, "patience", fit->plateau_patience);
		cJSON_AddStringToObject(p, "mode", plateau_modes[fit->plateau_mode]);
		api_add_number(p, "min_delta", fit->plateau_min_delta);
		api_add_number(p, "cooldown", fit->plateau_cooldown);
		api_add_number(p, "min_lr", fit->plateau_min_lr);
	} else {
		cJSON_AddNullToObject(o, "reduce_lr_on_plateau");
	}
	if (fit->n_class_weights) {
		cJSON *cw = cJSON_AddObjectToObject(o, "class_weight");
		char key[16];

		for (uint32_t c = 0; cw && c < fit->n_class_weights; c++) {
			snprintf(key, sizeof key, "%u", c);
			api_add_number(cw, key, fit->class_weight[c]);
		}
	} else {
		cJSON_AddNullToObject(o, "class_weight");
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

/* The metrics of e beyond accuracy, by Keras's History keys: "auc", then
 * "val_auc" when there are validation rows; null where undefined. */
static void add_metric_values(cJSON *o, const struct api_epoch *e)
{
	char key[32];

	for (int m = NN_METRIC_ACCURACY + 1; m < NN_METRIC_COUNT; m++) {
		if (!(e->metrics & NN_METRIC_BIT(m)))
			continue;
		api_json_add(o, nn_metric_name((enum nn_metric)m), api_json_number_or_null(e->values[m]));
		if (isnan(e->val_loss))
			continue;
		snprintf(key, sizeof key, "val_%s", nn_metric_name((enum nn_metric)m));
		api_json_add(o, key, api_json_number_or_null(e->val_values[m]));
	}
}

char *api_epoch_metrics_encode(const struct api_epoch *e, bool *oom)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o;
	char *text;

	if (oom)
		*oom = false;
	if (!(e->metrics & ~NN_METRIC_BIT(NN_METRIC_ACCURACY)))
		return NULL;
	o = cJSON_CreateObject();
	add_metric_values(o, e);
	text = api_json_print_free(o, failures);
	if (!text && oom)
		*oom = true;
	return text;
}

int api_epoch_metrics_decode(const char *text, struct api_epoch *e)
{
	unsigned long failures;
	cJSON *root;
	int rc = -1;

	e->metrics = 0;
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		e->values[m] = e->val_values[m] = NAN;
	if (!text)
		return 0;
	failures = api_alloc_failures();
	root = cJSON_Parse(text);
	if (!root && api_alloc_failures() != failures) {
		rc = -2;
		goto out;
	}
	if (!cJSON_IsObject(root))
		goto out;
	for (const cJSON *item = root->child; item; item = item->next) {
		const char *name = item->string;
		bool val = strncmp(name, "val_", 4) == 0;
		int m;

		if (val)
			name += 4;
		for (m = NN_METRIC_ACCURACY + 1; m < NN_METRIC_COUNT; m++)
			if (strcmp(name, nn_metric_name((enum nn_metric)m)) == 0)
				break;
		if (m == NN_METRIC_COUNT || !(cJSON_IsNumber(item) || cJSON_IsNull(item)))
			goto out;
		e->metrics |= NN_METRIC_BIT(m);
		(val ? e->val_values : e->values)[m] = cJSON_IsNumber(item) ? item->valuedouble : NAN;
	}
	rc = 0;
out:
	if (rc)
		e->metrics = 0;
	cJSON_Delete(root);
	return rc;
}

static cJSON *epoch_json(const struct api_epoch *e)
{
	cJSON *o = cJSON_CreateObject();

	api_add_number(o, "epoch", e->epoch);
	add_if_finite(o, "loss", e->loss);
	add_if_finite(o, "accuracy", e->accuracy);
	add_if_finite(o, "val_loss", e->val_loss);
	add_if_finite(o, "val_accuracy", e->val_accuracy);
	add_metric_values(o, e);
	add_if_finite(o, "learning_rate", e->learning_rate);
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

/* "nodes": the comma-separated list as an array of ids. */
static void add_nodes(cJSON *o, const char *list)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
	char id[API_NODE_ID_MAX + 1];

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), p);
		api_json_append(arr, cJSON_CreateString(id));
		p += n;
		if (*p == ',')
			p++;
	}
}

/* {"id", "name", "deleted"}: a dataset the job used, readable after it was
 * deleted (current_id is then 0); null when unknown. */
static void add_lineage(cJSON *o, const char *key, const struct api_job_dataset *d, int64_t current_id)
{
	cJSON *l;

	if (!d->id) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	l = cJSON_AddObjectToObject(o, key);
	api_add_number(l, "id", (double)d->id);
	if (d->name[0])
		cJSON_AddStringToObject(l, "name", d->name);
	else
		cJSON_AddNullToObject(l, "name");
	cJSON_AddBoolToObject(l, "deleted", current_id == 0);
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
		add_metric_values(metrics, &j->last);
	}
	api_json_add(o, "samples_per_second", api_json_number_or_null(j->samples_per_second));
	if (j->error[0])
		cJSON_AddStringToObject(o, "error", j->error);
	else
		cJSON_AddNullToObject(o, "error");
	api_add_number(o, "attempts", j->attempts);
	/* early stopping: the best epoch, and the epoch it stopped after */
	if (j->best_epoch)
		api_add_number(o, "best_epoch", j->best_epoch);
	else
		cJSON_AddNullToObject(o, "best_epoch");
	if (j->stopped_epoch)
		api_add_number(o, "stopped_epoch", j->stopped_epoch);
	else
		cJSON_AddNullToObject(o, "stopped_epoch");
	cJSON_AddBoolToObject(o, "early_stopped", j->stopped_epoch != 0);
	add_time(o, "weights_sha256", j->weights_sha256);
	add_time(o, "kernels", j->kernels);
	add_time(o, "node", j->node);
	add_nodes(o, j->nodes);
	add_lineage(o, "dataset", &j->dataset, j->dataset_id);
	if (j->validation_dataset.id)
		add_lineage(o, "validation_dataset", &j->validation_dataset, j->validation_dataset_id);
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
