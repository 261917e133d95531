/*
 * System calls: the table and each call's argument checks. Every user
 * pointer goes through arch/x86/uaccess.h; a bad one is -EFAULT.
 */
#include "kernel/syscall.h"
#include <stddef.h>
#include "arch/x86/cpu.h"
#include "arch/x86/syscall.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/uaccess.h"
#include "kernel/errno.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/syscall_abi.h"
#include "kernel/uprog.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"

DEFINE_INJECT(uaccess_no_fixup, "write() reads the user's buffer with a plain access, no exception fixup");

_Static_assert(PROT_READ == 1 && PROT_WRITE == 2 && PROT_EXEC == 4 && MAP_FIXED == 1,
	       "kernel/syscall_abi.h and mm/mmap.h agree");

typedef long (*syscall_fn)(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			   uint64_t a5);
#define SYSCALL(name) \
	static long sys_##name(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)

__attribute__((weak)) void sched_yield(void)
{
	cpu_relax();
}

static const char *program_name(void)
{
	struct uprog *p = uprog_current();

	return p ? p->name : "(ring-3 stub)";
}

SYSCALL(exit)
{
	if (!uprog_current())
		return -EINVAL;		/* user_call()'s stubs end by INT 0x80 */
	uprog_exit((long)a0);
}

SYSCALL(yield)
{
	sched_yield();
	return 0;
}

SYSCALL(getcpu)
{
	return smp_processor_id();
}

SYSCALL(clock)
{
	return (long)now_ns();
}

/* The calling program's mm: its task's. */
static struct mm *current_mm(void)
{
	return current_task()->mm;
}

static bool prot_ok(uint64_t prot)
{
	return !(prot & ~(uint64_t)(PROT_READ | PROT_WRITE | PROT_EXEC));
}

/* len is rounded up to pages by the vm_* calls: keep it from wrapping. */
static bool len_ok(uint64_t len)
{
	return len && len <= USER_MAP_TOP;
}

SYSCALL(mmap)
{
	if (!prot_ok(a2) || (a3 & ~(uint64_t)MAP_FIXED) || !len_ok(a1))
		return -EINVAL;
	if (a3 & MAP_FIXED ? a0 & ~PAGE_MASK : a0 != 0)
		return -EINVAL;
	return vm_mmap(current_mm(), a0, a1, (unsigned int)a2, (unsigned int)a3);
}

SYSCALL(munmap)
{
	return len_ok(a1) ? vm_munmap(current_mm(), a0, a1) : -EINVAL;
}

SYSCALL(mprotect)
{
	if (!prot_ok(a2) || !len_ok(a1))
		return -EINVAL;
	return vm_mprotect(current_mm(), a0, a1, (unsigned int)a2);
}

SYSCALL(madvise)
{
	if (a2 != MADV_DONTNEED || !len_ok(a1))
		return -EINVAL;
	return vm_madvise_dontneed(current_mm(), a0, a1);
}

/*
 * Class names of user reports. report_error() keeps the class pointer
 * (kernel/report.c), so each name a program uses is copied here once and
 * stays. (l) interned_lock for a slot's first write; a filled slot is
 * constant and read without it.
 */
#define USER_CLASSES 16
static spinlock_t interned_lock = SPINLOCK_INIT(LOCK_REPORT);
static char interned[USER_CLASSES][REPORT_CLASS_MAX];

static const char *intern_class(const char *name)
{
	const char *found = NULL;
	uint64_t flags = spin_lock_irqsave(&interned_lock);

	for (unsigned int i = 0; i < USER_CLASSES && !found; i++) {
		if (!interned[i][0])
			strlcpy(interned[i], name, sizeof(interned[i]));
		if (!strcmp(interned[i], name))
			found = interned[i];
	}
	spin_unlock_irqrestore(&interned_lock, flags);
	return found;
}

static bool class_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

SYSCALL(report)
{
	char class[REPORT_CLASS_MAX], msg[REPORT_MSG_MAX];
	long r = strncpy_from_user(class, a0, sizeof(class));

	if (r == -EFAULT)
		return -EFAULT;
	if (r < 0 || !class_name_ok(class))
		return -EINVAL;
	r = strncpy_from_user(msg, a1, sizeof(msg));
	if (r == -EFAULT)
		return -EFAULT;		/* too long is fine: cut */
	const char *interned_class = intern_class(class);
	if (!interned_class)
		return -ENOMEM;
	report_error(interned_class, "user %s: %s", program_name(), msg);
	return 0;
}

/* Print buf as diagnostic lines; unprintable bytes become '?'. */
static void print_lines(char *buf, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && buf[i] != '\n') {
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				buf[i] = '?';
			continue;
		}
		if (i > start || (i < n && buf[i] == '\n'))
			report_diag("user %s: %.*s", program_name(), (int)(i - start), buf + start);
		start = i + 1;
	}
}

/* The seeded bug: what a kernel without copy_from_user would do. The
 * access is opened for SMAP, so a good pointer still works; a bad one
 * faults with no fixup to take it. */
static void copy_without_fixup(void *dst, uintptr_t usrc, size_t n)
{
	if (smap_enabled)
		stac();
	memcpy(dst, (const void *)usrc, n);
	if (smap_enabled)
		clac();
}

SYSCALL(write)
{
	char buf[WRITE_MAX];
	size_t n = a1 < WRITE_MAX ? a1 : WRITE_MAX;

	if (injected(uaccess_no_fixup))
		copy_without_fixup(buf, a0, n);
	else if (copy_from_user(buf, a0, n))
		return -EFAULT;
	print_lines(buf, n);
	return (long)n;
}

static const syscall_fn syscall_table[NR_SYSCALLS] = {
	[SYS_exit] = sys_exit,
	[SYS_yield] = sys_yield,
	[SYS_getcpu] = sys_getcpu,
	[SYS_clock] = sys_clock,
	[SYS_mmap] = sys_mmap,
	[SYS_munmap] = sys_munmap,
	[SYS_mprotect] = sys_mprotect,
	[SYS_madvise] = sys_madvise,
	[SYS_report] = sys_report,
	[SYS_write] = sys_write,
};

void syscall_dispatch(struct trap_frame *f)
{
	struct uprog *p = current_task()->uprog;
	uint64_t nr = f->rax;
	syscall_fn fn = nr < NR_SYSCALLS ? syscall_table[nr] : NULL;

	if (p) {
		/* A kernel fault from here on kills p (uprog_kernel_fault()). */
		p->syscall_nr = nr;
		p->syscall_preempt_count = this_cpu()->preempt_count;	/* 0: a task */
		p->in_syscall = true;
	}
	f->rax = fn ? (uint64_t)fn(f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9) : (uint64_t)-ENOSYS;
	if (p)
		p->in_syscall = false;
	/* The return must go to a user address (syscall.asm); the RIP
	 * SYSCALL saved always is one, so this is a check on the kernel. */
	ASSERT_MSG(user_range_ok(f->rip, 1), "system call %lu returns to %lx", nr, f->rip);
}
