/*
 * nn_act.c — the activation table: forward and backward of each activation
 * of enum nn_act over a rows x cols block, as Keras 3 defines them.
 *
 * Values are stored in float32; transcendental functions are evaluated in
 * double and rounded once, so each output is within an ulp of the exact value
 * and no finite input gives NaN. Derivatives are taken from z in double (not
 * from the rounded a), which avoids the cancellation of 1 - a near a = 1.
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* sigma(z) without overflow: exp of a non-positive argument only. */
static double sigmoid_d(double z)
{
	if (z >= 0.0)
		return 1.0 / (1.0 + exp(-z));
	double e = exp(z);
	return e / (1.0 + e);
}

/* ---- linear ---------------------------------------------------------------- */

static void linear_forward(const float *z, float *a, size_t rows, size_t cols,
			   const struct nn_act_param *p)
{
	(void)p;
	if (a != z)
		memcpy(a, z, rows * cols * sizeof(float));
}

static void linear_backward(const float *z, const float *a, const float *da, float *dz,
			    size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)z, (void)a, (void)p;
	if (dz != da)
		memcpy(dz, da, rows * cols * sizeof(float));
}

/* ---- sigmoid ---------------------------------------------------------------- */

static void sigmoid_forward(const float *z, float *a, size_t rows, size_t cols,
			    const struct nn_act_param *p)
{
	(void)p;
	for (size_t i = 0; i < rows * cols; i++)
		a[i] = (float)sigmoid_d(z[i]);
}

static void sigmoid_backward(const float *z, const float *a, const float *da, float *dz,
			     size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a, (void)p;
	/* sigma'(z) = sigma(z) sigma(-z) = e / (1 + e)^2 with e = exp(-|z|) */
	for (size_t i = 0; i < rows * cols; i++) {
		double e = exp(-fabs((double)z[i]));
		dz[i] = (float)(da[i] * (e / ((1.0 + e) * (1.0 + e))));
	}
}

/* ---- relu ------------------------------------------------------------------- */

/* Branch-free kernels (random signs would defeat branch prediction), in
 * place or between distinct arrays so that both vectorise. */
NN_HOT static void relu_inplace(float *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

NN_HOT static void relu_copy(const float *restrict z, float *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

/* g = g * slope(z) with slope 1 for z > 0 and `negative` otherwise */
NN_HOT static void slope_mask(const float *restrict z, float *restrict g, size_t n, float negative)
{
	for (size_t i = 0; i < n; i++)
		g[i] = z[i] > 0.0f ? g[i] : negative * g[i];
}

NN_HOT static void zero_mask(const float *restrict z, float *restrict g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = z[i] > 0.0f ? g[i] : 0.0f;
}

static void relu_forward(const float *z, float *a, size_t rows, size_t cols,
			 const struct nn_act_param *p)
{
	(void)p;
	if (a == z)
		relu_inplace(a, rows * cols);
	else
		relu_copy(z, a, rows * cols);
}

static void relu_backward(const float *z, const float *a, const float *da, float *dz,
			  size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a, (void)p;
	/* derivative 1 for z > 0, 0 otherwise (also at 0, as TensorFlow) */
	if (dz != da)
		memcpy(dz, da, rows * cols * sizeof(float));
	zero_mask(z, dz, rows * cols);
}

/* ---- softmax (over each row) ------------------------------------------------ */

static void softmax_forward(const float *z, float *a, size_t rows, size_t cols,
			    const struct nn_act_param *p)
{
	(void)p;
	for (size_t r = 0; r < rows; r++) {
		const float *zr = z + r * cols;
		float *ar = a + r * cols;
		float max = zr[0];
		for (size_t j = 1; j < cols; j++)
			max = zr[j] > max ? zr[j] : max;
		/* a_j = exp(z_j - max) / sum_i exp(z_i - max): every exponent <= 0,
		 * and the largest term is 1, so the sum is in [1, cols]. */
		double sum = 0.0;
		for (size_t j = 0; j < cols; j++) {
			double e = exp((double)zr[j] - (double)max);
			ar[j] = (float)e;
			sum += e;
		}
		for (size_t j = 0; j < cols; j++)
			ar[j] = (float)((double)ar[j] / sum);
	}
}

static void softmax_backward(const float *z, const float *a, const float *da, float *dz,
			     size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)z, (void)p;
	/* dz_i = s_i (da_i - sum_j da_j s_j) */
	for (size_t r = 0; r < rows; r++) {
		const float *ar = a + r * cols, *dar = da + r * cols;
		float *dzr = dz + r * cols;
		double dot = 0.0;
		for (size_t j = 0; j < cols; j++)
			dot += (double)dar[j] * ar[j];
		for (size_t j = 0; j < cols; j++)
			dzr[j] = (float)((double)ar[j] * ((double)dar[j] - dot));
	}
}

/* ---- tanh ------------------------------------------------------------------- */

static void tanh_forward(const float *z, float *a, size_t rows, size_t cols,
			 const struct nn_act_param *p)
{
	(void)p;
	for (size_t i = 0; i < rows * cols; i++)
		a[i] = (float)tanh(z[i]);
}

static void tanh_backward(const float *z, const float *a, const float *da, float *dz,
			  size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a, (void)p;
	/* tanh'(z) = 1 - tanh(z)^2 */
	for (size_t i = 0; i < rows * cols; i++) {
		double t = tanh(z[i]);
		dz[i] = (float)(da[i] * (1.0 - t * t));
	}
}

/* ---- leaky_relu --------------------------------------------------------------- */

NN_HOT static void leaky_copy(const float *restrict z, float *restrict a, size_t n, float alpha)
{
	for (size_t i = 0; i < n; i++)
		a[i] = z[i] > 0.0f ? z[i] : alpha * z[i];
}

static void leaky_relu_forward(const float *z, float *a, size_t rows, size_t cols,
			       const struct nn_act_param *p)
{
	if (a == z) {
		for (size_t i = 0; i < rows * cols; i++)
			a[i] = a[i] > 0.0f ? a[i] : p->alpha * a[i];
	} else {
		leaky_copy(z, a, rows * cols, p->alpha);
	}
}

static void leaky_relu_backward(const float *z, const float *a, const float *da, float *dz,
				size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a;
	if (dz != da)
		memcpy(dz, da, rows * cols * sizeof(float));
	slope_mask(z, dz, rows * cols, p->alpha);
}

/* ---- elu ---------------------------------------------------------------------- */

static void elu_forward(const float *z, float *a, size_t rows, size_t cols,
			const struct nn_act_param *p)
{
	double alpha = p->alpha;
	for (size_t i = 0; i < rows * cols; i++)
		a[i] = z[i] > 0.0f ? z[i] : (float)(alpha * expm1(z[i]));
}

static void elu_backward(const float *z, const float *a, const float *da, float *dz,
			 size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a;
	double alpha = p->alpha;
	/* elu'(z) = 1 for z > 0, alpha e^z otherwise */
	for (size_t i = 0; i < rows * cols; i++)
		dz[i] = z[i] > 0.0f ? da[i] : (float)(da[i] * alpha * exp(z[i]));
}

/* ---- gelu ---------------------------------------------------------------------- */

#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2/pi) */
#define INV_SQRT_2PI 0.39894228040143267794   /* 1/sqrt(2 pi) */
#define GELU_CUBIC 0.044715

static void gelu_forward(const float *z, float *a, size_t rows, size_t cols,
			 const struct nn_act_param *p)
{
	for (size_t i = 0; i < rows * cols; i++) {
		double x = z[i];
		if (p->approximate) /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
			a[i] = (float)(0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x))));
		else /* 0.5 x (1 + erf(x / sqrt 2)) */
			a[i] = (float)(0.5 * x * (1.0 + erf(x * M_SQRT1_2)));
	}
}

