/*
 * Every system call, with good and bad arguments. A failed check is
 * reported as class user_selftest (the kernel test fails on it); one
 * deliberate finding of class user_probe shows that a report reaches the
 * test run under its own class. Exits with 0, or the number of failed
 * checks.
 *
 * a0, a1, a2 must be SELFTEST_ARG0..2 (the runner's registers arrive).
 */
#include "tests/user/ulib.h"

#define SELFTEST_ARG0 0x5e1f7e57ul
#define SELFTEST_ARG1 (~0ul)
#define SELFTEST_ARG2 0ul

#define PAGE 4096ul
#define KERNEL_ADDR 0xffffffff80100000ul

static unsigned int checks, failures;
/* Not static: the compiler must not fold them to what it knows. */
char selftest_bss[3 * PAGE];
uint64_t selftest_data = 0x0123456789abcdef;

#define CHECK(cond, ...)						\
	do {								\
		checks++;						\
		if (!(cond)) {						\
			failures++;					\
			ureport("user_selftest", __VA_ARGS__);		\
		}							\
	} while (0)

static void image_and_args(uint64_t a0, uint64_t a1, uint64_t a2)
{
	bool zero = true;

	CHECK(a0 == SELFTEST_ARG0 && a1 == SELFTEST_ARG1 && a2 == SELFTEST_ARG2,
	      "args %lx %lx %lx", a0, a1, a2);
	for (size_t i = 0; i < sizeof(selftest_bss); i++)
		zero &= !selftest_bss[i];
	CHECK(zero, "bss not zero");
	CHECK(selftest_data == 0x0123456789abcdef, "data %lx", selftest_data);
	CHECK(!memcmp("rodata", "rodata", 7), "rodata");
}

static void simple_calls(void)
{
	long cpu = sys_getcpu(), t0 = sys_clock(), t1;

	CHECK(cpu >= 0 && cpu < 512, "getcpu %ld", cpu);
	CHECK(sys_yield() == 0, "yield");
	t1 = sys_clock();
	CHECK(t0 > 0 && t1 >= t0, "clock %ld then %ld", t0, t1);
	CHECK(syscall0(NR_SYSCALLS) == -ENOSYS, "number NR_SYSCALLS");
	CHECK(syscall0(1000) == -ENOSYS, "number 1000");
	CHECK(syscall0(-1l) == -ENOSYS, "number -1");
}

