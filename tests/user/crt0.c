/*
 * Program entry. The kernel enters _start in ring 3 with RSP at the top of
 * the stack (16-byte aligned, nothing pushed) and the three arguments in
 * RDI, RSI, RDX; the call below keeps them and gives umain() the usual
 * alignment. Its return value goes to exit().
 */
#include "tests/user/ulib.h"

__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	call umain\n"
	"	mov %rax, %rdi\n"
	"	mov $" "0" ", %eax\n"	/* SYS_exit */
	"	syscall\n"
	"	ud2\n"
	".previous\n");

_Static_assert(SYS_exit == 0, "crt0 calls exit as system call 0");
