/*
 * Seeded pseudo-random numbers (xorshift64*): one state per user, so runs
 * with the same seed= make the same choices per CPU.
 */
#ifndef KERNEL_PRNG_H
#define KERNEL_PRNG_H

#include <stdint.h>

struct prng {
	uint64_t s;
};

extern uint64_t global_seed;	/* (c) the seed= option or the boot TSC */

/* Mix seed and a stream number (CPU, test) into a state; never zero. */
static inline void prng_init(struct prng *p, uint64_t seed, uint64_t stream)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	p->s = (z ^ (z >> 31)) | 1;
}

static inline uint64_t prng_next(struct prng *p)
{
	uint64_t x = p->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n). */
static inline uint64_t prng_below(struct prng *p, uint64_t n)
{
	return (uint64_t)(((__uint128_t)prng_next(p) * n) >> 64);
}

#endif
