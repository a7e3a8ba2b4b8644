/*
 * test_nn_split.c — core/nn_train.c's validation splits: the tail rule
 * stays Keras's; random and stratified ones take as many rows as the tail
 * would, each row exactly once in either part, the validation rows copied
 * unchanged; stratified quotas by the largest remainder (hand-computed);
 * the same seed gives the same split and the same weights, another seed
 * another split; stratified refused for regression.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn_internal.h"

Suite *suite_nn_split(void);

enum { MAXN = 200 };

/* Rows whose first feature is the row number and second its class. */
static void data_by_class(float *x, float *y, const uint32_t *sizes, uint32_t k, size_t *n)
{
	*n = 0;
	for (uint32_t c = 0; c < k; c++) {
		for (uint32_t i = 0; i < sizes[c]; i++, (*n)++) {
			x[*n * 2] = (float)*n;
			x[*n * 2 + 1] = (float)c;
			y[*n] = (float)c;
		}
	}
}

static struct nn_model *classifier(uint32_t k)
{
	struct nn_model_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.input_dim = 2;
	spec.n_layers = 2;
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], k, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	struct nn_model *m = nn_model_create(&spec);
	struct nn_rng rng;
	nn_rng_seed(&rng, 1);
	nn_model_init(m, &rng);
	return m;
}

/* Checks the partition and returns the validation count of each class in per_class. */
static void check_partition(const struct nn_train *t, const struct nn_data *d, uint32_t *per_class, uint32_t k)
{
	const struct nn_data *val = nn_train_val_view(t);
	const size_t *rows = nn_train_rows(t);
	uint8_t seen[MAXN] = {0};
	ck_assert_ptr_nonnull(rows);
	memset(per_class, 0, k * sizeof *per_class);
	ck_assert_uint_eq(nn_train_n_train(t) + val->n, d->n);
	for (size_t i = 0; i < nn_train_n_train(t); i++) {
		ck_assert_uint_lt(rows[i], d->n);
		if (i)
			ck_assert_uint_gt(rows[i], rows[i - 1]); /* data order */
		seen[rows[i]]++;
	}
	for (size_t i = 0; i < val->n; i++) {
		size_t r = (size_t)val->x[i * 2];
		ck_assert_uint_lt(r, d->n);
		/* a faithful copy of row r */
		ck_assert(memcmp(val->x + i * 2, d->x + r * 2, 2 * sizeof(float)) == 0);
		ck_assert(val->y[i] == d->y[r]);
		if (i)
			ck_assert_float_gt(val->x[i * 2], val->x[(i - 1) * 2]);
		seen[r]++;
		per_class[(uint32_t)val->y[i]]++;
	}
	for (size_t r = 0; r < d->n; r++)
		ck_assert_msg(seen[r] == 1, "row %zu is in %u parts", r, seen[r]);
}

START_TEST(test_stratified_quotas)
{
	/* sizes 7, 13, 30 (n 50), split 0.3: 50 - floor(35) = 15 validation rows;
	 * 15 * n_c / 50 = 2.1, 3.9, 9.0 -> floors 2, 3, 9 (14), the one left to
	 * the largest remainder (3.9) -> 2, 4, 9 */
	static const uint32_t sizes[3] = {7, 13, 30};
	float x[MAXN * 2], y[MAXN];
	size_t n;
	data_by_class(x, y, sizes, 3, &n);
	struct nn_model *m = classifier(3);
	struct nn_data d = {x, y, n, 2, 1};
	struct nn_fit_opts o = {.epochs = 1, .batch_size = 8, .seed = 9, .validation_split = 0.3,
				.split = NN_SPLIT_STRATIFIED};
	struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_ptr_nonnull(t);
	uint32_t per[3];
	check_partition(t, &d, per, 3);
	ck_assert_uint_eq(nn_train_n_val(t), 15);
	ck_assert_uint_eq(per[0], 2);
	ck_assert_uint_eq(per[1], 4);
	ck_assert_uint_eq(per[2], 9);
	nn_train_destroy(t);

	/* sorted iris: 3 x 50, split 0.2 -> 10 of each (the tail would take 30 of class 2) */
	static const uint32_t iris[3] = {50, 50, 50};
	data_by_class(x, y, iris, 3, &n);
	d.n = n;
	o.validation_split = 0.2;
	t = nn_train_create(m, &d, NULL, &o, NULL);
	check_partition(t, &d, per, 3);
	ck_assert(per[0] == 10 && per[1] == 10 && per[2] == 10);
	nn_train_destroy(t);
	o.split = NN_SPLIT_TAIL;
	t = nn_train_create(m, &d, NULL, &o, NULL);
	ck_assert_ptr_null(nn_train_rows(t));
	ck_assert(nn_train_val_view(t)->x == x + 120 * 2); /* Keras's tail, in place */
	nn_train_destroy(t);
	nn_model_destroy(m);
}
END_TEST

