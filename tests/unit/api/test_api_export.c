/*
 * test_api_export.c — api/api_pb.c's protocol-buffers encoding against the
 * byte sequences of the Protocol Buffers encoding guide (150 -> 08 96 01,
 * "testing" -> 12 07 ..., the embedded message 1a 03 08 96 01) and hand-made
 * ones; api/api_export.c's formats on a small model: every C literal parses
 * back to its weight bit for bit, the ONNX header fields, the Keras refusals;
 * api_weights_decode's flat get_weights() list. That the files run and agree
 * with predict is tests/integration/test_export.py's job (real runtimes).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_pb.h"
#include "tests/unit/api/test_api_util.h"

Suite *suite_api_export(void);

static void expect_bytes(struct api_buf *b, const char *want, size_t n, const char *what)
{
	ck_assert_msg(!b->failed, "%s: buffer failed", what);
	ck_assert_msg(b->len == n, "%s: %zu bytes, want %zu", what, b->len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg((unsigned char)b->data[i] == (unsigned char)want[i], "%s: byte %zu is %02x, want %02x",
			      what, i, (unsigned char)b->data[i], (unsigned char)want[i]);
	api_buf_clear(b);
}

static const struct {
	uint64_t v;
	const char *bytes;
	size_t n;
} varints[] = {
	{0, "\x00", 1},
	{1, "\x01", 1},
	{127, "\x7f", 1},
	{128, "\x80\x01", 2},
	{150, "\x96\x01", 2},
	{300, "\xac\x02", 2},
	{16383, "\xff\x7f", 2},
	{16384, "\x80\x80\x01", 3},
	{UINT32_MAX, "\xff\xff\xff\xff\x0f", 5},
	/* int64 -1 as protobuf writes it: ten bytes */
	{UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
};

START_TEST(test_pb_varint)
{
	struct api_buf b = {0};
	char what[64];

	snprintf(what, sizeof what, "varint %llu", (unsigned long long)varints[_i].v);
	api_pb_varint(&b, varints[_i].v);
	expect_bytes(&b, varints[_i].bytes, varints[_i].n, what);
	api_buf_free(&b);
}
END_TEST

START_TEST(test_pb_fields)
{
	struct api_buf b = {0}, sub = {0};

	api_pb_uint(&b, 1, 150); /* the guide's Test1.a = 150 */
	expect_bytes(&b, "\x08\x96\x01", 3, "uint field 1");
	api_pb_string(&b, 2, "testing"); /* Test2.b = "testing" */
	expect_bytes(&b, "\x12\x07testing", 9, "string field 2");
	api_pb_uint(&sub, 1, 150); /* Test3.c = Test1{a: 150} */
	api_pb_message(&b, 3, &sub);
	expect_bytes(&b, "\x1a\x03\x08\x96\x01", 5, "embedded message field 3");
	ck_assert_uint_eq(sub.len, 0);
	api_pb_message(&b, 4, &sub); /* an empty message is a zero length */
	expect_bytes(&b, "\x22\x00", 2, "empty message");
	api_pb_tag(&b, 20, API_PB_VARINT); /* AttributeProto.type: a two-byte key */
	expect_bytes(&b, "\xa0\x01", 2, "key of field 20");
	api_pb_float(&b, 2, 1.0f); /* fixed32, little-endian IEEE 754 */
	expect_bytes(&b, "\x15\x00\x00\x80\x3f", 5, "float field 2");
	api_pb_float(&b, 2, -0.1f); /* 0xbdcccccd */
	expect_bytes(&b, "\x15\xcd\xcc\xcc\xbd", 5, "float -0.1");
	{
		const float v[] = {1.0f, -2.0f, 0.0f};

		api_pb_floats_le(&b, v, 3);
		expect_bytes(&b, "\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x00", 12, "raw floats");
	}
	api_pb_bytes(&b, 9, "\x00\x01", 2); /* binary: NULs kept */
	expect_bytes(&b, "\x4a\x02\x00\x01", 4, "bytes with a NUL");
	sub.failed = true; /* a failed sub-message fails the parent */
	api_pb_message(&b, 1, &sub);
	ck_assert(b.failed);
	api_buf_free(&b);
	api_buf_free(&sub);
}
END_TEST

