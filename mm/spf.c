/*
 * The speculative page fault: lookup, lockless walk, commit. See mm/spf.h.
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
 * from being freed while it reads them (mm/lockless_walk.h): that is the
 * question this kernel tests, and why spf_walk= is an option.
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
#include "kernel/spinlock.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/kmap.h"
#include "mm/lockless_walk.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/pgtable.h"
#include "mm/vma.h"

static const char *const onoff_names[] = { "off", "on", NULL };
int spf_enabled = 1;
CMDLINE_ENUM(spf, spf_enabled, onoff_names, "speculative page faults");

DEFINE_INJECT(spf_lock_ptl, "the speculative commit spins on the PTE-table lock instead of trylocking it");
DEFINE_INJECT(spf_no_vma_recheck, "the speculative commit skips the VMA recheck");
DEFINE_INJECT(spf_no_pmd_recheck, "the speculative commit skips the PMD recheck");
DEFINE_STALL(spf_vma_lookup, 200, "speculative fault: VMA array loaded, not yet searched");
DEFINE_STALL_GP(spf_walk_level, 50, 64, 2, "speculative fault: one level of the lockless walk read");
DEFINE_STALL(spf_before_commit, 500, "speculative fault: PTE table found and page ready, PTE lock not taken");

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

static void stat(enum spf_stat s)
{
	counter_inc(&spf_cpu[smp_processor_id()].s[s]);
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

enum spf_result spf_handle_fault(struct mm *mm, uintptr_t addr, enum fault_access access)
{
	bool write = access == FAULT_WRITE;
	struct walk_prot prot;
	struct lockless_walk w;
	struct page *newpage = NULL, *pt;
	pte_t pte, flags;
	enum spf_stat why;
	unsigned int vprot;
	uint64_t vid;

	addr &= PAGE_MASK;
	stat(SPF_ATTEMPTS);
	walk_prot_enter(&prot, WALKER_SPF);

	/* VMAs are freed through RCU whatever the walker protection, so the
	 * lookup holds a read section of its own; only prot is kept. */
	rcu_read_lock();
	const struct vma_array *va = rcu_dereference(mm->vmas);
	stall_ctx(spf_vma_lookup, (&(struct spf_hook_ctx){ .mm = mm, .addr = addr }));
	struct vma *vma = va ? vma_find_in(va, addr) : NULL;
	vprot = vma ? vma->prot : 0;
	vid = vma ? vma->id : 0;
	rcu_read_unlock();
	if (!vma) {
		why = SPF_FB_VMA;
		goto fallback;
	}
	if (!(vprot & fault_access_prot(access))) {
		why = SPF_FB_ACCESS;
		goto fallback;
	}

	if (!walk_lockless(&w, mm, addr, "speculative fault", STALL_POINT(spf_walk_level))) {
		why = w.freed ? SPF_FB_POISON : SPF_FB_NOPT;
		goto fallback;
	}
	if (!walk_read_pte(&w, &pte)) {
		why = SPF_FB_POISON;
		goto fallback;
	}
	if (!pte_none(pte)) {
		if (pte_present(pte) && (!write || (pte & PTE_W)) &&
		    (access != FAULT_EXEC || !(pte & PTE_NX))) {
			/* Someone mapped it since the hardware walk. */
			walk_prot_leave(&prot);
			stat(SPF_RACED);
			return SPF_DONE;
		}
		why = SPF_FB_PTE;	/* write-protect, NX or PROT_NONE: locked path */
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

	pt = w.pt;
	stall_ctx(spf_before_commit, (&(struct spf_hook_ctx){ .mm = mm, .addr = addr, .pmd = w.pmdp, .pt = pt, .level = 1 }));
	/* inject=spf_lock_ptl: spin instead of trylock (a deadlock when the
	 * holder waits for our flush ack with our interrupts off). */
	if (injected(spf_lock_ptl)) {
		spin_lock(&pt->ptl);
	} else if (!spin_trylock(&pt->ptl)) {
		why = SPF_FB_LOCK;
		goto fallback;
	}
	/* Under the PTL: see the comment at the top of the file. */
	if (!vma_still_mapped(mm, addr, vid) && !injected(spf_no_vma_recheck)) {
		spin_unlock(&pt->ptl);
		why = SPF_FB_VMA_CHANGED;
		goto fallback;
	}
	if (READ_ONCE(*w.pmdp) != w.pmdval && !injected(spf_no_pmd_recheck)) {
		spin_unlock(&pt->ptl);
		why = SPF_FB_PMD;
		goto fallback;
	}
	if (!pte_none(READ_ONCE(*w.ptep))) {
		/* Another fault won the race: exactly one page stays. */
		spin_unlock(&pt->ptl);
		walk_prot_leave(&prot);
		if (newpage)
			free_page(newpage);
		stat(SPF_RACED);
		return SPF_DONE;
	}
	WRITE_ONCE(*w.ptep, flags);
	spin_unlock(&pt->ptl);
	walk_prot_leave(&prot);
	stat(SPF_SUCCESS);
	return SPF_DONE;

fallback:
	walk_prot_leave(&prot);
	if (newpage)
		free_page(newpage);
	stat(why);
	return SPF_FALLBACK;
}

void spf_stats_get(uint64_t out[NR_SPF_STATS])
{
	for (unsigned int s = 0; s < NR_SPF_STATS; s++) {
		out[s] = 0;
		for (unsigned int c = 0; c < MAX_CPUS; c++)
			out[s] += load_relaxed(&spf_cpu[c].s[s]);
	}
}

void spf_stats_format(char *buf, size_t len, const uint64_t before[NR_SPF_STATS])
{
	uint64_t now[NR_SPF_STATS];
	size_t n = 0;

	spf_stats_get(now);
	buf[0] = 0;
	for (unsigned int s = 0; s < NR_SPF_STATS; s++)
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s=%llu", s ? " " : "",
			      spf_stat_names[s], (unsigned long long)(now[s] - (before ? before[s] : 0)));
}
