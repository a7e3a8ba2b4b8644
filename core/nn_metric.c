/*
 * nn_metric.c — Keras's metrics by name, accumulated over the rows of an
 * epoch or an evaluation and computed as scikit-learn computes them.
 *
 * DESIGN
 * One accumulator holds what every requested metric needs, allocated once by
 * nn_metrics_create for at most max_rows rows (a training epoch allocates
 * nothing): a confusion matrix of counts for the classification metrics, the
 * scores and true labels of every row for the exact AUC (which needs them
 * sorted), and per output the running sums of the regression metrics: sum of
 * |error| and error^2, and the targets' mean and sum of squared deviations
 * by Welford's update (no cancellation in sum(y^2) - n mean^2). Everything
 * accumulates in double in row order, so results are deterministic.
 *
 * AUC is the area under the ROC curve through the points where the score
 * changes (sklearn's roc_curve then auc): rows sorted by score, descending;
 * each group of equal scores moves the curve diagonally, so a tied
 * positive/negative pair counts one half. With integer counts the area
 * doubled is an integer below 2^53 for any feasible row count: exact.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

static const char *const metric_names[NN_METRIC_COUNT] = {
	[NN_METRIC_ACCURACY] = "accuracy", [NN_METRIC_PRECISION] = "precision",
	[NN_METRIC_RECALL] = "recall",     [NN_METRIC_AUC] = "auc",
	[NN_METRIC_F1_SCORE] = "f1_score", [NN_METRIC_MAE] = "mae",
	[NN_METRIC_MSE] = "mse",           [NN_METRIC_RMSE] = "rmse",
	[NN_METRIC_R2_SCORE] = "r2_score",
};

#define CLASSIFICATION_MASK                                                                      \
	(NN_METRIC_BIT(NN_METRIC_ACCURACY) | NN_METRIC_BIT(NN_METRIC_PRECISION) |                  \
	 NN_METRIC_BIT(NN_METRIC_RECALL) | NN_METRIC_BIT(NN_METRIC_AUC) |                          \
	 NN_METRIC_BIT(NN_METRIC_F1_SCORE))
#define REGRESSION_MASK                                                                          \
	(NN_METRIC_BIT(NN_METRIC_MAE) | NN_METRIC_BIT(NN_METRIC_MSE) |                             \
	 NN_METRIC_BIT(NN_METRIC_RMSE) | NN_METRIC_BIT(NN_METRIC_R2_SCORE))

struct score {
	double s;
	uint32_t pos; /* 1: the row belongs to the class scored */
};

struct nn_metrics {
	uint32_t mask;
	enum nn_task task;
	uint32_t outputs, y_dim, k; /* k: classes (0 for regression) */
	bool from_logits;
	size_t max_rows, n;
	uint64_t *confusion; /* k x k */
	/* auc: per row, c scores (c = 1 binary, k several classes) and the class */
	uint32_t c;
	double *scores;
	uint32_t *labels;
	struct score *sorted; /* max_rows, sorted at result time */
	/* regression, per output */
	double *abs_sum, *sq_sum, *mean, *m2;
};

const char *nn_metric_name(enum nn_metric m)
{
	return (unsigned)m < NN_METRIC_COUNT ? metric_names[m] : "unknown";
}

bool nn_metric_fits(enum nn_metric m, const struct nn_model_spec *spec)
{
	if ((unsigned)m >= NN_METRIC_COUNT)
		return false;
	if (m != NN_METRIC_ACCURACY && nn_spec_outputs(spec) > NN_METRIC_MAX_CLASSES &&
	    nn_spec_task(spec) == NN_TASK_MULTICLASS)
		return false;
	switch (nn_spec_task(spec)) {
	case NN_TASK_REGRESSION:
		return (REGRESSION_MASK & NN_METRIC_BIT(m)) != 0;
	case NN_TASK_BINARY:
		return (CLASSIFICATION_MASK & NN_METRIC_BIT(m)) && nn_spec_outputs(spec) == 1;
	default:
		return (CLASSIFICATION_MASK & NN_METRIC_BIT(m)) != 0;
	}
}

uint64_t nn_metric_auc_scores(const struct nn_model_spec *spec, uint64_t n)
{
	return n * (nn_spec_task(spec) == NN_TASK_BINARY ? 1 : nn_spec_outputs(spec));
}

uint32_t nn_metric_classes(const struct nn_model_spec *spec)
{
	switch (nn_spec_task(spec)) {
	case NN_TASK_BINARY:
		return 2;
	case NN_TASK_MULTICLASS:
		return nn_spec_outputs(spec);
	default:
		return 0;
	}
}

void nn_metrics_destroy(struct nn_metrics *a)
{
	if (!a)
		return;
	free(a->confusion);
	free(a->scores);
	free(a->labels);
	free(a->sorted);
	free(a->abs_sum);
	free(a->sq_sum);
	free(a->mean);
	free(a->m2);
	free(a);
}

