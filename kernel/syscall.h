/*
 * The system calls (kernel/syscall_abi.h has the numbers and the ABI),
 * called from the SYSCALL entry through syscall_dispatch()
 * (arch/x86/syscall.h).
 */
#ifndef KERNEL_SYSCALL_H
#define KERNEL_SYSCALL_H

/* Give the CPU to another task. The scheduler provides it; without one
 * a weak default only relaxes the CPU. Interrupts on. */
void sched_yield(void);

#endif
