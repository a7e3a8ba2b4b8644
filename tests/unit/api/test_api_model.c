/*
 * test_api_model.c — api/api_model.c, api_keras.c, api_model_encode.c and
 * api_weights.c: POST /v1/models bodies (fitd's own form and the Keras
 * import) to a struct api_model_def, the canonical definition JSON, and the
 * weights in get_weights() form.
 *
 * Validation cases are data (jq's jq.test): each row is a body, written with
 * single quotes (test_api_util.h), and the status and field it must produce.
 * Accepted bodies are checked value by value against the contract in
 * docs/API.md and Keras's defaults, and every accepted body must survive
 * decode -> api_model_def_encode -> decode unchanged.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_model(void);

/* Decodes a single-quoted body. */
static int decode(const char *sq, struct api_model_def *def, struct api_err *err)
{
	struct tbody b = tq(sq);
	int rc;

	memset(err, 0, sizeof *err);
	rc = api_model_decode(b.p, b.n, def, err);
	tb_free(&b);
	return rc;
}

static void decode_ok(const char *sq, struct api_model_def *def)
{
	struct api_err err;

	ck_assert_msg(decode(sq, def, &err) == 0, "%s\n-> %s %s: %s", sq, api_code_name(err.code), err.field,
		      err.message);
}

/* Field-by-field equality (alpha and approximate count only where they mean
 * something). Returns true, or false with the first difference in diff. */
static bool spec_same(const struct nn_model_spec *a, const struct nn_model_spec *b, char *diff, size_t size)
{
#define DIFF(cond, ...)                                   \
	do {                                              \
		if (!(cond)) {                            \
			snprintf(diff, size, __VA_ARGS__); \
			return false;                     \
		}                                         \
	} while (0)
	DIFF(a->input_dim == b->input_dim, "input_dim %u != %u", a->input_dim, b->input_dim);
	DIFF(a->n_layers == b->n_layers, "n_layers %u != %u", a->n_layers, b->n_layers);
	for (uint32_t i = 0; i < a->n_layers; i++) {
		const struct nn_layer_spec *x = &a->layers[i], *y = &b->layers[i];

		DIFF(x->kind == y->kind, "layer %u kind", i);
		if (x->kind == NN_LAYER_DROPOUT) {
			DIFF(x->rate == y->rate, "layer %u rate %.17g != %.17g", i, x->rate, y->rate);
			continue;
		}
		DIFF(x->units == y->units, "layer %u units", i);
		DIFF(x->act == y->act, "layer %u activation %d != %d", i, x->act, y->act);
		if (x->act == NN_ACT_LEAKY_RELU || x->act == NN_ACT_ELU)
			DIFF(x->alpha == y->alpha, "layer %u alpha %.17g != %.17g", i, x->alpha, y->alpha);
		if (x->act == NN_ACT_GELU)
			DIFF(x->approximate == y->approximate, "layer %u approximate", i);
		DIFF(x->use_bias == y->use_bias, "layer %u use_bias", i);
		DIFF(x->kernel_init == y->kernel_init, "layer %u kernel_init", i);
		DIFF(x->bias_init == y->bias_init, "layer %u bias_init", i);
		DIFF(x->l2 == y->l2, "layer %u l2 %.17g != %.17g", i, x->l2, y->l2);
	}
	DIFF(a->loss.kind == b->loss.kind && a->loss.from_logits == b->loss.from_logits, "loss");
	DIFF(a->opt.kind == b->opt.kind, "optimizer kind");
	DIFF(a->opt.learning_rate == b->opt.learning_rate, "learning_rate %.17g != %.17g", a->opt.learning_rate,
	     b->opt.learning_rate);
	DIFF(a->opt.momentum == b->opt.momentum, "momentum");
	DIFF(a->opt.nesterov == b->opt.nesterov, "nesterov");
	DIFF(a->opt.initial_accumulator_value == b->opt.initial_accumulator_value, "initial_accumulator_value");
	DIFF(a->opt.rho == b->opt.rho, "rho");
	DIFF(a->opt.beta_1 == b->opt.beta_1 && a->opt.beta_2 == b->opt.beta_2, "betas");
	DIFF(a->opt.epsilon == b->opt.epsilon, "epsilon %.17g != %.17g", a->opt.epsilon, b->opt.epsilon);
#undef DIFF
	return true;
}

static void spec_equal(const struct nn_model_spec *a, const struct nn_model_spec *b, const char *what)
{
	char diff[200];

	ck_assert_msg(spec_same(a, b, diff, sizeof diff), "%s: %s", what, diff);
}

/* ---- the tutorial body ------------------------------------------------------------ */

#define TUTORIAL                                                                                            \
	"{'name': 'digits-mlp', 'input_dim': 64,"                                                           \
	" 'layers': [{'type': 'dense', 'units': 25, 'activation': 'relu'},"                                 \
	"            {'type': 'dense', 'units': 15, 'activation': 'relu'},"                                 \
	"            {'type': 'dense', 'units': 10, 'activation': 'softmax'}],"                             \
	" 'loss': 'sparse_categorical_crossentropy',"                                                       \
	" 'optimizer': {'type': 'adam', 'learning_rate': 0.001},"                                           \
	" 'metrics': ['accuracy'], 'seed': 42}"

