/*
 * nn_internal.h — what the files of core/ share with each other and with their
 * unit tests, but not with api/ or server/ (they include nn.h only).
 *
 * DESIGN
 * Three tables keyed by enums (KANN's op list): nn_act_table (forward and
 * backward of each activation over a rows x cols block), nn_loss_table (loss
 * value, gradient and accuracy of a batch) and nn_opt_table (one update loop
 * over the flat parameter, gradient and slot arrays). struct nn_model is
 * transparent here so that the forward/backward code in nn_model.c and the
 * trainer in nn_train.c can reach the flat arrays and the per-layer layout.
 * struct nn_work holds every buffer a forward/backward pass needs for up to
 * max_rows rows, allocated once.
 */
#ifndef FITD_NN_INTERNAL_H
#define FITD_NN_INTERNAL_H

#include "nn.h"

/* Marks the hot elementwise loops. gcc's -O2 cost model ("very-cheap")
 * leaves loops of unknown trip count scalar; these get the dynamic model and
 * an AVX2 clone picked at load time. ISO C mode turns FMA contraction off and
 * gcc never reorders a float reduction without -ffast-math, so every clone
 * computes bit-identical results: determinism does not depend on the CPU. */
/* ThreadSanitizer instruments ifunc resolvers, which run before its runtime
 * starts: no clones there. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define NN_HOT __attribute__((target_clones("avx2", "default"), optimize("vect-cost-model=dynamic")))
#else
#define NN_HOT
#endif

/* ---- matrices (nn_mat.c: the only file that calls CBLAS) ----------------- */

/* C[m x n] = alpha * op(A) * op(B) + beta * C, all row-major float32, where
 * op(X) is X or X^T, op(A) is m x k and op(B) is k x n; lda/ldb/ldc are the
 * row strides of A, B, C as stored. With beta == 0, C is only written. Every
 * dimension must fit in an int (the limits of nn.h guarantee it). */
void nn_mat_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
		 const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
		 size_t ldc);
/* The same product cut into column or row tiles that depend on m, n and k
 * only (large products; small ones are one tile), each tile one sgemm call,
 * the tiles run through par (NULL: one after the other on this thread). So
 * the result is bit-identical whatever par's thread count. */
void nn_mat_gemm_tiled(const struct nn_par *par, bool trans_a, bool trans_b, size_t m, size_t n,
		       size_t k, float alpha, const float *a, size_t lda, const float *b,
		       size_t ldb, float beta, float *c, size_t ldc);
/* Number of tiles nn_mat_gemm_tiled cuts an m x n x k product into. */
size_t nn_mat_tiles(size_t m, size_t n, size_t k);
/* The same by a plain triple loop accumulating in double: the reference the
 * tests hold the BLAS path to. */
void nn_mat_gemm_naive(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
		       const float *a, size_t lda, const float *b, size_t ldb, float beta,
		       float *c, size_t ldc);

/* Runs fn(arg, i) for i in [0, n) through par, or in order on this thread
 * when par is NULL or n is 1. Each call runs with flush-to-zero and
 * denormals-are-zero set (the lent thread's own mode is restored after). */
void nn_par_for(const struct nn_par *par, size_t n, nn_task_fn fn, void *arg);

/* ---- floating-point mode (nn_fp.c) ------------------------------------- */

/* Sets flush-to-zero and denormals-are-zero on this thread (x86 MXCSR; a
 * no-op elsewhere) and returns the mode it found, for nn_fp_leave. */
unsigned nn_fp_enter(void);
void nn_fp_leave(unsigned saved);

/* ---- activations (nn_act.c) -------------------------------------------- */

struct nn_act_param {
	float alpha;      /* leaky_relu slope, elu scale */
	bool approximate; /* gelu tanh form */
};

struct nn_act_ops {
	const char *name; /* Keras's name */
	/* a = f(z) over a rows x cols block; a may equal z. */
	void (*forward)(const float *z, float *a, size_t rows, size_t cols,
			const struct nn_act_param *p);
	/* dz = da * f'(z) (softmax: its Jacobian-vector product), given z and
	 * a = f(z); dz may equal da. z may equal a only for linear. */
	void (*backward)(const float *z, const float *a, const float *da, float *dz, size_t rows,
			 size_t cols, const struct nn_act_param *p);
};

extern const struct nn_act_ops nn_act_table[NN_ACT_COUNT];

/* ---- losses (nn_loss.c) -------------------------------------------------- */

/* One batch of the model's last dense layer against its targets. */
struct nn_loss_io {
	const float *z;   /* n x k pre-activations of the last dense layer */
	const float *a;   /* n x k model outputs, a = act(z) */
	const float *y;   /* n x y_dim targets (class indices for sparse) */
	size_t n;         /* rows */
	uint32_t k;       /* outputs */
	uint32_t y_dim;
	bool from_logits;
	bool fused;       /* sigmoid+bce / softmax+cce without from_logits: grad is dL/dz */
	double grad_scale; /* 1 / batch rows: the gradient is of the batch mean */
	float *grad;      /* n x k out: dL/da (dL/dz when fused); NULL = value only */
};

