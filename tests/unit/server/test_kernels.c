/*
 * test_kernels.c — server/kernels.c and the core's kernel names: the choice
 * by CPU features against /proc/cpuinfo's flags (read independently here),
 * and every branch of the decision to re-execute.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn.h"
#include "server/kernels.h"

Suite *suite_kernels(void);

/* Is flag among the first "flags" line of /proc/cpuinfo? */
static bool cpu_flag(const char *flags, const char *flag)
{
	size_t len = strlen(flag);
	for (const char *p = flags; (p = strstr(p, flag)); p += len)
		if ((p == flags || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

START_TEST(test_best_matches_cpuinfo)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	ck_assert_ptr_nonnull(f);
	char line[8192], flags[8192] = "", vendor[64] = "";
	while (fgets(line, sizeof line, f)) {
		if (!flags[0] && strncmp(line, "flags", 5) == 0)
			snprintf(flags, sizeof flags, "%s", strchr(line, ':') + 1);
		if (!vendor[0] && strncmp(line, "vendor_id", 9) == 0)
			sscanf(strchr(line, ':') + 1, "%63s", vendor);
	}
	fclose(f);
	ck_assert(flags[0] != '\0');
	const char *expect = NULL;
	if (cpu_flag(flags, "avx512f") && cpu_flag(flags, "avx512bw") && cpu_flag(flags, "avx512dq") &&
	    cpu_flag(flags, "avx512vl"))
		expect = cpu_flag(flags, "avx512_bf16") ? "Cooperlake" : "SkylakeX";
	else if (cpu_flag(flags, "avx2") && cpu_flag(flags, "fma"))
		expect = strcmp(vendor, "AuthenticAMD") == 0 ? "Zen" : "Haswell";
	else if (cpu_flag(flags, "avx"))
		expect = "Sandybridge";
	const char *features = NULL, *best = nn_blas_best_kernels(&features);
	ck_assert_ptr_nonnull(features);
	if (expect)
		ck_assert_str_eq(best, expect);
	else
		ck_assert_ptr_null(best);
	/* the kernels running are never worse than the best, unless the user
	 * (or the machine's environment) chose them */
	if (!getenv("OPENBLAS_CORETYPE") && best)
		ck_assert_int_ge(nn_blas_kernels_rank(nn_blas_kernels()), nn_blas_kernels_rank(best));
}
END_TEST

START_TEST(test_ranks)
{
	ck_assert_int_eq(nn_blas_kernels_rank("SkylakeX"), 4);
	ck_assert_int_eq(nn_blas_kernels_rank("COOPERLAKE"), 4);
	ck_assert_int_eq(nn_blas_kernels_rank("Haswell"), 3);
	ck_assert_int_eq(nn_blas_kernels_rank("Zen"), 3);
	ck_assert_int_eq(nn_blas_kernels_rank("Sandybridge"), 2);
	ck_assert_int_eq(nn_blas_kernels_rank("Prescott"), 1);
	ck_assert_int_eq(nn_blas_kernels_rank("Nehalem"), 1);
	ck_assert_int_eq(nn_blas_kernels_rank(NULL), 1);
}
END_TEST

START_TEST(test_decide)
{
	char why[256];
	/* a newer CPU than OpenBLAS's table: Prescott picked, AVX-512 present */
	ck_assert_str_eq(kernels_decide(NULL, NULL, "Prescott", "SkylakeX", "AVX-512 F/BW/DQ/VL", why, sizeof why),
			 "SkylakeX");
	ck_assert_str_eq(why, "OpenBLAS picked Prescott; the CPU has AVX-512 F/BW/DQ/VL");
	ck_assert_str_eq(kernels_decide(NULL, NULL, "Sandybridge", "Zen", "AVX2 and FMA", why, sizeof why), "Zen");
	/* OpenBLAS's pick as good as the best (or better): run on */
	ck_assert_ptr_null(kernels_decide(NULL, NULL, "Cooperlake", "SkylakeX", "AVX-512 F/BW/DQ/VL", why, sizeof why));
	ck_assert_str_eq(why, "OpenBLAS's own choice; the CPU has AVX-512 F/BW/DQ/VL");
	ck_assert_ptr_null(kernels_decide(NULL, NULL, "Prescott", NULL, "no AVX", why, sizeof why));
	/* the user's OPENBLAS_CORETYPE always wins, even when older */
	ck_assert_ptr_null(kernels_decide("Prescott", NULL, "Prescott", "SkylakeX", "AVX-512", why, sizeof why));
	ck_assert_str_eq(why, "OPENBLAS_CORETYPE=Prescott set in the environment");
	/* after fitd's own re-execution: the reason it carried */
	ck_assert_ptr_null(kernels_decide("SkylakeX", "OpenBLAS picked Prescott; the CPU has AVX-512", "SkylakeX",
					  "SkylakeX", "AVX-512", why, sizeof why));
	ck_assert_str_eq(why, "OpenBLAS picked Prescott; the CPU has AVX-512");
	/* ... unless OpenBLAS did not take the name */
	ck_assert_ptr_null(kernels_decide("Bogus", "x", "Prescott", "SkylakeX", "AVX-512", why, sizeof why));
	ck_assert_str_eq(why, "OpenBLAS does not know Bogus: it runs Prescott");
}
END_TEST

START_TEST(test_chosen)
{
	/* the runner called kernels_choose at start */
	ck_assert_str_eq(kernels_name(), nn_blas_kernels());
	ck_assert(strcmp(kernels_reason(), "not chosen yet") != 0);
	ck_assert_ptr_null(getenv("FITD_KERNELS_REASON"));
}
END_TEST

Suite *suite_kernels(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc = tcase_create("kernels");
	tcase_add_test(tc, test_best_matches_cpuinfo);
	tcase_add_test(tc, test_ranks);
	tcase_add_test(tc, test_decide);
	tcase_add_test(tc, test_chosen);
	suite_add_tcase(s, tc);
	return s;
}
