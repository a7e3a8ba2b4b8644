/*
 * test_api_prep.c — api/api_prep.c: the preprocessing a model carries,
 * against values worked out by hand: means over the training rows only,
 * categories the training rows hold, one-hot by text across datasets that
 * number their categories differently, unseen and missing as zeros, the
 * JSON form read back to the same numbers.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

Suite *suite_api_prep(void);

/* Feature columns a (numeric), c (categorical: red, green, blue), then the label. */
static const char train_cols[] =
	"[{\"name\":\"a\",\"role\":\"feature\",\"kind\":\"numeric\"},"
	"{\"name\":\"c\",\"role\":\"feature\",\"kind\":\"categorical\",\"categories\":"
	"[{\"value\":\"red\",\"count\":2},{\"value\":\"green\",\"count\":1},{\"value\":\"blue\",\"count\":1}]},"
	"{\"name\":\"y\",\"role\":\"label\",\"kind\":\"numeric\"}]";

START_TEST(test_build_apply_roundtrip)
{
	/* rows: (1, red) (NaN, green) (4, red) | tail, not training: (100, blue) */
	const float x[] = {1, 0, NAN, 1, 4, 0, 100, 2};
	struct api_prep p, back;
	struct api_err err = {0};
	float out[4 * 3];
	char *text, *again;

	ck_assert_int_eq(api_prep_build(train_cols, x, 3, NULL, 2, &p, &err), 0);
	ck_assert_uint_eq(p.n_cols, 2);
	ck_assert(!p.cols[0].categorical);
	ck_assert(p.cols[0].mean == 2.5); /* (1 + 4) / 2: the tail's 100 and the NaN are not in it */
	ck_assert(p.cols[1].categorical);
	ck_assert_uint_eq(p.cols[1].n_cats, 2); /* blue appears only in the tail */
	ck_assert_str_eq(p.cols[1].cats[0], "red");
	ck_assert_str_eq(p.cols[1].cats[1], "green");
	ck_assert_uint_eq(p.width, 3);

	ck_assert_int_eq(api_prep_apply(&p, train_cols, x, 4, 2, out, &err), 0);
	{
		const float want[] = {1, 1, 0, 2.5f, 0, 1, 4, 1, 0, 100, 0, 0}; /* blue: unseen, zeros */

		for (int i = 0; i < 12; i++)
			ck_assert_msg(out[i] == want[i], "out[%d] = %g, want %g", i, (double)out[i], (double)want[i]);
	}
	text = api_prep_encode(&p);
	ck_assert_str_eq(text, "{\"columns\":[{\"name\":\"a\",\"kind\":\"numeric\",\"impute\":2.5},"
			       "{\"name\":\"c\",\"kind\":\"categorical\",\"categories\":[\"red\",\"green\"]}],\"width\":3}");
	ck_assert_int_eq(api_prep_decode(text, &back, &err), 0);
	again = api_prep_encode(&back);
	ck_assert_str_eq(again, text);
	free(again);
	free(text);
	api_prep_free(&back);

	/* another dataset numbers its categories otherwise: green 0, red 1; a missing one is zeros */
	{
		static const char other[] =
			"[{\"name\":\"a\",\"role\":\"feature\",\"kind\":\"numeric\"},"
			"{\"name\":\"c\",\"role\":\"feature\",\"kind\":\"categorical\",\"categories\":"
			"[{\"value\":\"green\",\"count\":1},{\"value\":\"red\",\"count\":1}]},"
			"{\"name\":\"y\",\"role\":\"label\",\"kind\":\"numeric\"}]";
		const float ox[] = {7, 0, 8, 1, 9, NAN};
		const float want[] = {7, 0, 1, 8, 1, 0, 9, 0, 0};

		ck_assert_int_eq(api_prep_apply(&p, other, ox, 3, 2, out, &err), 0);
		for (int i = 0; i < 9; i++)
			ck_assert_msg(out[i] == want[i], "out[%d] = %g, want %g", i, (double)out[i], (double)want[i]);
	}
	/* other columns: refused, naming dataset_id */
	{
		static const char renamed[] = "[{\"name\":\"b\",\"role\":\"feature\",\"kind\":\"numeric\"},"
					      "{\"name\":\"c\",\"role\":\"feature\",\"kind\":\"categorical\",\"categories\":[]}]";

		ck_assert_int_eq(api_prep_apply(&p, renamed, x, 1, 2, out, &err), -1);
		ck_assert_int_eq(err.code, API_VALIDATION_FAILED);
		ck_assert_str_eq(err.field, "dataset_id");
		ck_assert_int_eq(api_prep_apply(&p, train_cols, x, 1, 3, out, &err), -1);
	}
	api_prep_free(&p);
	/* damaged or absent columns */
	ck_assert_int_eq(api_prep_build(NULL, x, 1, NULL, 2, &p, &err), -1);
	ck_assert_int_eq(api_prep_build("[{]", x, 1, NULL, 2, &p, &err), -1);
	ck_assert_int_eq(api_prep_decode("{}", &p, &err), -1);
	/* a column every training cell of which is missing imputes 0 */
	{
		const float nx[] = {NAN, 0};

		ck_assert_int_eq(api_prep_build(train_cols, nx, 1, NULL, 2, &p, &err), 0);
		ck_assert(p.cols[0].mean == 0);
		api_prep_free(&p);
	}
}
END_TEST

