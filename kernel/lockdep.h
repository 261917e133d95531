/*
 * The kernel's lock order, in one table, and the check of it.
 *
 * A CPU may spin for a lock only while every lock it already holds comes
 * earlier in this table (outermost first). A trylock may be taken in any
 * order, since it cannot wait, and counts as held after.
 *
 *   class            lock                         why it sits here
 *   LOCK_MMAP        mm->mmap_lock (rwlock)       the address space's writer lock;
 *                                                 faults and munmap take it first
 *   LOCK_PMD         a PMD table's lock           huge pages (mm/huge.c): install,
 *                    (struct page ptl of the      split and collapse of a 2 MiB
 *                    table holding the PMD)       mapping; taken with interrupts on,
 *                                                 flushes are sent holding it
 *   LOCK_PTL         a PTE table's lock           under mmap_lock; shootdowns are
 *                    (struct page ptl)            sent holding it (the zero-page
 *                                                 upgrade), so nobody spins on it
 *                                                 with interrupts off: lockless
 *                                                 paths only trylock it
 *   LOCK_IOREMAP     kmap's ioremap area          boot; allocates page tables
 *   LOCK_KMAP        the kmap slots' bitmap       taken alone, around a bit flip
 *   LOCK_KMALLOC     a kmalloc size class         refills from the page allocator
 *   LOCK_PAGE_ALLOC  the page allocator's zone    pages are freed under the PTL and
 *                                                 from RCU callbacks in the tick
 *   LOCK_RCU_GP      RCU's grace-period state     taken from the tick, which may
 *                                                 interrupt any holder above
 *   LOCK_RUNQUEUE    a CPU's run queue            the scheduler's, interrupts off;
 *                                                 nothing but a report under it
 *   LOCK_CALL_QUEUE  a CPU's cross-CPU call queue flushes are posted holding a PTL;
 *                                                 served from interrupts
 *   LOCK_REPORT      the finding classes and the  a finding may be reported under
 *                    test case's accounting       any lock
 *
 * Locks outside the table (LOCK_UNCHECKED): the console lock, which the
 * panic and NMI paths must take whatever is held.
 *
 * The check: with lockdep=on every CPU keeps the classes it holds, and a
 * spinning acquire of a class not later than all of them is reported as
 * lock_order (naming both locks), as is holding more than LOCKDEP_DEPTH
 * locks. Interrupt handlers push onto the interrupted context's list, so
 * a handler taking a lock that ranks before one its context holds is
 * reported too: that is a deadlock when the holder's CPU waits for it.
 * Off by default; it costs one predictable branch per lock operation.
 */
#ifndef KERNEL_LOCKDEP_H
#define KERNEL_LOCKDEP_H

#include <stdbool.h>
#include <stdint.h>

enum lock_class {
	LOCK_UNCHECKED,
	LOCK_MMAP,
	LOCK_PMD,
	LOCK_PTL,
	LOCK_IOREMAP,
	LOCK_KMAP,
	LOCK_KMALLOC,
	LOCK_PAGE_ALLOC,
	LOCK_RCU_GP,
	LOCK_RUNQUEUE,
	LOCK_CALL_QUEUE,
	LOCK_REPORT,
	NR_LOCK_CLASSES,
};

#define LOCKDEP_DEPTH 8

extern int lockdep_enabled;	/* (c) lockdep=on|off, 1 = on */

/* This CPU took (try: by trylock) / released a lock of class c. */
void lockdep_acquire(enum lock_class c, bool try);
void lockdep_release(enum lock_class c);

static inline void lockdep_acquired(uint8_t c, bool try)
{
	if (__builtin_expect(lockdep_enabled, 0) && c != LOCK_UNCHECKED)
		lockdep_acquire((enum lock_class)c, try);
}

static inline void lockdep_released(uint8_t c)
{
	if (__builtin_expect(lockdep_enabled, 0) && c != LOCK_UNCHECKED)
		lockdep_release((enum lock_class)c);
}

#endif
