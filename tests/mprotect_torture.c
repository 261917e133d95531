/*
 * Suite "mprotect_torture": after a downgrade returns, no CPU may write.
 *
 * One CPU flips a region between read-write and read-only with
 * mprotect(), publishing each phase; every other CPU keeps writing to it
 * and classifies each write by the phases around it. A write that
 * succeeds while the region has been read-only throughout went through a
 * stale TLB entry (stale_tlb); one that faults while it has been
 * writable throughout is lost_mapping.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "tests/ktap.h"
#include "tests/torture.h"

#define MPROT_PAGES 16
enum { MP_RW, MP_TO_RO, MP_RO, MP_TO_RW };

/* Protection: (c) set before the workers start, (a) atomic, (f) the
 * flipping worker only, (o) each worker its own slot. */
static struct {
	struct torture t;
	uintptr_t addr;			/* (c) */
	uint64_t state;			/* (a) gen * 4 + MP_*: release by the flipper, acquire by writers */
	unsigned long flips;		/* (f) */
	unsigned long writes[TORTURE_MAX_WORKERS];	/* (o) */
} mt;

static void flipper(struct prng *rng)
{
	uint64_t g = 0;

	while (torture_running(&mt.t)) {
		torture_delay(rng, 300000);
		store_release(&mt.state, g * 4 + MP_TO_RO);
		vm_mprotect(mt.t.mm, mt.addr, MPROT_PAGES * PAGE_SIZE, PROT_READ);
		store_release(&mt.state, g * 4 + MP_RO);
		torture_delay(rng, 300000);
		store_release(&mt.state, g * 4 + MP_TO_RW);
		vm_mprotect(mt.t.mm, mt.addr, MPROT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE);
		g++;
		store_release(&mt.state, g * 4 + MP_RW);
		mt.flips++;
	}
	torture_stop(&mt.t);
}

static void writer(struct prng *rng)
{
	unsigned int me = torture_me();

	while (!torture_stopped(&mt.t)) {
		unsigned int i = prng_below(rng, MPROT_PAGES);
		uintptr_t a = mt.addr + i * PAGE_SIZE + 8 * me;
		uint64_t s1 = load_acquire(&mt.state);
		int r = user_write_u64(a, s1);
		uint64_t s2 = load_acquire(&mt.state);
		if (s1 == s2 && s1 % 4 == MP_RO && r == 0)
			report_error("stale_tlb", "mprotect_torture: worker %u wrote %lx after mprotect(PROT_READ) "
				     "of round %llu returned", me, a, (unsigned long long)(s1 / 4));
		if (s1 == s2 && s1 % 4 == MP_RW && r != 0)
			report_error("lost_mapping", "mprotect_torture: worker %u: write to %lx faulted while "
				     "writable (round %llu)", me, a, (unsigned long long)(s1 / 4));
		mt.writes[me]++;
	}
}

static void mprotect_worker(void *arg)
{
	struct prng rng;

	(void)arg;
	torture_worker_start(&mt.t, &rng, 9500);
	/* Worker 0 flips, the others write. */
	if (torture_me() == 0)
		flipper(&rng);
	else
		writer(&rng);
}

static void mprotect_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	unsigned long writes = 0;
	unsigned int c;

	memset(&mt, 0, sizeof(mt));
	if (!torture_begin(&mt.t, &needs))
		return;
	mt.addr = vm_mmap(mt.t.mm, 0, MPROT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	mt.state = MP_RW;
	torture_speculate(&mt.t, mt.addr, MPROT_PAGES * PAGE_SIZE);
	torture_run(&mt.t, mprotect_worker, NULL);
	for (c = 0; c < torture_workers(&mt.t); c++)
		writes += mt.writes[c];
	ktap_diag("%lu downgrade/upgrade rounds, %lu classified writes", mt.flips, writes);
	TORTURE_EXPECT_WORK(&mt.t, mt.flips > 10 && writes > 100, "too little done: %lu rounds, %lu writes",
			    mt.flips, writes);
	torture_end(&mt.t);
}

static const struct ktap_case mprotect_cases[] = { { "torture", mprotect_torture_run } };
KTAP_SUITE(mprotect_torture, mprotect_cases);
