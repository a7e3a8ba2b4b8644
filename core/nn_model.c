/*
 * nn_model.c — models: spec checks, layout, creation, initialisation, the
 * forward and backward passes, inference, evaluation and the serialized
 * model state.
 *
 * DESIGN
 * A model is three flat float32 arrays (parameters, gradients, optimizer
 * slots) plus the per-layer layout computed once at creation. A forward or
 * backward pass runs over a struct nn_work, whose buffers were sized for a
 * maximum batch when it was made, so a pass allocates nothing. Dense layers
 * compute Z = X W + b by pre-filling Z with the bias rows and calling sgemm
 * with beta = 1; the backward pass computes dW = X^T dZ, db = column sums of
 * dZ (in double) and dX = dZ W^T, skipping dX below the first dense layer.
 *
 * State blob (little-endian, whatever the host):
 *   0  "FDMS"   magic
 *   4  u32      version (1)
 *   8  u64      n_params
 *  16  u32      optimizer kind
 *  20  u32      slot arrays
 *  24  u64      layout fingerprint (input_dim, dense units and biases, markers
 *               for normalization and batch normalization layers)
 *  32  u64      optimizer steps
 *  40  f32[n_params * (1 + slots)]   parameters, then each slot array
 *  ..  u64      checksum of every byte before it
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define STATE_MAGIC "FDMS"
#define STATE_VERSION 1u
#define STATE_HEADER 40u
#define ALIGN_BYTES 64u

/* ---- small helpers ----------------------------------------------------------- */

static bool finite_in(double x, double lo, double hi)
{
	return isfinite(x) && x >= lo && x <= hi;
}

/* Returns a new zeroed, 64-byte aligned array of n floats; free with free(). */
static float *alloc_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
	float *p = aligned_alloc(ALIGN_BYTES, bytes ? bytes : ALIGN_BYTES);
	if (p)
		memset(p, 0, bytes);
	return p;
}

static uint32_t argmax(const float *row, uint32_t k)
{
	uint32_t best = 0;
	for (uint32_t j = 1; j < k; j++)
		if (row[j] > row[best])
			best = j;
	return best;
}

/* col[j] += sum over rows of g[r][j], row by row (a fixed order) */
NN_HOT static void add_rows(double *restrict col, const float *restrict g, size_t rows,
			    size_t units)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t j = 0; j < units; j++)
			col[j] += g[r * units + j];
}

/* every row of z[rows x units] = b */
NN_HOT static void fill_rows(float *restrict z, const float *restrict b, size_t rows,
			     size_t units)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t j = 0; j < units; j++)
			z[r * units + j] = b[j];
}

NN_HOT static void multiply(float *restrict g, const float *restrict mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] *= mask[i];
}

static struct nn_act_param act_param(const struct nn_layer_spec *l)
{
	struct nn_act_param p = {(float)l->alpha, l->approximate};
	return p;
}

/* ---- specs ---------------------------------------------------------------------- */

void nn_dense_defaults(struct nn_layer_spec *layer, uint32_t units, enum nn_act act)
{
	memset(layer, 0, sizeof *layer);
	layer->kind = NN_LAYER_DENSE;
	layer->units = units;
	layer->act = act;
	layer->alpha = nn_act_default_alpha(act);
	layer->use_bias = true;
	layer->kernel_init = NN_INIT_GLOROT_UNIFORM;
	layer->bias_init = NN_INIT_ZEROS;
}

void nn_bn_defaults(struct nn_layer_spec *layer)
{
	memset(layer, 0, sizeof *layer);
	layer->kind = NN_LAYER_BATCH_NORM;
	layer->momentum = NN_BN_MOMENTUM;
	layer->epsilon = NN_BN_EPSILON;
	layer->center = true;
	layer->scale = true;
}

/* Weights of a batch normalization layer of width d: gamma, beta, moving
 * mean and variance (<= 4 * 2^20: no overflow). */
static uint64_t bn_params(const struct nn_layer_spec *l, uint64_t d)
{
	return ((l->scale ? 1u : 0u) + (l->center ? 1u : 0u) + 2u) * d;
}

static bool opt_valid(const struct nn_opt_spec *o)
{
	/* a schedule's value at step 0 may be 0 (a warm-up from 0) */
	return (unsigned)o->kind < NN_OPT_COUNT && isfinite(o->learning_rate) &&
	       (o->schedule.kind != NN_LR_CONSTANT ? o->learning_rate >= 0.0 : o->learning_rate > 0.0) &&
	       nn_opt_table[o->kind].valid(o) && nn_lr_valid(&o->schedule);
}

static int layer_check(const struct nn_layer_spec *l)
{
	if (l->kind == NN_LAYER_DROPOUT)
		return finite_in(l->rate, 0.0, 1.0) && l->rate < 1.0 ? NN_OK : NN_EINVAL;
	if (l->kind == NN_LAYER_NORMALIZATION)
		return NN_OK;
	if (l->kind == NN_LAYER_BATCH_NORM)
		return finite_in(l->momentum, 0.0, 1.0) && finite_in(l->epsilon, 0.0, HUGE_VAL) && l->epsilon > 0.0
			       ? NN_OK
			       : NN_EINVAL;
	if (l->kind != NN_LAYER_DENSE)
		return NN_EINVAL;
	if (l->units == 0)
		return NN_EINVAL;
	if (l->units > NN_MAX_UNITS)
		return NN_ELIMIT;
	if ((unsigned)l->act >= NN_ACT_COUNT || (unsigned)l->kernel_init >= NN_INIT_COUNT ||
	    (unsigned)l->bias_init >= NN_INIT_COUNT || !finite_in(l->l2, 0.0, HUGE_VAL))
		return NN_EINVAL;
	if ((l->act == NN_ACT_LEAKY_RELU || l->act == NN_ACT_ELU) && !isfinite(l->alpha))
		return NN_EINVAL;
	return NN_OK;
}

