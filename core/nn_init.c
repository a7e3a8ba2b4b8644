/*
 * nn_init.c — Keras's weight initializers (VarianceScaling family, zeros,
 * ones), drawing from a caller's nn_rng.
 *
 * scale / fan: glorot uses 1 / ((fan_in + fan_out) / 2), he 2 / fan_in,
 * lecun 1 / fan_in. Uniform: U(-limit, limit), limit = sqrt(3 scale / fan).
 * Normal: truncated at two standard deviations (re-drawn outside), with
 * stddev = sqrt(scale / fan) / 0.87962566103423978 so that the truncated
 * distribution has variance scale / fan.
 */
#include <math.h>

#include "nn_internal.h"

#define TRUNCATED_NORMAL_STDDEV 0.87962566103423978 /* stddev of N(0,1) cut at +-2 */

enum fan_mode { FAN_IN, FAN_AVG };

struct init_row {
	bool variance_scaling;
	bool normal;
	double scale;
	enum fan_mode mode;
	float constant; /* zeros / ones */
};

static const struct init_row init_table[NN_INIT_COUNT] = {
	[NN_INIT_GLOROT_UNIFORM] = {true, false, 1.0, FAN_AVG, 0.0f},
	[NN_INIT_GLOROT_NORMAL] = {true, true, 1.0, FAN_AVG, 0.0f},
	[NN_INIT_HE_UNIFORM] = {true, false, 2.0, FAN_IN, 0.0f},
	[NN_INIT_HE_NORMAL] = {true, true, 2.0, FAN_IN, 0.0f},
	[NN_INIT_LECUN_UNIFORM] = {true, false, 1.0, FAN_IN, 0.0f},
	[NN_INIT_LECUN_NORMAL] = {true, true, 1.0, FAN_IN, 0.0f},
	[NN_INIT_ZEROS] = {false, false, 0.0, FAN_IN, 0.0f},
	[NN_INIT_ONES] = {false, false, 0.0, FAN_IN, 1.0f},
};

void nn_init_fill(enum nn_init kind, float *w, size_t n, double fan_in, double fan_out,
		  struct nn_rng *rng)
{
	const struct init_row *row = &init_table[kind];
	if (!row->variance_scaling) {
		for (size_t i = 0; i < n; i++)
			w[i] = row->constant;
		return;
	}
	double fan = row->mode == FAN_AVG ? (fan_in + fan_out) / 2.0 : fan_in;
	if (fan < 1.0)
		fan = 1.0;
	double variance = row->scale / fan;
	if (row->normal) {
		double stddev = sqrt(variance) / TRUNCATED_NORMAL_STDDEV;
		for (size_t i = 0; i < n; i++) {
			double x;
			do
				x = nn_rng_normal(rng);
			while (fabs(x) > 2.0);
			w[i] = (float)(x * stddev);
		}
	} else {
		double limit = sqrt(3.0 * variance);
		for (size_t i = 0; i < n; i++)
			w[i] = (float)(limit * (2.0 * nn_rng_uniform(rng) - 1.0));
	}
}
