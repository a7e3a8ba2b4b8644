/*
 * api_weights.c — weights in Keras's get_weights() layout: encoded with
 * enough digits to round-trip float32, decoded straight into the flat
 * parameter array after every shape and value is checked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_model_internal.h"

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

/* A batch normalization layer's arrays in get_weights() order; part p is
 * there when the layer has it (gamma: scale, beta: center). */
static const char *const bn_parts[4] = {"gamma", "beta", "moving_mean", "moving_variance"};

static bool bn_has_part(const struct nn_layer_spec *l, int part)
{
	return part == 0 ? l->scale : part == 1 ? l->center : true;
}

/* Reads a batch normalization layer's arrays (item: the layer's object, or
 * NULL for the flat list, whose arrays start at *flat and are named by
 * their index from *ai on) into p, moving variances >= 0. */
static int read_bn(const cJSON *item, const char *path, const cJSON **flat, uint32_t *ai,
		   const struct nn_layer_spec *l, uint32_t in, float *p, struct api_err *err)
{
	char field[API_FIELD_MAX];

	for (int part = 0; part < 4; part++) {
		const cJSON *arr;

		if (!bn_has_part(l, part))
			continue;
		if (item) {
			api_path(field, sizeof field, path, bn_parts[part]);
			arr = cJSON_GetObjectItemCaseSensitive(item, bn_parts[part]);
		} else {
			api_path_index(field, sizeof field, "", (*ai)++);
			arr = *flat;
			*flat = *flat ? (*flat)->next : NULL;
		}
		if (api_read_floats(arr, field, in, p, err))
			return -1;
		for (uint32_t j = 0; part == 3 && j < in; j++) {
			if (p[j] < 0) {
				char elem[API_FIELD_MAX];

				api_path_index(elem, sizeof elem, field, j);
				return api_fail(err, API_VALIDATION_FAILED, elem, "%s: a variance cannot be negative", elem);
			}
		}
		p += in;
	}
	return 0;
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

		if (l->kind == NN_LAYER_NORMALIZATION) {
			/* Keras's non-trainable mean, variance and count */
			static const char *const names[2] = {"{\"mean\":[", "],\"variance\":["};

			api_buf_puts(&b, first_layer ? "" : ",");
			first_layer = false;
			for (int part = 0; part < 2; part++) {
				api_buf_puts(&b, names[part]);
				api_buf_floats(&b, p, in);
				p += in;
			}
			api_buf_puts(&b, "],\"count\":");
			api_buf_float(&b, *p++);
			api_buf_put(&b, "}", 1);
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			/* gamma, beta (when the layer has them), moving mean and variance */
			bool first_part = true;

			api_buf_puts(&b, first_layer ? "{" : ",{");
			first_layer = false;
			for (int part = 0; part < 4; part++) {
				if (!bn_has_part(l, part))
					continue;
				api_buf_printf(&b, "%s\"%s\":[", first_part ? "" : "],", bn_parts[part]);
				first_part = false;
				api_buf_floats(&b, p, in);
				p += in;
			}
			api_buf_puts(&b, "]}");
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_buf_puts(&b, first_layer ? "{\"kernel\":" : ",{\"kernel\":");
		first_layer = false;
		api_buf_matrix(&b, p, in, l->units);
		p += (size_t)in * l->units;
		if (l->use_bias) {
			api_buf_puts(&b, ",\"bias\":[");
			api_buf_floats(&b, p, l->units);
			p += l->units;
			api_buf_put(&b, "]", 1);
		}
		api_buf_put(&b, "}", 1);
	}
	api_buf_puts(&b, "]}");
	return api_buf_finish(&b);
}

/* A [rows][cols] array of finite float32 numbers at path into out. */
static int read_matrix(const cJSON *arr, const char *path, uint32_t rows, uint32_t cols, float *out,
		       struct api_err *err)
{
	uint32_t r = 0;

