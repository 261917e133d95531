/*
 * SYSCALL setup, per CPU. The entry itself is arch/x86/syscall.asm.
 */
#include "arch/x86/syscall.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "kernel/percpu.h"

extern char syscall_entry[];

/* The offsets syscall.asm and isr.asm use (arch/x86/frame.inc). */
_Static_assert(__builtin_offsetof(struct percpu, entry_rsp) == 8, "PERCPU_ENTRY_RSP");
_Static_assert(__builtin_offsetof(struct percpu, syscall_user_rsp) == 16, "PERCPU_SYSCALL_USER_RSP");
_Static_assert(__builtin_offsetof(struct trap_frame, rcx) == 12 * 8, "FRAME_RCX");
_Static_assert(__builtin_offsetof(struct trap_frame, r11) == 4 * 8, "FRAME_R11");
_Static_assert(__builtin_offsetof(struct trap_frame, vector) == 15 * 8, "FRAME_VECTOR");
_Static_assert(__builtin_offsetof(struct trap_frame, rip) == 17 * 8, "FRAME_RIP");
_Static_assert(__builtin_offsetof(struct trap_frame, cs) == 18 * 8, "FRAME_CS");
_Static_assert(__builtin_offsetof(struct trap_frame, rflags) == 19 * 8, "FRAME_RFLAGS");
_Static_assert(__builtin_offsetof(struct trap_frame, rsp) == 20 * 8, "FRAME_RSP");

/*
 * STAR[47:32]: SYSCALL loads CS from it and SS from it + 8 (KERNEL_CS,
 * KERNEL_DS). STAR[63:48]: 64-bit SYSRET loads CS from it + 16 and SS
 * from it + 8, RPL forced to 3: 0x23 gives USER_CS 0x33 and USER_DS 0x2b
 * (the GDT has user data below user code for this reason, desc.c).
 */
#define STAR_SYSRET_BASE	(USER_DS - 8)
_Static_assert(STAR_SYSRET_BASE + 16 == USER_CS && STAR_SYSRET_BASE + 8 == USER_DS,
	       "GDT order SYSRET needs");
_Static_assert(KERNEL_CS + 8 == KERNEL_DS, "GDT order SYSCALL needs");

/* Cleared on entry: IF (the entry runs masked until its frame is built),
 * DF (the C ABI), AC (SMAP closed), TF (no single-step trap in the
 * entry), NT and IOPL (nothing of ring 3's leaks into the kernel). */
#define FMASK_BITS	(RFLAGS_IF | (1ul << 10) | RFLAGS_AC | (1ul << 8) | (1ul << 14) | (3ul << 12))

void syscall_init_cpu(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, ((uint64_t)STAR_SYSRET_BASE << 48) | ((uint64_t)KERNEL_CS << 32));
	wrmsr(MSR_LSTAR, (uintptr_t)syscall_entry);
	wrmsr(MSR_FMASK, FMASK_BITS);
}
