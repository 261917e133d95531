/*
 * The locked page-fault path, the #PF hook for test address spaces, and
 * the user accessors.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/user.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/sched.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/huge.h"

#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/spf.h"
#include "mm/tlb.h"
#include "mm/vma.h"

DEFINE_STALL(fault_locked, 50, "locked fault: PTE table locked, PTE not yet read");
DEFINE_STALL(cow_copied, 100, "copy on write: the page copied, the PTE still maps the shared one");

DEFINE_INJECT(zero_page_no_flush, "the zero-page upgrade does not flush the old entry");
DEFINE_INJECT(stack_grow_read_locked, "a fault grows a stack under mmap_lock held for read");
DEFINE_INJECT(cow_reuse_shared, "a write fault makes a shared read-only page writable instead of copying it");

/* (a) pages copied on write (mm/fork.c) */
unsigned long cow_copies;

static const char *const fault_names[] = { "spf", "vma_lock", "locked", NULL };
int fault_mode = FAULT_PATH_SPF;
CMDLINE_ENUM(fault, fault_mode, fault_names,
	     "fault path tried first: speculative, under the VMA lock, or only the locked one");

/* (a) per CPU, bumped with relaxed atomics: a fault may move between
 * CPUs before it holds the VMA lock. */
static struct vma_lock_stats vl_stats[MAX_CPUS] __cacheline_aligned;
#define VL_INC(field) __atomic_fetch_add(&vl_stats[smp_processor_id()].field, 1, __ATOMIC_RELAXED)

pte_t fault_leaf_flags(unsigned int prot)
{
	pte_t f = PTE_P | PTE_U;

	if (!(prot & PROT_EXEC) && cpu_features.nx)
		f |= PTE_NX;
	return f;
}

/*
 * The fault in vma, which allows the access and cannot change meanwhile:
 * the caller holds mmap_lock (read) or vma's read lock. Takes the PTE
 * table's lock with interrupts on: the zero-page upgrade below flushes
 * with it held, so a CPU spinning on it with interrupts off would never
 * ack.
 */
static int fault_in_vma(struct mm *mm, struct vma *vma, uintptr_t addr, enum fault_access access)
{
	bool write = access == FAULT_WRITE, exec = access == FAULT_EXEC;
	struct page *pt, *newpage = NULL;
	int ret = 0;

	pte_t *pte;

	for (;;) {
		/* A huge page, mapped or upgraded (thp=on), or a PTE table.
		 * A collapse may make the span huge between the two: then the
		 * locked walk finds the huge PMD and this goes round again. */
		ret = huge_fault(mm, vma, addr, access);
		if (ret != HUGE_FAULT_PTE)
			goto out;
		ret = 0;
		if (write && !newpage) {
			/* Most write faults need a page: get it before the lock. */
			newpage = alloc_page_zeroed(PAGE_ANON);
			if (!newpage)
				return -ENOMEM;
		}
		pte = pt_walk_lock(mm, addr, PT_ALLOC, &pt);
		if (pte)
			break;
		if (!pt_pmd_huge(mm, addr)) {
			ret = -ENOMEM;
			goto out;
		}
	}

	stall(fault_locked);
	pte_t e = *pte;
	pte_t flags = fault_leaf_flags(vma->prot);
	if (pte_none(e) || (e & PTE_PROTNONE)) {
		if (e & PTE_PROTNONE) {
			/* mprotect made the range accessible again. */
			e = (e & PTE_ADDR_MASK) | flags;
			WRITE_ONCE(*pte, e);
		}
		if (pte_none(e)) {
			if (write) {
				WRITE_ONCE(*pte, page_to_phys(newpage) | flags | PTE_W);
				newpage = NULL;
			} else {
				WRITE_ONCE(*pte, page_to_phys(zero_page) | flags);
			}
		}
	} else if (write && !(e & PTE_W)) {
		if (phys_to_page(pte_addr(e)) == zero_page) {
			/* Replace the zero page; CPUs still holding its
			 * read-only translation must drop it now or they
			 * would keep reading zeroes after this write. */
			WRITE_ONCE(*pte, page_to_phys(newpage) | flags | PTE_W);
			newpage = NULL;
			if (!injected(zero_page_no_flush))
				flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE, FLUSH_PAGES);
		} else if (vma->prot & PROT_WRITE) {
			struct page *old = phys_to_page(pte_addr(e));
			/* fork raises the count under this PTE lock before it
			 * write-protects (mm/fork.c, (K)): the lock orders it
			 * before this read. */
			if (load_acquire(&old->refcount) == 1 || injected(cow_reuse_shared)) {
				/* Ours alone: upgrade. A stale read-only entry
				 * elsewhere only causes a spurious fault, no
				 * flush needed. */
				WRITE_ONCE(*pte, e | PTE_W);
			} else {
				/* Shared with a fork (or referenced by a
				 * gup_fast caller): copy on write, (K) in
				 * mm/fork.c. CPUs holding the read-only
				 * translation must drop it before the old page
				 * goes, or they would read it after this write. */
				memcpy(page_address(newpage), page_address(old), PAGE_SIZE);
				stall_ctx(cow_copied, (&(struct spf_hook_ctx){ .mm = mm, .addr = addr,
									 .page = old, .copy = newpage }));
				WRITE_ONCE(*pte, page_to_phys(newpage) | (e & ~PTE_ADDR_MASK) | PTE_W);
				newpage = NULL;
				flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE, FLUSH_PAGES);
				put_page(old);
				atomic_inc(&cow_copies);
			}
		}
	}
	e = *pte;
	if (exec && (e & PTE_NX)) {
		/* mprotect added PROT_EXEC (it leaves upgrades to faults):
		 * an upgrade too, a stale NX entry only faults again, and
		 * the fault drops it from this CPU's TLB. */
		WRITE_ONCE(*pte, e & ~PTE_NX);
	}
	spin_unlock(&pt->ptl);
