/*
 * Speculative page fault and gup_fast. See mm/spf.h.
 *
 * The fault is validated per VMA: it relies on the one VMA that holds the
 * address, so only a change to that VMA sends it to the locked path. A
 * writer busy elsewhere in the address space (holding mmap_lock, mapping
 * and unmapping other ranges) does not. VMAs are immutable and carry
 * unique ids (mm/vma.h): "the VMA is unchanged" is "the array published
 * now still maps the address to the same id".
 *
 * Why the recheck under the PTE-table lock is enough (munmap side in the
 * left column, this path on the right):
 *
 *   CPU 0 (munmap)                    CPU 1 (speculative fault)
 *   write_lock                        enter walker protection
 *   publish a VMA array without V     find V (id i) at addr; note prot
 *   lock PTL; clear PTEs; unlock PTL  walk; read PTE (none)
 *   unhook empty tables               allocate a page
 *   flush; free pages;                trylock PTL
 *   free tables (after IPI or GP)     if the array now maps addr to an
 *   write_unlock                          id other than i: fall back
 *                                     if *pmd changed or PTE not none:
 *                                         fall back
 *                                     install PTE; unlock PTL
 *                                     leave walker protection
 *
 * If CPU 0 zapped this PTE table before CPU 1's trylock, CPU 0 published
 * the new array (release) before its PTL release, which CPU 1's PTL
 * acquire reads after: CPU 1's lookup finds the new array, without id i,
 * and backs off. If CPU 0 zaps after, the zap removes what CPU 1
 * installed. Either way no PTE survives in a range munmap removed.
 * mprotect is the same: it publishes new VMA objects before it changes
 * PTEs under their PTLs. A range with no PTE table when CPU 0 zapped it
 * has none for CPU 1 either (this path never builds tables), and a table
 * unhooked without its lock being taken by the zap is caught by the PMD
 * recheck. The walker protection is what keeps the tables CPU 1 reads
 * from being freed while it reads them (mm/tlb.h): that is the question
 * this kernel tests, and why spf_walk= is an option.
 *
 * The PTL is only ever trylocked here: CPU 0 may hold it while waiting
 * for this CPU's flush ack (the zero-page upgrade flushes under it); with
 * interrupts off (spf_walk=irqoff) spinning on it would never end.
 */
#include "mm/spf.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/inject.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "mm/kmap.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/tlb.h"
#include "mm/vma.h"
#include "tests/ktap.h"

static const char *const onoff_names[] = { "off", "on", NULL };
int spf_enabled = 1;
CMDLINE_ENUM(spf, spf_enabled, onoff_names, "speculative page faults");
static const char *const walk_names[] = { "irqoff", "rcu", "none", NULL };
int spf_walk_mode = SPF_WALK_IRQOFF;
CMDLINE_ENUM(spf_walk, spf_walk_mode, walk_names, "speculative walker protection");

const char *const spf_stat_names[NR_SPF_STATS] = {
	[SPF_ATTEMPTS] = "attempts", [SPF_SUCCESS] = "success", [SPF_RACED] = "raced",
	[SPF_FB_VMA_CHANGED] = "fallback_vma_changed", [SPF_FB_PMD] = "fallback_pmd",
	[SPF_FB_LOCK] = "fallback_lock", [SPF_FB_NOPT] = "fallback_nopt",
	[SPF_FB_VMA] = "fallback_vma", [SPF_FB_ACCESS] = "fallback_access",
	[SPF_FB_PTE] = "fallback_pte", [SPF_FB_NOMEM] = "fallback_nomem",
	[SPF_FB_POISON] = "fallback_poison",
};

static struct spf_cpu {
	uint64_t s[NR_SPF_STATS];	/* (o) */
} __cacheline_aligned spf_cpu[MAX_CPUS];

void (*spf_test_hook)(enum spf_point at, const struct spf_hook_ctx *ctx);

static void stat(enum spf_stat s)
{
	counter_inc(&spf_cpu[smp_processor_id()].s[s]);
}

struct walk_prot {
	uint64_t flags;
};

static void prot_enter(struct walk_prot *p)
{
	switch (spf_walk_mode) {
	case SPF_WALK_IRQOFF:
		p->flags = irq_save();
		break;
	case SPF_WALK_RCU:
		rcu_read_lock();
		break;
	default:
		break;		/* spf_walk=none: the seeded bug of the matrix */
	}
}

