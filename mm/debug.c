/*
 * Test oracles on production paths and the walkers' test hook. See
 * mm/debug.h.
 */
#include "mm/debug.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/vma.h"

void (*mm_switch_hook)(struct mm *mm, enum mm_switch_point at);

/*
 * Nothing may map [start, end) once it was zapped (munmap) or emptied
 * (mremap's old range) under the write lock: locked faults are excluded,
 * and a lockless one must see its VMA gone. A PTE here would outlive the
 * unmap (an access after it returns succeeds).
 */
void debug_check_unmapped(struct mm *mm, uintptr_t start, uintptr_t end)
{
	for (uintptr_t va = start; va < end; va += PAGE_SIZE) {
		if (pt_pmd_huge(mm, va)) {
			report_error("stale_tlb", "mm %u: %lx still mapped by a huge page after its "
				     "unmap zapped it", mm->id, va);
			return;
		}
		pte_t *pte = pt_walk(mm, va, PT_NO_ALLOC, NULL);
		if (pte && !pte_none(READ_ONCE(*pte))) {
			report_error("stale_tlb", "mm %u: %lx still mapped (%lx) after its unmap zapped it",
				     mm->id, va, *pte);
			return;
		}
	}
}

/*
 * A table is unhooked empty; an entry found in it now was installed
 * after the unhook by a walker that did not notice (a missing recheck):
 * whatever it mapped is unreachable, and the write that made it lost.
 */
void debug_check_table_empty(struct page *t)
{
	const pte_t *e = page_address(t);

	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
		if (e[i]) {
			report_error("lost_write", "page table pfn 0x%lx was freed holding entry %u = %lx: "
				     "installed after the table was unhooked",
				     (unsigned long)(page_to_phys(t) >> PAGE_SHIFT), i, e[i]);
			return;
		}
	}
}

/*
 * The VMA lock's promise ((V), mm/vma.c): while a fault holds vma's read
 * lock, no writer replaces or removes vma, so the fault's PTE is inside a
 * VMA of mm that allows it. A writer that skipped the mark or its drain,
 * or a reader that took the lock without checking the mark or the
 * mapping, shows here: the array mm publishes no longer holds vma at
 * addr. The fault's own PTE may already be wrong (it is left to the
 * suites to trip over); this names the race where it happened.
 */
void debug_check_vma_held(struct mm *mm, struct vma *vma, uintptr_t addr)
{
	rcu_read_lock();
	struct vma *now = vma_find(mm, addr);
	rcu_read_unlock();
	if (now != vma)
		report_error("vma_changed", "mm %u: the VMA [%lx, %lx) a fault at %lx held locked was "
			     "replaced or unmapped under it (now %s)", mm->id, vma->start, vma->end, addr,
			     now ? "another VMA" : "no VMA");
}
