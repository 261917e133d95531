/*
 * Suite "mm": address spaces, VMAs, the locked fault path, munmap,
 * mprotect, madvise, the zero page, and teardown without leaks.
 */
#include "arch/x86/traps.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/worker.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/vma.h"
#include "tests/ktap.h"

#define PF (VEC_PF + 1)

static struct mm *new_mm(void)
{
	struct mm *mm = mm_create();

	if (!mm)
		ktap_error("out of memory for an mm");
	return mm;
}

static void table_walk_alloc_free(void)
{
	struct mm *mm = new_mm();
	uint64_t v;

	if (!mm)
		return;
	mm_switch(mm);
	/* A fresh mm has only the path to its ring-3 stubs (USER_STUB_VA):
	 * one table per level below the top. */
	long stub_tables = mm->nr_tables;
	KTAP_EXPECT(stub_tables == pt_levels - 1, "a fresh mm has %ld tables (%u expected)", stub_tables,
		    pt_levels - 1);
	long a = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap failed: %ld", a);
	KTAP_EXPECT(mm->nr_tables == stub_tables, "tables before any fault: %ld",
		    mm->nr_tables - stub_tables);
	KTAP_EXPECT(user_write_u64(a, 42) == 0, "write to a fresh mapping faulted");
	/* One table per level below the top: PDPT, PD and PT, and a PML4
	 * too under 5-level paging (the mapping is under another top-level
	 * entry than the stubs). */
	KTAP_EXPECT(mm->nr_tables - stub_tables == pt_levels - 1, "tables after one fault: %ld (%u expected)",
		    mm->nr_tables - stub_tables, pt_levels - 1);
	KTAP_EXPECT(user_read_u64(a, &v) == 0 && v == 42, "read back %lu", v);
	struct page *pt;
	pte_t *pte = pt_walk(mm, a, PT_NO_ALLOC, &pt);
	KTAP_EXPECT(pte && pte_present(*pte) && (*pte & PTE_W) && (*pte & PTE_U),
		    "pte %lx", pte ? *pte : 0);
	KTAP_EXPECT(vm_munmap(mm, a, PAGE_SIZE) == 0, "munmap failed");
	KTAP_EXPECT(mm->nr_tables == stub_tables, "tables after munmap: %ld", mm->nr_tables - stub_tables);
	KTAP_EXPECT(!pt_walk(mm, a, PT_NO_ALLOC, NULL), "walk still finds a PTE after munmap");
	KTAP_EXPECT(user_read_u64(a, &v) == PF, "read after munmap did not fault");
	mm_destroy(mm);
}

static bool vma_is(struct mm *mm, uintptr_t addr, uintptr_t start, uintptr_t end, unsigned int prot)
{
	struct vma *v = vma_find(mm, addr);

	return v && v->start == start && v->end == end && v->prot == prot;
}

