/*
 * Loops forever without a system call: only preemption can take the CPU
 * back from it (a scheduler's tick).
 */
#include "tests/user/ulib.h"

long umain(uint64_t a0, uint64_t a1, uint64_t a2)
{
	for (;;)
		__asm__ volatile("" : : : "memory");
}
