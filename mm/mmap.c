/*
 * mmap, munmap, mprotect, madvise(DONTNEED) on test address spaces.
 *
 * munmap follows the rule of mm/tlb.h, in this order:
 *   write-lock -> publish the VMA array without the range -> clear PTEs
 *   under each PTL, gathering pages -> unhook empty tables, gathering
 *   them -> one shootdown for both (pages, paging-structure caches; lazy
 *   CPUs too when tables went, every CPU under pt_free=ipi) -> free pages,
 *   and tables per pt_free -> write-unlock.
 * Nothing is freed before the one flush that covers it, so the pages and
 * the tables share it: one IPI per target CPU per munmap, not two.
 * Publishing before zapping is what a speculative fault relies on
 * (mm/spf.c): mprotect too publishes its new VMAs before touching PTEs.
 */
#include "mm/mmap.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "mm/debug.h"
#include "mm/huge.h"
#include "mm/mm.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"

/* The steps of munmap's order (above), of mprotect and of madvise, where
 * lockless walkers and faults on other CPUs see the intermediate state. */
DEFINE_STALL(munmap_published, 1000, "munmap: VMA array without the range published, PTEs still there");
DEFINE_STALL(munmap_zapped, 1000, "munmap: PTEs cleared, tables not yet unhooked, nothing flushed");
DEFINE_STALL(munmap_unhooked, 1000, "munmap: empty tables unhooked, not yet flushed");
DEFINE_STALL(mprotect_published, 1000, "mprotect: new VMAs published, PTEs not yet downgraded");
DEFINE_STALL(madvise_reclaimed, 200, "madvise(DONTNEED): whole tables taken back, other PTEs not yet zapped");

bool range_ok(uintptr_t addr, uintptr_t len)
{
	return !(addr & ~PAGE_MASK) && len && !(len & ~PAGE_MASK) && addr >= USER_BASE &&
	       addr + len > addr && addr + len <= USER_MAP_TOP;
}

long unmap_locked(struct mm *mm, uintptr_t start, uintptr_t end)
{
	struct mmu_gather tlb;
	int err;

	if (!vma_overlaps(mm, start, end))
		return 0;
	err = vma_set_range(mm, start, end, VMA_REMOVE);
	if (err)
		return err;
	stall(munmap_published);
	tlb_gather_init(&tlb, mm);
	pt_zap_range(mm, &tlb, start, end);
	stall(munmap_zapped);
	pt_free_empty_tables(mm, &tlb, start, end);
	stall(munmap_unhooked);
	tlb_flush_and_free(&tlb);
	debug_check_unmapped(mm, start, end);
	return 0;
}

long vm_mmap(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot, unsigned int flags)
{
	long ret;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC) || flags & ~(MAP_FIXED | MAP_GROWSDOWN))
		return -EINVAL;
	if (flags & MAP_GROWSDOWN)
		prot |= PROT_GROWSDOWN;
	mmap_write_lock(mm);
	if (flags & MAP_FIXED) {
		if (!range_ok(addr, len)) {
			ret = -EINVAL;
			goto out;
		}
		ret = unmap_locked(mm, addr, addr + len);
		if (ret)
			goto out;
	} else {
		addr = vma_find_gap(mm, len);
		if (!addr || !range_ok(addr, len)) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = vma_set_range(mm, addr, addr + len, prot);
	if (!ret)
		ret = (long)addr;
out:
	mmap_write_unlock(mm);
	return ret;
}

long vm_munmap(struct mm *mm, uintptr_t addr, uintptr_t len)
{
	long ret;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!range_ok(addr, len))
		return -EINVAL;
	mmap_write_lock(mm);
	ret = unmap_locked(mm, addr, addr + len);
	mmap_write_unlock(mm);
	return ret;
}

/*
 * (T) Stack growth. A fault below a stack finds no VMA; growing the stack
 * replaces its VMA, and a VMA is replaced only under mmap_lock for write
 * (two growths under the read lock would each publish an array built
 * from the same old one: one growth lost, and the VMA it replaced left in
 * the array after it was freed). So the fault drops its read lock, grows
 * the stack here, and starts over:
 *
 *   fault below stack v (read lock)        another fault, or a writer
 *   vma_find(addr): none; v above          ...
 *   read unlock
 *   write lock                             (waits, or went first: then
 *   vma_find(addr) again: grown already?    addr is mapped now and this
 *   v = the stack above, checked again      growth does nothing)
 *   vma_set_range(addr, v->end): mark v,
 *   drain its VMA-lock readers, publish
 *   [addr, v->end), retire v
 *   write unlock (the new VMA's mark goes)
 *   read lock; vma_find(addr): the stack   a VMA-lock fault on v finds it
 *                                          marked or replaced: falls back
 *
 * Growth maps nothing: the fault that follows does, as for any VMA.
 * inject=stack_grow_read_locked grows under the fault's read lock.
 */