int nn_spec_check(const struct nn_model_spec *spec, uint64_t *n_params, int *bad_layer)
{
	int bad = -1, status = NN_OK;
	uint64_t total = 0, width;
	if (!spec) {
		status = NN_EINVAL;
		goto out;
	}
	if (spec->input_dim == 0 || spec->n_layers == 0 ||
	    (unsigned)spec->loss.kind >= NN_LOSS_COUNT || !opt_valid(&spec->opt)) {
		status = NN_EINVAL;
		goto out;
	}
	if (spec->input_dim > NN_MAX_INPUT_DIM || spec->n_layers > NN_MAX_LAYERS) {
		status = NN_ELIMIT;
		goto out;
	}
	width = spec->input_dim;
	for (uint32_t i = 0; i < spec->n_layers; i++) {
		const struct nn_layer_spec *l = &spec->layers[i];
		status = layer_check(l);
		if (status == NN_OK && l->kind == NN_LAYER_NORMALIZATION) {
			/* mean, variance and count of the input features; first layer only */
			total += 2 * width + 1;
			if (i != 0)
				status = NN_EINVAL;
			else if (NN_MAX_PARAMS < total) /* (2d + 1 <= 2^21 + 1: no overflow) */
				status = NN_ELIMIT;
		}
		if (status == NN_OK && l->kind == NN_LAYER_BATCH_NORM) {
			total += bn_params(l, width);
			if (!(total <= NN_MAX_PARAMS))
				status = NN_ELIMIT;
		}
		if (status == NN_OK && l->kind == NN_LAYER_DENSE) {
			/* width <= 2^20 and units <= 2^16 here: no overflow */
			total += width * l->units + (l->use_bias ? l->units : 0);
			width = l->units;
			if (total > NN_MAX_PARAMS)
				status = NN_ELIMIT;
		}
		if (status != NN_OK) {
			bad = (int)i;
			goto out;
		}
	}
	if (spec->layers[spec->n_layers - 1].kind != NN_LAYER_DENSE) {
		status = NN_EINVAL;
		bad = (int)spec->n_layers - 1;
	}
out:
	if (bad_layer)
		*bad_layer = bad;
	if (n_params)
		*n_params = status == NN_OK ? total : 0;
	return status;
}

uint64_t nn_spec_batch_floats(const struct nn_model_spec *spec, uint64_t batch)
{
	uint64_t units = 0;

	for (uint32_t i = 0; i < spec->n_layers; i++)
		if (spec->layers[i].kind == NN_LAYER_DENSE)
			units += spec->layers[i].units;
	return batch * units;
}

uint32_t nn_spec_outputs(const struct nn_model_spec *spec)
{
	for (uint32_t i = spec->n_layers; i-- > 0;)
		if (spec->layers[i].kind == NN_LAYER_DENSE)
			return spec->layers[i].units;
	return 0;
}

/* ---- models -------------------------------------------------------------------- */

/* Appends [off, off + len) to the trainable spans, merged with the last
 * when adjacent. */
static void add_train_span(struct nn_model *m, size_t off, size_t len)
{
	uint32_t k = m->n_train_spans;

	if (len == 0)
		return;
	if (k > 0 && m->train_off[k - 1] + m->train_len[k - 1] == off) {
		m->train_len[k - 1] += len;
		return;
	}
	assert(k < NN_MAX_LAYERS); /* at most one span per layer */
	m->train_off[k] = off;
	m->train_len[k] = len;
	m->n_train_spans = k + 1;
}

