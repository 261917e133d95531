/*
 * Tasks and the scheduler.
 *
 * A task is a thread of control with its own kernel stack. A kernel
 * thread (mm == NULL) runs on whatever address space its CPU had loaded,
 * lazily (mm/mm.h, mm_enter_lazy()); a user task (mm != NULL) runs in its
 * mm and enters ring 3 (arch/x86/user.h) for its user accesses. Every CPU
 * has a run queue and an idle task; the boot CPU's boot context is the
 * task "main", which runs the tests.
 *
 * Preemption: the tick ends a task's time slice (sched_slice=), and an
 * interrupt that returns to a context with preempt count 0 and
 * interrupts on switches to the next task, in ring 3 and in the kernel
 * alike (a full-preemption kernel). Spinning locks raise the preempt
 * count, so a lock holder is never preempted; rcu=sched readers raise it
 * too, rcu=preempt readers do not and may be preempted (kernel/rcu.c
 * tracks them while they are switched out).
 *
 * Migration: a task not pinned to a CPU may move when its slice ends
 * (sched_migrate=) and when an idle CPU steals it; so a user task's mm
 * is loaded on different CPUs over time.
 *
 * The context switch (sched.c, context_switch()) is where mm_switch(),
 * lazy entry and the lazy CPU's pending flush happen; mm/tlb.c draws the
 * shootdown's side and sched.c draws the switch's.
 */
#ifndef KERNEL_SCHED_H
#define KERNEL_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/percpu.h"

struct mm;
struct task;
struct uprog;

typedef void (*task_fn)(void *arg);

enum task_state {
	TASK_RUNNING,		/* on a CPU */
	TASK_RUNNABLE,		/* on a run queue, or being put on one */
	TASK_DEAD,		/* returned from its function; task_free() frees it */
};

#define TASK_NAME_LEN 24
#define TASK_ANY_CPU (-1)

/*
 * Protection: (c) constant after task_create(), (s) the CPU running the
 * task or switching it (interrupts off), (q) the run queue's lock of the
 * CPU whose queue holds it, (a) atomic, (t) the task itself.
 */
struct task {
	uintptr_t rsp;			/* (s) saved by switch_to() */
	uintptr_t rsp0;			/* (s) TSS.RSP0 and entry_rsp while it runs: where ring-3 traps land */
	void *stack;			/* (c) kernel stack, STACK_SIZE bytes; NULL: a boot stack */
	struct mm *mm;			/* (c) NULL: kernel thread */
	int state;			/* (s) enum task_state */
	int pin;			/* (c) CPU it must run on, or TASK_ANY_CPU */
	unsigned int cpu;		/* (s,q) CPU it runs or is queued on */
	struct task *rq_next;		/* (q) */
	bool on_rq;			/* (q) */
	int on_cpu;			/* (s) CPU + 1 while a CPU runs it or stands on its stack */
	task_fn fn;			/* (c) */
	void *arg;			/* (c) */
	int done;			/* (a) set with release when fn returned */
	unsigned int id;		/* (c) */
	char name[TASK_NAME_LEN];	/* (c) */
	uintptr_t priv;			/* (c) the creator's (a torture worker's index) */
	unsigned int weight;		/* (c) slices of sched_slice= it runs before the tick preempts it */
	/* rcu=preempt readers (kernel/rcu.h): nesting and the phase the
	 * outermost lock counted in belong to the task, not the CPU, since
	 * a reader may be switched out and resume elsewhere. (t) */
	int rcu_nesting;
	int rcu_idx;
	bool rcu_blocked;		/* (s) switched out inside a reader */
	/* Exception fixups (arch/x86/traps.h) and ring 3 (arch/x86/user.c):
	 * what the last fixed-up or ring-3 exception was, the kernel stack
	 * user_call() returns on (0: no user code running), how it ended. (t) */
	uint64_t fault_vector, fault_error, fault_cr2;
	bool exec_safe_armed;
	uint64_t user_return_rsp;
	int user_fault;
	unsigned int call_faults;	/* (t) page faults resolved in this user_call() */
	struct uprog *uprog;		/* (t) the user program it runs (kernel/uprog.h), or NULL */
	int off_cpu;			/* (a) dead and switched out for good: task_free() may go */
};

