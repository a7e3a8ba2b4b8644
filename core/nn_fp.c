/*
 * nn_fp.c — the floating-point mode the core computes in: flush-to-zero and
 * denormals-are-zero, set per thread on entry and restored on return.
 *
 * Subnormal floats (below 1.2e-38) take a microcode assist on x86: each
 * operation on one costs up to a hundred cycles. Training drives gradients
 * and Adam's second moments there once the loss is small, and a long run
 * slows to half speed. TensorFlow's CPU kernels run with both flags set;
 * PyTorch offers torch.set_flush_denormal(True). Flushing changes no value
 * above the subnormal range.
 */
#include "nn_internal.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>

/* MXCSR bit 15: flush-to-zero (results); bit 6: denormals-are-zero (inputs). */
#define MXCSR_FTZ_DAZ 0x8040u

unsigned nn_fp_enter(void)
{
	unsigned saved = _mm_getcsr();

	if ((saved & MXCSR_FTZ_DAZ) != MXCSR_FTZ_DAZ)
		_mm_setcsr(saved | MXCSR_FTZ_DAZ);
	return saved;
}

void nn_fp_leave(unsigned saved)
{
	if (_mm_getcsr() != saved)
		_mm_setcsr(saved);
}
#else
unsigned nn_fp_enter(void)
{
	return 0;
}

void nn_fp_leave(unsigned saved)
{
	(void)saved;
}
#endif
