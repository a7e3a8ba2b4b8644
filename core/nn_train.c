/*
 * nn_train.c — the epoch stepper (struct nn_train) and nn_fit(), Keras's
 * fit() loop: validation split, shuffling, mini-batches, History's epoch
 * loss and accuracy, validation, EarlyStopping, checkpointable state.
 *
 * DESIGN
 * Everything an epoch touches is allocated by nn_train_create: the index
 * array, the gather buffers of one batch, a training workspace (per-layer Z,
 * A and dropout masks) and an inference workspace for validation. An epoch
 * resets the index array to the identity and, when shuffling, permutes it
 * with Fisher-Yates from the trainer's RNG, so the RNG words are the only
 * stream state; dropout masks come from the same RNG. A checkpoint is the
 * model state plus: epochs done, the RNG, early stopping's best and wait.
 *
 * State blob (little-endian):
 *   0  "FDTS"  magic          4  u32 version (2)
 *   8  u32     epochs done   12  u32 wait
 *  16  u32     flags (bit 0: stopped)   20 u32 zero
 *  24  u64[4]  RNG words     56  f64 best (IEEE bits)
 *  64  f64     plateau rate  72  f64 plateau best
 *  80  u32     plateau wait  84  u32 plateau cooldown
 *  88  u32     best epoch    92  u32 flags (bit 0: best weights kept)
 *  96  u32     k: floats that follow (n_params with restore_best_weights, else 0)
 * 100  f32[k]  the best epoch's parameters
 * 100 + 4k  u64  checksum of the bytes before it
 * Version 1 (72 bytes, checksum at 64) is still read: the plateau state
 * then starts afresh, as it did before there was one.
 *
 * The learning rate of a step is the spec's schedule at the optimizer's
 * iterations before the step, or the plateau's rate.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define STATE_MAGIC "FDTS"
#define STATE_VERSION 2u
#define STATE_HEAD 100u
#define STATE_V1_SIZE 72u
#define DEFAULT_BATCH 32u

struct nn_train {
	struct nn_model *m;     /* borrowed */
	struct nn_data train;   /* borrowed rows: the part before the split */
	struct nn_data val;     /* borrowed rows: validation data or the split's tail */
	bool has_val;
	bool has_metric;
	struct nn_fit_opts opts;
	size_t batch;           /* effective batch: min(batch_size, train rows) */
	struct nn_rng rng;      /* shuffling and dropout */
	uint32_t epochs_done;
	double best;            /* early stopping */
	uint32_t wait;
	bool stopped;
	double lr;              /* ReduceLROnPlateau: the rate in force (float32 values) */
	double plateau_best;
	uint32_t plateau_wait, plateau_cooldown;
	uint32_t best_epoch;    /* early stopping's best epoch, 0 = none */
	float *best_params;     /* restore_best_weights: the best epoch's parameters */
	bool has_best_params;
	size_t *index;          /* train.n row numbers, permuted each epoch */
	float *x_batch, *y_batch;
	float *w_batch;         /* class weights of a batch's rows, or NULL */
	struct nn_work work;    /* training passes */
	struct nn_work eval;    /* validation passes */
	const struct nn_par *par; /* borrowed threads, or NULL */
	struct nn_metrics *tm, *vm; /* opts.metrics over the training / validation rows, or NULL */
	/* random / stratified split: the training rows' numbers in the data (in
	 * their order there), and a copy of the validation rows; NULL for tail */
	size_t *base;
	float *val_x, *val_y;
};

/* Parameters per optimizer chunk: an update is elementwise, so chunks fixed
 * by this size give the same bits as one loop; below two chunks, one loop. */
#define OPT_CHUNK ((size_t)1 << 16)

struct opt_args {
	struct nn_model *m;
	size_t chunks;
	const struct nn_opt_spec *opt; /* the spec with this step's learning rate */
};

static void opt_range(struct nn_model *m, const struct nn_opt_spec *opt, size_t lo, size_t len)
{
	nn_opt_table[m->spec.opt.kind].step(opt, m->steps, m->params + lo, m->grads + lo,
					    m->slots ? m->slots + lo : NULL, len, m->n_params);
}

/* Chunk i of the trainable spans: each span cut into OPT_CHUNK pieces, the
 * spans one after the other. */
static void opt_chunk(void *arg, size_t i)
{
	const struct opt_args *o = arg;
	struct nn_model *m = o->m;

	for (uint32_t s = 0; s < m->n_train_spans; s++) {
		size_t chunks = (m->train_len[s] + OPT_CHUNK - 1) / OPT_CHUNK;
		if (i < chunks) {
			size_t lo = i * OPT_CHUNK, left = m->train_len[s] - lo;
			opt_range(m, o->opt, m->train_off[s] + lo, left < OPT_CHUNK ? left : OPT_CHUNK);
			return;
		}
		i -= chunks;
	}
}

