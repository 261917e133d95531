/*
 * 2 MiB anonymous pages (thp=on): a fault maps one where a whole aligned
 * 2 MiB of a VMA has no PTE table yet; munmap, mprotect and madvise split
 * one they cover in part into a PTE table of its 512 pages; collapse
 * (a khugepaged-like thread of the tests) turns a PTE table back into a
 * huge page and retracts the table without mmap_lock for write. mm/huge.c
 * draws the protocol (H) against the walkers.
 *
 * The PMD lock of a PMD is the lock of the level-2 table holding it (the
 * ptl of that table's struct page, class LOCK_PMD). Every change of a
 * PMD that is or becomes huge, and every fill of an empty PMD, is made
 * under it, with interrupts on: flushes are sent holding it.
 */
#ifndef MM_HUGE_H
#define MM_HUGE_H

#include <stdbool.h>
#include <stdint.h>
#include "mm/fault.h"

struct mm;
struct vma;
struct mmu_gather;

/* (c) thp=; thp_torture sets it around its own run, when no fault of
 * its mm is in flight. A fault elsewhere that reads either value is
 * right: it only decides whether an empty span gets a huge page. */
extern int thp_enabled;

/*
 * The huge part of a fault in vma (the caller holds mmap_lock for read or
 * vma's read lock): map a huge page if addr's 2 MiB is all vma and has no
 * table, or upgrade a huge mapping the access needs. HUGE_FAULT_PTE: the
 * span has (or gets) a PTE table, fault the 4 KiB way.
 */
enum { HUGE_FAULT_DONE = 0, HUGE_FAULT_PTE = 1 };
int huge_fault(struct mm *mm, struct vma *vma, uintptr_t addr, enum fault_access access);

/*
 * The zap of [start, end) meets the span at span (2 MiB aligned): if its
 * PMD maps a huge page, zap it whole into tlb when the range covers the
 * span (true), or split it into a PTE table (false, the caller zaps the
 * PTEs). Caller holds mmap_lock (read or write), no PMD lock.
 */
bool huge_zap(struct mm *mm, struct mmu_gather *tlb, uintptr_t span, uintptr_t start, uintptr_t end);

/* Split the huge page mapped at span, if any, into a PTE table (fork
 * shares 4 KiB pages only). mmap_lock held. */
void huge_split(struct mm *mm, uintptr_t span);

/*
 * mprotect of [start, end) meets the span at span: downgrade a huge page
 * the range covers whole (true, its range gathered into tlb), or split one
 * it covers in part (false: do the PTEs). mmap_lock held for write.
 */
bool huge_protect(struct mm *mm, struct mmu_gather *tlb, uintptr_t span, uintptr_t start,
		  uintptr_t end, unsigned int prot);

/*
 * Collapse the PTE table of the span at haddr into a huge page (the
 * khugepaged step): its pages copied, the table retracted and freed per
 * pt_free=. Takes mmap_lock for read; none held on entry.
 */
enum collapse_result {
	COLLAPSE_DONE,
	COLLAPSE_NOT_ELIGIBLE,	/* no VMA covering the span, PROT_NONE, thp off */
	COLLAPSE_NO_TABLE,	/* no PTE table (empty, or huge already) */
	COLLAPSE_EMPTY,		/* a table without a page */
	COLLAPSE_PINNED,	/* a page with a reference besides its PTE (gup) */
	COLLAPSE_NOMEM,
	NR_COLLAPSE_RESULTS,
};
enum collapse_result huge_collapse(struct mm *mm, uintptr_t haddr);

struct huge_stats {
	uint64_t faults;	/* huge pages mapped by faults */
	uint64_t splits;
	uint64_t collapse[NR_COLLAPSE_RESULTS];
};
void huge_stats_get(struct huge_stats *s);
extern const char *const collapse_result_names[NR_COLLAPSE_RESULTS];

#endif
