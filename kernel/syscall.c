/*
 * System calls: the table and each call's argument checks. Every user
 * pointer goes through arch/x86/uaccess.h.
 */
#include "kernel/syscall.h"
#include <stddef.h>
#include "arch/x86/cpu.h"
#include "arch/x86/syscall.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/syscall_abi.h"

typedef long (*syscall_fn)(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			   uint64_t a5);

__attribute__((weak)) void sched_yield(void)
{
	cpu_relax();
}

static long sys_yield(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	sched_yield();
	return 0;
}

static long sys_getcpu(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return smp_processor_id();
}

static long sys_clock(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return (long)now_ns();
}

static const syscall_fn syscall_table[NR_SYSCALLS] = {
	[SYS_yield] = sys_yield,
	[SYS_getcpu] = sys_getcpu,
	[SYS_clock] = sys_clock,
};

void syscall_dispatch(struct trap_frame *f)
{
	uint64_t nr = f->rax;
	syscall_fn fn = nr < NR_SYSCALLS ? syscall_table[nr] : NULL;

	f->rax = fn ? (uint64_t)fn(f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9) : (uint64_t)-ENOSYS;
}
