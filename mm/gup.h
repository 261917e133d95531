/*
 * Lockless get-user-page: find the page mapped at a user address and take
 * a reference on it, without mmap_lock.
 */
#ifndef MM_GUP_H
#define MM_GUP_H

#include <stdint.h>
#include "mm/fault.h"

struct mm;
struct page;

/*
 * Walk to addr's PTE under the gup_fast walker protection
 * (mm/lockless_walk.h), take a reference on its page and re-read the PTE,
 * dropping the reference if it changed. Returns 0 with *page referenced
 * (put_page() it), or -EFAULT. Any context.
 */
int gup_fast(struct mm *mm, uintptr_t addr, enum fault_access access, struct page **page);

#endif
