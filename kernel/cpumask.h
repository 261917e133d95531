/*
 * Sets of CPUs (by CPU index, not APIC ID). Bit operations are atomic so
 * masks shared between CPUs (mm_cpumask) can be changed concurrently.
 */
#ifndef KERNEL_CPUMASK_H
#define KERNEL_CPUMASK_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/atomic.h"

#define MAX_CPUS 512

struct cpumask {
	uint64_t bits[MAX_CPUS / 64];
};

static inline void cpumask_set(struct cpumask *m, unsigned int cpu)
{
	atomic_fetch_or(&m->bits[cpu / 64], 1ull << (cpu % 64));
}
static inline void cpumask_clear_cpu(struct cpumask *m, unsigned int cpu)
{
	atomic_fetch_and(&m->bits[cpu / 64], ~(1ull << (cpu % 64)));
}
static inline bool cpumask_test(const struct cpumask *m, unsigned int cpu)
{
	return load_relaxed(&m->bits[cpu / 64]) & (1ull << (cpu % 64));
}
static inline void cpumask_zero(struct cpumask *m)
{
	for (unsigned int i = 0; i < MAX_CPUS / 64; i++)
		store_relaxed(&m->bits[i], 0);
}
/* Open-coded: __builtin_popcountll would call libgcc (no POPCNT assumed). */
static inline unsigned int popcount64(uint64_t w)
{
	unsigned int n = 0;
	for (; w; w &= w - 1)
		n++;
	return n;
}
static inline unsigned int cpumask_weight(const struct cpumask *m)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < MAX_CPUS / 64; i++)
		n += popcount64(load_relaxed(&m->bits[i]));
	return n;
}
/* First set bit at or after cpu, or MAX_CPUS. */
static inline unsigned int cpumask_next(const struct cpumask *m, unsigned int cpu)
{
	while (cpu < MAX_CPUS) {
		uint64_t w = load_relaxed(&m->bits[cpu / 64]) >> (cpu % 64);
		if (w)
			return cpu + __builtin_ctzll(w);
		cpu = (cpu / 64 + 1) * 64;
	}
	return MAX_CPUS;
}
#define for_each_cpu_in(cpu, mask) \
	for ((cpu) = cpumask_next((mask), 0); (cpu) < MAX_CPUS; (cpu) = cpumask_next((mask), (cpu) + 1))

#endif