struct nn_metrics *nn_metrics_create(const struct nn_model_spec *spec, uint32_t mask, size_t max_rows)
{
	if (nn_spec_check(spec, NULL, NULL) != NN_OK || mask == 0 || mask >> NN_METRIC_COUNT)
		return NULL;
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		if ((mask & NN_METRIC_BIT(m)) && !nn_metric_fits((enum nn_metric)m, spec))
			return NULL;
	if (nn_metric_classes(spec) > NN_METRIC_MAX_CLASSES)
		return NULL; /* accuracy alone: the loss's own counter does it */
	struct nn_metrics *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->mask = mask;
	a->task = nn_spec_task(spec);
	a->outputs = nn_spec_outputs(spec);
	a->y_dim = spec->loss.kind == NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? 1 : a->outputs;
	a->k = nn_metric_classes(spec);
	a->from_logits = spec->loss.from_logits;
	a->max_rows = max_rows;
	if (a->k) {
		a->confusion = calloc((size_t)a->k * a->k, sizeof *a->confusion);
		if (!a->confusion)
			goto fail;
	}
	if ((mask & NN_METRIC_BIT(NN_METRIC_AUC)) && nn_metric_auc_scores(spec, max_rows) > NN_METRIC_MAX_SCORES)
		goto fail;
	if (mask & NN_METRIC_BIT(NN_METRIC_AUC)) {
		a->c = a->task == NN_TASK_BINARY ? 1 : a->k;
		/* the rows are in memory already as floats: this cannot overflow */
		a->scores = malloc((max_rows ? max_rows : 1) * a->c * sizeof *a->scores);
		a->labels = malloc((max_rows ? max_rows : 1) * sizeof *a->labels);
		a->sorted = malloc((max_rows ? max_rows : 1) * sizeof *a->sorted);
		if (!a->scores || !a->labels || !a->sorted)
			goto fail;
	}
	if (a->task == NN_TASK_REGRESSION) {
		a->abs_sum = malloc(a->outputs * sizeof(double));
		a->sq_sum = malloc(a->outputs * sizeof(double));
		a->mean = malloc(a->outputs * sizeof(double));
		a->m2 = malloc(a->outputs * sizeof(double));
		if (!a->abs_sum || !a->sq_sum || !a->mean || !a->m2)
			goto fail;
	}
	nn_metrics_reset(a);
	return a;
fail:
	nn_metrics_destroy(a);
	return NULL;
}

void nn_metrics_reset(struct nn_metrics *a)
{
	a->n = 0;
	if (a->confusion)
		memset(a->confusion, 0, (size_t)a->k * a->k * sizeof *a->confusion);
	if (a->task == NN_TASK_REGRESSION) {
		for (uint32_t j = 0; j < a->outputs; j++)
			a->abs_sum[j] = a->sq_sum[j] = a->mean[j] = a->m2[j] = 0.0;
	}
}

static uint32_t argmax(const float *v, uint32_t k)
{
	uint32_t best = 0;
	for (uint32_t j = 1; j < k; j++)
		if (v[j] > v[best])
			best = j;
	return best;
}

void nn_metrics_add(struct nn_metrics *a, const float *out, const float *y, size_t rows)
{
	assert(rows <= a->max_rows - a->n);
	for (size_t r = 0; r < rows; r++) {
		const float *o = out + r * a->outputs, *t = y + r * a->y_dim;
		size_t row = a->n + r;
		if (a->task == NN_TASK_REGRESSION) {
			double count = (double)(row + 1);
			for (uint32_t j = 0; j < a->outputs; j++) {
				double e = (double)t[j] - (double)o[j];
				double delta = (double)t[j] - a->mean[j];
				a->abs_sum[j] += fabs(e);
				a->sq_sum[j] += e * e;
				a->mean[j] += delta / count;
				a->m2[j] += delta * ((double)t[j] - a->mean[j]);
			}
			continue;
		}
		uint32_t truth, pred;
		if (a->task == NN_TASK_BINARY) {
			truth = t[0] > 0.5f;
			pred = o[0] > (a->from_logits ? 0.0f : 0.5f);
		} else {
			truth = a->y_dim == 1 ? (uint32_t)t[0] : argmax(t, a->k);
			pred = argmax(o, a->k);
		}
		a->confusion[(size_t)truth * a->k + pred]++;
		if (!a->scores)
			continue;
		double *s = a->scores + row * a->c;
		a->labels[row] = truth;
		if (a->c == 1 || !a->from_logits) {
			for (uint32_t j = 0; j < a->c; j++)
				s[j] = o[j];
		} else {
			/* softmax of the logits: sklearn scores probabilities */
			double hi = o[pred], sum = 0.0;
			for (uint32_t j = 0; j < a->c; j++)
				sum += s[j] = exp((double)o[j] - hi);
			for (uint32_t j = 0; j < a->c; j++)
				s[j] /= sum;
		}
	}
	a->n += rows;
}

