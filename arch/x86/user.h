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
 * The kernel never SWAPGSes: GS base stays the per-CPU pointer in ring 3
 * too (the stubs are the kernel's own code and never touch GS).
 */
#ifndef ARCH_X86_USER_H
#define ARCH_X86_USER_H

#include <stdint.h>

struct trap_frame;

/* The stubs, as linked (to be copied): each entry's offset from the start. */
extern const char user_stubs_start[], user_stubs_end[];
extern const char user_stub_read[], user_stub_write[];

/*
 * Run ring-3 code at entry with RDI = a0, RSI = a1, interrupts as the
 * caller has them. Returns 0 with *ret = its RAX, or the vector + 1 of
 * the exception it ended with (the CPU's fault_vector, fault_error and
 * fault_cr2 record it, as for the _safe accessors). Any context but an
 * interrupt handler interrupting ring 3.
 */
int user_call(uintptr_t entry, uint64_t a0, uint64_t a1, uint64_t *ret);

/* trap_dispatch(): f came from ring 3 and ends the user code (INT 0x80,
 * or an exception nobody resolved). Does not return. */
__attribute__((noreturn)) void user_finish(const struct trap_frame *f);

#endif
