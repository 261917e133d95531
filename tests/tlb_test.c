/*
 * Suite "tlb": shootdowns reach every CPU that may cache a translation,
 * range and full flushes both work, CPUs flushing each other do not
 * deadlock, lazy CPUs get table flushes, each table-freeing scheme
 * frees when it says it does, a flush waits for interrupts on (IPI) or
 * not (NMI) as tlb_flush= says, and a changed global kernel mapping is
 * flushed on every CPU.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "kernel/worker.h"
#include "mm/fault.h"
#include "mm/kmap.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/tlb.h"
#include "tests/ktap.h"

#define PF (VEC_PF + 1)

struct job {
	struct mm *mm;
	uintptr_t addr;
	unsigned int npages;
	int result[MAX_CPUS];		/* per CPU: faults seen, or a count */
	uint64_t end_tsc;
};

/* Load the mm and read every page (caching its translation). */
static void read_all(void *arg)
{
	struct job *j = arg;
	unsigned int me = smp_processor_id();
	uint64_t v;

	mm_switch(j->mm);
	j->result[me] = 0;
	for (unsigned int i = 0; i < j->npages; i++)
		if (user_read_u64(j->addr + i * PAGE_SIZE, &v) == PF)
			j->result[me]++;
}

static void unmap_reaches_every_cpu(unsigned int npages, bool expect_full)
{
	static struct job j;
	struct tlb_stats s0, s1;
	unsigned int c;

	j.mm = mm_create();
	KTAP_ASSERT(j.mm, "out of memory");
	j.npages = npages;
	j.addr = vm_mmap(j.mm, 0, npages * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	mm_switch(j.mm);
	for (unsigned int i = 0; i < npages; i++)
		user_write_u64(j.addr + i * PAGE_SIZE, i + 1);
	workers_run_all(read_all, &j, 0);
	for_each_online_cpu(c)
		KTAP_EXPECT(j.result[c] == 0, "cpu %u: %d pages faulted before munmap", c, j.result[c]);

	tlb_stats_get(&s0);
	KTAP_EXPECT(vm_munmap(j.mm, j.addr, npages * PAGE_SIZE) == 0, "munmap failed");
	tlb_stats_get(&s1);
	if (expect_full)
		KTAP_EXPECT(s1.full > s0.full, "%u pages (ceiling %llu) did not use a full flush", npages,
			    (unsigned long long)tlb_ceiling);
	else
		KTAP_EXPECT(s1.ranged > s0.ranged, "%u pages (ceiling %llu) did not use a range flush",
			    npages, (unsigned long long)tlb_ceiling);

	workers_run_all(read_all, &j, 0);
	for_each_online_cpu(c) {
		if (j.result[c] != (int)npages)
			report_error("stale_tlb", "cpu %u read %u of %u pages after munmap returned",
				     c, npages - j.result[c], npages);
	}
	mm_destroy(j.mm);
}

static void range_flush_reaches_every_cpu(void)
{
	unmap_reaches_every_cpu(8, false);
}

static void full_flush_reaches_every_cpu(void)
{
	unmap_reaches_every_cpu(tlb_ceiling + 31, true);
}

/* Every CPU toggles protections on its own page of one mm: each change
 * shoots down all the others, which are doing the same. */
static void toggle_own_page(void *arg)
{
	struct job *j = arg;
	unsigned int me = smp_processor_id();
	uintptr_t a = j->addr + me * PAGE_SIZE;
	int n = 0;

	mm_switch(j->mm);
	while (rdtsc() < j->end_tsc) {
		if (user_write_u64(a, n) != 0)
			report_error("wrong_data", "cpu %u: write to its writable page faulted", me);
		vm_mprotect(j->mm, a, PAGE_SIZE, PROT_READ);
		if (user_write_u64(a, n) != PF)
			report_error("stale_tlb", "cpu %u: wrote through a read-only page", me);
		vm_mprotect(j->mm, a, PAGE_SIZE, PROT_READ | PROT_WRITE);
		n++;
	}
	j->result[me] = n;
}

static void cpus_flush_each_other(void)
{
	static struct job j;
	unsigned int c;
	long total = 0;

	j.mm = mm_create();
	KTAP_ASSERT(j.mm, "out of memory");
	j.addr = vm_mmap(j.mm, 0, MAX_CPUS * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	j.end_tsc = rdtsc() + ns_to_tsc(1000000000ull);
	workers_run_all(toggle_own_page, &j, 0);
	for_each_online_cpu(c)
		total += j.result[c];
	ktap_diag("%ld protection round trips on %u CPUs in 1 s", total, nr_cpus_online);
	KTAP_EXPECT(total > 0, "no progress");
	mm_destroy(j.mm);
}

static void touch_and_go_lazy(void *arg)
{
	struct job *j = arg;
	uint64_t v;

	mm_switch(j->mm);
	user_read_u64(j->addr, &v);
	mm_enter_lazy();	/* keeps CR3, stays in the mask */
}

/* The online CPU after this one, wrapping (needs 2 CPUs online). */
static unsigned int next_online_cpu(void)
{
	unsigned int c = cpumask_next(&cpu_online_mask, smp_processor_id() + 1);

	return c < MAX_CPUS ? c : cpumask_next(&cpu_online_mask, 0);
}

static void lazy_cpu_gets_table_flush(void)
{
	static struct job j;
	struct tlb_stats s0, s1;
	struct cpumask one;
	unsigned int other;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	other = next_online_cpu();
	j.mm = mm_create();
	KTAP_ASSERT(j.mm, "out of memory");
	j.addr = vm_mmap(j.mm, 0, PAGE_SIZE, PROT_READ, 0);
	cpumask_zero(&one);
	cpumask_set(&one, other);
	workers_run(&one, touch_and_go_lazy, &j, 0);
	KTAP_EXPECT(cpumask_test(&j.mm->cpumask, other), "lazy cpu %u left the mm's mask", other);
	mm_switch_kernel();	/* this CPU is not in the mask at all */
	tlb_stats_get(&s0);
	vm_munmap(j.mm, j.addr, PAGE_SIZE);	/* frees the tables */
	tlb_stats_get(&s1);
	KTAP_EXPECT(s1.ipis_sent > s0.ipis_sent, "the table flush sent no IPI (lazy cpu %u missed)",
		    other);
	mm_destroy(j.mm);
}

/* A reader section holds off pt_free=rcu's table freeing, but not
 * pt_free=ipi's (the IPI needs only interrupts on). */
static void table_free_scheme(void)
{
	struct mm *mm = mm_create();

	KTAP_ASSERT(mm, "out of memory");
	mm_switch(mm);
	long a = vm_mmap(mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	user_write_u64(a, 1);
	long tables = pages_in_use(PAGE_TABLE);
	rcu_read_lock();
	vm_munmap(mm, a, PAGE_SIZE);
	long during = pages_in_use(PAGE_TABLE);
	rcu_read_unlock();
	rcu_barrier();
	long after = pages_in_use(PAGE_TABLE);
	long below_top = pt_levels - 1;		/* the tables one mapping needs */
	if (pt_free_mode == PT_FREE_RCU)
		KTAP_EXPECT(during == tables, "pt_free=rcu freed %ld tables inside a reader",
			    tables - during);
	else
		KTAP_EXPECT(during == tables - below_top, "pt_free=ipi: %ld of %ld tables freed at once",
			    tables - during, below_top);
	KTAP_EXPECT(after == tables - below_top, "%ld of %ld tables freed in the end",
		    tables - after, below_top);
	mm_destroy(mm);
}

/* A lazy CPU is not interrupted for page flushes but must not use a
 * stale entry when it comes back: it flushes on leaving lazy mode. */
static void touch_go_lazy_then_return(void *arg)
{
	struct job *j = arg;
	unsigned int me = smp_processor_id();
	uint64_t v;

	mm_switch(j->mm);
	j->result[me] = user_read_u64(j->addr, &v);	/* caches the entry */
	mm_enter_lazy();
}

static void come_back_and_read(void *arg)
{
	struct job *j = arg;
	unsigned int me = smp_processor_id();
	uint64_t v = 0;

	mm_switch(j->mm);				/* leaves lazy mode */
	j->result[me] = user_read_u64(j->addr, &v);
	if (j->result[me] == 0 && v == 0x5a)
		report_error("stale_tlb", "cpu %u read %lx through an entry flushed while it was lazy",
			     me, j->addr);
}

static void lazy_cpu_skipped_then_flushes(void)
{
	static struct job j;
	struct tlb_stats s0, s1;
	struct cpumask one;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	j.mm = mm_create();
	KTAP_ASSERT(j.mm, "out of memory");
	/* Two pages in one VMA: unmapping one frees no table. */
	j.addr = vm_mmap(j.mm, 0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	mm_switch(j.mm);
	user_write_u64(j.addr, 0x5a);
	user_write_u64(j.addr + PAGE_SIZE, 1);
	cpumask_zero(&one);
	cpumask_set(&one, next_online_cpu());
	workers_run(&one, touch_go_lazy_then_return, &j, 0);
	tlb_stats_get(&s0);
	vm_munmap(j.mm, j.addr, PAGE_SIZE);
	tlb_stats_get(&s1);
	KTAP_EXPECT(s1.lazy_skipped > s0.lazy_skipped, "the lazy CPU was interrupted for a page flush");
	workers_run(&one, come_back_and_read, &j, 0);
	unsigned int c = cpumask_next(&one, 0);
	KTAP_EXPECT(j.result[c] == PF, "cpu %u: read after munmap returned %d", c, j.result[c]);
	mm_destroy(j.mm);
}

/*
 * A global kernel mapping changed under every CPU. Each CPU reads through
 * a kmap slot (caching its translation, G set), the slot is pointed at
 * another page, and each CPU must then read the new page. A flush that
 * skips the other CPUs leaves them reading the old page anywhere. One
 * made of CR3 loads instead of INVLPG does too on real CPUs and on Bochs,
 * which keep global entries across a CR3 load; QEMU's TCG drops them, so
 * that mistake passes there. Several rounds: an emulator's TLB may lose
 * an entry to a conflict before the check in any one of them.
 */
#define GLOBAL_ROUNDS 8

static struct {
	volatile uint64_t *va;
	uint64_t want;
	uint64_t seen[MAX_CPUS];
} gjob;

static void read_through_kmap(void *arg)
{
	gjob.seen[smp_processor_id()] = *gjob.va;
}

static void global_kmap_change_seen_everywhere(void)
{
	struct page *page[2];
	unsigned int c, stale = 0;

	page[0] = alloc_page(PAGE_TEST);
	page[1] = alloc_page(PAGE_TEST);
	KTAP_ASSERT(page[0] && page[1], "out of memory");
	*(uint64_t *)page_address(page[0]) = 0xa0a0a0a0a0a0a0a0ull;
	*(uint64_t *)page_address(page[1]) = 0xb1b1b1b1b1b1b1b1ull;
	gjob.va = kmap_page(page_to_phys(page[0]));
	KTAP_ASSERT(gjob.va, "no free kmap slot");
	ktap_diag("kmap slot %lx, %s", (uintptr_t)gjob.va,
		  cpu_features.pge ? "global (CR4.PGE on)" : "not global: the CPU has no PGE");

	for (unsigned int round = 0; round < GLOBAL_ROUNDS; round++) {
		unsigned int old = round & 1, new = !old;

		gjob.want = *(uint64_t *)page_address(page[old]);
		workers_run_all(read_through_kmap, NULL, 0);
		for_each_online_cpu(c)
			KTAP_EXPECT(gjob.seen[c] == gjob.want, "cpu %u read %llx before the change, not %llx",
				    c, (unsigned long long)gjob.seen[c], (unsigned long long)gjob.want);

		kmap_repoint((void *)gjob.va, page_to_phys(page[new]));
		gjob.want = *(uint64_t *)page_address(page[new]);
		workers_run_all(read_through_kmap, NULL, 0);
		for_each_online_cpu(c) {
			if (gjob.seen[c] == gjob.want)
				continue;
			stale++;
			report_error("stale_tlb", "cpu %u read %llx through the global kmap slot %lx in "
				     "round %u after it was repointed (the new page holds %llx)", c,
				     (unsigned long long)gjob.seen[c], (uintptr_t)gjob.va, round,
				     (unsigned long long)gjob.want);
		}
	}
	KTAP_EXPECT(stale == 0, "%u stale reads over %u rounds on %u CPUs", stale, GLOBAL_ROUNDS,
		    nr_cpus_online);
	kunmap_page((void *)gjob.va);
	free_page(page[0]);
	free_page(page[1]);
}


/*
 * tlb_flush=: an IPI flush waits for its target to enable interrupts; an
 * NMI flush completes while the target still has them off (mm/tlb.c,
 * (G)). The target caches a translation, disables interrupts and waits
 * for this CPU's munmap to return: up to 200 ms with IPIs (the munmap
 * must not return meanwhile), up to 10 s with NMIs (it must). Under an
 * emulator on a busy host a vCPU may not run for a good part of 200 ms,
 * so the NMI case waits far longer than any such pause: it still fails
 * only if munmap waits for the target's interrupts.
 */
struct irqoff_target {
	struct mm *mm;
	uintptr_t addr;
	int ready, unmapped;		/* (a) */
	bool saw_unmap_irqs_off;	/* written by the target */
};

static void irqoff_target(void *arg)
{
	struct irqoff_target *t = arg;
	uint64_t v;

	mm_switch(t->mm);
	user_read_u64(t->addr, &v);
	uint64_t flags = irq_save();
	store_release(&t->ready, 1);
	uint64_t bound_ns = tlb_flush_mode == TLB_FLUSH_NMI ? 10000000000ull : 200000000;
	for (uint64_t end = rdtsc() + ns_to_tsc(bound_ns); rdtsc() < end;)
		if (load_acquire(&t->unmapped))
			break;
	t->saw_unmap_irqs_off = load_acquire(&t->unmapped);
	irq_restore(flags);
}

static void flush_vs_interrupts_off(void)
{
	static struct irqoff_target t;
	struct cpumask one;
	unsigned int other;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	other = next_online_cpu();
	memset(&t, 0, sizeof(t));
	t.mm = mm_create();
	KTAP_ASSERT(t.mm, "out of memory");
	t.addr = vm_mmap(t.mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	cpumask_zero(&one);
	cpumask_set(&one, other);
	workers_start(&one, irqoff_target, &t);
	while (!load_acquire(&t.ready))
		cpu_relax();
	uint64_t t0 = rdtsc();
	vm_munmap(t.mm, t.addr, PAGE_SIZE);	/* flushes cpu other, in the mm */
	uint64_t took = rdtsc() - t0;
	store_release(&t.unmapped, 1);
	workers_wait(&one, 0);
	if (tlb_flush_mode == TLB_FLUSH_NMI)
		KTAP_EXPECT(t.saw_unmap_irqs_off, "tlb_flush=nmi: munmap waited for cpu %u to enable "
			    "interrupts (it took %llu us)", other, (unsigned long long)tsc_to_ns(took) / 1000);
	else
		KTAP_EXPECT(!t.saw_unmap_irqs_off, "tlb_flush=ipi: munmap returned while cpu %u had "
			    "interrupts off (the flush did not wait for it)", other);
	mm_destroy(t.mm);
}

static const struct ktap_case tlb_cases[] = {
	KTAP_CASE(range_flush_reaches_every_cpu),
	KTAP_CASE(full_flush_reaches_every_cpu),
	KTAP_CASE(cpus_flush_each_other),
	KTAP_CASE(lazy_cpu_gets_table_flush),
	KTAP_CASE(lazy_cpu_skipped_then_flushes),
	KTAP_CASE(table_free_scheme),
	KTAP_CASE(flush_vs_interrupts_off),
	KTAP_CASE(global_kmap_change_seen_everywhere),
};
KTAP_SUITE(tlb, tlb_cases);
