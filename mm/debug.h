/*
 * The test oracles that run on the kernel's own paths, and the test hook
 * of the lockless walkers. Everything a test asks of the production code
 * goes through here, so the line between the mm and its tests is this
 * file: the mm calls these at fixed points, tests set the hook.
 *
 *   debug_check_unmapped()     after every munmap: no PTE survived in the
 *                              range (a lockless fault that missed its
 *                              recheck would leave one)
 *   debug_check_table_empty()  on every table free: nothing was installed
 *                              in the table after it was unhooked
 *   debug_check_vma_held()     at the end of every fault under a VMA lock:
 *                              the VMA did not change or go away while
 *                              the fault held it
 *   struct spf_hook_ctx        what the lockless walkers' stall points
 *                              pass to a test hook (kernel/stall.h)
 *   mm_switch_hook             called right after a CPU loads an mm's
 *                              CR3, and once it has taken the mm up
 *                              (mm_load_irqs_off())
 */
#ifndef MM_DEBUG_H
#define MM_DEBUG_H

#include <stdint.h>
#include "kernel/stall.h"

struct mm;
struct page;

/* Report stale_tlb if any PTE maps [start, end) of mm. Caller holds
 * mmap_lock for write, after the zap and its flush. */
void debug_check_unmapped(struct mm *mm, uintptr_t start, uintptr_t end);

/* Report lost_write if the unhooked table t holds an entry. Called before
 * t is freed; nothing can reach t any more. */
void debug_check_table_empty(struct page *t);

/* Report vma_changed unless vma is still the VMA mm maps at addr. Caller
 * holds vma's read lock (mm/vma.c, (V)), at the end of its fault. */
struct vma;
void debug_check_vma_held(struct mm *mm, struct vma *vma, uintptr_t addr);

/*
 * The stall points of the lockless walks and the speculative commit
 * (kernel/stall.h) pass this context, with the walker's protection held:
 * spf_vma_lookup (mm/spf.c, between loading the VMA array and reading
 * it), spf_walk_level and gup_walk (mm/lockless_walk.c, after each level
 * of a speculative fault's or gup_fast's walk), spf_before_commit
 * (mm/spf.c, before the PTE lock is taken), vma_read_found and
 * vma_read_locked (mm/vma.c: the VMA lock's reader before it counts
 * itself, and holding the lock; vma set), vma_write_drained (mm/vma.c:
 * a writer that marked and drained the VMAs it changes; mm only),
 * fork_copied (mm/fork.c: every PTE of a parent's VMA write-protected
 * and copied, not yet flushed; mm only), cow_copied (mm/fault.c: a
 * shared page copied on write under the PTE lock, the copy not yet
 * mapped; mm, addr, page and copy).
 * Torture suites add their own
 * delays there through stall_test_hook; directed tests force one
 * fallback. spf_hook_ctx_of() gives the context at those points, NULL at
 * any other.
 */
struct spf_hook_ctx {
	struct mm *mm;
	uintptr_t addr;
	uint64_t *pmd;		/* the entry pointing at the PTE table (before commit) */
	struct page *pt;	/* the PTE table (before commit) */
	unsigned int level;	/* walk level */
	struct vma *vma;	/* the VMA lock's VMA */
	struct page *page;	/* cow_copied: the shared page */
	struct page *copy;	/* cow_copied: its copy */
};
DECLARE_STALL(spf_vma_lookup);
DECLARE_STALL(spf_walk_level);
DECLARE_STALL(spf_before_commit);
DECLARE_STALL(gup_walk);
DECLARE_STALL(vma_read_found);
DECLARE_STALL(vma_read_locked);
DECLARE_STALL(vma_write_drained);
DECLARE_STALL(fork_copied);
DECLARE_STALL(cow_copied);

static inline const struct spf_hook_ctx *spf_hook_ctx_of(const struct stall_point *p, const void *ctx)
{
	if (p == STALL_POINT(spf_vma_lookup) || p == STALL_POINT(spf_walk_level) ||
	    p == STALL_POINT(spf_before_commit) || p == STALL_POINT(gup_walk) ||
	    p == STALL_POINT(vma_read_found) || p == STALL_POINT(vma_read_locked) ||
	    p == STALL_POINT(vma_write_drained) || p == STALL_POINT(fork_copied) ||
	    p == STALL_POINT(cow_copied))
		return ctx;
	return 0;
}

/*
 * Called with interrupts off at two points of loading mm on this CPU
 * (mm_load_irqs_off()): MM_SWITCH_CR3 right after the CR3 load (before
 * the CPU joins mm's cpumask when the seeded bug cr3_before_join is on),
 * MM_SWITCH_DONE once the CPU is in the cpumask and mm is its mm. Real
 * CPUs may fill their TLBs from the new tables from the CR3 load on,
 * speculatively too; emulators fill only on access, so a test sets this
 * to make such fills (reads of pages of mm that must neither fault nor
 * sleep) and to look at what they filled once the switch is done. Set
 * while no switch can see it change (before the tasks that use mm
 * start, cleared after they finished).
 */
enum mm_switch_point { MM_SWITCH_CR3, MM_SWITCH_DONE };
extern void (*mm_switch_hook)(struct mm *mm, enum mm_switch_point at);

#endif