/* input 2 -> dense 3 (leaky_relu 0.1) -> dropout -> dense 2 softmax */
static void small_model(struct api_model_def *def, float *params, size_t *n)
{
	memset(def, 0, sizeof *def);
	snprintf(def->name, sizeof def->name, "small */ model");
	def->spec.input_dim = 2;
	def->spec.n_layers = 3;
	nn_dense_defaults(&def->spec.layers[0], 3, NN_ACT_LEAKY_RELU);
	def->spec.layers[0].alpha = 0.1;
	def->spec.layers[1].kind = NN_LAYER_DROPOUT;
	def->spec.layers[1].rate = 0.5;
	nn_dense_defaults(&def->spec.layers[2], 2, NN_ACT_SOFTMAX);
	def->spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_ADAM, &def->spec.opt);
	*n = 2 * 3 + 3 + 3 * 2 + 2;
	for (size_t i = 0; i < *n; i++) /* values with no short decimal form, signs mixed, an integer */
		params[i] = (float)((i % 3 ? -1.0 : 1.0) * (i + 1) / 7.0);
	params[4] = 3.0f;
}

START_TEST(test_c_literals_exact)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[32];
	size_t n, len, found = 0;
	char *c, *p;

	small_model(&def, params, &n);
	c = api_export(API_EXPORT_C, &def, 9, params, &len, &err);
	ck_assert_msg(c != NULL, "%s", err.message);
	ck_assert_uint_eq(strlen(c), len);
	ck_assert(strstr(c, "#define FITD_MODEL_INPUTS 2\n"));
	ck_assert(strstr(c, "#define FITD_MODEL_OUTPUTS 2\n"));
	ck_assert(strstr(c, "void fitd_model_predict(const float *x, float *y)\n{"));
	ck_assert(strstr(c, "3.0f")); /* an integral weight still reads as a float */
	ck_assert(!strstr(c, "*/ model")); /* the name cannot close the comment */
	ck_assert(strstr(c, "0.100000001f")); /* leaky slope as float32 */
	/* every weight literal, in order (each array's initializer), parses back to the exact float */
	for (p = strstr(c, "] = {"); p; p = strstr(p, "] = {")) {
		char *stop = strstr(p, "};");

		ck_assert_ptr_nonnull(stop);
		for (p += 5; p < stop;) {
			char *end;
			float v;

			p += strspn(p, " \t\n,{}");
			if (p >= stop)
				break;
			v = strtof(p, &end);
			ck_assert_msg(end > p && *end == 'f', "literal %zu not a suffixed float: %.20s", found, p);
			ck_assert_msg(found < n, "more literals than weights");
			ck_assert_msg(memcmp(&v, &params[found], sizeof v) == 0, "weight %zu: %.9g != %.9g", found,
				      (double)v, (double)params[found]);
			found++;
			p = end + 1;
		}
	}
	ck_assert_uint_eq(found, n);
	free(c);
}
END_TEST

START_TEST(test_onnx_header)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[32];
	size_t n, len;
	char *o;

	small_model(&def, params, &n);
	o = api_export(API_EXPORT_ONNX, &def, 9, params, &len, &err);
	ck_assert_msg(o != NULL, "%s", err.message);
	/* ModelProto.ir_version = 7 first, opset_import {version: 13} last */
	ck_assert(len > 100);
	ck_assert_mem_eq(o, "\x08\x07", 2);
	ck_assert_mem_eq(o + len - 4, "\x42\x02\x10\x0d", 4);
	/* the kernel's bytes are in the file, little-endian */
	{
		struct api_buf raw = {0};
		bool hit = false;

		api_pb_floats_le(&raw, params, 6);
		for (size_t i = 0; i + raw.len <= len && !hit; i++)
			hit = memcmp(o + i, raw.data, raw.len) == 0;
		ck_assert_msg(hit, "the first kernel's raw_data is not in the file");
		api_buf_free(&raw);
	}
	ck_assert(memmem(o, len, "LeakyRelu", 9));
	ck_assert(!memmem(o, len, "Dropout", 7));
	free(o);
}
END_TEST

