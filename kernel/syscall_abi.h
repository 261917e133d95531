/*
 * The system call ABI, shared by the kernel (kernel/syscall.c) and the
 * user programs (tests/user/): freestanding, defines only.
 *
 * SYSCALL with RAX = number, arguments in RDI, RSI, RDX, R10, R8, R9 (R10
 * instead of RCX, which SYSCALL overwrites). The result comes back in RAX:
 * >= 0 on success, a negated errno (kernel/errno.h) on failure. RCX and
 * R11 are clobbered (the CPU's return address and flags); every other
 * register is preserved. An unknown number gives -ENOSYS; a bad argument
 * -EINVAL or -EFAULT, never a kernel fault.
 */
#ifndef KERNEL_SYSCALL_ABI_H
#define KERNEL_SYSCALL_ABI_H

#include "kernel/errno.h"

/* exit(code): ends the program; code is the runner's exit code. Does not
 * return. */
#define SYS_exit	0
/* yield(): let another task run (the CPU relaxes while there is none). 0. */
#define SYS_yield	1
/* getcpu(): the CPU number the call ran on. */
#define SYS_getcpu	2
/* clock(): nanoseconds since boot, monotonic (the TSC). */
#define SYS_clock	3
/* mmap(addr, len, prot, flags): anonymous private memory, zero-filled on
 * first touch. flags 0: the kernel picks the address (addr must be 0);
 * MAP_FIXED: exactly [addr, addr + len), replacing what was there (addr
 * page aligned, in [USER_BASE, end of mappable space)). len > 0, rounded
 * up to pages. Returns the address. -EINVAL for bad flags, prot,
 * alignment or range; -ENOMEM when there is no room. */
#define SYS_mmap	4
/* munmap(addr, len): 0; unmapping nothing is not an error. -EINVAL as mmap. */
#define SYS_munmap	5
/* mprotect(addr, len, prot): 0; -ENOMEM if part of the range is unmapped. */
#define SYS_mprotect	6
/* madvise(addr, len, advice): MADV_DONTNEED only (drop the pages: the
 * next touch reads zeroes). 0, or -EINVAL. */
#define SYS_madvise	7
/* report(class, msg): a finding of this program, reported to the test run
 * as error class `class` (1 to REPORT_CLASS_MAX - 1 characters of
 * [a-z0-9_]) with the message "user PROGRAM: msg" (msg is cut at
 * REPORT_MSG_MAX - 1). 0, -EINVAL (bad class), -EFAULT. */
#define SYS_report	8
/* write(buf, len): diagnostic text, printed as "# user PROGRAM: line" per
 * line; at most WRITE_MAX bytes are taken. Returns the bytes taken. */
#define SYS_write	9
#define NR_SYSCALLS	10

#define PROT_NONE	0u
#define PROT_READ	1u
#define PROT_WRITE	2u
#define PROT_EXEC	4u
#define MAP_FIXED	1u
#define MADV_DONTNEED	4u

#define REPORT_CLASS_MAX	32
#define REPORT_MSG_MAX		200
#define WRITE_MAX		256

#endif
