/*
 * 2 MiB anonymous pages: fault, split, collapse. See mm/huge.h.
 *
 * This file owns the protocol between a PMD that changes kind (none,
 * huge page, PTE table) and the walkers that read it. Every walker that
 * maps a PTE table (the locked fault's and munmap's lock_pte_table(),
 * the speculative fault, gup_fast) reads the PMD under its walker
 * protection, takes the table's lock (or, gup_fast, a page reference),
 * and checks the PMD still holds the value it walked through; a huge
 * PMD is never walked as a table. Lettered:
 *
 * (H) Collapse retracts a PTE table under mmap_lock for read only, so
 *     faults (locked, VMA-locked, speculative), madvise and gup_fast run
 *     beside it:
 *
 *   collapse (huge_collapse)              a walker of the same span
 *   mmap_read_lock                        walker protection on
 *   lock PMD; lock PTE table T            pmd = *pmdp (-> T)
 *   every page of T: one reference        read a PTE of T
 *   *pmdp = 0                             trylock T / get the page
 *   flush the span (tables too)
 *   sync: an IPI every CPU serves ---->   (served only once interrupts
 *                                          are on: after the walk ends)
 *   every page of T: one reference still? no: a gup got in, undo
 *   copy the pages; clear T's PTEs        locked: *pmdp != pmd: walk again
 *   *pmdp = huge page                     gup: PTE changed: drop, fail
 *   unlock T; unlock PMD
 *   T and the pages to the gather:
 *   freed after a flush, T per pt_free=
 *
 *   The locked walker holds T's lock when it rechecks the PMD: if it got
 *   the lock before collapse, collapse waits for it and then sees what it
 *   installed; if after, collapse has cleared the PMD and the recheck
 *   fails (inject=ptl_no_pmd_recheck skips it: the fault installs into
 *   the dead table, which is found not empty when it is freed). A walker
 *   that read the old PMD and is still inside T is held off by its
 *   protection: interrupts off until the sync's IPI is served, a read
 *   section until T's grace period (pt_free=rcu). The sync is what makes
 *   collapse safe for interrupts-off walkers under every pt_free= and
 *   tlb_flush=: an NMI flush (tlb_flush=nmi) or an RCU flavor that does
 *   not count interrupts-off regions (rcu=preempt) would not wait for
 *   them (inject=collapse_no_sync). Freeing T before its grace period
 *   (inject=collapse_free_now) frees it under read-section walkers.
 *   A zap under the read lock (madvise) that finds the PMD empty takes
 *   the PMD lock before it believes it (pmd_surely_empty(), mm/pgtable.c):
 *   an empty PMD may be a collapse in flight, whose copy would then keep
 *   what the zap was to drop.
 *   A gup reference taken before the sync shows in the second count, and
 *   one after it finds T's PTE (or the PMD) changed: no page is copied
 *   while someone else may still write it.
 *
 * (S) Split, under the PMD lock: the huge PMD is replaced in one store by
 *     a full PTE table mapping the same 512 pages with the same rights,
 *     then the span is flushed (a CPU may hold the 2 MiB translation; the
 *     4 KiB ones agree with it, so the order does not matter to an
 *     access). The PMD is never empty on the way, so nothing can fill it
 *     meanwhile. The page is split into 512 single pages, each with the
 *     reference of its PTE: gup_fast never references a huge page, so no
 *     other reference exists.
 *
 * A fault fills an empty PMD with a huge page under the PMD lock, as
 * pt_walk() fills it with a table: the two never both succeed.
 */
#include "mm/huge.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/report.h"
#include "kernel/smp_call.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"

#define HUGE_ORDER	9
#define HUGE_PAGES	(1u << HUGE_ORDER)

static const char *const thp_names[] = { "off", "on", NULL };
int thp_enabled;
CMDLINE_ENUM(thp, thp_enabled, thp_names,
	     "2 MiB pages for anonymous memory: mapped by faults, split, collapsed");

DEFINE_INJECT(collapse_no_sync, "collapse does not sync with interrupts-off walkers before freeing");
DEFINE_INJECT(collapse_free_now, "collapse frees the retracted PTE table at once, not per pt_free=");