struct nn_model *nn_model_create(const struct nn_model_spec *spec)
{
	uint64_t n_params;
	if (nn_spec_check(spec, &n_params, NULL) != NN_OK)
		return NULL;
	struct nn_model *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->spec = *spec;
	m->n_params = (size_t)n_params;
	m->first_dense = -1;
	m->first_trainable = -1;
	uint32_t width = spec->input_dim;
	size_t offset = 0;
	for (uint32_t i = 0; i < spec->n_layers; i++) {
		const struct nn_layer_spec *l = &spec->layers[i];
		m->in_dim[i] = width;
		if (l->kind == NN_LAYER_DENSE) {
			m->kernel_off[i] = offset;
			offset += (size_t)width * l->units;
			m->bias_off[i] = offset;
			offset += l->use_bias ? l->units : 0;
			width = l->units;
			if (m->first_dense < 0)
				m->first_dense = (int)i;
			m->last_dense = (int)i;
			add_train_span(m, m->kernel_off[i], offset - m->kernel_off[i]);
		} else if (l->kind == NN_LAYER_BATCH_NORM) {
			/* gamma, beta (trainable), then the moving mean and variance */
			size_t trainable = ((l->scale ? 1u : 0u) + (l->center ? 1u : 0u)) * (size_t)width;
			m->kernel_off[i] = offset;
			if (trainable)
				add_train_span(m, offset, trainable);
			offset += (size_t)bn_params(l, width);
		} else if (l->kind == NN_LAYER_NORMALIZATION) {
			m->kernel_off[i] = offset; /* mean, then variance, then count */
			offset += 2 * (size_t)width + 1;
			m->frozen = offset; /* the first layer: a prefix of the parameters */
		}
		if (m->first_trainable < 0 && (l->kind == NN_LAYER_DENSE ||
					       (l->kind == NN_LAYER_BATCH_NORM && (l->scale || l->center))))
			m->first_trainable = (int)i;
		m->out_dim[i] = width;
		if (width > m->max_width)
			m->max_width = width;
	}
	m->outputs = width;
	m->fused = nn_loss_fused(spec);
	m->n_slots = nn_opt_table[spec->opt.kind].n_slots(&spec->opt);
	m->params = alloc_floats(m->n_params);
	m->grads = alloc_floats(m->n_params);
	if (m->n_slots)
		m->slots = alloc_floats(m->n_params * m->n_slots);
	if (!m->params || !m->grads || (m->n_slots && !m->slots)) {
		nn_model_destroy(m);
		return NULL;
	}
	nn_opt_table[spec->opt.kind].reset(&spec->opt, m->slots, m->n_params);
	return m;
}

void nn_model_destroy(struct nn_model *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->grads);
	free(m->slots);
	free(m);
}

void nn_model_init(struct nn_model *m, struct nn_rng *rng)
{
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind == NN_LAYER_NORMALIZATION) {
			/* Keras's initializers: mean 0, variance 1, count 0; no draw */
			float *p = m->params + m->kernel_off[i];
			for (uint32_t j = 0; j < m->in_dim[i]; j++) {
				p[j] = 0.0f;
				p[m->in_dim[i] + j] = 1.0f;
			}
			p[2 * (size_t)m->in_dim[i]] = 0.0f;
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			/* Keras: gamma ones, beta zeros, moving mean zeros, moving
			 * variance ones; no draw */
			float *p = m->params + m->kernel_off[i];
			uint32_t d = m->in_dim[i];
			if (l->scale)
				for (uint32_t j = 0; j < d; j++)
					*p++ = 1.0f;
			if (l->center)
				for (uint32_t j = 0; j < d; j++)
					*p++ = 0.0f;
			for (uint32_t j = 0; j < d; j++) {
				p[j] = 0.0f;
				p[d + j] = 1.0f;
			}
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		double fan_in = m->in_dim[i], fan_out = l->units;
		nn_init_fill(l->kernel_init, m->params + m->kernel_off[i],
			     (size_t)m->in_dim[i] * l->units, fan_in, fan_out, rng);
		/* Keras computes a bias's fans from its own 1-D shape: both = units. */
		if (l->use_bias)
			nn_init_fill(l->bias_init, m->params + m->bias_off[i], l->units, fan_out,
				     fan_out, rng);
	}
	memset(m->grads, 0, m->n_params * sizeof(float));
	m->steps = 0;
	nn_opt_table[m->spec.opt.kind].reset(&m->spec.opt, m->slots, m->n_params);
}

const struct nn_model_spec *nn_model_spec(const struct nn_model *m)
{
	return &m->spec;
}

size_t nn_model_n_params(const struct nn_model *m)
{
	return m->n_params;
}

float *nn_model_params(struct nn_model *m)
{
	return m->params;
}

const float *nn_model_params_const(const struct nn_model *m)
{
	return m->params;
}

uint64_t nn_model_opt_steps(const struct nn_model *m)
{
	return m->steps;
}

double nn_model_penalty(const struct nn_model *m)
{
	double penalty = 0.0;
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind != NN_LAYER_DENSE || l->l2 == 0.0)
			continue;
		const float *w = m->params + m->kernel_off[i];
		size_t count = (size_t)m->in_dim[i] * l->units;
		double squares = 0.0;
		for (size_t j = 0; j < count; j++)
			squares += (double)w[j] * w[j];
		penalty += l->l2 * squares;
	}
	return penalty;
}

/* ---- workspaces ---------------------------------------------------------------- */

/* Floats per row, each buffer rounded so that every buffer starts aligned
 * when max_rows is a multiple of 16; the allocation adds the rounding. */
uint64_t nn_work_row_floats(const struct nn_model *m, bool training, bool need_dx)
{
	uint64_t floats = 0, widest = m->max_width;
	if (need_dx && m->spec.input_dim > widest)
		widest = m->spec.input_dim;
	if (!training)
		return 2 * (uint64_t)m->max_width + m->outputs;
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind == NN_LAYER_DENSE)
			floats += (uint64_t)l->units * (l->act == NN_ACT_LINEAR ? 1 : 2);
		else
			floats += 2 * (uint64_t)m->out_dim[i];
	}
	return floats + 2 * widest;
}

/* Hands out aligned pieces of one block. */
struct carve {
	char *base;
	size_t used;
};

