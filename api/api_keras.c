/*
 * api_keras.c — the Keras import: a Sequential model's model.to_json()
 * (Keras 2 or 3) to fitd's layers. Dense, Dropout, Normalization (axis -1,
 * with or without its mean and variance), BatchNormalization (axis -1) and
 * InputLayer are read, and
 * LeakyReLU / ELU right after a linear Dense (fitd's export writes them);
 * Keras's other fields are ignored, any other layer is a 422 naming it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api_model_internal.h"

/* ---- Keras import ---------------------------------------------------------------- */

/* Keras serialises an initializer as a name or {"class_name": ..., "config": ...}
 * (with "module" in Keras 3). */
static int keras_initializer(const cJSON *cfg, const char *path, const char *key, enum nn_init *out,
			     struct api_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
	char field[API_FIELD_MAX];
	int v;

	api_path(field, sizeof field, path, key);
	if (!item || cJSON_IsNull(item))
		return 0;
	if (cJSON_IsObject(item))
		item = cJSON_GetObjectItemCaseSensitive(item, "class_name");
	if (!cJSON_IsString(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must name an initializer", field);
	if (!api_name_lookup(api_init_names, item->valuestring, &v))
		return api_bad_name(err, field, "initializer", item->valuestring, api_init_names);
	*out = (enum nn_init)v;
	return 0;
}

static int keras_regularizer(const cJSON *cfg, const char *path, double *l2, struct api_err *err)
{
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(cfg, "kernel_regularizer");
	char field[API_FIELD_MAX], cfg_path[API_FIELD_MAX];
	const cJSON *name, *rcfg, *l1;

	api_path(field, sizeof field, path, "kernel_regularizer");
	if (!reg || cJSON_IsNull(reg))
		return 0;
	name = cJSON_GetObjectItemCaseSensitive(reg, "class_name");
	rcfg = cJSON_GetObjectItemCaseSensitive(reg, "config");
	if (!cJSON_IsString(name) || (strcmp(name->valuestring, "L2") != 0 && strcmp(name->valuestring, "L1L2") != 0))
		return api_fail(err, API_VALIDATION_FAILED, field, "only the L2 kernel regularizer is supported");
	l1 = cJSON_GetObjectItemCaseSensitive(rcfg, "l1");
	if (l1 && !(cJSON_IsNumber(l1) && l1->valuedouble == 0))
		return api_fail(err, API_VALIDATION_FAILED, field, "L1 regularization is not supported");
	api_path(cfg_path, sizeof cfg_path, field, "config");
	return api_get_number(rcfg, cfg_path, "l2", true, 0.0, 1e3, l2, err);
}

/* [null, d] from batch_input_shape / batch_shape / build_input_shape. */
static bool keras_input_dim(const cJSON *cfg, uint32_t *dim)
{
	static const char *const keys[] = {"batch_input_shape", "batch_shape", "build_input_shape", NULL};

	for (const char *const *k = keys; *k; k++) {
		const cJSON *shape = cJSON_GetObjectItemCaseSensitive(cfg, *k);
		const cJSON *d;

		if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 2)
			continue;
		d = cJSON_GetArrayItem(shape, 1);
		if (cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= NN_MAX_INPUT_DIM &&
		    d->valuedouble == floor(d->valuedouble)) {
			*dim = (uint32_t)d->valuedouble;
			return true;
		}
	}
	return false;
}

static int keras_dense(const cJSON *cfg, const char *path, struct nn_layer_spec *l, struct api_err *err)
{
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "activation");
	char field[API_FIELD_MAX];
	int64_t units;
	int v;

	if (api_get_int(cfg, path, "units", true, 1, NN_MAX_UNITS, &units, err))
		return -1;
	nn_dense_defaults(l, (uint32_t)units, NN_ACT_LINEAR);
	api_path(field, sizeof field, path, "activation");
	if (cJSON_IsObject(act)) /* Keras 3 may serialise a function as an object */
		act = cJSON_GetObjectItemCaseSensitive(act, "config");
	if (act && !cJSON_IsNull(act)) {
		if (!cJSON_IsString(act))
			return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an activation name", field);
		if (!api_name_lookup(api_act_names, act->valuestring, &v))
			return api_bad_name(err, field, "activation", act->valuestring, api_act_names);
		l->act = (enum nn_act)v;
		l->alpha = nn_act_default_alpha(l->act);
	}
	return api_get_bool(cfg, path, "use_bias", false, &l->use_bias, err) ||
	       keras_initializer(cfg, path, "kernel_initializer", &l->kernel_init, err) ||
	       keras_initializer(cfg, path, "bias_initializer", &l->bias_init, err) ||
	       keras_regularizer(cfg, path, &l->l2, err);
}

/* A LeakyReLU or ELU layer (how Keras writes a slope other than the
 * default): folded into the dense layer before it, which must be linear. */
static int keras_activation_layer(const char *cls, const cJSON *cfg, const char *path, struct nn_model_spec *spec,
				  struct api_err *err)
{
	bool leaky = strcmp(cls, "LeakyReLU") == 0;
	struct nn_layer_spec *prev = spec->n_layers ? &spec->layers[spec->n_layers - 1] : NULL;
	/* Keras 3 names the slope negative_slope, Keras 2 alpha */
	const char *key = leaky && cJSON_GetObjectItemCaseSensitive(cfg, "negative_slope") ? "negative_slope" : "alpha";

	if (!prev || prev->kind != NN_LAYER_DENSE || prev->act != NN_ACT_LINEAR)
		return api_fail(err, API_VALIDATION_FAILED, path,
				"a Keras %s layer is read only right after a Dense layer with a linear activation", cls);
	prev->act = leaky ? NN_ACT_LEAKY_RELU : NN_ACT_ELU;
	prev->alpha = leaky ? 0.3 : 1.0; /* the layers' defaults (the functions' leaky slope is 0.2) */
	return api_get_number(cfg, path, key, false, 0.0, 1e3, &prev->alpha, err);
}

