/*
 * Fair spinning reader-writer lock (FIFO by ticket). Readers that arrive
 * together share the lock; a writer waits for the readers admitted before
 * it and holds back everyone after it, so neither side starves.
 *
 * Interrupts are left as the caller has them and stay enabled while
 * spinning in the common use (mmap_lock): a CPU spinning here must still
 * answer TLB shootdowns from the writer it waits for.
 *
 * Like a spinlock, holding it raises the preempt count, and the spins
 * are lock waits (kernel/spinlock.h): a writer waiting out long readers
 * (or a reader waiting behind a writer that flushes) does not hold a
 * grace period up.
 *
 *   serving   ticket allowed in now (a); a reader passes it on at once,
 *             a writer keeps it until unlock
 *   readers   readers inside (a)
 */
#ifndef KERNEL_RWLOCK_H
#define KERNEL_RWLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/lockdep.h"
#include "kernel/percpu.h"

struct rwlock {
	uint32_t next;
	uint32_t serving;
	int32_t readers;
	uint8_t cls;		/* (c) enum lock_class (kernel/lockdep.h) */
};

#define RWLOCK_INIT(c) { 0, 0, 0, (c) }

static inline void rwlock_init(struct rwlock *l, enum lock_class c)
{
	*l = (struct rwlock)RWLOCK_INIT(c);
}

static inline void read_lock(struct rwlock *l)
{
	preempt_disable();
	uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	lockdep_acquired(l->cls, false);
	if (load_acquire(&l->serving) != t) {
		lock_wait_begin();
		while (load_acquire(&l->serving) != t)
			cpu_relax();
		lock_wait_end();
	}
	atomic_inc(&l->readers);
	store_release(&l->serving, t + 1);
}

static inline void read_unlock(struct rwlock *l)
{
	lockdep_released(l->cls);
	/* Release: the reader's accesses complete before a writer that
	 * sees the count drop proceeds. */
	__atomic_sub_fetch(&l->readers, 1, __ATOMIC_RELEASE);
	preempt_enable();
}

static inline void write_lock(struct rwlock *l)
{
	preempt_disable();
	uint32_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	lockdep_acquired(l->cls, false);
	if (load_acquire(&l->serving) != t || load_acquire(&l->readers)) {
		/* Both spins hold nothing yet: the readers admitted before
		 * us run without us, new ones queue behind our ticket. */
		lock_wait_begin();
		while (load_acquire(&l->serving) != t)
			cpu_relax();
		while (load_acquire(&l->readers))
			cpu_relax();
		lock_wait_end();
	}
}

/* Take the lock for write if nobody holds or waits for it; never spins,
 * so it may be taken in any lock order (kernel/lockdep.h). */
static inline bool write_trylock(struct rwlock *l)
{
	preempt_disable();
	/* Acquire: pairs with an admitted reader's release of serving, so
	 * its count in readers is seen. The CAS takes ticket t only if no
	 * one holds a later one: no reader can be admitted after it. */
	uint32_t t = load_acquire(&l->serving);

	if (load_acquire(&l->readers) ||
	    !__atomic_compare_exchange_n(&l->next, &t, t + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		preempt_enable();
		return false;
	}
	lockdep_acquired(l->cls, true);
	return true;
}

/* Does someone hold l for write? A holder's check of its own
 * precondition: under the read lock it is false (readers inside), and
 * nobody else can make it true meanwhile. */
static inline bool rwlock_write_held(const struct rwlock *l)
{
	return !load_acquire(&l->readers) && load_relaxed(&l->next) != load_acquire(&l->serving);
}

static inline void write_unlock(struct rwlock *l)
{
	lockdep_released(l->cls);
	store_release(&l->serving, l->serving + 1);
	preempt_enable();
}

#endif
