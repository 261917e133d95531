/*
 * Suite "exceptions": faults are caught by the _safe accessors with the
 * right vector, error code and address; NX, SMEP and SMAP are enforced
 * when the CPU has them.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/pte.h"
#include "arch/x86/traps.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/string.h"
#include "mm/kmap.h"
#include "mm/page_alloc.h"
#include "tests/ktap.h"

/* Code the tests execute on purpose. */
extern char test_ud2[], test_ret[];
__asm__(".pushsection .text\n"
	"test_ud2: ud2\n ret\n"
	"test_ret: ret\n"
	".popsection");

static const uint64_t rodata_word = 0x1234;

static void pf_not_present(void)
{
	uint64_t v;
	const void *addr = (const void *)0x7000000000ul;	/* lower half: unmapped */
	int r = read_u64_safe(addr, &v);

	KTAP_ASSERT(r == VEC_PF + 1, "read of an unmapped address returned %d", r);
	KTAP_EXPECT(current_task()->fault_cr2 == (uintptr_t)addr, "cr2 0x%lx", current_task()->fault_cr2);
	KTAP_EXPECT(!(current_task()->fault_error & (PF_P | PF_W | PF_U)),
		    "error code 0x%lx, expected not-present supervisor read", current_task()->fault_error);
}

static void pf_write_readonly(void)
{
	int r = write_u64_safe((void *)&rodata_word, 5);

	KTAP_ASSERT(r == VEC_PF + 1, "write to rodata returned %d (W^X or CR0.WP broken)", r);
	KTAP_EXPECT((current_task()->fault_error & (PF_P | PF_W)) == (PF_P | PF_W),
		    "error code 0x%lx, expected present+write", current_task()->fault_error);
	KTAP_EXPECT(rodata_word == 0x1234, "rodata changed");
}

static void gp_noncanonical(void)
{
	uint64_t v;
	int r = read_u64_safe((const void *)0x8000000000000000ul, &v);

	KTAP_EXPECT(r == VEC_GP + 1, "non-canonical read returned %d", r);
}

static void ud_caught(void)
{
	int r = exec_safe((uintptr_t)test_ud2);

	KTAP_EXPECT(r == VEC_UD + 1, "ud2 returned %d", r);
	KTAP_EXPECT(exec_safe((uintptr_t)test_ret) == 0, "plain ret faulted");
}

static void nx_data_not_executable(void)
{
	struct page *p;
	int r;

	if (!(rdmsr(MSR_EFER) & EFER_NXE)) {
		ktap_skip("CPU has no NX");
		return;
	}
	p = alloc_page(PAGE_TEST);
	KTAP_ASSERT(p, "out of memory");
	*(uint8_t *)page_address(p) = 0xc3;	/* ret */
	r = exec_safe((uintptr_t)page_address(p));
	KTAP_EXPECT(r == VEC_PF + 1, "executing the direct map returned %d", r);
	KTAP_EXPECT((current_task()->fault_error & (PF_P | PF_I)) == (PF_P | PF_I),
		    "error code 0x%lx, expected present+fetch", current_task()->fault_error);
	free_page(p);
}

/*
 * A user page in the lower half of the kernel's own tables, for SMEP and
 * SMAP. Only this CPU ever touches the lower half of the kernel tables,
 * so an INVLPG here is the whole flush.
 */
#define USER_VA 0x40000000ul
static struct page *user_tables[4], *user_page;

static bool map_user_page(void)
{
	pte_t *table = phys_to_virt(kmap_kernel_top());

	user_page = alloc_page_zeroed(PAGE_TEST);
	for (unsigned int i = 0; i < pt_levels - 1; i++)
		if (!(user_tables[i] = alloc_page_zeroed(PAGE_TEST)))
			return false;
	if (!user_page)
		return false;
	for (unsigned int level = pt_levels, i = 0; level > 1; level--, i++) {
		table[pt_index(USER_VA, level)] = page_to_phys(user_tables[i]) | PTE_P | PTE_W | PTE_U;
		table = page_address(user_tables[i]);
	}
	table[pt_index(USER_VA, 1)] = page_to_phys(user_page) | PTE_P | PTE_W | PTE_U;
	*(uint8_t *)page_address(user_page) = 0xc3;	/* ret */
	return true;
}

static void unmap_user_page(void)
{
	pte_t *top = phys_to_virt(kmap_kernel_top());

	top[pt_index(USER_VA, pt_levels)] = 0;
	invlpg(USER_VA);
	write_cr3(read_cr3());		/* drop paging-structure caches too */
	for (unsigned int i = 0; i < pt_levels - 1; i++)
		if (user_tables[i])
			free_page(user_tables[i]);
	if (user_page)
		free_page(user_page);
}

static void smep_smap_enforced(void)
{
	uint64_t v;
	int r;
	bool smep = read_cr4() & CR4_SMEP, smap = read_cr4() & CR4_SMAP;

	if (!smep && !smap) {
		ktap_skip("CPU has neither SMEP nor SMAP");
		return;
	}
	if (!map_user_page()) {
		unmap_user_page();
		ktap_error("out of memory");
		return;
	}
	if (smep) {
		r = exec_safe(USER_VA);
		KTAP_EXPECT(r == VEC_PF + 1, "executing a user page in ring 0 returned %d", r);
		KTAP_EXPECT(current_task()->fault_error & PF_I, "error code 0x%lx", current_task()->fault_error);
	}
	if (smap) {
		r = read_u64_safe((void *)USER_VA, &v);
		KTAP_EXPECT(r == VEC_PF + 1, "user read without STAC returned %d", r);
		KTAP_EXPECT(current_task()->fault_error & PF_P, "error code 0x%lx", current_task()->fault_error);
		stac();
		r = read_u64_safe((void *)USER_VA, &v);
		clac();
		KTAP_EXPECT(r == 0, "user read with STAC returned %d", r);
		KTAP_EXPECT((v & 0xff) == 0xc3, "read 0x%lx", v);
	}
	unmap_user_page();
}

static void reserved_bit_fault(void)
{
	pte_t *top = phys_to_virt(kmap_kernel_top());
	uint64_t v;
	int r;

	/* A poisoned entry (what a freed table holds) must fault with RSVD. */
	top[pt_index(USER_VA, pt_levels)] = PAGE_POISON;
	r = read_u64_safe((void *)USER_VA, &v);
	top[pt_index(USER_VA, pt_levels)] = 0;
	write_cr3(read_cr3());
	KTAP_EXPECT(r == VEC_PF + 1, "walk through poison returned %d", r);
	/* Hardware also sets P here; QEMU's TCG does not, so only RSVD is
	 * required. */
	KTAP_EXPECT(current_task()->fault_error & PF_RSVD,
		    "error code 0x%lx, expected the reserved-bit flag", current_task()->fault_error);
}

static const struct ktap_case exceptions_cases[] = {
	KTAP_CASE(pf_not_present),
	KTAP_CASE(pf_write_readonly),
	KTAP_CASE(gp_noncanonical),
	KTAP_CASE(ud_caught),
	KTAP_CASE(nx_data_not_executable),
	KTAP_CASE(smep_smap_enforced),
	KTAP_CASE(reserved_bit_fault),
};
KTAP_SUITE(exceptions, exceptions_cases);
