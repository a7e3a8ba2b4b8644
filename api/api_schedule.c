/*
 * api_schedule.c — learning-rate schedules in JSON: an optimizer's
 * "learning_rate" given as an object, in fitd's form
 *   {"type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9}
 * or as Keras serializes one (keras.optimizers.schedules.serialize, and the
 * optimizer config inside model.to_json() / get_config())
 *   {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {...}}
 * with Keras's class names and arguments, into struct nn_lr_schedule; and
 * back, in fitd's form.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_model_internal.h"

static const char *const kind_names[NN_LR_COUNT] = {
	[NN_LR_CONSTANT] = "constant",
	[NN_LR_EXPONENTIAL] = "ExponentialDecay",
	[NN_LR_PIECEWISE] = "PiecewiseConstantDecay",
	[NN_LR_COSINE] = "CosineDecay",
	[NN_LR_INVERSE_TIME] = "InverseTimeDecay",
};

/* Keys of each kind's arguments ("name" is Keras's and ignored). */
static const char *const *kind_keys(enum nn_lr_kind kind)
{
	static const char *const decay[] = {"type", "name", "initial_learning_rate", "decay_steps", "decay_rate",
					    "staircase", NULL};
	static const char *const piecewise[] = {"type", "name", "boundaries", "values", NULL};
	static const char *const cosine[] = {"type", "name", "initial_learning_rate", "decay_steps", "alpha",
					     "warmup_target", "warmup_steps", NULL};

	return kind == NN_LR_PIECEWISE ? piecewise : kind == NN_LR_COSINE ? cosine : decay;
}

static int read_numbers(const cJSON *obj, const char *path, const char *key, double lo, double hi,
			double *out, uint32_t max, uint32_t *n, struct api_err *err)
{
	char field[API_FIELD_MAX];
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key), *item;
	uint32_t i = 0;

	api_path(field, sizeof field, path, key);
	if (!cJSON_IsArray(arr))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an array of numbers", field);
	cJSON_ArrayForEach(item, arr)
	{
		char at[API_FIELD_MAX];
		double v;

		api_path_index(at, sizeof at, field, i);
		if (i >= max)
			return api_fail(err, API_VALIDATION_FAILED, field, "%s has more than %u numbers", field, max);
		if (!api_number_value(item, &v) || v < lo || v > hi)
			return api_fail(err, API_VALIDATION_FAILED, at, "%s must be a number in %g..%g", at, lo, hi);
		out[i++] = v;
	}
	*n = i;
	return 0;
}

/* The arguments of kind in args (an object at path). */
static int decode_args(const cJSON *args, const char *path, enum nn_lr_kind kind, struct nn_lr_schedule *s,
		       struct api_err *err)
{
	char field[API_FIELD_MAX];
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(args, "name");

	if (api_obj_check(args, path, path, kind_keys(kind), err))
		return -1;
	if (name && !cJSON_IsNull(name) && !cJSON_IsString(name)) {
		api_path(field, sizeof field, path, "name");
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a string", field);
	}
	memset(s, 0, sizeof *s);
	s->kind = kind;
	switch (kind) {
	case NN_LR_PIECEWISE: {
		uint32_t nb = 0, nv = 0;

		if (read_numbers(args, path, "boundaries", -1e15, 1e15, s->boundaries, NN_MAX_LR_BOUNDARIES, &nb,
				 err) ||
		    read_numbers(args, path, "values", 0.0, 1e6, s->values, NN_MAX_LR_BOUNDARIES + 1, &nv, err))
			return -1;
		api_path(field, sizeof field, path, "values");
		if (nb == 0 || nv != nb + 1)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s must hold one more number than boundaries (1..%d boundaries)", field,
					NN_MAX_LR_BOUNDARIES);
		for (uint32_t i = 1; i < nb; i++) {
			if (!(s->boundaries[i] > s->boundaries[i - 1])) {
				api_path(field, sizeof field, path, "boundaries");
				return api_fail(err, API_VALIDATION_FAILED, field, "%s must be increasing", field);
			}
		}
		s->n_boundaries = nb;
		return 0;
	}
	case NN_LR_COSINE: {
		const cJSON *target = cJSON_GetObjectItemCaseSensitive(args, "warmup_target");

		s->has_warmup = target && !cJSON_IsNull(target);
		if (api_get_number(args, path, "initial_learning_rate", true, 0.0, 1e6, &s->initial_learning_rate,
				   err) ||
		    api_get_number(args, path, "decay_steps", true, 1e-300, 1e15, &s->decay_steps, err) ||
		    api_get_number(args, path, "alpha", false, 0.0, 1.0, &s->alpha, err) ||
		    api_get_number(args, path, "warmup_target", false, 0.0, 1e6, &s->warmup_target, err) ||
		    api_get_number(args, path, "warmup_steps", false, 0.0, 1e15, &s->warmup_steps, err))
			return -1;
		if (!s->has_warmup && !(s->initial_learning_rate > 0)) {
			api_path(field, sizeof field, path, "initial_learning_rate");
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s must be greater than 0 (0 only with a warmup_target)", field);
		}
		return 0;
	}
	default:
		if (api_get_number(args, path, "initial_learning_rate", true, 1e-300, 1e6, &s->initial_learning_rate,
				   err) ||
		    api_get_number(args, path, "decay_steps", true, 1e-300, 1e15, &s->decay_steps, err) ||
		    api_get_number(args, path, "decay_rate", true, kind == NN_LR_EXPONENTIAL ? 1e-300 : 0.0, 1e6,
				   &s->decay_rate, err) ||
		    api_get_bool(args, path, "staircase", false, &s->staircase, err))
			return -1;
		return 0;
	}
}

