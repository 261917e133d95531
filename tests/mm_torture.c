/*
 * Suites "fault_torture", "unmap_torture", "tlb_torture" and
 * "mprotect_torture".
 *
 * Ranges of an address space move through published phases; CPUs that
 * read or write them classify every access by the phases they saw before
 * and after it:
 *
 *   MAPPING(g)    mmap(g) running: a read may fault, see 0 or g's tag
 *   LIVE(g)       must succeed: g's tag (tagged pages) or 0 (untouched)
 *   ZAPPING(g)    madvise(DONTNEED) running: tag or 0
 *   ZEROED(g)     madvise returned: must succeed with 0
 *   UNMAPPING(g)  munmap(g) running: may fault, or tag / 0 of g
 *   DEAD(g)       munmap returned: must fault
 *
 * A success in DEAD is a stale TLB entry (or a PTE that outlived its
 * VMA): stale_tlb. A value no phase in between allows (poison from a
 * freed page, another generation's tag) is wrong_data. A fault where the
 * VMA existed throughout is lost_mapping. The state is published with
 * release after each step and read with acquire around each access, so
 * "s1 == s2 == DEAD" means munmap had returned before the access began.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/pte.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "kernel/worker.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/spf.h"
#include "mm/tlb.h"
#include "mm/vma.h"
#include "tests/ktap.h"
#include "tests/spf_stats.h"
#include "tests/torture.h"

#define PF (VEC_PF + 1)

enum phase { PH_MAPPING, PH_LIVE, PH_ZAPPING, PH_ZEROED, PH_UNMAPPING, PH_DEAD, NR_PHASES };
static const char *const phase_names[] = { "MAPPING", "LIVE", "ZAPPING", "ZEROED", "UNMAPPING", "DEAD" };
#define STATE(g, ph)	((g) * 8 + (ph))
#define GEN(s)		((s) / 8)
#define PH(s)		((s) % 8)

struct trange {
	uint64_t state;			/* (a) published phase */
	uintptr_t addr;			/* (c) */
	unsigned int npages;		/* (c) */
	unsigned int owner;		/* (c) CPU that changes it */
} __cacheline_aligned;

static uint64_t tag(uintptr_t addr, uint64_t gen, unsigned int page)
{
	return 0x7a00000000000000ull | (addr >> 12) << 28 | (gen & 0xfffff) << 8 | page;
}

static void publish(struct trange *t, uint64_t gen, enum phase ph)
{
	store_release(&t->state, STATE(gen, ph));
}

/* Every fourth page gets a tag; the others stay untouched, so readers'
 * faults keep installing the zero page (the speculative path's case). */
static bool tagged(unsigned int page)
{
	return page % 4 == 0;
}

/*
 * A range munmap removed has no PTE until it is mapped again: one found
 * here was installed after the munmap's zap by a fault that did not see
 * its VMA go (or was missed by the zap). The owner checks just before it
 * maps the range again, the last moment such a PTE is told apart from
 * the new mapping's.
 */
static void check_dead_range(struct mm *mm, const struct trange *t)
{
	mmap_read_lock(mm);
	for (unsigned int i = 0; i < t->npages; i++) {
		uintptr_t va = t->addr + i * PAGE_SIZE;
		struct page *pt;
		pte_t *pte = pt_walk_lock(mm, va, PT_NO_ALLOC, &pt);
		if (!pte)
			continue;
		pte_t v = READ_ONCE(*pte);
		spin_unlock(&pt->ptl);
		if (!pte_none(v)) {
			report_error("stale_tlb", "cpu %u: %lx is mapped (PTE %lx) while its range is "
				     "unmapped (since generation %llu): installed after munmap zapped it",
				     smp_processor_id(), va, v, (unsigned long long)GEN(t->state));
			break;
		}
	}
	mmap_read_unlock(mm);
}

