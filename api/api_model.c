/*
 * api_model.c — model definitions: POST /v1/models bodies (fitd's own form and
 * Keras's model.to_json() import) to a struct nn_model_spec, the canonical
 * definition JSON stored and returned, and the weights in get_weights() form.
 *
 * Names are tables, not switches: adding an activation, loss, optimizer or
 * initializer is one row here plus the core's own row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define FIELD_MAX sizeof(((struct api_err *)0)->field)

/* ---- name tables (the first row of an enum value is its canonical name) ---- */

struct name_row {
	const char *name;
	int value;
};

static const struct name_row act_names[] = {
	{"linear", NN_ACT_LINEAR},     {"sigmoid", NN_ACT_SIGMOID},   {"relu", NN_ACT_RELU},
	{"softmax", NN_ACT_SOFTMAX},   {"tanh", NN_ACT_TANH},         {"leaky_relu", NN_ACT_LEAKY_RELU},
	{"elu", NN_ACT_ELU},           {"gelu", NN_ACT_GELU},         {"softplus", NN_ACT_SOFTPLUS},
	{"swish", NN_ACT_SWISH},       {"silu", NN_ACT_SWISH},        {NULL, 0},
};

static const struct name_row loss_names[] = {
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

static const struct name_row opt_names[] = {
	{"sgd", NN_OPT_SGD},         {"SGD", NN_OPT_SGD},         {"adagrad", NN_OPT_ADAGRAD},
	{"Adagrad", NN_OPT_ADAGRAD}, {"rmsprop", NN_OPT_RMSPROP}, {"RMSprop", NN_OPT_RMSPROP},
	{"RMSProp", NN_OPT_RMSPROP}, {"adam", NN_OPT_ADAM},       {"Adam", NN_OPT_ADAM},
	{NULL, 0},
};

static const struct name_row init_names[] = {
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

static bool name_lookup(const struct name_row *table, const char *name, int *value)
{
	for (; table->name; table++) {
		if (strcmp(table->name, name) == 0) {
			*value = table->value;
			return true;
		}
	}
	return false;
}

static const char *name_of(const struct name_row *table, int value)
{
	for (; table->name; table++)
		if (table->value == value)
			return table->name;
	return "?";
}

/* "a, b, c" of the canonical names, for error messages. */
static void name_list(const struct name_row *table, char *out, size_t size)
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

static int bad_name(struct api_err *err, const char *field, const char *what, const char *got,
		    const struct name_row *table)
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
	char type[32], sub[FIELD_MAX];
	int act;

	if (cJSON_IsString(item)) {
		if (!name_lookup(act_names, item->valuestring, &act))
			return bad_name(err, field, "activation", item->valuestring, act_names);
		l->act = (enum nn_act)act;
		l->alpha = act == NN_ACT_ELU ? 1.0 : 0.2;
		return 0;
	}
	if (!cJSON_IsObject(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be an activation name or object", field);
	if (api_obj_check(item, field, field, keys, err) ||
	    api_get_string(item, field, "type", true, sizeof type - 1, type, err))
		return -1;
	api_path(sub, sizeof sub, field, "type");
	if (!name_lookup(act_names, type, &act))
		return bad_name(err, sub, "activation", type, act_names);
	l->act = (enum nn_act)act;
	l->alpha = act == NN_ACT_ELU ? 1.0 : 0.2;
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
	char name[32], field[FIELD_MAX];
	int v;

	if (api_get_string(layer, path, key, false, sizeof name - 1, name, err))
		return -1;
	if (!cJSON_GetObjectItemCaseSensitive(layer, key))
		return 0;
	if (!name_lookup(init_names, name, &v)) {
		api_path(field, sizeof field, path, key);
		return bad_name(err, field, "initializer", name, init_names);
	}
	*out = (enum nn_init)v;
	return 0;
}

static int decode_layer(const cJSON *item, const char *path, struct nn_layer_spec *l, struct api_err *err)
{
	static const char *const dense_keys[] = {"type", "units", "activation", "use_bias", "kernel_initializer",
						 "bias_initializer", "l2", NULL};
	static const char *const dropout_keys[] = {"type", "rate", NULL};
	char type[16] = "dense", field[FIELD_MAX];
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
	if (strcmp(type, "dense") != 0 && strcmp(type, "Dense") != 0) {
		api_path(field, sizeof field, path, "type");
		return api_fail(err, API_VALIDATION_FAILED, field, "unknown layer type \"%s\"; expected dense or dropout",
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
		if (!name_lookup(loss_names, name, &v))
			return bad_name(err, "loss.type", "loss", name, loss_names);
	} else if (cJSON_IsString(item)) {
		name = item->valuestring;
		if (!name_lookup(loss_names, name, &v))
			return bad_name(err, "loss", "loss", name, loss_names);
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
	char field[FIELD_MAX];
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
	if (!name_lookup(opt_names, type->valuestring, &v))
		return bad_name(err, field, "optimizer", type->valuestring, opt_names);
	nn_opt_defaults((enum nn_opt_kind)v, opt);
	if (!cJSON_IsObject(item))
		return 0;
	if (api_obj_check(item, path, path, opt_keys(opt->kind), err))
		return -1;
	if (api_get_number(item, path, "learning_rate", false, 0.0, 1e6, &opt->learning_rate, err) ||
	    api_get_number(item, path, "momentum", false, 0.0, 1.0, &opt->momentum, err) ||
	    api_get_bool(item, path, "nesterov", false, &opt->nesterov, err) ||
	    api_get_number(item, path, "initial_accumulator_value", false, 0.0, 1e6,
			   &opt->initial_accumulator_value, err) ||
	    api_get_number(item, path, "rho", false, 0.0, 1.0, &opt->rho, err) ||
	    api_get_number(item, path, "beta_1", false, 0.0, 0.999999999, &opt->beta_1, err) ||
	    api_get_number(item, path, "beta_2", false, 0.0, 0.999999999, &opt->beta_2, err) ||
	    api_get_number(item, path, "epsilon", false, 1e-30, 1.0, &opt->epsilon, err))
		return -1;
	if (!(opt->learning_rate > 0)) {
		api_path(field, sizeof field, path, "learning_rate");
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must be greater than 0", field);
	}
	return 0;
}

static int decode_metrics(const cJSON *root, const struct nn_model_spec *spec, bool *accuracy, struct api_err *err)
{
	static const char *const names[] = {"accuracy", "acc", "binary_accuracy", "categorical_accuracy",
					    "sparse_categorical_accuracy", NULL};
	const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(root, "metrics");
	char field[FIELD_MAX];
	size_t i = 0;

	*accuracy = false;
	if (!metrics || cJSON_IsNull(metrics))
		return 0;
	if (!cJSON_IsArray(metrics))
		return api_fail(err, API_VALIDATION_FAILED, "metrics", "metrics must be an array of metric names");
	for (const cJSON *m = metrics->child; m; m = m->next, i++) {
		bool known = false;

		api_path_index(field, sizeof field, "metrics", i);
		if (!cJSON_IsString(m))
			return api_fail(err, API_VALIDATION_FAILED, field, "%s must be a metric name", field);
		for (const char *const *n = names; *n; n++)
			known |= strcmp(*n, m->valuestring) == 0;
		if (!known)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"unknown metric \"%s\"; fitd reports the loss always and \"accuracy\" on request",
					m->valuestring);
		if (nn_spec_task(spec) == NN_TASK_REGRESSION)
			return api_fail(err, API_VALIDATION_FAILED, field,
					"accuracy needs a classification loss (binary, categorical or sparse "
					"categorical crossentropy)");
		*accuracy = true;
	}
	return 0;
}

/* Final checks shared by both forms: the core's own (limits, shape). */
/* source_index (may be NULL) maps a spec layer to its index in the request's
 * layer array, which differs for Keras imports (InputLayer is skipped). */
static int check_spec(const struct nn_model_spec *spec, const char *layers_path, const int *source_index,
		      struct api_err *err)
{
	char field[FIELD_MAX];
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
			field, "the last layer must be dense and every dropout rate below 1");
}

static int decode_layers(const cJSON *root, struct nn_model_spec *spec, struct api_err *err)
{
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	char field[FIELD_MAX];
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

/* ---- Keras import ---------------------------------------------------------------- */

/* Keras serialises an initializer as a name or {"class_name": ..., "config": ...}
 * (with "module" in Keras 3). */
static int keras_initializer(const cJSON *cfg, const char *path, const char *key, enum nn_init *out,
			     struct api_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
	char field[FIELD_MAX];
	int v;

	api_path(field, sizeof field, path, key);
	if (!item || cJSON_IsNull(item))
		return 0;
	if (cJSON_IsObject(item))
		item = cJSON_GetObjectItemCaseSensitive(item, "class_name");
	if (!cJSON_IsString(item))
		return api_fail(err, API_VALIDATION_FAILED, field, "%s must name an initializer", field);
	if (!name_lookup(init_names, item->valuestring, &v))
		return bad_name(err, field, "initializer", item->valuestring, init_names);
	*out = (enum nn_init)v;
	return 0;
}

static int keras_regularizer(const cJSON *cfg, const char *path, double *l2, struct api_err *err)
{
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(cfg, "kernel_regularizer");
	char field[FIELD_MAX], cfg_path[FIELD_MAX];
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
	char field[FIELD_MAX];
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
		if (!name_lookup(act_names, act->valuestring, &v))
			return bad_name(err, field, "activation", act->valuestring, act_names);
		l->act = (enum nn_act)v;
		l->alpha = v == NN_ACT_ELU ? 1.0 : 0.2;
	}
	return api_get_bool(cfg, path, "use_bias", false, &l->use_bias, err) ||
	       keras_initializer(cfg, path, "kernel_initializer", &l->kernel_init, err) ||
	       keras_initializer(cfg, path, "bias_initializer", &l->bias_init, err) ||
	       keras_regularizer(cfg, path, &l->l2, err);
}

static int decode_keras(const cJSON *root, struct api_model_def *def, bool have_dim, int *source_index,
			struct api_err *err)
{
	const cJSON *keras = cJSON_GetObjectItemCaseSensitive(root, "keras");
	cJSON *parsed = NULL;
	const cJSON *cls, *cfg, *layers;
	char layer_path[FIELD_MAX], path[FIELD_MAX], field[FIELD_MAX];
	struct nn_model_spec *spec = &def->spec;
	bool found_dim = have_dim;
	size_t i = 0;
	int rc = -1;

	/* model.to_json() returns a string; accept it as is or already parsed. */
	if (cJSON_IsString(keras)) {
		parsed = cJSON_Parse(keras->valuestring);
		if (!parsed)
			return api_fail(err, API_VALIDATION_FAILED, "keras", "keras is a string but not valid JSON");
		keras = parsed;
	}
	cls = cJSON_GetObjectItemCaseSensitive(keras, "class_name");
	cfg = cJSON_GetObjectItemCaseSensitive(keras, "config");
	if (!cJSON_IsObject(keras) || !cJSON_IsString(cls)) {
		api_fail(err, API_VALIDATION_FAILED, "keras", "keras must be the output of model.to_json()");
		goto out;
	}
	if (strcmp(cls->valuestring, "Sequential") != 0) {
		api_fail(err, API_VALIDATION_FAILED, "keras.class_name",
			 "only Sequential models can be imported, not %s", cls->valuestring);
		goto out;
	}
	layers = cJSON_GetObjectItemCaseSensitive(cfg, "layers");
	if (!cJSON_IsArray(layers)) {
		api_fail(err, API_VALIDATION_FAILED, "keras.config.layers", "keras.config.layers must be an array");
		goto out;
	}
	if (!found_dim && keras_input_dim(cfg, &spec->input_dim))
		found_dim = true;
	spec->n_layers = 0;
	for (const cJSON *l = layers->child; l; l = l->next, i++) {
		const cJSON *lcls = cJSON_GetObjectItemCaseSensitive(l, "class_name");
		const cJSON *lcfg = cJSON_GetObjectItemCaseSensitive(l, "config");

		api_path_index(layer_path, sizeof layer_path, "keras.config.layers", i);
		api_path(field, sizeof field, layer_path, "class_name");
		if (!cJSON_IsString(lcls) || !cJSON_IsObject(lcfg)) {
			api_fail(err, API_VALIDATION_FAILED, layer_path, "%s must have class_name and config", layer_path);
			goto out;
		}
		api_path(path, sizeof path, layer_path, "config");
		if (strcmp(lcls->valuestring, "InputLayer") == 0) {
			if (!found_dim && keras_input_dim(lcfg, &spec->input_dim))
				found_dim = true;
			continue;
		}
		if (spec->n_layers == NN_MAX_LAYERS) {
			api_fail(err, API_VALIDATION_FAILED, "keras.config.layers", "at most %d layers", NN_MAX_LAYERS);
			goto out;
		}
		if (strcmp(lcls->valuestring, "Dense") == 0) {
			if (!found_dim && keras_input_dim(lcfg, &spec->input_dim))
				found_dim = true;
			if (keras_dense(lcfg, path, &spec->layers[spec->n_layers], err))
				goto out;
		} else if (strcmp(lcls->valuestring, "Dropout") == 0) {
			struct nn_layer_spec *d = &spec->layers[spec->n_layers];

			memset(d, 0, sizeof *d);
			d->kind = NN_LAYER_DROPOUT;
			if (api_get_number(lcfg, path, "rate", true, 0.0, 0.999999, &d->rate, err))
				goto out;
		} else {
			api_fail(err, API_VALIDATION_FAILED, field,
				 "Keras layer %s is not supported; fitd reads Dense, Dropout and InputLayer",
				 lcls->valuestring);
			goto out;
		}
		source_index[spec->n_layers++] = (int)i;
	}
	if (!found_dim) {
		api_fail(err, API_VALIDATION_FAILED, "input_dim",
			 "the Keras model has no input shape; give input_dim beside keras");
		goto out;
	}
	if (spec->n_layers == 0 || spec->layers[spec->n_layers - 1].kind != NN_LAYER_DENSE) {
		api_fail(err, API_VALIDATION_FAILED, "keras.config.layers", "the last layer must be Dense");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(parsed);
	return rc;
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
	snprintf(out->name, sizeof out->name, "model");
	if (api_obj_check(root, "", "the model body", keys, err) ||
	    api_get_string(root, "", "name", false, API_NAME_MAX, out->name, err))
		goto out;
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
	if (keras ? decode_keras(root, out, input_dim > 0, source_index, err) : decode_layers(root, &out->spec, err))
		goto out;
	if (decode_loss(root, &out->spec.loss, err) ||
	    decode_optimizer(cJSON_GetObjectItemCaseSensitive(root, "optimizer"), "optimizer", &out->spec.opt, err) ||
	    check_spec(&out->spec, keras ? "keras.config.layers" : "layers", keras ? source_index : NULL, err) ||
	    decode_metrics(root, &out->spec, &out->accuracy, err))
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

/* ---- encoding ------------------------------------------------------------------------ */

static cJSON *activation_json(const struct nn_layer_spec *l)
{
	bool custom_alpha = (l->act == NN_ACT_LEAKY_RELU && l->alpha != 0.2) || (l->act == NN_ACT_ELU && l->alpha != 1.0);
	cJSON *o;

	if (!custom_alpha && !(l->act == NN_ACT_GELU && l->approximate))
		return cJSON_CreateString(name_of(act_names, l->act));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", name_of(act_names, l->act));
	if (custom_alpha)
		api_add_number(o, "alpha", l->alpha);
	else
		cJSON_AddBoolToObject(o, "approximate", true);
	return o;
}

static cJSON *layer_json(const struct nn_layer_spec *l)
{
	cJSON *o = cJSON_CreateObject();

	if (l->kind == NN_LAYER_DROPOUT) {
		cJSON_AddStringToObject(o, "type", "dropout");
		api_add_number(o, "rate", l->rate);
		return o;
	}
	cJSON_AddStringToObject(o, "type", "dense");
	api_add_number(o, "units", l->units);
	cJSON_AddItemToObject(o, "activation", activation_json(l));
	cJSON_AddBoolToObject(o, "use_bias", l->use_bias);
	cJSON_AddStringToObject(o, "kernel_initializer", name_of(init_names, l->kernel_init));
	cJSON_AddStringToObject(o, "bias_initializer", name_of(init_names, l->bias_init));
	if (l->l2 > 0)
		api_add_number(o, "l2", l->l2);
	return o;
}

static cJSON *optimizer_json(const struct nn_opt_spec *opt)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", name_of(opt_names, opt->kind));
	api_add_number(o, "learning_rate", opt->learning_rate);
	switch (opt->kind) {
	case NN_OPT_SGD:
		api_add_number(o, "momentum", opt->momentum);
		cJSON_AddBoolToObject(o, "nesterov", opt->nesterov);
		break;
	case NN_OPT_ADAGRAD:
		api_add_number(o, "initial_accumulator_value", opt->initial_accumulator_value);
		api_add_number(o, "epsilon", opt->epsilon);
		break;
	case NN_OPT_RMSPROP:
		api_add_number(o, "rho", opt->rho);
		api_add_number(o, "momentum", opt->momentum);
		api_add_number(o, "epsilon", opt->epsilon);
		break;
	default:
		api_add_number(o, "beta_1", opt->beta_1);
		api_add_number(o, "beta_2", opt->beta_2);
		api_add_number(o, "epsilon", opt->epsilon);
		break;
	}
	return o;
}

/* Adds the definition's fields to o (shared by the stored form and responses). */
static void def_fields(cJSON *o, const struct api_model_def *def)
{
	cJSON *layers = cJSON_AddArrayToObject(o, "layers");
	cJSON *metrics;

	api_add_number(o, "input_dim", def->spec.input_dim);
	for (uint32_t i = 0; i < def->spec.n_layers; i++)
		cJSON_AddItemToArray(layers, layer_json(&def->spec.layers[i]));
	if (def->spec.loss.from_logits) {
		cJSON *loss = cJSON_AddObjectToObject(o, "loss");
		cJSON_AddStringToObject(loss, "type", name_of(loss_names, def->spec.loss.kind));
		cJSON_AddBoolToObject(loss, "from_logits", true);
	} else {
		cJSON_AddStringToObject(o, "loss", name_of(loss_names, def->spec.loss.kind));
	}
	cJSON_AddItemToObject(o, "optimizer", optimizer_json(&def->spec.opt));
	metrics = cJSON_AddArrayToObject(o, "metrics");
	if (def->accuracy)
		cJSON_AddItemToArray(metrics, cJSON_CreateString("accuracy"));
	if (def->has_seed)
		api_add_number(o, "seed", (double)def->seed);
}

char *api_model_def_encode(const struct api_model_def *def)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", def->name);
	def_fields(o, def);
	return api_json_print_free(o);
}

const char *api_model_status_name(enum api_model_status s)
{
	static const char *const names[] = {"untrained", "training", "trained"};
	return (unsigned)s < 3 ? names[s] : "untrained";
}

bool api_model_status_parse(const char *s, enum api_model_status *out)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, api_model_status_name((enum api_model_status)i)) == 0) {
			*out = (enum api_model_status)i;
			return true;
		}
	}
	return false;
}

