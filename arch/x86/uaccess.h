/*
 * The kernel's only way into user memory: copies between a kernel buffer
 * and the current mm's user half.
 *
 * Each helper first checks that the whole range lies in the user half
 * (below USER_TOP, no wrap-around) and returns -EFAULT without touching
 * memory when it does not. The access itself is one instruction (or one
 * string instruction) listed in __ex_table, made with EFLAGS.AC set by
 * STAC just before it and cleared by CLAC just after, so SMAP guards
 * every other ring-0 instruction. A page fault on it goes to the mm's #PF
 * hook first (mm/fault.c): one the hook resolves (a VMA allows the
 * access) is retried, one it does not (no VMA, PROT_NONE, a write to a
 * read-only VMA, no mm loaded) resumes at the fixup and the helper
 * returns -EFAULT. Bytes before the fault may have been copied.
 *
 * Context: a thread with interrupts on (the locked fault path needs them)
 * and the target mm loaded on this CPU (mm_switch()). No lock held that
 * the fault path takes (mmap_lock, page-table locks).
 */
#ifndef ARCH_X86_UACCESS_H
#define ARCH_X86_UACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does [addr, addr + n) lie in the user half with no wrap-around? */
bool user_range_ok(uintptr_t addr, size_t n);

/* 0, or -EFAULT. */
int copy_from_user(void *dst, uintptr_t usrc, size_t n);
int copy_to_user(uintptr_t udst, const void *src, size_t n);
int get_user_u64(uint64_t *val, uintptr_t usrc);
int put_user_u64(uintptr_t udst, uint64_t val);

/*
 * Copy the NUL-terminated string at usrc into dst (size bytes, size > 0),
 * always terminated. Returns its length, -EFAULT (a byte up to and
 * including the NUL is unreadable), or -ENAMETOOLONG (no NUL in the first
 * size bytes; dst then holds the first size - 1 of them).
 */
long strncpy_from_user(char *dst, uintptr_t usrc, size_t size);

#endif
