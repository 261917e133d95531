/*
 * Lockless page-table walks and the walker protection. See
 * mm/lockless_walk.h.
 */
#include "mm/lockless_walk.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "mm/debug.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"

static const char *const walk_names[] = { "irqoff", "rcu", "none", NULL };
int spf_walk_mode = SPF_WALK_IRQOFF;
CMDLINE_ENUM(spf_walk, spf_walk_mode, walk_names, "lockless walker protection");

void walk_prot_enter(struct walk_prot *p, enum walker who)
{
	p->who = who;
	switch (who) {
	case WALKER_SPF:
		p->irqoff = spf_walk_mode == SPF_WALK_IRQOFF;
		p->rcu = spf_walk_mode == SPF_WALK_RCU;
		break;
	case WALKER_GUP:
		p->irqoff = true;
		p->rcu = spf_walk_mode == SPF_WALK_RCU;
		break;
	case WALKER_PTL:
		p->irqoff = p->rcu = true;
		break;
	}
	if (p->irqoff)
		p->flags = irq_save();
	if (p->rcu)
		rcu_read_lock();
}

void walk_prot_leave(struct walk_prot *p)
{
	if (p->rcu)
		rcu_read_unlock();
	if (p->irqoff)
		irq_restore(p->flags);
}

/* The protection in force, for reports: format and arguments (constant
 * strings, so concurrent reporters share nothing). */
#define WALK_FMT "spf_walk=%s pt_free=%s rcu=%s"
#define WALK_ARGS walk_names[spf_walk_mode], pt_free_mode == PT_FREE_IPI ? "ipi" : "rcu", \
		  rcu_flavor == RCU_SCHED ? "sched" : "preempt"

/* A walker read a poisoned entry: the table it is reading was freed. */
static void report_poison(const struct lockless_walk *w, const pte_t *table, unsigned int level)
{
	report_error("uaf_table", "cpu %u: %s of %lx in mm %u read poison from freed table page "
		     "pfn 0x%lx (level %u) under " WALK_FMT, smp_processor_id(), w->who, w->addr,
		     w->mm->id, (unsigned long)(virt_to_phys(table) >> PAGE_SHIFT), level, WALK_ARGS);
}

/*
 * Was the table the walk holds (pt, taken when its free count was frees)
 * freed since? Called after each read from it: the read comes first (x86
 * does not reorder loads; the compiler barrier keeps the order), the free
 * count is bumped before the page is poisoned or reused, so a read that
 * saw either sees the count moved. This catches a free the walker's
 * protection should have held off even when the page was reused as a
 * table at once and the read looked valid. A working protection never
 * trips it: nothing frees the table between the parent read that found
 * it and the end of the walk. The top table lives as long as the mm
 * (pt NULL).
 */
static bool held_table_freed(const struct lockless_walk *w, const struct page *pt, uint32_t frees,
			     unsigned int level)
{
	barrier();
	if (!pt || load_relaxed(&pt->frees) == frees)
		return false;
	report_error("uaf_table", "cpu %u: %s of %lx in mm %u: table page pfn 0x%lx (level %u) was "
		     "freed while the walk held it (its free count moved from %u to %u) under " WALK_FMT,
		     smp_processor_id(), w->who, w->addr, w->mm->id,
		     (unsigned long)(page_to_phys(pt) >> PAGE_SHIFT), level, frees,
		     load_relaxed(&pt->frees), WALK_ARGS);
	return true;
}

/* Check an entry read at level from table, which the walk holds as
 * (pt, frees). False (reported, w->freed) if the table was freed. */
static bool entry_sound(struct lockless_walk *w, const pte_t *table, const struct page *pt,
			uint32_t frees, unsigned int level, pte_t e)
{
	if (held_table_freed(w, pt, frees, level)) {
		w->freed = true;
		return false;
	}
	if (e == PAGE_POISON) {
		report_poison(w, table, level);
		w->freed = true;
		return false;
	}
	return true;
}

bool walk_lockless(struct lockless_walk *w, struct mm *mm, uintptr_t addr, const char *who,
		   struct stall_point *at)
{
	pte_t *table = phys_to_virt(mm->pgd);
	struct spf_hook_ctx ctx = { .mm = mm, .addr = addr };
	struct page *pt = NULL;
	uint32_t frees = 0;

	*w = (struct lockless_walk){ .who = who, .mm = mm, .addr = addr };
	for (unsigned int level = pt_levels; level > 1; level--) {
		pte_t *ep = &table[pt_index(addr, level)];
		pte_t e = READ_ONCE(*ep);
		if (!entry_sound(w, table, pt, frees, level, e))
			return false;
		if (!pte_present(e) || (e & PTE_PS))
			return false;
		/* A live table only points at live tables: anything else means
		 * the table we read was freed and its page reused. */
		if ((pte_addr(e) >> PAGE_SHIFT) >= max_pfn ||
		    load_relaxed(&phys_to_page(pte_addr(e))->type) != PAGE_TABLE) {
			report_error("uaf_table", "cpu %u: %s of %lx in mm %u: entry %lx at level %u of "
				     "table page pfn 0x%lx points at a page that is no page table "
				     "(the table was freed and reused) under " WALK_FMT, smp_processor_id(),
				     who, addr, mm->id, e, level,
				     (unsigned long)(virt_to_phys(table) >> PAGE_SHIFT), WALK_ARGS);
			w->freed = true;
			return false;
		}
		if (level == 2) {
			w->pmdp = ep;
			w->pmdval = e;
			ctx.pmd = ep;
		}
		table = table_of(e);
		pt = phys_to_page(pte_addr(e));
		ctx.pt = pt;
		frees = load_relaxed(&pt->frees);
		ctx.level = level - 1;
		stall_at(at, &ctx);
	}
	w->pt = pt;
	w->pt_frees = frees;
	w->ptep = &table[pt_index(addr, 1)];
	return true;
}

bool walk_read_pte(struct lockless_walk *w, pte_t *pte)
{
	*pte = READ_ONCE(*w->ptep);
	return entry_sound(w, w->ptep - pt_index(w->addr, 1), w->pt, w->pt_frees, 1, *pte);
}
