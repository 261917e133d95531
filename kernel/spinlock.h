/*
 * Ticket spinlocks: FIFO fair, so a CPU hammering a lock cannot starve
 * another. Interrupts are left as the caller has them; the _irqsave forms
 * disable them for locks also taken from interrupt handlers.
 *
 * A lock holder that spins too long is not detected here: the watchdog
 * (kernel/timer.c) catches CPUs that stop ticking, which covers a CPU
 * spinning with interrupts off. Each lock names its class in the lock
 * order (kernel/lockdep.h), checked with lockdep=on.
 *
 * Holding a lock (and spinning for one) raises the preempt count: a
 * holder is never switched out (kernel/sched.h), so a waiter on its CPU
 * cannot spin for a task that does not run, and the lock order check's
 * per-CPU list is the holder's. The spin itself is a lock wait
 * (lock_wait_begin(), kernel/percpu.h): a CPU doing nothing but waiting
 * for locks is quiescent for rcu=sched, however long the holder takes.
 */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/lockdep.h"
#include "kernel/percpu.h"

typedef struct spinlock {
	uint16_t next;		/* (a) ticket handed to the next arrival */
	uint16_t owner;		/* (a) ticket now holding the lock */
	uint8_t cls;		/* (c) enum lock_class */
} spinlock_t;

#define SPINLOCK_INIT(c) { 0, 0, (c) }

static inline void spin_lock_init(spinlock_t *l, enum lock_class c)
{
	l->next = 0;
	l->owner = 0;
	l->cls = c;
}

/* The acquire load of owner pairs with the release store in spin_unlock(). */
static inline void spin_lock(spinlock_t *l)
{
	preempt_disable();
	uint16_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	lockdep_acquired(l->cls, false);
	if (load_acquire(&l->owner) != me) {
		lock_wait_begin();
		while (load_acquire(&l->owner) != me)
			cpu_relax();
		lock_wait_end();
	}
}

static inline bool spin_trylock(spinlock_t *l)
{
	uint16_t owner = load_relaxed(&l->owner);
	uint16_t next = owner;

	preempt_disable();
	if (load_relaxed(&l->next) != owner ||
	    !__atomic_compare_exchange_n(&l->next, &next, (uint16_t)(owner + 1), false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		preempt_enable();
		return false;
	}
	lockdep_acquired(l->cls, true);
	return true;
}

static inline void spin_unlock(spinlock_t *l)
{
	lockdep_released(l->cls);
	store_release(&l->owner, (uint16_t)(l->owner + 1));
	preempt_enable();
}

static inline bool spin_is_locked(spinlock_t *l)
{
	return load_relaxed(&l->owner) != load_relaxed(&l->next);
}

static inline uint64_t spin_lock_irqsave(spinlock_t *l)
{
	uint64_t flags = irq_save();
	spin_lock(l);
	return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *l, uint64_t flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

#endif