/*
 * The task running on this CPU: one %gs-relative load. Reading the
 * per-CPU pointer and then its field would be two instructions, and a
 * task preempted between them and moved would read the field of the CPU
 * it left, that is another task.
 */
static inline struct task *current_task(void)
{
	struct task *t;

	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(t) : "i"(__builtin_offsetof(struct percpu, current)));
	return t;
}

/*
 * Create a task that runs fn(arg) and is then dead; it starts when
 * task_start() queues it. mm: NULL for a kernel thread, else the address
 * space it runs in (the caller keeps mm alive until the task is done).
 * pin: a CPU, or TASK_ANY_CPU. Returns NULL when out of memory.
 */
struct task *task_create(const char *name, task_fn fn, void *arg, struct mm *mm, int pin);
/* Queue t on its pinned CPU, or on cpu_hint's (mod the online CPUs). */
void task_start(struct task *t, unsigned int cpu_hint);
/* Whether t has finished (acquire: pairs with the release at its end). */
bool task_done(const struct task *t);
/* Free a task that is done and switched out for good; waits for that. */
void task_free(struct task *t);

/* Give the CPU to the next runnable task, if any. Preempt count 0. */
void sched_yield(void);
/* Switch to the next task: from sched_yield(), the idle loop and
 * preemption. Interrupts off or on; the preempt count must be 0. */
void schedule(void);
/* Tail of an interrupt or exception (arch/x86/traps.c): preempt the
 * interrupted context if a switch is due and it may be preempted. */
void sched_irq_exit(const struct trap_frame *f);
/* preempt_enable() found a switch due. */
void sched_preempt_point(void);

/* Boot: each CPU's boot context is a task from the start (percpu_setup()
 * and the AP start call sched_boot_task()); the boot CPU's goes on as
 * "main" and sched_init() gives it an idle task; sched_ap_start() turns
 * an AP's boot context into its idle task (never returns). */
struct task *sched_boot_task(unsigned int cpu);
void sched_init(void);
__attribute__((noreturn)) void sched_ap_start(void);

/*
 * Hooks, all called with interrupts off on the CPU switching:
 *  switch_out: prev is about to be switched out (rcu=preempt tracking);
 *  switch_in: next has just been switched in.
 */
extern void (*sched_switch_out_hook)(struct task *prev);
extern void (*sched_switch_in_hook)(struct task *next);

/*
 * What the process model did: counters summed over CPUs, never reset.
 * Each suite prints the difference over its run (tests/torture.c).
 */
struct sched_stats {
	uint64_t tasks;			/* tasks created */
	uint64_t user_tasks;		/* of which with an mm */
	uint64_t ctxsw;			/* context switches */
	uint64_t preemptions;		/* of which forced by the tick */
	uint64_t migrations;		/* a task ran on another CPU than last time */
	uint64_t mm_switches;		/* CR3 loads of another mm */
	uint64_t lazy_enter;		/* a kernel thread kept a user mm loaded */
	uint64_t lazy_flushes;		/* leaving lazy mode found a flush pending */
	uint64_t preempted_readers;	/* rcu=preempt readers switched out */
};
void sched_stats_get(struct sched_stats *s);
/* Context switches made by this CPU so far (a task pinned to it). */
uint64_t sched_ctxsw_count(void);
/* Counters bumped by mm/mm.c and kernel/rcu.c on this CPU (interrupts off). */
enum sched_stat { SCHED_MM_SWITCH, SCHED_LAZY_ENTER, SCHED_LAZY_FLUSH, SCHED_PREEMPTED_READER };
void sched_stat_inc(enum sched_stat s);

extern uint64_t sched_slice_ms;		/* (c) sched_slice= */

#endif
