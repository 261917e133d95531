/* Delays in the speculative fault path: see tests/spf_delays.h. */
#include "tests/spf_delays.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/string.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"
#include "tests/torture.h"

/*
 * Protection: (c) set by spf_delays_on() before the workers start and
 * cleared by spf_delays_off() after they finish (workers_start() and
 * workers_wait() order them), (o) each CPU its own.
 */
static struct prng hook_rng[MAX_CPUS];		/* (o) */
static struct mm *hooked_mm;			/* (c) */
static enum spf_delays_kind hook_kind;		/* (c) */

/*
 * unmap_torture: now and then a fault about to commit waits for the
 * mapper to unmap its range: until the VMA is gone from the published
 * array, then until a shootdown has started (munmap zaps the PTEs before
 * it flushes) or 1 ms has passed (a range with no PTE needs no flush);
 * 3 ms in all at most. Random delays alone rarely line a commit up after
 * that zap. A fault that then commits without rechecking its VMA leaves a
 * PTE in an unmapped range (munmap's own check or the range's dead check
 * in tests/trange.c reports it); a correct one sees the VMA gone and
 * falls back.
 */
void wait_for_unmap(struct mm *mm, uintptr_t addr)
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

static bool vma_gone(struct mm *mm, uintptr_t addr, const struct vma *v)
{
	rcu_read_lock();
	bool gone = vma_find(mm, addr) != v;
	rcu_read_unlock();
	return gone;
}

/*
 * The VMA lock's half of the above (fault=vma_lock): now and then a fault
 * holding its VMA's read lock asks for a write of that VMA or beside it
 * (vma_write_hint) and waits for the writer to mark it (up to 1 ms), then
 * for the VMA to leave the array (300 us) and the munmap's shootdown to
 * start (1 ms). A correct writer marks and then waits for this reader to
 * drop the lock, so the VMA never goes and the wait ends on its bound; a
 * reader that took the lock after the writer's drain (no mark check)
 * faults after the writer zapped its range. A VMA that leaves the array
 * unmarked (a writer that replaced it without marking it, say by merging
 * it with a neighbour) ends the wait at once: the fault then ends holding
 * a VMA that is gone, and debug_check_vma_held() names it.
 */
static void wait_for_writer(struct mm *mm, struct vma *v, uintptr_t addr)
{
	uint64_t end = rdtsc() + ns_to_tsc(1000000);

	store_release(&vma_write_hint, addr);
	while (load_relaxed(&v->lock_seq) != load_acquire(&mm->mm_lock_seq)) {
		if (rdtsc() > end || vma_gone(mm, addr, v))
			return;
		cpu_relax();
	}
	end = rdtsc() + ns_to_tsc(300000);
	while (!vma_gone(mm, addr, v))
		if (rdtsc() > end)
			return;
	struct tlb_stats s0, s1;
	tlb_stats_get(&s0);
	end = rdtsc() + ns_to_tsc(1000000);
	do
		tlb_stats_get(&s1);
	while (s1.shootdowns == s0.shootdowns && rdtsc() < end);
}

/*
 * The VMA lock's reader before it counts itself: ask for a write of its
 * VMA (vma_write_hint) and wait for the writer to mark it (up to 20 ms),
 * then either let the writer's drain pass (0-30 us: the writer publishes
 * a few microseconds after it) or let the whole write section end
 * (mm_lock_seq moves; up to 20 ms, as a munmap's section with its stalls
 * and shootdown takes several under an emulator on a busy host). Then it
 * counts itself: a correct reader sees the mark, or the VMA gone from
 * the array, and backs off.
 */
