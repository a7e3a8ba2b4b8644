/*
 * api_export.c — a trained model out of fitd: ONNX (protobuf written by
 * api_pb.c), one self-contained C99 file, and Keras's to_json() +
 * get_weights() (GET /v1/models/{id}/export).
 *
 * Each exporter walks the layers with a switch over enum nn_layer_kind:
 * a new layer kind is one case in each (a kind none knows is a 422, never a
 * wrong file). Every exporter computes what nn_predict computes: dropout is
 * left out (inference mode), activations follow core/nn_act.c, a
 * normalization layer divides by the float32 denominators core/nn_model.c
 * computes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_model_internal.h"
#include "api/api_pb.h"

/* ---- formats ------------------------------------------------------------------------------ */

static const struct {
	const char *name, *type, *ext;
} formats[] = {
#define API_EXPORT_ROW(name, text, type, ext) [name] = {text, type, ext},
	API_EXPORT_FORMATS(API_EXPORT_ROW)
#undef API_EXPORT_ROW
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

bool api_export_format_parse(const char *s, enum api_export_format *out)
{
	for (size_t i = 0; i < N_FORMATS; i++) {
		if (strcmp(s, formats[i].name) == 0) {
			*out = (enum api_export_format)i;
			return true;
		}
	}
	return false;
}

const char *api_export_format_names(void)
{
	return "onnx, c, keras";
}

const char *api_export_content_type(enum api_export_format f)
{
	return (size_t)f < N_FORMATS ? formats[f].type : "application/octet-stream";
}

const char *api_export_extension(enum api_export_format f)
{
	return (size_t)f < N_FORMATS ? formats[f].ext : "";
}

/* Inputs of spec layer li: the units of the dense layer before it, or input_dim. */
static uint32_t layer_inputs(const struct nn_model_spec *spec, uint32_t li)
{
	uint32_t in = spec->input_dim;

	for (uint32_t i = 0; i < li; i++)
		if (spec->layers[i].kind == NN_LAYER_DENSE)
			in = spec->layers[i].units;
	return in;
}

static int unknown_layer(struct api_err *err, uint32_t li, const char *format)
{
	char field[64];

	snprintf(field, sizeof field, "layers[%u]", li);
	return api_fail(err, API_VALIDATION_FAILED, field, "layers[%u] cannot be exported as %s yet", li, format);
}

/* Out of memory, or a buffer past its max. */
static char *finish(struct api_buf *b, size_t *len, struct api_err *err)
{
	size_t n = b->len;
	char *out = api_buf_finish(b);

	if (!out) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory exporting the model");
		return NULL;
	}
	*len = n;
	return out;
}

/* ---- ONNX ----------------------------------------------------------------------------------- */

/* onnx.proto's field numbers (ONNX IR 7, opset 13). */
enum {
	MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_DOC_STRING = 6, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8,
	OPSET_VERSION = 2,
	GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
	NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
	ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_TYPE = 20,
	ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2,
	TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
	TENSOR_FLOAT = 1,
	VALUE_NAME = 1, VALUE_TYPE = 2,
	TYPE_TENSOR = 1, TYPE_TENSOR_ELEM_TYPE = 1, TYPE_TENSOR_SHAPE = 2,
	SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
};
#define ONNX_IR_VERSION 7 /* the IR of ONNX 1.8, which introduced opset 13 */
#define ONNX_OPSET 13

struct onnx {
	struct api_buf nodes, inits; /* GraphProto's node and initializer fields */
	struct api_buf sub[4];       /* scratch for nested messages, one per depth */
	unsigned n_nodes;
};

enum attr_kind { ATTR_NONE, ATTR_FLOAT, ATTR_INT };

static void onnx_node(struct onnx *o, const char *op, const char *in0, const char *in1, const char *in2,
		      const char *out, const char *attr, enum attr_kind kind, double value)
{
	struct api_buf *n = &o->sub[0], *a = &o->sub[1];
	char name[48];

	snprintf(name, sizeof name, "%s_%u", op, o->n_nodes++);
	api_pb_string(n, NODE_INPUT, in0);
	if (in1)
		api_pb_string(n, NODE_INPUT, in1);
	if (in2)
		api_pb_string(n, NODE_INPUT, in2);
	api_pb_string(n, NODE_OUTPUT, out);
	api_pb_string(n, NODE_NAME, name);
	api_pb_string(n, NODE_OP_TYPE, op);
	if (kind != ATTR_NONE) {
		api_pb_string(a, ATTR_NAME, attr);
		if (kind == ATTR_FLOAT)
			api_pb_float(a, ATTR_F, (float)value);
		else
			api_pb_uint(a, ATTR_I, (uint64_t)(int64_t)value);
		api_pb_uint(a, ATTR_TYPE, kind == ATTR_FLOAT ? ATTR_TYPE_FLOAT : ATTR_TYPE_INT);
		api_pb_message(n, NODE_ATTRIBUTE, a);
	}
	api_pb_message(&o->nodes, GRAPH_NODE, n);
}

/* A float32 initializer of shape dims[0..n_dims) (n_dims 0: a scalar). */
static void onnx_tensor(struct onnx *o, const char *name, const uint64_t *dims, int n_dims, const float *v,
			size_t n)
{
	struct api_buf *t = &o->sub[0];

	for (int i = 0; i < n_dims; i++)
		api_pb_uint(t, TENSOR_DIMS, dims[i]);
	api_pb_uint(t, TENSOR_DATA_TYPE, TENSOR_FLOAT);
	api_pb_string(t, TENSOR_NAME, name);
	api_pb_tag(t, TENSOR_RAW_DATA, API_PB_LEN);
	api_pb_varint(t, (uint64_t)n * 4);
	api_pb_floats_le(t, v, n);
	api_pb_message(&o->inits, GRAPH_INITIALIZER, t);
}