/* One optimizer update at learning rate lr of every trainable parameter
 * (the model's trainable spans: never a normalization layer's weights or
 * batch normalization's moving statistics), in chunks through par. */
static void opt_update(struct nn_model *m, const struct nn_par *par, double lr)
{
	struct nn_opt_spec opt = m->spec.opt;
	struct opt_args o = {m, 0, &opt};

	opt.learning_rate = lr;
	for (uint32_t s = 0; s < m->n_train_spans; s++)
		o.chunks += (m->train_len[s] + OPT_CHUNK - 1) / OPT_CHUNK;
	if (!par || o.chunks < 2) {
		for (uint32_t s = 0; s < m->n_train_spans; s++)
			opt_range(m, &opt, m->train_off[s], m->train_len[s]);
		return;
	}
	nn_par_for(par, o.chunks, opt_chunk, &o);
}

/* dst row r = src row index[r], for rows rows of dim floats */
NN_HOT static void gather(float *restrict dst, const float *restrict src,
			  const size_t *restrict index, size_t rows, size_t dim)
{
	for (size_t r = 0; r < rows; r++) {
		const float *row = src + index[r] * dim;
		for (size_t j = 0; j < dim; j++)
			dst[r * dim + j] = row[j];
	}
}

static bool params_finite(const float *p, size_t n)
{
	float acc = 0.0f;

	/* 0 * x is NaN exactly when x is infinite or NaN. */
	for (size_t i = 0; i < n; i++)
		acc += 0.0f * p[i];
	return acc == 0.0f;
}

static bool monitor_lower_is_better(enum nn_monitor monitor)
{
	return monitor == NN_MONITOR_LOSS || monitor == NN_MONITOR_VAL_LOSS;
}

static bool class_weights_valid(const struct nn_fit_opts *o)
{
	if (o->n_class_weights > NN_MAX_CLASS_WEIGHTS)
		return false;
	for (uint32_t c = 0; c < o->n_class_weights; c++)
		if (!(isfinite(o->class_weight[c]) && o->class_weight[c] >= 0.0))
			return false;
	return true;
}

static bool plateau_valid(const struct nn_fit_opts *o)
{
	return !o->reduce_lr_on_plateau ||
	       ((unsigned)o->plateau_monitor <= NN_MONITOR_VAL_ACCURACY &&
		(unsigned)o->plateau_mode <= NN_PLATEAU_MAX && isfinite(o->plateau_factor) &&
		o->plateau_factor >= 0.0 && o->plateau_factor < 1.0 && isfinite(o->plateau_min_delta) &&
		o->plateau_min_delta >= 0.0 && isfinite(o->plateau_min_lr) && o->plateau_min_lr >= 0.0);
}

static bool opts_valid(const struct nn_fit_opts *o)
{
	return class_weights_valid(o) && plateau_valid(o) && o->epochs >= 1 && o->epochs <= NN_MAX_EPOCHS && o->batch_size <= NN_MAX_BATCH &&
	       isfinite(o->validation_split) && o->validation_split >= 0.0 &&
	       o->validation_split < 1.0 && (unsigned)o->monitor <= NN_MONITOR_VAL_ACCURACY &&
	       (unsigned)o->split < NN_SPLIT_COUNT &&
	       isfinite(o->min_delta);
}

static bool metrics_fit(const struct nn_model_spec *spec, uint32_t mask)
{
	if (mask >> NN_METRIC_COUNT)
		return false;
	for (int i = 0; i < NN_METRIC_COUNT; i++)
		if ((mask & NN_METRIC_BIT(i)) && !nn_metric_fits((enum nn_metric)i, spec))
			return false;
	return true;
}

/* Class of row r of d for a stratified split. */
static uint32_t row_class(const struct nn_model_spec *spec, const struct nn_data *d, size_t r)
{
	const float *y = d->y + r * d->y_dim;
	if (nn_spec_task(spec) == NN_TASK_BINARY)
		return y[0] > 0.5f;
	if (d->y_dim == 1)
		return (uint32_t)y[0];
	uint32_t best = 0;
	for (uint32_t j = 1; j < d->y_dim; j++)
		if (y[j] > y[best])
			best = j;
	return best;
}

struct remainder {
	uint64_t rem;
	uint32_t cls;
};