/* Owner: move the range one step on. */
static void range_step(struct mm *mm, struct trange *t, struct prng *r)
{
	uint64_t s = load_relaxed(&t->state), g = GEN(s);
	size_t len = t->npages * PAGE_SIZE;

	switch (PH(s)) {
	case PH_DEAD:
		check_dead_range(mm, t);
		g++;
		publish(t, g, PH_MAPPING);
		if (vm_mmap(mm, t->addr, len, PROT_READ | PROT_WRITE, MAP_FIXED) < 0) {
			publish(t, g, PH_DEAD);
			return;
		}
		for (unsigned int i = 0; i < t->npages; i += 4)
			user_write_u64(t->addr + i * PAGE_SIZE, tag(t->addr, g, i));
		publish(t, g, PH_LIVE);
		break;
	case PH_LIVE:
		if (prng_below(r, 3) == 0) {
			publish(t, g, PH_ZAPPING);
			vm_madvise_dontneed(mm, t->addr, len);
			publish(t, g, PH_ZEROED);
			break;
		}
		/* fall through */
	case PH_ZEROED:
		publish(t, g, PH_UNMAPPING);
		vm_munmap(mm, t->addr, len);
		publish(t, g, PH_DEAD);
		break;
	}
}

static bool value_allowed(const struct trange *t, uint64_t s, unsigned int i, uint64_t v)
{
	uint64_t g = GEN(s);

	switch (PH(s)) {
	case PH_MAPPING:
	case PH_ZAPPING:
	case PH_UNMAPPING:
		return v == 0 || (tagged(i) && v == tag(t->addr, g, i));
	case PH_LIVE:
		return v == (tagged(i) ? tag(t->addr, g, i) : 0);
	case PH_ZEROED:
		return v == 0;
	default:
		return false;
	}
}

/* Classify one read of page i of t by the states around it. */
static void range_check_read(struct trange *t, unsigned int i, const char *who)
{
	unsigned int me = smp_processor_id();
	uintptr_t addr = t->addr + i * PAGE_SIZE;
	uint64_t v = 0;
	uint64_t s1 = load_acquire(&t->state);
	int r = user_read_u64(addr, &v);
	uint64_t s2 = load_acquire(&t->state);

	if (r == 0) {
		if (s1 == s2 && PH(s1) == PH_DEAD) {
			report_error("stale_tlb", "%s: cpu %u read %lx = %lx after munmap of generation "
				     "%llu returned", who, me, addr, v, (unsigned long long)GEN(s1));
			return;
		}
		if (s2 - s1 > 16)
			return;		/* many steps went by: nothing to say */
		for (uint64_t s = s1; s <= s2; s++)
			if (PH(s) < NR_PHASES && value_allowed(t, s, i, v))
				return;
		report_error("wrong_data", "%s: cpu %u read %lx = %lx%s, expected %lx or 0 "
			     "(phases %s(%llu)..%s(%llu))", who, me, addr, v,
			     v == PAGE_POISON ? " (poison: a freed page)" : "",
			     tagged(i) ? tag(t->addr, GEN(s1), i) : 0, phase_names[PH(s1)],
			     (unsigned long long)GEN(s1), phase_names[PH(s2)], (unsigned long long)GEN(s2));
		return;
	}
	if (GEN(s1) == GEN(s2) && PH(s1) >= PH_LIVE && PH(s2) <= PH_ZEROED)
		report_error("lost_mapping", "%s: cpu %u: read of %lx faulted while generation %llu "
			     "was mapped (%s..%s)", who, me, addr, (unsigned long long)GEN(s1),
			     phase_names[PH(s1)], phase_names[PH(s2)]);
}

/* Delays inside the speculative path widen its race windows. */
static struct prng hook_rng[MAX_CPUS];
static struct mm *hooked_mm;
static bool hook_waits_for_unmap;	/* (c) while the hook is on: unmap_torture */

