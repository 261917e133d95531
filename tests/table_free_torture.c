/*
 * Suite "table_free_torture": the question this kernel answers.
 *
 * One CPU keeps mapping, touching and unmapping slots laid 1 GiB apart,
 * so every munmap empties and frees a PTE table and a PD table. Every
 * other CPU walks those same slots without mmap_lock, as the speculative
 * fault and gup_fast do, under the protection chosen by spf_walk=, with
 * random delays between the levels of the walk (the spf test hook).
 *
 * The walkers do not load the mm: they stand for CPUs that the TLB flush
 * does not interrupt (lazy CPUs it skips, a paravirtual flush done by the
 * hypervisor, a broadcast INVLPGB). The flush that unhooks a table then
 * protects them only under pt_free=ipi, which sends its IPI to every
 * online CPU; under pt_free=rcu only the grace period does.
 *
 * A walker that reads poison, or finds a table entry pointing at a page
 * that is not a page table any more, or takes a reserved-bit #PF in the
 * hardware walk, read a freed table: uaf_table, naming the table page,
 * the CPU and the protection in force. Whether that can happen is the
 * matrix of (pt_free, rcu, spf_walk) in the README.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/gup.h"
#include "mm/lockless_walk.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/spf.h"
#include "mm/tlb.h"
#include "tests/ktap.h"
#include "tests/spf_stats.h"
#include "tests/torture.h"

#define SLOTS		8
#define SLOT_STRIDE	(1ul << 30)	/* one PD table per slot */
#define SLOT_PAGES	4

static struct {
	struct torture t;
	uintptr_t base;
	unsigned int unmapper;
	unsigned long unmaps, walks[TORTURE_MAX_WORKERS], gups[TORTURE_MAX_WORKERS];
	struct prng rng[TORTURE_MAX_WORKERS];	/* (o) each worker's delays */
} tt;

/*
 * Walker delays between levels: mostly short random ones, and now and
 * then a wait for the freeing machinery itself -- until the unmapper has
 * finished another munmap (and, under pt_free=rcu, two more grace periods
 * have ended), plus a few ticks for the callbacks -- bounded by 150 ms. A protection that
 * works holds that machinery off, so the wait simply times out; one that
 * does not lets the table be freed while the walker holds a pointer into
 * it, however slowly a loaded host runs the vCPUs.
 */
static void wait_for_freeing(void)
{
	unsigned long unmaps0 = READ_ONCE(tt.unmaps);
	uint64_t gp0 = rcu_gp_completed();
	uint64_t end = rdtsc() + ns_to_tsc(150000000ull);

	while (rdtsc() < end) {
		/* pt_free=ipi frees when the munmap returns; pt_free=rcu
		 * after the grace period that follows. */
		if (READ_ONCE(tt.unmaps) > unmaps0 &&
		    (pt_free_mode == PT_FREE_IPI || rcu_gp_completed() >= gp0 + 2)) {
			ndelay(3 * 1000000000ull / HZ);
			return;
		}
		cpu_relax();
	}
}

static void delay_hook(const struct stall_point *at, const void *arg)
{
	const struct spf_hook_ctx *ctx = spf_hook_ctx_of(at, arg);

	if (!ctx || ctx->mm != tt.t.mm)
		return;
	/* Only the run's workers walk its mm. */
	struct prng *r = &tt.rng[torture_me()];
	if (prng_below(r, 64) == 0)
		wait_for_freeing();
	else
		torture_delay(r, 2000000);
}

