#include "mm/pgtable.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "mm/vma.h"

static pte_t *top_table(struct mm *mm)
{
	return phys_to_virt(mm->pgd);
}

static bool table_empty(const pte_t *t)
{
	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++)
		if (t[i])
			return false;
	return true;
}

static struct page *table_alloc(struct mm *mm)
{
	struct page *p = alloc_page_zeroed(PAGE_TABLE);

	if (p) {
		spin_lock_init(&p->ptl);
		atomic_inc(&mm->nr_tables);
	}
	return p;
}

/* The entry pointing at the PTE table of va, or NULL. */
static pte_t *pmd_entry(struct mm *mm, uintptr_t va)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = 4; level > 2; level--) {
		pte_t v = READ_ONCE(table[pt_index(va, level)]);
		if (!pte_present(v))
			return NULL;
		table = table_of(v);
	}
	return &table[pt_index(va, 2)];
}

pte_t *pt_walk_lock(struct mm *mm, uintptr_t va, bool alloc, struct page **pt_page)
{
	for (;;) {
		pte_t *pte = pt_walk(mm, va, alloc, pt_page);
		if (!pte)
			return NULL;
		spin_lock(&(*pt_page)->ptl);
		/* Still hooked? Unhooking happens under this lock. */
		pte_t *pmd = pmd_entry(mm, va);
		if (pmd && pte_present(READ_ONCE(*pmd)) &&
		    pte_addr(READ_ONCE(*pmd)) == page_to_phys(*pt_page))
			return pte;
		spin_unlock(&(*pt_page)->ptl);
	}
}

void pt_reclaim_empty(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	uintptr_t s = (start + LARGE_PAGE_SIZE - 1) & ~(LARGE_PAGE_SIZE - 1);

	for (; s + LARGE_PAGE_SIZE <= end; s += LARGE_PAGE_SIZE) {
		pte_t *pmd = pmd_entry(mm, s);
		if (!pmd)
			continue;
		pte_t v = READ_ONCE(*pmd);
		if (!pte_present(v))
			continue;
		struct page *tp = phys_to_page(pte_addr(v));
		spin_lock(&tp->ptl);
		/* Unhook only if it is still this table and still empty; the
		 * CAS keeps a concurrent reclaim of the same span out. */
		if (table_empty(table_of(v)) && atomic_cmpxchg(pmd, &v, 0)) {
			atomic_dec(&mm->nr_tables);
			spin_unlock(&tp->ptl);
			tlb_gather_table(tlb, tp, s, s + LARGE_PAGE_SIZE);
			continue;
		}
		spin_unlock(&tp->ptl);
	}
}

pte_t *pt_walk(struct mm *mm, uintptr_t va, bool alloc, struct page **pt_page)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = 4; level > 1; level--) {
		pte_t *e = &table[pt_index(va, level)];
		pte_t v = READ_ONCE(*e);

		if (!pte_present(v)) {
			if (!alloc)
				return NULL;
			struct page *t = table_alloc(mm);
			if (!t)
				return NULL;
			/* Publish the zeroed table: the CAS is a full barrier,
			 * so its zeroes are visible before the entry is. A
			 * racing fault that installed one first wins. */
			pte_t expected = 0;
			v = page_to_phys(t) | PTE_TABLE_FLAGS;
			if (!atomic_cmpxchg(e, &expected, v)) {
				free_page(t);
				atomic_dec(&mm->nr_tables);
				v = expected;
			}
		}
		ASSERT_MSG(!(v & PTE_PS), "mm %u: large page at level %u for va %lx", mm->id, level, va);
		table = table_of(v);
	}
	if (pt_page)
		*pt_page = virt_to_page(table);
	return &table[pt_index(va, 1)];
}

/* The PTE table covering va, or NULL. mmap_lock held. */
static pte_t *pte_table(struct mm *mm, uintptr_t va)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = 4; level > 1; level--) {
		pte_t v = READ_ONCE(table[pt_index(va, level)]);
		if (!pte_present(v))
			return NULL;
		table = table_of(v);
	}
	return table;
}

void pt_zap_range(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	for (uintptr_t va = start; va < end;) {
		uintptr_t span_end = (va + LARGE_PAGE_SIZE) & ~(LARGE_PAGE_SIZE - 1);
		pte_t *table = pte_table(mm, va);

		if (span_end > end)
			span_end = end;
		if (!table) {
			va = span_end;
			continue;
		}
		struct page *tp = virt_to_page(table);
		spin_lock(&tp->ptl);
		for (; va < span_end; va += PAGE_SIZE) {
			pte_t *e = &table[pt_index(va, 1)];
			pte_t v = *e;
			if (pte_none(v))
				continue;
			WRITE_ONCE(*e, 0);
			tlb_gather_range(tlb, va, va + PAGE_SIZE);
			struct page *p = phys_to_page(pte_addr(v));
			if (p != zero_page)
				tlb_gather_page(tlb, p);
		}
		spin_unlock(&tp->ptl);
	}
}

/*
 * Unhook the tables below `table` (at `level`) whose spans lie in
 * [start, end) and hold no VMA.
 */
static void free_level(struct mm *mm, struct mmu_gather *tlb, pte_t *table, unsigned int level,
		       uintptr_t base, uintptr_t start, uintptr_t end)
{
	uintptr_t span = PAGE_SIZE << (9 * (level - 1));	/* one entry's reach */

	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
		uintptr_t s = base + i * span, e = s + span;
		if (e <= start || s >= end)
			continue;
		pte_t v = table[i];
		if (!pte_present(v))
			continue;
		pte_t *child = table_of(v);
		if (level > 2)
			free_level(mm, tlb, child, level - 1, s, start, end);
		if (vma_overlaps(mm, s, e))
			continue;
		/* No VMA in the span: everything below was zapped, so the
		 * child is empty. Unhook it; the gather frees it after the
		 * flush (and per pt_free). */
		if (!table_empty(child)) {
			report_error("leak", "mm %u: table for %lx-%lx not empty after unmap", mm->id, s, e);
			continue;
		}
		WRITE_ONCE(table[i], 0);
		atomic_dec(&mm->nr_tables);
		tlb_gather_table(tlb, virt_to_page(child), s, e);
	}
}

void pt_free_empty_tables(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	free_level(mm, tlb, top_table(mm), 4, 0, start, end);
}

static void destroy_level(struct mm *mm, pte_t *table, unsigned int level)
{
	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
		pte_t v = table[i];
		if (level == 4 && i >= 256)
			break;		/* the kernel half is shared */
		if (!pte_has_page(v))
			continue;
		struct page *p = phys_to_page(pte_addr(v));
		if (level > 1) {
			destroy_level(mm, table_of(v), level - 1);
			free_page(p);
			atomic_dec(&mm->nr_tables);
		} else if (p != zero_page) {
			put_page(p);
		}
		table[i] = 0;
	}
}

void pt_destroy_all(struct mm *mm)
{
	destroy_level(mm, top_table(mm), 4);
}

long pt_tables_in_use(void)
{
	return pages_in_use(PAGE_TABLE);
}
