/*
 * Trap dispatch: exceptions (fixups, the mm page-fault hook, else a
 * register dump and panic), NMIs (backtrace requests) and interrupts
 * (registered handlers, then EOI).
 */
#include "arch/x86/traps.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/user.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/sched.h"
#include "kernel/uprog.h"
#include "mm/tlb.h"

/* (c) registered during init, before the vector can fire. */
static irq_handler_t irq_handlers[256];
bool (*page_fault_hook)(struct trap_frame *f, uint64_t cr2);

extern const struct ex_entry __ex_table_start[], __ex_table_end[];
extern char exec_safe_fault[];
int exec_safe_asm(uintptr_t target);

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26",
	"reserved 27", "#HV hypervisor injection", "#VC VMM communication",
	"#SX security", "reserved 31",
};

void irq_register(unsigned int vector, irq_handler_t fn)
{
	irq_handlers[vector] = fn;
}

int exec_safe(uintptr_t target)
{
	struct task *t = current_task();
	int ret;

	WRITE_ONCE(t->exec_safe_armed, true);
	ret = exec_safe_asm(target);
	WRITE_ONCE(t->exec_safe_armed, false);
	return ret;
}

static bool fixup_exception(struct trap_frame *f)
{
	struct task *t = current_task();
	uintptr_t resume = 0;

	for (const struct ex_entry *e = __ex_table_start; e < __ex_table_end; e++) {
		if (e->insn == f->rip) {
			resume = e->fixup;
			break;
		}
	}
	if (!resume && t->exec_safe_armed &&
	    (f->vector == VEC_PF || f->vector == VEC_GP || f->vector == VEC_UD)) {
		t->exec_safe_armed = false;
		resume = (uintptr_t)exec_safe_fault;
	}
	if (!resume)
		return false;
	t->fault_vector = f->vector;
	t->fault_error = f->error;
	t->fault_cr2 = f->vector == VEC_PF ? read_cr2() : 0;
	f->rax = f->vector + 1;
	f->rip = resume;
	return true;
}

void trap_dump_prefixed(const struct trap_frame *f, const char *p)
{
	printk("%sRIP: %016lx %pS\n", p, f->rip, (void *)f->rip);
	printk("%sRSP: %016lx RFLAGS: %016lx CS: %04lx SS: %04lx ERR: %lx\n",
	       p, f->rsp, f->rflags, f->cs, f->ss, f->error);
	printk("%sRAX: %016lx RBX: %016lx RCX: %016lx\n", p, f->rax, f->rbx, f->rcx);
	printk("%sRDX: %016lx RSI: %016lx RDI: %016lx\n", p, f->rdx, f->rsi, f->rdi);
	printk("%sRBP: %016lx R8:  %016lx R9:  %016lx\n", p, f->rbp, f->r8, f->r9);
	printk("%sR10: %016lx R11: %016lx R12: %016lx\n", p, f->r10, f->r11, f->r12);
	printk("%sR13: %016lx R14: %016lx R15: %016lx\n", p, f->r13, f->r14, f->r15);
	printk("%sCR0: %016lx CR2: %016lx CR3: %016lx CR4: %016lx\n",
	       p, read_cr0(), read_cr2(), read_cr3(), read_cr4());
}

void trap_dump(const struct trap_frame *f)
{
	trap_dump_prefixed(f, "  ");
}

static void exception(struct trap_frame *f)
{
	/* A page fault the mm layer resolves is retried; only an
	 * unresolved one goes to the accessor's fixup. */
	if (f->vector == VEC_PF && page_fault_hook && page_fault_hook(f, read_cr2()))
		return;
	if (trap_from_user(f))
		user_finish(f);		/* the user code ends with the fault */
	if (fixup_exception(f))
		return;
	uprog_kernel_fault(f, exception_names[f->vector]);	/* returns if it cannot help */

	panic_exception(f, exception_names[f->vector]);
}

void trap_dispatch(struct trap_frame *f)
{
	struct percpu *pc = this_cpu();
	unsigned int vec = f->vector;

	if (vec == VEC_NMI) {
		bool was = pc->in_nmi;
		pc->in_nmi = true;
		/* Both: two NMIs sent close together may arrive as one. */
		bool flush = tlb_flush_nmi();
		if (!nmi_backtrace_handler(f) && !flush)
			printk("# cpu %u: unexpected NMI at %pS\n", pc->cpu, (void *)f->rip);
		pc->in_nmi = was;
		return;
	}
	if (vec < 32) {
		exception(f);
		return;
	}
	if (vec == VEC_USER_RET && trap_from_user(f))
		user_finish(f);

	struct trap_frame *prev = pc->irq_regs;
	pc->irq_regs = f;
	pc->irq_depth++;
	WRITE_ONCE(pc->last_irq_rip, f->rip);
	if (irq_handlers[vec])
		irq_handlers[vec](f);
	else if (vec >= VEC_PIC_BASE + 16 && vec != VEC_SPURIOUS)
		printk("# cpu %u: unexpected interrupt vector 0x%x\n", pc->cpu, vec);
	/* The PIC is masked: its vectors only carry spurious IRQ 7/15, which
	 * take no EOI; neither does the APIC spurious vector. */
	if (vec >= VEC_PIC_BASE + 16 && vec != VEC_SPURIOUS)
		apic_eoi();
	pc->irq_depth--;
	pc->irq_regs = prev;
	sched_irq_exit(f);
	if (trap_from_user(f))
		uprog_check_deadline(f);
}
