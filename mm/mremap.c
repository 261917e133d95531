/*
 * mremap: move part of a VMA, with its pages, to another address.
 *
 * (M) vm_mremap() runs under mmap_lock for write, in this order:
 *
 *   mremap (write lock)                       a fault at old or new (lockless
 *                                             or under a VMA lock)
 *   1. unmap [new, new + len); build its PTE
 *      tables; split the huge pages of old
 *   2. publish the VMAs without [old, +len):  VMA lock: the VMA is marked,
 *      mark the VMA, drain its readers        then gone: fall back to
 *                                             mmap_lock, wait, -EFAULT
 *                                             spf: the commit rechecks the
 *                                             VMA under the PTE lock: gone
 *   3. move each PTE: clear it under the old  a commit that held the old
 *      table's lock, set it under the new     table's lock first installed
 *      one's                                  before the move, which moves
 *                                             its PTE too
 *   4. publish the VMA at [new, +len)         a fault at new found no VMA
 *      (born marked)                          until here: it waited for
 *                                             mmap_lock
 *   5. unhook the old range's empty tables;
 *      flush the old range; free the tables
 *   6. unlock (the marks go)
 *
 * Why 2 before 3: a fault that still finds the VMA at old after the move
 * passed its PTE installs a new page there, and the write it makes lands
 * in a page nobody maps once the old range goes (inject=
 * mremap_move_before_unmap moves first). Why 4 after 3: a speculative
 * fault at new that found the VMA before the move reached its PTE would
 * install a page the move then overwrites (a VMA-lock fault would be held
 * off by the mark; a speculative one is not).
 *
 * Nothing is freed: a page keeps its count and moves with its PTE. A CPU
 * that writes through a stale translation of old during the move still
 * writes the page that moves; the flush in 5 ends such translations
 * before mremap returns (inject=mremap_no_flush leaves them). gup_fast
 * rereads the PTE after taking its reference, so a PTE cleared by the
 * move makes it drop the reference and fail.
 */
#include "mm/mremap.h"

#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "mm/debug.h"
#include "mm/huge.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"

DEFINE_STALL(mremap_unpublished, 500, "mremap: the old range's VMA gone from the array, no PTE moved yet");
DEFINE_STALL(mremap_pte_cleared, 50, "mremap: a PTE cleared at the old address, not yet set at the new one");
DEFINE_STALL(mremap_moved, 500, "mremap: every PTE moved, the new VMA not yet published, nothing flushed");

DEFINE_INJECT(mremap_move_before_unmap, "mremap moves the PTEs before it removes (and marks) the old VMA");
DEFINE_INJECT(mremap_no_flush, "mremap does not flush the old range's translations");

/* (a) pages whose PTE mremap moved */
unsigned long mremap_pages;

/* Move the PTE at old to new; new's table exists (step 1). Both
 * locks are taken one after the other, never nested: between them the
 * page is mapped nowhere, and no fault can map either address (the old
 * VMA is gone, the new one not yet published). */
static void move_pte(struct mm *mm, uintptr_t old, uintptr_t new)
{
	struct page *pt;
	pte_t *pte = pt_walk_lock(mm, old, PT_NO_ALLOC, &pt);

	if (!pte)
		return;
	pte_t e = *pte;
	WRITE_ONCE(*pte, 0);
	spin_unlock(&pt->ptl);
	if (pte_none(e))
		return;
	stall(mremap_pte_cleared);
	pte = pt_walk_lock(mm, new, PT_NO_ALLOC, &pt);
	ASSERT_MSG(pte, "mm %u: mremap lost the table it built for %lx", mm->id, new);
	if (!pte_none(*pte))
		report_error("lost_write", "mm %u: mremap found %lx mapped (%lx) with no VMA there; its "
			     "entry from %lx overwrites it", mm->id, new, *pte, old);
	WRITE_ONCE(*pte, e);
	spin_unlock(&pt->ptl);
	atomic_inc(&mremap_pages);
}

static void move_ptes(struct mm *mm, uintptr_t old, uintptr_t new, uintptr_t len)
{
	for (uintptr_t off = 0; off < len; off += PAGE_SIZE)
		move_pte(mm, old + off, new + off);
}

long vm_mremap(struct mm *mm, uintptr_t old, uintptr_t len, uintptr_t new)
{
	struct mmu_gather tlb;
	long ret;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!range_ok(old, len) || !range_ok(new, len) || (old < new + len && new < old + len))
		return -EINVAL;
	mmap_write_lock(mm);
	struct vma *v = vma_find(mm, old);
	if (!v || v->end < old + len) {
		ret = -EFAULT;		/* the old range is not inside one VMA */
		goto out;
	}
	unsigned int prot = v->prot;

	/* 1. */
	ret = unmap_locked(mm, new, new + len);
	if (ret)
		goto out;
	for (uintptr_t va = new; va < new + len; va = (va & ~(LARGE_PAGE_SIZE - 1)) + LARGE_PAGE_SIZE) {
		if (!pt_walk(mm, va, PT_ALLOC, NULL)) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (uintptr_t span = old & ~(LARGE_PAGE_SIZE - 1); span < old + len; span += LARGE_PAGE_SIZE)
		huge_split(mm, span);

	/* 2. and 3. */
	if (injected(mremap_move_before_unmap))
		move_ptes(mm, old, new, len);
	ret = vma_set_range(mm, old, old + len, VMA_REMOVE);
	if (ret)
		goto out;
	stall(mremap_unpublished);
	if (!injected(mremap_move_before_unmap))
		move_ptes(mm, old, new, len);
	stall(mremap_moved);

	/* 4. Out of memory here leaves the pages mapped at new with no VMA:
	 * unmap them, as munmap would. */
	ret = vma_set_range(mm, new, new + len, prot);

	/* 5. */
	tlb_gather_init(&tlb, mm);
	if (ret)
		pt_zap_range(mm, &tlb, new, new + len);
	pt_free_empty_tables(mm, &tlb, old, old + len);
	if (!injected(mremap_no_flush))
		tlb_gather_range(&tlb, old, old + len);
	tlb_flush_and_free(&tlb);
	debug_check_unmapped(mm, old, old + len);
	if (!ret)
		ret = (long)new;
out:
	mmap_write_unlock(mm);
	return ret;
}
