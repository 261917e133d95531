/*
 * struct mm: creation, teardown, switching CPUs in and out, and the
 * mmap_lock. Switching is this CPU's half of the shootdown protocol that
 * mm/tlb.c draws (pairings B, C and D there).
 */
#include "mm/mm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/user.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/inject.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/smp_call.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/kmalloc.h"
#include "mm/kmap.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"

struct page *zero_page;
static struct page *user_stub_page;	/* (c) the ring-3 stubs, mapped by every mm */
static unsigned int next_mm_id;		/* (a) */

/* Map the ring-3 stubs at USER_STUB_VA, read-only and executable; the
 * mapping holds a reference (mm_destroy()'s teardown drops it). */
static bool map_user_stubs(struct mm *mm)
{
	pte_t *pte = pt_walk(mm, USER_STUB_VA, PT_ALLOC, NULL);

	if (!pte)
		return false;
	atomic_inc(&user_stub_page->refcount);
	WRITE_ONCE(*pte, page_to_phys(user_stub_page) | PTE_P | PTE_U);
	return true;
}

struct mm *mm_create(void)
{
	struct mm *mm = kzalloc(sizeof(*mm));
	struct page *top;

	if (!mm)
		return NULL;
	top = alloc_page_zeroed(PAGE_TABLE);
	if (!top) {
		kfree(mm);
		return NULL;
	}
	/* The kernel half: the same lower-level tables as every other mm,
	 * never changed after boot (mm/kmap.h). */
	memcpy((pte_t *)page_address(top) + 256, (pte_t *)phys_to_virt(kmap_kernel_top()) + 256,
	       256 * sizeof(pte_t));
	mm->pgd = page_to_phys(top);
	rwlock_init(&mm->mmap_lock, LOCK_MMAP);
	mm->id = atomic_add_return(&next_mm_id, 1);
	if (!map_user_stubs(mm)) {
		mm_destroy(mm);
		return NULL;
	}
	return mm;
}

struct mm *mm_current(void)
{
	return this_cpu()->mm;
}

DEFINE_INJECT(lazy_flush_ignored, "leaving lazy mode ignores the flush a shootdown left pending");
DEFINE_INJECT(cr3_before_join, "a switch loads CR3 before joining the mm's cpumask");
/* This CPU's steps of mm/tlb.c's pairings (B), (C), (D), (F). */
DEFINE_STALL(mm_lazy_exit, 50, "leaving lazy mode: lazy flag cleared, pending flush not yet taken");
DEFINE_STALL(mm_switch_joined, 50, "mm switch: cpumask joined, CR3 not yet loaded");
DEFINE_STALL(mm_switch_loaded, 50, "mm switch: CR3 loaded, old mm's cpumask not yet left");
DEFINE_STALL(mm_lazy_entered, 50, "a kernel thread keeps the mm: lazy flag set");

/*
 * Load mm on this CPU, for the running task or a task being switched in.
 * Interrupts off. This CPU's half of mm/tlb.c's pairings (B), (C), (D)
 * and (F).
 */
void mm_load_irqs_off(struct mm *mm)
{
	struct percpu *pc = this_cpu();
	struct mm *old = pc->mm;

	if (old == mm && pc->mm_lazy) {
		/* Leaving lazy mode: flushes of pages (not tables) may have
		 * skipped us while we were lazy. mm/tlb.c, pairing (B). */
		store_relaxed(&pc->mm_lazy, false);
		smp_mb();
		stall(mm_lazy_exit);
		if (atomic_xchg(&pc->tlb_flush_pending, 0) && !injected(lazy_flush_ignored)) {
			flush_tlb_local_nonglobal();
			sched_stat_inc(SCHED_LAZY_FLUSH);
		}
	}
	if (old != mm) {
		/* Active before we join: a lazy flag left from the old mm
		 * would let a flush of mm skip us (pairing (B)) after the
		 * CR3 load, when the CPU may already cache mm's entries.
		 * The locked set below orders this store before the bit; an
		 * initiator reads the mask before the flag. mm/tlb.c, (F). */
		store_relaxed(&pc->mm_lazy, false);
		/* Join the mask before loading CR3: mm/tlb.c, pairing (C).
		 * Leave the old one after: pairing (D). */
		if (!injected(cr3_before_join))
			cpumask_set(&mm->cpumask, pc->cpu);
		stall(mm_switch_joined);
		write_cr3(mm->pgd);
		/* From here the CPU may fill its TLB from mm's tables at any
		 * time, speculatively too; the hook lets a test make such
		 * fills where an emulator makes none (mm/debug.h). */
		if (mm_switch_hook)
			mm_switch_hook(mm, MM_SWITCH_CR3);
		if (injected(cr3_before_join))
			cpumask_set(&mm->cpumask, pc->cpu);
		pc->mm = mm;
		stall(mm_switch_loaded);
		if (old)
			cpumask_clear_cpu(&old->cpumask, pc->cpu);
		sched_stat_inc(SCHED_MM_SWITCH);
		if (mm_switch_hook)
			mm_switch_hook(mm, MM_SWITCH_DONE);
	}
	pc->mm_lazy = false;
}