static float *carve_floats(struct carve *c, size_t n)
{
	float *p = c->base ? (float *)(c->base + c->used) : NULL;
	c->used += (n * sizeof(float) + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
	return p;
}

/* Lays the buffers out over c (sizing only when c->base is NULL). */
static void work_layout(struct nn_work *w, const struct nn_model *m, struct carve *c,
			bool need_dx)
{
	size_t rows = w->max_rows;
	w->col = (double *)carve_floats(c, 2 * (size_t)m->max_width);
	if (!w->training) {
		float *ping = carve_floats(c, rows * m->max_width);
		float *pong = carve_floats(c, rows * m->max_width);
		int dense = 0;
		for (uint32_t i = 0; i < m->spec.n_layers; i++) {
			if (m->spec.layers[i].kind == NN_LAYER_DROPOUT)
				continue;
			/* normalization writes its own output too: it takes a turn */
			w->a[i] = w->z[i] = dense++ % 2 ? pong : ping;
		}
		int last = m->last_dense;
		if (m->spec.layers[last].act != NN_ACT_LINEAR)
			w->z[last] = carve_floats(c, rows * m->outputs);
		return;
	}
	size_t widest = m->max_width;
	if (need_dx && m->spec.input_dim > widest)
		widest = m->spec.input_dim;
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		size_t n = rows * m->out_dim[i];
		w->a[i] = carve_floats(c, n);
		if (l->kind == NN_LAYER_DENSE)
			w->z[i] = l->act == NN_ACT_LINEAR ? w->a[i] : carve_floats(c, n);
		else
			w->mask[i] = carve_floats(c, n);
		if (l->kind == NN_LAYER_BATCH_NORM) /* 3 doubles per feature */
			w->bn[i] = (double *)carve_floats(c, 6 * (size_t)m->out_dim[i]);
	}
	w->grad[0] = carve_floats(c, rows * widest);
	w->grad[1] = carve_floats(c, rows * widest);
}

int nn_work_init(struct nn_work *w, const struct nn_model *m, size_t max_rows, bool training,
		 bool need_dx)
{
	memset(w, 0, sizeof *w);
	w->max_rows = max_rows;
	w->training = training;
	struct carve sizing = {NULL, 0};
	work_layout(w, m, &sizing, need_dx);
	w->block = aligned_alloc(ALIGN_BYTES, sizing.used);
	if (!w->block)
		return NN_ENOMEM;
	struct carve real = {w->block, 0};
	work_layout(w, m, &real, need_dx);
	return NN_OK;
}

void nn_work_free(struct nn_work *w)
{
	free(w->block);
	w->block = NULL;
}

/* ---- forward and backward ------------------------------------------------------- */

/* Keras's denominator of feature j: max(sqrt(variance), epsilon), in float32. */
static float norm_denominator(const float *weights, uint32_t dim, uint32_t j)
{
	float sd = sqrtf(weights[dim + j]);
	return sd > NN_NORM_EPSILON ? sd : NN_NORM_EPSILON;
}

/* out = (x - mean) / max(sqrt(variance), epsilon), rows x dim */
static void norm_forward(const float *weights, const float *x, float *out, size_t rows, uint32_t dim)
{
	for (uint32_t j = 0; j < dim; j++) {
		float mean = weights[j], denom = norm_denominator(weights, dim, j);
		for (size_t r = 0; r < rows; r++)
			out[r * dim + j] = (x[r * dim + j] - mean) / denom;
	}
}

void nn_norm_adapt(struct nn_model *m, const struct nn_data *d, const size_t *rows, size_t n)
{
	assert(m->spec.n_layers > 0 && m->spec.layers[0].kind == NN_LAYER_NORMALIZATION && n > 0);
	uint32_t dim = m->in_dim[0];
	float *w = m->params + m->kernel_off[0];
	for (uint32_t j = 0; j < dim; j++) {
		/* numpy's mean and var (ddof 0): the mean, then the mean squared
		 * deviation from it; in double, rounded once */
		double sum = 0.0, sq = 0.0;
		for (size_t i = 0; i < n; i++)
			sum += d->x[(rows ? rows[i] : i) * d->x_dim + j];
		double mean = sum / (double)n;
		for (size_t i = 0; i < n; i++) {
			double dev = d->x[(rows ? rows[i] : i) * d->x_dim + j] - mean;
			sq += dev * dev;
		}
		w[j] = (float)mean;
		w[dim + j] = (float)(sq / (double)n);
	}
	w[2 * (size_t)dim] = (float)n;
}

bool nn_norm_needs_adapt(const struct nn_model *m)
{
	return m->spec.n_layers > 0 && m->spec.layers[0].kind == NN_LAYER_NORMALIZATION &&
	       !m->spec.layers[0].norm_given && m->params[m->kernel_off[0] + 2 * (size_t)m->in_dim[0]] == 0.0f;
}

/* Where a batch normalization layer's weights are: gamma and beta (NULL
 * without scale / center), moving mean and variance. */
struct bn_weights {
	const float *gamma, *beta, *mean, *var;
};

static struct bn_weights bn_weights(const struct nn_layer_spec *l, const float *w, uint32_t dim)
{
	struct bn_weights b = {NULL, NULL, NULL, NULL};
	if (l->scale) {
		b.gamma = w;
		w += dim;
	}
	if (l->center) {
		b.beta = w;
		w += dim;
	}
	b.mean = w;
	b.var = w + dim;
	return b;
}

/* Inference: s = gamma / sqrt(moving_variance + epsilon), t = beta -
 * moving_mean s, in double, rounded once. */