/* Largest remainder first, then the lowest class. */
static int by_remainder(const void *pa, const void *pb)
{
	const struct remainder *a = pa, *b = pb;
	if (a->rem != b->rem)
		return a->rem < b->rem ? 1 : -1;
	return (a->cls > b->cls) - (a->cls < b->cls);
}

/* Marks n_val of d's rows for validation in is_val (d->n bytes, zeroed):
 * random ones, or stratified: each class gets floor(n_val n_c / n) rows and
 * the rest go one each to the classes with the largest remainders (lowest
 * class first among equals), then random rows within each class. The RNG is
 * its own stream from the seed, so the split does not move the shuffles. */
static int pick_val_rows(const struct nn_model_spec *spec, const struct nn_data *d, size_t n_val,
			 enum nn_split split, uint64_t seed, uint8_t *is_val)
{
	struct nn_rng rng;
	size_t n = d->n;
	nn_rng_seed(&rng, seed ^ 0x73706c6974ULL); /* "split" */
	uint32_t k = split == NN_SPLIT_STRATIFIED ? nn_metric_classes(spec) : 1;
	size_t *order = malloc(n * sizeof *order);
	size_t *start = calloc((size_t)k + 1, sizeof *start);
	size_t *quota = calloc(k, sizeof *quota);
	struct remainder *rem = calloc(k, sizeof *rem);
	int st = NN_ENOMEM;
	if (!order || !start || !quota || !rem)
		goto out;
	/* rows grouped by class, in data order within each (a counting sort) */
	for (size_t r = 0; r < n; r++)
		start[(k > 1 ? row_class(spec, d, r) : 0) + 1]++;
	for (uint32_t c = 0; c < k; c++)
		start[c + 1] += start[c];
	for (size_t r = 0, *next = quota; r < n; r++) {
		uint32_t c = k > 1 ? row_class(spec, d, r) : 0;
		order[start[c] + next[c]++] = r;
	}
	/* quotas by the largest remainder (the product in 128 bits: no overflow) */
	size_t given = 0;
	for (uint32_t c = 0; c < k; c++) {
		uint64_t size = start[c + 1] - start[c];
		quota[c] = (size_t)(((unsigned __int128)n_val * size) / n);
		rem[c].rem = (uint64_t)(((unsigned __int128)n_val * size) % n);
		rem[c].cls = c;
		given += quota[c];
	}
	/* the remainders sum to (n_val - given) n, each below n: at least that
	 * many classes have one, and such a class has a row left (its quota is
	 * below its size) */
	qsort(rem, k, sizeof *rem, by_remainder);
	for (uint32_t i = 0; given < n_val; i++, given++) {
		assert(i < k && rem[i].rem > 0);
		quota[rem[i].cls]++;
	}
	/* in each class, a partial Fisher-Yates draws its quota */
	for (uint32_t c = 0; c < k; c++) {
		size_t *rows = order + start[c], size = start[c + 1] - start[c];
		for (size_t i = 0; i < quota[c]; i++) {
			size_t j = i + (size_t)nn_rng_below(&rng, (uint64_t)(size - i));
			size_t swap = rows[i];
			rows[i] = rows[j];
			rows[j] = swap;
			is_val[rows[i]] = 1;
		}
	}
	st = NN_OK;
out:
	free(order);
	free(start);
	free(quota);
	free(rem);
	return st;
}

int nn_split_val_rows(const struct nn_model_spec *spec, const struct nn_data *train,
		      const struct nn_fit_opts *opts, uint8_t *is_val)
{
	if (!spec || !train || !opts || !is_val || !opts_valid(opts))
		return NN_EINVAL;
	memset(is_val, 0, train->n);
	if (opts->validation_split <= 0.0)
		return NN_OK;
	/* the sizes nn_train_create takes */
	size_t n_train = (size_t)floor((double)train->n * (1.0 - opts->validation_split));
	if (n_train > train->n)
		n_train = train->n;
	size_t n_val = train->n - n_train;
	if (n_train == 0 || n_val == 0 ||
	    (opts->split == NN_SPLIT_STRATIFIED && nn_spec_task(spec) == NN_TASK_REGRESSION))
		return NN_EINVAL;
	if (opts->split == NN_SPLIT_TAIL) {
		memset(is_val + n_train, 1, n_val);
		return NN_OK;
	}
	return pick_val_rows(spec, train, n_val, opts->split, opts->seed, is_val);
}

/* A random or stratified split: t->base gets the training rows, t->val_x
 * and t->val_y a copy of the validation rows, both in data order. */
