/*
 * TLB shootdown, the mmu_gather and page-table freeing. See mm/tlb.h.
 *
 * This file owns the shootdown protocol; mm_load_irqs_off() (mm/mm.c),
 * the context switch (kernel/sched.c) and the cross-CPU call
 * (kernel/smp_call.c) implement their halves of it as drawn here and
 * point back. Each pairing lettered:
 *
 * (A) A flush and its targets. The initiator changed PTEs or unhooked
 *     tables (under the PTE-table lock or mmap_lock) before it starts.
 *
 *   initiator (flush_tlb)                target c (IPI, interrupts off)
 *   atomic_inc(tlb_gen)  [full barrier]
 *   targets = mm->cpumask (C, D below)
 *   flush_local()
 *   post request to c; send IPI  ----->  smp_call_serve(): take queue
 *                                        flush_local(): INVLPG / CR3
 *   wait: load_acquire(done) <--------   store_release(done)
 *   free pages; free tables (E)
 *
 *   The acquire of done pairs with the target's release: once every
 *   target acked, none holds a translation of the range, so the pages
 *   may be reused. A waiting initiator serves requests aimed at itself,
 *   so two CPUs flushing each other cannot deadlock; a wait past
 *   ipi_timeout= is a hang naming the silent CPU.
 *
 * (B) A lazy CPU: it keeps mm loaded but makes no user accesses. Page
 *     flushes mark it instead of interrupting it (table flushes do not:
 *     its paging-structure caches may point into freed tables and
 *     speculative walks would follow).
 *
 *   initiator                            lazy CPU c leaving lazy mode
 *   if c looks lazy:                     (mm_switch() to the same mm)
 *     pending[c] = 1                     mm_lazy[c] = false
 *     smp_mb()                           smp_mb()
 *     if mm_lazy[c]: skip c              if xchg(pending[c], 0): reload CR3
 *     else: IPI c
 *
 *   Store-buffer pairing: at least one side sees the other's store.
 *   Either the initiator sees c active and sends the IPI, or c sees the
 *   mark and flushes before its first user access. Only CPUs that look
 *   lazy get the remote store; an active target costs one read.
 *
 * (C) A CPU joining mm (mm_switch() to a new mm).
 *
 *   initiator                            CPU d joining
 *   change PTEs                          cpumask_set(mm, d) [atomic RMW]
 *   atomic_inc(tlb_gen) [full barrier]   write_cr3(mm->pgd)
 *   read mm->cpumask
 *
 *   If the initiator's read misses d's bit, d's set came after it, so
 *   d's CR3 load comes after the PTE change: d walks the new tables and
 *   needs no flush.
 *
 * (D) A CPU leaving mm (mm_switch_kernel() or to another mm): it loads
 *     the new CR3 first and clears its bit after, so a flush that misses
 *     the bit finds a CPU that holds nothing of mm any more. A target
 *     that already left skips the flush (flush_local checks pc->mm).
 *
 * (F) The context switch (kernel/sched.c, context_switch()): the three
 *     ways a CPU takes up mm, each against a concurrent flush.
 *
 *   initiator                  CPU d switching to a task of mm
 *   change PTEs                from another mm, or none: (C) then (D)
 *   atomic_inc(tlb_gen)          mm_lazy = false (a flag left from
 *                                the old mm, kept lazily, would make
 *                                a flush of mm skip d: (B))
 *                                cpumask_set(mm, d); write_cr3(mm)
 *   targets = mm->cpumask        [the CPU may fill its TLB from here]
 *   for lazy targets: (B)        cpumask_clear(old, d)
 *                              from a kernel thread that kept mm lazily:
 *                                (B): mm_lazy = false; smp_mb();
 *                                if xchg(pending): reload CR3
 *                              to a kernel thread: mm_lazy = true (B);
 *                                CR3 and the cpumask bit stay
 *
 *   The initiator reads d's bit before d's lazy flag, and d clears the
 *   flag before the locked set of its bit: an initiator that sees the
 *   bit sees d active and interrupts it. A switch that loaded CR3 before
 *   setting its bit (inject=cr3_before_join), or joined still flagged
 *   lazy, could fill entries a flush then misses; emulators
 *   fill only on access, so the tortures make the fills a real CPU may
 *   make speculatively there (mm/debug.h, mm_switch_hook). A return from
 *   lazy mode that skips the pending flush (inject=lazy_flush_ignored)
 *   keeps entries of pages freed while it was lazy.
 *
 * (E) Freeing tables. With pt_free=ipi a table flush goes to every
 *     online CPU, not only mm's: a lockless walker with interrupts off
 *     (mm/lockless_walk.h) delays its CPU's ack, so when the initiator
 *     frees after (A)'s wait no walker is inside a freed table. With
 *     pt_free=rcu the tables are freed after a grace period of the
 *     flavor in force (kernel/rcu.c), which waits for walkers in a read
 *     section (and, with rcu=sched, with interrupts off).
 *
 * (G) tlb_flush=nmi: remote flushes that complete without waiting for
 *     the target to enable interrupts, as a paravirtual flush or AMD's
 *     INVLPGB/TLBSYNC does. (A) with an NMI for the IPI:
 *
 *   initiator i (nmi_flush_mask)         target c (NMI, anywhere)
 *   req[i].fi = fi
 *   req[i].waiting = targets
 *   cpumask_set(pending[c], i) [locked]
 *   send NMI  ------------------------>  m = xchg(pending[c], 0) [locked]
 *                                        fi = req[i].fi for each i in m
 *                                        INVLPG / CR3, whatever is loaded
 *   wait: waiting empty  <-------------  cpumask_clear(req[i].waiting, c)
 *   free pages; free tables (E)            [locked; fi not touched after]
 *
 *   The initiator's locked set orders its request before the bit; the
 *   target's locked exchange orders the bit before its reads of the
 *   request; its locked clear orders the flush before the initiator's
 *   wait ends. The target flushes without looking at pc->mm: an NMI can
 *   land between a context switch's CR3 load and its pc->mm store, and
 *   every address space uses PCID 0, so INVLPG or a CR3 reload acts on
 *   whatever is loaded and is harmless elsewhere. It takes no lock, so
 *   it is safe wherever the NMI lands; one NMI serves every bit set by
 *   then, and one that finds nothing (its bit taken by the NMI before)
 *   is expected. The consequence for (E): a walker's interrupts-off
 *   section no longer delays the ack, so pt_free=ipi frees a table
 *   under it. That cell of the matrix is unsafe by design.
 */
