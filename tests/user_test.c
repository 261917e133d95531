/*
 * Suite "user": ring 3 through SYSCALL/SYSRET, system calls, and user
 * programs run by the synchronous runner (kernel/uprog.h).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/user.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/report.h"
#include "kernel/sched.h"
#include "kernel/string.h"
#include "kernel/syscall_abi.h"
#include "kernel/uprog.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
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

/* Run a linked-in program; false (with the case's ERROR set) if it is
 * missing or could not be started. */
static bool run(const char *name, uint64_t a0, uint64_t a1, uint64_t a2, unsigned int flags,
		struct uprog_result *res)
{
	const struct user_program *prog = user_program_find(name);
	const uint64_t args[3] = { a0, a1, a2 };

	if (!prog) {
		ktap_error("no user program '%s' in the image", name);
		return false;
	}
	int r = uprog_run(name, prog->start, (size_t)(prog->end - prog->start), args, flags, res);
	if (r) {
		ktap_error("could not start '%s': %d", name, r);
		return false;
	}
	return true;
}

static long user_pages(void)
{
	return pages_in_use(PAGE_ANON) + pages_in_use(PAGE_TABLE);
}

static void selftest_passes(void)
{
	struct uprog_result res;
	long pages = user_pages();

	/* The one deliberate finding, class user_probe; any other class
	 * (user_selftest: a failed check) fails the case. */
	ktap_expect_error_begin("user_probe");
	bool ran = run("selftest", 0x5e1f7e57, ~0ul, 0, 0, &res);
	unsigned long probes = ktap_expect_error_end();
	if (!ran)
		return;
	KTAP_EXPECT(res.end == UPROG_EXITED && res.exit_code == 0,
		    "selftest ended %d with code %ld (killed: vector %lu at %lx, address %lx)", res.end,
		    res.exit_code, res.vector, res.rip, res.cr2);
	KTAP_EXPECT(probes == 1, "%lu user_probe reports reached the run, expected 1", probes);
	KTAP_EXPECT(user_pages() == pages, "%ld user pages and tables not freed", user_pages() - pages);
	KTAP_EXPECT(current_task()->uprog == NULL && current_task()->user_return_rsp == 0, "ring-3 state left");
}

/* A stale user address no program has mapped: a page of the default mmap
 * area (the runner maps the stack first there, far below). */
static uintptr_t unmapped_addr(void)
{
	return MMAP_BASE + 0x40000000ul + 0x10;
}

static void segv_killed_and_attributed(void)
{
	const uintptr_t addr = unmapped_addr();
	struct uprog_result res;

	if (!run("segv", 0, addr, 0, UPROG_EXPECT_SEGV, &res))
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.kill == UPROG_SEGV && res.vector == VEC_PF &&
		    res.cr2 == addr && (res.error & (PF_U | PF_W)) == (PF_U | PF_W) &&
		    !(res.error & PF_P) && res.rip >= USER_BASE && res.rip < USER_TOP,
		    "write to nothing: end %d kill %d vector %lu error %lx address %lx at %lx", res.end,
		    res.kill, res.vector, res.error, res.cr2, res.rip);

	if (!run("segv", 1, 0, 0, UPROG_EXPECT_SEGV, &res))
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.vector == VEC_PF &&
		    (res.error & (PF_U | PF_W | PF_P)) == (PF_U | PF_W | PF_P) && res.cr2 >= USER_BASE,
		    "write to read-only data: end %d vector %lu error %lx address %lx", res.end, res.vector,
		    res.error, res.cr2);

	if (!run("segv", 2, 0, 0, UPROG_EXPECT_SEGV, &res))
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.vector == VEC_UD, "ud2: end %d vector %lu", res.end,
		    res.vector);

	if (!run("segv", 3, unmapped_addr() & PAGE_MASK, 0, UPROG_EXPECT_SEGV, &res))
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.vector == VEC_PF &&
		    res.cr2 == (unmapped_addr() & PAGE_MASK) && !(res.error & PF_W),
		    "read after munmap: end %d (exit %ld) vector %lu error %lx address %lx", res.end,
		    res.exit_code, res.vector, res.error, res.cr2);

	if (!run("segv", 4, 0, 0, UPROG_EXPECT_SEGV, &res))
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.vector == VEC_PF && (res.error & PF_I) &&
		    res.cr2 == res.rip && res.cr2 >= MMAP_BASE,
		    "call into a data page: end %d (exit %ld) vector %lu error %lx address %lx at %lx",
		    res.end, res.exit_code, res.vector, res.error, res.cr2, res.rip);
}

