/*
 * Read-copy update, in two flavors chosen by rcu= at boot.
 *
 * rcu=sched (default, "consolidated"): rcu_read_lock() raises the preempt
 * count. A grace period waits for every CPU to pass a quiescent state:
 * the tick finding the interrupted context at preempt count 0, or at a
 * count made only of lock waits (kernel/rcu.c, (F); a tick only runs
 * with interrupts on, so a CPU with interrupts off cannot pass one), the
 * idle loop (an extended quiescent state: idle CPUs are never
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
#include "kernel/sched.h"
#include "kernel/stall.h"

enum rcu_flavor { RCU_SCHED, RCU_PREEMPT };
extern int rcu_flavor;		/* (c) after the command line */

/*
 * rcu=preempt's per-CPU counters, changed with the preempt count raised.
 * A reader counts its lock on the CPU it entered on and its unlock on
 * the CPU it leaves on (it may be preempted and move in between): only
 * the sums over all CPUs mean anything, and a reader switched out stays
 * counted in its phase until it unlocks, which is what makes a grace
 * period wait for it.
 */
struct rcu_cpu_preempt {
	unsigned long lock[2];	/* (o) readers entered in phase i */
	unsigned long unlock[2];/* (o) readers left phase i */
} __cacheline_aligned;
extern struct rcu_cpu_preempt rcu_preempt_cpu[MAX_CPUS];
extern int rcu_preempt_phase;	/* (a) current phase, 0 or 1 */
DECLARE_STALL(rcu_reader_phase);	/* kernel/rcu.c */

void rcu_read_unlock_special(void);

/*
 * Enter a read-side critical section. Sections nest. The reader may not
 * sleep or wait for a grace period inside.
 *
 * preempt: the phase is sampled, the counter bumped, then a full fence so
 * the counter is visible before any read in the section; pairs with the
 * fences in the grace-period's counter scan (rcu.c, readers_drained()).
 * The nesting and the phase are the task's (the section may be
 * preempted and end on another CPU); the counter update runs with the
 * preempt count raised, so it lands whole on the CPU it read.
 */
static inline void rcu_read_lock(void)
{
	if (rcu_flavor == RCU_SCHED) {
		preempt_disable();
		return;
	}
	struct task *t = current_task();
	preempt_disable();
	if (t->rcu_nesting++ == 0) {
		struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[smp_processor_id()];
		int idx = load_relaxed(&rcu_preempt_phase);
		stall(rcu_reader_phase);
		t->rcu_idx = idx;
		store_relaxed(&rc->lock[idx], rc->lock[idx] + 1);
		smp_mb();
	}
	preempt_enable_no_resched();
}

static inline void rcu_read_unlock(void)
{
	if (rcu_flavor == RCU_SCHED) {
		/* The end of a non-preemptible section: a switch the tick
		 * asked for happens here (a quiescent state, kernel/sched.h),
		 * as at any preempt_enable(). */
		preempt_enable();
		if (this_cpu()->preempt_count == 0 && __builtin_expect(this_cpu()->rcu_exp_need_qs, 0))
			rcu_read_unlock_special();
		return;
	}
	struct task *t = current_task();
	preempt_disable();
	if (--t->rcu_nesting == 0) {
		struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[smp_processor_id()];
		/* Every read in the section completes before the unlock count
		 * says the reader is gone. */
		smp_mb();
		store_relaxed(&rc->unlock[t->rcu_idx], rc->unlock[t->rcu_idx] + 1);
	}
	preempt_enable_no_resched();
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

/* Blocked rcu=preempt readers: switched out inside a section. (a) */
extern long rcu_blocked_readers;

/* Statistics. */
uint64_t rcu_gp_completed(void);	/* grace periods completed so far */
long rcu_callbacks_pending(void);	/* queued and not yet invoked */
struct rcu_stats {
	uint64_t qs_tick, qs_idle, qs_explicit, qs_exp_ipi, qs_unlock, qs_switch;
	uint64_t gp_started, gp_expedited;
};
void rcu_stats_get(struct rcu_stats *s);

#endif
