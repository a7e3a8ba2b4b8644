/*
 * kernels.h — which BLAS kernels fitd runs, chosen by the CPU's features
 * before the BLAS does its own, older-table detection (see kernels.c).
 */
#ifndef FITD_KERNELS_H
#define FITD_KERNELS_H

#include <stddef.h>

/* Call first in main(), before any thread starts. When OPENBLAS_CORETYPE is
 * unset and OpenBLAS picked an older kernel set than the CPU supports (it
 * knows CPUs by model, and a newer model than its table gets its oldest
 * kernels), re-executes the program (same pid, same argv) with
 * OPENBLAS_CORETYPE set to the best set; returns only when no re-execution
 * is needed or it failed. A user's own OPENBLAS_CORETYPE always wins. */
void kernels_choose(char **argv);

/* The decision alone, pure: user is OPENBLAS_CORETYPE (NULL when unset),
 * ours the reason an earlier kernels_choose left for its re-executed self
 * (NULL when none), picked OpenBLAS's kernels, best and features what
 * nn_blas_best_kernels says. Writes why into why[size]; returns the kernel
 * set to re-execute with, or NULL to run on as is. */
const char *kernels_decide(const char *user, const char *ours, const char *picked, const char *best,
			   const char *features, char *why, size_t size);

/* The kernel set in use (e.g. "SkylakeX") and why it was chosen (a static
 * sentence, e.g. "OpenBLAS picked Prescott; the CPU has AVX-512 F/BW/DQ/VL").
 * Valid after kernels_choose; never NULL. */
const char *kernels_name(void);
const char *kernels_reason(void);

#endif
