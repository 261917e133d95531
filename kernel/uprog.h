/*
 * User programs: ELF executables run in ring 3 in an address space of
 * their own, synchronously in the calling task.
 *
 * uprog_run() creates an mm, loads the image (kernel/elf.h), maps a
 * stack, enters ring 3 at the ELF entry with RDI, RSI, RDX = args[0..2]
 * and RSP at the stack's top (16-byte aligned, nothing pushed), and
 * returns when the program ends:
 *
 *   - it calls exit(code)                        UPROG_EXITED, code
 *   - it faults and the #PF hook cannot resolve   UPROG_KILLED, segv:
 *     it (no VMA, or one that forbids the          reported as error class
 *     access), or raises #GP, #UD, ... or INT      "segv" unless the flags
 *     0x80 in ring 3                               expect it
 *   - a system call it made faults in the kernel  UPROG_KILLED, kernel
 *     (no exception fixup covers the access)       fault: always reported,
 *                                                  class "kernel_fault"
 *
 * and frees the mm (every page, table and VMA). The kernel never panics
 * for a program's sake.
 *
 * The state of a running program is struct uprog, on uprog_run()'s stack
 * and found through its task's uprog field (kernel/sched.h): the program
 * runs in the calling task, which may be preempted in ring 3 and resume
 * on another CPU.
 */
#ifndef KERNEL_UPROG_H
#define KERNEL_UPROG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mm;
struct trap_frame;

enum uprog_end { UPROG_EXITED, UPROG_KILLED };
enum uprog_kill { UPROG_SEGV = 1, UPROG_KERNEL_FAULT, UPROG_TIMEOUT };

/* The caller expects the program to be killed by a fault of its own (a
 * test of the kill): no "segv" report. Kernel faults are reported anyway. */
#define UPROG_EXPECT_SEGV	(1u << 0)

struct uprog_result {
	enum uprog_end end;
	long exit_code;			/* UPROG_EXITED */
	enum uprog_kill kill;		/* UPROG_KILLED: why */
	uint64_t vector, error, cr2;	/* UPROG_KILLED: the trap that ended it */
	uint64_t rip;			/* where: ring 3, or the kernel for a kernel fault */
};

/*
 * Protection: (o) the task running the program, the only one that looks
 * at it (from uprog_run(), its system calls and its traps).
 */
struct uprog {
	const char *name;		/* (o) for messages */
	struct mm *mm;			/* (o) */
	unsigned int flags;		/* (o) UPROG_* */
	uint64_t return_rsp;		/* (o) user_enter()'s saved stack */
	bool in_syscall;		/* (o) serving one of its system calls */
	int syscall_preempt_count;	/* (o) preempt_count at the call's entry */
	uint64_t syscall_nr;		/* (o) the call being served */
	struct uprog_result *res;	/* (o) */
	uint64_t deadline_tsc;		/* (o) killed at a return to ring 3 past it; 0: never */
};

/*
 * Run the program; args are its RDI, RSI, RDX. Returns 0 with *res filled
 * when it ran, or the loader's error (-ENOEXEC: a bad image; -ENOMEM)
 * without running it.
 * A thread with interrupts on; loads and then drops the program's mm on
 * the task (its previous mm is loaded again afterwards).
 */
int uprog_run(const char *name, const void *image, size_t size, const uint64_t args[3],
	      unsigned int flags, struct uprog_result *res);

/* The program the running task runs (NULL: none, e.g. user_call()'s stubs). */
struct uprog *uprog_current(void);

/* Same, killed (UPROG_TIMEOUT) at the first interrupt that returns to
 * it in ring 3 after timeout_ns: a program that never makes a system
 * call still takes the tick, and is preempted there like any task. */
int uprog_run_timed(const char *name, const void *image, size_t size, const uint64_t args[3],
		    unsigned int flags, uint64_t timeout_ns, struct uprog_result *res);

/* An interrupt (f) is about to return to ring 3: end the running
 * program if its time is up. Interrupts off. */
void uprog_check_deadline(const struct trap_frame *f);

/* exit(code): end the program. Interrupts any. */
__attribute__((noreturn)) void uprog_exit(long code);

/* A trap from ring 3 (f) the kernel did not resolve ends the program.
 * Interrupts off. */
__attribute__((noreturn)) void uprog_trap(const struct trap_frame *f);

/*
 * An exception in ring 0 that no fixup covers (f, named what): if it
 * came from a system call of the running program (not from an interrupt
 * handler, no preempt-disabled section opened since the call), report it
 * as "kernel_fault" with the registers and kill the program; does not
 * return then. Otherwise returns, and the caller panics.
 */
void uprog_kernel_fault(const struct trap_frame *f, const char *what);

/* Programs linked into the image (tests/user/, see the Makefile). */
struct user_program {
	const char *name;
	const uint8_t *start, *end;
};
/* NULL if there is none of that name. */
const struct user_program *user_program_find(const char *name);

#endif
