/*
 * TLB shootdown, the mmu_gather and page-table freeing. See mm/tlb.h.
 *
 * A flush request is a cross-CPU call (kernel/smp_call.c): the initiator
 * waits for every target's ack, serving flushes aimed at itself meanwhile
 * (two CPUs flushing each other cannot deadlock), and a wait past its
 * bound is reported as a hang naming the CPU that did not answer and
 * where it was.
 */
#include "mm/tlb.h"
#include "arch/x86/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/inject.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/smp_call.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"

static const char *const pt_free_names[] = { "ipi", "rcu", NULL };
int pt_free_mode = PT_FREE_RCU;
CMDLINE_ENUM(pt_free, pt_free_mode, pt_free_names, "page-table freeing: after the IPI, or after RCU");
uint64_t tlb_ceiling = 33;
CMDLINE_U64(tlb_ceiling, tlb_ceiling, 1, 1ull << 30, "pages: range flush up to this, full flush above");

static struct tlb_stats stats[MAX_CPUS] __cacheline_aligned;	/* (o) */

struct flush_info {
	struct mm *mm;
	uintptr_t start, end;		/* pages; start >= end: none */
	const uintptr_t *table_va;	/* one address per freed table */
	unsigned int ntable_va;
	bool full;
};

/*
 * On this CPU, drop mm's translations for the pages, and the paging-
 * structure-cache entries leading to freed tables. INVLPG of an address
 * drops the cached upper-level entries used to translate it (Intel drops
 * them all, whatever the address; an INVLPG inside each freed table's
 * span is what every vendor needs), so a freed table costs one INVLPG,
 * not a CR3 reload. Runs with interrupts off.
 */
static void flush_local(void *arg)
{
	const struct flush_info *fi = arg;
	struct percpu *pc = this_cpu();

	/* A CPU that does not have mm loaded holds nothing of it: loading
	 * it later reloads CR3, which starts from the current tables. */
	if (pc->mm != fi->mm)
		return;
	if (fi->full) {
		write_cr3(read_cr3());
		return;
	}
	for (uintptr_t va = fi->start; va < fi->end; va += PAGE_SIZE)
		invlpg(va);
	for (unsigned int i = 0; i < fi->ntable_va; i++)
		invlpg(fi->table_va[i]);
}

/* Flush fi on every CPU that may cache it (see flush_tlb_mm_range()). */
static void flush_tlb(struct flush_info *fi, bool tables)
{
	struct mm *mm = fi->mm;
	uintptr_t start = fi->start, end = fi->end;
	struct tlb_stats *st = &stats[smp_processor_id()];
	struct cpumask targets;

	atomic_inc(&mm->tlb_gen);
	/*
	 * The caller's PTE or table changes are ordered before the read of
	 * the mask (the atomic above is a full barrier). A CPU that joins
	 * the mask later loads CR3 after setting its bit (mm_switch()), so
	 * it walks the new tables: we need not reach it.
	 */
	if (tables && pt_free_mode == PT_FREE_IPI)
		targets = cpu_online_mask;	/* every possible lockless walker */
	else
		targets = mm->cpumask;
	if (!tables) {
		/*
		 * A lazy CPU makes no user accesses: instead of an IPI it gets
		 * a mark and flushes everything when it uses the mm again
		 * (mm_switch(), which draws the pairing). Freed tables still
		 * reach lazy CPUs: their paging-structure caches may point
		 * into them, and speculative walks would follow.
		 *
		 * Only CPUs that look lazy get the mark (a remote store): an
		 * active CPU, the common target, costs one read. The mark,
		 * the fence and the second read of mm_lazy are the initiator
		 * half of the pairing in mm_switch(); a CPU that left lazy
		 * mode before that read is sent the IPI.
		 */
		struct cpumask lazy;
		unsigned int c, me = smp_processor_id();
		bool any = false;
		for_each_cpu_in(c, &mm->cpumask)
			if (c != me && load_relaxed(&cpu_percpu(c)->mm_lazy)) {
				store_relaxed(&cpu_percpu(c)->tlb_flush_pending, 1);
				if (!any)
					cpumask_zero(&lazy);
				cpumask_set(&lazy, c);
				any = true;
			}
		if (any) {
			smp_mb();
			for_each_cpu_in(c, &lazy)
				if (load_relaxed(&cpu_percpu(c)->mm_lazy)) {
					cpumask_clear_cpu(&targets, c);
					st->lazy_skipped++;
				}
		}
	}
	uint64_t flags = irq_save();
	flush_local(fi);
	irq_restore(flags);

	st->shootdowns++;
	if (fi->full)
		st->full++;
	else
		st->ranged++;
	if (start < end)
		st->pages_flushed += (end - start) / PAGE_SIZE;
	cpumask_clear_cpu(&targets, smp_processor_id());
	if (injected(INJECT_SKIP_SHOOTDOWN))
		return;
	if (cpumask_weight(&targets)) {
		st->ipis_sent += cpumask_weight(&targets);
		smp_call_mask(&targets, flush_local, fi);
	}
}

