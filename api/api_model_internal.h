/*
 * api_model_internal.h — what the model files of api/ share: the name tables
 * of activations, losses, optimizers and initializers (api_model.c), and the
 * Keras import (api_keras.c). Nothing outside api/ includes it.
 */
#ifndef FITD_API_MODEL_INTERNAL_H
#define FITD_API_MODEL_INTERNAL_H

#include "api/api_internal.h"

#define API_FIELD_MAX sizeof(((struct api_err *)0)->field)

/* One spelling of an enum value; a table ends with {NULL, 0}, and the first
 * row of a value is its canonical name. */
struct api_name_row {
	const char *name;
	int value;
};
extern const struct api_name_row api_act_names[];
extern const struct api_name_row api_loss_names[];
extern const struct api_name_row api_opt_names[];
extern const struct api_name_row api_init_names[];

/* Is name a spelling in table? Sets *value. */
bool api_name_lookup(const struct api_name_row *table, const char *name, int *value);
/* The canonical name of value, "?" when the table has none. */
const char *api_name_of(const struct api_name_row *table, int value);
/* A 422 at field: "unknown <what> "<got>"; expected one of: ..."; returns -1. */
int api_bad_name(struct api_err *err, const char *field, const char *what, const char *got,
		 const struct api_name_row *table);

/* The Keras form: root's "keras" (model.to_json(), a string or an object)
 * into def->spec's layers and input_dim (unless have_dim); source_index[i]
 * receives the Keras layer index of spec layer i (InputLayer is skipped). */
int api_keras_decode(const cJSON *root, struct api_model_def *def, bool have_dim, int *source_index,
		     struct api_err *err);

/* A normalization layer's object (plain layer, or a Keras config when keras)
 * into l. Returns 0 or -1 with err. */
int api_norm_layer(const cJSON *obj, const char *path, bool keras, struct nn_layer_spec *l, struct api_err *err);

/* A batch normalization layer's object (plain layer, or a Keras
 * BatchNormalization config when keras: axis -1 only, other fields
 * ignored) into l, Keras's defaults for what is absent. Returns 0 or -1
 * with err. */
int api_bn_layer(const cJSON *obj, const char *path, bool keras, struct nn_layer_spec *l, struct api_err *err);

/* An optimizer's "learning_rate" object at path (fitd's {"type": ...} or
 * Keras's serialized {"class_name", "config"}) into opt->schedule, and
 * opt->learning_rate set to its value at step 0 (api_schedule.c). */
int api_schedule_decode(const cJSON *item, const char *path, struct nn_opt_spec *opt, struct api_err *err);
/* A schedule in fitd's form. */
cJSON *api_schedule_json(const struct nn_lr_schedule *s);

#endif