static void unmapper(void)
{
	struct prng *r = &tt.rng[torture_me()];

	mm_switch(tt.t.mm);
	while (torture_running(&tt.t)) {
		uintptr_t slot = tt.base + prng_below(r, SLOTS) * SLOT_STRIDE;
		long a = vm_mmap(tt.t.mm, slot, SLOT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED);
		if (a < 0)
			continue;
		for (unsigned int i = 0; i < SLOT_PAGES; i++)
			user_write_u64(a + i * PAGE_SIZE, i);
		/* Leave the slot mapped for a while, so speculative walkers
		 * find its VMA and get deep into the tables before they go. */
		ndelay(prng_below(r, 2000000));
		/* Unmapping the only VMA of a 1 GiB span frees its PTE and PD
		 * tables (mm/pgtable.c), by IPI or after a grace period. */
		vm_munmap(tt.t.mm, a, SLOT_PAGES * PAGE_SIZE);
		WRITE_ONCE(tt.unmaps, tt.unmaps + 1);
	}
	torture_stop(&tt.t);
}

static void walker(void)
{
	unsigned int me = torture_me();
	struct prng *r = &tt.rng[me];
	struct page *p;

	mm_switch_kernel();
	while (!torture_stopped(&tt.t) && !ktap_case_failed()) {
		uintptr_t addr = tt.base + prng_below(r, SLOTS) * SLOT_STRIDE +
				 prng_below(r, SLOT_PAGES) * PAGE_SIZE;
		if (prng_below(r, 2)) {
			/* The speculative fault itself (it may install a page
			 * the next munmap takes away again). */
			spf_handle_fault(tt.t.mm, addr, prng_below(r, 2) ? FAULT_WRITE : FAULT_READ);
			tt.walks[me]++;
		} else if (gup_fast(tt.t.mm, addr, FAULT_READ, &p) == 0) {
			put_page(p);
			tt.gups[me]++;
		} else {
			tt.gups[me]++;
		}
	}
}

static void dispatch(void *arg)
{
	(void)arg;
	if (torture_me() == tt.unmapper)
		unmapper();
	else
		walker();
}

static void table_free_torture_run(void)
{
	static const struct torture_needs needs = {
		.cpus = 2, .roles = "an unmapper and a walker", .mm = TORTURE_OWN_MM,
	};
	struct tlb_stats t0, t1;
	uint64_t s0[NR_SPF_STATS];
	unsigned long walks = 0, gups = 0;
	unsigned int c;

	memset(&tt, 0, sizeof(tt));
	if (!torture_begin(&tt.t, &needs))
		return;
	tt.base = MMAP_BASE;
	tt.unmapper = 0;
	for (c = 0; c < torture_workers(&tt.t); c++)
		prng_init(&tt.rng[c], global_seed, 5000 + c);
	ktap_diag("pt_free=%s rcu=%s spf_walk=%s, %u walkers, %llu s",
		  pt_free_mode == PT_FREE_IPI ? "ipi" : "rcu",
		  rcu_flavor == RCU_SCHED ? "sched" : "preempt",
		  spf_walk_mode == SPF_WALK_IRQOFF ? "irqoff" : spf_walk_mode == SPF_WALK_RCU ? "rcu" : "none",
		  torture_workers(&tt.t) - 1, (unsigned long long)torture_duration_s);
	tlb_stats_get(&t0);
	spf_stats_get(s0);
	stall_set_test_hook(delay_hook);
	torture_run(&tt.t, dispatch, NULL);
	stall_set_test_hook(NULL);
	tlb_stats_get(&t1);
	for (c = 0; c < torture_workers(&tt.t); c++) {
		walks += tt.walks[c];
		gups += tt.gups[c];
	}
	ktap_diag("%lu unmaps, %lu speculative walks, %lu gup_fast walks, %llu shootdowns",
		  tt.unmaps, walks, gups, (unsigned long long)(t1.shootdowns - t0.shootdowns));
	spf_stats_print(s0);
	TORTURE_EXPECT_WORK(&tt.t, tt.unmaps > 10, "only %lu unmaps", tt.unmaps);
	TORTURE_EXPECT_WORK(&tt.t, walks + gups > 10, "only %lu walks", walks + gups);
	torture_end(&tt.t);
}

static const struct ktap_case table_free_torture_cases[] = {
	{ "torture", table_free_torture_run },
};
KTAP_SUITE(table_free_torture, table_free_torture_cases);
