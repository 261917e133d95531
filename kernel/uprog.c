/*
 * The synchronous user-program runner. See kernel/uprog.h.
 *
 *   uprog_run                      ring 3                 kernel
 *   mm_create, mm_switch
 *   elf_load, map the stack
 *   percpu->uprog = &p
 *   user_enter  ----------------> _start ... SYSCALL ---> syscall_dispatch
 *                                  <------------------- SYSRET
 *                                 exit / fault -------> uprog_exit / uprog_trap /
 *                                                       uprog_kernel_fault
 *   <------------------------------------------------- user_leave
 *   percpu->uprog = NULL
 *   mm_destroy, previous mm back
 */
#include "kernel/uprog.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/syscall.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/user.h"
#include "kernel/elf.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/mm.h"
#include "mm/mmap.h"

#define UPROG_STACK_SIZE	(64 * 1024)

/* The table the build generates from tests/user/ (build/user_programs.asm). */
extern const struct user_program user_programs[];
extern const uint64_t user_programs_count;

const struct user_program *user_program_find(const char *name)
{
	for (uint64_t i = 0; i < user_programs_count; i++)
		if (!strcmp(user_programs[i].name, name))
			return &user_programs[i];
	return NULL;
}

struct uprog *uprog_current(void)
{
	return current_task()->uprog;
}

/* Set up the mm; 0 with the entry point and stack top, or an error. */
static long load(struct uprog *p, const void *image, size_t size, uintptr_t *entry, uintptr_t *sp)
{
	long r = elf_load(p->mm, image, size, entry);

	if (r)
		return r;
	r = vm_mmap(p->mm, 0, UPROG_STACK_SIZE, PROT_READ | PROT_WRITE, 0);
	if (r < 0)
		return r;
	*sp = (uintptr_t)r + UPROG_STACK_SIZE;
	return 0;
}

int uprog_run(const char *name, const void *image, size_t size, const uint64_t args[3],
	      unsigned int flags, struct uprog_result *res)
{
	return uprog_run_timed(name, image, size, args, flags, 0, res);
}

int uprog_run_timed(const char *name, const void *image, size_t size, const uint64_t args[3],
		    unsigned int flags, uint64_t timeout_ns, struct uprog_result *res)
{
	struct task *t = current_task();
	struct mm *prev = t->mm;
	struct uprog p = { .name = name, .flags = flags, .res = res };
	uintptr_t entry = 0, sp = 0;
	long r;

	ASSERT_MSG(irqs_enabled(), "uprog_run(%s) with interrupts off", name);
	ASSERT_MSG(!t->uprog && !t->user_return_rsp, "uprog_run(%s) nested in ring-3 code", name);
	memset(res, 0, sizeof(*res));
	p.mm = mm_create();
	if (!p.mm)
		return -ENOMEM;
	mm_switch(p.mm);
	r = load(&p, image, size, &entry, &sp);
	if (!r) {
		/* IF on in ring 3; IOPL 0, AC clear, bit 1 reserved and set. */
		struct user_regs regs = {
			.rip = entry, .rsp = sp, .rflags = RFLAGS_IF | 0x2,
			.rdi = args[0], .rsi = args[1], .rdx = args[2],
		};
		if (timeout_ns)
			p.deadline_tsc = rdtsc() + ns_to_tsc(timeout_ns);
		irq_disable();
		t->uprog = &p;
		user_enter(&regs, &p.return_rsp, tss_rsp0_slot());
		t->uprog = NULL;
		irq_enable();
	}
	/* The task's address space again (mm_destroy() let go of ours). */
	if (prev)
		mm_switch(prev);
	else
		mm_switch_kernel();
	mm_destroy(p.mm);
	return (int)r;
}

/* Back to uprog_run(). Interrupts off, GS the kernel's. */
__attribute__((noreturn)) static void leave(struct uprog *p)
{
	p->in_syscall = false;
	user_leave(p->return_rsp, 0);
}

void uprog_exit(long code)
{
	struct uprog *p = uprog_current();

	irq_disable();
	p->res->end = UPROG_EXITED;
	p->res->exit_code = code;
	leave(p);
}

static void record_kill(struct uprog *p, enum uprog_kill why, const struct trap_frame *f)
{
	p->res->end = UPROG_KILLED;
	p->res->kill = why;
	p->res->vector = f->vector;
	p->res->error = f->error;
	p->res->cr2 = f->vector == VEC_PF ? read_cr2() : 0;
	p->res->rip = f->rip;
}

void uprog_trap(const struct trap_frame *f)
{
	struct uprog *p = uprog_current();

	record_kill(p, UPROG_SEGV, f);
	if (!(p->flags & UPROG_EXPECT_SEGV))
		report_error("segv", "user %s: killed by vector %lu (error %lx, address %lx) at %lx, sp %lx",
			     p->name, f->vector, f->error, p->res->cr2, f->rip, f->rsp);
	leave(p);
}

void uprog_check_deadline(const struct trap_frame *f)
{
	struct uprog *p = current_task()->uprog;

	if (!p || !p->deadline_tsc || (int64_t)(rdtsc() - p->deadline_tsc) < 0)
		return;
	record_kill(p, UPROG_TIMEOUT, f);
	leave(p);
}

void uprog_kernel_fault(const struct trap_frame *f, const char *what)
{
	struct percpu *pc = this_cpu();
	struct uprog *p = current_task()->uprog;

	/* Only a fault of the system call itself: an interrupt handler's
	 * fault, or one inside a section that disabled preemption (maybe
	 * holding what that protects), leaves state the kill cannot undo. */
	if (!p || !p->in_syscall || pc->irq_depth || pc->in_nmi ||
	    pc->preempt_count != p->syscall_preempt_count)
		return;
	record_kill(p, UPROG_KERNEL_FAULT, f);
	report_error("kernel_fault", "user %s: %s in the kernel at %lx %pS (address %lx) serving "
		     "system call %lu; the program is killed", p->name, what, f->rip, (void *)f->rip,
		     p->res->cr2, p->syscall_nr);
	trap_dump_prefixed(f, "    # ");
	leave(p);
}
