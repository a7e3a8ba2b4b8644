/*
 * kernels.c — choose the BLAS kernels by the CPU's feature bits.
 *
 * DESIGN
 * Debian 12's OpenBLAS 0.3.21 picks its kernels from a table of CPU models
 * when the library loads; a CPU newer than the table (a Sapphire Rapids
 * Xeon, say) gets the Prescott (SSE3) kernels, five times slower than its
 * AVX-512 ones. The choice is made in the library's constructor, before
 * main() runs, and read from OPENBLAS_CORETYPE only then. So main() asks
 * which set was picked and which the CPU supports (nn_blas_best_kernels:
 * AVX-512 F/BW/DQ/VL, AVX2 + FMA, AVX), and when the pick is older, sets
 * OPENBLAS_CORETYPE and executes itself again: same pid, same arguments, a
 * few milliseconds at start. FITD_KERNELS_REASON carries the reason across
 * the exec, and marks the variable as fitd's own rather than the user's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/nn.h"
#include "server/kernels.h"

#define REASON_ENV "FITD_KERNELS_REASON"

static char reason[256] = "not chosen yet";

const char *kernels_decide(const char *user, const char *ours, const char *picked, const char *best,
			   const char *features, char *why, size_t size)
{
	if (user && ours) {
		if (strcasecmp(picked, user) == 0)
			snprintf(why, size, "%s", ours);
		else
			snprintf(why, size, "OpenBLAS does not know %s: it runs %s", user, picked);
		return NULL;
	}
	if (user) {
		snprintf(why, size, "OPENBLAS_CORETYPE=%s set in the environment", user);
		return NULL;
	}
	if (!best || nn_blas_kernels_rank(picked) >= nn_blas_kernels_rank(best)) {
		snprintf(why, size, "OpenBLAS's own choice; the CPU has %s", features);
		return NULL;
	}
	snprintf(why, size, "OpenBLAS picked %s; the CPU has %s", picked, features);
	return best;
}

void kernels_choose(char **argv)
{
	const char *features, *best = nn_blas_best_kernels(&features);
	const char *want = kernels_decide(getenv("OPENBLAS_CORETYPE"), getenv(REASON_ENV), nn_blas_kernels(), best,
					  features, reason, sizeof reason);

	unsetenv(REASON_ENV);
	if (!want)
		return;
	if (setenv("OPENBLAS_CORETYPE", want, 1) == 0 && setenv(REASON_ENV, reason, 1) == 0)
		execv("/proc/self/exe", argv);
	/* exec failed: run on with OpenBLAS's pick, and say so */
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv(REASON_ENV);
	snprintf(reason, sizeof reason, "OpenBLAS picked %s; %s would suit the CPU (%s) but re-executing failed",
		 nn_blas_kernels(), want, features);
}

const char *kernels_name(void)
{
	return nn_blas_kernels();
}

const char *kernels_reason(void)
{
	return reason;
}