START_TEST(test_random_split_seeded)
{
	static const uint32_t sizes[2] = {60, 40};
	float x[MAXN * 2], y[MAXN];
	size_t n;
	data_by_class(x, y, sizes, 2, &n);
	struct nn_data d = {x, y, n, 2, 1};
	struct nn_fit_opts o = {.epochs = 3, .batch_size = 16, .shuffle = true, .seed = 4, .validation_split = 0.25,
				.split = NN_SPLIT_RANDOM};
	float *weights[2];
	size_t val_rows[2][25];
	for (int run = 0; run < 2; run++) {
		struct nn_model *m = classifier(2);
		struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
		ck_assert_ptr_nonnull(t);
		uint32_t per[2];
		check_partition(t, &d, per, 2);
		ck_assert_uint_eq(nn_train_n_val(t), 25);
		for (size_t i = 0; i < 25; i++)
			val_rows[run][i] = (size_t)nn_train_val_view(t)->x[i * 2];
		while (!nn_train_done(t))
			ck_assert_int_eq(nn_train_epoch(t, NULL, NULL), NN_OK);
		weights[run] = malloc(nn_model_n_params(m) * sizeof(float));
		memcpy(weights[run], nn_model_params_const(m), nn_model_n_params(m) * sizeof(float));
		nn_train_destroy(t);
		if (run == 1)
			ck_assert(memcmp(weights[0], weights[1], nn_model_n_params(m) * sizeof(float)) == 0);
		nn_model_destroy(m);
	}
	ck_assert(memcmp(val_rows[0], val_rows[1], sizeof val_rows[0]) == 0);
	/* not the tail */
	ck_assert_uint_lt(val_rows[0][0], 75);
	free(weights[0]);
	free(weights[1]);

	/* another seed, another split */
	o.seed = 5;
	struct nn_model *m = classifier(2);
	struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
	size_t other[25];
	for (size_t i = 0; i < 25; i++)
		other[i] = (size_t)nn_train_val_view(t)->x[i * 2];
	ck_assert(memcmp(val_rows[0], other, sizeof other) != 0);
	nn_train_destroy(t);

	/* stratified needs classes; a bad mode is refused */
	struct nn_model_spec reg;
	memset(&reg, 0, sizeof reg);
	reg.input_dim = 2;
	reg.n_layers = 1;
	nn_dense_defaults(&reg.layers[0], 1, NN_ACT_LINEAR);
	reg.loss.kind = NN_LOSS_MSE;
	nn_opt_defaults(NN_OPT_SGD, &reg.opt);
	struct nn_model *r = nn_model_create(&reg);
	int st = 0;
	o.split = NN_SPLIT_STRATIFIED;
	ck_assert_ptr_null(nn_train_create(r, &d, NULL, &o, &st));
	ck_assert_int_eq(st, NN_EINVAL);
	o.split = NN_SPLIT_RANDOM;
	t = nn_train_create(r, &d, NULL, &o, &st);
	ck_assert_ptr_nonnull(t);
	nn_train_destroy(t);
	o.split = NN_SPLIT_COUNT;
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &o, &st));
	nn_model_destroy(r);
	nn_model_destroy(m);
}
END_TEST

/* nn_split_val_rows marks, before any trainer exists, exactly the rows the
 * trainer then validates on: the complement of nn_train_rows (random,
 * stratified) or the tail; refuses what nn_train_create refuses. */
START_TEST(test_split_val_rows_match_the_trainer)
{
	static const uint32_t sizes[3] = {7, 13, 30};
	float x[MAXN * 2], y[MAXN];
	size_t n;
	data_by_class(x, y, sizes, 3, &n);
	struct nn_model *m = classifier(3);
	struct nn_data d = {x, y, n, 2, 1};
	enum nn_split modes[3] = {NN_SPLIT_TAIL, NN_SPLIT_RANDOM, NN_SPLIT_STRATIFIED};
	uint8_t is_val[MAXN];
	for (int i = 0; i < 3; i++) {
		for (uint64_t seed = 1; seed < 6; seed++) {
			struct nn_fit_opts o = {.epochs = 1, .batch_size = 8, .seed = seed, .validation_split = 0.3,
						.split = modes[i]};
			ck_assert_int_eq(nn_split_val_rows(&m->spec, &d, &o, is_val), NN_OK);
			struct nn_train *t = nn_train_create(m, &d, NULL, &o, NULL);
			ck_assert_ptr_nonnull(t);
			uint8_t want[MAXN];
			memset(want, 1, n);
			const size_t *rows = nn_train_rows(t);
			for (size_t k = 0; k < nn_train_n_train(t); k++)
				want[rows ? rows[k] : k] = 0;
			ck_assert_msg(memcmp(is_val, want, n) == 0, "split %d, seed %llu", i, (unsigned long long)seed);
			nn_train_destroy(t);
		}
	}
	/* no split: every row trains */
	struct nn_fit_opts none = {.epochs = 1, .batch_size = 8, .seed = 1};
	memset(is_val, 7, sizeof is_val);
	ck_assert_int_eq(nn_split_val_rows(&m->spec, &d, &none, is_val), NN_OK);
	for (size_t r = 0; r < n; r++)
		ck_assert_uint_eq(is_val[r], 0);
	/* a split that leaves nothing to validate on */
	struct nn_fit_opts tiny = {.epochs = 1, .batch_size = 8, .seed = 1, .validation_split = 1e-17,
				   .split = NN_SPLIT_RANDOM};
	ck_assert_int_eq(nn_split_val_rows(&m->spec, &d, &tiny, is_val), NN_EINVAL);
	ck_assert_ptr_null(nn_train_create(m, &d, NULL, &tiny, NULL));
	nn_model_destroy(m);
}
END_TEST

Suite *suite_nn_split(void)
{
	Suite *s = suite_create("nn_split");
	TCase *tc = tcase_create("split");
	tcase_add_test(tc, test_stratified_quotas);
	tcase_add_test(tc, test_random_split_seeded);
	tcase_add_test(tc, test_split_val_rows_match_the_trainer);
	suite_add_tcase(s, tc);
	return s;
}