/* Descending score; NaN last. */
static int by_score_desc(const void *pa, const void *pb)
{
	double x = ((const struct score *)pa)->s, y = ((const struct score *)pb)->s;
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return (x < y) - (x > y);
}

/* ROC AUC of class cls against the rest; NaN without both. */
static double auc_one(struct nn_metrics *a, uint32_t col, uint32_t cls)
{
	uint64_t pos = 0, neg;
	for (size_t r = 0; r < a->n; r++) {
		a->sorted[r].s = a->scores[r * a->c + col];
		a->sorted[r].pos = a->labels[r] == cls;
		pos += a->sorted[r].pos;
	}
	neg = a->n - pos;
	if (pos == 0 || neg == 0)
		return NAN;
	qsort(a->sorted, a->n, sizeof *a->sorted, by_score_desc);
	/* twice the area in units of one positive x one negative */
	double area2 = 0.0;
	uint64_t tp = 0, fp = 0;
	for (size_t r = 0; r < a->n;) {
		uint64_t gtp = 0, gfp = 0;
		size_t e = r;
		do {
			gtp += a->sorted[e].pos;
			gfp += !a->sorted[e].pos;
			e++;
		} while (e < a->n && by_score_desc(&a->sorted[e], &a->sorted[r]) == 0);
		area2 += (double)gfp * (double)(2 * tp + gtp);
		tp += gtp;
		fp += gfp;
		r = e;
	}
	return area2 / (2.0 * (double)pos * (double)neg);
}

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

static void classification(struct nn_metrics *a, double *v)
{
	uint32_t k = a->k;
	uint64_t correct = 0;
	for (uint32_t i = 0; i < k; i++)
		correct += a->confusion[(size_t)i * k + i];
	v[NN_METRIC_ACCURACY] = (double)correct / (double)a->n;

	double p = 0.0, rc = 0.0, f1 = 0.0;
	uint32_t present = 0;
	for (uint32_t c = a->task == NN_TASK_BINARY ? 1 : 0; c < k; c++) {
		uint64_t tp = a->confusion[(size_t)c * k + c], row = 0, col = 0;
		for (uint32_t j = 0; j < k; j++) {
			row += a->confusion[(size_t)c * k + j];
			col += a->confusion[(size_t)j * k + c];
		}
		/* sklearn's macro average: the labels in y_true or y_pred */
		if (a->task != NN_TASK_BINARY && row == 0 && col == 0)
			continue;
		present++;
		p += ratio(tp, col);
		rc += ratio(tp, row);
		f1 += ratio(2 * tp, row + col);
	}
	v[NN_METRIC_PRECISION] = present ? p / present : 0.0;
	v[NN_METRIC_RECALL] = present ? rc / present : 0.0;
	v[NN_METRIC_F1_SCORE] = present ? f1 / present : 0.0;

	if (a->mask & NN_METRIC_BIT(NN_METRIC_AUC)) {
		if (a->task == NN_TASK_BINARY) {
			v[NN_METRIC_AUC] = auc_one(a, 0, 1);
		} else {
			double sum = 0.0;
			uint32_t used = 0;
			for (uint32_t c = 0; c < k; c++) {
				double one = auc_one(a, c, c);
				if (!isnan(one)) {
					sum += one;
					used++;
				}
			}
			v[NN_METRIC_AUC] = used ? sum / used : NAN;
		}
	}
}

static void regression(struct nn_metrics *a, double *v)
{
	double n = (double)a->n, abs_sum = 0.0, sq_sum = 0.0, r2 = 0.0;
	for (uint32_t j = 0; j < a->outputs; j++) {
		abs_sum += a->abs_sum[j];
		sq_sum += a->sq_sum[j];
		if (a->m2[j] > 0.0)
			r2 += 1.0 - a->sq_sum[j] / a->m2[j];
		else
			r2 += a->sq_sum[j] == 0.0 ? 1.0 : 0.0;
	}
	v[NN_METRIC_MAE] = abs_sum / (n * a->outputs);
	v[NN_METRIC_MSE] = sq_sum / (n * a->outputs);
	v[NN_METRIC_RMSE] = sqrt(v[NN_METRIC_MSE]);
	v[NN_METRIC_R2_SCORE] = r2 / a->outputs;
}

void nn_metrics_result(struct nn_metrics *a, double values[NN_METRIC_COUNT])
{
	double v[NN_METRIC_COUNT];
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		v[m] = values[m] = NAN;
	if (a->n == 0)
		return;
	if (a->task == NN_TASK_REGRESSION)
		regression(a, v);
	else
		classification(a, v);
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		if (a->mask & NN_METRIC_BIT(m))
			values[m] = v[m];
}

size_t nn_metrics_max_rows(const struct nn_metrics *a)
{
	return a->max_rows;
}

const uint64_t *nn_metrics_confusion(const struct nn_metrics *a)
{
	return a->confusion;
}
