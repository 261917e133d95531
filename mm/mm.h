/*
 * Address spaces of the tests (lower half): creating, destroying and
 * switching them, and their mmap_lock. The operations on them are in
 * mm/mmap.h (mmap and friends) and mm/fault.h (faults); the lock order is
 * kernel/lockdep.h's table.
 */
#ifndef MM_MM_H
#define MM_MM_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/pte.h"
#include "kernel/cpumask.h"
#include "kernel/rwlock.h"

/*
 * The user (lower) half: 128 TiB with 4-level paging, 64 PiB with 5-level.
 * Under 5-level paging chosen addresses start at 256 TiB, above anything
 * 4-level paging can reach: every test mapping then sits under a PML4 of
 * its own, which munmap frees and the walkers cross, so the fifth level
 * is exercised and not only present. Set by mm_init(), constant after.
 */
extern uintptr_t user_top, mmap_base;
#define USER_BASE	0x0000000000400000ul	/* lowest address mmap may choose */
#define USER_TOP	user_top		/* end of the lower half */
#define MMAP_BASE	mmap_base		/* where chosen addresses start */
/* The page of ring-3 code (arch/x86/user.h) every mm maps, read-only and
 * executable, in the top 2 MiB of the user half; mappings end below it,
 * and munmap never unhooks the tables that lead to it. */
#define USER_STUB_VA	(user_top - 2 * LARGE_PAGE_SIZE)
#define USER_MAP_TOP	USER_STUB_VA		/* end of what mmap may map */

struct vma_array;

/*
 * Protection: (c) constant after mm_create(), (a) atomic,
 * (m) mmap_lock held for write, (r) readers under RCU or mmap_lock.
 */
struct mm {
	paddr_t pgd;			/* (c) top-level table */
	struct cpumask cpumask;		/* (a) CPUs with this mm loaded, lazy ones too */
	struct rwlock mmap_lock;
	struct vma_array *vmas;		/* (m) to replace, (r) to read */
	/* (m) to change, (a) to read: write sections of mmap_lock ended
	 * (the VMA lock's marks, mm/vma.c) */
	uint64_t mm_lock_seq;
	uint64_t tlb_gen;		/* (a) flushes requested for this mm */
	long nr_tables;			/* (a) page-table pages below pgd */
	unsigned int id;		/* (c) for messages */
};

struct mm *mm_create(void);
/* Free every page, table and VMA. No CPU may be using mm (lazy CPUs are
 * switched away here). mmap_lock not held. */
void mm_destroy(struct mm *mm);

/*
 * The calling task's address space (interrupts any): mm_switch() makes
 * the task a user of mm and loads it; mm_enter_lazy() makes it a kernel
 * thread that keeps whatever is loaded (lazy: still flushed, no user
 * accesses); mm_switch_kernel() makes it a kernel thread on the kernel's
 * tables. The scheduler loads the task's mm at every switch.
 */
void mm_switch(struct mm *mm);
void mm_enter_lazy(void);
void mm_switch_kernel(void);
/* The mm loaded on this CPU (lazily or not). */
struct mm *mm_current(void);
/* The context switch's halves (kernel/sched.c), interrupts off: load mm
 * for the task switched in, or keep the loaded one lazily. */
void mm_load_irqs_off(struct mm *mm);
void mm_lazy_irqs_off(void);

/* Writers of the address space. Lockless readers do not look at the
 * lock: they validate their VMA instead (mm/spf.c), or hold its VMA
 * lock (mm/vma.c), whose marks mmap_write_unlock() releases. */
void mmap_write_lock(struct mm *mm);
void mmap_write_unlock(struct mm *mm);
/* For a mm nobody else can reach yet (fork's child): never waits, so it
 * may be taken under another mm's mmap_lock. */
static inline bool mmap_write_trylock(struct mm *mm) { return write_trylock(&mm->mmap_lock); }
static inline void mmap_read_lock(struct mm *mm) { read_lock(&mm->mmap_lock); }
static inline void mmap_read_unlock(struct mm *mm) { read_unlock(&mm->mmap_lock); }

/* The shared zero page (read faults map it read-only). */
extern struct page *zero_page;
void mm_init(void);

#endif