void flush_tlb_mm_range(struct mm *mm, uintptr_t start, uintptr_t end, bool tables)
{
	struct flush_info fi = { mm, start, end, NULL, 0, (end - start) / PAGE_SIZE > tlb_ceiling };

	flush_tlb(&fi, tables);
}

void tlb_gather_init(struct mmu_gather *tlb, struct mm *mm)
{
	tlb->mm = mm;
	tlb->start = UINTPTR_MAX;
	tlb->end = 0;
	tlb->pages = tlb->tables = NULL;
	tlb->npages = tlb->ntables = 0;
}

void tlb_gather_range(struct mmu_gather *tlb, uintptr_t start, uintptr_t end)
{
	if (start < tlb->start)
		tlb->start = start;
	if (end > tlb->end)
		tlb->end = end;
}

void tlb_gather_page(struct mmu_gather *tlb, struct page *page)
{
	if (injected(INJECT_FREE_BEFORE_FLUSH)) {
		put_page(page);		/* the seeded bug: freed while still mapped in TLBs */
		return;
	}
	page->next = tlb->pages;
	tlb->pages = page;
	tlb->npages++;
}

void tlb_gather_table(struct mmu_gather *tlb, struct page *table, uintptr_t va)
{
	if (tlb->ntables < TLB_TABLE_ADDRS)
		tlb->table_va[tlb->ntables] = va;
	table->next = tlb->tables;
	tlb->tables = table;
	tlb->ntables++;
}

/*
 * A table is unhooked empty; an entry found in it now was installed
 * after the unhook by a walker that did not notice (a missing recheck):
 * whatever it mapped is unreachable, and the write that made it lost.
 */
static void check_table_empty(struct page *t)
{
	const pte_t *e = page_address(t);

	for (unsigned int i = 0; i < PTRS_PER_TABLE; i++) {
		if (e[i]) {
			report_error("lost_write", "page table pfn 0x%lx was freed holding entry %u = %lx: "
				     "installed after the table was unhooked",
				     (unsigned long)(page_to_phys(t) >> PAGE_SHIFT), i, e[i]);
			return;
		}
	}
}

static void free_table_rcu(struct rcu_head *head)
{
	struct page *p = (struct page *)((char *)head - __builtin_offsetof(struct page, rcu));

	check_table_empty(p);
	free_page(p);
}

static void free_table(struct page *t)
{
	if (pt_free_mode == PT_FREE_RCU && !injected(INJECT_PT_FREE_NO_WAIT))
		call_rcu(&t->rcu, free_table_rcu);
	else {
		check_table_empty(t);
		free_page(t);	/* ipi: the flush already waited for every CPU */
	}
}

void tlb_flush_and_free(struct mmu_gather *tlb)
{
	if (tlb->start < tlb->end || tlb->ntables) {
		unsigned long pages = tlb->start < tlb->end ? (tlb->end - tlb->start) / PAGE_SIZE : 0;
		/* Past the ceiling, or more tables than we noted: CR3. */
		bool full = pages + tlb->ntables > tlb_ceiling || tlb->ntables > TLB_TABLE_ADDRS;
		struct flush_info fi = {
			.mm = tlb->mm, .start = tlb->start, .end = tlb->end,
			.table_va = tlb->table_va,
			.ntable_va = full ? 0 : tlb->ntables,
			.full = full,
		};
		flush_tlb(&fi, tlb->ntables > 0);
	}
	while (tlb->pages) {
		struct page *p = tlb->pages;
		tlb->pages = p->next;
		put_page(p);
	}
	while (tlb->tables) {
		struct page *t = tlb->tables;
		tlb->tables = t->next;
		free_table(t);
	}
	tlb_gather_init(tlb, tlb->mm);
}

void tlb_stats_get(struct tlb_stats *s)
{
	*s = (struct tlb_stats){ 0 };
	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		s->shootdowns += load_relaxed(&stats[c].shootdowns);
		s->ranged += load_relaxed(&stats[c].ranged);
		s->full += load_relaxed(&stats[c].full);
		s->ipis_sent += load_relaxed(&stats[c].ipis_sent);
		s->pages_flushed += load_relaxed(&stats[c].pages_flushed);
		s->lazy_skipped += load_relaxed(&stats[c].lazy_skipped);
	}
}

void tlb_init(void)
{
}
