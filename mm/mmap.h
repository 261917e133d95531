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

long vm_mmap(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot, unsigned int flags);
long vm_munmap(struct mm *mm, uintptr_t addr, uintptr_t len);
long vm_mprotect(struct mm *mm, uintptr_t addr, uintptr_t len, unsigned int prot);
/* A leaf entry (PTE or huge PMD) mapping a page, as mprotect(prot)
 * leaves it: rights taken away, none added (upgrades are the faults'). */
pte_t prot_downgrade(pte_t e, unsigned int prot);
long vm_madvise_dontneed(struct mm *mm, uintptr_t addr, uintptr_t len);

/* For the other writers of the address space (mm/mremap.c): is
 * [addr, addr + len) page aligned, non-empty and inside what mmap may
 * map? */
bool range_ok(uintptr_t addr, uintptr_t len);
/* Remove [start, end) entirely: VMAs, PTEs, pages, empty tables (munmap's
 * order, above). mmap_lock held for write. */
long unmap_locked(struct mm *mm, uintptr_t start, uintptr_t end);

#endif