/* Predict rows by name through the preprocessing. */
START_TEST(test_instances_through_prep)
{
	static const char prep[] = "{\"columns\":[{\"name\":\"a\",\"kind\":\"numeric\",\"impute\":2.5},"
				   "{\"name\":\"c\",\"kind\":\"categorical\",\"categories\":[\"red\",\"green\"]}],\"width\":3}";
	static const char body[] =
		"{\"instances\": [{\"c\": \"green\", \"a\": 1}, {\"a\": null, \"c\": null}, {\"a\": 3, \"c\": \"pink\"}, [5, 1, 0]]}";
	const float want[] = {1, 0, 1, 2.5f, 0, 0, 3, 0, 0, 5, 1, 0};
	struct api_err err = {0};
	float *x;
	size_t n;

	ck_assert_int_eq(api_instances_decode_model(body, strlen(body), 3, NULL, prep, 10, &x, &n, &err), 0);
	ck_assert_uint_eq(n, 4);
	for (int i = 0; i < 12; i++)
		ck_assert_msg(x[i] == want[i], "x[%d] = %g, want %g", i, (double)x[i], (double)want[i]);
	free(x);
	{
		static const char bad1[] = "{\"instances\": [{\"a\": 1, \"c\": 2}]}";
		static const char bad2[] = "{\"instances\": [{\"a\": 1}]}";
		static const char bad3[] = "{\"instances\": [{\"a\": \"x\", \"c\": null}]}";

		ck_assert_int_eq(api_instances_decode_model(bad1, strlen(bad1), 3, NULL, prep, 10, &x, &n, &err), -1);
		ck_assert_str_eq(err.field, "instances[0].c");
		ck_assert_int_eq(api_instances_decode_model(bad2, strlen(bad2), 3, NULL, prep, 10, &x, &n, &err), -1);
		ck_assert_str_eq(err.field, "instances[0].c");
		ck_assert_int_eq(api_instances_decode_model(bad3, strlen(bad3), 3, NULL, prep, 10, &x, &n, &err), -1);
		ck_assert_str_eq(err.field, "instances[0].a");
	}
}
END_TEST

Suite *suite_api_prep(void)
{
	Suite *s = suite_create("api_prep");
	TCase *tc = tcase_create("prep");

	tcase_add_test(tc, test_build_apply_roundtrip);
	tcase_add_test(tc, test_instances_through_prep);
	suite_add_tcase(s, tc);
	return s;
}
