/*
 * Ring 3: entering user code and coming back. See arch/x86/user.h.
 * What the ring-3 code's task is doing there (where user_enter() returns,
 * how the code ended, which program runs) is the task's, not the CPU's
 * (kernel/sched.h): a task may be preempted in ring 3 and resume on
 * another CPU.
 */
#include "arch/x86/user.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/uprog.h"
#include "mm/mm.h"

int user_call(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t *ret)
{
	struct task *t = current_task();
	uint64_t flags = irq_save();
	/* Bit 1 is reserved and set; IOPL 0, AC clear. The stubs need no
	 * stack. */
	struct user_regs regs = {
		.rip = entry, .rsp = 0, .rflags = (flags & RFLAGS_IF) | 0x2, .rdi = a0, .rsi = a1,
	};

	ASSERT_MSG(!t->user_return_rsp, "user_call() nested in ring-3 code");
	t->user_fault = 0;
	t->call_faults = 0;
	*ret = user_enter(&regs, &t->user_return_rsp, tss_rsp0_slot());
	irq_restore(flags);
	return t->user_fault;
}

int user_probe_read(uintptr_t addr, uint64_t *val)
{
	struct percpu *pc = this_cpu();
	uint64_t *tss_rsp0 = (uint64_t *)tss_rsp0_slot(), saved = *tss_rsp0, saved_entry = pc->entry_rsp;
	struct user_regs regs = {
		.rip = USER_STUB_VA + (uintptr_t)(user_stub_read - user_stubs_start),
		.rsp = 0, .rflags = 0x2, .rdi = addr,
	};

	ASSERT_MSG(!irqs_enabled() && !pc->probe_return_rsp, "user_probe_read() with interrupts on or nested");
	pc->probe_fault = 0;
	pc->faults_unresolved = true;
	*val = user_enter(&regs, &pc->probe_return_rsp, tss_rsp0);
	pc->faults_unresolved = false;
	/* user_enter() pointed both at this stack: give them back to the
	 * task whose they are. */
	*tss_rsp0 = saved;
	pc->entry_rsp = saved_entry;
	return pc->probe_fault;
}

void user_finish(const struct trap_frame *f)
{
	struct percpu *pc = this_cpu();
	struct task *t = current_task();
	uint64_t rsp = t->user_return_rsp;

	if (pc->probe_return_rsp) {
		uint64_t probe_rsp = pc->probe_return_rsp;
		pc->probe_fault = f->vector == VEC_USER_RET ? 0 : (int)f->vector + 1;
		pc->probe_return_rsp = 0;
		user_leave(probe_rsp, f->rax);
	}

	if (t->uprog)
		uprog_trap(f);		/* a user program: killed */
	ASSERT_MSG(rsp, "trap from ring 3 with no user_call() to return to (vector %lu at %lx)",
		   f->vector, f->rip);
	if (f->vector != VEC_USER_RET) {
		t->fault_vector = f->vector;
		t->fault_error = f->error;
		t->fault_cr2 = f->vector == VEC_PF ? read_cr2() : 0;
		t->user_fault = (int)f->vector + 1;
	}
	t->user_return_rsp = 0;
	user_leave(rsp, f->rax);
}