unsigned long stack_growths;

int stack_grow_locked(struct mm *mm, uintptr_t addr)
{
	addr &= PAGE_MASK;
	if (vma_find(mm, addr))
		return 0;	/* another fault grew it first */
	struct vma *v = vma_stack_above(mm, addr, STACK_GROW_MAX, STACK_GUARD_GAP);
	if (!v)
		return -EFAULT;
	int ret = vma_set_range(mm, addr, v->end, v->prot);
	if (!ret)
		atomic_inc(&stack_growths);
	return ret;
}

int vm_stack_grow(struct mm *mm, uintptr_t addr)
{
	int ret;

	mmap_write_lock(mm);
	ret = stack_grow_locked(mm, addr);
	mmap_write_unlock(mm);
	return ret;
}

/* Is [start, end) covered by VMAs with no hole? mmap_lock held. */
static bool fully_mapped(struct mm *mm, uintptr_t start, uintptr_t end)
{
	for (uintptr_t a = start; a < end;) {
		struct vma *v = vma_find(mm, a);
		if (!v)
			return false;
		a = v->end;
	}
	return true;
}

pte_t prot_downgrade(pte_t e, unsigned int prot)
{
	if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		e = (e & ~PTE_P) | PTE_PROTNONE;
	else if (!(prot & PROT_WRITE))
		e &= ~PTE_W;
	if (!(prot & PROT_EXEC) && cpu_features.nx)
		e |= PTE_NX;
	return e;
}

long vm_mprotect(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot)
{
	struct mmu_gather tlb;
	long ret;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!range_ok(addr, len) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	mmap_write_lock(mm);
	if (!fully_mapped(mm, addr, addr + len)) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vma_set_range(mm, addr, addr + len, prot);
	if (ret)
		goto out;
	stall(mprotect_published);

	/* Downgrade the PTEs; upgrades are left to the fault path. */
	tlb_gather_init(&tlb, mm);
	for (uintptr_t va = addr; va < addr + len; va += PAGE_SIZE) {
		struct page *pt;
		uintptr_t span = va & ~(LARGE_PAGE_SIZE - 1);
		/* A huge page: downgraded whole, or split for the PTEs. */
		if ((va == addr || va == span) && huge_protect(mm, &tlb, span, addr, addr + len, prot)) {
			va = span + LARGE_PAGE_SIZE - PAGE_SIZE;
			continue;
		}
		pte_t *pte = pt_walk(mm, va, PT_NO_ALLOC, &pt);
		if (!pte)
			continue;
		spin_lock(&pt->ptl);
		pte_t e = *pte, n = pte_present(e) ? prot_downgrade(e, prot) : e;
		if (n != e) {
			WRITE_ONCE(*pte, n);
			tlb_gather_range(&tlb, va, va + PAGE_SIZE);
		}
		spin_unlock(&pt->ptl);
	}
	/* The downgrade holds on every CPU before mprotect returns. */
	tlb_flush_and_free(&tlb);
out:
	mmap_write_unlock(mm);
	return ret;
}

long vm_madvise_dontneed(struct mm *mm, uintptr_t addr, uintptr_t len)
{
	struct mmu_gather tlb;
	long ret = 0;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!range_ok(addr, len))
		return -EINVAL;
	/* Read lock, as faults: the PTLs order us against them. */
	mmap_read_lock(mm);
	if (!fully_mapped(mm, addr, addr + len)) {
		ret = -ENOMEM;
	} else {
		tlb_gather_init(&tlb, mm);
		/* Whole 2 MiB spans give their PTE table back too (the VMAs
		 * stay; a later fault builds a new table). The VMAs do not
		 * change: a lockless fault relies on its PMD recheck here. */
		pt_zap_reclaim(mm, &tlb, addr, addr + len);
		stall(madvise_reclaimed);
		pt_zap_range(mm, &tlb, addr, addr + len);
		tlb_flush_and_free(&tlb);
	}
	mmap_read_unlock(mm);
	return ret;
}
