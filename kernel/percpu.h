/*
 * Per-CPU data. Each CPU's GS base points at its struct percpu, whose
 * first field points back at itself, so this_cpu() is one load.
 * Subsystems keep their own per-CPU state in arrays indexed by
 * smp_processor_id(), cache-line aligned.
 *
 * A CPU runs one task at a time (kernel/sched.h) plus its interrupt
 * handlers. Tasks may be preempted and may migrate: code that uses this
 * CPU's fields, or smp_processor_id() as an index, must run with the
 * preempt count raised or interrupts off (or in a task pinned to the
 * CPU), and needs no lock against other tasks then, only against its
 * interrupt handlers where noted.
 */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/atomic.h"
#include "kernel/cpumask.h"

#define CACHELINE 64
#define __cacheline_aligned __attribute__((aligned(CACHELINE)))

struct trap_frame;
struct mm;
struct task;

/*
 * Protection: (o) written by the owner CPU only (others may read with
 * READ_ONCE), (c) constant once the CPU is online, (i) owner CPU with
 * interrupts off.
 */
struct percpu {
	struct percpu *self;		/* (c) must stay first: %gs:0 */
	/*
	 * Ring 3. entry_rsp and syscall_user_rsp sit at the fixed offsets
	 * the SYSCALL entry uses (PERCPU_* in arch/x86/frame.inc, checked
	 * in arch/x86/syscall.c). entry_rsp is the kernel stack top SYSCALL
	 * switches to and always equals TSS.RSP0 (where interrupts from
	 * ring 3 land): user_enter() writes both, and the context switch
	 * saves them in the task left and loads the next task's
	 * (kernel/sched.c). syscall_user_rsp is scratch for the one
	 * instruction between SYSCALL and the frame push. The state of the
	 * ring-3 code itself (where user_enter() returns, the program) is
	 * the task's (kernel/sched.h). (i)
	 */
	uint64_t entry_rsp;		/* offset 8 */
	uint64_t syscall_user_rsp;	/* offset 16 */
	unsigned int cpu;		/* (c) index into the CPU table */
	uint32_t apic_id;		/* (c) */
	int preempt_count;		/* (o) >0: not preemptible, not quiescent for RCU (but see lock_waits) */
	/* Lock waits in progress (kernel/spinlock.h, kernel/rwlock.h):
	 * each also raised preempt_count, so preempt_count - lock_waits
	 * is what the code running here holds (kernel/rcu.c, (F)). (o) */
	int lock_waits;
	bool need_resched;		/* (i) a switch is due (kernel/sched.c) */
	int irq_depth;			/* (o) nested interrupt handlers */
	bool in_nmi;			/* (o) */
	bool idle;			/* (o) in the idle loop (RCU EQS) */
	struct trap_frame *irq_regs;	/* (i) frame of the current interrupt */
	uint64_t tick_count;		/* (o) ticks taken */
	uint64_t last_tick_tsc;		/* (o) TSC of the last tick, watchdog */
	uintptr_t stack_top;		/* (c) top of the boot stack */
	uintptr_t stack_bottom;		/* (c) */
	/* The scheduler (kernel/sched.c), (i): the running task, this
	 * CPU's idle task, and the task a switch in progress left. */
	struct task *current;
	struct task *idle_task;
	struct task *switch_prev;
	/* The #PF hook resolves no fault: a ring-3 probe runs
	 * (arch/x86/user.c, user_probe_read()), and the kernel stack it
	 * returns on and how it ended. (i) */
	bool faults_unresolved;
	uint64_t probe_return_rsp;
	int probe_fault;
	/* RCU (sched flavor): an expedited grace period waits for this
	 * CPU's next quiescent state; the outermost rcu_read_unlock()
	 * reports it. (o) set in the expedited IPI handler, cleared by the
	 * owner. */
	bool rcu_exp_need_qs;
	/* The address space loaded in CR3 (NULL: the kernel's tables), and
	 * whether it is only lazily kept (no user accesses). (o) */
	struct mm *mm;
	bool mm_lazy;		/* (o, read by flush initiators) */
	/* Set by a flush initiator that skipped this lazy CPU (a); the CPU
	 * flushes its whole TLB before it uses the mm again. */
	int tlb_flush_pending;
	/* Last RIP seen by an interrupt, for diagnosing CPUs that do not ack. */
	uint64_t last_irq_rip;		/* (o) */
} __cacheline_aligned;

