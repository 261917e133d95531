/*
 * Per-CPU data. Each CPU's GS base points at its struct percpu, whose
 * first field points back at itself, so this_cpu() is one load.
 * Subsystems keep their own per-CPU state in arrays indexed by
 * smp_processor_id(), cache-line aligned.
 *
 * There is no scheduler: a CPU runs one thread of control plus its
 * interrupt handlers, so a CPU's own fields need no lock against other
 * threads, only against its interrupt handlers where noted.
 */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/cpumask.h"

#define CACHELINE 64
#define __cacheline_aligned __attribute__((aligned(CACHELINE)))

struct trap_frame;
struct mm;
struct uprog;

/*
 * Protection: (o) written by the owner CPU only (others may read with
 * READ_ONCE), (c) constant once the CPU is online, (i) owner CPU with
 * interrupts off.
 */
struct percpu {
	struct percpu *self;		/* (c) must stay first: %gs:0 */
	/*
	 * Ring 3: every per-CPU field of user mode is in this block.
	 *
	 * entry_rsp and syscall_user_rsp sit at the fixed offsets the
	 * SYSCALL entry uses (PERCPU_* in arch/x86/frame.inc, checked in
	 * arch/x86/syscall.c). entry_rsp is the kernel stack top SYSCALL
	 * switches to and always equals TSS.RSP0 (where interrupts from
	 * ring 3 land): user_enter() writes both. A scheduler saves and
	 * restores both per task. syscall_user_rsp is scratch for the one
	 * instruction between SYSCALL and the frame push; it stays per CPU.
	 *
	 * The rest is the state of the ring-3 code this CPU runs and moves
	 * into the task with a scheduler: the stack user_enter() saved to
	 * go back to (0 while no ring-3 code runs) and how that code ended
	 * (user_call()), and the user program it belongs to, NULL for
	 * user_call()'s stubs (kernel/uprog.h).
	 *
	 * (i) owner CPU with interrupts off, or the ring-3 code's own
	 * system calls and traps on this CPU.
	 */
	uint64_t entry_rsp;		/* offset 8 */
	uint64_t syscall_user_rsp;	/* offset 16 */
	uint64_t user_return_rsp;
	int user_fault;
	struct uprog *uprog;
	unsigned int cpu;		/* (c) index into the CPU table */
	uint32_t apic_id;		/* (c) */
	int preempt_count;		/* (o) >0: not quiescent for RCU */
	int irq_depth;			/* (o) nested interrupt handlers */
	bool in_nmi;			/* (o) */
	bool idle;			/* (o) in the idle loop (RCU EQS) */
	struct trap_frame *irq_regs;	/* (i) frame of the current interrupt */
	uint64_t tick_count;		/* (o) ticks taken */
	uint64_t last_tick_tsc;		/* (o) TSC of the last tick, watchdog */
	uintptr_t stack_top;		/* (c) top of the boot stack */
	uintptr_t stack_bottom;		/* (c) */
	/* Exception fixup results for _safe accessors (o). */
	uint64_t fault_vector;
	uint64_t fault_error;
	uint64_t fault_cr2;
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

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	__asm__("mov %%gs:0, %0" : "=r"(p));
	return p;
}

static inline unsigned int smp_processor_id(void)
{
	return this_cpu()->cpu;
}

static inline struct percpu *cpu_percpu(unsigned int cpu)
{
	return cpu_table[cpu];
}

#define for_each_online_cpu(c) for_each_cpu_in(c, &cpu_online_mask)

/* Allocate and install the per-CPU area of cpu on the calling CPU. */
void percpu_setup(unsigned int cpu, uint32_t apic_id, struct percpu *area);

static inline void preempt_disable(void)
{
	this_cpu()->preempt_count++;
	__asm__ volatile("" : : : "memory");
}
static inline void preempt_enable_no_qs(void)
{
	__asm__ volatile("" : : : "memory");
	this_cpu()->preempt_count--;
}

#endif