static cJSON *model_json(const struct api_model_info *m)
{
	cJSON *o = cJSON_CreateObject();

	api_add_number(o, "id", (double)m->id);
	cJSON_AddStringToObject(o, "name", m->def.name);
	cJSON_AddStringToObject(o, "status", api_model_status_name(m->status));
	api_add_number(o, "n_params", (double)m->n_params);
	def_fields(o, &m->def);
	cJSON_AddStringToObject(o, "created_at", m->created_at);
	cJSON_AddStringToObject(o, "updated_at", m->updated_at);
	return o;
}

char *api_model_encode(const struct api_model_info *m)
{
	return api_json_print_free(model_json(m));
}

char *api_model_list_encode(const struct api_model_info *items, size_t n, uint64_t total)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, model_json(&items[i]));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o);
}

/* ---- weights ------------------------------------------------------------------------------ */

/* Rows of prev x units (kernel), then units (bias); fan of each dense layer. */
static uint32_t layer_inputs(const struct nn_model_spec *spec, uint32_t layer)
{
	uint32_t in = spec->input_dim;

	for (uint32_t i = 0; i < layer; i++)
		if (spec->layers[i].kind == NN_LAYER_DENSE)
			in = spec->layers[i].units;
	return in;
}

char *api_weights_encode(const struct nn_model_spec *spec, const float *params)
{
	struct api_buf b = {0};
	const float *p = params;
	bool first_layer = true;

	api_buf_puts(&b, "{\"layers\":[");
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);

		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_buf_puts(&b, first_layer ? "{\"kernel\":[" : ",{\"kernel\":[");
		first_layer = false;
		for (uint32_t r = 0; r < in; r++) {
			api_buf_puts(&b, r ? ",[" : "[");
			for (uint32_t c = 0; c < l->units; c++) {
				if (c)
					api_buf_put(&b, ",", 1);
				api_buf_float(&b, *p++);
			}
			api_buf_put(&b, "]", 1);
		}
		api_buf_put(&b, "]", 1);
		if (l->use_bias) {
			api_buf_puts(&b, ",\"bias\":[");
			for (uint32_t c = 0; c < l->units; c++) {
				if (c)
					api_buf_put(&b, ",", 1);
				api_buf_float(&b, *p++);
			}
			api_buf_put(&b, "]", 1);
		}
		api_buf_put(&b, "}", 1);
	}
	api_buf_puts(&b, "]}");
	return api_buf_finish(&b);
}