/*
 * unmap_torture: now and then a fault about to commit waits for the
 * mapper to unmap its range: until the VMA is gone from the published
 * array, then until a shootdown has started (munmap zaps the PTEs before
 * it flushes) or 1 ms has passed (a range with no PTE needs no flush);
 * 3 ms in all at most. Random delays alone rarely line a commit up after
 * that zap. A fault that then commits without rechecking its VMA leaves a
 * PTE in an unmapped range (munmap's own check or check_dead_range()
 * reports it); a correct one sees the VMA gone and falls back.
 */
static void wait_for_unmap(struct mm *mm, uintptr_t addr)
{
	uint64_t end = rdtsc() + ns_to_tsc(3000000);
	struct tlb_stats s0, s1;
	bool gone = false;

	while (rdtsc() < end) {
		if (!gone) {
			rcu_read_lock();
			gone = !vma_find(mm, addr);
			rcu_read_unlock();
			if (gone) {
				tlb_stats_get(&s0);
				uint64_t soon = rdtsc() + ns_to_tsc(1000000);
				if (soon < end)
					end = soon;
			}
		} else {
			tlb_stats_get(&s1);
			if (s1.shootdowns != s0.shootdowns)
				return;
		}
		cpu_relax();
	}
}

static void torture_hook(enum spf_point at, const struct spf_hook_ctx *ctx)
{
	struct prng *r = &hook_rng[smp_processor_id()];

	if (ctx->mm != hooked_mm)
		return;
	if (at == SPF_AT_BEFORE_COMMIT && hook_waits_for_unmap && prng_below(r, 4) == 0) {
		wait_for_unmap(ctx->mm, ctx->addr);
		return;
	}
	/* Long holds where a writer can slip in: between loading the VMA
	 * array and reading it, and before the commit. */
	bool window = at == SPF_AT_BEFORE_COMMIT || at == SPF_AT_VMA_LOOKUP;
	torture_delay(r, window ? 2000000 : 100000);
}

static void hooks_on(struct mm *mm)
{
	unsigned int c;

	for_each_online_cpu(c)
		prng_init(&hook_rng[c], global_seed, 7000 + c);
	hooked_mm = mm;
	spf_test_hook = torture_hook;
}

static void hooks_off(void)
{
	spf_test_hook = NULL;
	hooked_mm = NULL;
	hook_waits_for_unmap = false;
}

/* ---- fault_torture: every CPU faults every page ---------------------------
 *
 * All CPUs read and write random pages of one region (zero-page maps,
 * zero-page upgrades, fresh pages, races on one page), each CPU owning
 * one word of every page. Now and then the owner of a 2 MiB span drops
 * the whole span with madvise(DONTNEED), which also gives its PTE table
 * back while other CPUs fault in it. A CPU knows the value of its word
 * unless a drop started since it wrote: drop_begin counts drops started
 * (bumped before the zap), drop_end those finished.
 */

#define FT_SPANS	4
#define FT_PAGES	(FT_SPANS * 512)

static struct {
	struct mm *mm;
	uintptr_t base;
	uint64_t end_tsc;
	uint64_t drop_begin[FT_SPANS];	/* (a) */
	uint64_t drop_end[FT_SPANS];	/* (a) */
	unsigned int span_owner[FT_SPANS];
	unsigned long ops[MAX_CPUS], drops[MAX_CPUS];
} ft;

struct ft_expect {
	uint64_t val;
	uint64_t drops;		/* drop_begin when val became certain; ~0: unknown */
};

