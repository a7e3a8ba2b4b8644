/*
 * nn.h — fitd's neural-network core: Keras-style Sequential stacks of Dense and
 * Dropout layers, trained in float32 on the caller's thread (and on threads the
 * caller lends, struct nn_par).
 *
 * DESIGN
 * Pure computation: libc, libm and CBLAS only. No I/O, no locks, no clocks, no
 * globals, no threads of its own. Every source of randomness is a struct nn_rng
 * passed in by the caller, so the same spec, data, seed and hyper-parameters
 * give bit-identical weights and loss curves on the same BLAS kernels: BLAS runs
 * single-threaded; a caller may lend threads (struct nn_par), but the work is
 * cut into tiles fixed by the shapes alone, never by the thread count; every
 * reduction has a fixed order.
 *
 * Floating point: training, prediction and evaluation run with flush-to-zero
 * and denormals-are-zero set in the thread's MXCSR (as TensorFlow's CPU kernels
 * do), restored on return. Gradients and Adam's second moments of a converged
 * model sink into float32's subnormal range, where x86 arithmetic is up to a
 * hundred times slower; flushed, such values are 0, which changes no result
 * above 1.2e-38.
 *
 * A model owns three flat float32 arrays of n_params elements: parameters,
 * gradients, and the optimizer's slots (0, 1 or 2 arrays of n_params). The
 * parameter array is laid out in Keras's get_weights() order: for each dense
 * layer, the kernel [inputs x units] row-major, then the bias [units] when the
 * layer has one; a normalization layer's mean, variance, count; a batch
 * normalization layer's gamma, beta, moving mean and variance. Dropout layers
 * own no parameters. The optimizer updates only the trainable ones.
 *
 * Training is an epoch stepper (struct nn_train): the caller runs one epoch at a
 * time, may checkpoint the model and trainer state between epochs, and can
 * resume from such a checkpoint with results identical to an uninterrupted run.
 * nn_fit() wraps the stepper for callers that want Keras's fit() in one call.
 *
 * Return convention: actions return NN_OK (0) or a negative enum nn_status;
 * predicates return bool; constructors return a pointer or NULL.
 * Thread-safety: objects are not shared between threads, except that
 * nn_predict() and nn_evaluate() only read the model and may run concurrently
 * on the same model.
 */
#ifndef FITD_NN_H
#define FITD_NN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- status ------------------------------------------------------------ */

enum nn_status {
	NN_OK = 0,
	NN_EINVAL = -1,     /* a spec, option or data shape is invalid */
	NN_ENOMEM = -2,     /* allocation failed */
	NN_ELIMIT = -3,     /* a size limit below would be exceeded */
	NN_EFORMAT = -4,    /* a serialized blob is malformed or does not fit */
	NN_EDIVERGED = -5,  /* the loss became NaN or infinite */
	NN_ECANCELLED = -6, /* the caller's cancel flag was set */
};

/* Returns a static English description of an nn_status. Never NULL. */
const char *nn_strerror(int status);

/* ---- limits (checked by the API before anything is allocated) ---------- */

#define NN_MAX_LAYERS 64           /* every kind of layer */
#define NN_MAX_UNITS 65536         /* units of one dense layer */
#define NN_MAX_INPUT_DIM 1048576   /* features per sample */
#define NN_MAX_PARAMS (1ULL << 24) /* parameters of one model (64 MB float32 per array) */
#define NN_MAX_EPOCHS 1000000
#define NN_MAX_BATCH 1048576
/* Per-batch activation storage of a trainer: batch x sum(units) floats. */
#define NN_MAX_BATCH_FLOATS (1ULL << 27)
/* Class ids a fit's class_weight can name (0 .. NN_MAX_CLASS_WEIGHTS - 1). */
#define NN_MAX_CLASS_WEIGHTS 256

/* ---- random numbers ---------------------------------------------------- */

/* xoshiro256** seeded through splitmix64. A plain value: copy it to save it. */
struct nn_rng {
	uint64_t s[4];
};

