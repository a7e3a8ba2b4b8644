/*
 * nn_rng.c — xoshiro256** (Blackman & Vigna) seeded through splitmix64.
 *
 * The state is the four words of struct nn_rng and nothing else (Box-Muller
 * keeps no cached second deviate), so copying the struct saves the stream.
 */
#include <math.h>

#include "nn.h"

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64: one step of the seeding generator. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void nn_rng_seed(struct nn_rng *rng, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

uint64_t nn_rng_next(struct nn_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double nn_rng_uniform(struct nn_rng *rng)
{
	return (double)(nn_rng_next(rng) >> 11) * 0x1.0p-53;
}

double nn_rng_normal(struct nn_rng *rng)
{
	/* 1 - u lies in (0, 1], so the logarithm is finite. */
	double u1 = 1.0 - nn_rng_uniform(rng);
	double u2 = nn_rng_uniform(rng);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t nn_rng_below(struct nn_rng *rng, uint64_t bound)
{
	/* Lemire's multiply-shift with rejection of the biased low products. */
	if (bound <= 1)
		return 0;
	unsigned __int128 product = (unsigned __int128)nn_rng_next(rng) * bound;
	uint64_t low = (uint64_t)product;
	if (low < bound) {
		uint64_t threshold = -bound % bound;
		while (low < threshold) {
			product = (unsigned __int128)nn_rng_next(rng) * bound;
			low = (uint64_t)product;
		}
	}
	return (uint64_t)(product >> 64);
}
