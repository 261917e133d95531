/*
 * Suite "user": ring 3 through SYSCALL/SYSRET, system calls, and user
 * programs run by the synchronous runner (kernel/uprog.h).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/user.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/syscall_abi.h"
#include "mm/mm.h"
#include "tests/ktap.h"

/* A system call made from user_call()'s ring-3 stub. */
static long stub_syscall(uint64_t nr, uint64_t arg, int *fault)
{
	uint64_t ret = 0;

	*fault = user_call(USER_STUB_VA + (uintptr_t)(user_stub_syscall - user_stubs_start), nr, arg,
			   &ret);
	return (long)ret;
}

static void syscall_from_stub(void)
{
	struct mm *mm = mm_create();
	int fault;

	if (!mm) {
		ktap_error("out of memory for an mm");
		return;
	}
	mm_switch(mm);
	long cpu = stub_syscall(SYS_getcpu, 0, &fault);
	KTAP_EXPECT(!fault && cpu == smp_processor_id(), "getcpu gave %ld (fault %d)", cpu, fault);
	long t0 = stub_syscall(SYS_clock, 0, &fault);
	long t1 = stub_syscall(SYS_clock, 0, &fault);
	KTAP_EXPECT(!fault && t0 > 0 && t1 >= t0, "clock %ld then %ld", t0, t1);
	long r = stub_syscall(NR_SYSCALLS, 0, &fault);
	KTAP_EXPECT(!fault && r == -ENOSYS, "unknown number gave %ld", r);
	r = stub_syscall(1ul << 63, 0, &fault);
	KTAP_EXPECT(!fault && r == -ENOSYS, "number 1 << 63 gave %ld", r);
	/* Back in the kernel with its GS: the per-CPU pointer is GS base,
	 * the user's 0 waits in KERNEL_GS_BASE. */
	KTAP_EXPECT(rdmsr(MSR_GS_BASE) == (uintptr_t)this_cpu() && rdmsr(MSR_KERNEL_GS_BASE) == 0,
		    "GS base %lx, kernel GS base %lx", rdmsr(MSR_GS_BASE), rdmsr(MSR_KERNEL_GS_BASE));
	mm_destroy(mm);
}

static const struct ktap_case user_cases[] = {
	KTAP_CASE(syscall_from_stub),
};
KTAP_SUITE(user, user_cases);