void nn_rng_seed(struct nn_rng *rng, uint64_t seed);
uint64_t nn_rng_next(struct nn_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double nn_rng_uniform(struct nn_rng *rng);
/* Standard normal deviate (Box-Muller; uses two uniforms per call). */
double nn_rng_normal(struct nn_rng *rng);
/* Uniform integer in [0, bound), bound >= 1, without modulo bias. */
uint64_t nn_rng_below(struct nn_rng *rng, uint64_t bound);

/* ---- model specification (plain values) -------------------------------- */

enum nn_act {
	NN_ACT_LINEAR,
	NN_ACT_SIGMOID,
	NN_ACT_RELU,
	NN_ACT_SOFTMAX,
	NN_ACT_TANH,
	NN_ACT_LEAKY_RELU, /* alpha: negative slope, Keras default 0.2 */
	NN_ACT_ELU,        /* alpha, default 1 */
	NN_ACT_GELU,       /* exact erf form; approximate: tanh form */
	NN_ACT_SOFTPLUS,
	NN_ACT_SWISH,
	NN_ACT_COUNT
};

enum nn_init {
	NN_INIT_GLOROT_UNIFORM,
	NN_INIT_GLOROT_NORMAL,
	NN_INIT_HE_UNIFORM,
	NN_INIT_HE_NORMAL,
	NN_INIT_LECUN_UNIFORM,
	NN_INIT_LECUN_NORMAL,
	NN_INIT_ZEROS,
	NN_INIT_ONES,
	NN_INIT_COUNT
};

enum nn_layer_kind { NN_LAYER_DENSE, NN_LAYER_DROPOUT, NN_LAYER_NORMALIZATION, NN_LAYER_BATCH_NORM };

/* Keras's Normalization (axis -1): y = (x - mean) / max(sqrt(variance), 1e-7)
 * per feature. Only as the first layer. Its weights, non-trainable, in
 * get_weights() order: mean [input_dim], variance [input_dim], count [1]
 * (the rows adapted on; initialised 0, 1, 0). Their gradient is 0, so no
 * optimizer moves them. When count is 0 and the spec's norm_given is false,
 * nn_train_create adapts mean and variance (numpy's mean and var, ddof 0)
 * on the training rows after the validation split and sets count to their
 * number; norm_given says the caller put its own mean and variance in. */
#define NN_NORM_EPSILON 1e-7f

/* Keras's BatchNormalization (axis -1), anywhere but last. Training: each
 * feature of the batch is normalized by the batch's mean and biased
 * variance, xhat = (x - mean) / sqrt(var + epsilon), y = gamma xhat + beta,
 * and the moving statistics become moving * momentum + batch * (1 -
 * momentum) (float32, as Keras assigns them). Inference: y = x * s + t with
 * s = gamma / sqrt(moving_variance + epsilon), t = beta - moving_mean * s
 * (per feature, in double, rounded once: nn_bn_affine). Weights in
 * get_weights() order: gamma [d] (scale), beta [d] (center), moving_mean
 * [d], moving_variance [d] (initialised 1, 0, 0, 1). The moving statistics
 * are non-trainable: no optimizer touches them. */
#define NN_BN_MOMENTUM 0.99
#define NN_BN_EPSILON 1e-3

struct nn_layer_spec {
	enum nn_layer_kind kind;
	/* dense */
	uint32_t units;
	enum nn_act act;
	double alpha;      /* leaky_relu / elu parameter */
	bool approximate;  /* gelu: tanh approximation */
	bool use_bias;
	enum nn_init kernel_init;
	enum nn_init bias_init;
	double l2;         /* kernel regularizer: loss += l2 * sum(kernel^2); 0 = none */
	/* dropout */
	double rate;       /* in [0, 1) */
	/* normalization */
	bool norm_given;   /* mean and variance were given: never adapt */
	/* batch normalization (nn_bn_defaults) */
	double momentum;   /* [0, 1] */
	double epsilon;    /* > 0 */
	bool center;       /* beta */
	bool scale;        /* gamma */
};

/* Fills *layer with Keras's BatchNormalization defaults: momentum 0.99,
 * epsilon 1e-3, center and scale. */
void nn_bn_defaults(struct nn_layer_spec *layer);
/* The inference transform of a batch normalization layer of dim features
 * whose weights start at w (get_weights() order): y_j = x_j * s[j] + t[j]
 * in float32, s and t computed in double and rounded once, the same bits
 * that nn_predict uses (exports call it). */
void nn_bn_affine(const struct nn_layer_spec *l, const float *w, uint32_t dim, float *s, float *t);

enum nn_loss_kind {
	NN_LOSS_MSE,
	NN_LOSS_MAE,
	NN_LOSS_HUBER, /* delta 1 */
	NN_LOSS_BINARY_CROSSENTROPY,
	NN_LOSS_CATEGORICAL_CROSSENTROPY,
	NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
	NN_LOSS_COUNT
};

struct nn_loss_spec {
	enum nn_loss_kind kind;
	bool from_logits;
};

enum nn_opt_kind { NN_OPT_SGD, NN_OPT_ADAGRAD, NN_OPT_RMSPROP, NN_OPT_ADAM, NN_OPT_COUNT };

/* Keras's learning-rate schedules (keras.optimizers.schedules), evaluated at
 * the optimizer's iterations before the step (0 on the first step), as
 * Keras's optimizer does; NN_LR_CONSTANT is a plain learning_rate. */
enum nn_lr_kind {
	NN_LR_CONSTANT,
	NN_LR_EXPONENTIAL,   /* initial * decay_rate^(step / decay_steps) */
	NN_LR_PIECEWISE,     /* values[i] for boundaries[i-1] < step <= boundaries[i] */
	NN_LR_COSINE,        /* cosine to alpha * initial (or warm-up target) */
	NN_LR_INVERSE_TIME,  /* initial / (1 + decay_rate * step / decay_steps) */
	NN_LR_COUNT
};

#define NN_MAX_LR_BOUNDARIES 32

struct nn_lr_schedule {
	enum nn_lr_kind kind;
	double initial_learning_rate;   /* exponential, cosine, inverse_time */
	double decay_steps;             /* > 0 */
	double decay_rate;              /* exponential (> 0), inverse_time (>= 0) */
	bool staircase;                 /* exponential, inverse_time: floor(step / decay_steps) */
	double alpha;                   /* cosine: floor as a fraction, in [0, 1] */
	bool has_warmup;                /* cosine: warmup_target given */
	double warmup_target;           /* cosine */
	double warmup_steps;            /* cosine, >= 0 */
	uint32_t n_boundaries;          /* piecewise: 1..NN_MAX_LR_BOUNDARIES, increasing */
	double boundaries[NN_MAX_LR_BOUNDARIES];
	double values[NN_MAX_LR_BOUNDARIES + 1];
};

struct nn_opt_spec {
	enum nn_opt_kind kind;
	double learning_rate;
	double momentum;                  /* sgd, rmsprop */
	bool nesterov;                    /* sgd */
	double initial_accumulator_value; /* adagrad */
	double rho;                       /* rmsprop */
	double beta_1, beta_2;            /* adam */
	double epsilon;                   /* adagrad, rmsprop, adam */
	/* A schedule replaces learning_rate (kind NN_LR_CONSTANT, the zero
	 * value: none); learning_rate then holds the schedule's value at 0. */
	struct nn_lr_schedule schedule;
};

/* The learning rate of o at Keras's optimizer iterations step (the steps
 * taken before this one): schedule(step), or learning_rate. In double. */
double nn_lr_at(const struct nn_opt_spec *o, uint64_t step);
/* Are the schedule's arguments in range (see struct nn_lr_schedule)? */
bool nn_lr_valid(const struct nn_lr_schedule *s);

/* Fills *opt with Keras's defaults for kind: sgd lr 0.01 momentum 0; adagrad
 * lr 0.001 initial accumulator 0.1; rmsprop lr 0.001 rho 0.9 momentum 0; adam
 * lr 0.001 beta_1 0.9 beta_2 0.999; epsilon 1e-7 everywhere. */
void nn_opt_defaults(enum nn_opt_kind kind, struct nn_opt_spec *opt);

/* Fills *layer with a dense layer's defaults: glorot_uniform kernel, zeros
 * bias, use_bias, no L2, alpha 0.2 for leaky_relu and 1 for elu. */
void nn_dense_defaults(struct nn_layer_spec *layer, uint32_t units, enum nn_act act);
/* Keras's default alpha of act: 1 for elu, 0.2 for leaky_relu (and 0.2,
 * unused, for the activations without one). The one place it is written. */
double nn_act_default_alpha(enum nn_act act);

struct nn_model_spec {
	uint32_t input_dim;
	uint32_t n_layers;
	struct nn_layer_spec layers[NN_MAX_LAYERS];
	struct nn_loss_spec loss;
	struct nn_opt_spec opt;
};

/* Checks a spec without allocating: ranges, at least one dense layer, the last
 * layer dense, limits. Returns NN_OK and stores the parameter count in
 * *n_params (may be NULL), or NN_EINVAL / NN_ELIMIT with the index of the
 * offending layer in *bad_layer (-1 when not a layer's fault; may be NULL).
 * Overflow-safe for any field values. */
int nn_spec_check(const struct nn_model_spec *spec, uint64_t *n_params, int *bad_layer);

/* Number of outputs of the model (units of the last dense layer). */
uint32_t nn_spec_outputs(const struct nn_model_spec *spec);

/* Activation floats a trainer keeps per batch: batch x the units of every
 * dense layer. nn_train_create refuses more than NN_MAX_BATCH_FLOATS. */
uint64_t nn_spec_batch_floats(const struct nn_model_spec *spec, uint64_t batch);

/* What the outputs mean, from the loss: classes are argmax (multiclass), a 0.5
 * threshold on the probability (binary), or none (regression). */
enum nn_task { NN_TASK_REGRESSION, NN_TASK_BINARY, NN_TASK_MULTICLASS };
enum nn_task nn_spec_task(const struct nn_model_spec *spec);

/* ---- models ------------------------------------------------------------ */

struct nn_model;

/* Returns a new model for a spec that passes nn_spec_check, with parameters
 * and optimizer state zeroed (step 0, accumulators at their initial values);
 * NULL on an invalid spec or out of memory. The spec is copied.
 * Free with nn_model_destroy. */
struct nn_model *nn_model_create(const struct nn_model_spec *spec);
/* Frees the model; NULL is a no-op. */
void nn_model_destroy(struct nn_model *m);

/* Draws every parameter from its layer's initializer using rng, layer by
 * layer, kernel before bias. Resets the optimizer state. */
void nn_model_init(struct nn_model *m, struct nn_rng *rng);

const struct nn_model_spec *nn_model_spec(const struct nn_model *m);
size_t nn_model_n_params(const struct nn_model *m);
/* The flat parameter array (get_weights() order), borrowed from the model. */
float *nn_model_params(struct nn_model *m);
const float *nn_model_params_const(const struct nn_model *m);
/* Optimizer steps taken so far (Keras's optimizer.iterations). */
uint64_t nn_model_opt_steps(const struct nn_model *m);

/* Serialized model state: parameters, optimizer step count and slot arrays,
 * versioned and little-endian whatever the host. nn_model_state_size() is the
 * exact size nn_model_state_save() writes into buf. nn_model_state_load()
 * returns NN_EFORMAT if the blob is malformed or belongs to another
 * architecture / optimizer, leaving the model unchanged. */
size_t nn_model_state_size(const struct nn_model *m);
/* Copies the parameters, the optimizer's step count and slots of src into
 * dst, a model of the same spec (NN_EINVAL otherwise, dst unchanged): a
 * snapshot at the cost of a memcpy, to serialize later. */
int nn_model_copy_state(struct nn_model *dst, const struct nn_model *src);
void nn_model_state_save(const struct nn_model *m, uint8_t *buf);
int nn_model_state_load(struct nn_model *m, const uint8_t *buf, size_t len);

/* ---- data ---------------------------------------------------------------- */

/* A borrowed view of n samples, row-major float32. For sparse categorical
 * crossentropy y_dim is 1 and y holds class indices as floats; otherwise y_dim
 * equals the model's outputs (or 1 for a single output). */
struct nn_data {
	const float *x;
	const float *y;
	size_t n;
	uint32_t x_dim;
	uint32_t y_dim;
};

/* Checks that data fits a model: x_dim = input_dim, y_dim as above, sparse
 * labels integers in [0, outputs), binary crossentropy targets in [0, 1],
 * every value finite. Returns NN_OK or NN_EINVAL; on failure *bad_row gets the
 * first offending row (or SIZE_MAX for a shape mismatch); may be NULL. */
int nn_data_check(const struct nn_model_spec *spec, const struct nn_data *d, size_t *bad_row);

/* ---- inference ----------------------------------------------------------- */

/* Forward pass of n rows of x (n x input_dim) into out (n x outputs) in
 * batches, inference mode (dropout off). Reads the model only; allocates its
 * own workspace. Returns NN_OK or NN_ENOMEM. */
int nn_predict(const struct nn_model *m, const float *x, size_t n, float *out);

/* Class of each of n output rows (n x outputs) into classes: argmax for
 * multiclass, output > 0.5 (probabilities) or > 0 (from_logits) for binary
 * with one output. Returns NN_EINVAL for regression models. */
int nn_classes(const struct nn_model_spec *spec, const float *out, size_t n, int32_t *classes);

struct nn_eval {
	double loss;     /* mean loss over the samples, plus the L2 penalty */
	double metric;   /* accuracy; NaN when has_metric is false */
	bool has_metric; /* the loss is a classification loss */
	size_t n;
};

/* Loss and accuracy of the model on d, in batches, inference mode. Data must
 * pass nn_data_check. Returns NN_OK, NN_EINVAL or NN_ENOMEM. */
int nn_evaluate(const struct nn_model *m, const struct nn_data *d, struct nn_eval *out);

/* ---- metrics (nn_metric.c) ------------------------------------------------- */

/* Keras's metrics by name. Classification ones need a classification loss
 * (binary crossentropy with one output, or (sparse) categorical); regression
 * ones a regression loss. Every value is over all the rows given (Keras's
 * epoch semantics: each batch's predictions accumulated, never a mean of
 * batch means); like scikit-learn:
 *   accuracy   correct / rows
 *   precision, recall, f1_score: binary for the positive class 1; several
 *              classes: the macro average over the classes present in the
 *              true or the predicted labels; 0 where a denominator is 0
 *   auc        exact ROC AUC (trapezoids between the distinct scores, so a
 *              tie counts one half), macro one-vs-rest for several classes
 *              over the classes with both positives and negatives (scores:
 *              probabilities; softmax / sigmoid of logits); NaN when no
 *              class has both
 *   mae, mse, rmse: over every output of every row
 *   r2_score   per output, then averaged (uniform); an output whose targets
 *              are constant scores 1 if predicted exactly, else 0
 */
enum nn_metric {
	NN_METRIC_ACCURACY,
	NN_METRIC_PRECISION,
	NN_METRIC_RECALL,
	NN_METRIC_AUC,
	NN_METRIC_F1_SCORE,
	NN_METRIC_MAE,
	NN_METRIC_MSE,
	NN_METRIC_RMSE,
	NN_METRIC_R2_SCORE,
	NN_METRIC_COUNT
};
#define NN_METRIC_BIT(m) (1u << (m))
/* Classification metrics but accuracy keep a classes x classes confusion
 * matrix: at most this many classes (8 MB of counts). */
#define NN_METRIC_MAX_CLASSES 1024u
/* auc keeps a score per row and class (8 bytes each): at most this many. */
#define NN_METRIC_MAX_SCORES (1ULL << 25)

/* The metric's Keras name ("f1_score"), static. */
const char *nn_metric_name(enum nn_metric m);
/* Does the metric apply to the spec's loss (see above), within
 * NN_METRIC_MAX_CLASSES? */
bool nn_metric_fits(enum nn_metric m, const struct nn_model_spec *spec);
/* Classes of the confusion matrix: 2 for binary, the outputs for several
 * classes, 0 for regression. */
uint32_t nn_metric_classes(const struct nn_model_spec *spec);

/* An accumulator of metrics over up to max_rows rows of model outputs. */
struct nn_metrics;
/* Scores auc keeps for n rows: n x (1 for binary, else the classes). */
uint64_t nn_metric_auc_scores(const struct nn_model_spec *spec, uint64_t n);
/* Returns a new accumulator for the metrics in mask (NN_METRIC_BIT of each;
 * every one must fit spec) over at most max_rows rows, or NULL (invalid, auc
 * above NN_METRIC_MAX_SCORES, or out of memory). Free with
 * nn_metrics_destroy. */
struct nn_metrics *nn_metrics_create(const struct nn_model_spec *spec, uint32_t mask, size_t max_rows);
void nn_metrics_destroy(struct nn_metrics *a);
/* Forgets every row added. */
void nn_metrics_reset(struct nn_metrics *a);
/* Adds rows model outputs (rows x outputs) and their targets (rows x y_dim,
 * as in struct nn_data). At most max_rows rows in all between resets. */
void nn_metrics_add(struct nn_metrics *a, const float *out, const float *y, size_t rows);
/* values[m] for every metric of the mask, NaN elsewhere and where a metric is
 * undefined (no rows; auc without both labels). Allocates nothing. */
void nn_metrics_result(struct nn_metrics *a, double values[NN_METRIC_COUNT]);
/* The k x k confusion matrix (k = nn_metric_classes), row = true class,
 * column = predicted class, borrowed; NULL for regression. */
const uint64_t *nn_metrics_confusion(const struct nn_metrics *a);

/* nn_evaluate that also fills acc (reset first; its max_rows >= d->n). */
int nn_evaluate_metrics(const struct nn_model *m, const struct nn_data *d, struct nn_metrics *acc,
			struct nn_eval *out);

/* ---- training ------------------------------------------------------------ */

/* Which rows validation_split takes, always floor-complement many:
 * the last ones (Keras), random ones, or random ones in each class's
 * proportion (classification losses only); seeded by the fit's seed. */
enum nn_split { NN_SPLIT_TAIL, NN_SPLIT_RANDOM, NN_SPLIT_STRATIFIED, NN_SPLIT_COUNT };

enum nn_monitor { NN_MONITOR_LOSS, NN_MONITOR_VAL_LOSS, NN_MONITOR_ACCURACY, NN_MONITOR_VAL_ACCURACY };

struct nn_fit_opts {
	uint32_t epochs;          /* total epochs of this fit, 1..NN_MAX_EPOCHS */
	uint32_t batch_size;      /* 1 = SGD, >= n = full batch; 0 means 32 */
	bool shuffle;             /* reshuffle the training rows every epoch */
	uint64_t seed;            /* seeds the shuffling and dropout stream */
	double validation_split;  /* [0, 1): last fraction of rows, before shuffling */
	bool early_stopping;
	enum nn_monitor monitor;  /* loss/accuracy: lower/higher is better */
	uint32_t patience;
	double min_delta;
	uint32_t metrics;         /* NN_METRIC_BIT()s to report per epoch (accuracy is always in metric) */
	enum nn_split split;      /* which rows validation_split takes (tail by default) */
	/* Keras's class_weight: with n_class_weights > 0, a training row whose
	 * class is c < n_class_weights has its loss (and its share of the
	 * epoch's accuracy) weighted by (float)class_weight[c], every other row
	 * by 1. The class of a row is Keras's class_weight_to_sample_weights:
	 * the sparse label; the argmax of a row of several targets; a single
	 * target rounded half to even. A batch's loss is sum(w l) / batch rows
	 * (Keras's sum_over_batch_size); the epoch accuracy is sum(w c) / sum(w)
	 * (Keras's weighted Mean, 0 when sum(w) is 0). Validation is unweighted.
	 * Weights are finite and >= 0. */
	uint32_t n_class_weights;
	double class_weight[NN_MAX_CLASS_WEIGHTS];
	/* Keras's ReduceLROnPlateau, with a constant learning rate only (Keras
	 * cannot set the rate of a schedule): after each epoch, when monitor has
	 * not improved by more than plateau_min_delta (mode min: lower is
	 * better; max: higher; auto: max for the accuracies, else min) for
	 * plateau_patience epochs outside a cooldown, the rate (a float32, as
	 * Keras's variable) becomes max(rate * plateau_factor, plateau_min_lr)
	 * if it is above plateau_min_lr, and plateau_cooldown epochs follow in
	 * which waiting does not count. The rate starts at the spec's. */
	bool reduce_lr_on_plateau;
	enum nn_monitor plateau_monitor;
	enum nn_plateau_mode { NN_PLATEAU_AUTO, NN_PLATEAU_MIN, NN_PLATEAU_MAX } plateau_mode;
	double plateau_factor;    /* [0, 1) */
	uint32_t plateau_patience;
	double plateau_min_delta; /* >= 0 */
	uint32_t plateau_cooldown;
	double plateau_min_lr;    /* >= 0 */
	/* EarlyStopping's restore_best_weights, Keras 3's rules: the weights
	 * (parameters only, not the optimizer state) of the first epoch with a
	 * monitor value and of every improvement are kept; when training ends,
	 * stopped early or not, the kept weights replace the model's. */
	bool restore_best_weights;
};

struct nn_epoch_log {
	uint32_t epoch;      /* 1-based */
	double loss;         /* Keras History: batch losses weighted by batch size, L2 included */
	double metric;       /* accuracy over the epoch's batches (before each update) */
	double val_loss;
	double val_metric;
	bool has_metric;
	bool has_val;
	bool stop;           /* early stopping triggered after this epoch */
	uint32_t metrics;    /* the fit's metrics mask: which entries below hold values */
	double metric_values[NN_METRIC_COUNT];     /* training rows, over the epoch's batches */
	double val_metric_values[NN_METRIC_COUNT]; /* validation rows (NaN without them) */
	/* The optimizer's learning rate at the end of the epoch, as Keras's
	 * callbacks log it: schedule(iterations), or the plateau's rate before
	 * this epoch's reduction, or the constant rate. */
	double learning_rate;
	uint32_t best_epoch;    /* early stopping: the best epoch so far (1-based), 0 = none */
	bool restored;          /* training ended here and the best epoch's weights were restored */
};

struct nn_train;

/* Returns a trainer for model m on train, validating on val when non-NULL,
 * or else on the last validation_split of train. m, train and val are
 * borrowed and must outlive the trainer. Returns NULL on invalid options,
 * data that fails nn_data_check, a validation split that leaves either part
 * empty, a batch above NN_MAX_BATCH_FLOATS, or out of memory; *status (may be
 * NULL) then says which. All per-batch memory is allocated here: an epoch
 * allocates nothing. Free with nn_train_destroy (NULL is a no-op). */
struct nn_train *nn_train_create(struct nn_model *m, const struct nn_data *train,
				 const struct nn_data *val, const struct nn_fit_opts *opts,
				 int *status);
void nn_train_destroy(struct nn_train *t);
/* The rows nn_train_create keeps for validation when it gets no val: is_val
 * (train->n bytes) gets 1 for each row opts's validation_split, split and
 * seed take, 0 for the training rows (all 0 without a split), so that what
 * is learned from the training rows alone (the server's preprocessing) can
 * be learned from them before the trainer exists. NN_OK, NN_EINVAL for a
 * split that leaves either part empty or a stratified split of a
 * regression, NN_ENOMEM. */
int nn_split_val_rows(const struct nn_model_spec *spec, const struct nn_data *train,
		      const struct nn_fit_opts *opts, uint8_t *is_val);

/* Runs the next epoch and fills *log. Checks *cancel (may be NULL) before
 * every batch. Returns NN_OK; NN_ECANCELLED (the model holds the weights of a
 * partial epoch: restore a checkpoint to discard them); NN_EDIVERGED when a
 * batch loss is not finite (stopped at that batch); NN_EINVAL if the trainer
 * is already done. */
int nn_train_epoch(struct nn_train *t, const atomic_int *cancel, struct nn_epoch_log *log);

/* True once every epoch ran or early stopping fired. */
bool nn_train_done(const struct nn_train *t);
/* Epochs completed so far (the next epoch is this + 1). */
uint32_t nn_train_epochs_done(const struct nn_train *t);
/* Number of training / validation rows after the split. */
size_t nn_train_n_train(const struct nn_train *t);
size_t nn_train_n_val(const struct nn_train *t);

/* Serialized trainer state: epochs done, RNG, early-stopping best, wait,
 * best epoch and kept weights, the plateau's rate, best, wait and
 * cooldown, versioned and little-endian. Together with nn_model_state_* this is a
 * complete checkpoint: restoring both into a trainer created with the same
 * model spec, data and options continues bit-identically. nn_train_state_load
 * returns NN_EFORMAT on a malformed blob, leaving the trainer unchanged. */
size_t nn_train_state_size(const struct nn_train *t);
void nn_train_state_save(const struct nn_train *t, uint8_t *buf);
int nn_train_state_load(struct nn_train *t, const uint8_t *buf, size_t len);

/* Keras's fit() in one call: creates a trainer, runs epochs until done,
 * calling on_epoch (may be NULL) after each with its log; a nonzero return
 * from on_epoch stops training. clock (may be NULL) returns seconds and times
 * each epoch into the log's caller-visible seconds argument. Returns NN_OK or
 * the first error of nn_train_create / nn_train_epoch. */
typedef int (*nn_epoch_fn)(void *ctx, const struct nn_epoch_log *log, double seconds);
int nn_fit(struct nn_model *m, const struct nn_data *train, const struct nn_data *val,
	   const struct nn_fit_opts *opts, const atomic_int *cancel, nn_epoch_fn on_epoch,
	   double (*clock)(void), void *ctx);

/* ---- threads lent by the caller ---------------------------------------------- */

/* A parallel-for the caller lends the core: run(ctx, n, fn, arg) calls
 * fn(arg, i) exactly once for every i in [0, n), on any of its threads (the
 * calling one included), and returns when every call has returned. A serial
 * loop is a valid run. The core decides the n tiles from the shapes alone, so
 * results do not depend on how many threads run them. */
typedef void (*nn_task_fn)(void *arg, size_t i);
struct nn_par {
	void (*run)(void *ctx, size_t n, nn_task_fn fn, void *arg);
	void *ctx;
};

/* Lends par (borrowed; must outlive the trainer; NULL = the calling thread
 * only) to the trainer's matrix products and optimizer steps. Results are
 * bit-identical with and without it. */
void nn_train_set_par(struct nn_train *t, const struct nn_par *par);

/* ---- BLAS ------------------------------------------------------------------ */

/* Makes the BLAS library single-threaded for the whole process: parallelism
 * comes from running several trainers on several threads, and from the tiles
 * a trainer hands to threads lent through struct nn_par (whose cut, unlike
 * the BLAS's own threading, does not depend on the thread count). */
void nn_blas_single_threaded(void);
/* Static description of the BLAS in use (e.g. "OpenBLAS 0.3.21 ... Haswell"). */
const char *nn_blas_name(void);
/* The kernel set the BLAS runs (OpenBLAS's core name, e.g. "SkylakeX"). */
const char *nn_blas_kernels(void);
/* The best OpenBLAS kernel set this CPU supports by its feature bits (and the
 * OS's saved vector state): "Cooperlake" (AVX-512 F/BW/DQ/VL + BF16),
 * "SkylakeX" (AVX-512 F/BW/DQ/VL), "Zen" (AMD) or "Haswell" (AVX2 + FMA),
 * "Sandybridge" (AVX), else NULL (nothing better than the oldest). *features
 * (may be NULL) gets a static description of the features that decided it. */
const char *nn_blas_best_kernels(const char **features);
/* Orders kernel sets by the widest vectors they use: 4 AVX-512, 3 AVX2 + FMA,
 * 2 AVX, 1 older or unknown. */
int nn_blas_kernels_rank(const char *name);

#endif