static void bn_affine_one(const struct nn_layer_spec *l, const struct bn_weights *b, uint32_t j, float *s,
			  float *t)
{
	double inv = 1.0 / sqrt((double)b->var[j] + l->epsilon);
	double scale = b->gamma ? (double)b->gamma[j] * inv : inv;
	*s = (float)scale;
	*t = (float)((b->beta ? (double)b->beta[j] : 0.0) - (double)b->mean[j] * scale);
}

void nn_bn_affine(const struct nn_layer_spec *l, const float *w, uint32_t dim, float *s, float *t)
{
	struct bn_weights b = bn_weights(l, w, dim);
	for (uint32_t j = 0; j < dim; j++)
		bn_affine_one(l, &b, j, &s[j], &t[j]);
}

/* Training: per feature, the batch mean and biased variance (two passes in
 * double, a fixed order), xhat = (x - mean) / sqrt(var + epsilon) kept for
 * the backward pass, y = gamma xhat + beta. Inference: y = x s + t. */
static void bn_forward(const struct nn_layer_spec *l, const float *weights, struct nn_work *w, int i,
		       const float *x, float *out, size_t rows, uint32_t dim)
{
	struct bn_weights b = bn_weights(l, weights, dim);
	for (uint32_t j = 0; j < dim; j++) {
		if (!w->training) {
			float s, t;
			bn_affine_one(l, &b, j, &s, &t);
			for (size_t r = 0; r < rows; r++)
				out[r * dim + j] = x[r * dim + j] * s + t;
			continue;
		}
		double sum = 0.0, sq = 0.0;
		for (size_t r = 0; r < rows; r++)
			sum += x[r * dim + j];
		double mean = sum / (double)rows;
		for (size_t r = 0; r < rows; r++) {
			double dev = x[r * dim + j] - mean;
			sq += dev * dev;
		}
		double var = sq / (double)rows, inv = 1.0 / sqrt(var + l->epsilon);
		double gamma = b.gamma ? b.gamma[j] : 1.0, beta = b.beta ? b.beta[j] : 0.0;
		double *st = w->bn[i] + 3 * (size_t)j;
		st[0] = mean;
		st[1] = var;
		st[2] = inv;
		for (size_t r = 0; r < rows; r++) {
			double xh = (x[r * dim + j] - mean) * inv;
			w->mask[i][r * dim + j] = (float)xh;
			out[r * dim + j] = (float)(gamma * xh + beta);
		}
	}
}

void nn_bn_update(struct nn_model *m, const struct nn_work *w)
{
	assert(w->training);
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind != NN_LAYER_BATCH_NORM)
			continue;
		uint32_t dim = m->in_dim[i];
		float *mean = m->params + m->kernel_off[i] + ((l->scale ? 1u : 0u) + (l->center ? 1u : 0u)) * (size_t)dim;
		float *var = mean + dim;
		/* Keras: moving * momentum + batch * (1 - momentum), float32
		 * variables times float32 constants */
		const float mu = (float)l->momentum, one_minus = (float)(1.0 - l->momentum);
		for (uint32_t j = 0; j < dim; j++) {
			const double *st = w->bn[i] + 3 * (size_t)j;
			mean[j] = mean[j] * mu + (float)st[0] * one_minus;
			var[j] = var[j] * mu + (float)st[1] * one_minus;
		}
	}
}

void nn_forward(const struct nn_model *m, struct nn_work *w, const float *x, size_t n,
		struct nn_rng *rng)
{
	const float *in = x;
	assert(n <= w->max_rows);
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		w->in[i] = in;
		if (l->kind == NN_LAYER_BATCH_NORM) {
			bn_forward(l, m->params + m->kernel_off[i], w, (int)i, in, w->a[i], n, m->in_dim[i]);
			in = w->a[i];
			continue;
		}
		if (l->kind == NN_LAYER_NORMALIZATION) {
			norm_forward(m->params + m->kernel_off[i], in, w->a[i], n, m->in_dim[i]);
			in = w->a[i];
			continue;
		}
		if (l->kind == NN_LAYER_DROPOUT) {
			/* Keras: identity in inference and for rate 0; else keep with
			 * probability 1 - rate and scale kept values by 1 / (1 - rate). */
			if (!w->training || l->rate == 0.0)
				continue;
			assert(rng != NULL); /* required on a training workspace */
			size_t count = n * m->out_dim[i];
			float scale = (float)(1.0 / (1.0 - l->rate));
			float *mask = w->mask[i], *out = w->a[i];
			for (size_t j = 0; j < count; j++) {
				mask[j] = nn_rng_uniform(rng) >= l->rate ? scale : 0.0f;
				out[j] = in[j] * mask[j];
			}
			in = out;
			continue;
		}
		size_t units = l->units;
		const float *kernel = m->params + m->kernel_off[i];
		float *z = w->z[i];
		/* Z = X W + b: bias rows first, then sgemm with beta = 1 */
		if (l->use_bias)
			fill_rows(z, m->params + m->bias_off[i], n, units);
		nn_mat_gemm_tiled(w->par, false, false, n, units, m->in_dim[i], 1.0f, in,
				  m->in_dim[i], kernel, units, l->use_bias ? 1.0f : 0.0f, z, units);
		struct nn_act_param p = act_param(l);
		nn_act_table[l->act].forward(z, w->a[i], n, units, &p);
		in = w->a[i];
	}
	w->out = in;
}

