/*
 * nn_loss.c — the loss table: value, gradient and accuracy of a batch for
 * each loss of enum nn_loss_kind, as Keras 3 computes them.
 *
 * DESIGN
 * Keras reduces each sample's loss over the last axis (mean for mse, mae,
 * huber and binary crossentropy; sum over classes for the categorical ones),
 * then takes the mean over the batch. loss() returns the sum over the rows in
 * double; the caller divides by the batch size. Gradients are those of the
 * batch mean (grad_scale = 1/batch).
 *
 * Probabilities (not from_logits) are clipped to [1e-7, 1 - 1e-7] as Keras
 * does, in double. For sigmoid + binary crossentropy and softmax +
 * categorical crossentropy the gradient is the fused one with respect to the
 * pre-activation z (sigma(z) - y, softmax(z) sum(y) - y), which is stable and
 * equals the chain rule wherever the clip is inactive; the value stays the
 * clipped one. Elsewhere the chain rule runs through normalisation and clip
 * (clipped entries get zero gradient).
 */
#include <math.h>

#include "nn_internal.h"

#define PROB_EPS 1e-7 /* Keras's backend.epsilon() */

static double sign(double x)
{
	return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : 0.0;
}

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static double sigmoid_d(double z)
{
	if (z >= 0.0)
		return 1.0 / (1.0 + exp(-z));
	double e = exp(z);
	return e / (1.0 + e);
}