static void onnx_scalar(struct onnx *o, const char *name, float v)
{
	onnx_tensor(o, name, NULL, 0, &v, 1);
}

/* ValueInfoProto of a float32 [N, width] tensor into graph field. */
static void onnx_value_info(struct onnx *o, struct api_buf *graph, uint32_t field, const char *name, uint32_t width)
{
	struct api_buf *v = &o->sub[0], *type = &o->sub[1], *tensor = &o->sub[2], *shape = &o->sub[3];
	struct api_buf dim = {0};

	api_pb_string(&dim, DIM_PARAM, "N");
	api_pb_message(shape, SHAPE_DIM, &dim);
	api_pb_uint(&dim, DIM_VALUE, width);
	api_pb_message(shape, SHAPE_DIM, &dim);
	api_buf_free(&dim);
	api_pb_uint(tensor, TYPE_TENSOR_ELEM_TYPE, TENSOR_FLOAT);
	api_pb_message(tensor, TYPE_TENSOR_SHAPE, shape);
	api_pb_message(type, TYPE_TENSOR, tensor);
	api_pb_string(v, VALUE_NAME, name);
	api_pb_message(v, VALUE_TYPE, type);
	api_pb_message(graph, field, v);
}

/* The activation of dense layer li from tensor z into tensor out (z != out
 * unless linear). Names of intermediates and constants start with "l<li>.". */
