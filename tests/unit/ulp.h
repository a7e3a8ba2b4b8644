/*
 * ulp.h — float32 tolerances for the unit tests: two values agree when they
 * are within n units in the last place of float32 at the larger magnitude.
 * That is what float32 arithmetic justifies whatever the BLAS kernels or
 * vector width: each rounding moves a result by at most half an ulp, so a
 * tolerance of n ulps admits about 2n roundings of difference.
 */
#ifndef FITD_TEST_ULP_H
#define FITD_TEST_ULP_H

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>

static inline bool ulp_near(double a, double b, double n)
{
	double scale = fmax(fabs(a), fabs(b));
	double ulp = scale >= FLT_MIN ? scale * FLT_EPSILON : FLT_TRUE_MIN;
	return fabs(a - b) <= n * ulp;
}

#define ck_assert_ulps(a, b, n)                                                                    \
	ck_assert_msg(ulp_near((a), (b), (n)), "%s = %.9g and %s = %.9g are more than %g float32 ulps apart", \
		      #a, (double)(a), #b, (double)(b), (double)(n))

#endif