	if (!cJSON_IsArray(arr) || (uint32_t)cJSON_GetArraySize(arr) != rows)
		return api_fail(err, API_VALIDATION_FAILED, path, "%s must have shape [%u, %u]", path, rows, cols);
	for (const cJSON *row = arr->child; row; row = row->next, r++) {
		char rowf[API_FIELD_MAX];

		api_path_index(rowf, sizeof rowf, path, r);
		if (api_read_floats(row, rowf, cols, out, err))
			return -1;
		out += cols;
	}
	return 0;
}

/* A normalization layer's variances (>= 0) and count (a whole number >= 0,
 * at path count_path) at p (mean [in], variance [in], count). */
static int check_norm(const float *p, uint32_t in, const char *var_path, const char *count_path,
		      struct api_err *err)
{
	for (uint32_t j = 0; j < in; j++) {
		if (p[in + j] < 0) {
			char elem[API_FIELD_MAX];

			api_path_index(elem, sizeof elem, var_path, j);
			return api_fail(err, API_VALIDATION_FAILED, elem, "%s: a variance cannot be negative", elem);
		}
	}
	if (p[2 * (size_t)in] < 0 || p[2 * (size_t)in] != floorf(p[2 * (size_t)in]))
		return api_fail(err, API_VALIDATION_FAILED, count_path, "%s must be a whole number of rows, 0 or more",
				count_path);
	return 0;
}

/* Keras's get_weights(): a flat list of arrays, for each dense layer its
 * kernel [inputs][units], then its bias [units] when it has one; for a
 * normalization layer without given values (Keras keeps given ones in its
 * config) its mean [inputs], variance [inputs] and count (a number). */
static int decode_flat(const cJSON *root, const struct nn_model_spec *spec, float *p, struct api_err *err)
{
	const cJSON *item = root->child;
	uint32_t n_arrays = 0, ai = 0;
	char path[API_FIELD_MAX], var_path[API_FIELD_MAX];

	for (uint32_t i = 0; i < spec->n_layers; i++) {
		if (spec->layers[i].kind == NN_LAYER_DENSE)
			n_arrays += spec->layers[i].use_bias ? 2 : 1;
		else if (spec->layers[i].kind == NN_LAYER_NORMALIZATION && !spec->layers[i].norm_given)
			n_arrays += 3;
		else if (spec->layers[i].kind == NN_LAYER_BATCH_NORM)
			n_arrays += 2u + spec->layers[i].scale + spec->layers[i].center;
	}
	if ((uint32_t)cJSON_GetArraySize(root) != n_arrays)
		return api_fail(err, API_VALIDATION_FAILED, NULL,
				"the weights list (Keras's get_weights()) must hold %u arrays: each dense layer's "
				"kernel, then its bias when it has one (an adapted normalization layer's mean, "
				"variance and count first; a batch normalization layer's gamma, beta, moving mean "
				"and moving variance)",
				n_arrays);
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li);

		if (l->kind == NN_LAYER_NORMALIZATION) {
			if (l->norm_given) { /* kept: the definition gave them */
				p += 2 * (size_t)in + 1;
				continue;
			}
			api_path_index(path, sizeof path, "", ai++);
			if (api_read_floats(item, path, in, p, err))
				return -1;
			item = item->next;
			api_path_index(var_path, sizeof var_path, "", ai++);
			if (api_read_floats(item, var_path, in, p + in, err))
				return -1;
			item = item->next;
			api_path_index(path, sizeof path, "", ai++);
			if (api_read_float(item, path, p + 2 * (size_t)in, err) ||
			    check_norm(p, in, var_path, path, err))
				return -1;
			item = item->next;
			p += 2 * (size_t)in + 1;
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			if (read_bn(NULL, NULL, &item, &ai, l, in, p, err))
				return -1;
			p += (2u + l->scale + l->center) * (size_t)in;
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		api_path_index(path, sizeof path, "", ai++);
		if (read_matrix(item, path, in, l->units, p, err))
			return -1;
		p += (size_t)in * l->units;
		item = item->next;
		if (l->use_bias) {
			api_path_index(path, sizeof path, "", ai++);
			if (api_read_floats(item, path, l->units, p, err))
				return -1;
			p += l->units;
			item = item->next;
		}
	}
	return 0;
}

