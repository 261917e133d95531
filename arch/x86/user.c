/*
 * Ring 3: entering user code and coming back. See arch/x86/user.h.
 */
#include "arch/x86/user.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"

uint64_t user_enter(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t rflags, uint64_t *return_rsp,
		    uint64_t *task_rsp0, void *tss_rsp0);
__attribute__((noreturn)) void user_leave(uint64_t return_rsp, uint64_t value);

int user_call(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t *ret)
{
	struct task *t = current_task();
	uint64_t flags = irq_save();
	/* Bit 1 is reserved and set; IOPL 0, AC clear. */
	uint64_t rflags = (flags & RFLAGS_IF) | 0x2;

	ASSERT_MSG(!t->user_return_rsp, "user_call() nested in ring-3 code");
	t->user_fault = 0;
	/* user_enter() writes TSS.RSP0; t->rsp0 keeps it for the CPUs this
	 * task is switched in on while it runs in ring 3 (kernel/sched.c). */
	*ret = user_enter(entry, a0, a1, rflags, &t->user_return_rsp, &t->rsp0, tss_rsp0_slot());
	irq_restore(flags);
	return t->user_fault;
}

void user_finish(const struct trap_frame *f)
{

	struct task *t = current_task();
	uint64_t rsp = t->user_return_rsp;

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
