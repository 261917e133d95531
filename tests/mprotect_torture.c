/*
 * Suite "mprotect_torture": after a downgrade returns, no CPU may access
 * the region beyond what it allows.
 *
 * One CPU flips a region between read-write and either read-only or
 * PROT_NONE with mprotect(), publishing each phase, and now and then
 * drops the region's pages (madvise(DONTNEED)) while it is downgraded, so
 * that the next access finds no PTE and its fault must check the VMA's
 * protection itself (the speculative path and the locked one). Every
 * other CPU keeps writing to and reading from the region and classifies
 * each access by the phases around it:
 *   - allowed while the region has been downgraded throughout: stale_tlb
 *     (a translation that outlived the downgrade's flush), or
 *     prot_violation when the pages had been dropped in that phase before
 *     the access began and the page table now holds an entry allowing
 *     the access (a fault path mapped what the VMA forbids); a drop that
 *     left no such entry means the access went through a translation the
 *     drop's flush should have removed: stale_tlb again;
 *   - faulted while the access has been allowed throughout: lost_mapping.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define MPROT_PAGES 16
/* state = round * 16 + MP_* | MP_NONE | MP_DROPPED */
enum { MP_RW, MP_TO_DOWN, MP_DOWN, MP_TO_RW };
#define MP_PHASE(s)	((s) & 3)
#define MP_NONE		4u	/* the downgrade is to PROT_NONE (else PROT_READ) */
#define MP_DROPPED	8u	/* MP_DOWN: the pages were dropped after the downgrade */

/* Protection: (c) set before the workers start, (a) atomic, (f) the
 * flipping worker only, (o) each worker its own slot. */
static struct {
	struct torture t;
	uintptr_t addr;			/* (c) */
	uint64_t state;			/* (a) release by the flipper, acquire by workers */
	unsigned long flips, drops;	/* (f) */
	unsigned long accesses[TORTURE_MAX_WORKERS];	/* (o) */
} mt;

static void flipper(struct prng *rng)
{
	const uintptr_t len = MPROT_PAGES * PAGE_SIZE;
	uint64_t g = 0;

	while (torture_running(&mt.t)) {
		uint64_t none = prng_below(rng, 2) ? MP_NONE : 0;
		torture_delay(rng, 300000);
		store_release(&mt.state, g * 16 + MP_TO_DOWN + none);
		vm_mprotect(mt.t.mm, mt.addr, len, none ? PROT_NONE : PROT_READ);
		store_release(&mt.state, g * 16 + MP_DOWN + none);
		torture_delay(rng, 300000);
		if (prng_below(rng, 2)) {
			/* Still downgraded while the PTEs go: accesses that began
			 * before the drop returned may still find them. */
			vm_madvise_dontneed(mt.t.mm, mt.addr, len);
			store_release(&mt.state, g * 16 + MP_DOWN + none + MP_DROPPED);
			mt.drops++;
			torture_delay(rng, 300000);
		}
		store_release(&mt.state, g * 16 + MP_TO_RW + none);
		vm_mprotect(mt.t.mm, mt.addr, len, PROT_READ | PROT_WRITE);
		g++;
		store_release(&mt.state, g * 16 + MP_RW);
		mt.flips++;
	}
	torture_stop(&mt.t);
}

/*
 * A forbidden access succeeded after the pages were dropped: did a fault
 * path map the page (an entry allowing the access is in the table now,
 * under the lock, while the phase is still `s`), or did the access use a
 * translation that the drop's flush should have removed? Returns the
 * class; prot_violation when the phase moved on and the table cannot
 * tell.
 */
static const char *classify_after_drop(uintptr_t a, bool write, uint64_t s)
{
	struct page *pt;
	bool mapped = false;

	mmap_read_lock(mt.t.mm);
	pte_t *pte = pt_walk_lock(mt.t.mm, a, PT_NO_ALLOC, &pt);
	if (pte) {
		pte_t e = READ_ONCE(*pte);
		mapped = pte_present(e) && (!write || (e & PTE_W));
		spin_unlock(&pt->ptl);
	}
	mmap_read_unlock(mt.t.mm);
	if (load_acquire(&mt.state) != s || mapped)
		return "prot_violation";
	return "stale_tlb";
}