static int split_rows(struct nn_train *t, const struct nn_data *d, size_t n_val)
{
	uint8_t *is_val = calloc(d->n, 1);
	int st = NN_ENOMEM;
	t->base = malloc((d->n - n_val) * sizeof *t->base);
	t->val_x = malloc(n_val * d->x_dim * sizeof(float));
	t->val_y = malloc(n_val * d->y_dim * sizeof(float));
	if (!is_val || !t->base || !t->val_x || !t->val_y)
		goto out;
	st = pick_val_rows(&t->m->spec, d, n_val, t->opts.split, t->opts.seed, is_val);
	if (st != NN_OK)
		goto out;
	size_t nt = 0, nv = 0;
	for (size_t r = 0; r < d->n; r++) {
		if (!is_val[r]) {
			t->base[nt++] = r;
			continue;
		}
		memcpy(t->val_x + nv * d->x_dim, d->x + r * d->x_dim, d->x_dim * sizeof(float));
		memcpy(t->val_y + nv * d->y_dim, d->y + r * d->y_dim, d->y_dim * sizeof(float));
		nv++;
	}
	assert(nv == n_val && nt == d->n - n_val);
	t->train = *d;
	t->train.n = nt;
	t->val = *d;
	t->val.n = nv;
	t->val.x = t->val_x;
	t->val.y = t->val_y;
out:
	free(is_val);
	return st;
}

static void reset_early_stopping(struct nn_train *t)
{
	t->best = monitor_lower_is_better(t->opts.monitor) ? INFINITY : -INFINITY;
	t->wait = 0;
	t->stopped = false;
	t->best_epoch = 0;
	t->has_best_params = false;
}

/* ReduceLROnPlateau's mode: min unless max, or auto on an accuracy. */
static bool plateau_lower_is_better(const struct nn_fit_opts *o)
{
	if (o->plateau_mode != NN_PLATEAU_AUTO)
		return o->plateau_mode == NN_PLATEAU_MIN;
	return monitor_lower_is_better(o->plateau_monitor);
}

static void reset_plateau(struct nn_train *t)
{
	t->lr = (double)(float)t->m->spec.opt.learning_rate;
	t->plateau_best = plateau_lower_is_better(&t->opts) ? INFINITY : -INFINITY;
	t->plateau_wait = 0;
	t->plateau_cooldown = 0;
}

struct nn_train *nn_train_create(struct nn_model *m, const struct nn_data *train,
				 const struct nn_data *val, const struct nn_fit_opts *opts,
				 int *status)
{
	int st = NN_EINVAL;
	struct nn_train *t = NULL;
	if (!m || !train || !opts || !opts_valid(opts) || !metrics_fit(&m->spec, opts->metrics) ||
	    nn_data_check(&m->spec, train, NULL) != NN_OK ||
	    (val && nn_data_check(&m->spec, val, NULL) != NN_OK))
		goto fail;

	struct nn_data head = *train, tail = {0};
	if (val) {
		tail = *val;
	} else if (opts->validation_split > 0.0) {
		/* Keras: the first floor(n (1 - split)) rows train, the rest validate */
		head.n = (size_t)floor((double)train->n * (1.0 - opts->validation_split));
		if (head.n > train->n)
			head.n = train->n;
		tail = *train;
		tail.n = train->n - head.n;
		tail.x = train->x + head.n * train->x_dim;
		tail.y = train->y + head.n * train->y_dim;
		if (head.n == 0 || tail.n == 0)
			goto fail;
	}
	size_t batch = opts->batch_size ? opts->batch_size : DEFAULT_BATCH;
	if (batch > head.n)
		batch = head.n;
	if (nn_spec_batch_floats(&m->spec, batch) > NN_MAX_BATCH_FLOATS) {
		st = NN_ELIMIT;
		goto fail;
	}

	st = NN_ENOMEM;
	t = calloc(1, sizeof *t);
	if (!t)
		goto fail;
	t->m = m;
	t->train = head;
	t->val = tail;
	t->has_val = tail.n > 0;
	t->has_metric = nn_loss_table[m->spec.loss.kind].correct != NULL;
	t->opts = *opts;
	t->batch = batch;
	if (!val && opts->validation_split > 0.0 && opts->split != NN_SPLIT_TAIL) {
		if (opts->split == NN_SPLIT_STRATIFIED && nn_spec_task(&m->spec) == NN_TASK_REGRESSION) {
			st = NN_EINVAL;
			goto fail;
		}
		if (split_rows(t, train, tail.n) != NN_OK)
			goto fail;
	}
	nn_rng_seed(&t->rng, opts->seed);
	reset_early_stopping(t);
	reset_plateau(t);
	t->index = malloc(head.n * sizeof *t->index);
	t->x_batch = malloc(batch * head.x_dim * sizeof(float));
	t->y_batch = malloc(batch * head.y_dim * sizeof(float));
	if (opts->n_class_weights)
		t->w_batch = malloc(batch * sizeof *t->w_batch);
	if (opts->restore_best_weights && !(t->best_params = calloc(m->n_params, sizeof(float))))
		goto fail;
	if (!t->index || !t->x_batch || !t->y_batch || (opts->n_class_weights && !t->w_batch) ||
	    nn_work_init(&t->work, m, batch, true, false) != NN_OK)
		goto fail;
	if (t->has_val && nn_work_init(&t->eval, m, nn_work_infer_rows(m, tail.n), false, false) !=
				  NN_OK)
		goto fail;
	if (opts->metrics & NN_METRIC_BIT(NN_METRIC_AUC) &&
	    nn_metric_auc_scores(&m->spec, head.n > tail.n ? head.n : tail.n) > NN_METRIC_MAX_SCORES) {
		st = NN_ELIMIT;
		goto fail;
	}
	if (opts->metrics) {
		t->tm = nn_metrics_create(&m->spec, opts->metrics, head.n);
		if (!t->tm)
			goto fail;
		if (t->has_val && !(t->vm = nn_metrics_create(&m->spec, opts->metrics, tail.n)))
			goto fail;
	}
	/* Keras's adapt() before the first fit: the training rows only (last,
	 * so that a trainer that could not be made leaves the model as it was) */
	if (nn_norm_needs_adapt(m))
		nn_norm_adapt(m, &t->train, t->base, t->train.n);
	if (status)
		*status = NN_OK;
	return t;
fail:
	nn_train_destroy(t);
	if (status)
		*status = st;
	return NULL;
}