#include "mm/tlb.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/inject.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/smp_call.h"
#include "kernel/stall.h"
#include "kernel/timer.h"
#include "mm/debug.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"

DEFINE_INJECT(skip_shootdown, "flushes stay local: remote TLBs keep stale entries");
DEFINE_INJECT(free_before_flush, "unmapped pages are freed before the shootdown");
DEFINE_INJECT(pt_free_no_wait, "page tables are freed with no grace period (pt_free=rcu)");

/* The initiator's steps of a shootdown and its pairings (A)-(F) above,
 * and the target's flush. */
DEFINE_STALL(tlb_gen_bumped, 100, "shootdown: tlb_gen raised, targets not yet read from the cpumask");
DEFINE_STALL(tlb_lazy_marked, 100, "shootdown: flush left pending on lazy CPUs, their flags not yet read again");
DEFINE_STALL(tlb_before_ipi, 100, "shootdown: local flush done, remote CPUs not yet asked");
DEFINE_STALL(tlb_flush_local, 50, "shootdown: a CPU that has the mm loaded, before it flushes");
DEFINE_STALL(tlb_before_free, 200, "munmap/madvise: flush done, pages and tables not yet freed");

static const char *const tlb_flush_names[] = { "ipi", "nmi", NULL };
int tlb_flush_mode = TLB_FLUSH_IPI;
CMDLINE_ENUM(tlb_flush, tlb_flush_mode, tlb_flush_names,
	     "remote TLB flushes: by IPI (waits for interrupts on), or by NMI (completes anywhere)");
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
 * not a CR3 reload. Acts on whatever address space is loaded (all use
 * PCID 0). Runs with interrupts off, or in an NMI.
 */
static void flush_loaded(const struct flush_info *fi)
{
	if (fi->full) {
		flush_tlb_local_nonglobal();
		return;
	}
	for (uintptr_t va = fi->start; va < fi->end; va += PAGE_SIZE)
		invlpg(va);
	for (unsigned int i = 0; i < fi->ntable_va; i++)
		invlpg(fi->table_va[i]);
}

/* The IPI target's flush (A): flush_loaded() if mm is loaded here. */
static void flush_local(void *arg)
{
	const struct flush_info *fi = arg;
	struct percpu *pc = this_cpu();

	/* A CPU that does not have mm loaded holds nothing of it: loading
	 * it later reloads CR3, which starts from the current tables. */
	if (pc->mm != fi->mm)
		return;
	stall(tlb_flush_local);
	flush_loaded(fi);
}

static void flush_tlb_on_this_cpu(struct flush_info *fi, enum tlb_flush_what what);

/* ---- (G): flushes by NMI -------------------------------------------- */

/* (i) written by initiator i before it sets bits in pending; (a) each
 * target clears its own bit of waiting once it has flushed. */
struct nmi_flush_req {
	const struct flush_info *fi;
	struct cpumask waiting;
} __cacheline_aligned;
static struct nmi_flush_req nmi_req[MAX_CPUS];
/* (a) Per target: the initiators whose request it has yet to serve. */
static struct cpumask nmi_pending[MAX_CPUS];
static unsigned long nmi_flushes[MAX_CPUS];	/* (o) from the NMI only */