static void fault_worker(void *arg)
{
	unsigned int me = smp_processor_id();
	static struct ft_expect exp[MAX_CPUS][FT_PAGES];
	struct ft_expect *e = exp[me];
	uint64_t n = 0;
	struct prng rng;

	(void)arg;
	prng_init(&rng, global_seed, 6000 + me);
	for (unsigned int i = 0; i < FT_PAGES; i++)
		e[i] = (struct ft_expect){ 0, 0 };
	mm_switch(ft.mm);
	while (rdtsc() < ft.end_tsc && !ktap_case_failed()) {
		unsigned int i = prng_below(&rng, FT_PAGES), span = i / 512;
		uintptr_t a = ft.base + (uintptr_t)i * PAGE_SIZE + 8 * me;
		uint64_t v = 0;

		if (ft.span_owner[span] == me && prng_below(&rng, 64) == 0) {
			atomic_inc(&ft.drop_begin[span]);
			vm_madvise_dontneed(ft.mm, ft.base + (uintptr_t)span * 512 * PAGE_SIZE,
					    512 * PAGE_SIZE);
			atomic_inc(&ft.drop_end[span]);
			ft.drops[me]++;
			continue;
		}
		if (prng_below(&rng, 2)) {
			/* Read: the word holds what this CPU last wrote, or 0 if a
			 * drop may have come in between. */
			int r = user_read_u64(a, &v);
			uint64_t b = load_acquire(&ft.drop_begin[span]);
			if (r) {
				report_error("lost_mapping", "fault_torture: cpu %u: read of %lx faulted", me, a);
				break;
			}
			if (e[i].drops == b && v != e[i].val)
				report_error(v == 0 ? "lost_write" : "wrong_data",
					     "fault_torture: cpu %u: %lx holds %lx, expected %lx (no drop since "
					     "the write)", me, a, v, e[i].val);
			else if (e[i].drops != b && v != e[i].val && v != 0)
				report_error("wrong_data", "fault_torture: cpu %u: %lx holds %lx, expected "
					     "%lx or 0", me, a, v, e[i].val);
		} else {
			uint64_t val = (uint64_t)(me + 1) << 48 | ++n;
			uint64_t b0 = load_acquire(&ft.drop_begin[span]);
			if (user_write_u64(a, val)) {
				report_error("lost_mapping", "fault_torture: cpu %u: write to %lx faulted", me, a);
				break;
			}
			uint64_t e1 = load_acquire(&ft.drop_end[span]);
			uint64_t b1 = load_acquire(&ft.drop_begin[span]);
			/* Certain only if no drop started during the write and
			 * none was running. */
			e[i] = (struct ft_expect){ val, b0 == b1 && b1 == e1 ? b1 : ~0ull };
		}
		ft.ops[me]++;
	}
}

static void fault_torture_run(void)
{
	uint64_t s0[NR_SPF_STATS];
	unsigned long ops = 0, drops = 0;
	unsigned int c, k = 0;

	memset(&ft, 0, sizeof(ft));
	ft.mm = mm_create();
	KTAP_ASSERT(ft.mm, "out of memory");
	/* 2 MiB aligned, so each span is one PTE table. */
	ft.base = MMAP_BASE;
	KTAP_ASSERT(vm_mmap(ft.mm, ft.base, FT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED) > 0,
		    "mmap failed");
	for (unsigned int s = 0; s < FT_SPANS; s++) {
		c = cpumask_next(&cpu_online_mask, 0);
		for (unsigned int j = 0; j < s % nr_cpus_online; j++)
			c = cpumask_next(&cpu_online_mask, c + 1);
		ft.span_owner[s] = c;
	}
	(void)k;
	spf_stats_get(s0);
	hooks_on(ft.mm);
	ft.end_tsc = torture_end_tsc();
	workers_run_all(fault_worker, NULL, (torture_duration_s + 60) * 1000000000ull);
	hooks_off();
	for_each_online_cpu(c) {
		ops += ft.ops[c];
		drops += ft.drops[c];
	}
	ktap_diag("%lu checked accesses, %lu span drops", ops, drops);
	spf_stats_print(s0);
	if (!ktap_case_failed())
		KTAP_EXPECT(ops > 1000, "too little done: %lu accesses", ops);
	mm_destroy(ft.mm);
}

/* ---- unmap_torture: one mapper, everyone else reads --------------------- */

#define UNMAP_RANGES	8
#define UNMAP_PAGES	8

