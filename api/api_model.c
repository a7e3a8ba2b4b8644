/*
 * api_model.c — model definitions: POST /v1/models bodies in fitd's own form
 * to a struct nn_model_spec, and the name tables every model file reads. The
 * Keras import is in api_keras.c, the canonical definition JSON (stored and
 * returned) in api_model_encode.c, weights in api_weights.c.
 *
 * Names are tables, not switches: adding an activation, loss, optimizer or
 * initializer is one row here plus the core's own row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_model_internal.h"

/* ---- name tables (the first row of an enum value is its canonical name) ---- */


const struct api_name_row api_act_names[] = {
	{"linear", NN_ACT_LINEAR},     {"sigmoid", NN_ACT_SIGMOID},   {"relu", NN_ACT_RELU},
	{"softmax", NN_ACT_SOFTMAX},   {"tanh", NN_ACT_TANH},         {"leaky_relu", NN_ACT_LEAKY_RELU},
	{"elu", NN_ACT_ELU},           {"gelu", NN_ACT_GELU},         {"softplus", NN_ACT_SOFTPLUS},
	{"swish", NN_ACT_SWISH},       {"silu", NN_ACT_SWISH},        {NULL, 0},
};

const struct api_name_row api_loss_names[] = {
	{"mean_squared_error", NN_LOSS_MSE},
	{"mse", NN_LOSS_MSE},
	{"MeanSquaredError", NN_LOSS_MSE},
	{"mean_absolute_error", NN_LOSS_MAE},
	{"mae", NN_LOSS_MAE},
	{"MeanAbsoluteError", NN_LOSS_MAE},
	{"huber", NN_LOSS_HUBER},
	{"Huber", NN_LOSS_HUBER},
	{"binary_crossentropy", NN_LOSS_BINARY_CROSSENTROPY},
	{"BinaryCrossentropy", NN_LOSS_BINARY_CROSSENTROPY},
	{"categorical_crossentropy", NN_LOSS_CATEGORICAL_CROSSENTROPY},
	{"CategoricalCrossentropy", NN_LOSS_CATEGORICAL_CROSSENTROPY},
	{"sparse_categorical_crossentropy", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
	{"SparseCategoricalCrossentropy", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
	{NULL, 0},
};

const struct api_name_row api_opt_names[] = {
	{"sgd", NN_OPT_SGD},         {"SGD", NN_OPT_SGD},         {"adagrad", NN_OPT_ADAGRAD},
	{"Adagrad", NN_OPT_ADAGRAD}, {"rmsprop", NN_OPT_RMSPROP}, {"RMSprop", NN_OPT_RMSPROP},
	{"RMSProp", NN_OPT_RMSPROP}, {"adam", NN_OPT_ADAM},       {"Adam", NN_OPT_ADAM},
	{NULL, 0},
};

const struct api_name_row api_init_names[] = {
	{"glorot_uniform", NN_INIT_GLOROT_UNIFORM}, {"GlorotUniform", NN_INIT_GLOROT_UNIFORM},
	{"glorot_normal", NN_INIT_GLOROT_NORMAL},   {"GlorotNormal", NN_INIT_GLOROT_NORMAL},
	{"he_uniform", NN_INIT_HE_UNIFORM},         {"HeUniform", NN_INIT_HE_UNIFORM},
	{"he_normal", NN_INIT_HE_NORMAL},           {"HeNormal", NN_INIT_HE_NORMAL},
	{"lecun_uniform", NN_INIT_LECUN_UNIFORM},   {"LecunUniform", NN_INIT_LECUN_UNIFORM},
	{"lecun_normal", NN_INIT_LECUN_NORMAL},     {"LecunNormal", NN_INIT_LECUN_NORMAL},
	{"zeros", NN_INIT_ZEROS},                   {"Zeros", NN_INIT_ZEROS},
	{"ones", NN_INIT_ONES},                     {"Ones", NN_INIT_ONES},
	{NULL, 0},
};

bool api_name_lookup(const struct api_name_row *table, const char *name, int *value)
{
	for (; table->name; table++) {
		if (strcmp(table->name, name) == 0) {
			*value = table->value;
			return true;
		}
	}
	return false;
}

const char *api_name_of(const struct api_name_row *table, int value)
{
	for (; table->name; table++)
		if (table->value == value)
			return table->name;
	return "?";
}

/* "a, b, c" of the canonical names, for error messages. */
static void name_list(const struct api_name_row *table, char *out, size_t size)
{
	size_t len = 0;
	int last = -1;

	out[0] = '\0';
	for (; table->name; table++) {
		if (table->value == last || (table->name[0] >= 'A' && table->name[0] <= 'Z'))
			continue;
		last = table->value;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? ", " : "", table->name);
		if (len >= size)
			return;
	}
}

int api_bad_name(struct api_err *err, const char *field, const char *what, const char *got,
		    const struct api_name_row *table)
{
	char names[300];

	name_list(table, names, sizeof names);
	return api_fail(err, API_VALIDATION_FAILED, field, "unknown %s \"%s\"; expected one of: %s", what, got,
			names);
}

/* ---- fitd's own form ---------------------------------------------------------- */

static int decode_activation(const cJSON *item, const char *field, struct nn_layer_spec *l, struct api_err *err)
{
	static const char *const keys[] = {"type", "alpha", "approximate", NULL};
	char type[32], sub[API_FIELD_MAX];
	int act;

	if (cJSON_IsString(item)) {
		if (!api_name_lookup(api_act_names, item->valuestring, &act))
			return api_bad_name(err, field, "activation", item->valuestring, api_act_names);
		l->act = (enum nn_act)act;
		l->alpha = nn_act_default_alpha(l->act);
		return 0;
	}
	if (!cJSON_IsObject(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an activation name or object", field);
	if (api_obj_check(item, field, field, keys, err) ||
	    api_get_string(item, field, "type", true, sizeof type - 1, type, err))
		return -1;
	api_path(sub, sizeof sub, field, "type");
	if (!api_name_lookup(api_act_names, type, &act))
		return api_bad_name(err, sub, "activation", type, api_act_names);
	l->act = (enum nn_act)act;
	l->alpha = nn_act_default_alpha(l->act);
	if (cJSON_GetObjectItemCaseSensitive(item, "alpha") && act != NN_ACT_LEAKY_RELU && act != NN_ACT_ELU) {
		api_path(sub, sizeof sub, field, "alpha");
		return api_fail(err, API_VALIDATION_FAILED, sub, "alpha applies to leaky_relu and elu only");
	}
	if (cJSON_GetObjectItemCaseSensitive(item, "approximate") && act != NN_ACT_GELU) {
		api_path(sub, sizeof sub, field, "approximate");
		return api_fail(err, API_VALIDATION_FAILED, sub, "approximate applies to gelu only");
	}
	return api_get_number(item, field, "alpha", false, 0.0, 1e3, &l->alpha, err) ||
	       api_get_bool(item, field, "approximate", false, &l->approximate, err);
}

static int decode_initializer(const cJSON *layer, const char *path, const char *key, enum nn_init *out,
			      struct api_err *err)
{
	char name[32], field[API_FIELD_MAX];
	int v;

	if (api_get_string(layer, path, key, false, sizeof name - 1, name, err))
		return -1;
	if (!cJSON_GetObjectItemCaseSensitive(layer, key))
		return 0;
	if (!api_name_lookup(api_init_names, name, &v)) {
		api_path(field, sizeof field, path, key);
		return api_bad_name(err, field, "initializer", name, api_init_names);
	}
	*out = (enum nn_init)v;
	return 0;
}

/* ---- normalization -------------------------------------------------------------------- */

/* A given mean or variance: a number for every feature, or an array of dim
 * numbers (finite float32; a variance not negative), into out (may be NULL:
 * check only). */
static int norm_vector(const cJSON *obj, const char *path, const char *key, uint32_t dim, bool variance,
		       float *out, struct api_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	char field[API_FIELD_MAX], elem[API_FIELD_MAX];
	uint32_t i = 0;
	float v;

	api_path(field, sizeof field, path, key);
	if (cJSON_IsNumber(item)) {
		if (api_read_float(item, field, &v, err))
			return -1;
		if (variance && v < 0)
			return api_fail(err, API_VALIDATION_FAILED, field, "%s must not be negative", field);
		for (i = 0; out && i < dim; i++)
			out[i] = v;
		return 0;
	}
	if (!cJSON_IsArray(item) || (uint32_t)cJSON_GetArraySize(item) != dim)
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a number or an array of %u numbers (one per "
				"input feature)", field, dim);
	for (const cJSON *e = item->child; e; e = e->next, i++) {
		api_path_index(elem, sizeof elem, field, i);
		if (api_read_float(e, elem, &v, err))
			return -1;
		if (variance && v < 0)
			return api_fail(err, API_VALIDATION_FAILED, elem, "%s must not be negative", elem);
		if (out)
			out[i] = v;
	}
	return 0;
}

/* A normalization layer's fields (plain: {"type", "mean", "variance",
 * "adapt"}; Keras: its config's "mean", "variance", "axis", "invert"). */
int api_norm_layer(const cJSON *obj, const char *path, bool keras, struct nn_layer_spec *l, struct api_err *err)
{
	static const char *const keys[] = {"type", "mean", "variance", "adapt", NULL};
	const cJSON *mean = cJSON_GetObjectItemCaseSensitive(obj, "mean");
	const cJSON *var = cJSON_GetObjectItemCaseSensitive(obj, "variance");
	bool has_mean = mean && !cJSON_IsNull(mean), has_var = var && !cJSON_IsNull(var), adapt = true;
	char field[API_FIELD_MAX];

	memset(l, 0, sizeof *l);
	l->kind = NN_LAYER_NORMALIZATION;
	if (keras) {
		const cJSON *axis = cJSON_GetObjectItemCaseSensitive(obj, "axis");
		const cJSON *invert = cJSON_GetObjectItemCaseSensitive(obj, "invert");

		if (cJSON_IsArray(axis) && cJSON_GetArraySize(axis) == 1)
			axis = axis->child;
		api_path(field, sizeof field, path, "axis");
		if (axis && !(cJSON_IsNumber(axis) && (axis->valuedouble == -1 || axis->valuedouble == 1)))
			return api_fail(err, API_VALIDATION_FAILED, field,
					"only axis -1 (one mean and variance per feature) is supported");
		api_path(field, sizeof field, path, "invert");
		if (invert && !cJSON_IsFalse(invert) && !cJSON_IsNull(invert))
			return api_fail(err, API_VALIDATION_FAILED, field, "invert is not supported");
	} else if (api_obj_check(obj, path, path, keys, err) ||
		   api_get_bool(obj, path, "adapt", false, &adapt, err)) {
		return -1;
	}
	if (has_mean != has_var) {
		api_path(field, sizeof field, path, has_mean ? "variance" : "mean");
		return api_fail(err, API_VALIDATION_FAILED, field, "give both mean and variance, or neither (adapt)");
	}
	if (has_mean && !adapt) {
		/* fine: given values */
	} else if (has_mean && cJSON_GetObjectItemCaseSensitive(obj, "adapt") &&
		   !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, "adapt"))) {
		api_path(field, sizeof field, path, "adapt");
		return api_fail(err, API_VALIDATION_FAILED, field, "adapt must be false when mean and variance are given");
	}
	l->norm_given = has_mean || !adapt;
	return 0;
}

int api_bn_layer(const cJSON *obj, const char *path, bool keras, struct nn_layer_spec *l, struct api_err *err)
{
	static const char *const keys[] = {"type", "momentum", "epsilon", "center", "scale", NULL};
	char field[API_FIELD_MAX];

	nn_bn_defaults(l);
	if (keras) {
		const cJSON *axis = cJSON_GetObjectItemCaseSensitive(obj, "axis");

		if (cJSON_IsArray(axis) && cJSON_GetArraySize(axis) == 1)
			axis = axis->child;
		api_path(field, sizeof field, path, "axis");
		if (axis && !(cJSON_IsNumber(axis) && (axis->valuedouble == -1 || axis->valuedouble == 1)))
			return api_fail(err, API_VALIDATION_FAILED, field,
					"only axis -1 (statistics per feature) is supported");
	} else if (api_obj_check(obj, path, path, keys, err)) {
		return -1;
	}
	if (api_get_number(obj, path, "momentum", false, 0.0, 1.0, &l->momentum, err) ||
	    api_get_number(obj, path, "epsilon", false, 0.0, 1e3, &l->epsilon, err) ||
	    api_get_bool(obj, path, "center", false, &l->center, err) ||
	    api_get_bool(obj, path, "scale", false, &l->scale, err))
		return -1;
	if (!(l->epsilon > 0.0)) {
		api_path(field, sizeof field, path, "epsilon");
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be above 0", field);
	}
	return 0;
}

/* The object holding the first layer's mean and variance in a model body
 * (layers[0], or the config of the Keras model's first layer that is not an
 * InputLayer), and its path; NULL when none. *parsed gets a tree to free
 * (a Keras document given as a string). */
static const cJSON *norm_source(const cJSON *root, char *path, size_t size, cJSON **parsed)
{
	const cJSON *keras = cJSON_GetObjectItemCaseSensitive(root, "keras"), *layers;
	size_t i = 0;

	*parsed = NULL;
	if (!keras || cJSON_IsNull(keras)) {
		layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
		snprintf(path, size, "layers[0]");
		return cJSON_IsArray(layers) ? layers->child : NULL;
	}
	if (cJSON_IsString(keras))
		keras = *parsed = cJSON_Parse(keras->valuestring);
	layers = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(keras, "config"), "layers");
	for (const cJSON *l = cJSON_IsArray(layers) ? layers->child : NULL; l; l = l->next, i++) {
		const cJSON *cls = cJSON_GetObjectItemCaseSensitive(l, "class_name");
		if (cJSON_IsString(cls) && strcmp(cls->valuestring, "InputLayer") == 0)
			continue;
		snprintf(path, size, "keras.config.layers[%zu].config", i);
		return cJSON_GetObjectItemCaseSensitive(l, "config");
	}
	return NULL;
}

