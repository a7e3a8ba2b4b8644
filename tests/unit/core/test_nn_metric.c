/*
 * test_nn_metric.c — core/nn_metric.c: every metric against scikit-learn on
 * the same outputs (metric_fixture.h, written by gen_metric_fixture.py),
 * added in uneven batches as an epoch adds them; hand-computed AUCs with
 * ties (sklearn's documented example); which metrics fit which loss; and the
 * trainer's per-epoch metrics against independent paths (its own accuracy,
 * and nn_evaluate_metrics on the validation rows).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"
#include "tests/unit/core/metric_fixture.h"

Suite *suite_nn_metric(void);

/* One dense layer of outputs units after one input: the spec only decides
 * the task, the outputs and the label form. */
static void case_spec(struct nn_model_spec *spec, enum nn_loss_kind loss, bool logits, uint32_t outputs)
{
	enum nn_act act = NN_ACT_LINEAR;
	memset(spec, 0, sizeof *spec);
	if (!logits && loss == NN_LOSS_BINARY_CROSSENTROPY)
		act = NN_ACT_SIGMOID;
	else if (!logits && loss != NN_LOSS_MSE)
		act = NN_ACT_SOFTMAX;
	spec->input_dim = 1;
	spec->n_layers = 1;
	nn_dense_defaults(&spec->layers[0], outputs, act);
	spec->loss.kind = loss;
	spec->loss.from_logits = logits;
	nn_opt_defaults(NN_OPT_SGD, &spec->opt);
}

static uint32_t fitting_mask(const struct nn_model_spec *spec)
{
	uint32_t mask = 0;
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		if (nn_metric_fits((enum nn_metric)m, spec))
			mask |= NN_METRIC_BIT(m);
	return mask;
}

/* Both NaN, or equal within rel relative error. */
static void assert_close(const char *what, const char *metric, double got, double want, double rel)
{
	if (isnan(want)) {
		ck_assert_msg(isnan(got), "%s: %s is %.17g, sklearn: undefined", what, metric, got);
		return;
	}
	ck_assert_msg(fabs(got - want) <= rel * fmax(fabs(want), 1e-300) || got == want,
		      "%s: %s is %.17g, sklearn %.17g", what, metric, got, want);
}

START_TEST(test_matches_sklearn)
{
	const struct metric_case *c = &metric_cases[_i];
	struct nn_model_spec spec;
	case_spec(&spec, c->loss, c->from_logits, c->outputs);
	ck_assert_uint_eq(nn_metric_classes(&spec), c->classes);
	uint32_t mask = fitting_mask(&spec);
	struct nn_metrics *a = nn_metrics_create(&spec, mask, c->n);
	ck_assert_ptr_nonnull(a);
	/* twice: the second run after a reset must not see the first */
	for (int pass = 0; pass < 2; pass++) {
		nn_metrics_reset(a);
		/* uneven batches, as the epochs of a trainer add them */
		for (size_t start = 0, step = 1; start < c->n; start += step, step = step * 2 + 1) {
			size_t rows = c->n - start < step ? c->n - start : step;
			nn_metrics_add(a, c->out + start * c->outputs, c->y + start * c->y_dim, rows);
		}
		double v[NN_METRIC_COUNT];
		nn_metrics_result(a, v);
		/* Counts give ratios of exact integers; the sums are of at most a
		 * few hundred doubles (relative error ~n * 2^-53 ~ 1e-13), and
		 * r2's Welford update against sklearn's two passes likewise. */
		for (int m = 0; m < NN_METRIC_COUNT; m++)
			assert_close(c->name, nn_metric_name((enum nn_metric)m), v[m], c->expected[m], 1e-11);
		const uint64_t *cm = nn_metrics_confusion(a);
		if (c->confusion) {
			for (uint32_t i = 0; i < c->classes * c->classes; i++)
				ck_assert_msg(cm[i] == c->confusion[i], "%s: confusion[%u] is %llu, sklearn %llu", c->name, i,
					      (unsigned long long)cm[i], (unsigned long long)c->confusion[i]);
		} else {
			ck_assert_ptr_null(cm);
		}
	}
	nn_metrics_destroy(a);
}
END_TEST