static struct {
	struct mm *mm;
	struct trange r[UNMAP_RANGES];
	uint64_t end_tsc;
	int stop;			/* (a) */
	unsigned long steps, reads[MAX_CPUS];
} ut;

/*
 * Now and then a reader holds a translation across the munmap of its
 * range: it reads a tagged page (its TLB now caches the translation),
 * then with interrupts off, so that the munmap's flush waits for it,
 * waits for the range to be unmapped (wait_for_unmap()) and reads the
 * page again. Through the cached translation it must still see the tag:
 * munmap frees the page only after the flush. A page freed before the
 * flush reads as poison (wrong_data).
 */
static void read_across_unmap(struct trange *t, unsigned int i)
{
	uintptr_t addr = t->addr + i * PAGE_SIZE;
	uint64_t v;

	if (PH(load_acquire(&t->state)) != PH_LIVE || user_read_u64(addr, &v))
		return;
	uint64_t flags = irq_save();
	wait_for_unmap(ut.mm, addr);
	range_check_read(t, i, "unmap_torture");
	irq_restore(flags);
}

static void unmap_worker(void *arg)
{
	unsigned int me = smp_processor_id();
	struct prng rng;

	(void)arg;
	prng_init(&rng, global_seed, 8000 + me);
	mm_switch(ut.mm);
	if (me == ut.r[0].owner) {
		while (rdtsc() < ut.end_tsc && !ktap_case_failed()) {
			range_step(ut.mm, &ut.r[prng_below(&rng, UNMAP_RANGES)], &rng);
			ut.steps++;
			torture_delay(&rng, 500000);
		}
		store_release(&ut.stop, 1);
		return;
	}
	while (!load_acquire(&ut.stop)) {
		struct trange *t = &ut.r[prng_below(&rng, UNMAP_RANGES)];
		/* Half the reads go to tagged pages (their own data pages,
		 * which munmap frees), half anywhere (faults, zero page). */
		unsigned int i = prng_below(&rng, t->npages);
		if (prng_below(&rng, 2))
			i &= ~3u;
		if (tagged(i) && prng_below(&rng, 1024) == 0)
			read_across_unmap(t, i);
		else
			range_check_read(t, i, "unmap_torture");
		ut.reads[me]++;
	}
}

static void unmap_torture_run(void)
{
	uint64_t s0[NR_SPF_STATS];
	unsigned long reads = 0;
	unsigned int c;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	memset(&ut, 0, sizeof(ut));
	ut.mm = mm_create();
	KTAP_ASSERT(ut.mm, "out of memory");
	/* Ranges side by side in one 2 MiB span: the PTE table outlives each
	 * munmap, so a PTE left behind would stay visible. */
	for (int i = 0; i < UNMAP_RANGES; i++) {
		ut.r[i].addr = MMAP_BASE + i * UNMAP_PAGES * PAGE_SIZE;
		ut.r[i].npages = UNMAP_PAGES;
		ut.r[i].owner = smp_processor_id();
		ut.r[i].state = STATE(0, PH_DEAD);
	}
	spf_stats_get(s0);
	hook_waits_for_unmap = true;
	hooks_on(ut.mm);
	ut.end_tsc = torture_end_tsc();
	workers_run_all(unmap_worker, NULL, (torture_duration_s + 60) * 1000000000ull);
	hooks_off();
	for_each_online_cpu(c)
		reads += ut.reads[c];
	ktap_diag("%lu map/madvise/unmap steps, %lu classified reads", ut.steps, reads);
	spf_stats_print(s0);
	if (!ktap_case_failed())
		KTAP_EXPECT(ut.steps > 10 && reads > 100, "too little done: %lu steps, %lu reads", ut.steps,
			    reads);
	mm_destroy(ut.mm);
}

/* ---- tlb_torture: every CPU maps, zaps and unmaps its own ranges and
 * reads everyone else's: shootdowns in every direction, ranged and full
 * (range sizes straddle tlb_ceiling), with madvise and mprotect mixed in. */