struct nn_loss_ops {
	const char *name;
	enum nn_task task;
	/* The last activation whose gradient fuses with this loss when not
	 * from_logits (sigmoid for binary, softmax for categorical), else
	 * NN_ACT_COUNT. */
	enum nn_act fused_act;
	/* Returns the sum over the n rows of the per-sample loss (Keras's value
	 * before the batch mean) and, when io->grad is set, writes the gradient
	 * of grad_scale times that sum. */
	double (*loss)(const struct nn_loss_io *io);
	/* Returns the number of correctly classified rows (binary: the fraction
	 * of correct outputs, summed over rows); NULL for regression losses. */
	double (*correct)(const struct nn_loss_io *io);
};

extern const struct nn_loss_ops nn_loss_table[NN_LOSS_COUNT];

/* True when the loss gradient is taken with respect to the last layer's
 * pre-activation: sigmoid + binary crossentropy or softmax + (sparse)
 * categorical crossentropy, probabilities (not from_logits). */
bool nn_loss_fused(const struct nn_model_spec *spec);

/* ---- optimizers (nn_opt.c) ------------------------------------------------ */

struct nn_opt_ops {
	const char *name;
	/* True when the kind's own hyper-parameters are in range (the learning
	 * rate is checked by the caller). */
	bool (*valid)(const struct nn_opt_spec *o);
	/* Slot arrays of n_params each that the optimizer keeps (0, 1 or 2). */
	unsigned (*n_slots)(const struct nn_opt_spec *o);
	/* Sets the slots to their initial values. */
	void (*reset)(const struct nn_opt_spec *o, float *slots, size_t n);
	/* One update of w[n] with gradient g[n]; t is the step count including
	 * this one (1 on the first step); slot s of element i is
	 * slots[s * stride + i] (stride >= n: a chunk of a longer array may be
	 * updated on its own). Allocates nothing; elementwise, so chunks give
	 * the same result as the whole. */
	void (*step)(const struct nn_opt_spec *o, uint64_t t, float *restrict w,
		     const float *restrict g, float *restrict slots, size_t n, size_t stride);
};

extern const struct nn_opt_ops nn_opt_table[NN_OPT_COUNT];

/* ---- initializers (nn_init.c) --------------------------------------------- */

/* Fills w[n] from initializer kind with Keras's VarianceScaling fans. */
void nn_init_fill(enum nn_init kind, float *w, size_t n, double fan_in, double fan_out,
		  struct nn_rng *rng);

/* ---- the model (nn_model.c) ------------------------------------------------ */

struct nn_model {
	struct nn_model_spec spec;
	size_t n_params;
	float *params;  /* n_params, get_weights() order */
	float *grads;   /* n_params, same layout */
	float *slots;   /* n_slots x n_params, NULL when n_slots == 0 */
	unsigned n_slots;
	uint64_t steps; /* optimizer iterations */
	/* Layout, per layer: width of its input and output, and for dense
	 * layers where the kernel and the bias start in params. */
	uint32_t in_dim[NN_MAX_LAYERS];
	uint32_t out_dim[NN_MAX_LAYERS];
	size_t kernel_off[NN_MAX_LAYERS];
	size_t bias_off[NN_MAX_LAYERS];
	uint32_t outputs;
	uint32_t max_width;   /* widest layer output */
	size_t frozen;        /* leading non-trainable parameters (normalization): no optimizer touches them */
	/* The trainable parameters as spans [train_off, train_off + train_len)
	 * in increasing order (adjacent ones merged): the optimizer steps these
	 * only, so non-trainable weights anywhere (normalization's, batch
	 * normalization's moving statistics) stay bit for bit as they are. */
	uint32_t n_train_spans;
	size_t train_off[NN_MAX_LAYERS], train_len[NN_MAX_LAYERS];
	int first_dense, last_dense;
	int first_trainable;  /* the first layer with trainable weights (dense or batch norm) */
	bool fused;
};

/* Buffers of one forward/backward pass for up to max_rows rows. A training
 * workspace keeps every layer's Z, A and dropout mask for the backward pass;
 * an inference one ping-pongs between two buffers (plus the last layer's Z
 * for the loss). */
struct nn_work {
	size_t max_rows;
	bool training;
	const struct nn_par *par;   /* borrowed threads for the products, or NULL */
	float *z[NN_MAX_LAYERS];    /* dense: pre-activation (== a for linear) */
	float *a[NN_MAX_LAYERS];    /* layer output */
	float *mask[NN_MAX_LAYERS]; /* dropout: 0 or 1/(1-rate); batch norm (training): xhat */
	double *bn[NN_MAX_LAYERS];  /* batch norm (training): the batch's mean, variance, 1/sqrt(var + eps) per feature */
	const float *in[NN_MAX_LAYERS]; /* set by nn_forward: each layer's input */
	const float *out;           /* set by nn_forward: the model's output */
	float *grad[2];             /* training: ping-pong gradients, rows x widest */
	double *col;                /* training: bias gradient accumulator */
	void *block;                /* the one allocation behind all of these */
};