START_TEST(test_tutorial_body)
{
	static const uint32_t units[3] = {25, 15, 10};
	static const enum nn_act acts[3] = {NN_ACT_RELU, NN_ACT_RELU, NN_ACT_SOFTMAX};
	struct api_model_def def;
	uint64_t n_params = 0;

	decode_ok(TUTORIAL, &def);
	ck_assert_str_eq(def.name, "digits-mlp");
	ck_assert_uint_eq(def.spec.input_dim, 64);
	ck_assert_uint_eq(def.spec.n_layers, 3);
	for (int i = 0; i < 3; i++) {
		const struct nn_layer_spec *l = &def.spec.layers[i];

		ck_assert_int_eq(l->kind, NN_LAYER_DENSE);
		ck_assert_uint_eq(l->units, units[i]);
		ck_assert_int_eq(l->act, acts[i]);
		ck_assert(l->use_bias);
		ck_assert_int_eq(l->kernel_init, NN_INIT_GLOROT_UNIFORM);
		ck_assert_int_eq(l->bias_init, NN_INIT_ZEROS);
		ck_assert(l->l2 == 0.0);
	}
	ck_assert_int_eq(def.spec.loss.kind, NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
	ck_assert(!def.spec.loss.from_logits);
	ck_assert_int_eq(def.spec.opt.kind, NN_OPT_ADAM);
	ck_assert(def.spec.opt.learning_rate == 0.001);
	ck_assert(def.spec.opt.beta_1 == 0.9 && def.spec.opt.beta_2 == 0.999 && def.spec.opt.epsilon == 1e-7);
	ck_assert(def.accuracy);
	ck_assert(def.has_seed);
	ck_assert_uint_eq(def.seed, 42);
	/* 64*25+25 + 25*15+15 + 15*10+10 */
	ck_assert_int_eq(nn_spec_check(&def.spec, &n_params, NULL), NN_OK);
	ck_assert_uint_eq(n_params, 2175);
}
END_TEST

START_TEST(test_minimal_body_defaults)
{
	struct api_model_def def;

	decode_ok("{'input_dim': 3, 'layers': [{'units': 2}], 'loss': 'mse'}", &def);
	ck_assert_str_eq(def.name, ""); /* no name: names are unique, so none is made up */
	ck_assert_int_eq(def.spec.layers[0].kind, NN_LAYER_DENSE); /* type defaults to dense */
	ck_assert_int_eq(def.spec.layers[0].act, NN_ACT_LINEAR);
	ck_assert(def.spec.layers[0].use_bias);
	ck_assert(!def.accuracy);
	ck_assert(!def.has_seed);
}
END_TEST

/* ---- activations ------------------------------------------------------------------- */

static const struct {
	const char *json; /* the activation value */
	enum nn_act act;
	double alpha;     /* checked for leaky_relu and elu */
	bool approximate; /* checked for gelu */
} activation_rows[] = {
	{"'linear'", NN_ACT_LINEAR, 0, false},
	{"'sigmoid'", NN_ACT_SIGMOID, 0, false},
	{"'relu'", NN_ACT_RELU, 0, false},
	{"'softmax'", NN_ACT_SOFTMAX, 0, false},
	{"'tanh'", NN_ACT_TANH, 0, false},
	{"'leaky_relu'", NN_ACT_LEAKY_RELU, 0.2, false},
	{"'elu'", NN_ACT_ELU, 1.0, false},
	{"'gelu'", NN_ACT_GELU, 0, false},
	{"'softplus'", NN_ACT_SOFTPLUS, 0, false},
	{"'swish'", NN_ACT_SWISH, 0, false},
	{"'silu'", NN_ACT_SWISH, 0, false},
	{"null", NN_ACT_LINEAR, 0, false},
	{"{'type': 'relu'}", NN_ACT_RELU, 0, false},
	{"{'type': 'leaky_relu'}", NN_ACT_LEAKY_RELU, 0.2, false},
	{"{'type': 'leaky_relu', 'alpha': 0.1}", NN_ACT_LEAKY_RELU, 0.1, false},
	{"{'type': 'leaky_relu', 'alpha': 0}", NN_ACT_LEAKY_RELU, 0.0, false},
	{"{'type': 'elu'}", NN_ACT_ELU, 1.0, false},
	{"{'type': 'elu', 'alpha': 0.5}", NN_ACT_ELU, 0.5, false},
	{"{'type': 'gelu', 'approximate': true}", NN_ACT_GELU, 0, true},
	{"{'type': 'gelu', 'approximate': false}", NN_ACT_GELU, 0, false},
	{"{'type': 'swish'}", NN_ACT_SWISH, 0, false},
};

START_TEST(test_activation_table)
{
	char body[512];
	struct api_model_def def;

	snprintf(body, sizeof body,
		 "{'input_dim': 3, 'layers': [{'type': 'dense', 'units': 2, 'activation': %s}], 'loss': 'mse'}",
		 activation_rows[_i].json);
	decode_ok(body, &def);
	ck_assert_msg(def.spec.layers[0].act == activation_rows[_i].act, "%s: act %d", body, def.spec.layers[0].act);
	if (def.spec.layers[0].act == NN_ACT_LEAKY_RELU || def.spec.layers[0].act == NN_ACT_ELU)
		ck_assert_msg(def.spec.layers[0].alpha == activation_rows[_i].alpha, "%s: alpha %g", body,
			      def.spec.layers[0].alpha);
	if (def.spec.layers[0].act == NN_ACT_GELU)
		ck_assert_msg(def.spec.layers[0].approximate == activation_rows[_i].approximate, "%s: approximate",
			      body);
}
END_TEST

START_TEST(test_activation_table_covers_every_activation)
{
	bool seen[NN_ACT_COUNT] = {false};

	for (size_t i = 0; i < sizeof activation_rows / sizeof activation_rows[0]; i++)
		seen[activation_rows[i].act] = true;
	for (int a = 0; a < NN_ACT_COUNT; a++)
		ck_assert_msg(seen[a], "activation %d has no row", a);
}
END_TEST

/* ---- losses -------------------------------------------------------------------------- */

static const struct {
	const char *json;
	enum nn_loss_kind kind;
	bool from_logits;
} loss_rows[] = {
	{"'mean_squared_error'", NN_LOSS_MSE, false},
	{"'mse'", NN_LOSS_MSE, false},
	{"'MeanSquaredError'", NN_LOSS_MSE, false},
	{"'mean_absolute_error'", NN_LOSS_MAE, false},
	{"'mae'", NN_LOSS_MAE, false},
	{"'MeanAbsoluteError'", NN_LOSS_MAE, false},
	{"'huber'", NN_LOSS_HUBER, false},
	{"'Huber'", NN_LOSS_HUBER, false},
	{"'binary_crossentropy'", NN_LOSS_BINARY_CROSSENTROPY, false},
	{"'BinaryCrossentropy'", NN_LOSS_BINARY_CROSSENTROPY, false},
	{"'categorical_crossentropy'", NN_LOSS_CATEGORICAL_CROSSENTROPY, false},
	{"'CategoricalCrossentropy'", NN_LOSS_CATEGORICAL_CROSSENTROPY, false},
	{"'sparse_categorical_crossentropy'", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false},
	{"'SparseCategoricalCrossentropy'", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false},
	{"{'type': 'mse'}", NN_LOSS_MSE, false},
	{"{'type': 'huber', 'from_logits': false}", NN_LOSS_HUBER, false},
	{"{'type': 'binary_crossentropy', 'from_logits': true}", NN_LOSS_BINARY_CROSSENTROPY, true},
	{"{'type': 'BinaryCrossentropy', 'from_logits': true}", NN_LOSS_BINARY_CROSSENTROPY, true},
	{"{'type': 'categorical_crossentropy', 'from_logits': true}", NN_LOSS_CATEGORICAL_CROSSENTROPY, true},
	{"{'type': 'SparseCategoricalCrossentropy', 'from_logits': true}", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
	 true},
	{"{'from_logits': true, 'type': 'sparse_categorical_crossentropy'}", NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
	 true},
};

START_TEST(test_loss_table)
{
	char body[512];
	struct api_model_def def;

	snprintf(body, sizeof body, "{'input_dim': 3, 'layers': [{'units': 2}], 'loss': %s}", loss_rows[_i].json);
	decode_ok(body, &def);
	ck_assert_msg(def.spec.loss.kind == loss_rows[_i].kind, "%s: kind %d", body, def.spec.loss.kind);
	ck_assert_msg(def.spec.loss.from_logits == loss_rows[_i].from_logits, "%s: from_logits", body);
}
END_TEST

START_TEST(test_loss_table_covers_every_loss)
{
	bool seen[NN_LOSS_COUNT] = {false};

	for (size_t i = 0; i < sizeof loss_rows / sizeof loss_rows[0]; i++)
		seen[loss_rows[i].kind] = true;
	for (int k = 0; k < NN_LOSS_COUNT; k++)
		ck_assert_msg(seen[k], "loss %d has no row", k);
}
END_TEST

/* ---- optimizers ------------------------------------------------------------------------- */

/* Keras's defaults, written out here rather than taken from nn_opt_defaults. */
#define SGD_DEF NN_OPT_SGD, 0.01, 0.0, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}
#define ADAGRAD_DEF NN_OPT_ADAGRAD, 0.001, 0.0, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}
#define RMSPROP_DEF NN_OPT_RMSPROP, 0.001, 0.0, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}
#define ADAM_DEF NN_OPT_ADAM, 0.001, 0.0, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}

static const struct {
	const char *json; /* the optimizer value; NULL: no optimizer key */
	struct nn_opt_spec want; /* compared on the fields the optimizer uses */
} opt_rows[] = {
	{"'sgd'", {SGD_DEF}},
	{"'SGD'", {SGD_DEF}},
	{"'adagrad'", {ADAGRAD_DEF}},
	{"'Adagrad'", {ADAGRAD_DEF}},
	{"'rmsprop'", {RMSPROP_DEF}},
	{"'RMSprop'", {RMSPROP_DEF}},
	{"'RMSProp'", {RMSPROP_DEF}},
	{"'adam'", {ADAM_DEF}},
	{"'Adam'", {ADAM_DEF}},
	{"{'type': 'sgd'}", {SGD_DEF}},
	{"{'type': 'adam'}", {ADAM_DEF}},
	/* Keras's compile() default when no optimizer is given */
	{NULL, {RMSPROP_DEF}},
	{"null", {RMSPROP_DEF}},
	{"{'type': 'sgd', 'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': true}",
	 {NN_OPT_SGD, 0.1, 0.9, true, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}}},
	{"{'type': 'SGD', 'momentum': 0.5}", {NN_OPT_SGD, 0.01, 0.5, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}}},
	{"{'type': 'adagrad', 'learning_rate': 0.05, 'initial_accumulator_value': 0.5, 'epsilon': 1e-5}",
	 {NN_OPT_ADAGRAD, 0.05, 0.0, false, 0.5, 0.9, 0.9, 0.999, 1e-5, {0}}},
	{"{'type': 'rmsprop', 'rho': 0.95, 'momentum': 0.5, 'epsilon': 1e-6}",
	 {NN_OPT_RMSPROP, 0.001, 0.5, false, 0.1, 0.95, 0.9, 0.999, 1e-6, {0}}},
	{"{'type': 'Adam', 'learning_rate': 0.01, 'beta_1': 0.8, 'beta_2': 0.99, 'epsilon': 1e-8}",
	 {NN_OPT_ADAM, 0.01, 0.0, false, 0.1, 0.9, 0.8, 0.99, 1e-8, {0}}},
	{"{'type': 'adam', 'learning_rate': 1e6}", {NN_OPT_ADAM, 1e6, 0.0, false, 0.1, 0.9, 0.9, 0.999, 1e-7, {0}}},
};

START_TEST(test_optimizer_table)
{
	const struct nn_opt_spec *w = &opt_rows[_i].want;
	char body[512];
	struct api_model_def def;
	const struct nn_opt_spec *o = &def.spec.opt;

	if (opt_rows[_i].json)
		snprintf(body, sizeof body, "{'input_dim': 3, 'layers': [{'units': 2}], 'loss': 'mse', 'optimizer': %s}",
			 opt_rows[_i].json);
	else
		snprintf(body, sizeof body, "{'input_dim': 3, 'layers': [{'units': 2}], 'loss': 'mse'}");
	decode_ok(body, &def);
	ck_assert_msg(o->kind == w->kind, "%s: kind %d", body, o->kind);
	ck_assert_msg(o->learning_rate == w->learning_rate, "%s: learning_rate %.17g", body, o->learning_rate);
	ck_assert_msg(o->epsilon == w->epsilon || w->kind == NN_OPT_SGD, "%s: epsilon %.17g", body, o->epsilon);
	switch (w->kind) {
	case NN_OPT_SGD:
		ck_assert_msg(o->momentum == w->momentum && o->nesterov == w->nesterov, "%s: momentum/nesterov", body);
		break;
	case NN_OPT_ADAGRAD:
		ck_assert_msg(o->initial_accumulator_value == w->initial_accumulator_value,
			      "%s: initial_accumulator_value %.17g", body, o->initial_accumulator_value);
		break;
	case NN_OPT_RMSPROP:
		ck_assert_msg(o->rho == w->rho && o->momentum == w->momentum, "%s: rho %.17g momentum %.17g", body,
			      o->rho, o->momentum);
		break;
	default:
		ck_assert_msg(o->beta_1 == w->beta_1 && o->beta_2 == w->beta_2, "%s: beta_1 %.17g beta_2 %.17g", body,
			      o->beta_1, o->beta_2);
		break;
	}
}
END_TEST

/* ---- refused bodies ------------------------------------------------------------------------ */

