/*
 * Time: the TSC is the clock. Its rate comes from CPUID leaf 15h when
 * the CPU reports the crystal, else from leaf 16h (base frequency), else
 * from the PIT, else from the HPET; tsc_calib= forces one path so each is
 * testable. A CPUID rate is checked against the HPET (else the PIT) and
 * replaced by the measured one when they disagree (tsc_calib=auto only).
 * The kernel assumes the rate is constant (an invariant TSC, reported in
 * the log header).
 */
#ifndef ARCH_X86_TSC_H
#define ARCH_X86_TSC_H

#include <stdbool.h>
#include <stdint.h>

extern uint64_t tsc_khz;		/* (c) after tsc_init() */
extern const char *tsc_source;		/* (c) "cpuid15", "cpuid16", "pit", "hpet" */
extern char tsc_error[128];		/* (c) why tsc_init() failed */
extern char tsc_warning[160];		/* (c) "" or why the CPUID rate was not used */

/* Returns false, with the reason in tsc_error, if no method worked. */
bool tsc_init(void);

/* Conversions are a multiply and a shift (32.32 fixed point factors set
 * by tsc_init()): no division on hot paths, no libgcc. */
extern uint64_t tsc_ns_mult, ns_tsc_mult;
static inline uint64_t tsc_to_ns(uint64_t t)
{
	return (uint64_t)(((__uint128_t)t * tsc_ns_mult) >> 32);
}
static inline uint64_t ns_to_tsc(uint64_t ns)
{
	return (uint64_t)(((__uint128_t)ns * ns_tsc_mult) >> 32);
}
uint64_t now_ns(void);
void ndelay(uint64_t ns);
static inline void udelay(uint64_t us) { ndelay(us * 1000); }
static inline void mdelay(uint64_t ms) { ndelay(ms * 1000000); }

/* Read the HPET main counter and the TSC at (nearly) one instant; see
 * tsc.c. */
bool hpet_tsc_pair(volatile uint64_t *hpet, uint64_t slack, uint64_t *counter, uint64_t *tsc);

/* Measure the local APIC timer's input rate (after divide) in Hz. */
uint64_t apic_timer_calibrate(void);
/* Read the APIC timer's count between two TSC reads at most slack apart
 * (retried); the TSC at the read is their midpoint. False if never. */
bool apic_tsc_pair(uint64_t slack, uint32_t *count, uint64_t *tsc);

#endif
