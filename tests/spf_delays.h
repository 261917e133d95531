/*
 * Delays and directed waits at the stall points of the fault paths and
 * the VMA writers (through stall_test_hook, kernel/stall.h), for the
 * torture suites that fault on ranges other CPUs change: they widen the
 * windows in which a writer can slip in between a lockless fault's
 * lookup and its commit, a VMA-lock reader's lookup and its checks, a
 * lockless walk and a collapse, or fork's write-protects and its flush.
 */
#ifndef TESTS_SPF_DELAYS_H
#define TESTS_SPF_DELAYS_H

#include <stdint.h>
#include "mm/mm.h"

enum spf_delays_kind {
	SPF_DELAYS_RANDOM,		/* random delays (and, whatever the kind, fork waits
					 * for copies on write before its flush) */
	SPF_DELAYS_WAIT_FOR_UNMAP,	/* and now and then a commit waits for munmap */
	SPF_DELAYS_VMA_WRITER,		/* random delays; VMA lock readers wait for writers */
	SPF_DELAYS_WAIT_FOR_COLLAPSE,	/* and lockless walkers in a PTE table wait for its retraction */
};

/*
 * SPF_DELAYS_WAIT_FOR_COLLAPSE: the 2 MiB span a lockless walker waits
 * in, holding its PTE table, until a collapse retracts the table and
 * then until it frees it (20 and 40 ms at most, 5 and 10 ms with
 * interrupts off). The collapse thread of
 * thp_torture takes it (exchanging it for 0) and collapses that span
 * next. (a)
 */
extern uintptr_t collapse_hint;

/*
 * SPF_DELAYS_VMA_WRITER and SPF_DELAYS_WAIT_FOR_UNMAP, fault=vma_lock: the
 * address whose VMA a VMA-lock reader waits for a writer to change (it
 * waits before it counts itself, or while it holds the lock). A suite
 * whose writer changes many ranges (unmap_torture's mapper,
 * mremap_torture's mover) takes it, exchanging it for 0, and changes that
 * range next, so the wait meets a write instead of timing out. (a)
 */
extern uintptr_t vma_write_hint;

/*
 * fork, its PTEs write-protected and not yet flushed (stall point
 * fork_copied), asks for write faults of the parent meanwhile: it sets
 * this to 1 up to eight times while it waits; fork_torture's writers take
 * it (exchanging it for 0) and write a page through no cached
 * translation. A correct fork holds those faults off until its flush.
 * (a)
 */
extern unsigned long fork_write_hint;

/*
 * Install the delays for faults on mm, on the calling CPU before it
 * starts the workers; spf_delays_off() after they have finished.
 */
void spf_delays_on(struct mm *mm, enum spf_delays_kind kind);
void spf_delays_off(void);

/*
 * Wait, 3 ms at most, until the VMA at addr is gone from mm's published
 * array and then until a shootdown has started or 1 ms has passed. Any
 * CPU running on mm, any context (the caller may hold interrupts off).
 */
void wait_for_unmap(struct mm *mm, uintptr_t addr);

#endif