DEFINE_STALL(collapse_locked, 200, "collapse: PMD and PTE table locked, references counted, PMD still set");
DEFINE_STALL(collapse_unhooked, 500, "collapse: PMD cleared and the span flushed, pages not yet copied");
DEFINE_STALL(huge_split, 200, "split: huge PMD replaced by a PTE table, span not yet flushed");

const char *const collapse_result_names[NR_COLLAPSE_RESULTS] = {
	[COLLAPSE_DONE] = "done", [COLLAPSE_NOT_ELIGIBLE] = "not_eligible",
	[COLLAPSE_NO_TABLE] = "no_table", [COLLAPSE_EMPTY] = "empty",
	[COLLAPSE_PINNED] = "pinned", [COLLAPSE_NOMEM] = "nomem",
};

/* (a) relaxed counters, read for the tests' statistics lines. */
static struct huge_stats stats;
#define STAT_INC(f) __atomic_fetch_add(&stats.f, 1, __ATOMIC_RELAXED)

void huge_stats_get(struct huge_stats *s)
{
	s->faults = load_relaxed(&stats.faults);
	s->splits = load_relaxed(&stats.splits);
	for (unsigned int r = 0; r < NR_COLLAPSE_RESULTS; r++)
		s->collapse[r] = load_relaxed(&stats.collapse[r]);
}

static spinlock_t *pmd_lockptr(pte_t *pmdp)
{
	return &virt_to_page(pmdp)->ptl;
}

/* The rights of a huge page in vma: a fault's leaf flags, writable when
 * the VMA is (no page is shared, so a write needs no copy). */
static pte_t huge_flags(const struct vma *vma)
{
	return fault_leaf_flags(vma->prot) | PTE_PS | (vma->prot & PROT_WRITE ? PTE_W : 0);
}

int huge_fault(struct mm *mm, struct vma *vma, uintptr_t addr, enum fault_access access)
{
	uintptr_t haddr = addr & ~(LARGE_PAGE_SIZE - 1);
	bool fits = thp_enabled && vma->start <= haddr && haddr + LARGE_PAGE_SIZE <= vma->end;
	pte_t *pmdp = fits ? pt_alloc_pmd(mm, haddr) : pt_pmd_entry(mm, haddr);
	struct page *hp = NULL;
	int ret = HUGE_FAULT_DONE;

	(void)access;	/* a huge mapping gets every right of the VMA */
	if (!pmdp)
		return fits ? -ENOMEM : HUGE_FAULT_PTE;
	pte_t v = READ_ONCE(*pmdp);
	if ((v && !pmd_is_huge(v)) || (!v && !fits))
		return HUGE_FAULT_PTE;
	if (!v) {
		hp = alloc_pages(HUGE_ORDER, PAGE_ANON);
		if (!hp)
			return HUGE_FAULT_PTE;	/* no 2 MiB block: 4 KiB pages */
		memset(page_address(hp), 0, LARGE_PAGE_SIZE);
	}
	spinlock_t *ptl = pmd_lockptr(pmdp);
	spin_lock(ptl);
	v = *pmdp;
	if (!v && hp) {
		page_make_compound(hp, HUGE_ORDER);
		/* The zeroes before the entry (x86 keeps stores in order). */
		barrier();
		WRITE_ONCE(*pmdp, page_to_phys(hp) | huge_flags(vma));
		hp = NULL;
		STAT_INC(faults);
	} else if (pmd_is_huge(v)) {
		if (!fits) {
			/* Splits at every VMA change keep a huge page inside
			 * one VMA: this one reaches outside. */
			report_error("huge_outside_vma", "mm %u: huge page at %lx reaches outside VMA "
				     "%lx-%lx", mm->id, haddr, vma->start, vma->end);
			ret = -EFAULT;
		} else {
			/* An upgrade (PROT_NONE back, write, exec): the VMA
			 * allows the access. A CPU holding the old rights
			 * only faults again, which drops that entry. */
			pte_t n = pte_addr(v) | huge_flags(vma);
			if (n != v)
				WRITE_ONCE(*pmdp, n);
		}
	} else {
		ret = HUGE_FAULT_PTE;	/* a table got there first */
	}
	spin_unlock(ptl);
	if (hp)
		free_pages(hp, HUGE_ORDER);
	return ret;
}

