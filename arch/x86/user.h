/*
 * Running code in ring 3.
 *
 * user_call() IRETs to a ring-3 entry point and comes back when that code
 * raises VEC_USER_RET (INT 0x80, the one gate ring 3 may use) or takes an
 * exception the kernel does not resolve. Interrupts that arrive meanwhile
 * enter on the kernel stack below user_call()'s frame (TSS.RSP0) and
 * return to ring 3. A page fault goes to page_fault_hook first: one it
 * resolves is retried in ring 3, as for any user program.
 *
 * The ring-3 code itself is a few position-independent stubs (isr.asm),
 * which the mm copies into one page and maps, user-accessible and
 * executable, into every address space at USER_STUB_VA (mm/mm.h).
 *
 *   kernel (user_call)            CPU                    ring 3
 *   save callee-saved regs, RSP
 *   TSS.RSP0 = RSP
 *   IRET  ------------------------------------------>   stub: access
 *                                 #PF (CPL 3) -> hook -> retried
 *                                 tick, IPIs      ->     resumed
 *   user_leave() <- trap_dispatch <- INT 0x80 or an unresolved fault
 *   restore regs and the caller's interrupt state
 *
 * GS base is 0 in ring 3; the per-CPU pointer waits in KERNEL_GS_BASE
 * (the rules: arch/x86/isr.asm).
 *
 * User programs (kernel/uprog.h) enter ring 3 the same way, through
 * user_enter() with their own registers, and come back through
 * user_leave() when they exit or are killed.
 */
#ifndef ARCH_X86_USER_H
#define ARCH_X86_USER_H

#include <stdint.h>

struct trap_frame;

/* The stubs, as linked (to be copied): each entry's offset from the start. */
extern const char user_stubs_start[], user_stubs_end[];
extern const char user_stub_read[], user_stub_write[], user_stub_syscall[], user_stub_syscall_loop[],
	user_stub_map_touch_unmap[];

/* The ring-3 state user_enter() starts from. */
struct user_regs {
	uint64_t rip, rsp, rflags;
	uint64_t rdi, rsi, rdx;
};
_Static_assert(__builtin_offsetof(struct user_regs, rdx) == 40, "isr.asm user_enter");

/*
 * Save the callee-saved registers and this stack (*return_rsp), point
 * TSS.RSP0 (rsp0: tss_rsp0_slot()) and this CPU's entry_rsp just below it,
 * and IRET to ring 3 with regs. Returns the value user_leave() is given.
 * Interrupts off.
 */
uint64_t user_enter(const struct user_regs *regs, uint64_t *return_rsp, void *rsp0);
/* Resume user_enter()'s caller, on the stack it saved, returning value.
 * Interrupts off, GS the kernel's. */
__attribute__((noreturn)) void user_leave(uint64_t return_rsp, uint64_t value);

/*
 * Run ring-3 code at entry with RDI = a0, RSI = a1, interrupts as the
 * caller has them. Returns 0 with *ret = its RAX, or the vector + 1 of
 * the exception it ended with (the CPU's fault_vector, fault_error and
 * fault_cr2 record it, as for the _safe accessors). Any context but an
 * interrupt handler interrupting ring 3.
 */
int user_call(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t *ret);

/*
 * Read the u64 at addr in ring 3 on behalf of no task, interrupts off
 * (they stay off in ring 3): what a context switch's speculative TLB
 * fill stands for in tests (mm/debug.h, mm_switch_hook). A fault is not
 * resolved (the mm being loaded may not be the CPU's mm yet): it ends
 * the probe, returned as vector + 1; 0 with *val on success. TSS.RSP0
 * and entry_rsp are as before on return.
 */
int user_probe_read(uintptr_t addr, uint64_t *val);

/* trap_dispatch(): f came from ring 3 and ends the user code (INT 0x80,
 * or an exception nobody resolved): user_call() returns, or the user
 * program is killed (kernel/uprog.h). Does not return. */
__attribute__((noreturn)) void user_finish(const struct trap_frame *f);

#endif