#define TLB_RANGES_PER_CPU 2

static struct {
	struct mm *mm;
	struct trange r[MAX_CPUS * TLB_RANGES_PER_CPU];
	unsigned int nranges;
	uint64_t end_tsc;
	unsigned long steps[MAX_CPUS], reads[MAX_CPUS], mprotects[MAX_CPUS];
} tt;

static void tlb_worker(void *arg)
{
	unsigned int me = smp_processor_id();
	struct prng rng;

	(void)arg;
	prng_init(&rng, global_seed, 9000 + me);
	mm_switch(tt.mm);
	while (rdtsc() < tt.end_tsc && !ktap_case_failed()) {
		unsigned int k = prng_below(&rng, tt.nranges);
		struct trange *t = &tt.r[k];
		if (t->owner == me) {
			uint64_t s = load_relaxed(&t->state);
			if (PH(s) == PH_LIVE && prng_below(&rng, 4) == 0) {
				/* Read-only and back: reads stay valid, and each
				 * mprotect is one more shootdown to all. */
				vm_mprotect(tt.mm, t->addr, t->npages * PAGE_SIZE, PROT_READ);
				vm_mprotect(tt.mm, t->addr, t->npages * PAGE_SIZE, PROT_READ | PROT_WRITE);
				tt.mprotects[me]++;
			} else {
				range_step(tt.mm, t, &rng);
				tt.steps[me]++;
			}
		} else {
			range_check_read(t, prng_below(&rng, t->npages), "tlb_torture");
			tt.reads[me]++;
		}
	}
}

static void tlb_torture_run(void)
{
	static const unsigned int sizes[] = { 1, 8, 64 };
	struct tlb_stats t0, t1;
	unsigned long steps = 0, reads = 0, mprotects = 0;
	unsigned int c, n = 0;

	memset(&tt, 0, sizeof(tt));
	tt.mm = mm_create();
	KTAP_ASSERT(tt.mm, "out of memory");
	uintptr_t addr = MMAP_BASE;
	for_each_online_cpu(c) {
		for (int k = 0; k < TLB_RANGES_PER_CPU; k++, n++) {
			tt.r[n].npages = sizes[n % 3];
			tt.r[n].addr = addr;
			tt.r[n].owner = c;
			tt.r[n].state = STATE(0, PH_DEAD);
			addr += (tt.r[n].npages + 1) * PAGE_SIZE;	/* a guard page between */
		}
	}
	tt.nranges = n;
	tlb_stats_get(&t0);
	hooks_on(tt.mm);
	tt.end_tsc = torture_end_tsc();
	workers_run_all(tlb_worker, NULL, (torture_duration_s + 60) * 1000000000ull);
	hooks_off();
	tlb_stats_get(&t1);
	for_each_online_cpu(c) {
		steps += tt.steps[c];
		reads += tt.reads[c];
		mprotects += tt.mprotects[c];
	}
	ktap_diag("%lu range steps, %lu mprotect pairs, %lu classified reads; %llu shootdowns "
		  "(%llu ranged, %llu full), %llu IPIs", steps, mprotects, reads,
		  (unsigned long long)(t1.shootdowns - t0.shootdowns),
		  (unsigned long long)(t1.ranged - t0.ranged), (unsigned long long)(t1.full - t0.full),
		  (unsigned long long)(t1.ipis_sent - t0.ipis_sent));
	if (!ktap_case_failed())
		KTAP_EXPECT(steps > 10 && (nr_cpus_online == 1 || reads > 100),
			    "too little done: %lu steps, %lu reads", steps, reads);
	mm_destroy(tt.mm);
}

/* ---- mprotect_torture: after a downgrade returns, no CPU may write ----- */

#define MPROT_PAGES 16
enum { MP_RW, MP_TO_RO, MP_RO, MP_TO_RW };

