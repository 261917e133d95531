/*
 * Suite "uaccess": the kernel's copies to and from user memory
 * (arch/x86/uaccess.h). Bad ranges are refused before any access; faults
 * on valid mappings are resolved by the #PF hook; unresolved ones give
 * -EFAULT; EFLAGS.AC is never left set; SMAP blocks a plain ring-0 access.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/uaccess.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "tests/ktap.h"

static uint64_t kernel_word = 0x1234;

static struct mm *enter_new_mm(void)
{
	struct mm *mm = mm_create();

	if (!mm) {
		ktap_error("out of memory for an mm");
		return NULL;
	}
	mm_switch(mm);
	return mm;
}

static bool ac_clear(void)
{
	return !(read_rflags() & RFLAGS_AC);
}

static void bad_ranges_refused(void)
{
	struct mm *mm = enter_new_mm();
	uint64_t v = 7, buf[4] = { 0 };
	const uintptr_t kernel = (uintptr_t)&kernel_word;

	if (!mm)
		return;
	/* NULL: below USER_BASE, never mapped. */
	KTAP_EXPECT(copy_from_user(buf, 0, 8) == -EFAULT, "read of NULL");
	KTAP_EXPECT(copy_to_user(0, buf, 8) == -EFAULT, "write to NULL");
	KTAP_EXPECT(get_user_u64(&v, 0) == -EFAULT && v == 7, "get_user of NULL gave %lu", v);
	/* A kernel address the kernel itself can read: refused before the
	 * access (a made access would succeed), both directions. */
	KTAP_EXPECT(copy_from_user(&v, kernel, 8) == -EFAULT && v == 7, "read of a kernel address");
	KTAP_EXPECT(copy_to_user(kernel, buf, 8) == -EFAULT && kernel_word == 0x1234,
		    "write to a kernel address: word now %lx", kernel_word);
	KTAP_EXPECT(put_user_u64(kernel, 0) == -EFAULT && kernel_word == 0x1234, "put_user to kernel");
	KTAP_EXPECT(strncpy_from_user((char *)buf, kernel, 8) == -EFAULT, "string at a kernel address");
	/* The first address past the user half (non-canonical under both
	 * paging modes) and the middle of the hole. */
	KTAP_EXPECT(copy_from_user(buf, USER_TOP, 8) == -EFAULT, "read at USER_TOP");
	KTAP_EXPECT(copy_from_user(buf, 0x8000000000000000ul, 8) == -EFAULT, "non-canonical read");
	KTAP_EXPECT(put_user_u64(0x8000000000000000ul, 1) == -EFAULT, "non-canonical write");
	/* Ranges that start in the user half and end past it or wrap. */
	KTAP_EXPECT(copy_from_user(buf, USER_TOP - 8, 16) == -EFAULT, "range ending past USER_TOP");
	KTAP_EXPECT(copy_from_user(buf, USER_BASE, ~0ul) == -EFAULT, "length ~0");
	KTAP_EXPECT(copy_to_user(0xfffffffffffffff0ul, buf, 0x20) == -EFAULT, "wrapping range");
	KTAP_EXPECT(copy_from_user(buf, USER_TOP - 4, 8) == -EFAULT, "straddling USER_TOP");
	KTAP_EXPECT(!user_range_ok(0x10, ~0ul - 8), "a wrapping range passes the check");
	KTAP_EXPECT(user_range_ok(USER_TOP - 8, 8), "the last 8 user bytes fail the check");
	/* Nothing to copy is not an access. */
	KTAP_EXPECT(copy_from_user(buf, USER_BASE, 0) == 0, "empty copy");
	KTAP_EXPECT(ac_clear(), "EFLAGS.AC left set");
	mm_destroy(mm);
}