double nn_loss_batch(const struct nn_model *m, struct nn_work *w, const float *y, size_t n,
		     bool grad, double *correct)
{
	assert(n > 0 && n <= w->max_rows);
	assert(!grad || w->training);
	const struct nn_loss_ops *ops = &nn_loss_table[m->spec.loss.kind];
	bool sparse = m->spec.loss.kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	struct nn_loss_io io = {
		.z = w->z[m->last_dense],
		.a = w->out,
		.y = y,
		.n = n,
		.k = m->outputs,
		.y_dim = sparse ? 1 : m->outputs,
		.from_logits = m->spec.loss.from_logits,
		.fused = m->fused,
		.grad_scale = 1.0 / (double)n,
		.grad = grad ? w->grad[0] : NULL,
	};
	if (correct && ops->correct)
		*correct += ops->correct(&io);
	return ops->loss(&io);
}

double nn_loss_batch_weighted(const struct nn_model *m, struct nn_work *w, const float *y, size_t n,
			      const float *weights, bool grad, double *correct)
{
	if (!weights)
		return nn_loss_batch(m, w, y, n, grad, correct);
	assert(n > 0 && n <= w->max_rows);
	assert(!grad || w->training);
	const struct nn_loss_ops *ops = &nn_loss_table[m->spec.loss.kind];
	bool sparse = m->spec.loss.kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	uint32_t k = m->outputs, y_dim = sparse ? 1 : m->outputs;
	double total = 0.0;
	/* One row at a time: each loss writes row r's gradient from row r
	 * alone, so a row's weight folds into its grad_scale exactly. */
	for (size_t r = 0; r < n; r++) {
		double wt = weights[r];
		struct nn_loss_io io = {
			.z = w->z[m->last_dense] + r * k,
			.a = w->out + r * k,
			.y = y + r * y_dim,
			.n = 1,
			.k = k,
			.y_dim = y_dim,
			.from_logits = m->spec.loss.from_logits,
			.fused = m->fused,
			.grad_scale = wt / (double)n,
			.grad = grad ? w->grad[0] + r * k : NULL,
		};
		if (correct && ops->correct)
			*correct += ops->correct(&io); /* a metric: not weighted */
		total += wt * ops->loss(&io);
	}
	return total;
}

/* Batch normalization's backward pass in place on g (rows x dim), per
 * feature in double: dgamma = sum dy xhat, dbeta = sum dy, and
 * dx = gamma inv / N (N dy - sum dy - xhat sum dy xhat). The moving
 * statistics get no gradient (they stay 0 in m->grads). */
static void bn_backward(struct nn_model *m, struct nn_work *w, int i, float *g, size_t rows)
{
	const struct nn_layer_spec *l = &m->spec.layers[i];
	uint32_t dim = m->in_dim[i];
	struct bn_weights b = bn_weights(l, m->params + m->kernel_off[i], dim);
	float *d_gamma = l->scale ? m->grads + m->kernel_off[i] : NULL;
	float *d_beta = l->center ? m->grads + m->kernel_off[i] + (l->scale ? dim : 0) : NULL;
	const float *xhat = w->mask[i];
	for (uint32_t j = 0; j < dim; j++) {
		double sum_dy = 0.0, sum_dy_xh = 0.0;
		for (size_t r = 0; r < rows; r++) {
			double dy = g[r * dim + j];
			sum_dy += dy;
			sum_dy_xh += dy * xhat[r * dim + j];
		}
		if (d_gamma)
			d_gamma[j] = (float)sum_dy_xh;
		if (d_beta)
			d_beta[j] = (float)sum_dy;
		double gamma = b.gamma ? b.gamma[j] : 1.0, n = (double)rows;
		double k = gamma * w->bn[i][3 * (size_t)j + 2] / n;
		for (size_t r = 0; r < rows; r++)
			g[r * dim + j] = (float)(k * (n * g[r * dim + j] - sum_dy - xhat[r * dim + j] * sum_dy_xh));
	}
}