void nn_train_set_par(struct nn_train *t, const struct nn_par *par)
{
	t->par = par;
	t->work.par = par;
	t->eval.par = par;
}

void nn_train_destroy(struct nn_train *t)
{
	if (!t)
		return;
	free(t->index);
	free(t->x_batch);
	free(t->y_batch);
	free(t->w_batch);
	free(t->best_params);
	nn_work_free(&t->work);
	nn_work_free(&t->eval);
	nn_metrics_destroy(t->tm);
	nn_metrics_destroy(t->vm);
	free(t->base);
	free(t->val_x);
	free(t->val_y);
	free(t);
}

/* Keras 3 EarlyStopping.on_epoch_end for one epoch's logs. */
static void early_stopping(struct nn_train *t, const struct nn_epoch_log *log)
{
	double current;
	switch (t->opts.monitor) {
	case NN_MONITOR_LOSS:
		current = log->loss;
		break;
	case NN_MONITOR_VAL_LOSS:
		if (!log->has_val)
			return; /* Keras warns and skips a missing monitor */
		current = log->val_loss;
		break;
	case NN_MONITOR_ACCURACY:
		if (!log->has_metric)
			return;
		current = log->metric;
		break;
	default:
		if (!log->has_val || !log->has_metric)
			return;
		current = log->val_metric;
		break;
	}
	double delta = fabs(t->opts.min_delta);
	bool improved = monitor_lower_is_better(t->opts.monitor) ? current + delta < t->best
								 : current - delta > t->best;
	/* Keras 3: with no weights kept yet, the current ones are the best */
	if (t->opts.restore_best_weights && !t->has_best_params) {
		memcpy(t->best_params, t->m->params, t->m->n_params * sizeof(float));
		t->has_best_params = true;
		t->best_epoch = t->epochs_done;
	}
	t->wait++;
	if (improved) {
		t->best = current;
		t->best_epoch = t->epochs_done;
		if (t->opts.restore_best_weights)
			memcpy(t->best_params, t->m->params, t->m->n_params * sizeof(float));
		t->wait = 0;
		return;
	}
	/* Keras never stops after the first epoch (its epoch index 0). */
	if (t->wait >= t->opts.patience && t->epochs_done > 1)
		t->stopped = true;
}

/* The value of monitor in an epoch's log; false when the log lacks it. */
static bool monitored(enum nn_monitor monitor, const struct nn_epoch_log *log, double *out)
{
	switch (monitor) {
	case NN_MONITOR_LOSS:
		*out = log->loss;
		return true;
	case NN_MONITOR_VAL_LOSS:
		*out = log->val_loss;
		return log->has_val;
	case NN_MONITOR_ACCURACY:
		*out = log->metric;
		return log->has_metric;
	default:
		*out = log->val_metric;
		return log->has_val && log->has_metric;
	}
}