/* Checks (out NULL) or copies the given mean and variance of a model whose
 * first layer is a normalization with norm_given. */
static int norm_given_values(const cJSON *root, const struct nn_model_spec *spec, float *mean, float *var,
			     struct api_err *err)
{
	char path[API_FIELD_MAX];
	cJSON *parsed;
	const cJSON *src;
	int rc = 0;

	if (spec->n_layers == 0 || spec->layers[0].kind != NN_LAYER_NORMALIZATION || !spec->layers[0].norm_given)
		return 0;
	src = norm_source(root, path, sizeof path, &parsed);
	if (!src && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "keras")))
		/* the document parsed once already: only memory can fail now */
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	if (src && cJSON_GetObjectItemCaseSensitive(src, "mean") && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(src, "mean")))
		rc = norm_vector(src, path, "mean", spec->input_dim, false, mean, err) ||
		     norm_vector(src, path, "variance", spec->input_dim, true, var, err) ? -1 : 0;
	cJSON_Delete(parsed);
	return rc;
}

int api_model_norm_fill(const char *body, size_t len, const struct nn_model_spec *spec, float *params,
			struct api_err *err)
{
	cJSON *root;
	int rc;

	if (spec->n_layers == 0 || spec->layers[0].kind != NN_LAYER_NORMALIZATION || !spec->layers[0].norm_given)
		return 0;
	root = api_json_parse(body, len, err);
	if (!root)
		return -1;
	/* the layer's weights lead the parameters: mean, then variance */
	rc = norm_given_values(root, spec, params, params + spec->input_dim, err);
	cJSON_Delete(root);
	return rc;
}