double nn_backward(struct nn_model *m, struct nn_work *w, size_t n, float *dx)
{
	assert(w->training && n <= w->max_rows);
	float *g = w->grad[0], *other = w->grad[1];
	double penalty = 0.0;
	for (int i = (int)m->spec.n_layers - 1; i >= 0; i--) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind == NN_LAYER_DROPOUT) {
			if (l->rate != 0.0)
				multiply(g, w->mask[i], n * m->out_dim[i]);
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			bn_backward(m, w, i, g, n);
			if (i == m->first_trainable && !dx)
				break;
			continue;
		}
		if (l->kind == NN_LAYER_NORMALIZATION) {
			/* non-trainable: no parameter gradient (m->grads stays 0 there);
			 * dx = dy / max(sqrt(variance), epsilon) */
			uint32_t dim = m->in_dim[i];
			for (uint32_t j = 0; j < dim; j++) {
				float denom = norm_denominator(m->params + m->kernel_off[i], dim, j);
				for (size_t r = 0; r < n; r++)
					g[r * dim + j] /= denom;
			}
			continue;
		}
		size_t units = l->units, in = m->in_dim[i];
		/* dZ = dA * act'(Z), in place (the fused loss gave dZ already) */
		if (!(i == m->last_dense && m->fused)) {
			struct nn_act_param p = act_param(l);
			nn_act_table[l->act].backward(w->z[i], w->a[i], g, g, n, units, &p);
		}
		const float *kernel = m->params + m->kernel_off[i];
		float *d_kernel = m->grads + m->kernel_off[i];
		/* dW = X^T dZ */
		nn_mat_gemm_tiled(w->par, true, false, in, units, n, 1.0f, w->in[i], in, g, units,
				  0.0f, d_kernel, units);
		if (l->use_bias) {
			/* db = column sums of dZ, accumulated in double */
			double *col = w->col;
			for (size_t j = 0; j < units; j++)
				col[j] = 0.0;
			add_rows(col, g, n, units);
			float *d_bias = m->grads + m->bias_off[i];
			for (size_t j = 0; j < units; j++)
				d_bias[j] = (float)col[j];
		}
		if (l->l2 != 0.0) {
			/* loss += l2 sum(W^2); dW += 2 l2 W */
			const float twice = (float)(2.0 * l->l2);
			size_t count = in * units;
			double squares = 0.0;
			for (size_t j = 0; j < count; j++) {
				squares += (double)kernel[j] * kernel[j];
				d_kernel[j] += twice * kernel[j];
			}
			penalty += l->l2 * squares;
		}
		if (i == m->first_trainable && !dx)
			break;
		/* dX = dZ W^T */
		nn_mat_gemm_tiled(w->par, false, true, n, in, units, 1.0f, g, units, kernel, units,
				  0.0f, other, in);
		float *swap = g;
		g = other;
		other = swap;
	}
	if (dx)
		memcpy(dx, g, n * m->spec.input_dim * sizeof(float));
	return penalty;
}

/* ---- inference and evaluation ------------------------------------------------------- */

size_t nn_work_infer_rows(const struct nn_model *m, size_t n)
{
	uint64_t per_row = nn_work_row_floats(m, false, false);
	uint64_t rows = ((uint64_t)1 << 22) / (per_row ? per_row : 1);
	if (rows > 256)
		rows = 256;
	if (rows < 1)
		rows = 1;
	return rows < n ? (size_t)rows : n;
}

int nn_predict(const struct nn_model *m, const float *x, size_t n, float *out)
{
	if (n == 0)
		return NN_OK;
	struct nn_work w;
	if (nn_work_init(&w, m, nn_work_infer_rows(m, n), false, false) != NN_OK)
		return NN_ENOMEM;
	size_t in = m->spec.input_dim, k = m->outputs;
	unsigned fp = nn_fp_enter();
	for (size_t start = 0; start < n; start += w.max_rows) {
		size_t rows = n - start < w.max_rows ? n - start : w.max_rows;
		nn_forward(m, &w, x + start * in, rows, NULL);
		memcpy(out + start * k, w.out, rows * k * sizeof(float));
	}
	nn_fp_leave(fp);
	nn_work_free(&w);
	return NN_OK;
}

int nn_classes(const struct nn_model_spec *spec, const float *out, size_t n, int32_t *classes)
{
	uint32_t k = nn_spec_outputs(spec);
	switch (nn_spec_task(spec)) {
	case NN_TASK_MULTICLASS:
		for (size_t r = 0; r < n; r++)
			classes[r] = (int32_t)argmax(out + r * k, k);
		return NN_OK;
	case NN_TASK_BINARY: {
		if (k != 1)
			return NN_EINVAL;
		float threshold = spec->loss.from_logits ? 0.0f : 0.5f;
		for (size_t r = 0; r < n; r++)
			classes[r] = out[r] > threshold;
		return NN_OK;
	}
	default:
		return NN_EINVAL;
	}
}

void nn_eval_run(const struct nn_model *m, struct nn_work *w, const struct nn_data *d,
		 struct nn_eval *out)
{
	nn_eval_run_metrics(m, w, d, NULL, out);
}

void nn_eval_run_metrics(const struct nn_model *m, struct nn_work *w, const struct nn_data *d,
			 struct nn_metrics *acc, struct nn_eval *out)
{
	bool has_metric = nn_loss_table[m->spec.loss.kind].correct != NULL;
	double loss = 0.0, correct = 0.0;
	if (acc)
		nn_metrics_reset(acc);
	for (size_t start = 0; start < d->n; start += w->max_rows) {
		size_t rows = d->n - start < w->max_rows ? d->n - start : w->max_rows;
		nn_forward(m, w, d->x + start * d->x_dim, rows, NULL);
		loss += nn_loss_batch(m, w, d->y + start * d->y_dim, rows, false, &correct);
		if (acc)
			nn_metrics_add(acc, w->out, d->y + start * d->y_dim, rows);
	}
	out->n = d->n;
	out->has_metric = has_metric;
	out->loss = loss / (double)d->n + nn_model_penalty(m);
	out->metric = has_metric ? correct / (double)d->n : NAN;
}

int nn_evaluate(const struct nn_model *m, const struct nn_data *d, struct nn_eval *out)
{
	if (nn_data_check(&m->spec, d, NULL) != NN_OK)
		return NN_EINVAL;
	struct nn_work w;
	if (nn_work_init(&w, m, nn_work_infer_rows(m, d->n), false, false) != NN_OK)
		return NN_ENOMEM;
	unsigned fp = nn_fp_enter();
	nn_eval_run(m, &w, d, out);
	nn_fp_leave(fp);
	nn_work_free(&w);
	return NN_OK;
}