static void onnx_activation(struct onnx *o, const struct nn_layer_spec *l, uint32_t li, const char *z,
			    const char *out)
{
	char t[9][48], c[4][48]; /* intermediates, each written once (SSA) */

	for (int i = 0; i < 9; i++)
		snprintf(t[i], sizeof t[i], "l%u.t%d", li, i);
	snprintf(c[0], sizeof c[0], "l%u.half", li);
	snprintf(c[1], sizeof c[1], "l%u.one", li);
	snprintf(c[2], sizeof c[2], "l%u.scale", li);
	snprintf(c[3], sizeof c[3], "l%u.cubic", li);
	switch (l->act) {
	case NN_ACT_LINEAR:
		break;
	case NN_ACT_SIGMOID:
		onnx_node(o, "Sigmoid", z, NULL, NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_RELU:
		onnx_node(o, "Relu", z, NULL, NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_SOFTMAX:
		onnx_node(o, "Softmax", z, NULL, NULL, out, "axis", ATTR_INT, -1);
		break;
	case NN_ACT_TANH:
		onnx_node(o, "Tanh", z, NULL, NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_LEAKY_RELU:
		onnx_node(o, "LeakyRelu", z, NULL, NULL, out, "alpha", ATTR_FLOAT, l->alpha);
		break;
	case NN_ACT_ELU:
		onnx_node(o, "Elu", z, NULL, NULL, out, "alpha", ATTR_FLOAT, l->alpha);
		break;
	case NN_ACT_SOFTPLUS:
		onnx_node(o, "Softplus", z, NULL, NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_SWISH: /* z sigmoid(z) */
		onnx_node(o, "Sigmoid", z, NULL, NULL, t[0], NULL, ATTR_NONE, 0);
		onnx_node(o, "Mul", z, t[0], NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_GELU:
		onnx_scalar(o, c[0], 0.5f);
		onnx_scalar(o, c[1], 1.0f);
		if (l->approximate) { /* 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) */
			onnx_scalar(o, c[2], (float)0.79788456080286535588);
			onnx_scalar(o, c[3], 0.044715f);
			onnx_node(o, "Mul", z, z, NULL, t[0], NULL, ATTR_NONE, 0);
			onnx_node(o, "Mul", t[0], z, NULL, t[1], NULL, ATTR_NONE, 0);
			onnx_node(o, "Mul", t[1], c[3], NULL, t[2], NULL, ATTR_NONE, 0);
			onnx_node(o, "Add", z, t[2], NULL, t[3], NULL, ATTR_NONE, 0);
			onnx_node(o, "Mul", t[3], c[2], NULL, t[4], NULL, ATTR_NONE, 0);
			onnx_node(o, "Tanh", t[4], NULL, NULL, t[5], NULL, ATTR_NONE, 0);
		} else { /* 0.5 z (1 + erf(z / sqrt 2)) */
			onnx_scalar(o, c[2], (float)0.70710678118654752440);
			onnx_node(o, "Mul", z, c[2], NULL, t[4], NULL, ATTR_NONE, 0);
			onnx_node(o, "Erf", t[4], NULL, NULL, t[5], NULL, ATTR_NONE, 0);
		}
		onnx_node(o, "Add", t[5], c[1], NULL, t[6], NULL, ATTR_NONE, 0);
		onnx_node(o, "Mul", z, t[6], NULL, t[7], NULL, ATTR_NONE, 0);
		onnx_node(o, "Mul", t[7], c[0], NULL, out, NULL, ATTR_NONE, 0);
		break;
	case NN_ACT_COUNT:
		break;
	}
}

/* The normalization layer's denominators max(sqrt(variance_j), 1e-7) in
 * float32, as core/nn_model.c divides by them (new; free with free()). */
static int norm_denominators(const float *variance, uint32_t n, float **out, struct api_err *err)
{
	float *d = api_malloc((size_t)n * sizeof *d);

	*out = d;
	if (!d)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory exporting the model");
	for (uint32_t j = 0; j < n; j++) {
		float sd = sqrtf(variance[j]);

		d[j] = sd > NN_NORM_EPSILON ? sd : NN_NORM_EPSILON;
	}
	return 0;
}

/* A batch normalization layer's inference transform y = x s + t (new
 * arrays s then t, 2 * n floats; free with free()), the bits nn_predict
 * uses (nn_bn_affine). */
static int bn_affine(const struct nn_layer_spec *l, const float *w, uint32_t n, float **out, struct api_err *err)
{
	float *st = api_malloc(2 * (size_t)n * sizeof *st);

	*out = st;
	if (!st)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory exporting the model");
	nn_bn_affine(l, w, n, st, st + n);
	return 0;
}

/* Weights of a batch normalization layer of width n. */
static size_t bn_size(const struct nn_layer_spec *l, uint32_t n)
{
	return (2u + l->scale + l->center) * (size_t)n;
}

static char *export_onnx(const struct api_model_def *def, const float *params, size_t *len, struct api_err *err)
{
	const struct nn_model_spec *spec = &def->spec;
	struct onnx o = {0};
	struct api_buf graph = {0}, model = {0}, opset = {0};
	const float *p = params;
	float *denom = NULL;
	char cur[48] = "input";
	int rc = 0;

	for (uint32_t li = 0; li < spec->n_layers && rc == 0; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);
		char kernel[48], bias[48], z[48], out[48];
		uint64_t dims[2] = {in, l->units};

		switch (l->kind) {
		case NN_LAYER_DENSE: /* Gemm(x, W[in, units], b[units]), then the activation */
			snprintf(kernel, sizeof kernel, "l%u.kernel", li);
			snprintf(bias, sizeof bias, "l%u.bias", li);
			if (li + 1 == spec->n_layers)
				snprintf(out, sizeof out, "output");
			else
				snprintf(out, sizeof out, "l%u.out", li);
			if (l->act == NN_ACT_LINEAR)
				snprintf(z, sizeof z, "%s", out);
			else
				snprintf(z, sizeof z, "l%u.z", li);
			onnx_tensor(&o, kernel, dims, 2, p, (size_t)in * l->units);
			p += (size_t)in * l->units;
			if (l->use_bias) {
				onnx_tensor(&o, bias, &dims[1], 1, p, l->units);
				p += l->units;
			}
			onnx_node(&o, "Gemm", cur, kernel, l->use_bias ? bias : NULL, z, NULL, ATTR_NONE, 0);
			onnx_activation(&o, l, li, z, out);
			snprintf(cur, sizeof cur, "%s", out);
			break;
		case NN_LAYER_DROPOUT: /* the identity at inference */
			break;
		case NN_LAYER_BATCH_NORM: /* inference: Add(Mul(x, s), t) with nn_bn_affine's s and t */
			snprintf(kernel, sizeof kernel, "l%u.scale", li);
			snprintf(bias, sizeof bias, "l%u.shift", li);
			snprintf(z, sizeof z, "l%u.scaled", li);
			snprintf(out, sizeof out, "l%u.out", li);
			rc = bn_affine(l, p, in, &denom, err);
			if (rc)
				break;
			onnx_tensor(&o, kernel, dims, 1, denom, in);
			onnx_tensor(&o, bias, dims, 1, denom + in, in);
			free(denom);
			denom = NULL;
			p += bn_size(l, in);
			onnx_node(&o, "Mul", cur, kernel, NULL, z, NULL, ATTR_NONE, 0);
			onnx_node(&o, "Add", z, bias, NULL, out, NULL, ATTR_NONE, 0);
			snprintf(cur, sizeof cur, "%s", out);
			break;
		case NN_LAYER_NORMALIZATION: /* Div(Sub(x, mean), max(sqrt(variance), 1e-7)) */
			snprintf(kernel, sizeof kernel, "l%u.mean", li);
			snprintf(bias, sizeof bias, "l%u.denominator", li);
			snprintf(z, sizeof z, "l%u.centered", li);
			snprintf(out, sizeof out, "l%u.out", li);
			onnx_tensor(&o, kernel, dims, 1, p, in);
			rc = norm_denominators(p + in, in, &denom, err);
			if (rc)
				break;
			onnx_tensor(&o, bias, dims, 1, denom, in);
			free(denom);
			denom = NULL;
			p += 2 * (size_t)in + 1;
			onnx_node(&o, "Sub", cur, kernel, NULL, z, NULL, ATTR_NONE, 0);
			onnx_node(&o, "Div", z, bias, NULL, out, NULL, ATTR_NONE, 0);
			snprintf(cur, sizeof cur, "%s", out);
			break;
		default:
			rc = unknown_layer(err, li, "ONNX");
			break;
		}
	}
	if (rc == 0) {
		api_pb_string(&graph, GRAPH_NAME, "fitd");
		api_buf_put(&graph, o.nodes.data ? o.nodes.data : "", o.nodes.len);
		api_buf_put(&graph, o.inits.data ? o.inits.data : "", o.inits.len);
		if (o.nodes.failed || o.inits.failed)
			graph.failed = true;
		onnx_value_info(&o, &graph, GRAPH_INPUT, "input", spec->input_dim);
		onnx_value_info(&o, &graph, GRAPH_OUTPUT, "output", nn_spec_outputs(spec));
		api_pb_uint(&model, MODEL_IR_VERSION, ONNX_IR_VERSION);
		api_pb_string(&model, MODEL_PRODUCER_NAME, "fitd");
		if (def->name[0])
			api_pb_string(&model, MODEL_DOC_STRING, def->name);
		api_pb_message(&model, MODEL_GRAPH, &graph);
		api_pb_uint(&opset, OPSET_VERSION, ONNX_OPSET);
		api_pb_message(&model, MODEL_OPSET_IMPORT, &opset);
		for (int i = 0; i < 4; i++)
			if (o.sub[i].failed)
				model.failed = true;
	}
	api_buf_free(&o.nodes);
	api_buf_free(&o.inits);
	for (int i = 0; i < 4; i++)
		api_buf_free(&o.sub[i]);
	api_buf_free(&graph);
	api_buf_free(&opset);
	if (rc) {
		api_buf_free(&model);
		return NULL;
	}
	return finish(&model, len, err);
}

/* ---- C ------------------------------------------------------------------------------------ */

/* A float literal that the compiler rounds back to exactly v: %.9g plus a
 * decimal point when %.9g printed an integer, and the f suffix. */
static void c_float(struct api_buf *b, float v)
{
	char s[32];

	snprintf(s, sizeof s, "%.9g", (double)v);
	api_buf_puts(b, s);
	if (!strpbrk(s, ".e"))
		api_buf_puts(b, ".0");
	api_buf_puts(b, "f");
}

static void c_floats(struct api_buf *b, const float *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			api_buf_puts(b, i % 6 ? ", " : ",\n\t");
		c_float(b, v[i]);
	}
}

/* The helper functions of the activations used (only those: -Wunused-function). */
static void c_helpers(struct api_buf *b, const bool *used, bool approximate, bool exact)
{
	if (used[NN_ACT_SIGMOID] || used[NN_ACT_SWISH])
		api_buf_puts(b, "/* sigma(z) without overflow */\n"
				"static double fitd_sigmoid(double z)\n{\n"
				"\tdouble e;\n\n"
				"\tif (z >= 0.0)\n\t\treturn 1.0 / (1.0 + exp(-z));\n"
				"\te = exp(z);\n\treturn e / (1.0 + e);\n}\n\n");
	if (used[NN_ACT_SOFTMAX])
		api_buf_puts(b, "/* softmax over n values in place: exp(z - max), then divided by the sum */\n"
				"static void fitd_softmax(float *a, int n)\n{\n"
				"\tfloat max = a[0];\n\tdouble sum = 0.0;\n\tint j;\n\n"
				"\tfor (j = 1; j < n; j++)\n\t\tmax = a[j] > max ? a[j] : max;\n"
				"\tfor (j = 0; j < n; j++) {\n"
				"\t\tdouble e = exp((double)a[j] - (double)max);\n\n"
				"\t\ta[j] = (float)e;\n\t\tsum += e;\n\t}\n"
				"\tfor (j = 0; j < n; j++)\n\t\ta[j] = (float)((double)a[j] / sum);\n}\n\n");
	if (exact)
		api_buf_puts(b, "/* GELU, exact: 0.5 z (1 + erf(z / sqrt 2)) */\n"
				"static float fitd_gelu(double z)\n{\n"
				"\treturn (float)(0.5 * z * (1.0 + erf(z * 0.70710678118654752440)));\n}\n\n");
	if (approximate)
		api_buf_puts(b, "/* GELU, tanh form: 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) */\n"
				"static float fitd_gelu_tanh(double z)\n{\n"
				"\treturn (float)(0.5 * z * (1.0 + tanh(0.79788456080286535588 * (z + 0.044715 * z * z * z))));"
				"\n}\n\n");
}

/* The statement applying layer l's activation to a[j] (or to a[0..units) for softmax). */
static void c_activation(struct api_buf *b, const struct nn_layer_spec *l, const char *a)
{
	switch (l->act) {
	case NN_ACT_LINEAR:
		break;
	case NN_ACT_SIGMOID:
		api_buf_printf(b, "\t\t%s[j] = (float)fitd_sigmoid(%s[j]);\n", a, a);
		break;
	case NN_ACT_RELU:
		api_buf_printf(b, "\t\t%s[j] = %s[j] > 0.0f ? %s[j] : 0.0f;\n", a, a, a);
		break;
	case NN_ACT_SOFTMAX:
		break; /* over the whole row, after the loop */
	case NN_ACT_TANH:
		api_buf_printf(b, "\t\t%s[j] = (float)tanh(%s[j]);\n", a, a);
		break;
	case NN_ACT_LEAKY_RELU:
		api_buf_printf(b, "\t\t%s[j] = %s[j] > 0.0f ? %s[j] : ", a, a, a);
		c_float(b, (float)l->alpha);
		api_buf_printf(b, " * %s[j];\n", a);
		break;
	case NN_ACT_ELU:
		api_buf_printf(b, "\t\t%s[j] = %s[j] > 0.0f ? %s[j] : (float)((double)", a, a, a);
		c_float(b, (float)l->alpha);
		api_buf_printf(b, " * expm1(%s[j]));\n", a);
		break;
	case NN_ACT_GELU:
		api_buf_printf(b, "\t\t%s[j] = %s(%s[j]);\n", a, l->approximate ? "fitd_gelu_tanh" : "fitd_gelu", a);
		break;
	case NN_ACT_SOFTPLUS:
		api_buf_printf(b, "\t\t%s[j] = (float)(fmax(%s[j], 0.0) + log1p(exp(-fabs(%s[j]))));\n", a, a, a);
		break;
	case NN_ACT_SWISH:
		api_buf_printf(b, "\t\t%s[j] = (float)(%s[j] * fitd_sigmoid(%s[j]));\n", a, a, a);
		break;
	case NN_ACT_COUNT:
		break;
	}
}

/* The name, safe inside a C comment: printable ASCII, no star or slash. */
static void c_comment_name(struct api_buf *b, const char *name)
{
	for (const unsigned char *s = (const unsigned char *)name; *s; s++)
		api_buf_put(b, *s >= 0x20 && *s < 0x7f && *s != '*' && *s != '/' ? (const char *)s : "?", 1);
}

static char *export_c(const struct api_model_def *def, int64_t id, const float *params, size_t *len,
		      struct api_err *err)
{
	const struct nn_model_spec *spec = &def->spec;
	struct api_buf b = {0};
	bool used[NN_ACT_COUNT] = {false}, exact = false, approximate = false;
	bool norm = spec->layers[0].kind == NN_LAYER_NORMALIZATION; /* xn[] needed */
	uint32_t width = 1, last = 0, n_dense = 0;
	const float *p = params;
	const char *src = "x";

	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];

		switch (l->kind) {
		case NN_LAYER_DENSE:
			used[l->act] = true;
			exact |= l->act == NN_ACT_GELU && !l->approximate;
			approximate |= l->act == NN_ACT_GELU && l->approximate;
			last = li;
			n_dense++;
			break;
		case NN_LAYER_DROPOUT:
		case NN_LAYER_NORMALIZATION: /* the first layer: into xn[] */
			break;
		case NN_LAYER_BATCH_NORM: /* in place, or into xn[] before any dense layer */
			norm |= n_dense == 0;
			break;
		default:
			return api_buf_free(&b), unknown_layer(err, li, "C"), NULL;
		}
	}
	for (uint32_t li = 0; li < last; li++)
		if (spec->layers[li].kind == NN_LAYER_DENSE && spec->layers[li].units > width)
			width = spec->layers[li].units;

	api_buf_printf(&b, "/*\n * fitd model %lld \"", (long long)id);
	c_comment_name(&b, def->name);
	api_buf_printf(&b, "\", exported as C99: needs only <math.h> (link with -lm).\n"
			   " *\n"
			   " * void fitd_model_predict(const float *x, float *y) maps one row of\n"
			   " * FITD_MODEL_INPUTS features x to FITD_MODEL_OUTPUTS values y, the\n"
			   " * predictions of POST /v1/models/%lld/predict. It computes in float32 as\n"
			   " * fitd does: z = b + sum x_i W_i, activations evaluated in double and\n"
			   " * rounded once; dropout is left out (inference); a normalization layer\n"
			   " * computes (x - mean) / max(sqrt(variance), 1e-7) in float. Weights are\n"
			   " * exact float literals. Reentrant; uses %zu bytes of stack.\n"
			   " */\n"
			   "#include <math.h>\n\n"
			   "#define FITD_MODEL_INPUTS %u\n"
			   "#define FITD_MODEL_OUTPUTS %u\n\n"
			   "void fitd_model_predict(const float *x, float *y);\n\n",
		       (long long)id,
		       (n_dense > 1 ? 2 * (size_t)width : 0) * sizeof(float) + (norm ? spec->input_dim * sizeof(float) : 0),
		       spec->input_dim, nn_spec_outputs(spec));
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);

		if (l->kind == NN_LAYER_BATCH_NORM) {
			float *st;

			if (bn_affine(l, p, in, &st, err))
				return api_buf_free(&b), NULL;
			api_buf_printf(&b, "/* layers[%u]: batch normalization at inference, y = x * scale + shift */\n", li);
			api_buf_printf(&b, "static const float fitd_scale_%u[%u] = {\n\t", li, in);
			c_floats(&b, st, in);
			api_buf_printf(&b, "\n};\nstatic const float fitd_shift_%u[%u] = {\n\t", li, in);
			c_floats(&b, st + in, in);
			api_buf_puts(&b, "\n};\n\n");
			free(st);
			p += bn_size(l, in);
			continue;
		}
		if (l->kind == NN_LAYER_NORMALIZATION) {
			float *denom;

			if (norm_denominators(p + in, in, &denom, err))
				return api_buf_free(&b), NULL;
			api_buf_printf(&b, "/* layers[%u]: normalization, mean [%u] and max(sqrt(variance), 1e-7) [%u] */\n",
				       li, in, in);
			api_buf_printf(&b, "static const float fitd_mean_%u[%u] = {\n\t", li, in);
			c_floats(&b, p, in);
			api_buf_printf(&b, "\n};\nstatic const float fitd_denominator_%u[%u] = {\n\t", li, in);
			c_floats(&b, denom, in);
			api_buf_puts(&b, "\n};\n\n");
			free(denom);
			p += 2 * (size_t)in + 1;
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_buf_printf(&b, "/* layers[%u]: dense %u -> %u, kernel [%u][%u] */\n", li, in, l->units, in, l->units);
		api_buf_printf(&b, "static const float fitd_kernel_%u[%u][%u] = {\n", li, in, l->units);
		for (uint32_t r = 0; r < in; r++) {
			api_buf_puts(&b, "\t{");
			c_floats(&b, p, l->units);
			p += l->units;
			api_buf_puts(&b, r + 1 < in ? "},\n" : "}\n");
		}
		api_buf_puts(&b, "};\n");
		if (l->use_bias) {
			api_buf_printf(&b, "static const float fitd_bias_%u[%u] = {\n\t", li, l->units);
			c_floats(&b, p, l->units);
			p += l->units;
			api_buf_puts(&b, "\n};\n");
		}
		api_buf_puts(&b, "\n");
	}
	c_helpers(&b, used, approximate, exact);
	api_buf_puts(&b, "void fitd_model_predict(const float *x, float *y)\n{\n");
	if (n_dense > 1)
		api_buf_printf(&b, "\tfloat h[2][%u];\n", width);
	if (norm)
		api_buf_printf(&b, "\tfloat xn[%u];\n", spec->input_dim);
	api_buf_puts(&b, "\tint i, j;\n");
	for (uint32_t li = 0, k = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);
		char dst[16];

		if (l->kind == NN_LAYER_NORMALIZATION) {
			api_buf_printf(&b, "\n\t/* layers[%u]: normalization */\n", li);
			api_buf_printf(&b, "\tfor (i = 0; i < %u; i++)\n"
					   "\t\txn[i] = (x[i] - fitd_mean_%u[i]) / fitd_denominator_%u[i];\n",
				       in, li, li);
			src = "xn";
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			const char *to = strcmp(src, "x") == 0 ? "xn" : src;

			api_buf_printf(&b, "\n\t/* layers[%u]: batch normalization */\n", li);
			api_buf_printf(&b, "\tfor (i = 0; i < %u; i++)\n"
					   "\t\t%s[i] = %s[i] * fitd_scale_%u[i] + fitd_shift_%u[i];\n",
				       in, to, src, li, li);
			src = to;
			continue;
		}
		if (l->kind != NN_LAYER_DENSE) {
			api_buf_printf(&b, "\n\t/* layers[%u]: dropout, left out at inference */\n", li);
			continue;
		}
		if (li == last)
			snprintf(dst, sizeof dst, "y");
		else
			snprintf(dst, sizeof dst, "h[%u]", k % 2);
		api_buf_printf(&b, "\n\t/* layers[%u]: dense, %s */\n", li, api_name_of(api_act_names, l->act));
		api_buf_printf(&b, "\tfor (j = 0; j < %u; j++) {\n", l->units);
		if (l->use_bias)
			api_buf_printf(&b, "\t\tfloat z = fitd_bias_%u[j];\n\n", li);
		else
			api_buf_puts(&b, "\t\tfloat z = 0.0f;\n\n");
		api_buf_printf(&b, "\t\tfor (i = 0; i < %u; i++)\n\t\t\tz += %s[i] * fitd_kernel_%u[i][j];\n", in, src, li);
		api_buf_printf(&b, "\t\t%s[j] = z;\n", dst);
		c_activation(&b, l, dst);
		api_buf_puts(&b, "\t}\n");
		if (l->act == NN_ACT_SOFTMAX)
			api_buf_printf(&b, "\tfitd_softmax(%s, %u);\n", dst, l->units);
		if (li != last) {
			src = k % 2 ? "h[1]" : "h[0]";
			k++;
		}
	}
	api_buf_puts(&b, "}\n");
	return finish(&b, len, err);
}

