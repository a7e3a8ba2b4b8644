/*
 * nn_opt.c — the optimizer table: Keras 3's update rules, one loop over the
 * flat parameter, gradient and slot arrays per step.
 *
 * Scalar coefficients (bias corrections, 1 - beta) are computed in double and
 * rounded to float once; the per-element update is float32 with the operation
 * order of Keras's update_step, written so that gcc vectorises it. A step
 * allocates nothing.
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

void nn_opt_defaults(enum nn_opt_kind kind, struct nn_opt_spec *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->kind = kind;
	opt->learning_rate = kind == NN_OPT_SGD ? 0.01 : 0.001;
	opt->initial_accumulator_value = 0.1;
	opt->rho = 0.9;
	opt->beta_1 = 0.9;
	opt->beta_2 = 0.999;
	opt->epsilon = 1e-7;
}

static bool in_range(double x, double lo, double hi)
{
	return isfinite(x) && x >= lo && x <= hi;
}

/* Keras accepts momentum in [0, 1]; rho in [0, 1]; betas in [0, 1) (1 would
 * divide by zero); epsilon and the initial accumulator >= 0. */
static bool sgd_valid(const struct nn_opt_spec *o)
{
	return in_range(o->momentum, 0.0, 1.0);
}

static bool adagrad_valid(const struct nn_opt_spec *o)
{
	return in_range(o->initial_accumulator_value, 0.0, HUGE_VAL) &&
	       in_range(o->epsilon, 0.0, HUGE_VAL);
}

static bool rmsprop_valid(const struct nn_opt_spec *o)
{
	return in_range(o->rho, 0.0, 1.0) && in_range(o->momentum, 0.0, 1.0) &&
	       in_range(o->epsilon, 0.0, HUGE_VAL);
}

static bool adam_valid(const struct nn_opt_spec *o)
{
	return in_range(o->beta_1, 0.0, 1.0) && o->beta_1 < 1.0 && in_range(o->beta_2, 0.0, 1.0) &&
	       o->beta_2 < 1.0 && in_range(o->epsilon, 0.0, HUGE_VAL);
}

NN_HOT static void fill(float *x, size_t n, float value)
{
	for (size_t i = 0; i < n; i++)
		x[i] = value;
}

/* ---- sgd: slot 0 = momentum (only when momentum != 0) -------------------- */

static unsigned sgd_slots(const struct nn_opt_spec *o)
{
	return o->momentum != 0.0 ? 1 : 0;
}

static void sgd_reset(const struct nn_opt_spec *o, float *slots, size_t n)
{
	fill(slots, n * sgd_slots(o), 0.0f);
}

NN_HOT static void sgd_step(const struct nn_opt_spec *o, uint64_t t, float *restrict w,
		     const float *restrict g, float *restrict slots, size_t n, size_t stride)
{
	(void)t;
	(void)stride;
	const float lr = (float)o->learning_rate, mu = (float)o->momentum;
	if (o->momentum == 0.0) {
		/* w -= lr g */
		for (size_t i = 0; i < n; i++)
			w[i] -= g[i] * lr;
	} else if (o->nesterov) {
		/* m = mu m - lr g; w += mu m - lr g */
		for (size_t i = 0; i < n; i++) {
			float m = slots[i] * mu - g[i] * lr;
			slots[i] = m;
			w[i] += m * mu - g[i] * lr;
		}
	} else {
		/* m = mu m - lr g; w += m */
		for (size_t i = 0; i < n; i++) {
			float m = slots[i] * mu - g[i] * lr;
			slots[i] = m;
			w[i] += m;
		}
	}
}

/* ---- adagrad: slot 0 = accumulator ---------------------------------------- */

static unsigned adagrad_slots(const struct nn_opt_spec *o)
{
	(void)o;
	return 1;
}

static void adagrad_reset(const struct nn_opt_spec *o, float *slots, size_t n)
{
	fill(slots, n, (float)o->initial_accumulator_value);
}