static void prot_leave(struct walk_prot *p)
{
	switch (spf_walk_mode) {
	case SPF_WALK_IRQOFF:
		irq_restore(p->flags);
		break;
	case SPF_WALK_RCU:
		rcu_read_unlock();
		break;
	default:
		break;
	}
}

/* The protection in force, for reports: format and arguments (constant
 * strings, so concurrent reporters share nothing). */
#define WALK_FMT "spf_walk=%s pt_free=%s rcu=%s"
#define WALK_ARGS walk_names[spf_walk_mode], pt_free_mode == PT_FREE_IPI ? "ipi" : "rcu", \
		  rcu_flavor == RCU_SCHED ? "sched" : "preempt"

/* A walker read a poisoned entry: the table it is reading was freed. */
static void report_uaf(const char *who, struct mm *mm, uintptr_t addr, const pte_t *table,
		       unsigned int level)
{
	report_error("uaf_table", "cpu %u: %s of %lx in mm %u read poison from freed table page "
		     "pfn 0x%lx (level %u) under " WALK_FMT, smp_processor_id(), who, addr, mm->id,
		     (unsigned long)(virt_to_phys(table) >> PAGE_SHIFT), level, WALK_ARGS);
}

/*
 * A table the walker holds, and its free count when the walker took it
 * (struct page.frees). The top table lives as long as the mm: page NULL.
 */
struct held_table {
	struct page *page;
	uint32_t frees;
};

/*
 * Was the held table freed since the walker took it? Called after each
 * read from it: the read comes first (x86 does not reorder loads; the
 * compiler barrier keeps the order), the free count is bumped before the
 * page is poisoned or reused, so a read that saw either sees the count
 * moved. This catches a free the walker's protection should have held
 * off even when the page was reused as a table at once and the read
 * looked valid. A working protection never trips it: nothing frees the
 * table between the parent read that found it and the end of the walk.
 */
static bool held_table_freed(const char *who, struct mm *mm, uintptr_t addr,
			     const struct held_table *h, unsigned int level)
{
	barrier();
	if (!h->page || load_relaxed(&h->page->frees) == h->frees)
		return false;
	report_error("uaf_table", "cpu %u: %s of %lx in mm %u: table page pfn 0x%lx (level %u) was "
		     "freed while the walk held it (its free count moved from %u to %u) under " WALK_FMT,
		     smp_processor_id(), who, addr, mm->id,
		     (unsigned long)(page_to_phys(h->page) >> PAGE_SHIFT), level, h->frees,
		     load_relaxed(&h->page->frees), WALK_ARGS);
	return true;
}

/*
 * Walk to the PTE of addr with single reads. Returns the PTE pointer, the
 * PTE table as held (*held: recheck it after reading the PTE) and the PMD
 * entry's address and value, or NULL (missing level, huge page, or a
 * freed table). Walker protection held.
 */
static pte_t *walk_lockless(struct mm *mm, uintptr_t addr, const char *who, enum spf_point at,
			    pte_t **pmdp, pte_t *pmdval, struct held_table *held, bool *poisoned)
{
	pte_t *table = phys_to_virt(mm->pgd);
	struct spf_hook_ctx ctx = { .mm = mm, .addr = addr };
	struct held_table h = { NULL, 0 };

	*poisoned = false;
	for (unsigned int level = pt_levels; level > 1; level--) {
		pte_t *ep = &table[pt_index(addr, level)];
		pte_t e = READ_ONCE(*ep);
		if (held_table_freed(who, mm, addr, &h, level)) {
			*poisoned = true;
			return NULL;
		}
		if (e == PAGE_POISON) {
			report_uaf(who, mm, addr, table, level);
			*poisoned = true;
			return NULL;
		}
		if (!pte_present(e) || (e & PTE_PS))
			return NULL;
		/* A live table only points at live tables: anything else means
		 * the table we read was freed and its page reused. */
		if ((pte_addr(e) >> PAGE_SHIFT) >= max_pfn ||
		    load_relaxed(&phys_to_page(pte_addr(e))->type) != PAGE_TABLE) {
			report_error("uaf_table", "cpu %u: %s of %lx in mm %u: entry %lx at level %u of "
				     "table page pfn 0x%lx points at a page that is no page table "
				     "(the table was freed and reused) under " WALK_FMT, smp_processor_id(),
				     who, addr, mm->id, e, level,
				     (unsigned long)(virt_to_phys(table) >> PAGE_SHIFT), WALK_ARGS);
			*poisoned = true;
			return NULL;
		}
		if (level == 2) {
			*pmdp = ep;
			*pmdval = e;
		}
		table = table_of(e);
		h.page = phys_to_page(pte_addr(e));
		h.frees = load_relaxed(&h.page->frees);
		if (spf_test_hook) {
			ctx.level = level - 1;
			spf_test_hook(at, &ctx);
		}
	}
	*held = h;
	return &table[pt_index(addr, 1)];
}