extern struct percpu *cpu_table[MAX_CPUS];	/* (c) indexed by CPU */
extern unsigned int nr_cpus_online;		/* (c) after SMP boot */
extern struct cpumask cpu_online_mask;

/*
 * Volatile: a task may be preempted and resume on another CPU between
 * two calls, so the compiler must not merge them (a non-volatile asm
 * with the same inputs may be reused across a call, context switches
 * included). Code that keeps the pointer, or loads it and then a field
 * through it, must not be preemptible: a switch in between leaves it
 * pointing at the CPU the task left.
 */
static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}

/* One %gs-relative load, for the reason current_task() gives
 * (kernel/sched.h); still only a hint unless preemption is off. */
static inline unsigned int smp_processor_id(void)
{
	unsigned int cpu;

	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(__builtin_offsetof(struct percpu, cpu)));
	return cpu;
}

static inline struct percpu *cpu_percpu(unsigned int cpu)
{
	return cpu_table[cpu];
}

#define for_each_online_cpu(c) for_each_cpu_in(c, &cpu_online_mask)

/* Allocate and install the per-CPU area of cpu on the calling CPU. */
void percpu_setup(unsigned int cpu, uint32_t apic_id, struct percpu *area);

/*
 * The preempt count is changed by one %gs-relative instruction: a task
 * preempted and moved between reading this CPU's address and writing
 * the count would change another CPU's count.
 */
static inline void preempt_disable(void)
{
	__asm__ volatile("incl %%gs:%c0" : : "i"(__builtin_offsetof(struct percpu, preempt_count)) : "memory");
}
/* Lower the count; no switch even if one is due (the tick or the next
 * preempt_enable() makes it). */
void preempt_count_underflow(void) __attribute__((noreturn, cold));
static inline void preempt_enable_no_resched(void)
{
	/* Below zero is an enable without its disable: it would let the
	 * tick preempt (and report quiescent) a CPU holding a spinlock
	 * later. One branch, taken never. */
	__asm__ goto("decl %%gs:%c0\n\tjs %l[under]"
		     : : "i"(__builtin_offsetof(struct percpu, preempt_count)) : "memory", "cc" : under);
	return;
under:
	preempt_count_underflow();
}
/*
 * Bracket the spin of a lock wait, between taking a place in the lock's
 * queue (with the preempt count raised) and getting the lock: the
 * waiter stays unpreemptible (a ticket it holds must not wait for a
 * task switched out), but a count made only of such waits opens no
 * rcu=sched read-side section, so the tick may report a quiescent
 * state (kernel/rcu.c, (F)). One %gs-relative instruction each, like
 * the count.
 */
static inline void lock_wait_begin(void)
{
	__asm__ volatile("incl %%gs:%c0" : : "i"(__builtin_offsetof(struct percpu, lock_waits)) : "memory");
}
static inline void lock_wait_end(void)
{
	__asm__ volatile("decl %%gs:%c0" : : "i"(__builtin_offsetof(struct percpu, lock_waits)) : "memory");
}
void sched_preempt_point(void);
/* Lower the count, and switch if one is due and we may. */
static inline void preempt_enable(void)
{
	preempt_enable_no_resched();
	struct percpu *pc = this_cpu();
	if (__builtin_expect(READ_ONCE(pc->need_resched), 0) && pc->preempt_count == 0)
		sched_preempt_point();
}

#endif
