/*
 * A program that dies of a fault of its own; the kernel must kill it and
 * nothing else (tests/user_test.c). a0 chooses how; a1 is the address for
 * the memory cases.
 *   0: write to a1 (unmapped: no VMA)
 *   1: write to this program's read-only data (the VMA forbids it)
 *   2: an undefined instruction (#UD)
 *   3: read a1 after mapping and unmapping it there (MAP_FIXED)
 *   4: call into a readable, writable, not executable page (NX)
 */
#include "tests/user/ulib.h"

static const uint64_t constant = 42;

long umain(uint64_t how, uint64_t addr, uint64_t a2)
{
	switch (how) {
	case 0:
		*(volatile uint64_t *)addr = 1;
		break;
	case 1:
		*(volatile uint64_t *)&constant = 1;
		break;
	case 2:
		__asm__ volatile("ud2");
		break;
	case 3:
		if (sys_mmap(addr, 4096, PROT_READ | PROT_WRITE, MAP_FIXED) != (long)addr ||
		    sys_munmap(addr, 4096) != 0)
			return 2;
		return (long)*(volatile uint64_t *)addr;
	case 4: {
		long page = sys_mmap(0, 4096, PROT_READ | PROT_WRITE, 0);
		if (page <= 0)
			return 2;
		*(volatile uint8_t *)page = 0xc3;	/* ret */
		((void (*)(void))page)();
		break;
	}
	}
	return 1;	/* survived: the test fails on the exit */
}
