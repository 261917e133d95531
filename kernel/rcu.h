/*
 * Read-copy update, in two flavors chosen by rcu= at boot.
 *
 * rcu=sched (default, "consolidated"): rcu_read_lock() raises the preempt
 * count. A grace period waits for every CPU to pass a quiescent state:
 * the tick finding the interrupted context at preempt count 0 (a tick
 * only runs with interrupts on, so a CPU with interrupts off cannot pass
 * one), the idle loop (an extended quiescent state: idle CPUs are never
 * waited for), rcu_qs(), or the outermost rcu_read_unlock() of a CPU an
 * expedited grace period has asked. Interrupts-off regions are therefore
 * readers too.
 *
 * rcu=preempt (explicit readers only, like SRCU): readers increment
 * per-CPU lock/unlock counters of the current phase; a grace period waits
 * until both phases drain, flipping the phase in between. Interrupts-off
 * regions without rcu_read_lock() are NOT waited for.
 *
 * Both flavors share the callback machinery: per-CPU lists segmented by
 * the grace-period number each segment waits for, invoked in order from
 * the tick in bounded batches. No CPU is dedicated to RCU: the last CPU to
 * report ends the grace period (sched) or any CPU's tick advances the
 * phase machine (preempt), and starts the next when callbacks wait.
 *
 * Lock order: gp.lock is LOCK_RCU_GP in kernel/lockdep.h's table;
 * callbacks run with no RCU lock held.
 */
#ifndef KERNEL_RCU_H
#define KERNEL_RCU_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/rcu_types.h"

enum rcu_flavor { RCU_SCHED, RCU_PREEMPT };
extern int rcu_flavor;		/* (c) after the command line */

struct rcu_cpu_preempt {
	unsigned long lock[2];	/* (o) readers entered in phase i */
	unsigned long unlock[2];/* (o) readers left phase i */
	int nesting;		/* (o) */
	int idx;		/* (o) phase of the outermost reader */
} __cacheline_aligned;
extern struct rcu_cpu_preempt rcu_preempt_cpu[MAX_CPUS];
extern int rcu_preempt_phase;	/* (a) current phase, 0 or 1 */

void rcu_read_unlock_special(void);

/*
 * Enter a read-side critical section. Sections nest. The reader may not
 * sleep or wait for a grace period inside.
 *
 * preempt: the phase is sampled, the counter bumped, then a full fence so
 * the counter is visible before any read in the section; pairs with the
 * fences in the grace-period's counter scan (rcu.c, readers_drained()).
 */
static inline void rcu_read_lock(void)
{
	if (rcu_flavor == RCU_SCHED) {
		preempt_disable();
		return;
	}
	struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[smp_processor_id()];
	if (rc->nesting++ == 0) {
		int idx = load_relaxed(&rcu_preempt_phase);
		rc->idx = idx;
		store_relaxed(&rc->lock[idx], rc->lock[idx] + 1);
		smp_mb();
	}
}

static inline void rcu_read_unlock(void)
{
	if (rcu_flavor == RCU_SCHED) {
		preempt_enable_no_qs();
		if (this_cpu()->preempt_count == 0 && __builtin_expect(this_cpu()->rcu_exp_need_qs, 0))
			rcu_read_unlock_special();
		return;
	}
	struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[smp_processor_id()];
	if (--rc->nesting == 0) {
		/* Every read in the section completes before the unlock count
		 * says the reader is gone. */
		smp_mb();
		store_relaxed(&rc->unlock[rc->idx], rc->unlock[rc->idx] + 1);
	}
}

/* Publish p at *pp: initialisation of *p is ordered before the store
 * (release); pairs with rcu_dereference()'s dependency-ordered load. */
#define rcu_assign_pointer(pp, p) store_release(&(pp), (p))
/* Load a pointer published by rcu_assign_pointer(). x86 and every CPU
 * this kernel runs on keep dependent loads in order, so a single
 * untorn load suffices (consume semantics). */
#define rcu_dereference(p) READ_ONCE(p)

void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head));
/* Free a kmalloc()ed object after a grace period; field is the name of
 * its struct rcu_head member. */
#define kfree_rcu(ptr, field) kfree_rcu_head(&(ptr)->field, __builtin_offsetof(__typeof__(*(ptr)), field))
void kfree_rcu_head(struct rcu_head *head, unsigned long offset);

void synchronize_rcu(void);
void synchronize_rcu_expedited(void);
/* Wait until every callback queued before the call has run. */
void rcu_barrier(void);
/* Report a quiescent state for this CPU if it is in none of the flavor's
 * read-side sections (sched: preempt count 0 and interrupts on). */
void rcu_qs(void);

void rcu_init(void);
extern uint64_t rcu_stall_s;	/* rcu_stall=: seconds before a stall report */

/* Statistics. */
uint64_t rcu_gp_completed(void);	/* grace periods completed so far */
long rcu_callbacks_pending(void);	/* queued and not yet invoked */
struct rcu_stats {
	uint64_t qs_tick, qs_idle, qs_explicit, qs_exp_ipi, qs_unlock;
	uint64_t gp_started, gp_expedited;
};
void rcu_stats_get(struct rcu_stats *s);

#endif