static int decode_layer(const cJSON *item, const char *path, struct nn_layer_spec *l, struct api_err *err)
{
	static const char *const dense_keys[] = {"type", "units", "activation", "use_bias", "kernel_initializer",
						 "bias_initializer", "l2", NULL};
	static const char *const dropout_keys[] = {"type", "rate", NULL};
	char type[32] = "dense", field[API_FIELD_MAX];
	const cJSON *act;
	int64_t units;

	if (!cJSON_IsObject(item))
		return api_fail(err, API_VALIDATION_FAILED, path, "%s must be a layer object", path);
	if (api_get_string(item, path, "type", false, sizeof type - 1, type, err))
		return -1;
	if (strcmp(type, "dropout") == 0 || strcmp(type, "Dropout") == 0) {
		memset(l, 0, sizeof *l);
		l->kind = NN_LAYER_DROPOUT;
		return api_obj_check(item, path, path, dropout_keys, err) ||
		       api_get_number(item, path, "rate", true, 0.0, 0.999999, &l->rate, err);
	}
	if (strcmp(type, "normalization") == 0 || strcmp(type, "Normalization") == 0)
		return api_norm_layer(item, path, false, l, err);
	if (strcmp(type, "batch_normalization") == 0 || strcmp(type, "BatchNormalization") == 0)
		return api_bn_layer(item, path, false, l, err);
	if (strcmp(type, "dense") != 0 && strcmp(type, "Dense") != 0) {
		api_path(field, sizeof field, path, "type");
		return api_fail(err, API_VALIDATION_FAILED, field,
				"unknown layer type \"%s\"; expected dense, dropout, normalization or batch_normalization",
				type);
	}
	if (api_obj_check(item, path, path, dense_keys, err) ||
	    api_get_int(item, path, "units", true, 1, NN_MAX_UNITS, &units, err))
		return -1;
	nn_dense_defaults(l, (uint32_t)units, NN_ACT_LINEAR);
	act = cJSON_GetObjectItemCaseSensitive(item, "activation");
	api_path(field, sizeof field, path, "activation");
	if (act && !cJSON_IsNull(act) && decode_activation(act, field, l, err))
		return -1;
	return api_get_bool(item, path, "use_bias", false, &l->use_bias, err) ||
	       decode_initializer(item, path, "kernel_initializer", &l->kernel_init, err) ||
	       decode_initializer(item, path, "bias_initializer", &l->bias_init, err) ||
	       api_get_number(item, path, "l2", false, 0.0, 1e3, &l->l2, err);
}

