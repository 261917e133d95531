/*
 * fork with copy on write (mm/fork.c draws the protocol, (K)).
 */
#ifndef MM_FORK_H
#define MM_FORK_H

struct mm;

/*
 * A new address space with parent's VMAs and pages: each page shared
 * read-only until either side writes it, huge pages split first. Takes
 * parent's mmap_lock for write; NULL when memory ran out (nothing of the
 * child is left).
 */
struct mm *vm_fork(struct mm *parent);

#endif