out:
	if (newpage)
		free_page(newpage);
	return ret;
}

int handle_mm_fault(struct mm *mm, uintptr_t addr, enum fault_access access)
{
	int ret;

	ASSERT_MSG(irqs_enabled(), "locked fault with interrupts off (addr %lx)", addr);
	addr &= PAGE_MASK;
	mmap_read_lock(mm);
	struct vma *vma = vma_find(mm, addr);
	while (!vma && vma_stack_above(mm, addr, STACK_GROW_MAX, STACK_GUARD_GAP)) {
		/* Below a stack: grow it, under the write lock ((T) in
		 * mm/mmap.c), and look again. A munmap between the two
		 * locks may have taken the growth back: then grow again,
		 * as a fault retried from the access would. */
		if (injected(stack_grow_read_locked)) {
			ret = stack_grow_locked(mm, addr);
		} else {
			mmap_read_unlock(mm);
			ret = vm_stack_grow(mm, addr);
			mmap_read_lock(mm);
		}
		if (ret)
			break;
		vma = vma_find(mm, addr);
	}
	if (!vma || !(vma->prot & fault_access_prot(access)))
		ret = -EFAULT;
	else
		ret = fault_in_vma(mm, vma, addr, access);
	mmap_read_unlock(mm);
	return ret;
}

/*
 * fault=vma_lock: find the VMA under RCU and read-lock it (mm/vma.c, (V));
 * VMA_FAULT_FALLBACK when there is none or a writer has it, for the
 * caller to take mmap_lock. With the lock held the VMA is the one mapped
 * at addr, so a forbidden access is -EFAULT without mmap_lock.
 */
#define VMA_FAULT_FALLBACK 1
static int vma_lock_fault(struct mm *mm, uintptr_t addr, enum fault_access access)
{
	enum vma_lock_result r;
	int ret;

	addr &= PAGE_MASK;
	VL_INC(attempts);
	rcu_read_lock();
	struct vma *vma = vma_find(mm, addr);
	if (!vma) {
		rcu_read_unlock();
		VL_INC(fallback_novma);
		return VMA_FAULT_FALLBACK;
	}
	r = vma_start_read(mm, vma, addr);
	rcu_read_unlock();
	if (r != VMA_LOCKED) {
		if (r == VMA_LOCK_MARKED)
			VL_INC(fallback_marked);
		else
			VL_INC(fallback_changed);
		return VMA_FAULT_FALLBACK;
	}
	if (!(vma->prot & fault_access_prot(access)))
		ret = -EFAULT;
	else
		ret = fault_in_vma(mm, vma, addr, access);
	debug_check_vma_held(mm, vma, addr);
	VL_INC(done);
	vma_end_read(vma);
	return ret;
}