static int decode_loss(const cJSON *root, struct nn_loss_spec *loss, struct api_err *err)
{
	static const char *const keys[] = {"type", "from_logits", NULL};
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "loss");
	const char *name;
	int v;

	if (!item || cJSON_IsNull(item))
		return api_fail(err, API_VALIDATION_FAILED, "loss", "loss is required");
	loss->from_logits = false;
	if (cJSON_IsObject(item)) {
		if (api_obj_check(item, "loss", "loss", keys, err) ||
		    api_get_bool(item, "loss", "from_logits", false, &loss->from_logits, err))
			return -1;
		item = cJSON_GetObjectItemCaseSensitive(item, "type");
		if (!cJSON_IsString(item))
			return api_fail(err, API_VALIDATION_FAILED, "loss.type", "loss.type must be a loss name");
		name = item->valuestring;
		if (!api_name_lookup(api_loss_names, name, &v))
			return api_bad_name(err, "loss.type", "loss", name, api_loss_names);
	} else if (cJSON_IsString(item)) {
		name = item->valuestring;
		if (!api_name_lookup(api_loss_names, name, &v))
			return api_bad_name(err, "loss", "loss", name, api_loss_names);
	} else {
		return api_fail(err, API_VALIDATION_FAILED, "loss", "loss must be a loss name or object");
	}
	loss->kind = (enum nn_loss_kind)v;
	return 0;
}

