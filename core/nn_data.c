/*
 * nn_data.c — checks that a borrowed data view fits a model spec.
 */
#include <math.h>

#include "nn_internal.h"

/* Why row r's targets do not fit the loss (false when they do). */
static bool bad_targets(const struct nn_model_spec *spec, const float *y, uint32_t y_dim,
			uint32_t outputs)
{
	for (uint32_t j = 0; j < y_dim; j++)
		if (!isfinite(y[j]))
			return true;
	switch (spec->loss.kind) {
	case NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
		return !(y[0] >= 0.0f && y[0] < (float)outputs && y[0] == floorf(y[0]));
	case NN_LOSS_BINARY_CROSSENTROPY:
		for (uint32_t j = 0; j < y_dim; j++)
			if (!(y[j] >= 0.0f && y[j] <= 1.0f))
				return true;
		return false;
	default:
		return false;
	}
}

int nn_data_check(const struct nn_model_spec *spec, const struct nn_data *d, size_t *bad_row)
{
	if (bad_row)
		*bad_row = SIZE_MAX;
	if (!spec || !d || nn_spec_check(spec, NULL, NULL) != NN_OK)
		return NN_EINVAL;
	uint32_t outputs = nn_spec_outputs(spec);
	uint32_t y_dim = spec->loss.kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? 1 : outputs;
	if (d->n == 0 || !d->x || !d->y || d->x_dim != spec->input_dim || d->y_dim != y_dim)
		return NN_EINVAL;
	for (size_t r = 0; r < d->n; r++) {
		const float *x = d->x + r * d->x_dim;
		bool bad = bad_targets(spec, d->y + r * d->y_dim, d->y_dim, outputs);
		for (uint32_t j = 0; j < d->x_dim && !bad; j++)
			bad = !isfinite(x[j]);
		if (bad) {
			if (bad_row)
				*bad_row = r;
			return NN_EINVAL;
		}
	}
	return NN_OK;
}