/* ---- Keras ------------------------------------------------------------------------------------ */

static const char *const keras_init_class[NN_INIT_COUNT] = {
	[NN_INIT_GLOROT_UNIFORM] = "GlorotUniform", [NN_INIT_GLOROT_NORMAL] = "GlorotNormal",
	[NN_INIT_HE_UNIFORM] = "HeUniform",         [NN_INIT_HE_NORMAL] = "HeNormal",
	[NN_INIT_LECUN_UNIFORM] = "LecunUniform",   [NN_INIT_LECUN_NORMAL] = "LecunNormal",
	[NN_INIT_ZEROS] = "Zeros",                  [NN_INIT_ONES] = "Ones",
};

/* Keras 3's names of the activation functions (keras.activations). */
static const char *keras_act_name(enum nn_act act)
{
	return act == NN_ACT_SWISH ? "silu" : api_name_of(api_act_names, act);
}

/* Keras 3's float32 DTypePolicy, as to_json() writes a layer's dtype. */
static cJSON *keras_dtype_policy(void)
{
	cJSON *p = cJSON_CreateObject(), *cfg;

	if (!p)
		return NULL;
	cJSON_AddStringToObject(p, "module", "keras");
	cJSON_AddStringToObject(p, "class_name", "DTypePolicy");
	cfg = api_json_add(p, "config", cJSON_CreateObject());
	if (cfg)
		cJSON_AddStringToObject(cfg, "name", "float32");
	cJSON_AddNullToObject(p, "registered_name");
	return p;
}