/* Allowed hyper-parameters per optimizer, besides "type" and "learning_rate". */
static const char *const *opt_keys(enum nn_opt_kind kind)
{
	static const char *const sgd[] = {"type", "learning_rate", "momentum", "nesterov", NULL};
	static const char *const adagrad[] = {"type", "learning_rate", "initial_accumulator_value", "epsilon", NULL};
	static const char *const rmsprop[] = {"type", "learning_rate", "rho", "momentum", "epsilon", NULL};
	static const char *const adam[] = {"type", "learning_rate", "beta_1", "beta_2", "epsilon", NULL};

	switch (kind) {
	case NN_OPT_SGD:
		return sgd;
	case NN_OPT_ADAGRAD:
		return adagrad;
	case NN_OPT_RMSPROP:
		return rmsprop;
	default:
		return adam;
	}
}

static int decode_optimizer(const cJSON *item, const char *path, struct nn_opt_spec *opt, struct api_err *err)
{
	char field[API_FIELD_MAX];
	const cJSON *type = item;
	int v;

	/* Keras's compile() default. */
	if (!item || cJSON_IsNull(item)) {
		nn_opt_defaults(NN_OPT_RMSPROP, opt);
		return 0;
	}
	if (cJSON_IsObject(item)) {
		type = cJSON_GetObjectItemCaseSensitive(item, "type");
		api_path(field, sizeof field, path, "type");
	} else {
		snprintf(field, sizeof field, "%s", path);
	}
	if (!cJSON_IsString(type))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an optimizer name", field);
	if (!api_name_lookup(api_opt_names, type->valuestring, &v))
		return api_bad_name(err, field, "optimizer", type->valuestring, api_opt_names);
	nn_opt_defaults((enum nn_opt_kind)v, opt);
	if (!cJSON_IsObject(item))
		return 0;
	if (api_obj_check(item, path, path, opt_keys(opt->kind), err))
		return -1;
	const cJSON *lr = cJSON_GetObjectItemCaseSensitive(item, "learning_rate");
	bool scheduled = cJSON_IsObject(lr);

	if (scheduled) {
		api_path(field, sizeof field, path, "learning_rate");
		if (api_schedule_decode(lr, field, opt, err))
			return -1;
	}
	if ((!scheduled && api_get_number(item, path, "learning_rate", false, 0.0, 1e6, &opt->learning_rate, err)) ||
	    api_get_number(item, path, "momentum", false, 0.0, 1.0, &opt->momentum, err) ||
	    api_get_bool(item, path, "nesterov", false, &opt->nesterov, err) ||
	    api_get_number(item, path, "initial_accumulator_value", false, 0.0, 1e6,
			   &opt->initial_accumulator_value, err) ||
	    api_get_number(item, path, "rho", false, 0.0, 1.0, &opt->rho, err) ||
	    api_get_number(item, path, "beta_1", false, 0.0, 0.999999999, &opt->beta_1, err) ||
	    api_get_number(item, path, "beta_2", false, 0.0, 0.999999999, &opt->beta_2, err) ||
	    api_get_number(item, path, "epsilon", false, 1e-30, 1.0, &opt->epsilon, err))
		return -1;
	if (!scheduled && !(opt->learning_rate > 0)) {
		api_path(field, sizeof field, path, "learning_rate");
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be greater than 0", field);
	}
	return 0;
}