START_TEST(test_keras_and_refusals)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[32];
	size_t n, len;
	char *k;
	enum api_export_format f;

	small_model(&def, params, &n);
	k = api_export(API_EXPORT_KERAS, &def, 9, params, &len, &err);
	ck_assert_msg(k != NULL, "%s", err.message);
	ck_assert(strstr(k, "\"class_name\":\"LeakyReLU\""));
	ck_assert(strstr(k, "\"negative_slope\":0.1,") || strstr(k, "\"negative_slope\":0.1}"));
	ck_assert(strstr(k, "\"class_name\":\"Dropout\""));
	free(k);

	def.spec.layers[0].act = NN_ACT_GELU;
	def.spec.layers[0].approximate = true;
	k = api_export(API_EXPORT_KERAS, &def, 9, params, &len, &err);
	ck_assert_ptr_null(k);
	t_expect_err(&err, API_VALIDATION_FAILED, "format", "approximate", "keras gelu tanh form");

	memset(&err, 0, sizeof err);
	def.spec.layers[0].approximate = false;
	params[3] = NAN;
	k = api_export(API_EXPORT_ONNX, &def, 9, params, &len, &err);
	ck_assert_ptr_null(k);
	t_expect_err(&err, API_CONFLICT, "", "not finite", "non-finite weights");

	ck_assert(api_export_format_parse("onnx", &f) && f == API_EXPORT_ONNX);
	ck_assert(api_export_format_parse("c", &f) && f == API_EXPORT_C);
	ck_assert(api_export_format_parse("keras", &f) && f == API_EXPORT_KERAS);
	ck_assert(!api_export_format_parse("ONNX", &f));
	ck_assert(!api_export_format_parse("", &f));
	ck_assert_str_eq(api_export_extension(API_EXPORT_KERAS), ".keras.json");
}
END_TEST

START_TEST(test_flat_weights)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[32], got[32];
	size_t n;
	struct tbody good = tq("[[[1, 2, 3], [4, 5, 6]], [7, 8, 9], [[1, 2], [3, 4], [5, 6]], [0.5, -0.5]]");
	struct tbody short_list = tq("[[[1, 2, 3], [4, 5, 6]], [7, 8, 9], [[1, 2], [3, 4], [5, 6]]]");
	struct tbody bad_row = tq("[[[1, 2, 3], [4, 5, 6]], [7, 8, 9], [[1, 2], [3, 4], [5]], [0.5, -0.5]]");
	struct tbody bad_bias = tq("[[[1, 2, 3], [4, 5, 6]], [7, 8], [[1, 2], [3, 4], [5, 6]], [0.5, -0.5]]");

	small_model(&def, params, &n);
	ck_assert_int_eq(api_weights_decode(good.p, good.n, &def.spec, got, &err), 0);
	for (size_t i = 0; i < 9; i++)
		ck_assert_float_eq(got[i], (float)(i + 1));
	ck_assert_float_eq(got[15], 0.5f);
	ck_assert_float_eq(got[16], -0.5f);
	ck_assert_int_eq(api_weights_decode(short_list.p, short_list.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "", "4 arrays", "three arrays of four");
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_weights_decode(bad_row.p, bad_row.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "[2][2]", NULL, "a short kernel row");
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_weights_decode(bad_bias.p, bad_bias.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "[1]", NULL, "a short bias");
	tb_free(&good);
	tb_free(&short_list);
	tb_free(&bad_row);
	tb_free(&bad_bias);
}
END_TEST

/* input 2 -> normalization (mean 1, -2; variance 4, 0) -> dense 1: 5 + 3 params */
static void norm_model(struct api_model_def *def, float *params, size_t *n, bool given)
{
	static const float w[] = {1.0f, -2.0f, 4.0f, 0.0f, 7.0f, 0.5f, -0.25f, 0.125f};

	memset(def, 0, sizeof *def);
	def->spec.input_dim = 2;
	def->spec.n_layers = 2;
	def->spec.layers[0].kind = NN_LAYER_NORMALIZATION;
	def->spec.layers[0].norm_given = given;
	nn_dense_defaults(&def->spec.layers[1], 1, NN_ACT_LINEAR);
	def->spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_ADAM, &def->spec.opt);
	*n = sizeof w / sizeof w[0];
	memcpy(params, w, sizeof w);
}

/* The C file divides by max(sqrt(variance), 1e-7): 2 and float32's 1e-7
 * (a variance of 0 is Keras's epsilon, not a division by zero); Keras gets
 * the weights mean, variance, count when adapted and config values when
 * given; the flat list reads them back, count a whole number >= 0. */