static struct {
	struct mm *mm;
	uintptr_t addr;
	uint64_t state;			/* (a) gen * 4 + MP_* */
	uint64_t end_tsc;
	int stop;			/* (a) */
	unsigned long flips, writes[MAX_CPUS];
} mt;

static void mprotect_worker(void *arg)
{
	unsigned int me = smp_processor_id();
	struct prng rng;

	(void)arg;
	prng_init(&rng, global_seed, 9500 + me);
	mm_switch(mt.mm);
	if (me == 0 || (me == cpumask_next(&cpu_online_mask, 0) && !cpumask_test(&cpu_online_mask, 0))) {
		uint64_t g = 0;
		while (rdtsc() < mt.end_tsc && !ktap_case_failed()) {
			torture_delay(&rng, 300000);
			store_release(&mt.state, g * 4 + MP_TO_RO);
			vm_mprotect(mt.mm, mt.addr, MPROT_PAGES * PAGE_SIZE, PROT_READ);
			store_release(&mt.state, g * 4 + MP_RO);
			torture_delay(&rng, 300000);
			store_release(&mt.state, g * 4 + MP_TO_RW);
			vm_mprotect(mt.mm, mt.addr, MPROT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE);
			g++;
			store_release(&mt.state, g * 4 + MP_RW);
			mt.flips++;
		}
		store_release(&mt.stop, 1);
		return;
	}
	while (!load_acquire(&mt.stop)) {
		unsigned int i = prng_below(&rng, MPROT_PAGES);
		uintptr_t a = mt.addr + i * PAGE_SIZE + 8 * me;
		uint64_t s1 = load_acquire(&mt.state);
		int r = user_write_u64(a, s1);
		uint64_t s2 = load_acquire(&mt.state);
		if (s1 == s2 && s1 % 4 == MP_RO && r == 0)
			report_error("stale_tlb", "mprotect_torture: cpu %u wrote %lx after mprotect(PROT_READ) "
				     "of round %llu returned", me, a, (unsigned long long)(s1 / 4));
		if (s1 == s2 && s1 % 4 == MP_RW && r != 0)
			report_error("lost_mapping", "mprotect_torture: cpu %u: write to %lx faulted while "
				     "writable (round %llu)", me, a, (unsigned long long)(s1 / 4));
		mt.writes[me]++;
	}
}

static void mprotect_torture_run(void)
{
	unsigned long writes = 0;
	unsigned int c;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	memset(&mt, 0, sizeof(mt));
	mt.mm = mm_create();
	KTAP_ASSERT(mt.mm, "out of memory");
	mt.addr = vm_mmap(mt.mm, 0, MPROT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	mt.state = MP_RW;
	mt.end_tsc = torture_end_tsc();
	workers_run_all(mprotect_worker, NULL, (torture_duration_s + 60) * 1000000000ull);
	for_each_online_cpu(c)
		writes += mt.writes[c];
	ktap_diag("%lu downgrade/upgrade rounds, %lu classified writes", mt.flips, writes);
	if (!ktap_case_failed())
		KTAP_EXPECT(mt.flips > 10 && writes > 100, "too little done: %lu rounds, %lu writes",
			    mt.flips, writes);
	mm_destroy(mt.mm);
}

static const struct ktap_case fault_cases[] = { { "fault_torture", fault_torture_run } };
KTAP_SUITE(fault_torture, fault_cases);
static const struct ktap_case unmap_cases[] = { { "unmap_torture", unmap_torture_run } };
KTAP_SUITE(unmap_torture, unmap_cases);
static const struct ktap_case mprotect_cases[] = { { "mprotect_torture", mprotect_torture_run } };
KTAP_SUITE(mprotect_torture, mprotect_cases);
static const struct ktap_case tlb_torture_cases[] = { { "tlb_torture", tlb_torture_run } };
KTAP_SUITE(tlb_torture, tlb_torture_cases);