int api_weights_decode(const char *body, size_t len, const struct nn_model_spec *spec, float *params,
		       struct api_err *err)
{
	static const char *const root_keys[] = {"layers", NULL};
	static const char *const layer_keys[] = {"kernel", "bias", NULL};
	static const char *const norm_keys[] = {"mean", "variance", "count", NULL};
	cJSON *root = api_json_parse(body, len, err);
	const cJSON *layers, *item;
	char path[API_FIELD_MAX], field[API_FIELD_MAX];
	uint32_t n_dense = 0, wi = 0;
	float *p = params;
	int rc = -1;

	if (!root)
		return -1;
	if (cJSON_IsArray(root)) {
		rc = decode_flat(root, spec, params, err);
		goto out;
	}
	if (api_obj_check(root, "", "the weights body", root_keys, err))
		goto out;
	for (uint32_t i = 0; i < spec->n_layers; i++)
		n_dense += spec->layers[i].kind != NN_LAYER_DROPOUT;
	layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	if (!cJSON_IsArray(layers) || (uint32_t)cJSON_GetArraySize(layers) != n_dense) {
		api_fail(err, API_VALIDATION_FAILED, "layers",
			 "layers must be an array of %u objects, one per dense, normalization or batch normalization layer",
			 n_dense);
		goto out;
	}
	item = layers->child;
	for (uint32_t li = 0; li < spec->n_layers; li++) {
		const struct nn_layer_spec *l = &spec->layers[li];
		uint32_t in = layer_inputs(spec, li), r = 0;
		const cJSON *kernel, *bias;

		if (l->kind == NN_LAYER_NORMALIZATION) {
			float count;

			api_path_index(path, sizeof path, "layers", wi++);
			if (api_obj_check(item, path, path, norm_keys, err))
				goto out;
			api_path(field, sizeof field, path, "mean");
			if (api_read_floats(cJSON_GetObjectItemCaseSensitive(item, "mean"), field, in, p, err))
				goto out;
			api_path(field, sizeof field, path, "variance");
			if (api_read_floats(cJSON_GetObjectItemCaseSensitive(item, "variance"), field, in, p + in, err))
				goto out;
			for (uint32_t j = 0; j < in; j++) {
				if (p[in + j] < 0) {
					char elem[API_FIELD_MAX];

					api_path_index(elem, sizeof elem, field, j);
					api_fail(err, API_VALIDATION_FAILED, elem, "%s: a variance cannot be negative", elem);
					goto out;
				}
			}
			api_path(field, sizeof field, path, "count");
			if (api_read_float(cJSON_GetObjectItemCaseSensitive(item, "count"), field, &count, err))
				goto out;
			if (count < 0 || count != floorf(count)) {
				api_fail(err, API_VALIDATION_FAILED, field, "%s must be a whole number of rows, 0 or more", field);
				goto out;
			}
			p[2 * (size_t)in] = count;
			p += 2 * (size_t)in + 1;
			item = item->next;
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			const char *keys[5];
			int k = 0;

			for (int part = 0; part < 4; part++)
				if (bn_has_part(l, part))
					keys[k++] = bn_parts[part];
			keys[k] = NULL;
			api_path_index(path, sizeof path, "layers", wi++);
			if (api_obj_check(item, path, path, keys, err) || read_bn(item, path, NULL, NULL, l, in, p, err))
				goto out;
			p += (2u + l->scale + l->center) * (size_t)in;
			item = item->next;
			continue;
		}
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
			char rowf[API_FIELD_MAX];

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
