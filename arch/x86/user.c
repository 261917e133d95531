/*
 * Ring 3: entering user code and coming back. See arch/x86/user.h.
 */
#include "arch/x86/user.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/uprog.h"

int user_call(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t *ret)
{
	struct percpu *pc = this_cpu();
	uint64_t flags = irq_save();
	/* Bit 1 is reserved and set; IOPL 0, AC clear. The stubs need no
	 * stack. */
	struct user_regs regs = {
		.rip = entry, .rsp = 0, .rflags = (flags & RFLAGS_IF) | 0x2, .rdi = a0, .rsi = a1,
	};

	ASSERT_MSG(!pc->user_return_rsp, "user_call() nested in ring-3 code");
	pc->user_fault = 0;
	*ret = user_enter(&regs, &pc->user_return_rsp, tss_rsp0_slot());
	irq_restore(flags);
	return pc->user_fault;
}

void user_finish(const struct trap_frame *f)
{
	struct percpu *pc = this_cpu();
	uint64_t rsp = pc->user_return_rsp;

	if (pc->uprog)
		uprog_trap(f);		/* a user program: killed */
	ASSERT_MSG(rsp, "trap from ring 3 with no user_call() to return to (vector %lu at %lx)",
		   f->vector, f->rip);
	if (f->vector != VEC_USER_RET) {
		pc->fault_vector = f->vector;
		pc->fault_error = f->error;
		pc->fault_cr2 = f->vector == VEC_PF ? read_cr2() : 0;
		pc->user_fault = (int)f->vector + 1;
	}
	pc->user_return_rsp = 0;
	user_leave(rsp, f->rax);
}