/* {"module", "class_name", "config": {"name", "trainable", "dtype"}, "registered_name"}: returns config. */
static cJSON *keras_object(cJSON *arr, const char *module, const char *cls, const char *name)
{
	cJSON *o = api_json_append(arr, cJSON_CreateObject());
	cJSON *cfg;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "module", module);
	cJSON_AddStringToObject(o, "class_name", cls);
	cfg = api_json_add(o, "config", cJSON_CreateObject());
	cJSON_AddNullToObject(o, "registered_name");
	if (cfg && name) {
		cJSON_AddStringToObject(cfg, "name", name);
		cJSON_AddBoolToObject(cfg, "trainable", true);
		api_json_add(cfg, "dtype", keras_dtype_policy());
	}
	return cfg;
}

static cJSON *keras_initializer(enum nn_init init)
{
	cJSON *arr = cJSON_CreateArray(), *cfg, *o;

	cfg = keras_object(arr, "keras.initializers", keras_init_class[init], NULL);
	if (cfg && init != NN_INIT_ZEROS && init != NN_INIT_ONES)
		cJSON_AddNullToObject(cfg, "seed");
	o = cJSON_DetachItemFromArray(arr, 0);
	cJSON_Delete(arr);
	return o;
}

static cJSON *keras_shape(uint32_t dim)
{
	cJSON *s = cJSON_CreateArray();

	api_json_append(s, cJSON_CreateNull());
	api_json_append(s, cJSON_CreateNumber(dim));
	return s;
}

