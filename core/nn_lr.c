/*
 * nn_lr.c — Keras 3's learning-rate schedules (keras.optimizers.schedules):
 * ExponentialDecay, PiecewiseConstantDecay, CosineDecay (with linear
 * warm-up) and InverseTimeDecay, as functions of the optimizer's iterations.
 *
 * DESIGN
 * Keras calls schedule(optimizer.iterations) before each update and counts
 * the update after it, so the first step sees step 0. The formulas are
 * Keras's, evaluated in double (Keras evaluates them in float32; the
 * optimizers round the rate to float32 where Keras does).
 */
#include <math.h>

#include "nn_internal.h"

static double cosine_decay(const struct nn_lr_schedule *s, double step, double from)
{
	double cosine = 0.5 * (1.0 + cos(M_PI * step / s->decay_steps));
	return from * ((1.0 - s->alpha) * cosine + s->alpha);
}

double nn_lr_at(const struct nn_opt_spec *o, uint64_t iterations)
{
	const struct nn_lr_schedule *s = &o->schedule;
	double step = (double)iterations, p;

	switch (s->kind) {
	case NN_LR_EXPONENTIAL:
		p = step / s->decay_steps;
		if (s->staircase)
			p = floor(p);
		return s->initial_learning_rate * pow(s->decay_rate, p);
	case NN_LR_INVERSE_TIME:
		p = step / s->decay_steps;
		if (s->staircase)
			p = floor(p);
		return s->initial_learning_rate / (1.0 + s->decay_rate * p);
	case NN_LR_PIECEWISE:
		for (uint32_t i = 0; i < s->n_boundaries; i++)
			if (step <= s->boundaries[i])
				return s->values[i];
		return s->values[s->n_boundaries];
	case NN_LR_COSINE:
		if (!s->has_warmup)
			return cosine_decay(s, fmin(step, s->decay_steps), s->initial_learning_rate);
		step = fmin(step, s->decay_steps + s->warmup_steps);
		if (step < s->warmup_steps)
			return (s->warmup_target - s->initial_learning_rate) * (step / s->warmup_steps) +
			       s->initial_learning_rate;
		return cosine_decay(s, step - s->warmup_steps, s->warmup_target);
	default:
		return o->learning_rate;
	}
}

static bool positive(double v)
{
	return isfinite(v) && v > 0.0 && v <= 1e6;
}

bool nn_lr_valid(const struct nn_lr_schedule *s)
{
	switch (s->kind) {
	case NN_LR_CONSTANT:
		return true;
	case NN_LR_EXPONENTIAL:
	case NN_LR_INVERSE_TIME:
		return positive(s->initial_learning_rate) && isfinite(s->decay_steps) && s->decay_steps > 0.0 &&
		       isfinite(s->decay_rate) && s->decay_rate <= 1e6 &&
		       (s->kind == NN_LR_EXPONENTIAL ? s->decay_rate > 0.0 : s->decay_rate >= 0.0);
	case NN_LR_PIECEWISE:
		if (s->n_boundaries < 1 || s->n_boundaries > NN_MAX_LR_BOUNDARIES)
			return false;
		for (uint32_t i = 0; i <= s->n_boundaries; i++) {
			if (!(isfinite(s->values[i]) && s->values[i] >= 0.0 && s->values[i] <= 1e6))
				return false;
			if (i < s->n_boundaries &&
			    (!isfinite(s->boundaries[i]) || (i > 0 && !(s->boundaries[i] > s->boundaries[i - 1]))))
				return false;
		}
		return true;
	case NN_LR_COSINE:
		/* a warm-up commonly starts from 0 */
		return (positive(s->initial_learning_rate) || (s->has_warmup && s->initial_learning_rate == 0.0)) && isfinite(s->decay_steps) && s->decay_steps > 0.0 &&
		       isfinite(s->alpha) && s->alpha >= 0.0 && s->alpha <= 1.0 &&
		       (!s->has_warmup || (isfinite(s->warmup_target) && s->warmup_target >= 0.0 &&
					   s->warmup_target <= 1e6 && isfinite(s->warmup_steps) &&
					   s->warmup_steps >= 0.0));
	default:
		return false;
	}
}