int api_schedule_decode(const cJSON *item, const char *path, struct nn_opt_spec *opt, struct api_err *err)
{
	static const char *const keras_keys[] = {"module", "class_name", "config", "registered_name", NULL};
	char field[API_FIELD_MAX], cpath[API_FIELD_MAX];
	const cJSON *type, *args = item;
	const char *args_path = path;
	int kind = -1;

	if (cJSON_GetObjectItemCaseSensitive(item, "class_name")) {
		/* Keras's serialized form */
		if (api_obj_check(item, path, path, keras_keys, err))
			return -1;
		type = cJSON_GetObjectItemCaseSensitive(item, "class_name");
		api_path(field, sizeof field, path, "class_name");
		api_path(cpath, sizeof cpath, path, "config");
		args = cJSON_GetObjectItemCaseSensitive(item, "config");
		args_path = cpath;
		if (!cJSON_IsObject(args))
			return api_fail(err, API_VALIDATION_FAILED, cpath, "%s must be an object", cpath);
	} else {
		type = cJSON_GetObjectItemCaseSensitive(item, "type");
		api_path(field, sizeof field, path, "type");
	}
	if (!cJSON_IsString(type))
		return api_fail(err, API_VALIDATION_FAILED, field,
				"%s must name a schedule: ExponentialDecay, PiecewiseConstantDecay, CosineDecay or "
				"InverseTimeDecay",
				field);
	for (int k = NN_LR_EXPONENTIAL; k < NN_LR_COUNT; k++)
		if (strcmp(type->valuestring, kind_names[k]) == 0)
			kind = k;
	if (kind < 0)
		return api_fail(err, API_VALIDATION_FAILED, field,
				"unknown schedule \"%.40s\"; expected one of: ExponentialDecay, PiecewiseConstantDecay, "
				"CosineDecay, InverseTimeDecay",
				type->valuestring);
	if (args != item) {
		/* the config has no "type": check its keys without it */
		if (cJSON_GetObjectItemCaseSensitive(args, "type")) {
			api_path(field, sizeof field, args_path, "type");
			return api_fail(err, API_VALIDATION_FAILED, field, "unknown field \"type\" in %s", args_path);
		}
	}
	if (decode_args(args, args_path, (enum nn_lr_kind)kind, &opt->schedule, err))
		return -1;
	if (!nn_lr_valid(&opt->schedule))
		return api_fail(err, API_VALIDATION_FAILED, path, "%s has an argument out of range", path);
	opt->learning_rate = nn_lr_at(opt, 0);
	return 0;
}

cJSON *api_schedule_json(const struct nn_lr_schedule *s)
{
	cJSON *o = cJSON_CreateObject(), *arr;

	cJSON_AddStringToObject(o, "type", kind_names[s->kind]);
	switch (s->kind) {
	case NN_LR_PIECEWISE:
		arr = api_json_add(o, "boundaries", cJSON_CreateArray());
		for (uint32_t i = 0; arr && i < s->n_boundaries; i++)
			api_json_append(arr, api_json_number_or_null(s->boundaries[i]));
		arr = api_json_add(o, "values", cJSON_CreateArray());
		for (uint32_t i = 0; arr && i <= s->n_boundaries; i++)
			api_json_append(arr, api_json_number_or_null(s->values[i]));
		break;
	case NN_LR_COSINE:
		api_add_number(o, "initial_learning_rate", s->initial_learning_rate);
		api_add_number(o, "decay_steps", s->decay_steps);
		api_add_number(o, "alpha", s->alpha);
		if (s->has_warmup)
			api_add_number(o, "warmup_target", s->warmup_target);
		else
			cJSON_AddNullToObject(o, "warmup_target");
		api_add_number(o, "warmup_steps", s->warmup_steps);
		break;
	default:
		api_add_number(o, "initial_learning_rate", s->initial_learning_rate);
		api_add_number(o, "decay_steps", s->decay_steps);
		api_add_number(o, "decay_rate", s->decay_rate);
		cJSON_AddBoolToObject(o, "staircase", s->staircase);
		break;
	}
	return o;
}
