/*
 * Copies to and from user memory. See arch/x86/uaccess.h.
 *
 * STAC/CLAC exist only on CPUs with SMAP (they are #UD elsewhere), and the
 * kernel sets CR4.SMAP whenever the CPU has it (cpu_setup_control_regs()),
 * so each access comes in two forms: bracketed by STAC/CLAC, or plain
 * where nothing needs opening. AC is never left set: the fixup resumes at
 * the CLAC, and interrupt entry clears AC for its handler (isr.asm) while
 * IRET gives the interrupted copy its AC back.
 */
#include "arch/x86/uaccess.h"
#include "arch/x86/cpu.h"
#include "kernel/errno.h"
#include "kernel/panic.h"
#include "mm/mm.h"

#define STAC_INSN ".byte 0x0f,0x01,0xcb\n\t"
#define CLAC_INSN ".byte 0x0f,0x01,0xca\n\t"

/* The access at label 1, resuming at label 2 on an unresolved fault with
 * RAX = vector + 1 (arch/x86/traps.c, fixup_exception()). */
#define EX_ENTRY ".pushsection __ex_table, \"a\"\n\t.quad 1b, 2b\n\t.popsection\n\t"

bool user_range_ok(uintptr_t addr, size_t n)
{
	return n <= USER_TOP && addr <= USER_TOP - n;
}

static void uaccess_context_check(void)
{
	/* With interrupts off the #PF hook cannot take the locked path: a
	 * fault on a valid mapping would be a spurious -EFAULT. */
	ASSERT_MSG(irqs_enabled(), "user memory accessed with interrupts off");
}

/* rep movsb between any two addresses, one of them user. 0 or -EFAULT. */
static int copy_bytes(void *dst, const void *src, size_t n)
{
	uint64_t fault = 0;

	if (smap_enabled)
		__asm__ volatile(STAC_INSN "1: rep movsb\n\t2:\n\t" CLAC_INSN EX_ENTRY
				 : "+D"(dst), "+S"(src), "+c"(n), "+a"(fault) : : "memory");
	else
		__asm__ volatile("1: rep movsb\n\t2:\n\t" EX_ENTRY
				 : "+D"(dst), "+S"(src), "+c"(n), "+a"(fault) : : "memory");
	return fault ? -EFAULT : 0;
}

int copy_from_user(void *dst, uintptr_t usrc, size_t n)
{
	if (!user_range_ok(usrc, n))
		return -EFAULT;
	uaccess_context_check();
	return copy_bytes(dst, (const void *)usrc, n);
}

int copy_to_user(uintptr_t udst, const void *src, size_t n)
{
	if (!user_range_ok(udst, n))
		return -EFAULT;
	uaccess_context_check();
	return copy_bytes((void *)udst, src, n);
}

int get_user_u64(uint64_t *val, uintptr_t usrc)
{
	uint64_t fault = 0, v = 0;

	if (!user_range_ok(usrc, sizeof(v)))
		return -EFAULT;
	uaccess_context_check();
	if (smap_enabled)
		__asm__ volatile(STAC_INSN "1: movq (%[a]), %[v]\n\t2:\n\t" CLAC_INSN EX_ENTRY
				 : [v] "+r"(v), "+a"(fault) : [a] "r"(usrc) : "memory");
	else
		__asm__ volatile("1: movq (%[a]), %[v]\n\t2:\n\t" EX_ENTRY
				 : [v] "+r"(v), "+a"(fault) : [a] "r"(usrc) : "memory");
	if (fault)
		return -EFAULT;
	*val = v;
	return 0;
}

int put_user_u64(uintptr_t udst, uint64_t val)
{
	uint64_t fault = 0;

	if (!user_range_ok(udst, sizeof(val)))
		return -EFAULT;
	uaccess_context_check();
	if (smap_enabled)
		__asm__ volatile(STAC_INSN "1: movq %[v], (%[a])\n\t2:\n\t" CLAC_INSN EX_ENTRY
				 : "+a"(fault) : [a] "r"(udst), [v] "r"(val) : "memory");
	else
		__asm__ volatile("1: movq %[v], (%[a])\n\t2:\n\t" EX_ENTRY
				 : "+a"(fault) : [a] "r"(udst), [v] "r"(val) : "memory");
	return fault ? -EFAULT : 0;
}

/* One byte; the range check is the caller's. 0 or -EFAULT. */
static int get_user_u8(char *c, uintptr_t usrc)
{
	uint64_t fault = 0;
	char v = 0;

	if (smap_enabled)
		__asm__ volatile(STAC_INSN "1: movb (%[a]), %[v]\n\t2:\n\t" CLAC_INSN EX_ENTRY
				 : [v] "+q"(v), "+a"(fault) : [a] "r"(usrc) : "memory");
	else
		__asm__ volatile("1: movb (%[a]), %[v]\n\t2:\n\t" EX_ENTRY
				 : [v] "+q"(v), "+a"(fault) : [a] "r"(usrc) : "memory");
	*c = v;
	return fault ? -EFAULT : 0;
}

/*
 * Byte by byte: a string may end just before an unmapped page, which a
 * block copy of size bytes would fault on. The strings the system calls
 * take are short (a class name, a message line).
 */
long strncpy_from_user(char *dst, uintptr_t usrc, size_t size)
{
	ASSERT(size > 0);
	uaccess_context_check();
	for (size_t i = 0; i < size; i++) {
		char c;
		if (!user_range_ok(usrc + i, 1) || get_user_u8(&c, usrc + i)) {
			dst[i] = 0;
			return -EFAULT;
		}
		dst[i] = c;
		if (!c)
			return (long)i;
	}
	dst[size - 1] = 0;
	return -ENAMETOOLONG;
}