static void segv_reported_when_unexpected(void)
{
	struct uprog_result res;

	ktap_expect_error_begin("segv");
	bool ran = run("segv", 0, unmapped_addr(), 0, 0, &res);
	unsigned long n = ktap_expect_error_end();
	if (!ran)
		return;
	KTAP_EXPECT(res.end == UPROG_KILLED && res.kill == UPROG_SEGV, "end %d kill %d", res.end,
		    res.kill);
	KTAP_EXPECT(n == 1, "%lu segv reports, expected 1", n);
}

static void bad_image_not_started(void)
{
	static const uint8_t garbage[256] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	const uint64_t args[3] = { 0 };
	struct uprog_result res;
	long pages = user_pages();

	int r = uprog_run("garbage", garbage, sizeof(garbage), args, 0, &res);
	KTAP_EXPECT(r == -ENOEXEC, "uprog_run of garbage returned %d", r);
	KTAP_EXPECT(user_pages() == pages, "%ld pages left", user_pages() - pages);
	KTAP_EXPECT(!user_program_find("no_such_program"), "found a program that does not exist");
}

/*
 * spin loops in ring 3 and never makes a system call. It runs in a task
 * pinned to one CPU beside a counter pinned to the same CPU, which starts
 * counting only once spin has started: the counter makes progress while
 * spin still runs only if the tick preempts ring 3. spin is ended by its
 * time limit (UPROG_TIMEOUT) at a return to ring 3.
 */
static struct {
	struct uprog_result res;
	int r;
	int started, done;		/* (a) */
	unsigned long count;		/* (a) the counter's */
	unsigned long count_at_end;	/* what spin's task saw when spin ended */
} sp;

static void spin_task(void *arg)
{
	const struct user_program *prog = arg;
	const uint64_t args[3] = { 0 };

	store_release(&sp.started, 1);
	sp.r = uprog_run_timed("spin", prog->start, (size_t)(prog->end - prog->start), args, 0,
			       300000000ull, &sp.res);
	sp.count_at_end = load_acquire(&sp.count);
	store_release(&sp.done, 1);
}

static void counter_task(void *arg)
{
	(void)arg;
	while (!load_acquire(&sp.started))
		sched_yield();
	while (!load_acquire(&sp.done)) {
		store_release(&sp.count, sp.count + 1);
		cpu_relax();
	}
}

static void spin_preempted(void)
{
	const struct user_program *prog = user_program_find("spin");
	unsigned int cpu = cpumask_next(&cpu_online_mask, 0), c;
	long pages = user_pages();

	if (!KTAP_EXPECT(prog, "spin is not in the image"))
		return;
	for_each_online_cpu(c)
		cpu = c;		/* the last one: not main's, when there are two */
	memset(&sp, 0, sizeof(sp));
	struct task *s = task_create("spin", spin_task, (void *)prog, NULL, (int)cpu);
	struct task *k = task_create("counter", counter_task, NULL, NULL, (int)cpu);
	if (!KTAP_EXPECT(s && k, "out of memory")) {
		if (s)
			task_free(s);
		if (k)
			task_free(k);
		return;
	}
	task_start(s, cpu);
	task_start(k, cpu);
	while (!task_done(s) || !task_done(k))
		sched_yield();
	task_free(s);
	task_free(k);
	KTAP_EXPECT(sp.r == 0, "spin did not start: %d", sp.r);
	KTAP_EXPECT(sp.res.end == UPROG_KILLED && sp.res.kill == UPROG_TIMEOUT,
		    "spin ended %d (kill %d), expected killed at its time limit", sp.res.end, sp.res.kill);
	KTAP_EXPECT(sp.count_at_end > 0, "the counter on cpu %u never ran while spin spun: ring 3 was "
		    "not preempted", cpu);
	KTAP_EXPECT(user_pages() == pages, "%ld user pages and tables not freed", user_pages() - pages);
	ktap_diag("spin ran 300 ms on cpu %u; the counter beside it counted to %lu meanwhile", cpu,
		  sp.count_at_end);
}

static const struct ktap_case user_cases[] = {
	KTAP_CASE(syscall_from_stub),
	KTAP_CASE(selftest_passes),
	KTAP_CASE(segv_killed_and_attributed),
	KTAP_CASE(segv_reported_when_unexpected),
	KTAP_CASE(bad_image_not_started),
	KTAP_CASE(spin_preempted),
};
KTAP_SUITE(user, user_cases);