static void vma_split_every_boundary(void)
{
	struct mm *mm = new_mm();
	const unsigned int n = 8;

	if (!mm)
		return;
	mm_switch(mm);
	for (unsigned int hole = 0; hole < n; hole++) {
		long a = vm_mmap(mm, 0, n * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
		KTAP_ASSERT(a > 0, "mmap failed");
		KTAP_EXPECT(vm_munmap(mm, a + hole * PAGE_SIZE, PAGE_SIZE) == 0, "munmap failed");
		unsigned int expect = (hole > 0) + (hole < n - 1);
		KTAP_EXPECT(vma_count(mm) == expect, "hole at %u: %u VMAs, expected %u", hole,
			    vma_count(mm), expect);
		KTAP_EXPECT(!vma_find(mm, a + hole * PAGE_SIZE), "hole at %u still mapped", hole);
		if (hole > 0)
			KTAP_EXPECT(vma_is(mm, a, a, a + hole * PAGE_SIZE, PROT_READ | PROT_WRITE),
				    "left piece wrong for hole %u", hole);
		if (hole < n - 1)
			KTAP_EXPECT(vma_is(mm, a + (n - 1) * PAGE_SIZE, a + (hole + 1) * PAGE_SIZE,
					   a + n * PAGE_SIZE, PROT_READ | PROT_WRITE),
				    "right piece wrong for hole %u", hole);
		KTAP_EXPECT(vm_munmap(mm, a, n * PAGE_SIZE) == 0, "munmap of the rest failed");
		KTAP_EXPECT(vma_count(mm) == 0, "VMAs left: %u", vma_count(mm));
	}
	/* mprotect in the middle: three VMAs, the middle one read-only. */
	long a = vm_mmap(mm, 0, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap failed");
	KTAP_EXPECT(vm_mprotect(mm, a + PAGE_SIZE, PAGE_SIZE, PROT_READ) == 0, "mprotect failed");
	KTAP_EXPECT(vma_count(mm) == 3, "%u VMAs after mprotect", vma_count(mm));
	KTAP_EXPECT(vma_is(mm, a + PAGE_SIZE, a + PAGE_SIZE, a + 2 * PAGE_SIZE, PROT_READ),
		    "middle VMA wrong");
	KTAP_EXPECT(vm_mprotect(mm, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ) == -ENOMEM,
		    "mprotect over a hole succeeded");
	/* Read-write again: the three merge back into one. */
	KTAP_EXPECT(vm_mprotect(mm, a + PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE) == 0, "mprotect back failed");
	KTAP_EXPECT(vma_count(mm) == 1 && vma_is(mm, a, a, a + 3 * PAGE_SIZE, PROT_READ | PROT_WRITE),
		    "%u VMAs after mprotect back, not one merged", vma_count(mm));
	mm_destroy(mm);
}

static void partial_munmap(void)
{
	struct mm *mm = new_mm();
	uint64_t v;

	if (!mm)
		return;
	mm_switch(mm);
	long a = vm_mmap(mm, 0, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap failed");
	for (int i = 0; i < 16; i++)
		KTAP_EXPECT(user_write_u64(a + i * PAGE_SIZE, 1000 + i) == 0, "write %d faulted", i);
	long anon = pages_in_use(PAGE_ANON);
	KTAP_EXPECT(vm_munmap(mm, a + 6 * PAGE_SIZE, 4 * PAGE_SIZE) == 0, "munmap failed");
	KTAP_EXPECT(pages_in_use(PAGE_ANON) == anon - 4, "%ld data pages freed, expected 4",
		    anon - pages_in_use(PAGE_ANON));
	for (int i = 0; i < 16; i++) {
		int r = user_read_u64(a + i * PAGE_SIZE, &v);
		if (i >= 6 && i < 10)
			KTAP_EXPECT(r == PF, "page %d readable after munmap", i);
		else
			KTAP_EXPECT(r == 0 && v == 1000u + i, "page %d: r=%d value %lu", i, r, v);
	}
	mm_destroy(mm);
}

static void madvise_reads_zero(void)
{
	struct mm *mm = new_mm();
	uint64_t v;

	if (!mm)
		return;
	mm_switch(mm);
	long a = vm_mmap(mm, 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_ASSERT(a > 0, "mmap failed");
	for (int i = 0; i < 4; i++)
		user_write_u64(a + i * PAGE_SIZE + 8, 77);
	long anon = pages_in_use(PAGE_ANON);
	KTAP_EXPECT(vm_madvise_dontneed(mm, a, 4 * PAGE_SIZE) == 0, "madvise failed");
	KTAP_EXPECT(pages_in_use(PAGE_ANON) == anon - 4, "madvise freed %ld pages",
		    anon - pages_in_use(PAGE_ANON));
	KTAP_EXPECT(vma_count(mm) == 1, "madvise changed the VMAs");
	for (int i = 0; i < 4; i++)
		KTAP_EXPECT(user_read_u64(a + i * PAGE_SIZE + 8, &v) == 0 && v == 0,
			    "page %d after madvise: %lu", i, v);
	KTAP_EXPECT(vm_madvise_dontneed(mm, a + 8 * PAGE_SIZE, PAGE_SIZE) == -ENOMEM,
		    "madvise of an unmapped range succeeded");
	mm_destroy(mm);
}

static void protections_enforced(void)
{
	struct mm *mm = new_mm();
	uint64_t v;

	if (!mm)
		return;
	mm_switch(mm);
	long none = vm_mmap(mm, 0, PAGE_SIZE, PROT_NONE, 0);
	long ro = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ, 0);
	KTAP_ASSERT(none > 0 && ro > 0, "mmap failed");
	KTAP_EXPECT(user_read_u64(none, &v) == PF, "read of PROT_NONE succeeded");
	KTAP_EXPECT(user_read_u64(ro, &v) == 0 && v == 0, "read of a read-only page: %lu", v);
	KTAP_EXPECT(user_write_u64(ro, 1) == PF, "write to a read-only mapping succeeded");
	KTAP_EXPECT(user_read_u64(MMAP_BASE - PAGE_SIZE, &v) == PF, "read outside any VMA succeeded");
	/* Read, then mprotect to PROT_NONE: the mapped page must go too. */
	long rw = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	KTAP_EXPECT(user_write_u64(rw, 9) == 0, "write faulted");
	KTAP_EXPECT(vm_mprotect(mm, rw, PAGE_SIZE, PROT_NONE) == 0, "mprotect failed");
	KTAP_EXPECT(user_read_u64(rw, &v) == PF, "read after mprotect(PROT_NONE) succeeded");
	KTAP_EXPECT(vm_mprotect(mm, rw, PAGE_SIZE, PROT_READ) == 0, "mprotect failed");
	KTAP_EXPECT(user_read_u64(rw, &v) == 0 && v == 9, "data lost across PROT_NONE: %lu", v);
	mm_destroy(mm);
}

/* --- multi-CPU cases ---------------------------------------------------- */

struct mcpu {
	struct mm *mm;
	uintptr_t addr;
	uint64_t value;
	int faults[MAX_CPUS];
	uint64_t seen[MAX_CPUS];
};

static void touch_write(void *arg)
{
	struct mcpu *m = arg;

	mm_switch(m->mm);
	m->faults[smp_processor_id()] = user_write_u64(m->addr + 8 * smp_processor_id(), 5);
}

static void try_write(void *arg)
{
	struct mcpu *m = arg;

	mm_switch(m->mm);
	m->faults[smp_processor_id()] = user_write_u64(m->addr + 8 * smp_processor_id(), 6);
}

static void touch_read(void *arg)
{
	struct mcpu *m = arg;

	mm_switch(m->mm);
	m->faults[smp_processor_id()] = user_read_u64(m->addr, &m->seen[smp_processor_id()]);
}

/* After mprotect(PROT_READ) returns, no CPU may still write through a
 * writable TLB entry it cached before. */
static void mprotect_downgrade_all_cpus(void)
{
	static struct mcpu m;
	unsigned int c;

	m.mm = new_mm();
	if (!m.mm)
		return;
	m.addr = vm_mmap(m.mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	workers_run_all(touch_write, &m, 0);	/* every CPU caches a writable entry */
	for_each_online_cpu(c)
		KTAP_EXPECT(m.faults[c] == 0, "cpu %u: first write faulted", c);
	KTAP_EXPECT(vm_mprotect(m.mm, m.addr, PAGE_SIZE, PROT_READ) == 0, "mprotect failed");
	workers_run_all(try_write, &m, 0);
	for_each_online_cpu(c)
		if (m.faults[c] != PF)
			report_error("stale_tlb", "cpu %u wrote through a stale writable TLB entry "
				     "after mprotect(PROT_READ) returned (r=%d)", c, m.faults[c]);
	mm_destroy(m.mm);
}

/* Readers cache the zero page's read-only entry; a write replaces it;
 * every CPU must then read the new value, not a stale zero. */
static void zero_page_upgrade(void)
{
	static struct mcpu m;
	unsigned int c;
	uint64_t v = 0;

	m.mm = new_mm();
	if (!m.mm)
		return;
	m.addr = vm_mmap(m.mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	workers_run_all(touch_read, &m, 0);
	for_each_online_cpu(c)
		KTAP_EXPECT(m.faults[c] == 0 && m.seen[c] == 0, "cpu %u: read %lu (r=%d)", c, m.seen[c],
			    m.faults[c]);
	mm_switch(m.mm);
	KTAP_EXPECT(user_write_u64(m.addr, 0xfeed) == 0, "write faulted");
	KTAP_EXPECT(user_read_u64(m.addr, &v) == 0 && v == 0xfeed, "read back %lx", v);
	workers_run_all(touch_read, &m, 0);
	for_each_online_cpu(c)
		if (m.seen[c] != 0xfeed)
			report_error("stale_tlb", "cpu %u read %lx, expected feed, after the zero-page "
				     "upgrade (stale read-only zero-page entry)", c, m.seen[c]);
	mm_destroy(m.mm);
}

static void mm_destroy_returns_everything(void)
{
	static struct mcpu m;
	long anon0 = pages_in_use(PAGE_ANON), tables0 = pages_in_use(PAGE_TABLE);

	m.mm = new_mm();
	if (!m.mm)
		return;
	/* Regions in different top-level slots, touched from every CPU
	 * (which then keep the mm lazily loaded). */
	for (int i = 0; i < 3; i++) {
		long a = vm_mmap(m.mm, MMAP_BASE + ((uintptr_t)i << 39), 64 * PAGE_SIZE,
				 PROT_READ | PROT_WRITE, MAP_FIXED);
		KTAP_ASSERT(a > 0, "mmap failed: %ld", a);
		m.addr = a;
		workers_run_all(touch_write, &m, 0);
	}
	KTAP_EXPECT(pages_in_use(PAGE_ANON) > anon0, "nothing was allocated");
	mm_destroy(m.mm);
	rcu_barrier();
	KTAP_EXPECT(pages_in_use(PAGE_ANON) == anon0, "%ld data pages left",
		    pages_in_use(PAGE_ANON) - anon0);
	KTAP_EXPECT(pages_in_use(PAGE_TABLE) == tables0, "%ld table pages left",
		    pages_in_use(PAGE_TABLE) - tables0);
}

static const struct ktap_case mm_cases[] = {
	KTAP_CASE(table_walk_alloc_free),
	KTAP_CASE(vma_split_every_boundary),
	KTAP_CASE(partial_munmap),
	KTAP_CASE(madvise_reads_zero),
	KTAP_CASE(protections_enforced),
	KTAP_CASE(mprotect_downgrade_all_cpus),
	KTAP_CASE(zero_page_upgrade),
	KTAP_CASE(mm_destroy_returns_everything),
};
KTAP_SUITE(mm, mm_cases);