/*
 * Does the VMA array published now map addr to the VMA with id vid? The
 * PTE-table lock is held: its acquire orders this load after any array a
 * zap of this table published before it (see the top of the file). The
 * VMA found is only read inside this read section.
 */
static bool vma_still_mapped(struct mm *mm, uintptr_t addr, uint64_t vid)
{
	rcu_read_lock();
	struct vma *v = vma_find(mm, addr);
	bool same = v && READ_ONCE(v->id) == vid;
	rcu_read_unlock();
	return same;
}

enum spf_result spf_handle_fault(struct mm *mm, uintptr_t addr, bool write)
{
	struct walk_prot prot;
	struct page *newpage = NULL, *pt;
	pte_t *pmdp = NULL, pmdval = 0, *ptep, pte, flags;
	enum spf_stat why;
	unsigned int vprot;
	uint64_t vid;
	struct held_table held;
	bool poisoned;

	addr &= PAGE_MASK;
	stat(SPF_ATTEMPTS);
	prot_enter(&prot);

	/* VMAs are freed through RCU whatever the walker protection, so the
	 * lookup holds a read section of its own; only prot is kept. */
	rcu_read_lock();
	const struct vma_array *va = rcu_dereference(mm->vmas);
	if (spf_test_hook) {
		struct spf_hook_ctx ctx = { .mm = mm, .addr = addr };
		spf_test_hook(SPF_AT_VMA_LOOKUP, &ctx);
	}
	struct vma *vma = va ? vma_find_in(va, addr) : NULL;
	vprot = vma ? vma->prot : 0;
	vid = vma ? vma->id : 0;
	rcu_read_unlock();
	if (!vma) {
		why = SPF_FB_VMA;
		goto fallback;
	}
	if (!(vprot & (write ? PROT_WRITE : PROT_READ))) {
		why = SPF_FB_ACCESS;
		goto fallback;
	}

	ptep = walk_lockless(mm, addr, "speculative fault", SPF_AT_WALK_LEVEL, &pmdp, &pmdval, &held,
			     &poisoned);
	if (!ptep) {
		why = poisoned ? SPF_FB_POISON : SPF_FB_NOPT;
		goto fallback;
	}
	pte = READ_ONCE(*ptep);
	if (held_table_freed("speculative fault", mm, addr, &held, 1)) {
		why = SPF_FB_POISON;
		goto fallback;
	}
	if (pte == PAGE_POISON) {
		report_uaf("speculative fault", mm, addr, ptep - pt_index(addr, 1), 1);
		why = SPF_FB_POISON;
		goto fallback;
	}
	if (!pte_none(pte)) {
		if (pte_present(pte) && (!write || (pte & PTE_W))) {
			/* Someone mapped it since the hardware walk. */
			prot_leave(&prot);
			stat(SPF_RACED);
			return SPF_DONE;
		}
		why = SPF_FB_PTE;	/* write-protect or PROT_NONE: locked path */
		goto fallback;
	}

	flags = PTE_P | PTE_U | ((vprot & PROT_EXEC) || !cpu_features.nx ? 0 : PTE_NX);
	if (write) {
		newpage = alloc_page_zeroed(PAGE_ANON);
		if (!newpage) {
			why = SPF_FB_NOMEM;
			goto fallback;
		}
		flags |= page_to_phys(newpage) | PTE_W;
	} else {
		flags |= page_to_phys(zero_page);
	}