int api_weights_decode(const char *body, size_t len, const struct nn_model_spec *spec, float *params,
		       struct api_err *err)
{
	static const char *const root_keys[] = {"layers", NULL};
	static const char *const layer_keys[] = {"kernel", "bias", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *layers, *item;
	char path[FIELD_MAX], field[FIELD_MAX];
	uint32_t n_dense = 0, wi = 0;
	float *p = params;
	int rc = -1;

	if (!root)
		return -1;
	if (api_obj_check(root, "", "the weights body", root_keys, err))
		goto out;
	for (uint32_t i = 0; i < spec->n_layers; i++)
		n_dense += spec->layers[i].kind == NN_LAYER_DENSE;
	layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	if (!cJSON_IsArray(layers) || (uint32_t)cJSON_GetArraySize(layers) != n_dense) {
		api_fail(err, API_VALIDATION_FAILED, "layers", "layers must be an array of %u objects, one per dense layer",
			 n_dense);
		goto out;
	}
	item = layers->child;
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li), r = 0;
		const cJSON *kernel, *bias;

		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_path_index(path, sizeof path, "layers", wi++);
		if (api_obj_check(item, path, path, layer_keys, err))
			goto out;
		kernel = cJSON_GetObjectItemCaseSensitive(item, "kernel");
		bias = cJSON_GetObjectItemCaseSensitive(item, "bias");
		api_path(field, sizeof field, path, "kernel");
		if (!cJSON_IsArray(kernel) || (uint32_t)cJSON_GetArraySize(kernel) != in) {
			api_fail(err, API_VALIDATION_FAILED, field, "%s must have shape [%u, %u]", field, in, l->units);
			goto out;
		}
		for (const cJSON *row = kernel->child; row; row = row->next, r++) {
			char rowf[FIELD_MAX];

			api_path_index(rowf, sizeof rowf, field, r);
			if (api_read_floats(row, rowf, l->units, p, err))
				goto out;
			p += l->units;
		}
		api_path(field, sizeof field, path, "bias");
		if (l->use_bias) {
			if (api_read_floats(bias, field, l->units, p, err))
				goto out;
			p += l->units;
		} else if (bias) {
			api_fail(err, API_VALIDATION_FAILED, field, "%s: this layer has use_bias false", field);
			goto out;
		}
		item = item->next;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}
