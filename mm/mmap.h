/*
 * mmap, munmap, mprotect, madvise(DONTNEED) on test address spaces. Each
 * takes mmap_lock for write itself (madvise: for read) and returns 0 (or
 * the address), or a negative error (kernel/errno.h).
 */
#ifndef MM_MMAP_H
#define MM_MMAP_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/pte.h"
#include "kernel/errno.h"

struct mm;

#define PROT_NONE	0u
#define PROT_READ	1u
#define PROT_WRITE	2u
#define PROT_EXEC	4u
#define MAP_FIXED	1u
#define MAP_GROWSDOWN	2u	/* a stack: faults just below it grow it (vm_stack_grow()) */
/* In a VMA's prot, beside PROT_*: the VMA is a stack (MAP_GROWSDOWN). */
#define PROT_GROWSDOWN	0x100u

long vm_mmap(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot, unsigned int flags);
long vm_munmap(struct mm *mm, uintptr_t addr, uintptr_t len);
long vm_mprotect(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot);
/* A leaf entry (PTE or huge PMD) mapping a page, as mprotect(prot)
 * leaves it: rights taken away, none added (upgrades are the faults'). */
pte_t prot_downgrade(pte_t e, unsigned int prot);
long vm_madvise_dontneed(struct mm *mm, uintptr_t addr, uintptr_t len);

/*
 * A fault at addr found no VMA: if addr is in the gap just below a stack
 * (a MAP_GROWSDOWN VMA), at most STACK_GROW_MAX below it and at least
 * STACK_GUARD_GAP above the VMA under the gap, grow the stack down to
 * addr's page. Takes mmap_lock for write (the caller holds none).
 * 0 when a VMA now maps addr, -EFAULT when no stack may grow there,
 * -ENOMEM.
 */
#define STACK_GROW_MAX		(256 * PAGE_SIZE)
#define STACK_GUARD_GAP		(16 * PAGE_SIZE)
int vm_stack_grow(struct mm *mm, uintptr_t addr);
/* The same with mmap_lock held for write (the seeded bug
 * stack_grow_read_locked calls it under the read lock). */
int stack_grow_locked(struct mm *mm, uintptr_t addr);
/* (a) stacks grown, for the suites' figures */
extern unsigned long stack_growths;

/* For the other writers of the address space (mm/mremap.c): is
 * [addr, addr + len) page aligned, non-empty and inside what mmap may
 * map? */
bool range_ok(uintptr_t addr, uintptr_t len);
/* Remove [start, end) entirely: VMAs, PTEs, pages, empty tables (munmap's
 * order, above). mmap_lock held for write. */
long unmap_locked(struct mm *mm, uintptr_t start, uintptr_t end);

#endif