START_TEST(test_normalization_exports)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[8], got[8];
	size_t n, len;
	char *c, *k;
	struct tbody flat = tq("[[3, 4], [0.25, 9], 12, [[1], [2]], [0.5]]");
	struct tbody negative = tq("[[3, 4], [0.25, -9], 12, [[1], [2]], [0.5]]");
	struct tbody fraction = tq("[[3, 4], [0.25, 9], 1.5, [[1], [2]], [0.5]]");
	struct tbody dense_only = tq("[[[1], [2]], [0.5]]");

	norm_model(&def, params, &n, false);
	c = api_export(API_EXPORT_C, &def, 1, params, &len, &err);
	ck_assert_msg(c != NULL, "%s", err.message);
	ck_assert(strstr(c, "fitd_mean_0[2] = {\n\t1.0f, -2.0f\n};"));
	ck_assert_msg(strstr(c, "fitd_denominator_0[2] = {\n\t2.0f, 1.00000001e-07f\n};"), "%s", c);
	ck_assert(strstr(c, "xn[i] = (x[i] - fitd_mean_0[i]) / fitd_denominator_0[i];"));
	ck_assert(strstr(c, "z += xn[i] * fitd_kernel_1[i][j];"));
	free(c);
	k = api_export(API_EXPORT_KERAS, &def, 1, params, &len, &err);
	ck_assert_msg(k != NULL, "%s", err.message);
	ck_assert(strstr(k, "\"class_name\":\"Normalization\""));
	ck_assert(strstr(k, "\"mean\":null"));
	ck_assert_msg(strstr(k, "\"weights\":[[1,-2],[4,0],7,[[0.5],[-0.25]],[0.125]]}"), "%s", k);
	free(k);
	ck_assert_int_eq(api_weights_decode(flat.p, flat.n, &def.spec, got, &err), 0);
	ck_assert_float_eq(got[0], 3.0f);
	ck_assert_float_eq(got[3], 9.0f);
	ck_assert_float_eq(got[4], 12.0f);
	ck_assert_float_eq(got[6], 2.0f);
	ck_assert_float_eq(got[7], 0.5f);
	ck_assert_int_eq(api_weights_decode(negative.p, negative.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "[1][1]", "negative", "a negative variance");
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_weights_decode(fraction.p, fraction.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "[2]", "whole", "a fractional count");
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(api_weights_decode(dense_only.p, dense_only.n, &def.spec, got, &err), -1);
	t_expect_err(&err, API_VALIDATION_FAILED, "", "5 arrays", "the normalization arrays left out");
	memset(&err, 0, sizeof err);

	norm_model(&def, params, &n, true); /* given: in the config, no weights */
	k = api_export(API_EXPORT_KERAS, &def, 1, params, &len, &err);
	ck_assert_msg(k != NULL, "%s", err.message);
	ck_assert_msg(strstr(k, "\"mean\":[1,-2],\"variance\":[4,0]"), "%s", k);
	ck_assert(strstr(k, "\"weights\":[[[0.5],[-0.25]],[0.125]]}"));
	free(k);
	memcpy(got, params, sizeof got);
	ck_assert_int_eq(api_weights_decode(dense_only.p, dense_only.n, &def.spec, got, &err), 0);
	ck_assert_mem_eq(got, params, 5 * sizeof(float)); /* the given values kept */
	ck_assert_float_eq(got[5], 1.0f);
	ck_assert_float_eq(got[7], 0.5f);
	tb_free(&flat);
	tb_free(&negative);
	tb_free(&fraction);
	tb_free(&dense_only);
}
END_TEST

/* Out of memory at every allocation in turn: the same file or a 503, never a
 * shorter file (LeakSanitizer under make test-san: no leak either way). */
static void export_out_of_memory(const struct api_model_def *def, const float *params, int _i)
{
	size_t ref_len, len;
	struct api_err err = {0};
	enum api_export_format f = (enum api_export_format)_i;
	char *ref, *got;
	bool fired = true;

	ref = api_export(f, def, 3, params, &ref_len, &err);
	ck_assert_ptr_nonnull(ref);
	for (long nth = 1; fired; nth++) {
		memset(&err, 0, sizeof err);
		api_alloc_fail_nth(nth);
		got = api_export(f, def, 3, params, &len, &err);
		fired = !api_alloc_fail_pending();
		api_alloc_fail_nth(0);
		if (got) {
			ck_assert_msg(len == ref_len && memcmp(got, ref, len) == 0, "format %d, failure %ld: another file",
				      _i, nth);
			free(got);
		} else {
			ck_assert_msg(fired, "format %d: NULL without a failure", _i);
			t_expect_err(&err, API_UNAVAILABLE, "", "out of memory", "export out of memory");
		}
	}
	free(ref);
}

START_TEST(test_export_out_of_memory)
{
	struct api_model_def def;
	float params[32];
	size_t n;

	small_model(&def, params, &n);
	export_out_of_memory(&def, params, _i);
}
END_TEST

