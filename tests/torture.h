/*
 * Shared by the torture suites: the time budget (duration=) and random
 * delays for widening race windows.
 */
#ifndef TESTS_TORTURE_H
#define TESTS_TORTURE_H

#include <stdint.h>
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/prng.h"

extern uint64_t torture_duration_s;	/* (c) duration= */

static inline uint64_t torture_end_tsc(void)
{
	return rdtsc() + ns_to_tsc(torture_duration_s * 1000000000ull);
}

/* A delay of up to max_ns, mostly short, now and then the whole range:
 * most iterations stay fast, a few hold a window open for long. */
static inline void torture_delay(struct prng *r, uint64_t max_ns)
{
	uint64_t x = prng_below(r, 100);

	if (x < 70)
		return;
	if (x < 97)
		ndelay(prng_below(r, max_ns / 100 + 1));
	else
		ndelay(prng_below(r, max_ns + 1));
}

#endif
