/*
 * The lock-order check. See kernel/lockdep.h for the table.
 *
 * Protection: held[c] is touched only by CPU c, with interrupts off for
 * the update (an interrupt handler pushes and pops on top of its
 * context's entries, and pops before it returns).
 */
#include "kernel/lockdep.h"
#include "arch/x86/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/report.h"

static const char *const onoff[] = { "off", "on", NULL };
int lockdep_enabled;
CMDLINE_ENUM(lockdep, lockdep_enabled, onoff, "check the lock order (kernel/lockdep.h)");

static const char *const class_names[NR_LOCK_CLASSES] = {
	[LOCK_UNCHECKED] = "unchecked", [LOCK_MMAP] = "mmap_lock", [LOCK_PMD] = "pmd_lock", [LOCK_PTL] = "ptl",
	[LOCK_IOREMAP] = "ioremap", [LOCK_KMAP] = "kmap", [LOCK_KMALLOC] = "kmalloc", [LOCK_PAGE_ALLOC] = "page_alloc",
	[LOCK_RCU_GP] = "rcu_gp", [LOCK_RUNQUEUE] = "runqueue", [LOCK_CALL_QUEUE] = "call_queue", [LOCK_REPORT] = "report",
};

static struct held_locks {
	uint8_t cls[LOCKDEP_DEPTH];
	unsigned int depth;
	bool reporting;		/* a report is being made: its own locks are not checked */
} __cacheline_aligned held[MAX_CPUS];

void lockdep_acquire(enum lock_class c, bool try)
{
	uint64_t flags = irq_save();
	struct held_locks *h = &held[smp_processor_id()];

	if (h->reporting) {
		irq_restore(flags);
		return;
	}
	const char *problem = NULL;
	enum lock_class other = LOCK_UNCHECKED;
	if (h->depth == LOCKDEP_DEPTH) {
		problem = "more locks held than the check tracks";
	} else {
		if (!try)
			for (unsigned int i = 0; i < h->depth; i++)
				if (h->cls[i] >= c) {
					problem = "lock order inverted";
					other = h->cls[i];
				}
		h->cls[h->depth++] = c;
	}
	if (problem) {
		h->reporting = true;
		report_error("lock_order", "cpu %u: %s: takes %s while holding %s (kernel/lockdep.h)",
			     smp_processor_id(), problem, class_names[c], class_names[other]);
		h->reporting = false;
	}
	irq_restore(flags);
}

void lockdep_release(enum lock_class c)
{
	uint64_t flags = irq_save();
	struct held_locks *h = &held[smp_processor_id()];

	if (!h->reporting) {
		/* Release order need not be LIFO: drop the latest entry of c. */
		for (unsigned int i = h->depth; i-- > 0;) {
			if (h->cls[i] == c) {
				for (; i + 1 < h->depth; i++)
					h->cls[i] = h->cls[i + 1];
				h->depth--;
				break;
			}
		}
	}
	irq_restore(flags);
}
