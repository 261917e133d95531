/*
 * Interrupt and exception entry. Every vector enters through a stub in
 * arch/x86/isr.asm that builds a struct trap_frame and calls
 * trap_dispatch().
 *
 * Vectors: 0-31 exceptions, 32-47 the (masked) 8259 PICs' remapped range,
 * then the kernel's own.
 */
#ifndef ARCH_X86_TRAPS_H
#define ARCH_X86_TRAPS_H

#include <stdbool.h>
#include <stdint.h>

#define VEC_DE	0
#define VEC_DB	1
#define VEC_NMI	2
#define VEC_BP	3
#define VEC_UD	6
#define VEC_NM	7
#define VEC_DF	8
#define VEC_TS	10
#define VEC_NP	11
#define VEC_SS	12
#define VEC_GP	13
#define VEC_PF	14
#define VEC_MC	18

#define VEC_PIC_BASE	0x20
#define VEC_TIMER	0x40
#define VEC_USER_RET	0x80	/* ring 3 is done: back to user_call()'s caller */
#define VEC_CALL	0xf0	/* cross-CPU function call */
#define VEC_WAKE	0xf1	/* wake an idle CPU: no work in the handler */
#define VEC_TLB		0xf2	/* TLB shootdown */
#define VEC_RCU_EXP	0xf3	/* expedited grace period: report a quiescent state */
#define VEC_SPURIOUS	0xff

#define PF_P	(1u << 0)	/* protection violation (else not present) */
#define PF_W	(1u << 1)
#define PF_U	(1u << 2)
#define PF_RSVD	(1u << 3)
#define PF_I	(1u << 4)

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "isr.asm frame layout");

static inline bool trap_from_user(const struct trap_frame *f)
{
	return (f->cs & 3) == 3;
}

typedef void (*irq_handler_t)(struct trap_frame *f);

void irq_register(unsigned int vector, irq_handler_t fn);

/*
 * Hook for page faults that the mm layer resolves (test address spaces).
 * Returns true if the fault was handled and the access may be retried.
 */
extern bool (*page_fault_hook)(struct trap_frame *f, uint64_t cr2);

void trap_dispatch(struct trap_frame *f);
void trap_dump(const struct trap_frame *f);
/* The same, each line starting with prefix (e.g. a KTAP diagnostic's). */
void trap_dump_prefixed(const struct trap_frame *f, const char *prefix);

/*
 * Exception fixups. An instruction listed in __ex_table that faults does
 * not panic: execution resumes at its fixup address with RAX set to the
 * vector + 1 and the CPU's fault_error/fault_cr2 recorded. The _safe
 * accessors below are built on it.
 */
struct ex_entry {
	uintptr_t insn, fixup;
};

/* Returns 0, or the exception vector + 1. */
static inline int read_u64_safe(const void *addr, uint64_t *val)
{
	uint64_t fault = 0, v = 0;
	__asm__ volatile("1: movq (%[a]), %[v]\n"
			 "2:\n"
			 ".pushsection __ex_table, \"a\"\n"
			 ".quad 1b, 2b\n"
			 ".popsection\n"
			 : [v] "+r"(v), "+a"(fault)
			 : [a] "r"(addr)
			 : "memory");
	*val = v;
	return (int)fault;
}

static inline int write_u64_safe(void *addr, uint64_t val)
{
	uint64_t fault = 0;
	__asm__ volatile("1: movq %[v], (%[a])\n"
			 "2:\n"
			 ".pushsection __ex_table, \"a\"\n"
			 ".quad 1b, 2b\n"
			 ".popsection\n"
			 : "+a"(fault)
			 : [a] "r"(addr), [v] "r"(val)
			 : "memory");
	return (int)fault;
}

/* Call fn() (which must be a leaf with no stack state across the
 * faulting instruction) is not offered: tests fault only through the
 * accessors above and exec_safe(). */
int exec_safe(uintptr_t target);

#endif