/* Keras's metric names and aliases, each to its enum nn_metric. */
static const struct {
	const char *name;
	enum nn_metric metric;
} metric_aliases[] = {
	{"accuracy", NN_METRIC_ACCURACY},
	{"acc", NN_METRIC_ACCURACY},
	{"binary_accuracy", NN_METRIC_ACCURACY},
	{"categorical_accuracy", NN_METRIC_ACCURACY},
	{"sparse_categorical_accuracy", NN_METRIC_ACCURACY},
	{"precision", NN_METRIC_PRECISION},
	{"recall", NN_METRIC_RECALL},
	{"auc", NN_METRIC_AUC},
	{"f1_score", NN_METRIC_F1_SCORE},
	{"mae", NN_METRIC_MAE},
	{"mean_absolute_error", NN_METRIC_MAE},
	{"mse", NN_METRIC_MSE},
	{"mean_squared_error", NN_METRIC_MSE},
	{"rmse", NN_METRIC_RMSE},
	{"root_mean_squared_error", NN_METRIC_RMSE},
	{"r2_score", NN_METRIC_R2_SCORE},
};

bool api_metric_parse(const char *name, enum nn_metric *out)
{
	for (size_t i = 0; i < sizeof metric_aliases / sizeof metric_aliases[0]; i++) {
		if (strcmp(name, metric_aliases[i].name) == 0) {
			*out = metric_aliases[i].metric;
			return true;
		}
	}
	return false;
}

