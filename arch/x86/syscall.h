/*
 * The SYSCALL instruction's entry into the kernel (arch/x86/syscall.asm).
 *
 * Why SYSCALL and not an interrupt gate: it is how 64-bit user programs
 * enter every x86-64 kernel, so the paths a real kernel's entry has to get
 * right (no stack switch by the CPU, the user's RSP and GS live on entry,
 * SWAPGS windows an NMI can hit, SYSRET's checks on the way out) are
 * exercised here too; it is also several times cheaper than INT/IRET,
 * which matters for the syscall figures of the benchmarks. The frame it
 * builds is an ordinary struct trap_frame with vector VEC_SYSCALL, so
 * code that looks at user frames needs no second format.
 */
#ifndef ARCH_X86_SYSCALL_H
#define ARCH_X86_SYSCALL_H

#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_FMASK	0xc0000084

/* The pseudo-vector of a SYSCALL frame: outside 0-255, so no interrupt
 * or exception is ever mistaken for one. syscall.asm has its copy. */
#define VEC_SYSCALL	0x100

struct trap_frame;

/* Program this CPU's SYSCALL MSRs (EFER.SCE, STAR, LSTAR, FMASK). Each
 * CPU, after gdt_init_cpu(). */
void syscall_init_cpu(void);

/* The system call in f (kernel/syscall.c): RAX = number, arguments in
 * RDI RSI RDX R10 R8 R9, result in f->rax. Interrupts on. */
void syscall_dispatch(struct trap_frame *f);

#endif
