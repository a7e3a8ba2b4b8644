/*
 * api_model_encode.c — a model's definition as canonical JSON (what is
 * stored, with every default filled in), a model record and a list of them
 * as response bodies, and the model states' names.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_model_internal.h"

/* ---- encoding ------------------------------------------------------------------------ */

static cJSON *activation_json(const struct nn_layer_spec *l)
{
	bool custom_alpha = (l->act == NN_ACT_LEAKY_RELU || l->act == NN_ACT_ELU) && l->alpha != nn_act_default_alpha(l->act);
	cJSON *o;

	if (!custom_alpha && !(l->act == NN_ACT_GELU && l->approximate))
		return cJSON_CreateString(api_name_of(api_act_names, l->act));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", api_name_of(api_act_names, l->act));
	if (custom_alpha)
		api_add_number(o, "alpha", l->alpha);
	else
		cJSON_AddBoolToObject(o, "approximate", true);
	return o;
}

static cJSON *layer_json(const struct nn_layer_spec *l)
{
	cJSON *o = cJSON_CreateObject();

	if (l->kind == NN_LAYER_NORMALIZATION) {
		/* the values are weights (GET /weights); adapt false: given or set by hand */
		cJSON_AddStringToObject(o, "type", "normalization");
		cJSON_AddBoolToObject(o, "adapt", !l->norm_given);
		return o;
	}
	if (l->kind == NN_LAYER_BATCH_NORM) {
		cJSON_AddStringToObject(o, "type", "batch_normalization");
		api_add_number(o, "momentum", l->momentum);
		api_add_number(o, "epsilon", l->epsilon);
		cJSON_AddBoolToObject(o, "center", l->center);
		cJSON_AddBoolToObject(o, "scale", l->scale);
		return o;
	}
	if (l->kind == NN_LAYER_DROPOUT) {
		cJSON_AddStringToObject(o, "type", "dropout");
		api_add_number(o, "rate", l->rate);
		return o;
	}
	cJSON_AddStringToObject(o, "type", "dense");
	api_add_number(o, "units", l->units);
	api_json_add(o, "activation", activation_json(l));
	cJSON_AddBoolToObject(o, "use_bias", l->use_bias);
	cJSON_AddStringToObject(o, "kernel_initializer", api_name_of(api_init_names, l->kernel_init));
	cJSON_AddStringToObject(o, "bias_initializer", api_name_of(api_init_names, l->bias_init));
	if (l->l2 > 0)
		api_add_number(o, "l2", l->l2);
	return o;
}

static cJSON *optimizer_json(const struct nn_opt_spec *opt)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", api_name_of(api_opt_names, opt->kind));
	if (opt->schedule.kind != NN_LR_CONSTANT)
		api_json_add(o, "learning_rate", api_schedule_json(&opt->schedule));
	else
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
		api_json_append(layers, layer_json(&def->spec.layers[i]));
	if (def->spec.loss.from_logits) {
		cJSON *loss = cJSON_AddObjectToObject(o, "loss");
		cJSON_AddStringToObject(loss, "type", api_name_of(api_loss_names, def->spec.loss.kind));
		cJSON_AddBoolToObject(loss, "from_logits", true);
	} else {
		cJSON_AddStringToObject(o, "loss", api_name_of(api_loss_names, def->spec.loss.kind));
	}
	api_json_add(o, "optimizer", optimizer_json(&def->spec.opt));
	metrics = cJSON_AddArrayToObject(o, "metrics");
	if (def->accuracy)
		api_json_append(metrics, cJSON_CreateString("accuracy"));
	for (int m = NN_METRIC_ACCURACY + 1; m < NN_METRIC_COUNT; m++)
		if (def->metrics & NN_METRIC_BIT(m))
			api_json_append(metrics, cJSON_CreateString(nn_metric_name((enum nn_metric)m)));
	if (def->has_seed)
		api_add_number(o, "seed", (double)def->seed);
}

char *api_model_def_encode(const struct api_model_def *def)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();

	if (def->name[0]) /* a model without a name: none stored */
		cJSON_AddStringToObject(o, "name", def->name);
	def_fields(o, def);
	return api_json_print_free(o, failures);
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
	if (m->def.name[0])
		cJSON_AddStringToObject(o, "name", m->def.name);
	else
		cJSON_AddNullToObject(o, "name");
	cJSON_AddStringToObject(o, "status", api_model_status_name(m->status));
	if (m->version)
		api_add_number(o, "version", (double)m->version);
	else
		cJSON_AddNullToObject(o, "version");
	api_add_number(o, "n_params", (double)m->n_params);
	def_fields(o, &m->def);
	cJSON_AddStringToObject(o, "created_at", m->created_at);
	cJSON_AddStringToObject(o, "updated_at", m->updated_at);
	return o;
}

char *api_model_encode(const struct api_model_info *m)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(model_json(m), failures);
}

char *api_model_list_encode(const struct api_model_info *items, size_t n, uint64_t total)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, model_json(&items[i]));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o, failures);
}
