#include "mm/pgtable.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/rcu.h"
#include "kernel/panic.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "mm/lockless_walk.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "mm/vma.h"

/* The locked walk's window: a table found through the PMD may be
 * unhooked (madvise's reclaim) before its lock is taken. */
DEFINE_STALL(pt_lock_pmd_read, 100, "locked walk: PMD read, PTE-table lock not yet taken");
/* Two faults building the same missing table: one install wins. */
DEFINE_STALL(pt_install, 200, "table build: a level found empty and a table allocated, not yet installed");

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
		spin_lock_init(&p->ptl, LOCK_PTL);
		atomic_inc(&mm->nr_tables);
	}
	return p;
}

/* The entry pointing at the PTE table of va, or NULL. */
static pte_t *pmd_entry(struct mm *mm, uintptr_t va)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = pt_levels; level > 2; level--) {
		pte_t v = READ_ONCE(table[pt_index(va, level)]);
		if (!pte_present(v))
			return NULL;
		table = table_of(v);
	}
	return &table[pt_index(va, 2)];
}

/*
 * Under mmap_lock for read a PTE table can be unhooked and freed
 * (madvise's pt_zap_reclaim()) between reading the PMD and taking the
 * table's lock. So the walk and the lock are done under a lockless
 * walker's protection (WALKER_PTL, mm/lockless_walk.h), and the lock is
 * only tried: spinning on it with interrupts off could wait for a holder
 * that waits for our flush ack. After locking, the PMD must still point
 * at the table.
 */
static pte_t *lock_pte_table(struct mm *mm, uintptr_t va, struct page **pt_page)
{
	for (;;) {
		struct walk_prot prot;
		walk_prot_enter(&prot, WALKER_PTL);
		pte_t *pmd = pmd_entry(mm, va);
		pte_t v = pmd ? READ_ONCE(*pmd) : 0;
		if (!pte_present(v)) {
			walk_prot_leave(&prot);
			return NULL;
		}
		struct page *tp = phys_to_page(pte_addr(v));
		stall(pt_lock_pmd_read);
		bool locked = spin_trylock(&tp->ptl);
		if (locked && READ_ONCE(*pmd) != v) {
			spin_unlock(&tp->ptl);
			locked = false;
		}
		walk_prot_leave(&prot);
		if (locked) {
			*pt_page = tp;
			return table_of(v) + pt_index(va, 1);
		}
		cpu_relax();
	}
}

pte_t *pt_walk_lock(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page)
{
	for (;;) {
		pte_t *pte = lock_pte_table(mm, va, pt_page);
		if (pte || alloc == PT_NO_ALLOC)
			return pte;
		/* Build the missing levels, then lock what we built (or what a
		 * racing fault built). */
		if (!pt_walk(mm, va, PT_ALLOC, NULL))
			return NULL;
	}
}

void pt_zap_reclaim(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	uintptr_t s = (start + LARGE_PAGE_SIZE - 1) & ~(LARGE_PAGE_SIZE - 1);

	for (; s + LARGE_PAGE_SIZE <= end; s += LARGE_PAGE_SIZE) {
		struct page *tp;
		pte_t *first = lock_pte_table(mm, s, &tp);
		if (!first)
			continue;
		pte_t *table = first - pt_index(s, 1);
		for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
			pte_t e = table[i];
			if (pte_none(e))
				continue;
			WRITE_ONCE(table[i], 0);
			tlb_gather_range(tlb, s + i * PAGE_SIZE, s + (i + 1) * PAGE_SIZE);
			struct page *p = phys_to_page(pte_addr(e));
			if (p != zero_page)
				tlb_gather_page(tlb, p);
		}
		/* Empty now, and faults that walked here find the PMD changed
		 * once they hold this lock (lock_pte_table(), the speculative
		 * recheck). The PMD cannot change under the lock: unhooking is
		 * done holding it, and munmap (write lock) is excluded. */
		WRITE_ONCE(*pmd_entry(mm, s), 0);
		atomic_dec(&mm->nr_tables);
		spin_unlock(&tp->ptl);
		tlb_gather_table(tlb, tp, s);
	}
}

pte_t *pt_walk(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = pt_levels; level > 1; level--) {
		pte_t *e = &table[pt_index(va, level)];
		pte_t v = READ_ONCE(*e);

		if (!pte_present(v)) {
			if (alloc == PT_NO_ALLOC)
				return NULL;
			struct page *t = table_alloc(mm);
			if (!t)
				return NULL;
			stall(pt_install);
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

void pt_zap_range(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	for (uintptr_t va = start; va < end;) {
		uintptr_t span_end = (va + LARGE_PAGE_SIZE) & ~(LARGE_PAGE_SIZE - 1);
		struct page *tp;
		pte_t *pte = lock_pte_table(mm, va, &tp);

		if (span_end > end)
			span_end = end;
		if (!pte) {
			va = span_end;
			continue;
		}
		pte_t *table = pte - pt_index(va, 1);
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
		if (vma_overlaps(mm, s, e) || (s <= USER_STUB_VA && USER_STUB_VA < e))
			continue;	/* still in use, or leads to the ring-3 stubs */
		/* No VMA in the span: everything below was zapped, so the
		 * child is empty. Unhook it; the gather frees it after the
		 * flush (and per pt_free). */
		if (!table_empty(child)) {
			report_error("leak", "mm %u: table for %lx-%lx not empty after unmap", mm->id, s, e);
			continue;
		}
		WRITE_ONCE(table[i], 0);
		atomic_dec(&mm->nr_tables);
		tlb_gather_table(tlb, virt_to_page(child), s);
	}
}

void pt_free_empty_tables(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	free_level(mm, tlb, top_table(mm), pt_levels, 0, start, end);
}

static void destroy_level(struct mm *mm, pte_t *table, unsigned int level)
{
	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
		pte_t v = table[i];
		if (level == pt_levels && i >= 256)
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
	destroy_level(mm, top_table(mm), pt_levels);
}

long pt_tables_in_use(void)
{
	return pages_in_use(PAGE_TABLE);
}