static void accessor(struct prng *rng)
{
	unsigned int me = torture_me();
	uint64_t v;

	while (!torture_stopped(&mt.t)) {
		unsigned int i = prng_below(rng, MPROT_PAGES);
		uintptr_t a = mt.addr + i * PAGE_SIZE + 8 * me;
		bool write = prng_below(rng, 4) != 0;
		uint64_t s1 = load_acquire(&mt.state);
		int r = write ? user_write_u64(a, s1) : user_read_u64(a, &v);
		uint64_t s2 = load_acquire(&mt.state);
		mt.accesses[me]++;
		if (s1 != s2)
			continue;	/* the protection changed around it: either is right */
		bool allowed = MP_PHASE(s1) == MP_RW || (MP_PHASE(s1) == MP_DOWN && !(s1 & MP_NONE) && !write);
		bool forbidden = MP_PHASE(s1) == MP_DOWN && !allowed;
		const char *what = write ? "write to" : "read of";
		if (forbidden && r == 0) {
			const char *cls = s1 & MP_DROPPED ? classify_after_drop(a, write, s1) : "stale_tlb";
			bool mapped = !strcmp(cls, "prot_violation");
			report_error(cls, "mprotect_torture: worker %u: %s %lx succeeded after mprotect(%s) of round %llu "
				     "returned%s", me, what, a, s1 & MP_NONE ? "PROT_NONE" : "PROT_READ",
				     (unsigned long long)(s1 / 16),
				     !(s1 & MP_DROPPED) ? "" : mapped ? " and its pages were dropped (a fault path mapped what "
									"the VMA forbids)"
								      : " and its pages were dropped, leaving no entry (a "
									"translation outlived the drop's flush)");
		}
		if (allowed && r != 0)
			report_error("lost_mapping", "mprotect_torture: worker %u: %s %lx faulted while allowed "
				     "(round %llu)", me, what, a, (unsigned long long)(s1 / 16));
	}
}

static void mprotect_worker(void *arg)
{
	struct prng rng;

	(void)arg;
	torture_worker_start(&mt.t, &rng, 9500);
	/* Worker 0 flips, the others access. */
	if (torture_me() == 0)
		flipper(&rng);
	else
		accessor(&rng);
}

static void mprotect_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	unsigned long accesses = 0;
	unsigned int c;

	memset(&mt, 0, sizeof(mt));
	if (!torture_begin(&mt.t, &needs))
		return;
	mt.addr = vm_mmap(mt.t.mm, 0, MPROT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	mt.state = MP_RW;
	torture_speculate(&mt.t, mt.addr, MPROT_PAGES * PAGE_SIZE);
	/* Under fault=vma_lock, faults holding the VMA lock now and then
	 * wait for the flipper's next change of their VMA. */
	spf_delays_on(mt.t.mm, SPF_DELAYS_VMA_WRITER);
	torture_run(&mt.t, mprotect_worker, NULL);
	spf_delays_off();
	for (c = 0; c < torture_workers(&mt.t); c++)
		accesses += mt.accesses[c];
	ktap_diag("%lu downgrade/upgrade rounds (%lu with the pages dropped while downgraded), %lu accesses",
		  mt.flips, mt.drops, accesses);
	TORTURE_EXPECT_WORK(&mt.t, mt.flips > 10 && accesses > 100, "too little done: %lu rounds, %lu accesses",
			    mt.flips, accesses);
	torture_end(&mt.t);
}

static const struct ktap_case mprotect_cases[] = { { "torture", mprotect_torture_run } };
KTAP_SUITE(mprotect_torture, mprotect_cases);