#define LOSS "'loss': 'mse'"
#define ONE "'input_dim': 3, 'layers': [{'units': 2}]"

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
	const char *msg_part; /* NULL: not checked */
} bad_rows[] = {
	/* not JSON, not an object */
	{"", API_INVALID_JSON, "", "empty"},
	{"{", API_INVALID_JSON, "", "line 1"},
	{"{'input_dim': 3,}", API_INVALID_JSON, "", "syntax error"},
	{"{" ONE ", " LOSS "} {}", API_INVALID_JSON, "", "unexpected data"},
	{"[]", API_VALIDATION_FAILED, "", "must be a JSON object"},
	{"42", API_VALIDATION_FAILED, "", NULL},
	/* unknown keys anywhere, keys are case-sensitive */
	{"{" ONE ", " LOSS ", 'epochs': 3}", API_VALIDATION_FAILED, "epochs", "unknown field"},
	{"{" ONE ", " LOSS ", 'Name': 'x'}", API_VALIDATION_FAILED, "Name", "unknown field"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'unit': 3}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].unit",
	 "unknown field"},
	{"{'input_dim': 3, 'layers': [{'units': 4}, {'Units': 2}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[1].Units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'leaky_relu', 'slope': 0.1}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.slope", "unknown field"},
	{"{" ONE ", 'loss': {'type': 'mse', 'reduction': 'sum'}}", API_VALIDATION_FAILED, "loss.reduction", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rte': 0.01}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rte", "learning_rte"},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'lr': 0.01}}", API_VALIDATION_FAILED, "optimizer.lr",
	 NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'sgd', 'beta_1': 0.9}}", API_VALIDATION_FAILED,
	 "optimizer.beta_1", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'momentum': 0.9}}", API_VALIDATION_FAILED,
	 "optimizer.momentum", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 4}, {'type': 'dropout', 'rate': 0.2, 'units': 4}, {'units': 1}], " LOSS
	 "}",
	 API_VALIDATION_FAILED, "layers[1].units", NULL},
	/* duplicate keys */
	{"{'name': 'a', 'name': 'b', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", "twice"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'units': 3}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units",
	 "twice"},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': 0.1, 'learning_rate': 0.2}}",
	 API_VALIDATION_FAILED, "optimizer.learning_rate", "twice"},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'type': 'sgd'}}", API_VALIDATION_FAILED, "optimizer.type",
	 "twice"},
	{"{" ONE ", 'loss': {'type': 'mse', 'type': 'mae'}}", API_VALIDATION_FAILED, "loss.type", "twice"},
	/* missing fields */
	{"{'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", "required"},
	{"{'input_dim': 3, " LOSS "}", API_VALIDATION_FAILED, "layers", "required"},
	{"{" ONE "}", API_VALIDATION_FAILED, "loss", "required"},
	{"{'input_dim': 3, 'layers': [{'type': 'dense'}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units",
	 "required"},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'dropout'}, {'units': 1}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[1].rate", "required"},
	/* wrong types */
	{"{'name': 5, " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", NULL},
	{"{'input_dim': '3', 'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{'input_dim': 3, 'layers': {'units': 2}, " LOSS "}", API_VALIDATION_FAILED, "layers", NULL},
	{"{'input_dim': 3, 'layers': [2], " LOSS "}", API_VALIDATION_FAILED, "layers[0]", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': 5}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].activation", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'use_bias': 'no'}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].use_bias", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'use_bias': 0}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].use_bias", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'kernel_initializer': {'class_name': 'Zeros'}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].kernel_initializer", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'l2': '0.1'}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].l2",
	 NULL},
	{"{" ONE ", 'loss': 5}", API_VALIDATION_FAILED, "loss", NULL},
	{"{" ONE ", 'loss': {'from_logits': true}}", API_VALIDATION_FAILED, "loss.type", NULL},
	{"{" ONE ", 'loss': {'type': 'mse', 'from_logits': 1}}", API_VALIDATION_FAILED, "loss.from_logits", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': 5}", API_VALIDATION_FAILED, "optimizer", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'learning_rate': 0.1}}", API_VALIDATION_FAILED, "optimizer.type", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'sgd', 'nesterov': 1}}", API_VALIDATION_FAILED,
	 "optimizer.nesterov", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': '0.1'}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rate", NULL},
	{"{" ONE ", " LOSS ", 'metrics': 'accuracy'}", API_VALIDATION_FAILED, "metrics", NULL},
	{"{" ONE ", " LOSS ", 'metrics': [1]}", API_VALIDATION_FAILED, "metrics[0]", NULL},
	{"{" ONE ", " LOSS ", 'seed': '7'}", API_VALIDATION_FAILED, "seed", NULL},
	/* unknown names */
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'relu6'}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].activation", "relu6"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'Relu'}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].activation", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'mish'}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.type", "mish"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'alpha': 0.1}}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].activation.type", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'relu', 'alpha': 0.1}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.alpha", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'relu', 'approximate': true}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.approximate", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'leaky_relu', 'alpha': -0.1}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.alpha", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': {'type': 'gelu', 'approximate': 'yes'}}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].activation.approximate", NULL},
	{"{" ONE ", 'loss': 'cross_entropy'}", API_VALIDATION_FAILED, "loss", "cross_entropy"},
	{"{" ONE ", 'loss': 'MSE_loss'}", API_VALIDATION_FAILED, "loss", NULL},
	{"{" ONE ", 'loss': {'type': 'kl_divergence'}}", API_VALIDATION_FAILED, "loss.type", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': 'nadam'}", API_VALIDATION_FAILED, "optimizer", "nadam"},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adamw'}}", API_VALIDATION_FAILED, "optimizer.type", NULL},
	{"{'input_dim': 3, 'layers': [{'type': 'conv2d', 'units': 2}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].type", "conv2d"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'kernel_initializer': 'orthogonal'}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[0].kernel_initializer", "orthogonal"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'bias_initializer': 'random'}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0].bias_initializer", NULL},
	{"{" ONE ", " LOSS ", 'metrics': ['mape']}", API_VALIDATION_FAILED, "metrics[0]", "mape"},
	{"{" ONE ", " LOSS ", 'metrics': ['mae', 'auc']}", API_VALIDATION_FAILED, "metrics[1]", "classification"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'softmax'}], 'loss': 'categorical_crossentropy', "
	 "'metrics': ['precision', 'r2_score']}",
	 API_VALIDATION_FAILED, "metrics[1]", "regression"},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'sigmoid'}], 'loss': 'binary_crossentropy', "
	 "'metrics': ['accuracy', 'recall']}",
	 API_VALIDATION_FAILED, "metrics[1]", "one output"},
	{"{'input_dim': 3, 'layers': [{'units': 1025, 'activation': 'softmax'}], 'loss': "
	 "'sparse_categorical_crossentropy', 'metrics': ['f1_score']}",
	 API_VALIDATION_FAILED, "metrics[0]", NULL},
	/* units: 0, past 65536, 1e9, 2.5, a string, negative, infinite */
	{"{'input_dim': 3, 'layers': [{'units': 0}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", "1..65536"},
	{"{'input_dim': 3, 'layers': [{'units': 65537}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 1e9}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2.5}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': '10'}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': -2}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': true}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 1e999}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].units", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 4}, {'units': 65537}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[1].units", NULL},
	/* other numbers: non-finite (1e999 parses to infinity), out of range, not integral */
	{"{'input_dim': 1e999, 'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{'input_dim': 0, 'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{'input_dim': 1048577, 'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{'input_dim': 3.5, 'layers': [{'units': 2}], " LOSS "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': 1e999}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rate", "finite"},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': -1e999}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rate", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': 0}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rate", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'learning_rate': -0.1}}", API_VALIDATION_FAILED,
	 "optimizer.learning_rate", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'sgd', 'momentum': 1.5}}", API_VALIDATION_FAILED,
	 "optimizer.momentum", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'beta_1': 1}}", API_VALIDATION_FAILED, "optimizer.beta_1",
	 NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'beta_2': -0.5}}", API_VALIDATION_FAILED,
	 "optimizer.beta_2", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adam', 'epsilon': 0}}", API_VALIDATION_FAILED,
	 "optimizer.epsilon", NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'rmsprop', 'rho': 1.1}}", API_VALIDATION_FAILED, "optimizer.rho",
	 NULL},
	{"{" ONE ", " LOSS ", 'optimizer': {'type': 'adagrad', 'initial_accumulator_value': -1}}",
	 API_VALIDATION_FAILED, "optimizer.initial_accumulator_value", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'l2': -0.01}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].l2",
	 NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2, 'l2': 1e999}], " LOSS "}", API_VALIDATION_FAILED, "layers[0].l2",
	 NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'dropout', 'rate': 1}, {'units': 1}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[1].rate", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'dropout', 'rate': -0.1}, {'units': 1}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[1].rate", NULL},
	/* layer stacks */
	{"{'input_dim': 3, 'layers': [], " LOSS "}", API_VALIDATION_FAILED, "layers", NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'dropout', 'rate': 0.5}], " LOSS "}",
	 API_VALIDATION_FAILED, "layers[1]", "last layer"},
	{"{'input_dim': 3, 'layers': [{'type': 'dropout', 'rate': 0.5}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[0]", "last layer"},
	/* too many parameters: 2^24 is the limit; the field names the layer that crosses it */
	{"{'input_dim': 4096, 'layers': [{'units': 4096}], " LOSS "}", API_VALIDATION_FAILED, "layers[0]", "limit"},
	{"{'input_dim': 4, 'layers': [{'units': 4096}, {'units': 4096}], " LOSS "}", API_VALIDATION_FAILED,
	 "layers[1]", "limit"},
	{"{'input_dim': 4, 'layers': [{'units': 4096}, {'type': 'dropout', 'rate': 0.1}, {'units': 4096}, {'units': 1}], "
	 LOSS "}",
	 API_VALIDATION_FAILED, "layers[2]", "limit"},
	{"{'input_dim': 1048576, 'layers': [{'units': 65536}], " LOSS "}", API_VALIDATION_FAILED, "layers[0]", "limit"},
	/* accuracy needs a classification loss */
	{"{" ONE ", " LOSS ", 'metrics': ['accuracy']}", API_VALIDATION_FAILED, "metrics[0]", "classification"},
	{"{" ONE ", 'loss': 'huber', 'metrics': ['acc']}", API_VALIDATION_FAILED, "metrics[0]", NULL},
	/* seed */
	{"{" ONE ", " LOSS ", 'seed': -1}", API_VALIDATION_FAILED, "seed", NULL},
	{"{" ONE ", " LOSS ", 'seed': 2.5}", API_VALIDATION_FAILED, "seed", NULL},
	{"{" ONE ", " LOSS ", 'seed': 9007199254740992}", API_VALIDATION_FAILED, "seed", NULL},
	{"{" ONE ", " LOSS ", 'seed': 1e999}", API_VALIDATION_FAILED, "seed", NULL},
	/* names */
	{"{'name': '', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", NULL},
	{"{'name': 'a\\u0001b', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", "control"},
	{"{'name': 'tab\\there', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", "control"},
	/* a name stands for the model in paths: never digits only (an id), no '/', not . or .. */
	{"{'name': '42', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", "digits only"},
	{"{'name': 'a/b', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", "contain"},
	{"{'name': '..', " ONE ", " LOSS "}", API_VALIDATION_FAILED, "name", NULL},
	/* both forms at once */
	{"{'input_dim': 3, 'layers': [{'units': 2}], 'keras': {'class_name': 'Sequential'}, " LOSS "}",
	 API_VALIDATION_FAILED, "layers", "either"},
};