/* (S) PMD lock held, *pmdp maps a huge page at haddr. */
static void split_locked(struct mm *mm, pte_t *pmdp, uintptr_t haddr)
{
	pte_t v = *pmdp;
	struct page *t = pt_table_alloc(mm, 1);

	if (!t)
		panic("out of memory: no page for the PTE table splitting the huge page at %lx "
		      "of mm %u", haddr, mm->id);
	pte_t *tbl = page_address(t);
	pte_t flags = (v & ~PTE_ADDR_MASK) & ~PTE_PS;	/* PS is PAT in a PTE */
	for (unsigned int i = 0; i < HUGE_PAGES; i++)
		tbl[i] = (pte_addr(v) + (paddr_t)i * PAGE_SIZE) | flags;
	page_split_compound(phys_to_page(pte_addr(v)));
	barrier();	/* the table before the entry */
	WRITE_ONCE(*pmdp, page_to_phys(t) | PTE_TABLE_FLAGS);
	stall(huge_split);
	flush_tlb_mm_range(mm, haddr, haddr + LARGE_PAGE_SIZE, FLUSH_PAGES);
	STAT_INC(splits);
}

/* Lock the PMD of span if it maps a huge page; NULL if it does not. */
static pte_t *lock_huge_pmd(struct mm *mm, uintptr_t span)
{
	pte_t *pmdp = pt_pmd_entry(mm, span);

	if (!pmdp || !pmd_is_huge(READ_ONCE(*pmdp)))
		return NULL;
	spin_lock(pmd_lockptr(pmdp));
	if (pmd_is_huge(*pmdp))
		return pmdp;
	spin_unlock(pmd_lockptr(pmdp));
	return NULL;
}

void huge_split(struct mm *mm, uintptr_t span)
{
	pte_t *pmdp = lock_huge_pmd(mm, span);

	if (pmdp) {
		split_locked(mm, pmdp, span);
		spin_unlock(pmd_lockptr(pmdp));
	}
}

bool huge_zap(struct mm *mm, struct mmu_gather *tlb, uintptr_t span, uintptr_t start, uintptr_t end)
{
	pte_t *pmdp = lock_huge_pmd(mm, span);
	bool whole = start <= span && span + LARGE_PAGE_SIZE <= end;

	if (!pmdp)
		return false;
	if (whole) {
		pte_t v = *pmdp;
		WRITE_ONCE(*pmdp, 0);
		tlb_gather_range(tlb, span, span + LARGE_PAGE_SIZE);
		tlb_gather_page(tlb, phys_to_page(pte_addr(v)));	/* freed whole */
	} else {
		split_locked(mm, pmdp, span);
	}
	spin_unlock(pmd_lockptr(pmdp));
	return whole;
}

bool huge_protect(struct mm *mm, struct mmu_gather *tlb, uintptr_t span, uintptr_t start,
		  uintptr_t end, unsigned int prot)
{
	pte_t *pmdp = lock_huge_pmd(mm, span);
	bool whole = start <= span && span + LARGE_PAGE_SIZE <= end;

	if (!pmdp)
		return false;
	if (whole) {
		pte_t e = *pmdp, n = prot_downgrade(e, prot);
		if (n != e) {
			WRITE_ONCE(*pmdp, n);
			tlb_gather_range(tlb, span, span + LARGE_PAGE_SIZE);
		}
	} else {
		split_locked(mm, pmdp, span);
	}
	spin_unlock(pmd_lockptr(pmdp));
	return whole;
}

static void collapse_sync(void *arg)
{
	(void)arg;	/* being run is the point: interrupts were on here */
}

/* The page a PTE holds that collapse copies and frees, or NULL. */
static struct page *collapse_page(pte_t e)
{
	if (!pte_has_page(e))
		return NULL;
	struct page *p = phys_to_page(pte_addr(e));
	return p == zero_page ? NULL : p;
}

/* PTE table lock held: does each page of tbl have its PTE's reference
 * only? Counts the pages into *nr. */
static bool collapse_unshared(const pte_t *tbl, unsigned int *nr)
{
	*nr = 0;
	for (unsigned int i = 0; i < HUGE_PAGES; i++) {
		struct page *p = collapse_page(READ_ONCE(tbl[i]));
		if (!p)
			continue;
		(*nr)++;
		if (load_acquire(&p->refcount) != 1)
			return false;
	}
	return true;
}