/* "build_config": {"input_shape": [null, in]} on the last layer of layers. */
static void keras_build_config(cJSON *layers, uint32_t in)
{
	cJSON *build = api_json_add(cJSON_GetArrayItem(layers, cJSON_GetArraySize(layers) - 1), "build_config",
				    cJSON_CreateObject());

	if (build)
		api_json_add(build, "input_shape", keras_shape(in));
}

static int keras_dense(cJSON *layers, const struct nn_layer_spec *l, uint32_t in, unsigned *count,
		       struct api_err *err)
{
	bool custom_alpha = (l->act == NN_ACT_LEAKY_RELU || l->act == NN_ACT_ELU) &&
			    l->alpha != nn_act_default_alpha(l->act);
	char name[32];
	cJSON *cfg;

	if (l->act == NN_ACT_GELU && l->approximate)
		return api_fail(err, API_VALIDATION_FAILED, "format",
				"Keras cannot serialise gelu with approximate true (keras.activations.gelu's "
				"approximate is not part of to_json()); export onnx or c instead");
	snprintf(name, sizeof name, count[0] ? "dense_%u" : "dense", count[0]);
	count[0]++;
	cfg = keras_object(layers, "keras.layers", "Dense", name);
	if (!cfg)
		return 0; /* out of memory: caught by api_json_print_free */
	cJSON_AddNumberToObject(cfg, "units", l->units);
	cJSON_AddStringToObject(cfg, "activation", custom_alpha ? "linear" : keras_act_name(l->act));
	cJSON_AddBoolToObject(cfg, "use_bias", l->use_bias);
	api_json_add(cfg, "kernel_initializer", keras_initializer(l->kernel_init));
	api_json_add(cfg, "bias_initializer", keras_initializer(l->bias_init));
	if (l->l2 > 0) {
		cJSON *reg = cJSON_CreateArray(), *rcfg = keras_object(reg, "keras.regularizers", "L2", NULL);

		if (rcfg)
			api_add_number(rcfg, "l2", l->l2);
		api_json_add(cfg, "kernel_regularizer", cJSON_DetachItemFromArray(reg, 0));
		cJSON_Delete(reg);
	} else {
		cJSON_AddNullToObject(cfg, "kernel_regularizer");
	}
	cJSON_AddNullToObject(cfg, "bias_regularizer");
	cJSON_AddNullToObject(cfg, "kernel_constraint");
	cJSON_AddNullToObject(cfg, "bias_constraint");
	keras_build_config(layers, in);
	if (custom_alpha) { /* the activation as its own layer, which carries the parameter */
		bool leaky = l->act == NN_ACT_LEAKY_RELU;

		snprintf(name, sizeof name, count[1] ? "%s_%u" : "%s", leaky ? "leaky_re_lu" : "elu", count[1]);
		count[1]++;
		cfg = keras_object(layers, "keras.layers", leaky ? "LeakyReLU" : "ELU", name);
		if (cfg)
			api_add_number(cfg, leaky ? "negative_slope" : "alpha", l->alpha);
		keras_build_config(layers, l->units);
	}
	return 0;
}