START_TEST(test_bad_bodies)
{
	struct api_model_def def;
	struct api_err err;
	char what[1200];

	snprintf(what, sizeof what, "row %d: %s", _i, bad_rows[_i].body);
	ck_assert_msg(decode(bad_rows[_i].body, &def, &err) == -1, "%s: accepted", what);
	t_expect_err(&err, bad_rows[_i].code, bad_rows[_i].field, bad_rows[_i].msg_part, what);
	ck_assert_int_eq(api_status(err.code), bad_rows[_i].code == API_INVALID_JSON ? 400 : 422);
}
END_TEST

/* Bodies at the edge of each limit, accepted, and decoded to what they say:
 * the input width, the layers (kind, units, dropout rate), the parameter
 * count, the seed and the name. */
static const struct {
	const char *body;
	uint32_t input_dim, n_layers, first_units, last_units;
	uint64_t n_params;
	double dropout_rate;   /* of layer 1, when it is a dropout layer; else -1 */
	bool has_seed;
	uint64_t seed;
	const char *name;      /* NULL: not checked */
} edge_rows[] = {
	{"{'input_dim': 1, 'layers': [{'units': 65536}], " LOSS "}", 1, 1, 65536, 65536, 2 * 65536, -1, false, 0, NULL},
	{"{'input_dim': 1048576, 'layers': [{'units': 1}], " LOSS "}", 1048576, 1, 1, 1, 1048577, -1, false, 0, NULL},
	/* 4095 x 4096 + 4096 = 2^24 parameters exactly */
	{"{'input_dim': 4095, 'layers': [{'units': 4096}], " LOSS "}", 4095, 1, 4096, 4096, 1u << 24, -1, false, 0, NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'dropout', 'rate': 0.999999}, {'units': 1}], " LOSS "}",
	 3, 3, 2, 1, 3 * 2 + 2 + 2 + 1, 0.999999, false, 0, NULL},
	{"{'input_dim': 3, 'layers': [{'units': 2}, {'type': 'Dropout', 'rate': 0}, {'type': 'Dense', 'units': 1}], " LOSS
	 "}", 3, 3, 2, 1, 3 * 2 + 2 + 2 + 1, 0, false, 0, NULL},
	{"{" ONE ", " LOSS ", 'seed': 9007199254740991}", 3, 1, 2, 2, 8, -1, true, 9007199254740991u, NULL},
	{"{" ONE ", " LOSS ", 'metrics': []}", 3, 1, 2, 2, 8, -1, false, 0, NULL},
	{"{'name': 'mod\\u00e8le \xe2\x82\xac', " ONE ", " LOSS "}", 3, 1, 2, 2, 8, -1, false, 0,
	 "mod\xc3\xa8le \xe2\x82\xac"},
	{"  \r\n{" ONE ", " LOSS "}\n\t ", 3, 1, 2, 2, 8, -1, false, 0, NULL},
};

START_TEST(test_edge_bodies_accepted)
{
	struct api_model_def def;
	uint64_t n_params = 0;

	decode_ok(edge_rows[_i].body, &def);
	ck_assert_uint_eq(def.spec.input_dim, edge_rows[_i].input_dim);
	ck_assert_uint_eq(def.spec.n_layers, edge_rows[_i].n_layers);
	ck_assert_int_eq(def.spec.layers[0].kind, NN_LAYER_DENSE);
	ck_assert_uint_eq(def.spec.layers[0].units, edge_rows[_i].first_units);
	ck_assert_int_eq(def.spec.layers[def.spec.n_layers - 1].kind, NN_LAYER_DENSE);
	ck_assert_uint_eq(def.spec.layers[def.spec.n_layers - 1].units, edge_rows[_i].last_units);
	ck_assert_int_eq(nn_spec_check(&def.spec, &n_params, NULL), NN_OK);
	ck_assert_uint_eq(n_params, edge_rows[_i].n_params);
	if (edge_rows[_i].dropout_rate >= 0) {
		ck_assert_int_eq(def.spec.layers[1].kind, NN_LAYER_DROPOUT);
		ck_assert_double_eq(def.spec.layers[1].rate, edge_rows[_i].dropout_rate);
	}
	ck_assert_int_eq(def.has_seed, edge_rows[_i].has_seed);
	if (edge_rows[_i].has_seed)
		ck_assert_uint_eq(def.seed, edge_rows[_i].seed);
	if (edge_rows[_i].name)
		ck_assert_str_eq(def.name, edge_rows[_i].name);
}
END_TEST

START_TEST(test_name_too_long)
{
	char body[400], name[130];
	struct api_model_def def;
	struct api_err err;

	memset(name, 'n', 129);
	name[129] = '\0';
	snprintf(body, sizeof body, "{'name': '%s', " ONE ", " LOSS "}", name);
	ck_assert_int_eq(decode(body, &def, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "name", NULL, body);
	name[128] = '\0';
	snprintf(body, sizeof body, "{'name': '%s', " ONE ", " LOSS "}", name);
	decode_ok(body, &def);
	ck_assert_str_eq(def.name, name);
}
END_TEST

/* 64 layers are allowed, 65 are not: the limit is checked before reading the layers. */
START_TEST(test_layer_count_limit)
{
	size_t cap = 64 * 1024;
	char *body = malloc(cap);
	struct api_model_def def;
	struct api_err err;

	ck_assert_ptr_nonnull(body);
	for (int n = 64; n <= 65; n++) {
		size_t len = (size_t)snprintf(body, cap, "{'input_dim': 2, 'layers': [");

		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(body + len, cap - len, "%s{'units': 2}", i ? ", " : "");
		snprintf(body + len, cap - len, "], " LOSS "}");
		if (n == 64) {
			decode_ok(body, &def);
			ck_assert_uint_eq(def.spec.n_layers, 64);
		} else {
			ck_assert_int_eq(decode(body, &def, &err), -1);
			t_expect_err(&err, API_VALIDATION_FAILED, "layers", "1..64", "65 layers");
		}
	}
	free(body);
}
END_TEST

/* ---- seeds, layer options, metrics ---------------------------------------------------------- */

START_TEST(test_seed_handling)
{
	struct api_model_def def;

	decode_ok("{" ONE ", " LOSS ", 'seed': 0}", &def);
	ck_assert(def.has_seed);
	ck_assert_uint_eq(def.seed, 0);
	decode_ok("{" ONE ", " LOSS ", 'seed': 9007199254740991}", &def);
	ck_assert(def.has_seed);
	ck_assert_uint_eq(def.seed, 9007199254740991ULL);
	decode_ok("{" ONE ", " LOSS "}", &def);
	ck_assert(!def.has_seed);
}
END_TEST

/* "seed": null means no seed, as null means absent for every other optional
 * field (and for the job body's seed): the server then draws one. */
START_TEST(test_seed_null_is_absent)
{
	struct api_model_def def;

	memset(&def, 0xAB, sizeof def);
	decode_ok("{" ONE ", " LOSS ", 'seed': null}", &def);
	ck_assert_msg(!def.has_seed, "\"seed\": null gave has_seed with seed %llu", (unsigned long long)def.seed);
}
END_TEST

START_TEST(test_layer_options)
{
	struct api_model_def def;
	const struct nn_layer_spec *l = &def.spec.layers[0];

	decode_ok("{'input_dim': 3, 'layers': [{'type': 'dense', 'units': 4, 'activation': 'tanh', 'use_bias': false,"
		  " 'kernel_initializer': 'he_normal', 'bias_initializer': 'ones', 'l2': 0.01},"
		  " {'type': 'dropout', 'rate': 0.25}, {'units': 1, 'kernel_initializer': 'LecunUniform'}], " LOSS "}",
		  &def);
	ck_assert(!l->use_bias);
	ck_assert_int_eq(l->kernel_init, NN_INIT_HE_NORMAL);
	ck_assert_int_eq(l->bias_init, NN_INIT_ONES);
	ck_assert(l->l2 == 0.01);
	ck_assert_int_eq(def.spec.layers[1].kind, NN_LAYER_DROPOUT);
	ck_assert(def.spec.layers[1].rate == 0.25);
	ck_assert_int_eq(def.spec.layers[2].kernel_init, NN_INIT_LECUN_UNIFORM);
}
END_TEST

START_TEST(test_metrics)
{
	static const char *const accepted[] = {"'accuracy'", "'acc'", "'binary_accuracy'", "'categorical_accuracy'",
					       "'sparse_categorical_accuracy'"};
	struct api_model_def def;
	char body[400];

	for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
		snprintf(body, sizeof body,
			 "{'input_dim': 3, 'layers': [{'units': 1, 'activation': 'sigmoid'}], 'loss': 'binary_crossentropy',"
			 " 'metrics': [%s]}",
			 accepted[i]);
		decode_ok(body, &def);
		ck_assert_msg(def.accuracy, "%s", body);
	}
	decode_ok("{'input_dim': 3, 'layers': [{'units': 3}], 'loss': {'type': 'categorical_crossentropy', "
		  "'from_logits': true}, 'metrics': []}",
		  &def);
	ck_assert(!def.accuracy);
	decode_ok("{'input_dim': 3, 'layers': [{'units': 3}], 'loss': 'mse', 'metrics': null}", &def);
	ck_assert(!def.accuracy);
	ck_assert_uint_eq(def.metrics, 0);

	/* Keras's names and aliases, each once in the canonical list, in a fixed order */
	decode_ok("{'input_dim': 3, 'layers': [{'units': 2}], 'loss': 'mse', 'metrics': ['r2_score', "
		  "'mean_absolute_error', 'mse', 'root_mean_squared_error', 'mae']}",
		  &def);
	ck_assert(!def.accuracy);
	ck_assert_uint_eq(def.metrics, NN_METRIC_BIT(NN_METRIC_MAE) | NN_METRIC_BIT(NN_METRIC_MSE) |
					       NN_METRIC_BIT(NN_METRIC_RMSE) | NN_METRIC_BIT(NN_METRIC_R2_SCORE));
	char *text = api_model_def_encode(&def);
	ck_assert_ptr_nonnull(strstr(text, "\"metrics\":[\"mae\",\"mse\",\"rmse\",\"r2_score\"]"));
	struct api_model_def back;
	decode_ok(text, &back);
	ck_assert_uint_eq(back.metrics, def.metrics);
	free(text);
	decode_ok("{'input_dim': 3, 'layers': [{'units': 4, 'activation': 'softmax'}], 'loss': "
		  "'sparse_categorical_crossentropy', 'metrics': ['f1_score', 'auc', 'acc', 'recall', 'precision']}",
		  &def);
	ck_assert(def.accuracy);
	text = api_model_def_encode(&def);
	ck_assert_ptr_nonnull(
		strstr(text, "\"metrics\":[\"accuracy\",\"precision\",\"recall\",\"auc\",\"f1_score\"]"));
	free(text);
	/* several binary outputs: accuracy only */
	decode_ok("{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'sigmoid'}], 'loss': 'binary_crossentropy', "
		  "'metrics': ['binary_accuracy']}",
		  &def);
	ck_assert_uint_eq(def.metrics, NN_METRIC_BIT(NN_METRIC_ACCURACY));
}
END_TEST

