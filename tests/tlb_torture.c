/*
 * Suite "tlb_torture": every CPU maps, zaps and unmaps its own ranges
 * (the phases of tests/trange.h) and reads everyone else's: shootdowns
 * in every direction, ranged and full (range sizes straddle
 * tlb_ceiling), with madvise and mprotect mixed in.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/string.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/tlb.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"
#include "tests/trange.h"

#define TLB_RANGES_PER_WORKER 2

/* Protection: (c) set before the workers start, (o) each CPU its own slot. */
static struct {
	struct torture t;
	struct trange r[TORTURE_MAX_WORKERS * TLB_RANGES_PER_WORKER];
	unsigned int nranges;		/* (c) */
	unsigned long steps[TORTURE_MAX_WORKERS], reads[TORTURE_MAX_WORKERS];	/* (o) each worker its own */
	unsigned long mprotects[TORTURE_MAX_WORKERS];				/* (o) */
} tt;

/* Owner of t: one step of its range, or now and then an mprotect pair. */
static void owner_step(struct trange *t, struct prng *rng)
{
	unsigned int me = torture_me();
	uint64_t s = load_relaxed(&t->state);

	if (PH(s) == PH_LIVE && prng_below(rng, 4) == 0) {
		/* Read-only and back: reads stay valid, and each
		 * mprotect is one more shootdown to all. */
		vm_mprotect(tt.t.mm, t->addr, t->npages * PAGE_SIZE, PROT_READ);
		vm_mprotect(tt.t.mm, t->addr, t->npages * PAGE_SIZE, PROT_READ | PROT_WRITE);
		tt.mprotects[me]++;
	} else {
		range_step(tt.t.mm, t, rng);
		tt.steps[me]++;
	}
}

static void tlb_worker(void *arg)
{
	unsigned int me = torture_me();
	struct prng rng;

	(void)arg;
	torture_worker_start(&tt.t, &rng, 9000);
	while (torture_running(&tt.t)) {
		unsigned int k = prng_below(&rng, tt.nranges);
		struct trange *t = &tt.r[k];
		if (t->owner == me) {
			owner_step(t, &rng);
		} else {
			range_check_read(t, prng_below(&rng, t->npages), "tlb_torture");
			tt.reads[me]++;
		}
	}
}

/* TLB_RANGES_PER_WORKER ranges per worker, a guard page after each. */
static void init_ranges(void)
{
	static const unsigned int sizes[] = { 1, 8, 64 };
	uintptr_t addr = MMAP_BASE;
	unsigned int c, n = 0;

	for (c = 0; c < torture_workers(&tt.t); c++) {
		for (int k = 0; k < TLB_RANGES_PER_WORKER; k++, n++) {
			range_init(&tt.r[n], addr, sizes[n % 3], c);
			addr += (tt.r[n].npages + 1) * PAGE_SIZE;
		}
	}
	tt.nranges = n;
	torture_speculate(&tt.t, MMAP_BASE, addr - MMAP_BASE);
}

static void tlb_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 1, .mm = TORTURE_OWN_MM };
	struct tlb_stats t0, t1;
	unsigned long steps = 0, reads = 0, mprotects = 0;
	unsigned int c;

	memset(&tt, 0, sizeof(tt));
	if (!torture_begin(&tt.t, &needs))
		return;
	init_ranges();
	tlb_stats_get(&t0);
	spf_delays_on(tt.t.mm, SPF_DELAYS_RANDOM);
	torture_run(&tt.t, tlb_worker, NULL);
	spf_delays_off();
	tlb_stats_get(&t1);
	for (c = 0; c < torture_workers(&tt.t); c++) {
		steps += tt.steps[c];
		reads += tt.reads[c];
		mprotects += tt.mprotects[c];
	}
	ktap_diag("%lu range steps, %lu mprotect pairs, %lu classified reads; %llu shootdowns "
		  "(%llu ranged, %llu full), %llu remote requests by %s, %llu served in an NMI", steps, mprotects, reads,
		  (unsigned long long)(t1.shootdowns - t0.shootdowns),
		  (unsigned long long)(t1.ranged - t0.ranged), (unsigned long long)(t1.full - t0.full),
		  (unsigned long long)(t1.ipis_sent - t0.ipis_sent), tlb_flush_mode == TLB_FLUSH_NMI ? "NMI" : "IPI",
		  (unsigned long long)(t1.nmi_flushes - t0.nmi_flushes));
	TORTURE_EXPECT_WORK(&tt.t, steps > 10 && (nr_cpus_online == 1 || reads > 100),
			    "too little done: %lu steps, %lu reads", steps, reads);
	torture_end(&tt.t);
}

static const struct ktap_case tlb_torture_cases[] = { { "torture", tlb_torture_run } };
KTAP_SUITE(tlb_torture, tlb_torture_cases);