void vma_lock_stats_get(struct vma_lock_stats *s)
{
	*s = (struct vma_lock_stats){ 0 };
	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		s->attempts += load_relaxed(&vl_stats[c].attempts);
		s->done += load_relaxed(&vl_stats[c].done);
		s->fallback_novma += load_relaxed(&vl_stats[c].fallback_novma);
		s->fallback_marked += load_relaxed(&vl_stats[c].fallback_marked);
		s->fallback_changed += load_relaxed(&vl_stats[c].fallback_changed);
	}
}

/* The ring-3 stub at entry, as mapped in every mm (map_user_stubs(), mm/mm.c). */
static uintptr_t stub_entry(const char *entry)
{
	return USER_STUB_VA + (uintptr_t)(entry - user_stubs_start);
}

int user_read_u64(uintptr_t addr, uint64_t *val)
{
	return user_call(stub_entry(user_stub_read), addr, 0, val);
}

int user_write_u64(uintptr_t addr, uint64_t val)
{
	uint64_t unused;

	return user_call(stub_entry(user_stub_write), addr, val, &unused);
}

/*
 * #PF in the lower half while an mm is loaded: resolve it if a VMA allows
 * the access. A reserved-bit fault means the hardware walked into a
 * poisoned (freed) page table: a use-after-free, reported, not resolved.
 * Interrupts go back on if the faulting context had them: the fault may
 * spin on mmap_lock while the lock holder waits for our flush ack.
 */
static enum fault_access fault_access_of(uint64_t error)
{
	return error & PF_W ? FAULT_WRITE : error & PF_I ? FAULT_EXEC : FAULT_READ;
}

/*
 * A ring-3 stub run by user_call() makes one access. A fault of it
 * "resolved" FAULT_LOOP_MAX times in one call is a handler that reports
 * success without making the access possible (a PTE that still does not
 * allow it): report fault_loop and let the access fail, rather than spin
 * until the run's time limit. (ELF programs run many accesses per entry;
 * their time limit ends such a loop.)
 */
#define FAULT_LOOP_MAX 1000

static bool fault_resolved(struct trap_frame *f, uint64_t cr2)
{
	struct task *t = current_task();

	if (!(f->error & PF_U) || t->uprog || ++t->call_faults < FAULT_LOOP_MAX)
		return true;
	report_error("fault_loop", "cpu %u: the fault at %lx (error %lx, rip %lx) of a one-access ring-3 "
		     "stub was resolved %u times: the handler reports success but the access never "
		     "completes", smp_processor_id(), cr2, f->error, f->rip, t->call_faults);
	return false;
}

static bool mm_page_fault(struct trap_frame *f, uint64_t cr2)
{
	struct percpu *pc = this_cpu();
	struct mm *mm = pc->mm;
	int r;

	if (cr2 >= USER_TOP || !mm || pc->mm_lazy || pc->faults_unresolved)
		return false;
	/* A ring-0 access to user memory outside a uaccess helper's
	 * STAC window (arch/x86/uaccess.h) is a SMAP violation, never
	 * resolved: the retried access would only fault again. */
	if (!(f->error & PF_U) && smap_enabled && !(f->rflags & RFLAGS_AC))
		return false;
	if (f->error & PF_RSVD) {
		report_error("uaf_table", "cpu %u: hardware page walk for %lx in mm %u hit a freed "
			     "(poisoned) table", pc->cpu, cr2, mm->id);
		return false;
	}
	bool irqs_were_on = f->rflags & RFLAGS_IF;
	if (irqs_were_on)
		irq_enable();
	if (spf_enabled && spf_handle_fault(mm, cr2, fault_access_of(f->error)) == SPF_DONE) {
		irq_disable();
		return fault_resolved(f, cr2);
	}
	if (!irqs_were_on)
		return false;	/* the locked path needs interrupts on */
	r = VMA_FAULT_FALLBACK;
	if (fault_mode == FAULT_PATH_VMA_LOCK)
		r = vma_lock_fault(mm, cr2, fault_access_of(f->error));
	if (r == VMA_FAULT_FALLBACK)
		r = handle_mm_fault(mm, cr2, fault_access_of(f->error));
	irq_disable();
	return r == 0 && fault_resolved(f, cr2);
}

void mm_fault_init(void)
{
	/* fault= picks the first path; spf= stays the switch the spf
	 * suite and the walkers read. */
	if (fault_mode != FAULT_PATH_SPF)
		spf_enabled = 0;
	page_fault_hook = mm_page_fault;
}