/* ---- Keras import --------------------------------------------------------------------------- */

/* What Keras 2.12's model.to_json() gives for
 *   Sequential([Input((64,)), Dense(25, relu, kernel_regularizer=l2(0.01)), Dropout(0.2), Dense(10, softmax)]) */
#define KERAS2                                                                                                       \
	"{'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': ["                                  \
	"{'class_name': 'InputLayer', 'config': {'batch_input_shape': [null, 64], 'dtype': 'float32',"             \
	" 'sparse': false, 'ragged': false, 'name': 'dense_input'}},"                                               \
	"{'class_name': 'Dense', 'config': {'name': 'dense', 'trainable': true, 'dtype': 'float32',"               \
	" 'units': 25, 'activation': 'relu', 'use_bias': true,"                                                     \
	" 'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': null}},"                         \
	" 'bias_initializer': {'class_name': 'Zeros', 'config': {}},"                                               \
	" 'kernel_regularizer': {'class_name': 'L2', 'config': {'l2': 0.009999999776482582}},"                     \
	" 'bias_regularizer': null, 'activity_regularizer': null, 'kernel_constraint': null,"                       \
	" 'bias_constraint': null}},"                                                                               \
	"{'class_name': 'Dropout', 'config': {'name': 'dropout', 'trainable': true, 'dtype': 'float32',"           \
	" 'rate': 0.2, 'noise_shape': null, 'seed': null}},"                                                        \
	"{'class_name': 'Dense', 'config': {'name': 'dense_1', 'trainable': true, 'dtype': 'float32',"             \
	" 'units': 10, 'activation': 'softmax', 'use_bias': true,"                                                  \
	" 'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': null}},"                         \
	" 'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'kernel_regularizer': null,"                   \
	" 'bias_regularizer': null, 'activity_regularizer': null, 'kernel_constraint': null,"                       \
	" 'bias_constraint': null}}]}, 'keras_version': '2.12.0', 'backend': 'tensorflow'}"

/* Keras 2 without an InputLayer: the first Dense carries batch_input_shape. */
#define KERAS2_NO_INPUT_LAYER                                                                                        \
	"{'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': ["                                  \
	"{'class_name': 'Dense', 'config': {'name': 'dense', 'trainable': true, 'batch_input_shape': [null, 8],"   \
	" 'dtype': 'float32', 'units': 4, 'activation': 'tanh', 'use_bias': false,"                                 \
	" 'kernel_initializer': {'class_name': 'HeUniform', 'config': {'seed': null}},"                             \
	" 'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'kernel_regularizer': null}},"                 \
	"{'class_name': 'Dense', 'config': {'name': 'dense_1', 'units': 1, 'activation': 'linear',"                 \
	" 'kernel_initializer': 'glorot_normal', 'bias_initializer': 'zeros'}}]},"                                  \
	" 'keras_version': '2.12.0', 'backend': 'tensorflow'}"

/* Keras 3's to_json(): module / registered_name everywhere, batch_shape, build_config. */
#define KERAS3_D(d)                                                                                                 \
	"{'module': 'keras', 'class_name': 'Sequential', 'config': {'name': 'sequential', 'trainable': true,"      \
	" 'dtype': {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {'name': 'float32'},"                 \
	" 'registered_name': null}, 'layers': ["                                                                     \
	"{'module': 'keras.layers', 'class_name': 'InputLayer', 'config': {'batch_shape': [null, " #d "],"           \
	" 'dtype': 'float32', 'sparse': false, 'name': 'input_layer'}, 'registered_name': null},"                   \
	"{'module': 'keras.layers', 'class_name': 'Dense', 'config': {'name': 'dense', 'trainable': true,"          \
	" 'dtype': {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {'name': 'float32'},"                 \
	" 'registered_name': null}, 'units': 32, 'activation': 'relu', 'use_bias': true,"                           \
	" 'kernel_initializer': {'module': 'keras.initializers', 'class_name': 'HeNormal',"                         \
	" 'config': {'seed': null}, 'registered_name': null},"                                                      \
	" 'bias_initializer': {'module': 'keras.initializers', 'class_name': 'Zeros', 'config': {},"                \
	" 'registered_name': null},"                                                                                \
	" 'kernel_regularizer': {'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.001},"     \
	" 'registered_name': null}, 'bias_regularizer': null, 'kernel_constraint': null, 'bias_constraint': null},"  \
	" 'registered_name': null, 'build_config': {'input_shape': [null, " #d "]}},"                              \
	"{'module': 'keras.layers', 'class_name': 'Dense', 'config': {'name': 'dense_1', 'trainable': true,"       \
	" 'units': 1, 'activation': 'sigmoid', 'use_bias': true,"                                                   \
	" 'kernel_initializer': {'module': 'keras.initializers', 'class_name': 'GlorotUniform',"                    \
	" 'config': {'seed': null}, 'registered_name': null},"                                                      \
	" 'bias_initializer': {'module': 'keras.initializers', 'class_name': 'Zeros', 'config': {},"                \
	" 'registered_name': null}, 'kernel_regularizer': null}, 'registered_name': null,"                          \
	" 'build_config': {'input_shape': [null, 32]}}],"                                                           \
	" 'build_input_shape': [null, " #d "]}, 'registered_name': null,"                                           \
	" 'build_config': {'input_shape': [null, " #d "]}, "                                                         \
	" 'compile_config': null}"
#define KERAS3 KERAS3_D(64)

/* The same text as a JSON string value: every ' of the model becomes \' here,
 * which tq() turns into \". */
static char *as_string_value(const char *model)
{
	size_t n = strlen(model), j = 0;
	char *s = malloc(2 * n + 3);

	ck_assert_ptr_nonnull(s);
	s[j++] = '\'';
	for (size_t i = 0; i < n; i++) {
		if (model[i] == '\'')
			s[j++] = '\\';
		s[j++] = model[i];
	}
	s[j++] = '\'';
	s[j] = '\0';
	return s;
}