int nn_evaluate_metrics(const struct nn_model *m, const struct nn_data *d, struct nn_metrics *acc,
			struct nn_eval *out)
{
	if (nn_data_check(&m->spec, d, NULL) != NN_OK || !acc || nn_metrics_max_rows(acc) < d->n)
		return NN_EINVAL;
	struct nn_work w;
	if (nn_work_init(&w, m, nn_work_infer_rows(m, d->n), false, false) != NN_OK)
		return NN_ENOMEM;
	unsigned fp = nn_fp_enter();
	nn_eval_run_metrics(m, &w, d, acc, out);
	nn_fp_leave(fp);
	nn_work_free(&w);
	return NN_OK;
}

/* ---- serialized state ----------------------------------------------------------------- */

/* Identifies the parameter layout: input width, then units and bias of each
 * dense layer (dropout layers own no parameters). */
static uint64_t layout_fingerprint(const struct nn_model *m)
{
	uint8_t bytes[8 + 8 * NN_MAX_LAYERS];
	size_t len = 0;
	nn_put_u32(bytes, m->spec.input_dim);
	nn_put_u32(bytes + 4, m->spec.n_layers);
	len = 8;
	for (uint32_t i = 0; i < m->spec.n_layers; i++) {
		const struct nn_layer_spec *l = &m->spec.layers[i];
		if (l->kind == NN_LAYER_NORMALIZATION) {
			/* a marker no dense layer can write (units <= 2^16) */
			nn_put_u32(bytes + len, 0xFFFFFFFFu);
			nn_put_u32(bytes + len + 4, 0x4E4F524Du); /* "NORM" */
			len += 8;
			continue;
		}
		if (l->kind == NN_LAYER_BATCH_NORM) {
			/* "BN" plus which of gamma and beta it has */
			nn_put_u32(bytes + len, 0xFFFFFFFEu);
			nn_put_u32(bytes + len + 4, 0x424E0000u | (l->scale ? 2u : 0u) | (l->center ? 1u : 0u));
			len += 8;
			continue;
		}
		if (l->kind != NN_LAYER_DENSE)
			continue;
		nn_put_u32(bytes + len, l->units);
		nn_put_u32(bytes + len + 4, l->use_bias);
		len += 8;
	}
	return nn_checksum(bytes, len);
}

size_t nn_model_state_size(const struct nn_model *m)
{
	return STATE_HEADER + m->n_params * (1 + m->n_slots) * sizeof(float) + 8;
}

static void put_floats(uint8_t *p, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t bits;
		memcpy(&bits, &x[i], 4);
		nn_put_u32(p + 4 * i, bits);
	}
}

static void get_floats(float *x, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t bits = nn_get_u32(p + 4 * i);
		memcpy(&x[i], &bits, 4);
	}
}

int nn_model_copy_state(struct nn_model *dst, const struct nn_model *src)
{
	if (dst->n_params != src->n_params || dst->n_slots != src->n_slots ||
	    dst->spec.opt.kind != src->spec.opt.kind || layout_fingerprint(dst) != layout_fingerprint(src))
		return NN_EINVAL;
	memcpy(dst->params, src->params, src->n_params * sizeof(float));
	if (src->n_slots)
		memcpy(dst->slots, src->slots, (size_t)src->n_slots * src->n_params * sizeof(float));
	dst->steps = src->steps;
	return NN_OK;
}

void nn_model_state_save(const struct nn_model *m, uint8_t *buf)
{
	size_t size = nn_model_state_size(m);
	memcpy(buf, STATE_MAGIC, 4);
	nn_put_u32(buf + 4, STATE_VERSION);
	nn_put_u64(buf + 8, m->n_params);
	nn_put_u32(buf + 16, (uint32_t)m->spec.opt.kind);
	nn_put_u32(buf + 20, m->n_slots);
	nn_put_u64(buf + 24, layout_fingerprint(m));
	nn_put_u64(buf + 32, m->steps);
	put_floats(buf + STATE_HEADER, m->params, m->n_params);
	put_floats(buf + STATE_HEADER + 4 * m->n_params, m->slots, m->n_params * m->n_slots);
	nn_put_u64(buf + size - 8, nn_checksum(buf, size - 8));
}

int nn_model_state_load(struct nn_model *m, const uint8_t *buf, size_t len)
{
	if (!buf || len != nn_model_state_size(m) || memcmp(buf, STATE_MAGIC, 4) != 0 ||
	    nn_get_u32(buf + 4) != STATE_VERSION || nn_get_u64(buf + 8) != m->n_params ||
	    nn_get_u32(buf + 16) != (uint32_t)m->spec.opt.kind ||
	    nn_get_u32(buf + 20) != m->n_slots || nn_get_u64(buf + 24) != layout_fingerprint(m) ||
	    nn_get_u64(buf + len - 8) != nn_checksum(buf, len - 8))
		return NN_EFORMAT;
	m->steps = nn_get_u64(buf + 32);
	get_floats(m->params, buf + STATE_HEADER, m->n_params);
	get_floats(m->slots, buf + STATE_HEADER + 4 * m->n_params, m->n_params * m->n_slots);
	return NN_OK;
}