static double binary_auc(const float *scores, const float *y, size_t n)
{
	struct nn_model_spec spec;
	case_spec(&spec, NN_LOSS_BINARY_CROSSENTROPY, false, 1);
	struct nn_metrics *a = nn_metrics_create(&spec, NN_METRIC_BIT(NN_METRIC_AUC), n);
	ck_assert_ptr_nonnull(a);
	nn_metrics_add(a, scores, y, n);
	double v[NN_METRIC_COUNT];
	nn_metrics_result(a, v);
	nn_metrics_destroy(a);
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		if (m != NN_METRIC_AUC)
			ck_assert(isnan(v[m])); /* only what was asked */
	return v[NN_METRIC_AUC];
}

START_TEST(test_auc_by_hand)
{
	/* sklearn's roc_auc_score docstring example: 0.75 */
	const float s1[] = {0.1f, 0.4f, 0.35f, 0.8f}, y1[] = {0, 0, 1, 1};
	ck_assert_double_eq(binary_auc(s1, y1, 4), 0.75);
	/* ties: positives {0.5, 0.9}, negatives {0.5, 0.5}: 0.9 beats both (2),
	 * 0.5 ties both (2 halves) -> 3 of 4 pairs */
	const float s2[] = {0.5f, 0.5f, 0.5f, 0.9f}, y2[] = {0, 1, 0, 1};
	ck_assert_double_eq(binary_auc(s2, y2, 4), 0.75);
	/* all scores equal: one half; perfectly reversed: 0 */
	const float s3[] = {0.3f, 0.3f, 0.3f}, y3[] = {1, 0, 1};
	ck_assert_double_eq(binary_auc(s3, y3, 3), 0.5);
	const float s4[] = {0.9f, 0.8f, 0.2f, 0.1f}, y4[] = {0, 0, 1, 1};
	ck_assert_double_eq(binary_auc(s4, y4, 4), 0.0);
	/* one class only: undefined */
	ck_assert(isnan(binary_auc(s4, y1 + 2, 2)));
}
END_TEST

START_TEST(test_fits_and_create_errors)
{
	struct nn_model_spec reg, bin, multi, wide;
	case_spec(&reg, NN_LOSS_MSE, false, 2);
	case_spec(&bin, NN_LOSS_BINARY_CROSSENTROPY, false, 1);
	case_spec(&multi, NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false, 3);
	case_spec(&wide, NN_LOSS_BINARY_CROSSENTROPY, false, 3);
	ck_assert(nn_metric_fits(NN_METRIC_R2_SCORE, &reg));
	ck_assert(!nn_metric_fits(NN_METRIC_AUC, &reg));
	ck_assert(nn_metric_fits(NN_METRIC_AUC, &bin));
	ck_assert(!nn_metric_fits(NN_METRIC_MAE, &bin));
	ck_assert(nn_metric_fits(NN_METRIC_F1_SCORE, &multi));
	ck_assert(!nn_metric_fits(NN_METRIC_PRECISION, &wide)); /* several binary outputs */
	ck_assert(!nn_metric_fits(NN_METRIC_COUNT, &multi));
	ck_assert_str_eq(nn_metric_name(NN_METRIC_F1_SCORE), "f1_score");
	ck_assert_str_eq(nn_metric_name(NN_METRIC_R2_SCORE), "r2_score");
	ck_assert_ptr_null(nn_metrics_create(&reg, NN_METRIC_BIT(NN_METRIC_AUC), 10));
	ck_assert_ptr_null(nn_metrics_create(&bin, 0, 10));
	ck_assert_ptr_null(nn_metrics_create(&bin, 1u << NN_METRIC_COUNT, 10));
	ck_assert_uint_eq(nn_metric_classes(&reg), 0);
	ck_assert_uint_eq(nn_metric_classes(&bin), 2);
	ck_assert_uint_eq(nn_metric_classes(&multi), 3);
	/* no rows: every metric undefined */
	struct nn_metrics *a = nn_metrics_create(&multi, fitting_mask(&multi), 4);
	double v[NN_METRIC_COUNT];
	nn_metrics_result(a, v);
	for (int m = 0; m < NN_METRIC_COUNT; m++)
		ck_assert(isnan(v[m]));
	nn_metrics_destroy(a);
	nn_metrics_destroy(NULL);
}
END_TEST