static void check_keras2(const struct api_model_def *def)
{
	const struct nn_model_spec *s = &def->spec;

	ck_assert_uint_eq(s->input_dim, 64);
	ck_assert_uint_eq(s->n_layers, 3);
	ck_assert_int_eq(s->layers[0].kind, NN_LAYER_DENSE);
	ck_assert_uint_eq(s->layers[0].units, 25);
	ck_assert_int_eq(s->layers[0].act, NN_ACT_RELU);
	ck_assert_int_eq(s->layers[0].kernel_init, NN_INIT_GLOROT_UNIFORM);
	ck_assert_int_eq(s->layers[0].bias_init, NN_INIT_ZEROS);
	ck_assert(s->layers[0].l2 == 0.009999999776482582);
	ck_assert_int_eq(s->layers[1].kind, NN_LAYER_DROPOUT);
	ck_assert(s->layers[1].rate == 0.2);
	ck_assert_uint_eq(s->layers[2].units, 10);
	ck_assert_int_eq(s->layers[2].act, NN_ACT_SOFTMAX);
	ck_assert(s->layers[2].l2 == 0.0);
	ck_assert_int_eq(s->loss.kind, NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
	ck_assert_int_eq(s->opt.kind, NN_OPT_ADAM);
	ck_assert(s->opt.learning_rate == 0.01);
}

START_TEST(test_keras2_object_and_string)
{
	struct api_model_def obj, str;
	char *value = as_string_value(KERAS2);
	size_t cap = strlen(value) + 200;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	decode_ok("{'name': 'k2', 'keras': " KERAS2 ", 'loss': 'SparseCategoricalCrossentropy',"
		  " 'optimizer': {'type': 'Adam', 'learning_rate': 0.01}}",
		  &obj);
	ck_assert_str_eq(obj.name, "k2");
	check_keras2(&obj);
	snprintf(body, cap,
		 "{'name': 'k2', 'keras': %s, 'loss': 'SparseCategoricalCrossentropy', 'optimizer': {'type': 'Adam', "
		 "'learning_rate': 0.01}}",
		 value);
	decode_ok(body, &str);
	check_keras2(&str);
	spec_equal(&obj.spec, &str.spec, "keras 2 object vs string");
	free(body);
	free(value);
}
END_TEST

START_TEST(test_keras2_dense_with_input_shape)
{
	struct api_model_def def;

	decode_ok("{'keras': " KERAS2_NO_INPUT_LAYER ", 'loss': 'mse'}", &def);
	ck_assert_uint_eq(def.spec.input_dim, 8);
	ck_assert_uint_eq(def.spec.n_layers, 2);
	ck_assert_int_eq(def.spec.layers[0].act, NN_ACT_TANH);
	ck_assert(!def.spec.layers[0].use_bias);
	ck_assert_int_eq(def.spec.layers[0].kernel_init, NN_INIT_HE_UNIFORM);
	ck_assert_int_eq(def.spec.layers[1].kernel_init, NN_INIT_GLOROT_NORMAL);
	ck_assert_int_eq(def.spec.layers[1].act, NN_ACT_LINEAR);
	/* no optimizer: Keras's default */
	ck_assert_int_eq(def.spec.opt.kind, NN_OPT_RMSPROP);
}
END_TEST

static void check_keras3(const struct api_model_def *def)
{
	const struct nn_model_spec *s = &def->spec;

	ck_assert_uint_eq(s->input_dim, 64);
	ck_assert_uint_eq(s->n_layers, 2);
	ck_assert_uint_eq(s->layers[0].units, 32);
	ck_assert_int_eq(s->layers[0].act, NN_ACT_RELU);
	ck_assert_int_eq(s->layers[0].kernel_init, NN_INIT_HE_NORMAL);
	ck_assert(s->layers[0].l2 == 0.001);
	ck_assert_uint_eq(s->layers[1].units, 1);
	ck_assert_int_eq(s->layers[1].act, NN_ACT_SIGMOID);
	ck_assert_int_eq(s->loss.kind, NN_LOSS_BINARY_CROSSENTROPY);
	ck_assert(def->accuracy);
}

START_TEST(test_keras3_object_and_string)
{
	struct api_model_def obj, str;
	char *value = as_string_value(KERAS3);
	size_t cap = strlen(value) + 200;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	decode_ok("{'keras': " KERAS3 ", 'loss': 'binary_crossentropy', 'optimizer': 'adam', 'metrics': ['accuracy']}",
		  &obj);
	check_keras3(&obj);
	snprintf(body, cap, "{'keras': %s, 'loss': 'binary_crossentropy', 'optimizer': 'adam', 'metrics': ['accuracy']}",
		 value);
	decode_ok(body, &str);
	check_keras3(&str);
	spec_equal(&obj.spec, &str.spec, "keras 3 object vs string");
	free(body);
	free(value);
}
END_TEST

#define KSEQ(layers) "{'class_name': 'Sequential', 'config': {'name': 's', 'layers': [" layers "]}}"
#define KIN(d) "{'class_name': 'InputLayer', 'config': {'batch_input_shape': [null, " #d "]}}"
#define KDENSE(cfg) "{'class_name': 'Dense', 'config': {" cfg "}}"

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
	const char *msg_part;
} keras_bad_rows[] = {
	{"{'keras': " KSEQ(KIN(4) ", {'class_name': 'Conv2D', 'config': {'filters': 8}}, " KDENSE("'units': 1")) ", "
	 LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].class_name", "Conv2D"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 4") ", {'class_name': 'LayerNormalization', 'config': {}}, "
			   KDENSE("'units': 1")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[2].class_name", "LayerNormalization"},
	/* no input shape anywhere */
	{"{'keras': " KSEQ(KDENSE("'units': 4") ", " KDENSE("'units': 1")) ", " LOSS "}", API_VALIDATION_FAILED,
	 "input_dim", "input shape"},
	{"{'keras': " KSEQ(KDENSE("'units': 1")) "}", API_VALIDATION_FAILED, "input_dim", NULL},
	{"{'keras': 'not json', " LOSS "}", API_VALIDATION_FAILED, "keras", NULL},
	{"{'keras': 5, " LOSS "}", API_VALIDATION_FAILED, "keras", NULL},
	{"{'keras': {'config': {}}, " LOSS "}", API_VALIDATION_FAILED, "keras", NULL},
	{"{'keras': {'class_name': 'Functional', 'config': {'layers': []}}, " LOSS "}", API_VALIDATION_FAILED,
	 "keras.class_name", "Functional"},
	{"{'keras': {'class_name': 'Sequential', 'config': {'layers': {}}}, " LOSS "}", API_VALIDATION_FAILED,
	 "keras.config.layers", NULL},
	{"{'keras': " KSEQ(KIN(4) ", {'class_name': 'Dense'}") ", " LOSS "}", API_VALIDATION_FAILED,
	 "keras.config.layers[1]", NULL},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 0")) ", " LOSS "}", API_VALIDATION_FAILED,
	 "keras.config.layers[1].config.units", NULL},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 2.5")) ", " LOSS "}", API_VALIDATION_FAILED,
	 "keras.config.layers[1].config.units", NULL},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'activation': 'relu6'")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].config.activation", "relu6"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'kernel_initializer': {'class_name': 'VarianceScaling', "
					      "'config': {}}")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].config.kernel_initializer", "VarianceScaling"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'kernel_regularizer': {'class_name': 'L1', "
					      "'config': {'l1': 0.01}}")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].config.kernel_regularizer", NULL},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'kernel_regularizer': {'class_name': 'L1L2', "
					      "'config': {'l1': 0.01, 'l2': 0.01}}")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].config.kernel_regularizer", "L1"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'kernel_regularizer': {'class_name': 'L2', "
					      "'config': {}}")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[1].config.kernel_regularizer.config.l2", "required"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 4") ", {'class_name': 'Dropout', 'config': {'rate': 0.5}}") ", "
	 LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers", "Dense"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 4") ", {'class_name': 'Dropout', 'config': {}}, "
			   KDENSE("'units': 1")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[2].config.rate", NULL},
	{"{'keras': " KSEQ(KIN(4)) ", " LOSS "}", API_VALIDATION_FAILED, "keras.config.layers", NULL},
	/* loss and optimizer are still fitd's, and read strictly */
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1")) "}", API_VALIDATION_FAILED, "loss", "required"},
	{"{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1")) ", " LOSS ", 'optimizer': {'type': 'adam', 'decay': 0}}",
	 API_VALIDATION_FAILED, "optimizer.decay", NULL},
	/* the layer that crosses the parameter limit, with no InputLayer to skip */
	{"{'keras': " KSEQ(KDENSE("'units': 4096, 'batch_input_shape': [null, 4096]")) ", " LOSS "}",
	 API_VALIDATION_FAILED, "keras.config.layers[0]", "limit"},
};

START_TEST(test_keras_bad)
{
	struct api_model_def def;
	struct api_err err;
	char what[1500];

	snprintf(what, sizeof what, "keras row %d: %s", _i, keras_bad_rows[_i].body);
	ck_assert_msg(decode(keras_bad_rows[_i].body, &def, &err) == -1, "%s: accepted", what);
	t_expect_err(&err, keras_bad_rows[_i].code, keras_bad_rows[_i].field, keras_bad_rows[_i].msg_part, what);
}
END_TEST

START_TEST(test_keras_input_dim_beside)
{
	struct api_model_def def;

	/* no input shape in the Keras model: input_dim beside keras supplies it */
	decode_ok("{'input_dim': 5, 'keras': " KSEQ(KDENSE("'units': 3") ", " KDENSE("'units': 1")) ", " LOSS "}",
		  &def);
	ck_assert_uint_eq(def.spec.input_dim, 5);
	ck_assert_uint_eq(def.spec.n_layers, 2);
	/* L1L2 with l1 0 is an L2 regularizer */
	decode_ok("{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'kernel_regularizer': {'class_name': 'L1L2', "
						   "'config': {'l1': 0.0, 'l2': 0.05}}")) ", " LOSS "}",
		  &def);
	ck_assert(def.spec.layers[0].l2 == 0.05);
	/* Keras 3 may write an activation as a serialised function object */
	decode_ok("{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1, 'activation': {'module': 'keras.activations', "
						   "'class_name': 'function', 'config': 'elu', 'registered_name': 'function'}")) ", "
		  LOSS "}",
		  &def);
	ck_assert_int_eq(def.spec.layers[0].act, NN_ACT_ELU);
	ck_assert(def.spec.layers[0].alpha == 1.0);
}
END_TEST

/* null means absent for every optional field (optimizer, metrics, name, a
 * layer's activation...); "keras": null and "layers": null beside the other
 * form must not count as giving both forms. */
START_TEST(test_keras_null_is_absent)
{
	struct api_model_def def;
	struct api_err err;
	int rc_keras_null, rc_layers_null;
	struct api_err err_keras, err_layers;

	rc_keras_null = decode("{'input_dim': 3, 'layers': [{'units': 2}], " LOSS ", 'keras': null}", &def, &err);
	err_keras = err;
	rc_layers_null = decode("{'keras': " KSEQ(KIN(4) ", " KDENSE("'units': 1")) ", 'layers': null, " LOSS "}", &def,
				&err);
	err_layers = err;
	ck_assert_msg(rc_keras_null == 0, "\"keras\": null: %s %s", err_keras.field, err_keras.message);
	ck_assert_msg(rc_layers_null == 0, "\"layers\": null: %s %s", err_layers.field, err_layers.message);
}
END_TEST

/* With Keras 3's InputLayer first, the layer over the parameter limit is
 * keras.config.layers[1]: the field must name it, not the InputLayer. */
START_TEST(test_keras3_param_limit_names_the_dense_layer)
{
	struct api_model_def def;
	struct api_err err;

	ck_assert_int_eq(decode("{'keras': " KERAS3_D(1048576) ", 'loss': 'binary_crossentropy'}", &def,
				&err),
			 -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "keras.config.layers[1]", "limit", "keras 3, 2^20 inputs x 32 units");
}
END_TEST

/* ---- canonical form and round trip ------------------------------------------------------------ */