static void unmapped_and_forbidden(void)
{
	struct mm *mm = enter_new_mm();
	uint64_t v = 0, buf[2] = { 1, 2 };

	if (!mm)
		return;
	long a = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap: %ld", a);
	KTAP_EXPECT(put_user_u64(a, 5) == 0, "write to a fresh mapping");
	KTAP_EXPECT(vm_munmap(mm, a, PAGE_SIZE) == 0, "munmap");
	KTAP_EXPECT(get_user_u64(&v, a) == -EFAULT, "read after munmap");
	KTAP_EXPECT(copy_to_user(a, buf, 16) == -EFAULT, "write after munmap");

	long n = vm_mmap(mm, 0, PAGE_SIZE, PROT_NONE, 0);
	KTAP_ASSERT(n > 0, "mmap PROT_NONE: %ld", n);
	KTAP_EXPECT(get_user_u64(&v, n) == -EFAULT, "read of PROT_NONE");
	KTAP_EXPECT(put_user_u64(n, 1) == -EFAULT, "write to PROT_NONE");
	/* Populated, then made PROT_NONE: the PTE exists but may not be used. */
	long p = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(p > 0, "mmap: %ld", p);
	KTAP_EXPECT(put_user_u64(p, 9) == 0, "write");
	KTAP_EXPECT(vm_mprotect(mm, p, PAGE_SIZE, PROT_NONE) == 0, "mprotect");
	KTAP_EXPECT(get_user_u64(&v, p) == -EFAULT, "read of a populated page made PROT_NONE");
	KTAP_EXPECT(vm_mprotect(mm, p, PAGE_SIZE, PROT_READ) == 0, "mprotect");
	KTAP_EXPECT(get_user_u64(&v, p) == 0 && v == 9, "read back %lu after PROT_READ", v);
	KTAP_EXPECT(put_user_u64(p, 1) == -EFAULT, "write to a read-only page");
	KTAP_EXPECT(get_user_u64(&v, p) == 0 && v == 9, "read-only page changed to %lu", v);
	KTAP_EXPECT(ac_clear(), "EFLAGS.AC left set after faults");
	mm_destroy(mm);
}

