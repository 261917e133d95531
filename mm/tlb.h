/*
 * TLB shootdown and the mmu_gather.
 *
 * The rule: unhook, invalidate, then free. Pages and tables handed to an
 * mmu_gather are freed only after the flush that covers them has been
 * acknowledged by every CPU that may hold a translation (mm->cpumask,
 * lazy CPUs included). Freed tables then go out per pt_free=:
 *   ipi  the flush that unhooked them was a synchronous IPI to every CPU;
 *        a walker with interrupts off delays its CPU's ack, so no table is
 *        freed under it. Freed at once after the acks.
 *   rcu  freed after a grace period of the RCU flavor in force.
 */
#ifndef MM_TLB_H
#define MM_TLB_H

#include <stdbool.h>
#include <stdint.h>

struct mm;
struct page;

enum pt_free_mode { PT_FREE_IPI, PT_FREE_RCU };
extern int pt_free_mode;		/* (c) pt_free= */
enum tlb_flush_mode { TLB_FLUSH_IPI, TLB_FLUSH_NMI };
extern int tlb_flush_mode;		/* (c) tlb_flush= */
extern uint64_t tlb_ceiling;		/* (c) tlb_ceiling= pages */

/* Freed tables whose spans a flush names one by one; more: full flush. */
#define TLB_TABLE_ADDRS 8

struct mmu_gather {
	struct mm *mm;
	uintptr_t start, end;		/* pages that lost translations; start > end: none */
	/* An address in the span of each freed table (the first
	 * TLB_TABLE_ADDRS of ntables): an INVLPG there drops the
	 * paging-structure-cache entries that lead to the table. */
	uintptr_t table_va[TLB_TABLE_ADDRS];
	struct page *pages;		/* list through page->next */
	struct page *tables;
	unsigned long npages, ntables;
};

void tlb_gather_init(struct mmu_gather *tlb, struct mm *mm);
/* Note that the pages [start, end) lost their translations. */
void tlb_gather_range(struct mmu_gather *tlb, uintptr_t start, uintptr_t end);
void tlb_gather_page(struct mmu_gather *tlb, struct page *page);
/* table was unhooked; va is an address it translated. The PTEs it held
 * were cleared and gathered with tlb_gather_range() already. */
void tlb_gather_table(struct mmu_gather *tlb, struct page *table, uintptr_t va);
/* Flush what was gathered, then free the pages (and tables, per
 * pt_free). Leaves the gather empty for reuse. */
void tlb_flush_and_free(struct mmu_gather *tlb);

/* What a flush drops: translations of pages only, or the paging-structure
 * caches too because tables were unhooked. */
enum tlb_flush_what { FLUSH_PAGES, FLUSH_PAGES_AND_TABLES };

/*
 * Invalidate [start, end) of mm on every CPU that may cache it, and wait
 * for them all. Lazy CPUs are marked instead of interrupted and flush
 * when they use the mm again. FLUSH_PAGES_AND_TABLES: paging-structure
 * caches too, lazy CPUs included, and (pt_free=ipi) every online CPU so
 * no walker is left inside a freed table.
 * Any context with interrupts enabled or not: while waiting, the caller
 * serves flushes aimed at itself.
 */
void flush_tlb_mm_range(struct mm *mm, uintptr_t start, uintptr_t end, enum tlb_flush_what what);

struct tlb_stats {
	uint64_t shootdowns, ranged, full, ipis_sent, pages_flushed, lazy_skipped;
	uint64_t nmi_flushes;	/* requests served in an NMI (tlb_flush=nmi) */
};
void tlb_stats_get(struct tlb_stats *s);

/*
 * The target's half of a flush sent by NMI (tlb_flush=nmi), called from
 * every NMI: returns true if the NMI may have been one (in that mode a
 * flush NMI can find its work already done by the one before it).
 */
bool tlb_flush_nmi(void);

#endif