static void wait_for_mark(struct mm *mm, struct vma *v, uintptr_t addr, bool section_end, uint64_t pass_ns)
{
	uint64_t end = rdtsc() + ns_to_tsc(20000000);
	uint64_t seq;

	store_release(&vma_write_hint, addr);

	while ((seq = load_acquire(&mm->mm_lock_seq)) != load_relaxed(&v->lock_seq))
		if (rdtsc() > end)
			return;
	if (!section_end) {
		ndelay(pass_ns);
		return;
	}
	end = rdtsc() + ns_to_tsc(20000000);
	while (load_acquire(&mm->mm_lock_seq) == seq && rdtsc() < end)
		cpu_relax();
}

uintptr_t collapse_hint;
uintptr_t vma_write_hint;

/*
 * A lockless walker holds PTE table ctx->pt, found through *ctx->pmd,
 * under its protection: ask for the span's collapse and wait until the
 * PMD changes (20 ms at most, 5 ms with interrupts off), then until the
 * table is freed (twice that: a collapse takes tens of milliseconds
 * under an emulator, most of it between the two). A collapse that syncs with
 * interrupts-off walkers waits for this one, and a table freed after a
 * grace period waits for a read-section walker: both time out here, and
 * the walk goes on in a table that is still alive. Without the sync, or
 * with the table freed at once, the walk goes on in a freed table.
 */
static void wait_for_retract(const struct spf_hook_ctx *ctx)
{
	/* Interrupts off hold up every flush and IPI aimed at this CPU:
	 * shorter waits there. */
	uint64_t max_ns = irqs_enabled() ? 20000000 : 5000000;
	pte_t v = READ_ONCE(*ctx->pmd);
	uint32_t frees = load_relaxed(&ctx->pt->frees);

	if (!pte_present(v) || pte_addr(v) != page_to_phys(ctx->pt))
		return;		/* changed already */
	store_release(&collapse_hint, ctx->addr & ~(LARGE_PAGE_SIZE - 1));
	uint64_t end = rdtsc() + ns_to_tsc(max_ns);
	while (READ_ONCE(*ctx->pmd) == v) {
		if (rdtsc() > end)
			return;
		cpu_relax();
	}
	end = rdtsc() + ns_to_tsc(2 * max_ns);
	while (load_relaxed(&ctx->pt->frees) == frees && rdtsc() < end)
		cpu_relax();
}

/*
 * A wait step that gives the host CPU back: under an emulator with fewer
 * host CPUs than vCPUs, a vCPU that spins keeps another from running, and
 * the other side of the race never comes. HLT with interrupts on (the
 * next tick or IPI wakes it, within 4 ms); a spin where interrupts are
 * off.
 */
static void idle_wait(void)
{
	if (irqs_enabled())
		safe_halt();
	else
		cpu_relax();
}

unsigned long fork_write_hint;
/* (a) fork is inside its wait at fork_copied: write-protected PTEs of
 * the parent whose writable translations are not yet flushed. */
static unsigned long fork_unflushed;

/*
 * fork (ctx->mm is the parent) has write-protected and copied every PTE
 * of a VMA and not yet flushed: ask the writers for write faults
 * (fork_write_hint, up to eight times) and wait up to 10 ms for eight
 * copies on write in the parent meanwhile. A correct fork holds every
 * fault of the parent off until after its flush (mmap_lock, and the
 * marks for faults under the VMA lock), so the wait ends on its bound;
 * one that lets faults in copies pages other CPUs may still write
 * through the translations the flush has not yet taken away.
 */
static void wait_for_cow(void)
{
	unsigned long cows = load_relaxed(&cow_copies), asked = 0;
	uint64_t end = rdtsc() + ns_to_tsc(10000000);

	store_release(&fork_unflushed, 1);
	while (load_relaxed(&cow_copies) - cows < 8 && rdtsc() < end) {
		if (asked < 8 && !load_relaxed(&fork_write_hint)) {
			store_release(&fork_write_hint, 1);
			asked++;
		}
		idle_wait();
	}
	store_release(&fork_write_hint, 0);
	store_release(&fork_unflushed, 0);
}