/* Keep this CPU's mm loaded for a kernel thread: pairing (B). Interrupts off. */
void mm_lazy_irqs_off(void)
{
	struct percpu *pc = this_cpu();

	if (pc->mm && !pc->mm_lazy) {
		store_relaxed(&pc->mm_lazy, true);
		sched_stat_inc(SCHED_LAZY_ENTER);
		stall(mm_lazy_entered);
	}
}

/* Drop to the kernel's tables. Interrupts off. */
static void mm_unload_irqs_off(void)
{
	struct percpu *pc = this_cpu();
	struct mm *old = pc->mm;

	if (old) {
		kmap_load();
		pc->mm = NULL;
		/* Only now: until CR3 changed we could still cache entries
		 * (mm/tlb.c, pairing (D)). */
		cpumask_clear_cpu(&old->cpumask, pc->cpu);
	}
	pc->mm_lazy = false;
}

void mm_switch(struct mm *mm)
{
	uint64_t flags = irq_save();

	current_task()->mm = mm;
	mm_load_irqs_off(mm);
	irq_restore(flags);
}

void mm_enter_lazy(void)
{
	uint64_t flags = irq_save();

	current_task()->mm = NULL;
	mm_lazy_irqs_off();
	irq_restore(flags);
}

void mm_switch_kernel(void)
{
	uint64_t flags = irq_save();

	current_task()->mm = NULL;
	mm_unload_irqs_off();
	irq_restore(flags);
}

/* A CPU keeps a dead mm loaded only lazily (its tasks are gone). */
static void drop_mm(void *arg)
{
	if (this_cpu()->mm != arg)
		return;
	ASSERT_MSG(current_task()->mm != arg, "mm %u destroyed while task %s uses it",
		   ((struct mm *)arg)->id, current_task()->name);
	mm_unload_irqs_off();
}

void mm_destroy(struct mm *mm)
{
	unsigned int c;

	uint64_t flags = irq_save();
	if (current_task()->mm == mm)
		current_task()->mm = NULL;
	drop_mm(mm);
	irq_restore(flags);
	/* Lazy CPUs still have it in CR3: switch them away. */
	for_each_cpu_in(c, &mm->cpumask)
		smp_call_on(c, drop_mm, mm);
	ASSERT_MSG(!cpumask_weight(&mm->cpumask), "mm %u still loaded somewhere", mm->id);
	pt_destroy_all(mm);
	ASSERT_MSG(mm->nr_tables == 0, "mm %u: %ld tables left", mm->id, mm->nr_tables);
	free_page(phys_to_page(mm->pgd));
	vma_destroy_all(mm);
	kfree(mm);
}

/* The speculative fault does not look at mmap_lock: it validates its own
 * VMA under the PTE-table lock (mm/spf.c), so a writer elsewhere in the
 * mm does not stop it. */
void mmap_write_lock(struct mm *mm)
{
	write_lock(&mm->mmap_lock);
}

void mmap_write_unlock(struct mm *mm)
{
	/* Unmarks every VMA this write section marked (mm/vma.c, (V)):
	 * released before the lock, so a reader that sees the new count
	 * sees every change the section made. */
	store_release(&mm->mm_lock_seq, mm->mm_lock_seq + 1);
	write_unlock(&mm->mmap_lock);
}

uintptr_t user_top, mmap_base;

void mm_init(void)
{
	if (pt_levels == 5) {
		user_top = 1ul << 56;
		mmap_base = 1ul << 48;
	} else {
		user_top = 1ul << 47;
		mmap_base = 1ul << 44;
	}
	zero_page = alloc_page_zeroed(PAGE_KERNEL);
	ASSERT(zero_page);
	user_stub_page = alloc_page_zeroed(PAGE_KERNEL);
	ASSERT(user_stub_page);
	memcpy(page_address(user_stub_page), user_stubs_start, user_stubs_end - user_stubs_start);
	mm_fault_init();
}