static int decode_metrics(const cJSON *root, const struct nn_model_spec *spec, struct api_model_def *def,
			  struct api_err *err)
{
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics");
	char field[API_FIELD_MAX];
	size_t i = 0;

	def->accuracy = false;
	def->metrics = 0;
	if (!metrics || cJSON_IsNull(metrics))
		return 0;
	if (!cJSON_IsArray(metrics))
		return api_fail(err, API_VALIDATION_FAILED, "metrics", "metrics must be an array of metric names");
	for (const cJSON *m = metrics->child; m; m = m->next, i++) {
		enum nn_metric metric;
		bool regression;

		api_path_index(field, sizeof field, "metrics", i);
		if (!cJSON_IsString(m))
			return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a metric name", field);
		if (!api_metric_parse(m->valuestring, &metric))
			return api_fail(err, API_VALIDATION_FAILED, field,
					"unknown metric \"%s\"; fitd knows accuracy, precision, recall, auc, f1_score "
					"(classification) and mae, mse, rmse, r2_score (regression)",
					m->valuestring);
		regression = metric >= NN_METRIC_MAE;
		if (metric == NN_METRIC_ACCURACY && nn_spec_task(spec) != NN_TASK_REGRESSION) {
			/* accuracy also counts several binary outputs (Keras's binary_accuracy) */
		} else if (!nn_metric_fits(metric, spec)) {
			if (regression || nn_spec_task(spec) == NN_TASK_REGRESSION)
				return api_fail(err, API_VALIDATION_FAILED, field,
						"%s needs a %s loss (%s)", m->valuestring,
						regression ? "regression" : "classification",
						regression ? "mse, mae or huber"
							   : "binary, categorical or sparse categorical crossentropy");
			return api_fail(err, API_VALIDATION_FAILED, field,
					"%s needs one output unit with binary_crossentropy (or a categorical loss)",
					m->valuestring);
		}
		if (metric == NN_METRIC_ACCURACY)
			def->accuracy = true;
		def->metrics |= NN_METRIC_BIT(metric);
	}
	return 0;
}

/* Final checks shared by both forms: the core's own (limits, shape). */
/* source_index (may be NULL) maps a spec layer to its index in the request's
 * layer array, which differs for Keras imports (InputLayer is skipped). */
static int check_spec(const struct nn_model_spec *spec, const char *layers_path, const int *source_index,
		      struct api_err *err)
{
	char field[API_FIELD_MAX];
	uint64_t n_params = 0;
	int bad = -1;
	int rc = nn_spec_check(spec, &n_params, &bad);

	if (rc == NN_OK)
		return 0;
	if (bad >= 0)
		api_path_index(field, sizeof field, layers_path, (size_t)(source_index ? source_index[bad] : bad));
	else
		snprintf(field, sizeof field, "%s", layers_path);
	if (rc == NN_ELIMIT)
		return api_fail(err, API_VALIDATION_FAILED, field,
				"the model exceeds a limit: at most %d layers, %d units per layer and %llu parameters "
				"in all",
				NN_MAX_LAYERS, NN_MAX_UNITS, (unsigned long long)NN_MAX_PARAMS);
	return api_fail(err, API_VALIDATION_FAILED, field, "%s is not a valid layer stack: %s",
			field, "the last layer must be dense, every dropout rate below 1, and a normalization layer "
			"only first");
}