bool tlb_flush_nmi(void)
{
	unsigned int me = smp_processor_id();
	bool again = true;

	if (tlb_flush_mode != TLB_FLUSH_NMI)
		return false;
	while (again) {
		again = false;
		for (unsigned int w = 0; w < MAX_CPUS / 64; w++) {
			uint64_t m = atomic_xchg(&nmi_pending[me].bits[w], 0);
			while (m) {
				unsigned int i = w * 64 + __builtin_ctzll(m);
				m &= m - 1;
				/* flush_local() without the pc->mm check and
				 * the stall point (G). */
				flush_loaded(load_acquire(&nmi_req[i].fi));
				nmi_flushes[me]++;
				cpumask_clear_cpu(&nmi_req[i].waiting, me);
				again = true;
			}
		}
	}
	return true;
}

/* (G), the initiator's half; preempt count raised (one CPU throughout). */
static void nmi_flush_mask(const struct cpumask *targets, const struct flush_info *fi)
{
	unsigned int me = smp_processor_id(), c;
	struct nmi_flush_req *r = &nmi_req[me];
	uint64_t deadline = rdtsc() + ns_to_tsc(smp_call_timeout_ns);

	store_relaxed(&r->fi, fi);
	r->waiting = *targets;
	for_each_cpu_in(c, targets) {
		cpumask_set(&nmi_pending[c], me);	/* locked: request before bit */
		apic_send_nmi(cpu_percpu(c)->apic_id);
	}
	while (cpumask_weight(&r->waiting)) {
		cpu_relax();
		if ((int64_t)(rdtsc() - deadline) > 0) {
			c = cpumask_next(&r->waiting, 0);
			hang_report("tlb_flush=nmi: cpu %u did not flush within %llu ms; it last took an "
				    "interrupt at %pS", c, (unsigned long long)smp_call_timeout_ns / 1000000,
				    (void *)READ_ONCE(cpu_percpu(c)->last_irq_rip));
		}
	}
	/* Pairs with the targets' locked clears: their flushes are done. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/* Flush fi on every CPU that may cache it (see flush_tlb_mm_range()). */
static void flush_tlb(struct flush_info *fi, enum tlb_flush_what what)
{
	/* One CPU from the local flush to the last ack: a task that moved
	 * between them would leave the CPU it flushed first out of the
	 * targets it computed on the second. */
	preempt_disable();
	flush_tlb_on_this_cpu(fi, what);
	preempt_enable();
}

static void flush_tlb_on_this_cpu(struct flush_info *fi, enum tlb_flush_what what)
{
	struct mm *mm = fi->mm;
	uintptr_t start = fi->start, end = fi->end;
	struct tlb_stats *st = &stats[smp_processor_id()];
	struct cpumask targets;

	atomic_inc(&mm->tlb_gen);	/* full barrier: pairing (C) */
	stall(tlb_gen_bumped);
	if (what == FLUSH_PAGES_AND_TABLES && pt_free_mode == PT_FREE_IPI)
		targets = cpu_online_mask;	/* every possible lockless walker */
	else
		targets = mm->cpumask;
	if (what == FLUSH_PAGES) {
		/* Lazy CPUs: pairing (B), the initiator's half. */
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
			stall(tlb_lazy_marked);
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
	if (injected(skip_shootdown))
		return;
	if (cpumask_weight(&targets)) {
		stall(tlb_before_ipi);
		st->ipis_sent += cpumask_weight(&targets);
		if (tlb_flush_mode == TLB_FLUSH_NMI)
			nmi_flush_mask(&targets, fi);
		else
			smp_call_mask(&targets, flush_local, fi);
	}
}

void flush_tlb_mm_range(struct mm *mm, uintptr_t start, uintptr_t end, enum tlb_flush_what what)
{
	struct flush_info fi = { mm, start, end, NULL, 0, (end - start) / PAGE_SIZE > tlb_ceiling };

	flush_tlb(&fi, what);
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
	if (injected(free_before_flush)) {
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

static void free_table_rcu(struct rcu_head *head)
{
	struct page *p = (struct page *)((char *)head - __builtin_offsetof(struct page, rcu));

	debug_check_table_empty(p);
	free_page(p);
}

static void free_table(struct page *t)
{
	if (pt_free_mode == PT_FREE_RCU && !injected(pt_free_no_wait))
		call_rcu(&t->rcu, free_table_rcu);
	else {
		debug_check_table_empty(t);
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
		flush_tlb(&fi, tlb->ntables ? FLUSH_PAGES_AND_TABLES : FLUSH_PAGES);
	}
	stall(tlb_before_free);
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
		s->nmi_flushes += load_relaxed(&nmi_flushes[c]);
	}
}