NN_HOT static void adagrad_step(const struct nn_opt_spec *o, uint64_t t, float *restrict w,
			 const float *restrict g, float *restrict acc, size_t n, size_t stride)
{
	(void)t;
	(void)stride;
	const float lr = (float)o->learning_rate, eps = (float)o->epsilon;
	/* acc += g^2; w -= lr g / sqrt(acc + eps) */
	for (size_t i = 0; i < n; i++) {
		float a = acc[i] + g[i] * g[i];
		acc[i] = a;
		w[i] -= (lr * g[i]) / sqrtf(a + eps);
	}
}

/* ---- rmsprop: slot 0 = velocity, slot 1 = momentum (when momentum > 0) ---- */

static unsigned rmsprop_slots(const struct nn_opt_spec *o)
{
	return o->momentum > 0.0 ? 2 : 1;
}

static void rmsprop_reset(const struct nn_opt_spec *o, float *slots, size_t n)
{
	fill(slots, n * rmsprop_slots(o), 0.0f);
}

NN_HOT static void rmsprop_step(const struct nn_opt_spec *o, uint64_t t, float *restrict w,
			 const float *restrict g, float *restrict slots, size_t n, size_t stride)
{
	(void)t;
	const float lr = (float)o->learning_rate, eps = (float)o->epsilon;
	const float rho = (float)o->rho, one_minus_rho = (float)(1.0 - o->rho);
	const float mu = (float)o->momentum;
	float *restrict v = slots;
	if (o->momentum > 0.0) {
		float *restrict mom = slots + stride;
		/* v = rho v + (1-rho) g^2; mom = mu mom + lr g / sqrt(v + eps); w -= mom */
		for (size_t i = 0; i < n; i++) {
			float vi = rho * v[i] + one_minus_rho * (g[i] * g[i]);
			v[i] = vi;
			float m = mu * mom[i] + (lr * g[i]) / sqrtf(vi + eps);
			mom[i] = m;
			w[i] -= m;
		}
	} else {
		/* v = rho v + (1-rho) g^2; w -= lr g / sqrt(v + eps) */
		for (size_t i = 0; i < n; i++) {
			float vi = rho * v[i] + one_minus_rho * (g[i] * g[i]);
			v[i] = vi;
			w[i] -= (lr * g[i]) / sqrtf(vi + eps);
		}
	}
}

/* ---- adam: slot 0 = m, slot 1 = v ------------------------------------------ */

static unsigned adam_slots(const struct nn_opt_spec *o)
{
	(void)o;
	return 2;
}

static void adam_reset(const struct nn_opt_spec *o, float *slots, size_t n)
{
	fill(slots, 2 * n, 0.0f);
	(void)o;
}

NN_HOT static void adam_step(const struct nn_opt_spec *o, uint64_t t, float *restrict w,
		      const float *restrict g, float *restrict slots, size_t n, size_t stride)
{
	/* alpha = lr sqrt(1 - b2^t) / (1 - b1^t) */
	double step = (double)t;
	const float alpha = (float)(o->learning_rate * sqrt(1.0 - pow(o->beta_2, step)) /
				    (1.0 - pow(o->beta_1, step)));
	const float one_minus_b1 = (float)(1.0 - o->beta_1), one_minus_b2 = (float)(1.0 - o->beta_2);
	const float eps = (float)o->epsilon;
	float *restrict m = slots, *restrict v = slots + stride;
	/* m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= alpha m / (sqrt(v) + eps) */
	for (size_t i = 0; i < n; i++) {
		float mi = m[i] + (g[i] - m[i]) * one_minus_b1;
		float vi = v[i] + (g[i] * g[i] - v[i]) * one_minus_b2;
		m[i] = mi;
		v[i] = vi;
		w[i] -= (mi * alpha) / (sqrtf(vi) + eps);
	}
}

const struct nn_opt_ops nn_opt_table[NN_OPT_COUNT] = {
	[NN_OPT_SGD] = {"sgd", sgd_valid, sgd_slots, sgd_reset, sgd_step},
	[NN_OPT_ADAGRAD] = {"adagrad", adagrad_valid, adagrad_slots, adagrad_reset, adagrad_step},
	[NN_OPT_RMSPROP] = {"rmsprop", rmsprop_valid, rmsprop_slots, rmsprop_reset, rmsprop_step},
	[NN_OPT_ADAM] = {"adam", adam_valid, adam_slots, adam_reset, adam_step},
};