static int decode_layers(const cJSON *root, struct nn_model_spec *spec, struct api_err *err)
{
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	char field[API_FIELD_MAX];
	int n;

	if (!layers || cJSON_IsNull(layers))
		return api_fail(err, API_VALIDATION_FAILED, "layers", "layers is required");
	if (!cJSON_IsArray(layers))
		return api_fail(err, API_VALIDATION_FAILED, "layers", "layers must be an array of layer objects");
	n = cJSON_GetArraySize(layers);
	if (n < 1 || n > NN_MAX_LAYERS)
		return api_fail(err, API_VALIDATION_FAILED, "layers", "layers must hold 1..%d layers", NN_MAX_LAYERS);
	spec->n_layers = 0;
	for (const cJSON *l = layers->child; l; l = l->next) {
		api_path_index(field, sizeof field, "layers", spec->n_layers);
		if (decode_layer(l, field, &spec->layers[spec->n_layers], err))
			return -1;
		spec->n_layers++;
	}
	if (spec->layers[spec->n_layers - 1].kind != NN_LAYER_DENSE) {
		api_path_index(field, sizeof field, "layers", spec->n_layers - 1);
		return api_fail(err, API_VALIDATION_FAILED, field, "the last layer must be dense");
	}
	return 0;
}

/* ---- the body ----------------------------------------------------------------------- */

int api_model_decode(const char *body, size_t len, struct api_model_def *out, struct api_err *err)
{
	static const char *const keys[] = {"name", "input_dim", "layers", "loss", "optimizer", "metrics",
					   "seed", "keras", NULL};
	cJSON *root = api_json_parse(body, len, err);
	int source_index[NN_MAX_LAYERS];
	int64_t input_dim = 0, seed;
	bool keras;
	int rc = -1;

	if (!root)
		return -1;
	memset(out, 0, sizeof *out);
	if (api_obj_check(root, "", "the model body", keys, err) ||
	    api_get_string(root, "", "name", false, API_NAME_MAX, out->name, err))
		goto out;
	if (out->name[0] && !api_model_name_valid(out->name)) {
		api_fail(err, API_VALIDATION_FAILED, "name",
			 "name must not be digits only (that reads as an id), contain '/', or be \".\" or \"..\"");
		goto out;
	}
	keras = !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "keras")) &&
		cJSON_GetObjectItemCaseSensitive(root, "keras");
	if (keras && cJSON_GetObjectItemCaseSensitive(root, "layers") &&
	    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "layers"))) {
		api_fail(err, API_VALIDATION_FAILED, "layers", "give either layers or keras, not both");
		goto out;
	}
	if (api_get_int(root, "", "input_dim", !keras, 1, NN_MAX_INPUT_DIM, &input_dim, err))
		goto out;
	out->spec.input_dim = (uint32_t)input_dim;
	if (keras ? api_keras_decode(root, out, input_dim > 0, source_index, err) : decode_layers(root, &out->spec, err))
		goto out;
	if (decode_loss(root, &out->spec.loss, err) ||
	    decode_optimizer(cJSON_GetObjectItemCaseSensitive(root, "optimizer"), "optimizer", &out->spec.opt, err) ||
	    check_spec(&out->spec, keras ? "keras.config.layers" : "layers", keras ? source_index : NULL, err) ||
	    norm_given_values(root, &out->spec, NULL, NULL, err) || decode_metrics(root, &out->spec, out, err))
		goto out;
	seed = -1;
	if (api_get_int(root, "", "seed", false, 0, 9007199254740991LL, &seed, err))
		goto out;
	if (seed >= 0) { /* absent and null leave it -1 */
		out->has_seed = true;
		out->seed = (uint64_t)seed;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}