static const char *const roundtrip_rows[] = {
	TUTORIAL,
	"{'input_dim': 3, 'layers': [{'units': 2}], " LOSS "}",
	"{'input_dim': 7, 'layers': [{'units': 5, 'activation': {'type': 'leaky_relu', 'alpha': 0.1}},"
	" {'units': 5, 'activation': {'type': 'elu', 'alpha': 0.3}},"
	" {'units': 5, 'activation': {'type': 'gelu', 'approximate': true}},"
	" {'units': 5, 'activation': 'gelu'}, {'units': 5, 'activation': 'silu'},"
	" {'units': 5, 'activation': 'softplus'}, {'units': 5, 'activation': 'leaky_relu'},"
	" {'type': 'dropout', 'rate': 0.3}, {'units': 3, 'activation': 'softmax'}],"
	" 'loss': {'type': 'CategoricalCrossentropy', 'from_logits': true},"
	" 'optimizer': {'type': 'rmsprop', 'rho': 0.95, 'momentum': 0.5, 'epsilon': 1e-6}, 'metrics': ['acc']}",
	"{'input_dim': 2, 'layers': [{'units': 3, 'use_bias': false, 'kernel_initializer': 'lecun_normal',"
	" 'bias_initializer': 'ones', 'l2': 0.0001}, {'units': 1, 'activation': 'sigmoid'}],"
	" 'loss': {'type': 'binary_crossentropy', 'from_logits': false},"
	" 'optimizer': {'type': 'sgd', 'learning_rate': 0.3, 'momentum': 0.9, 'nesterov': true}, 'seed': 0}",
	"{'name': 'ada', 'input_dim': 2, 'layers': [{'units': 1}], 'loss': 'mae',"
	" 'optimizer': {'type': 'adagrad', 'learning_rate': 0.123456789, 'initial_accumulator_value': 0.7,"
	" 'epsilon': 3e-9}, 'seed': 9007199254740991}",
	"{'input_dim': 2, 'layers': [{'units': 1}], 'loss': 'huber', 'optimizer': {'type': 'adam',"
	" 'beta_1': 0.85, 'beta_2': 0.9995, 'epsilon': 1e-8, 'learning_rate': 0.0003}}",
	"{'name': 'k2', 'keras': " KERAS2 ", 'loss': 'sparse_categorical_crossentropy'}",
	"{'keras': " KERAS3 ", 'loss': 'binary_crossentropy', 'optimizer': 'adam', 'metrics': ['accuracy']}",
};

START_TEST(test_roundtrip)
{
	struct api_model_def first, second;
	struct api_err err;
	char *canon, *canon2 = NULL, diff[200] = "", shown[4096];
	bool same = false, fixed_point = false;
	int rc;

	decode_ok(roundtrip_rows[_i], &first);
	canon = api_model_def_encode(&first);
	ck_assert_ptr_nonnull(canon);
	memset(&err, 0, sizeof err);
	rc = api_model_decode(canon, strlen(canon), &second, &err);
	if (rc == 0) {
		same = spec_same(&first.spec, &second.spec, diff, sizeof diff);
		if (same && strcmp(first.name, second.name) != 0)
			snprintf(diff, sizeof diff, "name"), same = false;
		if (same && first.accuracy != second.accuracy)
			snprintf(diff, sizeof diff, "accuracy"), same = false;
		if (same && (first.has_seed != second.has_seed || first.seed != second.seed))
			snprintf(diff, sizeof diff, "seed %llu came back as %llu", (unsigned long long)first.seed,
				 (unsigned long long)second.seed),
				same = false;
		/* the canonical form is a fixed point */
		canon2 = api_model_def_encode(&second);
		fixed_point = canon2 && strcmp(canon, canon2) == 0;
	}
	/* assert after freeing: a failure must not show up as a leak under CK_FORK=no */
	snprintf(shown, sizeof shown, "%s", canon);
	free(canon2);
	free(canon);
	ck_assert_msg(rc == 0, "%s -> %s %s: %s", shown, api_code_name(err.code), err.field, err.message);
	ck_assert_msg(same, "row %d: %s: %s", _i, shown, diff);
	ck_assert_msg(fixed_point, "row %d: %s is not a fixed point", _i, shown);
}
END_TEST

/* The canonical JSON spells every default out, by canonical names. */
START_TEST(test_canonical_form)
{
	struct api_model_def def;
	char *canon;
	cJSON *root, *layer, *opt;

	decode_ok("{'input_dim': 3, 'layers': [{'units': 2, 'activation': 'silu'}], 'loss': 'MeanSquaredError', "
		  "'optimizer': 'SGD'}",
		  &def);
	canon = api_model_def_encode(&def);
	ck_assert_ptr_nonnull(canon);
	root = cJSON_Parse(canon);
	ck_assert_ptr_nonnull(root);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "name")); /* a model without a name */
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "loss")->valuestring, "mean_squared_error");
	layer = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "layers"), 0);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(layer, "type")->valuestring, "dense");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(layer, "activation")->valuestring, "swish");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(layer, "use_bias")));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(layer, "kernel_initializer")->valuestring, "glorot_uniform");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(layer, "bias_initializer")->valuestring, "zeros");
	opt = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(opt, "type")->valuestring, "sgd");
	ck_assert(cJSON_GetObjectItemCaseSensitive(opt, "learning_rate")->valuedouble == 0.01);
	ck_assert(cJSON_GetObjectItemCaseSensitive(opt, "momentum")->valuedouble == 0.0);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(opt, "nesterov")));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "seed"));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "metrics")), 0);
	cJSON_Delete(root);
	free(canon);
}
END_TEST

/* api_model_encode: the response body. */
START_TEST(test_model_encode)
{
	struct api_model_info m;
	char *s;
	cJSON *root;

	memset(&m, 0, sizeof m);
	decode_ok(TUTORIAL, &m.def);
	m.id = 7;
	m.status = API_MODEL_TRAINED;
	m.n_params = 2175;
	snprintf(m.created_at, sizeof m.created_at, "2026-11-26T21:03:04Z");
	snprintf(m.updated_at, sizeof m.updated_at, "2026-11-26T21:03:05Z");
	s = api_model_encode(&m);
	ck_assert_ptr_nonnull(s);
	root = cJSON_Parse(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "id")->valueint, 7);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "status")->valuestring, "trained");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "n_params")->valueint, 2175);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "input_dim")->valueint, 64);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "layers")), 3);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "seed")->valueint, 42);
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "created_at")->valuestring, "2026-11-26T21:03:04Z");
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "updated_at")->valuestring, "2026-11-26T21:03:05Z");
	cJSON_Delete(root);
	free(s);

	s = api_model_list_encode(&m, 1, 9);
	ck_assert_ptr_nonnull(s);
	root = cJSON_Parse(s);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "items")), 1);
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "total")->valueint, 9);
	cJSON_Delete(root);
	free(s);
}
END_TEST

START_TEST(test_model_status_names)
{
	enum api_model_status s;

	for (int i = 0; i < 3; i++) {
		ck_assert(api_model_status_parse(api_model_status_name((enum api_model_status)i), &s));
		ck_assert_int_eq(s, i);
	}
	ck_assert_str_eq(api_model_status_name(API_MODEL_TRAINING), "training");
	ck_assert(!api_model_status_parse("Trained", &s));
	ck_assert(!api_model_status_parse("", &s));
}
END_TEST

/* ---- weights ---------------------------------------------------------------------------------- */

/* 3 -> dense 4 (bias) -> dropout -> dense 2 (no bias) -> dense 1 (bias): 16 + 8 + 3 = 27 parameters. */
#define WSPEC                                                                                                \
	"{'input_dim': 3, 'layers': [{'units': 4, 'activation': 'relu'}, {'type': 'dropout', 'rate': 0.5},"  \
	" {'units': 2, 'use_bias': false}, {'units': 1}], 'loss': 'mse'}"
#define WSPEC_N 27

static uint32_t float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static void weights_roundtrip(const float *values, size_t n_values, const char *what)
{
	struct api_model_def def;
	struct api_err err;
	float params[WSPEC_N], back[WSPEC_N];
	char *s;
	int rc;

	decode_ok(WSPEC, &def);
	for (size_t i = 0; i < WSPEC_N; i++)
		params[i] = values[i % n_values];
	s = api_weights_encode(&def.spec, params);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < WSPEC_N; i++)
		back[i] = NAN;
	memset(&err, 0, sizeof err);
	rc = api_weights_decode(s, strlen(s), &def.spec, back, &err);
	free(s);
	ck_assert_msg(rc == 0, "%s: %s %s: %s", what, api_code_name(err.code), err.field, err.message);
	for (size_t i = 0; i < WSPEC_N; i++)
		ck_assert_msg(float_bits(back[i]) == float_bits(params[i]), "%s: param %zu: %a came back as %a", what, i,
			      (double)params[i], (double)back[i]);
}

START_TEST(test_weights_roundtrip_bits)
{
	static const float values[] = {
		0.1f, 1e-38f, -3.4e38f, 1.4e-45f /* smallest denormal */, -1.17549421e-38f /* largest denormal */,
		5.877472e-39f, -0.0f, 0.0f, 1.0f / 3.0f, -2.0f / 3.0f, FLT_MIN, FLT_EPSILON, 16777215.0f, 123456.789f,
		3.4e38f, -1e-45f, 7.0f, 1e10f, -1e-10f, 0.3f, 2.5e-42f,
	};

	weights_roundtrip(values, sizeof values / sizeof values[0], "special values");
}
END_TEST

/* The largest finite float: %.9g prints 3.40282347e+38, a little above
 * FLT_MAX as a double, which still rounds to FLT_MAX as a float. GET -> PUT
 * must be lossless for every finite weight. */
START_TEST(test_weights_roundtrip_flt_max)
{
	static const float values[] = {FLT_MAX, -FLT_MAX, 1.0f};

	weights_roundtrip(values, 3, "FLT_MAX");
}
END_TEST

/* The normalization layer: decoded forms, the canonical "adapt" flag, the
 * given values written into the leading parameters, its weights as mean,
 * variance and count, GET -> PUT lossless. */