static void range_crossing_into_unmapped(void)
{
	struct mm *mm = enter_new_mm();
	char buf[64], str[32];

	if (!mm)
		return;
	long a = vm_mmap(mm, 0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap: %ld", a);
	KTAP_EXPECT(vm_munmap(mm, a + PAGE_SIZE, PAGE_SIZE) == 0, "munmap");
	uintptr_t edge = a + PAGE_SIZE;
	memset(buf, 'x', sizeof(buf));
	KTAP_EXPECT(copy_to_user(edge - 32, buf, 64) == -EFAULT, "write across the edge");
	KTAP_EXPECT(copy_from_user(buf, edge - 32, 64) == -EFAULT, "read across the edge");
	KTAP_EXPECT(copy_from_user(buf, edge - 32, 32) == 0, "read up to the edge");
	/* A string that ends at the last byte before the hole is fine; one
	 * that runs into it is not. */
	KTAP_EXPECT(copy_to_user(edge - 4, "abc", 4) == 0, "write the string");
	KTAP_EXPECT(strncpy_from_user(str, edge - 4, sizeof(str)) == 3 && !strcmp(str, "abc"),
		    "string ending at the edge: '%s'", str);
	KTAP_EXPECT(copy_to_user(edge - 4, "abcd", 4) == 0, "write unterminated bytes");
	KTAP_EXPECT(strncpy_from_user(str, edge - 4, sizeof(str)) == -EFAULT,
		    "string running into the hole");
	KTAP_EXPECT(ac_clear(), "EFLAGS.AC left set");
	mm_destroy(mm);
}

static void reads_and_writes(void)
{
	struct mm *mm = enter_new_mm();
	static uint8_t out[3 * PAGE_SIZE], in[3 * PAGE_SIZE];
	char str[8];
	uint64_t v;

	if (!mm)
		return;
	long a = vm_mmap(mm, 0, 5 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap: %ld", a);
	/* Nothing is populated: each page is faulted in by the #PF hook in
	 * the middle of the copy. */
	KTAP_EXPECT(!pt_walk(mm, a + 8, PT_NO_ALLOC, NULL), "populated before the copy");
	for (unsigned int i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	KTAP_EXPECT(copy_to_user(a + 8, out, sizeof(out)) == 0, "copy_to_user over 4 pages");
	pte_t *pte = pt_walk(mm, a + 3 * PAGE_SIZE, PT_NO_ALLOC, NULL);
	KTAP_EXPECT(pte && pte_present(*pte) && (*pte & PTE_W), "last page not faulted in");
	KTAP_EXPECT(copy_from_user(in, a + 8, sizeof(in)) == 0, "copy_from_user");
	KTAP_EXPECT(!memcmp(in, out, sizeof(in)), "read back differs");
	/* Ring 3 sees what the kernel wrote, and the other way round. */
	KTAP_EXPECT(user_read_u64(a + 8, &v) == 0 && v == *(uint64_t *)out, "ring 3 read %lx", v);
	KTAP_EXPECT(user_write_u64(a + 2 * PAGE_SIZE, 0xfeedface) == 0, "ring 3 write");
	KTAP_EXPECT(get_user_u64(&v, a + 2 * PAGE_SIZE) == 0 && v == 0xfeedface, "get_user %lx", v);
	KTAP_EXPECT(put_user_u64(a + PAGE_SIZE - 4, 0x1122334455667788) == 0, "unaligned put_user");
	KTAP_EXPECT(get_user_u64(&v, a + PAGE_SIZE - 4) == 0 && v == 0x1122334455667788,
		    "unaligned get_user across a page: %lx", v);
	/* A read fault on a fresh page maps the zero page. */
	KTAP_EXPECT(get_user_u64(&v, a + 4 * PAGE_SIZE + 64) == 0 && v == 0, "fresh read %lx", v);
	KTAP_EXPECT(copy_to_user(a, "0123456789", 11) == 0, "write the string");
	KTAP_EXPECT(strncpy_from_user(str, a, sizeof(str)) == -ENAMETOOLONG && !strcmp(str, "0123456"),
		    "too long: '%s'", str);
	KTAP_EXPECT(strncpy_from_user(str, a + 4, sizeof(str)) == 6 && !strcmp(str, "456789"),
		    "fits: '%s'", str);
	KTAP_EXPECT(ac_clear(), "EFLAGS.AC left set");
	mm_destroy(mm);
}

static void smap_blocks_plain_access(void)
{
	struct mm *mm;
	uint64_t v = 0;

	if (!smap_enabled) {
		ktap_skip("CPU has no SMAP");
		return;
	}
	mm = enter_new_mm();
	if (!mm)
		return;
	long a = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap: %ld", a);
	KTAP_EXPECT(put_user_u64(a, 0xabcd) == 0, "put_user");
	/* The page is present and the VMA allows the access: only SMAP
	 * stands in the way, and the #PF hook must not resolve it. */
	int r = read_u64_safe((void *)a, &v);
	KTAP_EXPECT(r == VEC_PF + 1, "plain ring-0 read of a user page returned %d (v %lx)", r, v);
	KTAP_EXPECT((current_task()->fault_error & (PF_P | PF_U)) == PF_P, "error code 0x%lx",
		    current_task()->fault_error);
	r = write_u64_safe((void *)a, 1);
	KTAP_EXPECT(r == VEC_PF + 1, "plain ring-0 write of a user page returned %d", r);
	KTAP_EXPECT(get_user_u64(&v, a) == 0 && v == 0xabcd, "the page changed: %lx", v);
	KTAP_EXPECT(ac_clear(), "EFLAGS.AC left set");
	mm_destroy(mm);
}

static const struct ktap_case uaccess_cases[] = {
	KTAP_CASE(bad_ranges_refused),
	KTAP_CASE(unmapped_and_forbidden),
	KTAP_CASE(range_crossing_into_unmapped),
	KTAP_CASE(reads_and_writes),
	KTAP_CASE(smap_blocks_plain_access),
};
KTAP_SUITE(uaccess, uaccess_cases);
