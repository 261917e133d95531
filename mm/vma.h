/*
 * VMAs and the per-mm VMA set: a sorted array of pointers, replaced as a
 * whole under mmap_lock (write) and searched under RCU with no lock.
 * A VMA is immutable once published: a change (split, mprotect) publishes
 * new VMA objects, and the old array and the VMAs it alone held are freed
 * after a grace period.
 */
#ifndef MM_VMA_H
#define MM_VMA_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/rcu_types.h"

struct mm;

struct vma {
	uintptr_t start, end;		/* (c) [start, end), page aligned */
	unsigned int prot;		/* (c) PROT_* */
	uint64_t id;			/* (c) unique, never reused */
	struct rcu_head rcu;		/* freeing after a grace period */
	/* The VMA lock (mm/vma.c, (V)); the only fields that change. */
	uint64_t lock_seq;		/* (m) mm_lock_seq of the write section that marked it */
	int readers;			/* (a) read locks held */
};

/*
 * The array keeps each VMA's id beside the pointer: a lockless reader
 * that finds the object's id different (poisoned, or the memory reused
 * for another object) read a VMA freed under it.
 */
struct vma_ref {
	struct vma *vma;
	uint64_t id;
};

struct vma_array {
	unsigned int n;			/* (c) */
	struct rcu_head rcu;
	struct vma_ref v[];		/* (c) sorted, non-overlapping */
};

/* The VMA containing addr, or NULL. Caller holds mmap_lock or is inside
 * an RCU read-side section (spf: or the flavor's equivalent). */
struct vma *vma_find(struct mm *mm, uintptr_t addr);
/* Same, in an array already loaded with rcu_dereference(mm->vmas). */
struct vma *vma_find_in(const struct vma_array *a, uintptr_t addr);

/*
 * Replace [start, end) with one VMA of prot (prot == ~0u: remove the range
 * instead). VMAs straddling the edges are split into new objects, unless
 * they have prot: those, and VMAs of prot that touch the range, are
 * merged into the new one (which then spans more than the range). The
 * new array is published with release; old objects go through RCU.
 * Caller holds mmap_lock for write (else vma_unlocked is reported and
 * -EINVAL returned, nothing changed). Returns 0 or -ENOMEM.
 */
#define VMA_REMOVE (~0u)
int vma_set_range(struct mm *mm, uintptr_t start, uintptr_t end, unsigned int prot);

/* Mark every VMA of mm for write and wait for their readers ((V) in
 * mm/vma.c), as fork does before copying: mmap_lock held for write; the
 * marks go with the write section. */
void vma_mark_all(struct mm *mm);

/* The stack (a VMA with PROT_GROWSDOWN) that may grow down to addr: the
 * VMA just above the gap addr lies in, if it is a stack at most max_grow
 * above addr, and the VMA below the gap (if any) ends guard or more
 * below addr. NULL otherwise. mmap_lock held. */
struct vma *vma_stack_above(struct mm *mm, uintptr_t addr, uintptr_t max_grow, uintptr_t guard);

/* Does any VMA overlap [start, end)? mmap_lock held. */
bool vma_overlaps(struct mm *mm, uintptr_t start, uintptr_t end);
/* Lowest gap of len bytes at or above MMAP_BASE; 0 if none. */
uintptr_t vma_find_gap(struct mm *mm, uintptr_t len);
/* Free every VMA and the array now (mm teardown, no readers left). */
void vma_destroy_all(struct mm *mm);
unsigned int vma_count(struct mm *mm);

/*
 * The VMA lock (fault=vma_lock): read-lock vma, found at addr under RCU,
 * unless a write section of mmap_lock marked it; true if it is still the
 * VMA mm maps at addr. While held, the VMA stays in mm with its range and
 * protection, its page tables are not freed, and the preempt count is
 * raised (a writer waiting for the readers to drain spins, as with
 * mmap_lock). Caller inside an RCU read section.
 */
enum vma_lock_result { VMA_LOCKED, VMA_LOCK_MARKED, VMA_LOCK_CHANGED };
enum vma_lock_result vma_start_read(struct mm *mm, struct vma *vma, uintptr_t addr);
void vma_end_read(struct vma *vma);

#endif