START_TEST(test_normalization_layer)
{
	static const char body[] = "{'input_dim': 3, 'loss': 'mse', 'layers': [{'type': 'normalization', "
				   "'mean': [1, -2, 0.5], 'variance': 4}, {'units': 1}]}";
	struct api_model_def def, back;
	struct api_err err;
	float params[3 + 3 + 1 + 3 + 1], again[11];
	struct tbody tb;
	char *s;

	decode_ok("{'input_dim': 3, 'loss': 'mse', 'layers': [{'type': 'normalization'}, {'units': 1}]}", &def);
	ck_assert_int_eq(def.spec.layers[0].kind, NN_LAYER_NORMALIZATION);
	ck_assert(!def.spec.layers[0].norm_given);
	s = api_model_def_encode(&def);
	ck_assert_ptr_nonnull(strstr(s, "{\"type\":\"normalization\",\"adapt\":true}"));
	decode_ok(s, &back);
	ck_assert(!back.spec.layers[0].norm_given);
	free(s);
	decode_ok("{'input_dim': 3, 'loss': 'mse', 'layers': [{'type': 'normalization', 'adapt': false}, {'units': 1}]}",
		  &def);
	ck_assert(def.spec.layers[0].norm_given);

	decode_ok(body, &def);
	ck_assert(def.spec.layers[0].norm_given);
	s = api_model_def_encode(&def);
	ck_assert_ptr_nonnull(strstr(s, "\"adapt\":false"));
	decode_ok(s, &back);
	ck_assert(back.spec.layers[0].norm_given);
	free(s);
	for (int i = 0; i < 11; i++)
		params[i] = 99;
	tb = tq(body);
	ck_assert_int_eq(api_model_norm_fill(tb.p, tb.n, &def.spec, params, &err), 0);
	tb_free(&tb);
	ck_assert(params[0] == 1 && params[1] == -2 && params[2] == 0.5f);
	ck_assert(params[3] == 4 && params[4] == 4 && params[5] == 4);
	ck_assert(params[6] == 99); /* count and the dense layer untouched */

	params[6] = 12;
	s = api_weights_encode(&def.spec, params);
	ck_assert_str_eq(s, "{\"layers\":[{\"mean\":[1,-2,0.5],\"variance\":[4,4,4],\"count\":12},"
			    "{\"kernel\":[[99],[99],[99]],\"bias\":[99]}]}");
	ck_assert_int_eq(api_weights_decode(s, strlen(s), &def.spec, again, &err), 0);
	ck_assert(memcmp(again, params, sizeof params) == 0);
	free(s);
}
END_TEST

START_TEST(test_weights_encode_layout)
{
	struct api_model_def def;
	float params[WSPEC_N];
	cJSON *root, *layers, *l0, *l1, *l2;
	char *s;

	decode_ok(WSPEC, &def);
	for (int i = 0; i < WSPEC_N; i++)
		params[i] = (float)i;
	s = api_weights_encode(&def.spec, params);
	ck_assert_ptr_nonnull(s);
	root = cJSON_Parse(s);
	free(s);
	ck_assert_ptr_nonnull(root);
	layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	ck_assert_int_eq(cJSON_GetArraySize(layers), 3); /* dropout owns no weights */
	l0 = cJSON_GetArrayItem(layers, 0);
	l1 = cJSON_GetArrayItem(layers, 1);
	l2 = cJSON_GetArrayItem(layers, 2);
	/* kernel [inputs, units] row-major, then the bias */
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l0, "kernel")), 3);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l0, "kernel"), 0)), 4);
	ck_assert(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l0, "kernel"), 1), 2)
			  ->valuedouble == 6.0);
	ck_assert(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l0, "bias"), 0)->valuedouble == 12.0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l1, "kernel")), 4);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(l1, "bias"));
	ck_assert(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l1, "kernel"), 0), 0)
			  ->valuedouble == 16.0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l2, "kernel")), 2);
	ck_assert(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l2, "bias"), 0)->valuedouble == 26.0);
	cJSON_Delete(root);
}
END_TEST

/* 2 -> dense 2 (bias) -> dropout -> dense 1 (no bias): 6 + 2 = 8 parameters. */
#define WSMALL                                                                                           \
	"{'input_dim': 2, 'layers': [{'units': 2}, {'type': 'dropout', 'rate': 0.5},"                    \
	" {'units': 1, 'use_bias': false}], 'loss': 'mse'}"
#define WOK0 "{'kernel': [[1, 2], [3, 4]], 'bias': [5, 6]}"
#define WOK1 "{'kernel': [[7], [8]]}"

static const struct {
	const char *body;
	enum api_code code;
	const char *field;
} weights_bad_rows[] = {
	{"{}", API_VALIDATION_FAILED, "layers"},
	{"{'layers': []}", API_VALIDATION_FAILED, "layers"},
	{"{'layers': [" WOK0 "]}", API_VALIDATION_FAILED, "layers"},
	{"{'layers': [" WOK0 ", " WOK1 ", " WOK1 "]}", API_VALIDATION_FAILED, "layers"},
	{"{'layers': {}}", API_VALIDATION_FAILED, "layers"},
	{"{'layers': [" WOK0 ", " WOK1 "], 'extra': 1}", API_VALIDATION_FAILED, "extra"},
	{"{'layers': [" WOK0 ", 5]}", API_VALIDATION_FAILED, "layers[1]"},
	{"{'layers': [{'kernel': [[1, 2]], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED, "layers[0].kernel"},
	{"{'layers': [{'kernel': [[1, 2], [3, 4], [5, 6]], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].kernel"},
	{"{'layers': [{'kernel': [[1, 2], [3]], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].kernel[1]"},
	{"{'layers': [{'kernel': [[1, 2], 3], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].kernel[1]"},
	{"{'layers': [{'kernel': [[1, 'x'], [3, 4]], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].kernel[0][1]"},
	{"{'layers': [{'kernel': [[1, 2], [3, null]], 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].kernel[1][1]"},
	{"{'layers': [{'kernel': 5, 'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED, "layers[0].kernel"},
	{"{'layers': [{'bias': [5, 6]}, " WOK1 "]}", API_VALIDATION_FAILED, "layers[0].kernel"},
	{"{'layers': [{'kernel': [[1, 2], [3, 4]]}, " WOK1 "]}", API_VALIDATION_FAILED, "layers[0].bias"},
	{"{'layers': [{'kernel': [[1, 2], [3, 4]], 'bias': [5]}, " WOK1 "]}", API_VALIDATION_FAILED, "layers[0].bias"},
	{"{'layers': [{'kernel': [[1, 2], [3, 4]], 'bias': [5, 1e999]}, " WOK1 "]}", API_VALIDATION_FAILED,
	 "layers[0].bias[1]"},
	{"{'layers': [" WOK0 ", {'kernel': [[7], [8]], 'bias': [0]}]}", API_VALIDATION_FAILED, "layers[1].bias"},
	{"{'layers': [" WOK0 ", {'kernel': [[7], [1e39]]}]}", API_VALIDATION_FAILED, "layers[1].kernel[1][0]"},
	{"{'layers': [" WOK0 ", {'kernel': [[7], [8]], 'weights': []}]}", API_VALIDATION_FAILED, "layers[1].weights"},
	{"{'layers': [" WOK0 ", {'kernel': [[7, 9], [8, 9]]}]}", API_VALIDATION_FAILED, "layers[1].kernel[0]"},
	{"{'layers': [" WOK0 ", " WOK1 "]", API_INVALID_JSON, ""},
};

START_TEST(test_weights_bad)
{
	struct api_model_def def;
	struct api_err err;
	float params[8];
	struct tbody b = tq(weights_bad_rows[_i].body);
	char what[600];
	int rc;

	decode_ok(WSMALL, &def);
	memset(&err, 0, sizeof err);
	rc = api_weights_decode(b.p, b.n, &def.spec, params, &err);
	tb_free(&b);
	snprintf(what, sizeof what, "weights row %d: %s", _i, weights_bad_rows[_i].body);
	ck_assert_msg(rc == -1, "%s: accepted", what);
	t_expect_err(&err, weights_bad_rows[_i].code, weights_bad_rows[_i].field, NULL, what);
}
END_TEST

START_TEST(test_weights_good)
{
	static const float want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct api_model_def def;
	struct api_err err;
	float params[8] = {0};
	struct tbody b = tq("{'layers': [" WOK0 ", " WOK1 "]}");

	decode_ok(WSMALL, &def);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_weights_decode(b.p, b.n, &def.spec, params, &err), 0);
	tb_free(&b);
	for (int i = 0; i < 8; i++)
		ck_assert(params[i] == want[i]);
}
END_TEST

Suite *suite_api_model(void)
{
	Suite *s = suite_create("api_model");
	TCase *tc = tcase_create("decode");
	TCase *keras = tcase_create("keras");
	TCase *canon = tcase_create("canonical");
	TCase *weights = tcase_create("weights");

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
	tcase_add_test(tc, test_tutorial_body);
	tcase_add_test(tc, test_minimal_body_defaults);
	tcase_add_loop_test(tc, test_activation_table, 0, N(activation_rows));
	tcase_add_test(tc, test_activation_table_covers_every_activation);
	tcase_add_loop_test(tc, test_loss_table, 0, N(loss_rows));
	tcase_add_test(tc, test_loss_table_covers_every_loss);
	tcase_add_loop_test(tc, test_optimizer_table, 0, N(opt_rows));
	tcase_add_loop_test(tc, test_bad_bodies, 0, N(bad_rows));
	tcase_add_loop_test(tc, test_edge_bodies_accepted, 0, N(edge_rows));
	tcase_add_test(tc, test_name_too_long);
	tcase_add_test(tc, test_layer_count_limit);
	tcase_add_test(tc, test_seed_handling);
	tcase_add_test(tc, test_seed_null_is_absent);
	tcase_add_test(tc, test_layer_options);
	tcase_add_test(tc, test_metrics);
	suite_add_tcase(s, tc);

	tcase_add_test(keras, test_keras2_object_and_string);
	tcase_add_test(keras, test_keras2_dense_with_input_shape);
	tcase_add_test(keras, test_keras3_object_and_string);
	tcase_add_loop_test(keras, test_keras_bad, 0, N(keras_bad_rows));
	tcase_add_test(keras, test_keras_input_dim_beside);
	tcase_add_test(keras, test_keras3_param_limit_names_the_dense_layer);
	tcase_add_test(keras, test_keras_null_is_absent);
	suite_add_tcase(s, keras);

	tcase_add_loop_test(canon, test_roundtrip, 0, N(roundtrip_rows));
	tcase_add_test(canon, test_canonical_form);
	tcase_add_test(canon, test_model_encode);
	tcase_add_test(canon, test_model_status_names);
	suite_add_tcase(s, canon);

	tcase_add_test(weights, test_weights_roundtrip_bits);
	tcase_add_test(weights, test_weights_roundtrip_flt_max);
	tcase_add_test(weights, test_weights_encode_layout);
	tcase_add_test(weights, test_normalization_layer);
	tcase_add_loop_test(weights, test_weights_bad, 0, N(weights_bad_rows));
	tcase_add_test(weights, test_weights_good);
	suite_add_tcase(s, weights);
#undef N
	return s;
}