/* Keras 3's Normalization (axis -1). Given values (norm_given) go in the
 * config, where Keras keeps them out of get_weights(); adapted ones are its
 * weights mean, variance and count (export_keras writes them). */
static void keras_normalization(cJSON *layers, const struct nn_layer_spec *l, uint32_t in, const float *w)
{
	cJSON *cfg = keras_object(layers, "keras.layers", "Normalization", "normalization");

	if (!cfg)
		return; /* out of memory: caught by api_json_print_free */
	cJSON_AddNumberToObject(cfg, "axis", -1);
	cJSON_AddBoolToObject(cfg, "invert", false);
	if (l->norm_given) {
		for (int part = 0; part < 2; part++) {
			cJSON *arr = api_json_add(cfg, part ? "variance" : "mean", cJSON_CreateArray());

			for (uint32_t j = 0; arr && j < in; j++)
				api_json_append(arr, api_json_number_or_null(w[(size_t)part * in + j]));
		}
	} else {
		cJSON_AddNullToObject(cfg, "mean");
		cJSON_AddNullToObject(cfg, "variance");
	}
	keras_build_config(layers, in);
}

/* Keras 3's BatchNormalization (axis -1) with its config as to_json()
 * writes it; the weights are gamma, beta, moving mean, moving variance. */
static void keras_batch_norm(cJSON *layers, const struct nn_layer_spec *l, uint32_t in, unsigned *count)
{
	static const struct {
		const char *key;
		enum nn_init init;
	} inits[] = {{"beta_initializer", NN_INIT_ZEROS}, {"gamma_initializer", NN_INIT_ONES},
		     {"moving_mean_initializer", NN_INIT_ZEROS}, {"moving_variance_initializer", NN_INIT_ONES}};
	static const char *const nulls[] = {"beta_regularizer", "gamma_regularizer", "beta_constraint",
					    "gamma_constraint"};
	char name[32];
	cJSON *cfg;

	snprintf(name, sizeof name, *count ? "batch_normalization_%u" : "batch_normalization", *count);
	(*count)++;
	cfg = keras_object(layers, "keras.layers", "BatchNormalization", name);
	if (!cfg)
		return; /* out of memory: caught by api_json_print_free */
	cJSON_AddNumberToObject(cfg, "axis", -1);
	api_add_number(cfg, "momentum", l->momentum);
	api_add_number(cfg, "epsilon", l->epsilon);
	cJSON_AddBoolToObject(cfg, "center", l->center);
	cJSON_AddBoolToObject(cfg, "scale", l->scale);
	for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++)
		api_json_add(cfg, inits[i].key, keras_initializer(inits[i].init));
	for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		cJSON_AddNullToObject(cfg, nulls[i]);
	cJSON_AddBoolToObject(cfg, "synchronized", false);
	keras_build_config(layers, in);
}