/*
 * A copy on write has copied the shared page and not yet mapped the
 * copy, while fork waits with writable translations of the parent not
 * yet flushed (a correct fork lets no fault of the parent in then): wait
 * up to 1 ms for the shared page to change. A write through one of those
 * translations lands in the shared page, which the child keeps, and the
 * copy the parent maps next misses it.
 */
static void wait_for_write_after_copy(const struct spf_hook_ctx *ctx)
{
	uint64_t end = rdtsc() + ns_to_tsc(1000000);
	const void *page = page_address(ctx->page), *copy = page_address(ctx->copy);

	while (memcmp(page, copy, PAGE_SIZE) == 0 && rdtsc() < end)
		idle_wait();
}

static void spf_delays_hook(const struct stall_point *at, const void *arg)
{
	const struct spf_hook_ctx *ctx = spf_hook_ctx_of(at, arg);

	if (!ctx || ctx->mm != hooked_mm)
		return;
	/* The walker may be preemptible (an rcu=preempt reader): draw with
	 * the count raised, so the draw stays on one CPU's generator, then
	 * wait preemptibly, where a tick may switch the walker out. */
	preempt_disable();
	struct prng *r = &hook_rng[smp_processor_id()];
	bool wait = at == STALL_POINT(spf_before_commit) && hook_kind == SPF_DELAYS_WAIT_FOR_UNMAP &&
		    prng_below(r, 4) == 0;
	bool writers = hook_kind != SPF_DELAYS_RANDOM;
	bool wait_writer = at == STALL_POINT(vma_read_locked) && writers && prng_below(r, 16) == 0;
	bool wait_mark = at == STALL_POINT(vma_read_found) && writers && prng_below(r, 64) == 0;
	bool wait_retract = hook_kind == SPF_DELAYS_WAIT_FOR_COLLAPSE && ctx->level == 1 && ctx->pmd &&
			    ctx->pt && ((at == STALL_POINT(spf_walk_level) && prng_below(r, 8) == 0) ||
					(at == STALL_POINT(gup_walk) && prng_below(r, 16) == 0));
	bool wait_cow = at == STALL_POINT(fork_copied);
	bool wait_copy = at == STALL_POINT(cow_copied) && load_acquire(&fork_unflushed);
	bool section_end = prng_below(r, 2);
	uint64_t pass_ns = prng_below(r, 30000);
	/* Long holds where a writer can slip in: between loading the VMA
	 * array and reading it, and before the commit. */
	/* The writer's window between its drain and the new array: a
	 * reader that got in there unchecked faults during the zap. */
	bool window = at == STALL_POINT(spf_before_commit) || at == STALL_POINT(spf_vma_lookup) ||
		      at == STALL_POINT(vma_read_found) || at == STALL_POINT(vma_write_drained);
	uint64_t ns = wait || wait_writer || wait_mark || wait_retract || wait_cow || wait_copy ? 0 : torture_delay_ns(r, window ? 2000000 : 100000);
	preempt_enable_no_resched();
	if (wait)
		wait_for_unmap(ctx->mm, ctx->addr);
	else if (wait_cow)
		wait_for_cow();
	else if (wait_copy)
		wait_for_write_after_copy(ctx);
	else if (wait_retract)
		wait_for_retract(ctx);
	else if (wait_writer)
		wait_for_writer(ctx->mm, ctx->vma, ctx->addr);
	else if (wait_mark)
		wait_for_mark(ctx->mm, ctx->vma, ctx->addr, section_end, pass_ns);
	else if (ns)
		ndelay(ns);
}

void spf_delays_on(struct mm *mm, enum spf_delays_kind kind)
{
	unsigned int c;

	for_each_online_cpu(c)
		prng_init(&hook_rng[c], global_seed, 7000 + c);
	hooked_mm = mm;
	hook_kind = kind;
	stall_set_test_hook(spf_delays_hook);
}

void spf_delays_off(void)
{
	stall_set_test_hook(NULL);
	hooked_mm = NULL;
	hook_kind = SPF_DELAYS_RANDOM;
}
