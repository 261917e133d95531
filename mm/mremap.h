/*
 * mremap (mm/mremap.c, (M)): move [old, old + len), which must lie in one
 * VMA, with its pages to [new, new + len), unmapping whatever was there
 * (Linux's MREMAP_MAYMOVE | MREMAP_FIXED with the length kept). Takes
 * mmap_lock for write. Returns new, or -EINVAL (a bad or overlapping
 * range), -EFAULT (old not inside one VMA), -ENOMEM.
 */
#ifndef MM_MREMAP_H
#define MM_MREMAP_H

#include <stdint.h>

struct mm;

long vm_mremap(struct mm *mm, uintptr_t old, uintptr_t len, uintptr_t new);

/* (a) pages whose PTE mremap moved, for the suites' figures */
extern unsigned long mremap_pages;

#endif