static char *export_keras(const struct api_model_def *def, const float *params, size_t *len, struct api_err *err)
{
	const struct nn_model_spec *spec = &def->spec;
	unsigned long failures = api_alloc_failures();
	cJSON *root = cJSON_CreateObject(), *cfg, *layers, *input, *build;
	struct api_buf b = {0};
	const float *p = params;
	unsigned count[4] = {0, 0, 0, 0}; /* dense, activation layers, dropout, batch normalization */
	char *config, name[32];
	bool first = true;

	if (!root)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory exporting the model"), NULL;
	cJSON_AddStringToObject(root, "module", "keras");
	cJSON_AddStringToObject(root, "class_name", "Sequential");
	cfg = api_json_add(root, "config", cJSON_CreateObject());
	cJSON_AddNullToObject(root, "registered_name");
	build = api_json_add(root, "build_config", cJSON_CreateObject());
	if (build)
		api_json_add(build, "input_shape", keras_shape(spec->input_dim));
	cJSON_AddNullToObject(root, "compile_config");
	if (cfg) {
		cJSON_AddStringToObject(cfg, "name", "sequential");
		cJSON_AddBoolToObject(cfg, "trainable", true);
		api_json_add(cfg, "dtype", keras_dtype_policy());
	}
	layers = cfg ? api_json_add(cfg, "layers", cJSON_CreateArray()) : NULL;
	input = layers ? keras_object(layers, "keras.layers", "InputLayer", NULL) : NULL;
	if (input) {
		api_json_add(input, "batch_shape", keras_shape(spec->input_dim));
		cJSON_AddStringToObject(input, "dtype", "float32");
		cJSON_AddBoolToObject(input, "sparse", false);
		cJSON_AddBoolToObject(input, "ragged", false);
		cJSON_AddStringToObject(input, "name", "input_layer");
	}
	if (cfg)
		api_json_add(cfg, "build_input_shape", keras_shape(spec->input_dim));
	for (uint32_t li = 0; li < spec->n_layers && layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		cJSON *dcfg;

		switch (l->kind) {
		case NN_LAYER_DENSE:
			if (keras_dense(layers, l, layer_inputs(spec, li), count, err))
				goto fail;
			break;
		case NN_LAYER_DROPOUT:
			snprintf(name, sizeof name, count[2] ? "dropout_%u" : "dropout", count[2]);
			count[2]++;
			dcfg = keras_object(layers, "keras.layers", "Dropout", name);
			if (dcfg) {
				api_add_number(dcfg, "rate", l->rate);
				cJSON_AddNullToObject(dcfg, "seed");
				cJSON_AddNullToObject(dcfg, "noise_shape");
			}
			keras_build_config(layers, layer_inputs(spec, li));
			break;
		case NN_LAYER_NORMALIZATION:
			keras_normalization(layers, l, layer_inputs(spec, li), p);
			break;
		case NN_LAYER_BATCH_NORM:
			keras_batch_norm(layers, l, layer_inputs(spec, li), &count[3]);
			break;
		default:
			unknown_layer(err, li, "Keras");
			goto fail;
		}
	}
	config = api_json_print_free(root, failures);
	root = NULL;
	if (!config)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory exporting the model"), NULL;
	api_buf_puts(&b, "{\"config\":");
	api_buf_puts(&b, config);
	free(config);
	api_buf_puts(&b, ",\"weights\":[");
	/* get_weights(): per dense layer the kernel [in][units], then the bias;
	 * an adapted normalization layer's mean [in], variance [in], count */
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);

		if (l->kind == NN_LAYER_NORMALIZATION && !l->norm_given) {
			for (int part = 0; part < 2; part++) {
				api_buf_puts(&b, first ? "[" : ",[");
				first = false;
				api_buf_floats(&b, p, in);
				p += in;
				api_buf_put(&b, "]", 1);
			}
			api_buf_put(&b, ",", 1);
			api_buf_float(&b, *p++); /* a whole number: Keras's int count */
			continue;
		}
		if (l->kind == NN_LAYER_NORMALIZATION) { /* given: in the config, no weights */
			p += 2 * (size_t)in + 1;
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) { /* gamma, beta (as it has them), moving mean, variance */
			for (size_t part = 0; part < bn_size(l, in) / in; part++) {
				api_buf_puts(&b, first ? "[" : ",[");
				first = false;
				api_buf_floats(&b, p, in);
				p += in;
				api_buf_put(&b, "]", 1);
			}
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_buf_puts(&b, first ? "" : ",");
		first = false;
		api_buf_matrix(&b, p, in, l->units);
		p += (size_t)in * l->units;
		if (l->use_bias) {
			api_buf_puts(&b, ",[");
			api_buf_floats(&b, p, l->units);
			p += l->units;
			api_buf_put(&b, "]", 1);
		}
	}
	api_buf_puts(&b, "]}");
	return finish(&b, len, err);
fail:
	cJSON_Delete(root);
	return NULL;
}

/* ---- entry ---------------------------------------------------------------------------------- */

char *api_export(enum api_export_format f, const struct api_model_def *def, int64_t id, const float *params,
		 size_t *len, struct api_err *err)
{
	uint64_t n_params;

	if (nn_spec_check(&def->spec, &n_params, NULL) != NN_OK) {
		api_fail(err, API_INTERNAL, NULL, "the model's definition is invalid");
		return NULL;
	}
	for (uint64_t i = 0; i < n_params; i++) {
		if (!isfinite(params[i])) {
			api_fail(err, API_CONFLICT, NULL, "the model's weights are not finite: nothing to export");
			return NULL;
		}
	}
	switch (f) {
	case API_EXPORT_ONNX:
		return export_onnx(def, params, len, err);
	case API_EXPORT_C:
		return export_c(def, id, params, len, err);
	case API_EXPORT_KERAS:
		return export_keras(def, params, len, err);
	}
	api_fail(err, API_VALIDATION_FAILED, "format", "format must be one of: %s", api_export_format_names());
	return NULL;
}
