/*
 * Lockless get-user-page. See mm/gup.h.
 *
 * Why the reference is safe (munmap on the left):
 *
 *   CPU 0 (munmap)                    CPU 1 (gup_fast, walker protection)
 *                                     walk; pte = *ptep (maps page p)
 *   clear PTE (under the PTL)         try_get(p): refcount > 0, so +1
 *   flush: waits for every ack        if *ptep != pte: put(p), fail
 *   put(p): its last reference
 *
 * CPU 0 drops its reference only after the flush, and a flush with
 * interrupts-off walkers in the way waits for them (mm/tlb.c, (E)). If
 * CPU 1's reference came first, p outlives CPU 0's put. If CPU 0's put
 * came first, the refcount is 0 and try_get refuses. A reference taken
 * after CPU 0 cleared the PTE is caught by the re-read and dropped.
 */
#include "mm/gup.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/lockless_walk.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"

/* Take a reference unless the page is already on its way to being freed. */
static bool page_try_get(struct page *p)
{
	int32_t r = load_relaxed(&p->refcount);

	while (r > 0)
		if (__atomic_compare_exchange_n(&p->refcount, &r, r + 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

DEFINE_STALL_GP(gup_walk, 50, 4, 2, "gup_fast: one level of the lockless walk read");
DEFINE_STALL(gup_ref, 200, "gup_fast: reference taken, PTE not yet read again");

int gup_fast(struct mm *mm, uintptr_t addr, enum fault_access access, struct page **page)
{
	struct walk_prot prot;
	struct lockless_walk w;
	pte_t pte;
	int ret = -EFAULT;

	walk_prot_enter(&prot, WALKER_GUP);
	if (!walk_lockless(&w, mm, addr & PAGE_MASK, "gup_fast", STALL_POINT(gup_walk)) ||
	    !walk_read_pte(&w, &pte))
		goto out;
	if (!pte_present(pte) || (access == FAULT_WRITE && !(pte & PTE_W)))
		goto out;
	struct page *p = phys_to_page(pte_addr(pte));
	if (!page_try_get(p))
		goto out;
	stall(gup_ref);
	if (READ_ONCE(*w.ptep) != pte) {
		put_page(p);
		goto out;
	}
	*page = p;
	ret = 0;
out:
	walk_prot_leave(&prot);
	return ret;
}