	pt = virt_to_page((void *)((uintptr_t)ptep & PAGE_MASK));
	if (spf_test_hook) {
		struct spf_hook_ctx ctx = { mm, addr, pmdp, pt, 1 };
		spf_test_hook(SPF_AT_BEFORE_COMMIT, &ctx);
	}
	/* inject=spf_lock_ptl: spin instead of trylock (a deadlock when the
	 * holder waits for our flush ack with our interrupts off). */
	if (injected(INJECT_SPF_LOCK_PTL)) {
		spin_lock(&pt->ptl);
	} else if (!spin_trylock(&pt->ptl)) {
		why = SPF_FB_LOCK;
		goto fallback;
	}
	/* Under the PTL: see the comment at the top of the file. */
	if (!vma_still_mapped(mm, addr, vid) && !injected(INJECT_SPF_NO_VMA_RECHECK)) {
		spin_unlock(&pt->ptl);
		why = SPF_FB_VMA_CHANGED;
		goto fallback;
	}
	if (READ_ONCE(*pmdp) != pmdval && !injected(INJECT_SPF_NO_PMD_RECHECK)) {
		spin_unlock(&pt->ptl);
		why = SPF_FB_PMD;
		goto fallback;
	}
	if (!pte_none(READ_ONCE(*ptep))) {
		/* Another fault won the race: exactly one page stays. */
		spin_unlock(&pt->ptl);
		prot_leave(&prot);
		if (newpage)
			free_page(newpage);
		stat(SPF_RACED);
		return SPF_DONE;
	}
	WRITE_ONCE(*ptep, flags);
	spin_unlock(&pt->ptl);
	prot_leave(&prot);
	stat(SPF_SUCCESS);
	return SPF_DONE;

fallback:
	prot_leave(&prot);
	if (newpage)
		free_page(newpage);
	stat(why);
	return SPF_FALLBACK;
}

/* Take a reference unless the page is already on its way to being freed. */
static bool page_try_get(struct page *p)
{
	int32_t r = load_relaxed(&p->refcount);

	while (r > 0)
		if (__atomic_compare_exchange_n(&p->refcount, &r, r + 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

/*
 * Interrupts off for the walk, as every lockless get-user-page does; with
 * spf_walk=rcu also a read section, so gup_fast is exactly as protected as
 * the speculative fault and the matrix cell speaks for both walkers.
 */
int gup_fast(struct mm *mm, uintptr_t addr, bool write, struct page **page)
{
	pte_t *pmdp, pmdval, *ptep, pte;
	struct held_table held;
	bool poisoned;
	int ret = -EFAULT;
	uint64_t flags = irq_save();

	if (spf_walk_mode == SPF_WALK_RCU)
		rcu_read_lock();
	ptep = walk_lockless(mm, addr & PAGE_MASK, "gup_fast", SPF_AT_GUP_WALK, &pmdp, &pmdval, &held,
			     &poisoned);
	if (!ptep)
		goto out;
	pte = READ_ONCE(*ptep);
	if (held_table_freed("gup_fast", mm, addr, &held, 1))
		goto out;
	if (pte == PAGE_POISON) {
		report_uaf("gup_fast", mm, addr, ptep - pt_index(addr, 1), 1);
		goto out;
	}
	if (!pte_present(pte) || (write && !(pte & PTE_W)))
		goto out;
	struct page *p = phys_to_page(pte_addr(pte));
	if (!page_try_get(p))
		goto out;
	/* The PTE still maps p after we took the reference: the page
	 * cannot be freed under us (unmap drops its reference after
	 * clearing the PTE and flushing, and the flush waits for us). */
	if (READ_ONCE(*ptep) != pte) {
		put_page(p);
		goto out;
	}
	*page = p;
	ret = 0;
out:
	if (spf_walk_mode == SPF_WALK_RCU)
		rcu_read_unlock();
	irq_restore(flags);
	return ret;
}

void spf_stats_get(uint64_t out[NR_SPF_STATS])
{
	for (unsigned int s = 0; s < NR_SPF_STATS; s++) {
		out[s] = 0;
		for (unsigned int c = 0; c < MAX_CPUS; c++)
			out[s] += load_relaxed(&spf_cpu[c].s[s]);
	}
}

void spf_stats_print(const uint64_t before[NR_SPF_STATS])
{
	uint64_t now[NR_SPF_STATS];
	char buf[400];
	size_t n = 0;

	spf_stats_get(now);
	for (unsigned int s = 0; s < NR_SPF_STATS; s++)
		n += snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, "%s%s=%llu",
			      s ? " " : "", spf_stat_names[s],
			      (unsigned long long)(now[s] - (before ? before[s] : 0)));
	ktap_diag("spf: %s", buf);
}
