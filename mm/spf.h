/*
 * The speculative (lockless) page fault.
 *
 * It takes no mmap_lock. It finds the VMA in the RCU-published array,
 * walks the tables with single reads under the walker protection chosen
 * by spf_walk= (mm/lockless_walk.h), and commits under a *trylock* of the
 * PTE table's lock after rechecking that nothing it relied on changed.
 * Anything unexpected falls back to the locked path (mm/fault.c), counted
 * by reason.
 */
#ifndef MM_SPF_H
#define MM_SPF_H

#include <stddef.h>
#include <stdint.h>
#include "mm/fault.h"

struct mm;

extern int spf_enabled;		/* (c) spf=on|off; 1 = on */

enum spf_result {
	SPF_DONE,		/* the mapping exists now: retry the access */
	SPF_FALLBACK,		/* take the locked path */
};

enum spf_stat {
	SPF_ATTEMPTS, SPF_SUCCESS, SPF_RACED,
	SPF_FB_VMA_CHANGED, SPF_FB_PMD, SPF_FB_LOCK, SPF_FB_NOPT, SPF_FB_VMA, SPF_FB_ACCESS,
	SPF_FB_PTE, SPF_FB_NOMEM, SPF_FB_POISON,
	NR_SPF_STATS,
};
extern const char *const spf_stat_names[NR_SPF_STATS];

/* Try to resolve a fault at addr in mm without mmap_lock. Any context
 * with the caller's interrupt state (irqoff protection saves/restores). */
enum spf_result spf_handle_fault(struct mm *mm, uintptr_t addr, enum fault_access access);

void spf_stats_get(uint64_t out[NR_SPF_STATS]);
/* "attempts=N success=N ...": the counts since before (NULL: since boot). */
void spf_stats_format(char *buf, size_t len, const uint64_t before[NR_SPF_STATS]);

#endif