/* Keras 3 ReduceLROnPlateau.on_epoch_end. */
static void reduce_lr_on_plateau(struct nn_train *t, const struct nn_epoch_log *log)
{
	const struct nn_fit_opts *o = &t->opts;
	double current;

	if (!monitored(o->plateau_monitor, log, &current))
		return; /* Keras warns and skips a missing monitor */
	if (t->plateau_cooldown > 0) {
		t->plateau_cooldown--;
		t->plateau_wait = 0;
	}
	bool improved = plateau_lower_is_better(o) ? current < t->plateau_best - o->plateau_min_delta
						   : current > t->plateau_best + o->plateau_min_delta;
	if (improved) {
		t->plateau_best = current;
		t->plateau_wait = 0;
		return;
	}
	if (t->plateau_cooldown > 0)
		return;
	if (++t->plateau_wait < o->plateau_patience)
		return;
	/* Keras compares the float32 rate with float32(min_lr) */
	if (t->lr > (double)(float)o->plateau_min_lr) {
		t->lr = (double)(float)fmax(t->lr * o->plateau_factor, o->plateau_min_lr);
		t->plateau_cooldown = o->plateau_cooldown;
		t->plateau_wait = 0;
	}
}

/* Keras's class_weight_to_sample_weights for rows of y (y_dim targets
 * each; sparse labels have y_dim 1): the class is the argmax (first of equal
 * maxima, as numpy) of a row of several targets, else the target rounded half
 * to even (np.round); its weight class_weight[c] as float32, 1 for a class
 * the map does not name. */
static void class_weights(const struct nn_fit_opts *o, const float *y, size_t rows, uint32_t y_dim,
			  float *out)
{
	for (size_t r = 0; r < rows; r++) {
		const float *row = y + r * y_dim;
		double c;
		if (y_dim > 1) {
			uint32_t best = 0;
			for (uint32_t j = 1; j < y_dim; j++)
				best = row[j] > row[best] ? j : best;
			c = best;
		} else {
			c = nearbyint((double)row[0]);
		}
		out[r] = c >= 0.0 && c < (double)o->n_class_weights ? (float)o->class_weight[(size_t)c]
								     : 1.0f;
	}
}

static int train_epoch(struct nn_train *t, const atomic_int *cancel, struct nn_epoch_log *log);

int nn_train_epoch(struct nn_train *t, const atomic_int *cancel, struct nn_epoch_log *log)
{
	struct nn_epoch_log unused;
	if (!log)
		log = &unused;
	if (nn_train_done(t))
		return NN_EINVAL;
	unsigned fp = nn_fp_enter();
	int status = train_epoch(t, cancel, log);
	nn_fp_leave(fp);
	return status;
}