enum collapse_result huge_collapse(struct mm *mm, uintptr_t haddr)
{
	enum collapse_result r = COLLAPSE_DONE;
	struct mmu_gather tlb;
	unsigned int nr;

	if (!thp_enabled)
		return COLLAPSE_NOT_ELIGIBLE;
	struct page *hp = alloc_pages(HUGE_ORDER, PAGE_ANON);
	if (!hp) {
		STAT_INC(collapse[COLLAPSE_NOMEM]);
		return COLLAPSE_NOMEM;
	}
	mmap_read_lock(mm);
	struct vma *vma = vma_find(mm, haddr);
	pte_t *pmdp = pt_pmd_entry(mm, haddr);
	if (!vma || vma->start > haddr || vma->end < haddr + LARGE_PAGE_SIZE ||
	    !(vma->prot & (PROT_READ | PROT_WRITE | PROT_EXEC))) {
		r = COLLAPSE_NOT_ELIGIBLE;
		goto out;
	}
	pte_t v = pmdp ? READ_ONCE(*pmdp) : 0;
	if (!pte_present(v) || pmd_is_huge(v)) {
		r = COLLAPSE_NO_TABLE;
		goto out;
	}
	spinlock_t *pmd_ptl = pmd_lockptr(pmdp);
	spin_lock(pmd_ptl);
	v = *pmdp;
	if (!pte_present(v) || pmd_is_huge(v)) {
		spin_unlock(pmd_ptl);
		r = COLLAPSE_NO_TABLE;
		goto out;
	}
	struct page *tp = phys_to_page(pte_addr(v));
	pte_t *tbl = table_of(v);
	spin_lock(&tp->ptl);
	if (!collapse_unshared(tbl, &nr) || !nr) {
		r = nr ? COLLAPSE_PINNED : COLLAPSE_EMPTY;
		goto unlock;
	}
	stall(collapse_locked);

	/* (H): unhook T, flush, sync with interrupts-off walkers. */
	WRITE_ONCE(*pmdp, 0);
	flush_tlb_mm_range(mm, haddr, haddr + LARGE_PAGE_SIZE, FLUSH_PAGES_AND_TABLES);
	if (!injected(collapse_no_sync))
		smp_call_others(collapse_sync, NULL);
	stall(collapse_unhooked);
	if (!collapse_unshared(tbl, &nr)) {
		WRITE_ONCE(*pmdp, v);	/* a gup got a reference first: undo */
		r = COLLAPSE_PINNED;
		goto unlock;
	}

	/* No CPU maps T's pages now and none can reach T: copy, empty T
	 * (a PTE found in it when it is freed was installed after this by
	 * a walker that skipped its recheck), and map the copy. */
	tlb_gather_init(&tlb, mm);
	uint8_t *dst = page_address(hp);
	for (unsigned int i = 0; i < HUGE_PAGES; i++, dst += PAGE_SIZE) {
		pte_t e = tbl[i];
		struct page *p = collapse_page(e);
		if (p) {
			memcpy(dst, page_address(p), PAGE_SIZE);
			tlb_gather_page(&tlb, p);
		} else {
			memset(dst, 0, PAGE_SIZE);
		}
		WRITE_ONCE(tbl[i], 0);
	}
	page_make_compound(hp, HUGE_ORDER);
	barrier();	/* the copy before the entry */
	WRITE_ONCE(*pmdp, page_to_phys(hp) | huge_flags(vma));
	hp = NULL;
	atomic_dec(&mm->nr_tables);
	spin_unlock(&tp->ptl);
	spin_unlock(pmd_ptl);
	if (injected(collapse_free_now))
		free_page(tp);	/* the seeded bug: read-section walkers may be in it */
	else
		tlb_gather_table(&tlb, tp, haddr);
	tlb_flush_and_free(&tlb);
	goto out;
unlock:
	spin_unlock(&tp->ptl);
	spin_unlock(pmd_ptl);
out:
	mmap_read_unlock(mm);
	if (hp)
		free_pages(hp, HUGE_ORDER);
	STAT_INC(collapse[r]);
	return r;
}