/* ---- the trainer's epochs ------------------------------------------------------------ */

START_TEST(test_epoch_metrics)
{
	/* three blobs in 2-D, 240 rows, the last 25% validate */
	enum { N = 240, D = 2, K = 3 };
	float x[N * D], y[N];
	struct nn_rng rng;
	nn_rng_seed(&rng, 77);
	for (size_t r = 0; r < N; r++) {
		uint32_t c = (uint32_t)nn_rng_below(&rng, K);
		y[r] = (float)c;
		for (uint32_t j = 0; j < D; j++)
			x[r * D + j] = (float)(c * (j ? 1.0 : -1.5) + 0.9 * nn_rng_normal(&rng));
	}
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = D;
	spec.n_layers = 2;
	nn_dense_defaults(&spec.layers[0], 8, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], K, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	nn_model_init(m, &rng);
	struct nn_data d = {x, y, N, D, 1};
	struct nn_fit_opts opts = {.epochs = 3, .batch_size = 16, .shuffle = true, .seed = 5,
				   .validation_split = 0.25, .metrics = fitting_mask(&spec)};
	int st;
	struct nn_train *t = nn_train_create(m, &d, NULL, &opts, &st);
	ck_assert_ptr_nonnull(t);
	struct nn_metrics *acc = nn_metrics_create(&spec, opts.metrics, N / 4);
	ck_assert_ptr_nonnull(acc);
	while (!nn_train_done(t)) {
		struct nn_epoch_log log;
		ck_assert_int_eq(nn_train_epoch(t, NULL, &log), NN_OK);
		ck_assert_uint_eq(log.metrics, opts.metrics);
		/* the training accuracy of the loss's own counter, over the same batches */
		ck_assert_double_eq_tol(log.metric_values[NN_METRIC_ACCURACY], log.metric, 1e-15);
		ck_assert_double_eq_tol(log.val_metric_values[NN_METRIC_ACCURACY], log.val_metric, 1e-15);
		for (int i = 0; i < NN_METRIC_COUNT; i++)
			ck_assert(isnan(log.metric_values[i]) == !(opts.metrics & NN_METRIC_BIT(i)));
		/* validation: the model as the epoch left it, through nn_evaluate_metrics */
		struct nn_data val = {x + (N - N / 4) * D, y + (N - N / 4), N / 4, D, 1};
		struct nn_eval ev;
		double v[NN_METRIC_COUNT];
		ck_assert_int_eq(nn_evaluate_metrics(m, &val, acc, &ev), NN_OK);
		nn_metrics_result(acc, v);
		ck_assert_double_eq(ev.loss, log.val_loss);
		for (int i = 0; i < NN_METRIC_COUNT; i++)
			if (opts.metrics & NN_METRIC_BIT(i))
				ck_assert_double_eq(v[i], log.val_metric_values[i]);
	}
	/* an accumulator smaller than the data is refused */
	struct nn_data all = {x, y, N, D, 1};
	struct nn_eval ev;
	ck_assert_int_eq(nn_evaluate_metrics(m, &all, acc, &ev), NN_EINVAL);
	nn_metrics_destroy(acc);
	nn_train_destroy(t);

	/* a metric that does not fit the loss: no trainer */
	opts.metrics = NN_METRIC_BIT(NN_METRIC_MAE);
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &opts, &st));
	ck_assert_int_eq(st, NN_EINVAL);
	nn_model_destroy(m);
}
END_TEST

Suite *suite_nn_metric(void)
{
	Suite *s = suite_create("nn_metric");
	TCase *tc = tcase_create("metrics");
	tcase_add_loop_test(tc, test_matches_sklearn, 0, (int)(sizeof metric_cases / sizeof metric_cases[0]));
	tcase_add_test(tc, test_auc_by_hand);
	tcase_add_test(tc, test_fits_and_create_errors);
	tcase_add_test(tc, test_epoch_metrics);
	suite_add_tcase(s, tc);
	return s;
}