/* Allocates w for max_rows rows of m (need_dx: the backward pass may return
 * the gradient with respect to the inputs). Returns NN_OK or NN_ENOMEM;
 * free with nn_work_free (also safe after a failed init). */
int nn_work_init(struct nn_work *w, const struct nn_model *m, size_t max_rows, bool training,
		 bool need_dx);
void nn_work_free(struct nn_work *w);

/* Forward pass of n <= max_rows rows of x. On a training workspace, dropout
 * is active and draws its masks from rng (required); on an inference one,
 * rng is ignored. Sets w->out (n x outputs) and w->in[]. */
void nn_forward(const struct nn_model *m, struct nn_work *w, const float *x, size_t n,
		struct nn_rng *rng);

/* Loss of the last forward pass against y: returns the sum of the per-sample
 * losses; when grad, writes dL/d(output) of the batch mean into w->grad[0]
 * (training workspace only); when correct is non-NULL adds the correct count. */
double nn_loss_batch(const struct nn_model *m, struct nn_work *w, const float *y, size_t n,
		     bool grad, double *correct);

/* nn_loss_batch with a weight per row (weights[n]; NULL = all 1): row r's
 * loss and gradient are multiplied by weights[r]; the gradient stays that of
 * the sum divided by n. The correct count is not weighted: Keras 3 passes
 * sample weights (class_weight's included) to the loss and to
 * weighted_metrics only, never to compile's metrics, accuracy among them. */
double nn_loss_batch_weighted(const struct nn_model *m, struct nn_work *w, const float *y, size_t n,
			      const float *weights, bool grad, double *correct);

/* Backward pass after nn_forward (training workspace) and nn_loss_batch with
 * grad: writes every parameter gradient into m->grads (L2 terms included) and,
 * when dx is non-NULL, the gradient with respect to x (n x input_dim; the
 * workspace must have been made with need_dx). Returns the L2 penalty. */
double nn_backward(struct nn_model *m, struct nn_work *w, size_t n, float *dx);

/* After a training nn_forward: every batch normalization layer's moving
 * statistics move toward the batch's mean and variance (Keras's assign in
 * call(training=True)). The trainer calls it once per batch. */
void nn_bn_update(struct nn_model *m, const struct nn_work *w);

/* The L2 penalty sum(l2 * kernel^2) of the current parameters. */
double nn_model_penalty(const struct nn_model *m);

/* Loss and accuracy of m on d through the inference workspace w (its
 * max_rows is the batch). Data must pass nn_data_check. */
void nn_eval_run(const struct nn_model *m, struct nn_work *w, const struct nn_data *d,
		 struct nn_eval *out);

/* nn_eval_run that also resets acc (may be NULL) and adds every row to it. */
void nn_eval_run_metrics(const struct nn_model *m, struct nn_work *w, const struct nn_data *d,
			 struct nn_metrics *acc, struct nn_eval *out);
/* Rows an accumulator was made for (nn_metric.c). */
size_t nn_metrics_max_rows(const struct nn_metrics *a);
/* The trainer's validation rows (after its split; n is 0 without), and
 * the numbers in the data of its training rows in order (NULL: rows 0..n-1
 * of the data, the tail rule). For tests. */
const struct nn_data *nn_train_val_view(const struct nn_train *t);
const size_t *nn_train_rows(const struct nn_train *t);
/* Adapts the first layer (normalization) on n rows of d: rows[i] when rows
 * is non-NULL, else rows 0..n-1. Sets count to n. */
void nn_norm_adapt(struct nn_model *m, const struct nn_data *d, const size_t *rows, size_t n);
/* Does the model start with a normalization layer waiting for adapt()
 * (count 0, no given mean and variance)? */
bool nn_norm_needs_adapt(const struct nn_model *m);
/* Rows per inference batch for n rows: up to 256, within about 16 MB of
 * workspace, at least 1, at most n. */
size_t nn_work_infer_rows(const struct nn_model *m, size_t n);

/* Per-row floats that a workspace of each kind needs (for limit checks). */
uint64_t nn_work_row_floats(const struct nn_model *m, bool training, bool need_dx);

/* ---- little-endian blobs (nn_bytes.c) ------------------------------------ */

void nn_put_u32(uint8_t *p, uint32_t v);
void nn_put_u64(uint8_t *p, uint64_t v);
uint32_t nn_get_u32(const uint8_t *p);
uint64_t nn_get_u64(const uint8_t *p);
/* 64-bit checksum of len bytes: any change of one aligned 8-byte word changes it. */
uint64_t nn_checksum(const uint8_t *p, size_t len);

#endif
