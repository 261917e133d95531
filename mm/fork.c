/*
 * fork: a copy of an address space whose pages the two share read-only
 * until one of them writes (copy on write, the other half of which is
 * fault_in_vma() in mm/fault.c). This file owns the protocol:
 *
 * (K) fork against the parent's faults and accesses.
 *
 *   fork (parent's mmap_lock for write)   parent CPU
 *   mark every VMA, wait for its readers  (VMA-lock faults fall back to
 *                                          mmap_lock and wait for fork)
 *   per PTE, under the parent's PTL:
 *     get_page(p)
 *     clear W in the parent's PTE          a write through a cached W
 *   child's PTE = the same, read-only        translation still lands in
 *   ...                                      p: it began before fork
 *   flush the parent's VMAs  ---------->    returned; once flushed, a
 *   unlock                                   write faults:
 *                                          write fault, under the PTL:
 *                                            refcount(p) > 1: copy p to
 *                                            a new page, map it W, flush
 *                                            the old translation, put(p)
 *                                            refcount(p) == 1: p is the
 *                                            parent's alone: map it W
 *
 *   The reference is taken before the write-protect under the same lock,
 *   so a write fault that sees the read-only PTE sees the count fork
 *   raised and copies (inject=cow_reuse_shared makes it reuse a shared
 *   page: the other side then sees the write). A PTE left writable
 *   (inject=fork_no_wrprotect) lets the parent write into the page the
 *   child has. The copy is flushed before the old page is put: a CPU
 *   still holding the read-only translation would read the old page
 *   after this write. A gup_fast reference raises the count too, so a
 *   page someone may write through is never reused (a copy is taken).
 *
 *   The marks keep faults under the VMA lock out while fork copies, as
 *   mmap_lock keeps the locked ones out, until the flush. Without them
 *   (inject=fork_no_mark) a write fault of the parent can copy on write
 *   a page fork has write-protected but not yet flushed:
 *
 *   fork                     parent CPU 1            parent CPU 2
 *                            (W cached for p)
 *   clear W (PTL)                                    write fault on p:
 *                                                    copy p to q
 *                            write x to p via the
 *                            cached W: lands in p
 *                                                    map q W, flush, put p
 *   flush (too late)
 *
 *   x is in p, which is the child's now, and not in q, the parent's: the
 *   parent lost a write and the child sees it. A copy on write relies on
 *   no CPU holding a writable translation of the page it copies, which
 *   only fork's flush makes true.
 *
 *   Huge pages are split first: the two share 4 KiB pages only.
 */
#include "mm/fork.h"
#include "arch/x86/cpu.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/stall.h"
#include "mm/debug.h"
#include "mm/huge.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"

DEFINE_INJECT(fork_no_mark, "fork does not mark the parent's VMAs: faults under the VMA lock run during the copy");
DEFINE_INJECT(fork_no_wrprotect, "fork shares a page without write-protecting the parent's PTE");
DEFINE_STALL(fork_copied, 1000, "fork: every PTE of a VMA write-protected and copied, the parent not yet flushed");
DEFINE_STALL(fork_pte_shared, 200, "fork: a parent PTE write-protected and its page referenced, the child's not yet set");

/* Share the page of the parent's PTE at va with child; false when out of
 * memory. Both mmap_locks held for write. */
static bool copy_pte(struct mm *parent, struct mm *child, uintptr_t va, bool *no_table)
{
	struct page *pt, *cpt;
	pte_t *pte = pt_walk_lock(parent, va, PT_NO_ALLOC, &pt);

	*no_table = !pte;
	if (!pte)
		return true;
	pte_t e = *pte;
	struct page *p = pte_has_page(e) ? phys_to_page(pte_addr(e)) : NULL;
	if (p && p != zero_page) {
		get_page(p);
		if ((e & PTE_W) && !injected(fork_no_wrprotect)) {
			e &= ~PTE_W;
			WRITE_ONCE(*pte, e);
		}
	}
	spin_unlock(&pt->ptl);
	if (!p)
		return true;
	stall(fork_pte_shared);
	pte_t *cpte = pt_walk_lock(child, va, PT_ALLOC, &cpt);
	if (!cpte) {
		if (p != zero_page)
			put_page(p);
		return false;
	}
	WRITE_ONCE(*cpte, e);
	spin_unlock(&cpt->ptl);
	return true;
}

struct mm *vm_fork(struct mm *parent)
{
	struct mm *child = mm_create();
	bool ok = true;

	if (!child)
		return NULL;
	mmap_write_lock(parent);
	ASSERT_MSG(mmap_write_trylock(child), "mm %u: a new mm is locked", child->id);
	if (!injected(fork_no_mark))
		vma_mark_all(parent);
	struct vma_array *a = parent->vmas;	/* stable: the write lock */
	for (unsigned int i = 0; ok && a && i < a->n; i++) {
		struct vma *v = a->v[i].vma;
		if (vma_set_range(child, v->start, v->end, v->prot)) {
			ok = false;
			break;
		}
		for (uintptr_t va = v->start; ok && va < v->end; va += PAGE_SIZE) {
			uintptr_t span = va & ~(LARGE_PAGE_SIZE - 1);
			bool no_table;
			if (va == v->start || va == span)
				huge_split(parent, span);
			ok = copy_pte(parent, child, va, &no_table);
			if (no_table) {
				/* Nothing mapped in this span: on to the next. */
				uintptr_t next = span + LARGE_PAGE_SIZE;
				va = (next < v->end ? next : v->end) - PAGE_SIZE;
			}
		}
		/* The write-protects hold on every CPU before fork returns. */
		stall_ctx(fork_copied, (&(struct spf_hook_ctx){ .mm = parent }));
		flush_tlb_mm_range(parent, v->start, v->end, FLUSH_PAGES);
	}
	mmap_write_unlock(child);
	mmap_write_unlock(parent);
	if (!ok) {
		mm_destroy(child);
		return NULL;
	}
	return child;
}