/* Layer i of keras.config.layers into spec (an InputLayer only gives the
 * input width). Returns 0, or -1 with err. */
static int keras_layer(const cJSON *l, size_t i, struct nn_model_spec *spec, bool *found_dim, int *source_index,
		       struct api_err *err)
{
	const cJSON *cls = cJSON_GetObjectItemCaseSensitive(l, "class_name");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(l, "config");
	char layer_path[API_FIELD_MAX], path[API_FIELD_MAX], field[API_FIELD_MAX];
	struct nn_layer_spec *out = &spec->layers[spec->n_layers];

	api_path_index(layer_path, sizeof layer_path, "keras.config.layers", i);
	api_path(field, sizeof field, layer_path, "class_name");
	if (!cJSON_IsString(cls) || !cJSON_IsObject(cfg))
		return api_fail(err, API_VALIDATION_FAILED, layer_path, "%s must have class_name and config", layer_path);
	api_path(path, sizeof path, layer_path, "config");
	if (strcmp(cls->valuestring, "InputLayer") == 0 || strcmp(cls->valuestring, "Dense") == 0 ||
	    strcmp(cls->valuestring, "Normalization") == 0 || strcmp(cls->valuestring, "BatchNormalization") == 0)
		if (!*found_dim && keras_input_dim(cfg, &spec->input_dim))
			*found_dim = true;
	if (strcmp(cls->valuestring, "InputLayer") == 0)
		return 0;
	if (strcmp(cls->valuestring, "LeakyReLU") == 0 || strcmp(cls->valuestring, "ELU") == 0)
		return keras_activation_layer(cls->valuestring, cfg, path, spec, err);
	if (spec->n_layers == NN_MAX_LAYERS)
		return api_fail(err, API_VALIDATION_FAILED, "keras.config.layers", "at most %d layers", NN_MAX_LAYERS);
	if (strcmp(cls->valuestring, "Dense") == 0) {
		if (keras_dense(cfg, path, out, err))
			return -1;
	} else if (strcmp(cls->valuestring, "Normalization") == 0) {
		if (api_norm_layer(cfg, path, true, out, err))
			return -1;
	} else if (strcmp(cls->valuestring, "BatchNormalization") == 0) {
		if (api_bn_layer(cfg, path, true, out, err))
			return -1;
	} else if (strcmp(cls->valuestring, "Dropout") == 0) {
		memset(out, 0, sizeof *out);
		out->kind = NN_LAYER_DROPOUT;
		if (api_get_number(cfg, path, "rate", true, 0.0, 0.999999, &out->rate, err))
			return -1;
	} else {
		return api_fail(err, API_VALIDATION_FAILED, field,
				"Keras layer %s is not supported; fitd reads Dense, Dropout, Normalization, BatchNormalization, "
				"InputLayer, LeakyReLU and ELU",
				cls->valuestring);
	}
	source_index[spec->n_layers++] = (int)i;
	return 0;
}

/* keras.config.layers of a Sequential model into spec. */
static int keras_sequential(const cJSON *keras, struct nn_model_spec *spec, bool have_dim, int *source_index,
			    struct api_err *err)
{
	const cJSON *cls = cJSON_GetObjectItemCaseSensitive(keras, "class_name");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(keras, "config");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(cfg, "layers");
	bool found_dim = have_dim;
	size_t i = 0;

	if (!cJSON_IsObject(keras) || !cJSON_IsString(cls))
		return api_fail(err, API_VALIDATION_FAILED, "keras", "keras must be the output of model.to_json()");
	if (strcmp(cls->valuestring, "Sequential") != 0)
		return api_fail(err, API_VALIDATION_FAILED, "keras.class_name",
				"only Sequential models can be imported, not %s", cls->valuestring);
	if (!cJSON_IsArray(layers))
		return api_fail(err, API_VALIDATION_FAILED, "keras.config.layers",
				"keras.config.layers must be an array");
	if (!found_dim && keras_input_dim(cfg, &spec->input_dim))
		found_dim = true;
	spec->n_layers = 0;
	for (const cJSON *l = layers->child; l; l = l->next, i++)
		if (keras_layer(l, i, spec, &found_dim, source_index, err))
			return -1;
	if (!found_dim)
		return api_fail(err, API_VALIDATION_FAILED, "input_dim",
				"the Keras model has no input shape; give input_dim beside keras");
	if (spec->n_layers == 0 || spec->layers[spec->n_layers - 1].kind != NN_LAYER_DENSE)
		return api_fail(err, API_VALIDATION_FAILED, "keras.config.layers", "the last layer must be Dense");
	return 0;
}

int api_keras_decode(const cJSON *root, struct api_model_def *def, bool have_dim, int *source_index,
		     struct api_err *err)
{
	const cJSON *keras = cJSON_GetObjectItemCaseSensitive(root, "keras");
	cJSON *parsed = NULL;
	int rc;

	/* model.to_json() returns a string; accept it as is or already parsed. */
	if (cJSON_IsString(keras)) {
		unsigned long failures = api_alloc_failures();

		parsed = cJSON_Parse(keras->valuestring);
		if (!parsed && api_alloc_failures() != failures)
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		if (!parsed)
			return api_fail(err, API_VALIDATION_FAILED, "keras", "keras is a string but not valid JSON");
		keras = parsed;
	}
	rc = keras_sequential(keras, &def->spec, have_dim, source_index, err);
	cJSON_Delete(parsed);
	return rc;
}
