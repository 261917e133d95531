/*
 * The speculative (lockless) page fault, and the lockless get-user-page.
 *
 * Neither takes mmap_lock. They find the VMA in the RCU-published array,
 * walk the tables with single reads under the walker protection chosen by
 * spf_walk=, and commit under a *trylock* of the PTE table's lock after
 * rechecking that nothing they relied on changed. Anything unexpected
 * falls back to the locked path (mm/fault.c), counted by reason.
 */
#ifndef MM_SPF_H
#define MM_SPF_H

#include <stdbool.h>
#include <stdint.h>

struct mm;
struct page;

enum spf_walk_mode { SPF_WALK_IRQOFF, SPF_WALK_RCU, SPF_WALK_NONE };
extern int spf_enabled;		/* (c) spf=on|off; 1 = on */
extern int spf_walk_mode;	/* (c) spf_walk= */

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
enum spf_result spf_handle_fault(struct mm *mm, uintptr_t addr, bool write);

/*
 * Lockless get-user-page: with interrupts off, walk to addr's PTE, take a
 * reference on its page and re-read the PTE, dropping the reference if it
 * changed. Returns 0 with *page referenced (put_page() it), or -EFAULT.
 */
int gup_fast(struct mm *mm, uintptr_t addr, bool write, struct page **page);

void spf_stats_get(uint64_t out[NR_SPF_STATS]);
/* Print the "# spf: attempts=N success=N ..." line (as a KTAP diagnostic). */
void spf_stats_print(const uint64_t before[NR_SPF_STATS]);

/*
 * Test hook: called at the named points of the speculative walk and
 * commit with the walker's protection held. Torture tests put random
 * delays here; directed tests force one fallback. NULL: nothing.
 */
enum spf_point { SPF_AT_VMA_LOOKUP, SPF_AT_WALK_LEVEL, SPF_AT_BEFORE_COMMIT, SPF_AT_GUP_WALK };
struct spf_hook_ctx {
	struct mm *mm;
	uintptr_t addr;
	uint64_t *pmd;		/* the entry pointing at the PTE table (before commit) */
	struct page *pt;	/* the PTE table (before commit) */
	unsigned int level;	/* walk level */
};
/* Set by a test on its CPU before it starts the workers and cleared after
 * they finish (workers_start()/workers_wait() order it for them); other
 * faults in the meantime only see it compare ctx->mm with their own. */
extern void (*spf_test_hook)(enum spf_point at, const struct spf_hook_ctx *ctx);

#endif