/* log(1 + e^x) without overflow */
static double softplus_d(double x)
{
	return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

/* Index of the first largest value of row[k]. */
static uint32_t argmax(const float *row, uint32_t k)
{
	uint32_t best = 0;
	float max = row[0];
	for (uint32_t j = 1; j < k; j++) {
		bool larger = row[j] > max;
		best = larger ? j : best;
		max = larger ? row[j] : max;
	}
	return best;
}

/* ---- regression: mse, mae, huber ---------------------------------------------- */

/* Shared shape of the elementwise losses: per sample the mean over k outputs
 * of f(p - y); gradient f'(p - y) / k. */
static double mse_value(double e, double *d)
{
	*d = 2.0 * e;
	return e * e;
}

static double mae_value(double e, double *d)
{
	*d = sign(e);
	return fabs(e);
}

static double huber_value(double e, double *d)
{
	/* delta 1: 0.5 e^2 inside |e| <= 1, |e| - 0.5 outside */
	if (fabs(e) <= 1.0) {
		*d = e;
		return 0.5 * e * e;
	}
	*d = sign(e);
	return fabs(e) - 0.5;
}

static double elementwise_loss(const struct nn_loss_io *io, double (*f)(double, double *))
{
	double total = 0.0, scale = io->grad_scale / io->k;
	for (size_t r = 0; r < io->n; r++) {
		const float *p = io->a + r * io->k, *y = io->y + r * io->y_dim;
		double row = 0.0;
		for (uint32_t j = 0; j < io->k; j++) {
			double d;
			row += f((double)p[j] - (double)y[j], &d);
			if (io->grad)
				io->grad[r * io->k + j] = (float)(d * scale);
		}
		total += row / io->k;
	}
	return total;
}

static double mse_loss(const struct nn_loss_io *io)
{
	return elementwise_loss(io, mse_value);
}

static double mae_loss(const struct nn_loss_io *io)
{
	return elementwise_loss(io, mae_value);
}

static double huber_loss(const struct nn_loss_io *io)
{
	return elementwise_loss(io, huber_value);
}

/* ---- binary crossentropy -------------------------------------------------------- */

static double bce_loss(const struct nn_loss_io *io)
{
	const double log_lo = log(PROB_EPS), log_hi = log1p(-PROB_EPS);
	double total = 0.0, scale = io->grad_scale / io->k;
	for (size_t r = 0; r < io->n; r++) {
		const float *y = io->y + r * io->y_dim;
		double row = 0.0;
		for (uint32_t j = 0; j < io->k; j++) {
			size_t i = r * io->k + j;
			double t = y[j], d;
			if (io->from_logits) {
				/* max(z,0) - z y + log1p(e^-|z|); d/dz = sigma(z) - y */
				double z = io->a[i];
				row += fmax(z, 0.0) - z * t + log1p(exp(-fabs(z)));
				d = sigmoid_d(z) - t;
			} else if (io->fused) {
				/* -(y log p + (1-y) log(1-p)), p = sigma(z) clipped:
				 * log p = -softplus(-z), log(1-p) = -softplus(z), each
				 * clamped to [log eps, log(1-eps)]; d/dz = sigma(z) - y */
				double z = io->z[i];
				double log_p = clamp(-softplus_d(-z), log_lo, log_hi);
				double log_q = clamp(-softplus_d(z), log_lo, log_hi);
				row -= t * log_p + (1.0 - t) * log_q;
				d = (double)io->a[i] - t;
			} else {
				/* p clipped to [eps, 1-eps]; d/dp = (p - y) / (p (1 - p)) inside */
				double p = io->a[i];
				double c = clamp(p, PROB_EPS, 1.0 - PROB_EPS);
				row -= t * log(c) + (1.0 - t) * log(1.0 - c);
				d = p == c ? -(t / c - (1.0 - t) / (1.0 - c)) : 0.0;
			}
			if (io->grad)
				io->grad[i] = (float)(d * scale);
		}
		total += row / io->k;
	}
	return total;
}

/* ---- categorical crossentropy (dense or sparse targets) -------------------------- */

/* Target weight of class j in row r: y itself, or one-hot of a sparse label. */
static double target(const struct nn_loss_io *io, bool sparse, size_t r, uint32_t j)
{
	if (sparse)
		return (uint32_t)io->y[r] == j ? 1.0 : 0.0;
	return io->y[r * io->y_dim + j];
}

/* log(clip(q)) for q = a_j / sum (sum of a in double), clip to [eps, 1-eps]
 * as Keras. Near 1 the log is log1p(-(sum - a_j) / a_j), so that 1 - q
 * keeps the precision of the other outputs. NaN stays NaN. */
static double clipped_log_normalized(double a_j, double sum)
{
	double q = a_j / sum;
	if (q != q)
		return q;
	if (q <= PROB_EPS)
		return log(PROB_EPS);
	if (q >= 1.0 - PROB_EPS)
		return log1p(-PROB_EPS);
	if (q < 0.5)
		return log(q);
	return -log1p((sum - a_j) / a_j);
}

static double cce_row_logits(const struct nn_loss_io *io, bool sparse, size_t r)
{
	/* -sum y_j log_softmax(z)_j = sum y_j (lse - z_j);
	 * d/dz_j = softmax_j sum(y) - y_j */
	const float *z = io->a + r * io->k;
	float max = z[0];
	for (uint32_t j = 1; j < io->k; j++)
		max = z[j] > max ? z[j] : max;
	double sum = 0.0, y_sum = 0.0, value = 0.0;
	for (uint32_t j = 0; j < io->k; j++)
		sum += exp((double)z[j] - max);
	double lse = (double)max + log(sum);
	for (uint32_t j = 0; j < io->k; j++) {
		double t = target(io, sparse, r, j);
		y_sum += t;
		if (t != 0.0)
			value += t * (lse - z[j]);
	}
	if (io->grad)
		for (uint32_t j = 0; j < io->k; j++)
			io->grad[r * io->k + j] = (float)(io->grad_scale *
				(exp((double)z[j] - lse) * y_sum - target(io, sparse, r, j)));
	return value;
}

static double cce_row_probs(const struct nn_loss_io *io, bool sparse, size_t r)
{
	const float *a = io->a + r * io->k;
	float *g = io->grad ? io->grad + r * io->k : NULL;
	double sum = 0.0, y_sum = 0.0, value = 0.0;
	for (uint32_t j = 0; j < io->k; j++)
		sum += a[j];
	if (sparse && io->fused) {
		/* the common softmax + sparse labels case, one term:
		 * -log q_label; d/dz_j = softmax_j - [j == label] */
		uint32_t label = (uint32_t)io->y[r];
		if (g) {
			for (uint32_t j = 0; j < io->k; j++)
				g[j] = (float)(io->grad_scale * a[j]);
			g[label] = (float)(io->grad_scale * ((double)a[label] - 1.0));
		}
		return -clipped_log_normalized(a[label], sum);
	}
	/* Keras: q = a / sum(a), clipped to [eps, 1-eps]; -sum y log q */
	for (uint32_t j = 0; j < io->k; j++) {
		double t = target(io, sparse, r, j);
		y_sum += t;
		if (t != 0.0)
			value -= t * clipped_log_normalized(a[j], sum);
	}
	if (!g)
		return value;
	if (io->fused) {
		/* d/dz_j = softmax_j sum(y) - y_j */
		for (uint32_t j = 0; j < io->k; j++)
			g[j] = (float)(io->grad_scale * ((double)a[j] * y_sum - target(io, sparse, r, j)));
		return value;
	}
	/* g_j = dL/dq_j = -y_j / q_j unless clipped; dL/da_j = (g_j - sum_i g_i q_i) / sum */
	double dot = 0.0;
	for (uint32_t j = 0; j < io->k; j++) {
		double q = a[j] / sum, t = target(io, sparse, r, j);
		double gq = (q >= PROB_EPS && q <= 1.0 - PROB_EPS) ? -t / q : 0.0;
		dot += gq * q;
	}
	for (uint32_t j = 0; j < io->k; j++) {
		double q = a[j] / sum, t = target(io, sparse, r, j);
		double gq = (q >= PROB_EPS && q <= 1.0 - PROB_EPS) ? -t / q : 0.0;
		g[j] = (float)(io->grad_scale * (gq - dot) / sum);
	}
	return value;
}

static double cce_any(const struct nn_loss_io *io, bool sparse)
{
	double total = 0.0;
	for (size_t r = 0; r < io->n; r++)
		total += io->from_logits ? cce_row_logits(io, sparse, r) : cce_row_probs(io, sparse, r);
	return total;
}

static double cce_loss(const struct nn_loss_io *io)
{
	return cce_any(io, false);
}

static double sparse_cce_loss(const struct nn_loss_io *io)
{
	return cce_any(io, true);
}

/* ---- accuracy ------------------------------------------------------------------------ */

static double binary_correct(const struct nn_loss_io *io)
{
	/* (p > 0.5) == (y > 0.5) per output, logits: z > 0; mean over outputs */
	float threshold = io->from_logits ? 0.0f : 0.5f;
	double total = 0.0;
	for (size_t r = 0; r < io->n; r++) {
		uint32_t hits = 0;
		for (uint32_t j = 0; j < io->k; j++)
			hits += (io->a[r * io->k + j] > threshold) == (io->y[r * io->y_dim + j] > 0.5f);
		total += (double)hits / io->k;
	}
	return total;
}

static double categorical_correct(const struct nn_loss_io *io)
{
	double total = 0.0;
	for (size_t r = 0; r < io->n; r++)
		total += argmax(io->a + r * io->k, io->k) == argmax(io->y + r * io->y_dim, io->k);
	return total;
}

static double sparse_correct(const struct nn_loss_io *io)
{
	double total = 0.0;
	for (size_t r = 0; r < io->n; r++)
		total += argmax(io->a + r * io->k, io->k) == (uint32_t)io->y[r];
	return total;
}

const struct nn_loss_ops nn_loss_table[NN_LOSS_COUNT] = {
	[NN_LOSS_MSE] = {"mean_squared_error", NN_TASK_REGRESSION, NN_ACT_COUNT, mse_loss, NULL},
	[NN_LOSS_MAE] = {"mean_absolute_error", NN_TASK_REGRESSION, NN_ACT_COUNT, mae_loss, NULL},
	[NN_LOSS_HUBER] = {"huber", NN_TASK_REGRESSION, NN_ACT_COUNT, huber_loss, NULL},
	[NN_LOSS_BINARY_CROSSENTROPY] = {"binary_crossentropy", NN_TASK_BINARY, NN_ACT_SIGMOID,
					 bce_loss, binary_correct},
	[NN_LOSS_CATEGORICAL_CROSSENTROPY] = {"categorical_crossentropy", NN_TASK_MULTICLASS,
					      NN_ACT_SOFTMAX, cce_loss, categorical_correct},
	[NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = {"sparse_categorical_crossentropy",
						     NN_TASK_MULTICLASS, NN_ACT_SOFTMAX,
						     sparse_cce_loss, sparse_correct},
};

bool nn_loss_fused(const struct nn_model_spec *spec)
{
	if (spec->loss.from_logits || spec->n_layers == 0)
		return false;
	return spec->layers[spec->n_layers - 1].act == nn_loss_table[spec->loss.kind].fused_act;
}

enum nn_task nn_spec_task(const struct nn_model_spec *spec)
{
	if ((unsigned)spec->loss.kind >= NN_LOSS_COUNT)
		return NN_TASK_REGRESSION;
	return nn_loss_table[spec->loss.kind].task;
}