static void mmap_calls(void)
{
	long p = sys_mmap(0, 3 * PAGE, PROT_READ | PROT_WRITE, 0);
	volatile uint64_t *w = (volatile uint64_t *)p;

	CHECK(p > 0 && !(p & (PAGE - 1)), "mmap gave %lx", p);
	if (p <= 0)
		return;
	CHECK(w[0] == 0 && w[1000] == 0, "fresh memory not zero");
	w[0] = 11;
	w[3 * PAGE / 8 - 1] = 22;
	CHECK(w[0] == 11 && w[3 * PAGE / 8 - 1] == 22, "read back");

	CHECK(sys_mmap(0, PAGE, 8, 0) == -EINVAL, "bad prot");
	CHECK(sys_mmap(0, PAGE, PROT_READ, 2) == -EINVAL, "bad flags");
	CHECK(sys_mmap(0, 0, PROT_READ, 0) == -EINVAL, "length 0");
	CHECK(sys_mmap(0, ~0ul, PROT_READ, 0) == -EINVAL, "length ~0");
	CHECK(sys_mmap(~0ul - PAGE + 1, 2 * PAGE, PROT_READ, MAP_FIXED) == -EINVAL, "wrapping range");
	CHECK(sys_mmap(p + 1, PAGE, PROT_READ, MAP_FIXED) == -EINVAL, "unaligned MAP_FIXED");
	CHECK(sys_mmap(0x1000, PAGE, PROT_READ, MAP_FIXED) == -EINVAL, "below USER_BASE");
	CHECK(sys_mmap(KERNEL_ADDR, PAGE, PROT_READ, MAP_FIXED) == -EINVAL, "kernel half");
	CHECK(sys_mmap(p, PAGE, PROT_READ, 0) == -EINVAL, "address hint without MAP_FIXED");
	long f = sys_mmap(p + 16 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED);
	CHECK(f == p + 16 * (long)PAGE, "MAP_FIXED gave %lx", f);

	/* mprotect */
	CHECK(sys_mprotect(p, PAGE, PROT_READ) == 0, "mprotect read-only");
	CHECK(w[0] == 11, "read-only page reads %lu", (unsigned long)w[0]);
	CHECK(sys_mprotect(p, 5 * PAGE, PROT_READ) == -ENOMEM, "mprotect over a hole");
	CHECK(sys_mprotect(p, PAGE, 8) == -EINVAL, "mprotect bad prot");
	CHECK(sys_mprotect(p + 8, PAGE, PROT_READ) == -EINVAL, "mprotect unaligned");
	CHECK(sys_mprotect(p, 0, PROT_READ) == -EINVAL, "mprotect length 0");
	CHECK(sys_mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back");
	w[0] = 33;
	CHECK(w[0] == 33, "write after mprotect back");

	/* Code written, then made executable: the fault path lifts NX. */
	static const uint8_t ret42[] = { 0xb8, 42, 0, 0, 0, 0xc3 };	/* mov eax, 42; ret */
	memcpy((void *)(p + PAGE), ret42, sizeof(ret42));
	CHECK(sys_mprotect(p + PAGE, PAGE, PROT_READ | PROT_EXEC) == 0, "mprotect to R+X");
	CHECK(((int (*)(void))(p + PAGE))() == 42, "code in a page made executable");
	CHECK(sys_mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back to R+W");

	/* madvise */
	CHECK(sys_madvise(p, PAGE, MADV_DONTNEED) == 0, "madvise");
	CHECK(w[0] == 0, "after DONTNEED reads %lu", (unsigned long)w[0]);
	CHECK(w[3 * PAGE / 8 - 1] == 22, "DONTNEED went too far");
	CHECK(sys_madvise(p, PAGE, 3) == -EINVAL, "madvise other advice");
	CHECK(sys_madvise(p + 1, PAGE, MADV_DONTNEED) == -EINVAL, "madvise unaligned");

	/* munmap */
	CHECK(sys_munmap(p + 1, PAGE) == -EINVAL, "munmap unaligned");
	CHECK(sys_munmap(p, 0) == -EINVAL, "munmap length 0");
	CHECK(sys_munmap(KERNEL_ADDR, PAGE) == -EINVAL, "munmap kernel half");
	CHECK(sys_munmap(p, 3 * PAGE) == 0, "munmap");
	CHECK(sys_munmap(p, 3 * PAGE) == 0, "munmap of nothing");
	CHECK(sys_munmap(f, PAGE) == 0, "munmap MAP_FIXED page");
}

/* Pointers the kernel must refuse with -EFAULT. */
static void bad_pointers(void)
{
	long gone = sys_mmap(0, PAGE, PROT_READ | PROT_WRITE, 0);
	long none = sys_mmap(0, PAGE, PROT_NONE, 0);
	const uintptr_t bad[] = { 0, KERNEL_ADDR, 0x8000000000000000ul, (uintptr_t)gone, (uintptr_t)none };

	CHECK(gone > 0 && none > 0 && sys_munmap(gone, PAGE) == 0, "setup");
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(sys_write((const void *)bad[i], 8) == -EFAULT, "write from %lx", bad[i]);
		CHECK(sys_report((const char *)bad[i], "msg") == -EFAULT, "report class at %lx", bad[i]);
		CHECK(sys_report("user_probe", (const char *)bad[i]) == -EFAULT, "report msg at %lx",
		      bad[i]);
	}
	sys_munmap(none, PAGE);
}

static void report_and_write(void)
{
	char big[WRITE_MAX + 100];

	CHECK(sys_report("", "msg") == -EINVAL, "empty class");
	CHECK(sys_report("Bad-Class", "msg") == -EINVAL, "class with capitals");
	CHECK(sys_report("user probe", "msg") == -EINVAL, "class with a space");
	CHECK(sys_report("a_class_name_much_longer_than_thirty_two", "msg") == -EINVAL,
	      "class too long");
	CHECK(sys_report("user_probe", "probe from selftest") == 0, "the probe report");
	CHECK(sys_write("", 0) == 0, "write nothing");
	CHECK(sys_write("hello\n", 6) == 6, "write");
	memset(big, 'x', sizeof(big));
	CHECK(sys_write(big, sizeof(big)) == WRITE_MAX, "long write");
}

long umain(uint64_t a0, uint64_t a1, uint64_t a2)
{
	image_and_args(a0, a1, a2);
	simple_calls();
	mmap_calls();
	bad_pointers();
	report_and_write();
	uprintf("%u checks, %u failed\n", checks, failures);
	return failures;
}
