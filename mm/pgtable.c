#include "mm/pgtable.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/inject.h"
#include "kernel/rcu.h"
#include "kernel/panic.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "mm/huge.h"
#include "mm/lockless_walk.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "mm/vma.h"

/* The locked walk's window: a table found through the PMD may be
 * unhooked (madvise's reclaim) before its lock is taken. */
DEFINE_STALL(pt_lock_pmd_read, 100, "locked walk: PMD read, PTE-table lock not yet taken");
DEFINE_INJECT(ptl_no_pmd_recheck, "the locked walk skips the PMD recheck after taking the PTE-table lock");
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

/* A zeroed table for level `level` (1: PTEs). The lock of a level-2
 * table is the PMD lock of its entries (mm/huge.h). */
struct page *pt_table_alloc(struct mm *mm, unsigned int level)
{
	struct page *p = alloc_page_zeroed(PAGE_TABLE);

	if (p) {
		spin_lock_init(&p->ptl, level == 2 ? LOCK_PMD : LOCK_PTL);
		atomic_inc(&mm->nr_tables);
	}
	return p;
}

pte_t *pt_pmd_entry(struct mm *mm, uintptr_t va)
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
		pte_t *pmd = pt_pmd_entry(mm, va);
		pte_t v = pmd ? READ_ONCE(*pmd) : 0;
		if (!pte_present(v) || pmd_is_huge(v)) {
			walk_prot_leave(&prot);
			return NULL;	/* no table, or a huge page: never walked as one */
		}
		struct page *tp = phys_to_page(pte_addr(v));
		stall(pt_lock_pmd_read);
		bool locked = spin_trylock(&tp->ptl);
		/* A table unhooked between the read and the lock (madvise's
		 * reclaim, a collapse into a huge page) is dead: walk again. */
		if (locked && READ_ONCE(*pmd) != v && !injected(ptl_no_pmd_recheck)) {
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

/*
 * A zap under mmap_lock for read found no table at va: is the span
 * really empty? A collapse (mm/huge.c, (H)) holds the PMD empty for a
 * while under the PMD lock, then installs a copy of the table's pages:
 * a zap that skipped the span then would leave the copy mapped. Waiting
 * for the PMD lock waits that collapse out.
 */
static bool pmd_surely_empty(struct mm *mm, uintptr_t va)
{
	pte_t *pmdp = pt_pmd_entry(mm, va);

	if (!pmdp)
		return true;	/* tables above go only under the write lock */
	spinlock_t *pmd_lock = &virt_to_page(pmdp)->ptl;
	spin_lock(pmd_lock);
	pte_t v = *pmdp;
	spin_unlock(pmd_lock);
	return v == 0;
}

bool pt_pmd_huge(struct mm *mm, uintptr_t va)
{
	pte_t *pmd = pt_pmd_entry(mm, va);

	return pmd && pmd_is_huge(READ_ONCE(*pmd));
}

pte_t *pt_walk_lock(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page)
{
	for (;;) {
		pte_t *pte = lock_pte_table(mm, va, pt_page);
		if (pte || alloc == PT_NO_ALLOC || pt_pmd_huge(mm, va))
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
		if (huge_zap(mm, tlb, s, start, end))
			continue;	/* a huge page: the whole span went */
		pte_t *first = lock_pte_table(mm, s, &tp);
		if (!first && !pmd_surely_empty(mm, s)) {
			s -= LARGE_PAGE_SIZE;	/* huge or a table now: again */
			continue;
		}
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
		WRITE_ONCE(*pt_pmd_entry(mm, s), 0);
		atomic_dec(&mm->nr_tables);
		spin_unlock(&tp->ptl);
		tlb_gather_table(tlb, tp, s);
	}
}

/* The entry of va at level stop (1: the PTE, 2: the PMD), building what
 * is missing above it if alloc says so. */
static pte_t *walk_to(struct mm *mm, uintptr_t va, enum pt_alloc alloc, unsigned int stop)
{
	pte_t *table = top_table(mm);

	for (unsigned int level = pt_levels; level > stop; level--) {
		pte_t *e = &table[pt_index(va, level)];
		pte_t v = READ_ONCE(*e);

		if (v == 0) {
			if (alloc == PT_NO_ALLOC)
				return NULL;
			struct page *t = pt_table_alloc(mm, level - 1);
			if (!t)
				return NULL;
			stall(pt_install);
			/* Publish the zeroed table: the CAS is a full barrier,
			 * so its zeroes are visible before the entry is. A
			 * racing fault that installed one first wins. A PMD
			 * is filled under the PMD lock: a split or collapse
			 * holding it may have the entry empty for a moment
			 * (mm/huge.c), and a table put there would be lost. */
			pte_t expected = 0;
			v = page_to_phys(t) | PTE_TABLE_FLAGS;
			spinlock_t *pmd_lock = level == 2 ? &virt_to_page(table)->ptl : NULL;
			if (pmd_lock)
				spin_lock(pmd_lock);
			bool won = atomic_cmpxchg(e, &expected, v);
			if (pmd_lock)
				spin_unlock(pmd_lock);
			if (!won) {
				free_page(t);
				atomic_dec(&mm->nr_tables);
				v = expected;
			}
		}
		if (level == 2 && pmd_is_huge(v))
			return NULL;	/* a huge page: no PTE to walk to */
		ASSERT_MSG(!(v & PTE_PS), "mm %u: large page at level %u for va %lx", mm->id, level, va);
		table = table_of(v);
	}
	return &table[pt_index(va, stop)];
}

pte_t *pt_alloc_pmd(struct mm *mm, uintptr_t va)
{
	return walk_to(mm, va, PT_ALLOC, 2);
}

pte_t *pt_walk(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page)
{
	pte_t *pte = walk_to(mm, va, alloc, 1);

	if (pte && pt_page)
		*pt_page = virt_to_page(pte);
	return pte;
}

void pt_zap_range(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	for (uintptr_t va = start; va < end;) {
		uintptr_t span_end = (va + LARGE_PAGE_SIZE) & ~(LARGE_PAGE_SIZE - 1);
		struct page *tp;

		if (span_end > end)
			span_end = end;
		/* A huge page covered whole is zapped as one; one covered in
		 * part is split into a table first. */
		if (huge_zap(mm, tlb, va & ~(LARGE_PAGE_SIZE - 1), start, end)) {
			va = span_end;
			continue;
		}
		pte_t *pte = lock_pte_table(mm, va, &tp);
		if (!pte && !pmd_surely_empty(mm, va))
			continue;	/* collapsed meanwhile: again (split it again) */
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
		if (level == 2 && pmd_is_huge(v)) {
			/* The zap before took every huge page of the range. */
			if (!vma_overlaps(mm, s, e))
				report_error("leak", "mm %u: huge page at %lx-%lx after unmap", mm->id, s, e);
			continue;
		}
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
		if (level == 2 && pmd_is_huge(v)) {
			put_page(p);	/* the whole huge page */
		} else if (level > 1) {
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
