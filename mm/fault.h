/*
 * The locked page-fault path, the #PF hook for test address spaces, and
 * the accessors of user memory from ring 0. The lockless path the hook
 * tries first is mm/spf.h.
 */
#ifndef MM_FAULT_H
#define MM_FAULT_H

#include <stdint.h>
#include "arch/x86/pte.h"
#include "kernel/errno.h"
#include "mm/mmap.h"

struct mm;

/* What the faulting access was: FAULT_EXEC is an instruction fetch (PF_I),
 * which needs PROT_EXEC and a PTE without NX. */
enum fault_access { FAULT_READ, FAULT_WRITE, FAULT_EXEC };

/* The VMA protection an access needs. */
static inline unsigned int fault_access_prot(enum fault_access a)
{
	return a == FAULT_WRITE ? PROT_WRITE : a == FAULT_EXEC ? PROT_EXEC : PROT_READ;
}

/* Resolve a fault at addr under mmap_lock (taken here for read); 0, or
 * -EFAULT (no VMA, or access denied), -ENOMEM. Interrupts on. */
int handle_mm_fault(struct mm *mm, uintptr_t addr, enum fault_access access);

/* The flags of a leaf entry (PTE or huge PMD) a fault installs for prot,
 * without PTE_W: present, user, NX unless PROT_EXEC. */
pte_t fault_leaf_flags(unsigned int prot);

/* Access the current mm's user memory as a user program does: one load or
 * store made in ring 3 (arch/x86/user.h), so the TLB caches and checks it
 * as a user access, and a fault is a user fault (error code U) that the
 * #PF hook resolves or that ends the access. 0 or the fault vector + 1. */
int user_read_u64(uintptr_t addr, uint64_t *val);
int user_write_u64(uintptr_t addr, uint64_t val);

/*
 * fault=: which path a fault tries first. spf: the speculative one
 * (mm/spf.h); vma_lock: the locked fault under the read lock of its VMA
 * (mm/vma.c, (V)) instead of mmap_lock; locked: mmap_lock only. Each
 * falls back to the locked path.
 */
enum fault_path { FAULT_PATH_SPF, FAULT_PATH_VMA_LOCK, FAULT_PATH_LOCKED };
extern int fault_mode;			/* (c) fault= */

struct vma_lock_stats {
	uint64_t attempts, done, fallback_novma, fallback_marked, fallback_changed;
};
void vma_lock_stats_get(struct vma_lock_stats *s);

/* Register the #PF hook; called by mm_init(). */
/* Pages copied on write since boot (mm/fork.c, (K)). (a) */
extern unsigned long cow_copies;

void mm_fault_init(void);

#endif