/* nn_train_epoch in the core's floating-point mode. */
static int train_epoch(struct nn_train *t, const atomic_int *cancel, struct nn_epoch_log *log)
{
	struct nn_model *m = t->m;
	const struct nn_data *d = &t->train;
	const struct nn_rng epoch_start = t->rng;
	size_t n = d->n, x_dim = d->x_dim, y_dim = d->y_dim;

	for (size_t i = 0; i < n; i++)
		t->index[i] = t->base ? t->base[i] : i;
	if (t->opts.shuffle) {
		/* Fisher-Yates */
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)nn_rng_below(&t->rng, (uint64_t)i + 1);
			size_t swap = t->index[i];
			t->index[i] = t->index[j];
			t->index[j] = swap;
		}
	}

	double loss_sum = 0.0, correct = 0.0;
	if (t->tm)
		nn_metrics_reset(t->tm);
	for (size_t start = 0; start < n; start += t->batch) {
		if (cancel && atomic_load(cancel)) {
			t->rng = epoch_start;
			return NN_ECANCELLED;
		}
		size_t rows = n - start < t->batch ? n - start : t->batch;
		const float *x = d->x + start * x_dim, *y = d->y + start * y_dim;
		if (t->opts.shuffle || t->base) {
			gather(t->x_batch, d->x, t->index + start, rows, x_dim);
			gather(t->y_batch, d->y, t->index + start, rows, y_dim);
			x = t->x_batch;
			y = t->y_batch;
		}
		nn_forward(m, &t->work, x, rows, &t->rng);
		if (t->w_batch)
			class_weights(&t->opts, y, rows, y_dim, t->w_batch);
		double sum = nn_loss_batch_weighted(m, &t->work, y, rows, t->w_batch, true, &correct);
		if (t->tm) /* Keras: the training outputs of each batch, before its update */
			nn_metrics_add(t->tm, t->work.out, y, rows);
		double penalty = nn_backward(m, &t->work, rows, NULL);
		double batch_loss = sum / (double)rows + penalty;
		if (!isfinite(batch_loss)) {
			t->rng = epoch_start;
			return NN_EDIVERGED;
		}
		nn_bn_update(m, &t->work);
		m->steps++;
		/* Keras: schedule(iterations) before the step is counted */
		opt_update(m, t->par, t->opts.reduce_lr_on_plateau ? t->lr : nn_lr_at(&m->spec.opt, m->steps - 1));
		loss_sum += batch_loss * (double)rows;
	}
	/* The last updates may have overflowed a weight that no batch loss has
	 * seen yet: an epoch that ends with non-finite weights diverged too, so
	 * the caller keeps the weights of the epoch before. */
	if (!params_finite(m->params, m->n_params)) {
		t->rng = epoch_start;
		return NN_EDIVERGED;
	}

	t->epochs_done++;
	memset(log, 0, sizeof *log);
	log->epoch = t->epochs_done;
	log->loss = loss_sum / (double)n;
	log->has_metric = t->has_metric;
	/* accuracy is not weighted by class_weight (Keras's compiled metrics) */
	log->metric = !t->has_metric ? NAN : correct / (double)n;
	log->has_val = t->has_val;
	log->val_loss = log->val_metric = NAN;
	if (t->has_val) {
		struct nn_eval ev;
		nn_eval_run_metrics(m, &t->eval, &t->val, t->vm, &ev);
		log->val_loss = ev.loss;
		log->val_metric = ev.metric;
	}
	log->metrics = t->opts.metrics;
	for (int i = 0; i < NN_METRIC_COUNT; i++)
		log->metric_values[i] = log->val_metric_values[i] = NAN;
	if (t->tm)
		nn_metrics_result(t->tm, log->metric_values);
	if (t->vm)
		nn_metrics_result(t->vm, log->val_metric_values);
	/* the rate Keras's callbacks log: optimizer.learning_rate now, before
	 * this epoch's reduction */
	log->learning_rate = t->opts.reduce_lr_on_plateau ? t->lr : nn_lr_at(&m->spec.opt, m->steps);
	if (t->opts.reduce_lr_on_plateau)
		reduce_lr_on_plateau(t, log);
	if (t->opts.early_stopping)
		early_stopping(t, log);
	log->stop = t->stopped;
	log->best_epoch = t->best_epoch;
	/* Keras 3's on_train_end: kept weights replace the model's whether or
	 * not training stopped early */
	if (nn_train_done(t) && t->opts.restore_best_weights && t->has_best_params) {
		memcpy(m->params, t->best_params, m->n_params * sizeof(float));
		log->restored = true;
	}
	return NN_OK;
}

bool nn_train_done(const struct nn_train *t)
{
	return t->stopped || t->epochs_done >= t->opts.epochs;
}

uint32_t nn_train_epochs_done(const struct nn_train *t)
{
	return t->epochs_done;
}

size_t nn_train_n_train(const struct nn_train *t)
{
	return t->train.n;
}

size_t nn_train_n_val(const struct nn_train *t)
{
	return t->has_val ? t->val.n : 0;
}

const struct nn_data *nn_train_val_view(const struct nn_train *t)
{
	return &t->val;
}

const size_t *nn_train_rows(const struct nn_train *t)
{
	return t->base;
}

/* Floats of kept weights in a state blob. */
static size_t kept_floats(const struct nn_train *t)
{
	return t->opts.restore_best_weights ? t->m->n_params : 0;
}

size_t nn_train_state_size(const struct nn_train *t)
{
	return STATE_HEAD + 4 * kept_floats(t) + 8;
}

void nn_train_state_save(const struct nn_train *t, uint8_t *buf)
{
	uint64_t best_bits;
	memcpy(&best_bits, &t->best, 8);
	memcpy(buf, STATE_MAGIC, 4);
	nn_put_u32(buf + 4, STATE_VERSION);
	nn_put_u32(buf + 8, t->epochs_done);
	nn_put_u32(buf + 12, t->wait);
	nn_put_u32(buf + 16, t->stopped ? 1u : 0u);
	nn_put_u32(buf + 20, 0);
	for (int i = 0; i < 4; i++)
		nn_put_u64(buf + 24 + 8 * i, t->rng.s[i]);
	nn_put_u64(buf + 56, best_bits);
	memcpy(&best_bits, &t->lr, 8);
	nn_put_u64(buf + 64, best_bits);
	memcpy(&best_bits, &t->plateau_best, 8);
	nn_put_u64(buf + 72, best_bits);
	nn_put_u32(buf + 80, t->plateau_wait);
	nn_put_u32(buf + 84, t->plateau_cooldown);
	nn_put_u32(buf + 88, t->best_epoch);
	nn_put_u32(buf + 92, t->has_best_params ? 1u : 0u);
	size_t k = kept_floats(t);
	nn_put_u32(buf + 96, (uint32_t)k);
	for (size_t i = 0; i < k; i++) {
		uint32_t bits;
		memcpy(&bits, &t->best_params[i], 4);
		nn_put_u32(buf + STATE_HEAD + 4 * i, bits);
	}
	nn_put_u64(buf + STATE_HEAD + 4 * k, nn_checksum(buf, STATE_HEAD + 4 * k));
}

