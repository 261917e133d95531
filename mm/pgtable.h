/*
 * Page tables of test address spaces (the lower half; the upper half of
 * every top-level table is the kernel's, copied at mm_create()).
 *
 * Tables below the top are allocated on demand under mmap_lock (read or
 * write) and installed with a compare-and-swap on the parent entry, so two
 * faults racing to fill the same hole agree on one table. They are
 * unhooked by munmap under mmap_lock for write (pt_free_empty_tables()),
 * and by madvise under the read lock and the PTE table's own lock
 * (pt_zap_reclaim()), then freed through the mmu_gather (mm/tlb.c draws
 * the protocol). PTEs are changed only under their PTE table's lock (ptl
 * in the table's struct page).
 */
#ifndef MM_PGTABLE_H
#define MM_PGTABLE_H

#include <stdbool.h>
#include "arch/x86/pte.h"
#include "mm/page_alloc.h"

struct mm;
struct mmu_gather;

/* Software bit: a PROT_NONE mapping, not present but keeping its page. */
#define PTE_PROTNONE	(1ull << 9)
#define PTE_TABLE_FLAGS	(PTE_P | PTE_W | PTE_U)

static inline bool pte_none(pte_t e)
{
	return e == 0;
}
static inline bool pte_present(pte_t e)
{
	return e & PTE_P;
}
/* Does the entry map a page (present, or PROT_NONE holding one)? */
static inline bool pte_has_page(pte_t e)
{
	return e & (PTE_P | PTE_PROTNONE);
}
static inline pte_t *table_of(pte_t e)
{
	return phys_to_virt(pte_addr(e));
}
/* Does a PMD (level-2 entry) map a 2 MiB page (present or PROT_NONE)
 * rather than point at a PTE table? mm/huge.h. */
static inline bool pmd_is_huge(pte_t e)
{
	return (e & PTE_PS) && (e & (PTE_P | PTE_PROTNONE));
}

/* Whether a walk builds the tables it finds missing. */
enum pt_alloc { PT_NO_ALLOC, PT_ALLOC };

/*
 * Return the PTE for va, allocating missing tables if alloc is PT_ALLOC.
 * *pt_page (if not NULL) is set to the PTE table's struct page, whose ptl
 * guards the entry. Returns NULL if a table is missing (PT_NO_ALLOC) or
 * memory ran out. Caller holds mm->mmap_lock (read or write).
 *
 * Under the read lock a PTE table can be unhooked by madvise's reclaim
 * (pt_reclaim_empty()) between this walk and taking its lock: use
 * pt_walk_lock(), which checks after locking and walks again if so.
 * A huge PMD (mm/huge.h) has no PTE: NULL, whatever alloc says.
 */
pte_t *pt_walk(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page);
/* The PMD of va (the level-2 entry), or NULL if a table above is
 * missing. Its value may change unless its PMD lock is held. */
pte_t *pt_pmd_entry(struct mm *mm, uintptr_t va);
/* The PMD of va, building the tables above it; NULL when out of memory. */
pte_t *pt_alloc_pmd(struct mm *mm, uintptr_t va);
/* A zeroed table of mm for level (1: PTEs), its lock initialized. */
struct page *pt_table_alloc(struct mm *mm, unsigned int level);
/* Does va's PMD map a huge page right now (a racy look)? */
bool pt_pmd_huge(struct mm *mm, uintptr_t va);

/* pt_walk() and lock the PTE table; returns with *pt_page's ptl held and
 * the table still hooked into mm, or NULL (no lock held): out of memory,
 * no table (PT_NO_ALLOC), or a huge PMD (pt_pmd_huge() tells). */
pte_t *pt_walk_lock(struct mm *mm, uintptr_t va, enum pt_alloc alloc, struct page **pt_page);

/*
 * madvise: for every 2 MiB span inside [start, end), clear its PTEs and
 * unhook its PTE table in one hold of the table's lock, handing pages and
 * table to tlb. Caller holds mmap_lock for read (the VMAs stay as they
 * are): a fault that walked to the table finds the PMD changed
 * once it holds the lock and walks again.
 */
void pt_zap_reclaim(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end);

/*
 * Clear the PTEs of [start, end) under each table's lock, handing their
 * pages to tlb (which frees them only after the flush). Caller holds
 * mmap_lock (read or write).
 */
void pt_zap_range(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end);

/*
 * Unhook every table whose whole span lost its last VMA in [start, end)
 * and hand it to tlb. Caller holds mmap_lock for write, after removing
 * the VMAs and zapping the range.
 */
void pt_free_empty_tables(struct mm *mm, struct mmu_gather *tlb, uintptr_t start, uintptr_t end);

/* Free every table and page of mm (teardown: no CPU uses it). */
void pt_destroy_all(struct mm *mm);

/* Page-table pages of all test address spaces, for leak checks. */
long pt_tables_in_use(void);

#endif