static void gelu_backward(const float *z, const float *a, const float *da, float *dz,
			  size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a;
	for (size_t i = 0; i < rows * cols; i++) {
		double x = z[i], d;
		if (p->approximate) {
			/* u = c (x + k x^3): d = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) c (1 + 3 k x^2) */
			double t = tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
			d = 0.5 * (1.0 + t) +
			    0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
		} else {
			/* d = Phi(x) + x phi(x) */
			d = 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
		}
		dz[i] = (float)(da[i] * d);
	}
}

/* ---- softplus ------------------------------------------------------------------ */

static void softplus_forward(const float *z, float *a, size_t rows, size_t cols,
			     const struct nn_act_param *p)
{
	(void)p;
	/* max(z, 0) + log1p(exp(-|z|)) */
	for (size_t i = 0; i < rows * cols; i++) {
		double x = z[i];
		a[i] = (float)(fmax(x, 0.0) + log1p(exp(-fabs(x))));
	}
}

static void softplus_backward(const float *z, const float *a, const float *da, float *dz,
			      size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a, (void)p;
	/* softplus'(z) = sigma(z) */
	for (size_t i = 0; i < rows * cols; i++)
		dz[i] = (float)(da[i] * sigmoid_d(z[i]));
}

/* ---- swish ---------------------------------------------------------------------- */

static void swish_forward(const float *z, float *a, size_t rows, size_t cols,
			  const struct nn_act_param *p)
{
	(void)p;
	for (size_t i = 0; i < rows * cols; i++)
		a[i] = (float)(z[i] * sigmoid_d(z[i]));
}

static void swish_backward(const float *z, const float *a, const float *da, float *dz,
			   size_t rows, size_t cols, const struct nn_act_param *p)
{
	(void)a, (void)p;
	/* swish'(z) = s + z s (1 - s) with s = sigma(z); with e = exp(-|z|),
	 * {s, 1 - s} = {1, e} / (1 + e) */
	for (size_t i = 0; i < rows * cols; i++) {
		double x = z[i], e = exp(-fabs(x));
		double big = 1.0 / (1.0 + e), small = e / (1.0 + e);
		double s = x >= 0.0 ? big : small, one_minus_s = x >= 0.0 ? small : big;
		dz[i] = (float)(da[i] * (s + x * s * one_minus_s));
	}
}

const struct nn_act_ops nn_act_table[NN_ACT_COUNT] = {
	[NN_ACT_LINEAR] = {"linear", linear_forward, linear_backward},
	[NN_ACT_SIGMOID] = {"sigmoid", sigmoid_forward, sigmoid_backward},
	[NN_ACT_RELU] = {"relu", relu_forward, relu_backward},
	[NN_ACT_SOFTMAX] = {"softmax", softmax_forward, softmax_backward},
	[NN_ACT_TANH] = {"tanh", tanh_forward, tanh_backward},
	[NN_ACT_LEAKY_RELU] = {"leaky_relu", leaky_relu_forward, leaky_relu_backward},
	[NN_ACT_ELU] = {"elu", elu_forward, elu_backward},
	[NN_ACT_GELU] = {"gelu", gelu_forward, gelu_backward},
	[NN_ACT_SOFTPLUS] = {"softplus", softplus_forward, softplus_backward},
	[NN_ACT_SWISH] = {"swish", swish_forward, swish_backward},
};

double nn_act_default_alpha(enum nn_act act)
{
	return act == NN_ACT_ELU ? 1.0 : 0.2;
}
