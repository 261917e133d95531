/*
 * The user programs' small C library: system call stubs (the ABI is
 * kernel/syscall_abi.h), a few string functions, a formatter, and
 * reporting helpers. No state, no allocation.
 */
#ifndef TESTS_USER_ULIB_H
#define TESTS_USER_ULIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/syscall_abi.h"

/* Each program's main, called by crt0 with the runner's three
 * arguments; its return value is the exit code. */
long umain(uint64_t a0, uint64_t a1, uint64_t a2);

static inline long syscall6(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
			    uint64_t a4, uint64_t a5)
{
	long ret;
	register uint64_t r10 __asm__("r10") = a3;
	register uint64_t r8 __asm__("r8") = a4;
	register uint64_t r9 __asm__("r9") = a5;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define syscall0(nr) syscall6(nr, 0, 0, 0, 0, 0, 0)
#define syscall2(nr, a, b) syscall6(nr, (uint64_t)(a), (uint64_t)(b), 0, 0, 0, 0)
#define syscall3(nr, a, b, c) syscall6(nr, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), 0, 0, 0)
#define syscall4(nr, a, b, c, d) \
	syscall6(nr, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), (uint64_t)(d), 0, 0)

__attribute__((noreturn)) static inline void sys_exit(long code)
{
	syscall6(SYS_exit, (uint64_t)code, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}
static inline long sys_yield(void) { return syscall0(SYS_yield); }
static inline long sys_getcpu(void) { return syscall0(SYS_getcpu); }
static inline long sys_clock(void) { return syscall0(SYS_clock); }
static inline long sys_mmap(uintptr_t addr, size_t len, unsigned int prot, unsigned int flags)
{
	return syscall4(SYS_mmap, addr, len, prot, flags);
}
static inline long sys_munmap(uintptr_t addr, size_t len) { return syscall2(SYS_munmap, addr, len); }
static inline long sys_mprotect(uintptr_t addr, size_t len, unsigned int prot)
{
	return syscall3(SYS_mprotect, addr, len, prot);
}
static inline long sys_madvise(uintptr_t addr, size_t len, unsigned int advice)
{
	return syscall3(SYS_madvise, addr, len, advice);
}
static inline long sys_report(const char *class, const char *msg)
{
	return syscall2(SYS_report, class, msg);
}
static inline long sys_write(const void *buf, size_t len) { return syscall2(SYS_write, buf, len); }

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* snprintf's little brother: %s %c %d %u %x %ld %lu %lx %p %%. Returns
 * the length it wanted (as snprintf). */
int uvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int usnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A formatted diagnostic line through write(). */
void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A formatted finding of class through report(). */
void ureport(const char *class, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