int nn_train_state_load(struct nn_train *t, const uint8_t *buf, size_t len)
{
	if (!buf || len < STATE_V1_SIZE || memcmp(buf, STATE_MAGIC, 4) != 0)
		return NN_EFORMAT;
	uint32_t version = nn_get_u32(buf + 4);
	size_t k = kept_floats(t);
	size_t body = version == 1 ? 64 : STATE_HEAD + 4 * k;
	if ((version != 1 && version != STATE_VERSION) || len != body + 8 ||
	    nn_get_u64(buf + body) != nn_checksum(buf, body))
		return NN_EFORMAT;
	/* a version-1 blob keeps no weights: good for a trainer that keeps none */
	if (version == 1 && k)
		return NN_EFORMAT;
	double lr = (double)(float)t->m->spec.opt.learning_rate, plateau_best = 0.0;
	uint32_t plateau_wait = 0, plateau_cooldown = 0;
	if (version == STATE_VERSION) {
		uint64_t bits = nn_get_u64(buf + 64);
		memcpy(&lr, &bits, 8);
		bits = nn_get_u64(buf + 72);
		memcpy(&plateau_best, &bits, 8);
		plateau_wait = nn_get_u32(buf + 80);
		plateau_cooldown = nn_get_u32(buf + 84);
		if (!isfinite(lr) || lr < 0.0 || isnan(plateau_best) || nn_get_u32(buf + 92) > 1 ||
		    nn_get_u32(buf + 96) != k || nn_get_u32(buf + 88) > NN_MAX_EPOCHS)
			return NN_EFORMAT;
	}
	uint32_t epochs = nn_get_u32(buf + 8), flags = nn_get_u32(buf + 16);
	struct nn_rng rng;
	for (int i = 0; i < 4; i++)
		rng.s[i] = nn_get_u64(buf + 24 + 8 * i);
	uint64_t best_bits = nn_get_u64(buf + 56);
	double best;
	memcpy(&best, &best_bits, 8);
	if (epochs > NN_MAX_EPOCHS || flags > 1 || nn_get_u32(buf + 20) != 0 || isnan(best) ||
	    (rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]) == 0)
		return NN_EFORMAT;
	t->epochs_done = epochs;
	t->wait = nn_get_u32(buf + 12);
	t->stopped = flags & 1;
	t->rng = rng;
	t->best = best;
	if (version == STATE_VERSION) {
		t->lr = lr;
		t->plateau_best = plateau_best;
		t->plateau_wait = plateau_wait;
		t->plateau_cooldown = plateau_cooldown;
		t->best_epoch = nn_get_u32(buf + 88);
		t->has_best_params = nn_get_u32(buf + 92) & 1;
		for (size_t i = 0; i < k; i++) {
			uint32_t bits = nn_get_u32(buf + STATE_HEAD + 4 * i);
			memcpy(&t->best_params[i], &bits, 4);
		}
	} else {
		t->best_epoch = 0;
		t->has_best_params = false;
		reset_plateau(t);
	}
	return NN_OK;
}

int nn_fit(struct nn_model *m, const struct nn_data *train, const struct nn_data *val,
	   const struct nn_fit_opts *opts, const atomic_int *cancel, nn_epoch_fn on_epoch,
	   double (*clock)(void), void *ctx)
{
	int status;
	struct nn_train *t = nn_train_create(m, train, val, opts, &status);
	if (!t)
		return status;
	while (!nn_train_done(t)) {
		double started = clock ? clock() : 0.0;
		struct nn_epoch_log log;
		status = nn_train_epoch(t, cancel, &log);
		if (status != NN_OK)
			break;
		double seconds = clock ? clock() - started : 0.0;
		if (on_epoch && on_epoch(ctx, &log, seconds) != 0)
			break;
	}
	nn_train_destroy(t);
	return status;
}