/* input 2 -> batch normalization (gamma 2, 1; beta 0.5, 0; moving mean 1,
 * -1; moving variance 3, 0.999) -> dense 1: the C file's scale and shift are
 * nn_bn_affine's floats, the Keras weights its four arrays. */
static void bn_model(struct api_model_def *def, float *params, size_t *n)
{
	static const float w[] = {2.0f, 1.0f, 0.5f, 0.0f, 1.0f, -1.0f, 3.0f, 0.999f, 0.25f, -0.75f, 0.125f};

	memset(def, 0, sizeof *def);
	def->spec.input_dim = 2;
	def->spec.n_layers = 2;
	nn_bn_defaults(&def->spec.layers[0]);
	nn_dense_defaults(&def->spec.layers[1], 1, NN_ACT_LINEAR);
	def->spec.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_ADAM, &def->spec.opt);
	*n = sizeof w / sizeof w[0];
	memcpy(params, w, sizeof w);
}

START_TEST(test_batch_norm_exports)
{
	struct api_model_def def;
	struct api_err err = {0};
	float params[11], s[2], t[2];
	size_t n, len;
	char *c, *k, want[128];

	bn_model(&def, params, &n);
	nn_bn_affine(&def.spec.layers[0], params, 2, s, t);
	/* s = gamma / sqrt(var + 1e-3): 2 / sqrt(3.001), 1 / sqrt(1) = 1; t = beta - mean s */
	ck_assert(fabs(s[0] - 2.0 / sqrt(3.001)) < 1e-7 && s[1] == 1.0f);
	ck_assert(fabs(t[0] - (0.5 - 2.0 / sqrt(3.001))) < 1e-7 && t[1] == 1.0f);
	c = api_export(API_EXPORT_C, &def, 1, params, &len, &err);
	ck_assert_msg(c != NULL, "%s", err.message);
	snprintf(want, sizeof want, "fitd_scale_0[2] = {\n\t%.9gf, 1.0f\n};", (double)s[0]);
	ck_assert_msg(strstr(c, want), "%s\nwant %s", c, want);
	ck_assert(strstr(c, "xn[i] = x[i] * fitd_scale_0[i] + fitd_shift_0[i];"));
	ck_assert(strstr(c, "z += xn[i] * fitd_kernel_1[i][j];"));
	free(c);
	k = api_export(API_EXPORT_KERAS, &def, 1, params, &len, &err);
	ck_assert_msg(k != NULL, "%s", err.message);
	ck_assert(strstr(k, "\"class_name\":\"BatchNormalization\""));
	ck_assert(strstr(k, "\"momentum\":0.99,\"epsilon\":0.001,\"center\":true,\"scale\":true"));
	ck_assert_msg(strstr(k, "\"weights\":[[2,1],[0.5,0],[1,-1],[3,0.999000013],[[0.25],[-0.75]],[0.125]]}"), "%s", k);
	free(k);
}
END_TEST

START_TEST(test_norm_export_out_of_memory)
{
	struct api_model_def def;
	float params[11];
	size_t n;

	norm_model(&def, params, &n, false);
	export_out_of_memory(&def, params, _i);
	norm_model(&def, params, &n, true);
	export_out_of_memory(&def, params, _i);
	bn_model(&def, params, &n);
	export_out_of_memory(&def, params, _i);
}
END_TEST

Suite *suite_api_export(void)
{
	Suite *s = suite_create("api_export");
	TCase *pb = tcase_create("protobuf");
	TCase *ex = tcase_create("export");

	tcase_add_loop_test(pb, test_pb_varint, 0, (int)(sizeof varints / sizeof varints[0]));
	tcase_add_test(pb, test_pb_fields);
	suite_add_tcase(s, pb);
	tcase_add_test(ex, test_c_literals_exact);
	tcase_add_test(ex, test_onnx_header);
	tcase_add_test(ex, test_keras_and_refusals);
	tcase_add_test(ex, test_flat_weights);
	tcase_add_test(ex, test_normalization_exports);
	tcase_add_test(ex, test_batch_norm_exports);
	tcase_add_loop_test(ex, test_norm_export_out_of_memory, API_EXPORT_ONNX, API_EXPORT_KERAS + 1);
	tcase_add_loop_test(ex, test_export_out_of_memory, API_EXPORT_ONNX, API_EXPORT_KERAS + 1);
	suite_add_tcase(s, ex);
	return s;
}
