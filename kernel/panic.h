/*
 * panic(), assertions and backtraces.
 *
 * panic() prints "PANIC: <cpu>: <message>", this CPU's backtrace, asks
 * every other CPU for its backtrace by NMI, and exits with the panic
 * code. Assertions are on in every build.
 */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#include <stddef.h>
#include <stdint.h>

struct trap_frame;

__attribute__((noreturn, format(printf, 1, 2)))
void panic(const char *fmt, ...);

/* An exception nobody handled: register dump, backtrace from the frame,
 * the other CPUs' backtraces, panic exit. */
__attribute__((noreturn)) void panic_exception(struct trap_frame *f, const char *name);

#define ASSERT(cond)							\
	do {								\
		if (__builtin_expect(!(cond), 0))			\
			panic("%s:%d: %s: assertion failed: %s",	\
			      __FILE__, __LINE__, __func__, #cond);	\
	} while (0)

#define ASSERT_MSG(cond, fmt, ...)					\
	do {								\
		if (__builtin_expect(!(cond), 0))			\
			panic("%s:%d: %s: " fmt, __FILE__, __LINE__,	\
			      __func__, ##__VA_ARGS__);			\
	} while (0)

/* Print the frame-pointer chain starting at rbp (and rip first). */
void backtrace_print(uintptr_t rip, uintptr_t rbp);
void backtrace_here(void);
/* Print every other online CPU's registers and backtrace (by NMI) and
 * wait, bounded, for them to finish. */
void backtrace_all_other_cpus(void);
struct cpumask;
/* Same for the CPUs in mask (the caller excluded). */
void backtrace_cpus(const struct cpumask *mask);
/* Called from the NMI handler. Returns 1 if the NMI was a backtrace
 * request and has been served. */
int nmi_backtrace_handler(struct trap_frame *f);

/* Symbol lookup in the in-kernel table (.ksyms). Returns the symbol
 * name containing addr and sets *off, or NULL. */
const char *ksym_lookup(uintptr_t addr, uintptr_t *off);
void ksym_format(uintptr_t addr, char *buf, size_t len);

#endif
