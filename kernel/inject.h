/*
 * Seeded bugs. inject=NAME turns off one safety step; the scenario matrix
 * runs each as an expected failure to show the test that guards the step
 * can fail. Checked on slow paths or as a predictable branch.
 */
#ifndef KERNEL_INJECT_H
#define KERNEL_INJECT_H

#include <stdbool.h>

enum inject {
	INJECT_NONE,
	INJECT_PAGE_DOUBLE_FREE,	/* page allocator skips its double-free check */
	INJECT_RCU_EARLY_GP,		/* a grace period ends before the last CPU reports */
	INJECT_RCU_SKIP_QS_CHECK,	/* the tick reports a QS without checking the preempt count */
	INJECT_VMA_FREE_NO_RCU,		/* replaced VMAs are freed at once, not after a grace period */
	INJECT_SKIP_SHOOTDOWN,		/* flushes stay local: remote TLBs keep stale entries */
	INJECT_FREE_BEFORE_FLUSH,	/* unmapped pages are freed before the shootdown */
	INJECT_PT_FREE_NO_WAIT,		/* tables freed with no grace period (pt_free=rcu) */
	INJECT_ZERO_PAGE_NO_FLUSH,	/* the zero-page upgrade does not flush the old entry */
	INJECT_SPF_NO_VMA_RECHECK,	/* the speculative commit skips the VMA recheck */
	INJECT_SPF_NO_PMD_RECHECK,	/* the speculative commit skips the PMD recheck */
	INJECT_SPF_LOCK_PTL,		/* the speculative commit spins on the PTL instead of trylock */
	NR_INJECT,
};

extern int inject_active;		/* (c) after the command line is parsed */
extern const char *const inject_names[NR_INJECT + 1];

static inline bool injected(enum inject which)
{
	return __builtin_expect(inject_active == (int)which, 0);
}

#endif
