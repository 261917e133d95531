/*
 * Suite "fork_torture": after fork, parent and child each see their own
 * writes only (mm/fork.c, (K)).
 *
 * Writers (user tasks of the parent) keep writing increasing values to
 * a word of their own in a few pages, publishing around each write the
 * value it starts and the value it completed; every access reads the
 * word first: it must hold their last write. Each page has two such words,
 * of two writers (its owner's and the next writer's), so that one writer
 * may break copy on write on a page while the other still writes through
 * a translation it cached before fork write-protected the page; a writer
 * writes a page now and then in a burst through its cached translation,
 * and answers fork's request for a write fault (fork_write_hint,
 * tests/spf_delays.h) while fork's PTEs are write-protected and not yet
 * flushed. Worker 0 forks the parent
 * over and over: it notes the values completed before fork, forks, notes
 * the values started by the time fork returned, then runs in the child
 * (its task switches to the child's address space):
 *   - each page must hold a value between the two notes (a write
 *     completed before fork is there; none started after fork returned);
 *   - a moment later, while the parent's writers go on (their writes now
 *     copy on write), each page must still hold what it held: a later
 *     write of the parent seen by the child is cow_leak;
 *   - the child then writes its own marks into half the pages; a
 *     writer that reads one back in the parent reports cow_leak.
 * Writes from ring 3; faults take whatever path fault= says.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/fork.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define PAGES_PER_WRITER	8
#define MAX_PAGES		(TORTURE_MAX_WORKERS * PAGES_PER_WRITER)
#define WORDS			2	/* per page: the owner's, then the next writer's */
#define CHILD_MARK		(1ull << 63)	/* in values the child writes */

/* Protection: (c) set before the workers start, (a) atomic (release by
 * the page's writer, acquire by the forker), (o) the page's writer only,
 * (k) the forker only. */
static struct {
	struct torture t;
	uintptr_t base;				/* (c) */
	unsigned int nr_pages;			/* (c) */
	uint64_t started[MAX_PAGES][WORDS];	/* (a) value of the write under way or last */
	uint64_t done[MAX_PAGES][WORDS];	/* (a) value of the last completed write */
	uint64_t last[MAX_PAGES][WORDS];	/* (o) */
	uint64_t lo[MAX_PAGES][WORDS], hi[MAX_PAGES][WORDS], seen[MAX_PAGES][WORDS];	/* (k) */
	unsigned long writes[TORTURE_MAX_WORKERS];	/* (o) */
	unsigned long forks, child_writes;	/* (k) */
} ft;

static uintptr_t word_va(unsigned int i, unsigned int w)
{
	return ft.base + (uintptr_t)i * PAGE_SIZE + w * sizeof(uint64_t);
}

static void writer(struct prng *rng, unsigned int me)
{
	unsigned int writers = torture_workers(&ft.t) - 1, prev = (me + writers - 2) % writers + 1;
	uint64_t seq = 0, v;
	unsigned int w = 0, i = 0, burst = 0;

	while (!torture_stopped(&ft.t)) {
		bool asked = false, single = false;
		if (!burst) {
			/* Word 0 of a page of its own, or word 1 of one of
			 * the previous writer's. */
			w = prng_below(rng, WORDS);
			i = ((w ? prev : me) - 1) * PAGES_PER_WRITER;
			/* Half the accesses go to the first page, which the
			 * two writers of a pair share hot: one's write fault
			 * there meets the other's writes. */
			if (prng_below(rng, 2))
				i += prng_below(rng, PAGES_PER_WRITER);
			/* A page now and then written in a burst, as a loop
			 * filling a buffer does: through the translation
			 * cached for it, while the other writer's write fault
			 * may copy the page. */
			burst = prng_below(rng, 4) == 0 ? prng_below(rng, 256) : 0;
			/* fork, its PTEs write-protected and not yet flushed,
			 * asks for a write fault (fork_write_hint): the hot
			 * page's second word, through no cached translation. */
			if (load_relaxed(&fork_write_hint) && atomic_xchg(&fork_write_hint, 0)) {
				w = 1;
				i = (prev - 1) * PAGES_PER_WRITER;
				burst = 0;
				asked = true;
			}
			single = !burst;
		} else {
			burst--;
		}
		uintptr_t a = word_va(i, w);
		/* Every access first reads the word back: it must hold the
		 * last write (a write lost to a copy on write shows at the
		 * next access, before another write can cover it). */
		if (user_read_u64(a, &v))
			report_error("lost_mapping", "fork_torture: writer %u: read of %lx faulted", me, a);
		else if (v != ft.last[i][w])
			report_error(v & CHILD_MARK ? "cow_leak" : "lost_write",
				     "fork_torture: writer %u: %lx holds %llx in the parent, its last "
				     "write was %llx%s", me, a, (unsigned long long)v,
				     (unsigned long long)ft.last[i][w],
				     v & CHILD_MARK ? " (a child's write)" : "");
		if (asked || prng_below(rng, 4)) {
			v = ((uint64_t)me << 40) | ++seq;
			/* A real TLB drops entries at any time, an emulator's
			 * seldom. The second writer of a page drops its
			 * translation before half its single writes, so they
			 * fault wherever the PTE is read-only; the first
			 * never does, nor does a burst, and either may keep a
			 * writable translation the other's write fault copies
			 * the page under. */
			if (asked || (single && w == 1 && prng_below(rng, 2)))
				invlpg(a);
			store_release(&ft.started[i][w], v);
			if (user_write_u64(a, v))
				report_error("lost_mapping", "fork_torture: writer %u: write to %lx faulted", me, a);
			store_release(&ft.done[i][w], v);
			ft.last[i][w] = v;
			ft.writes[me]++;
		}
		if (!burst)
			torture_delay(rng, 20000);
	}
}

/* In the child: does each page hold what fork should have given it? */
static void check_child(struct mm *child, bool again)
{
	for (unsigned int n = 0; n < ft.nr_pages * WORDS && !ktap_case_failed(); n++) {
		unsigned int i = n / WORDS, w = n % WORDS;
		uintptr_t a = word_va(i, w);
		uint64_t v;
		if (user_read_u64(a, &v)) {
			report_error("lost_mapping", "fork_torture: child mm %u: read of %lx faulted", child->id, a);
			return;
		}
		if (again && v != ft.seen[i][w])
			report_error("cow_leak", "fork_torture: child mm %u: %lx changed from %llx to %llx while "
				     "the parent wrote it after fork", child->id, a,
				     (unsigned long long)ft.seen[i][w], (unsigned long long)v);
		else if (!again && (v < ft.lo[i][w] || v > ft.hi[i][w]))
			report_error(v > ft.hi[i][w] ? "cow_leak" : "lost_write",
				     "fork_torture: child mm %u: %lx holds %llx; the parent had completed %llx "
				     "before fork and started %llx by its return", child->id, a,
				     (unsigned long long)v, (unsigned long long)ft.lo[i][w],
				     (unsigned long long)ft.hi[i][w]);
		ft.seen[i][w] = v;
	}
}

static void forker(struct prng *rng)
{
	struct mm *parent = ft.t.mm;

	while (torture_running(&ft.t)) {
		for (unsigned int i = 0; i < ft.nr_pages; i++)
			for (unsigned int w = 0; w < WORDS; w++)
				ft.lo[i][w] = load_acquire(&ft.done[i][w]);
		struct mm *child = vm_fork(parent);
		for (unsigned int i = 0; i < ft.nr_pages; i++)
			for (unsigned int w = 0; w < WORDS; w++)
				ft.hi[i][w] = load_acquire(&ft.started[i][w]);
		if (!child) {
			ktap_error("fork_torture: out of memory for a child");
			break;
		}
		mm_switch(child);
		check_child(child, false);
		ndelay(prng_below(rng, 2000000));	/* the parent writes on: copies on write */
		check_child(child, true);
		for (unsigned int i = 0; i < ft.nr_pages; i++) {
			if (prng_below(rng, 2))
				continue;
			uintptr_t a = word_va(i, prng_below(rng, WORDS));
			uint64_t v = CHILD_MARK | (ft.forks << 20) | i, back = 0;
			if (user_write_u64(a, v) || user_read_u64(a, &back) || back != v)
				report_error("lost_write", "fork_torture: child mm %u: its write of %llx to %lx "
					     "read back %llx", child->id, (unsigned long long)v, a,
					     (unsigned long long)back);
			ft.child_writes++;
		}
		mm_switch(parent);
		mm_destroy(child);
		ft.forks++;
		torture_delay(rng, 1000000);
	}
	torture_stop(&ft.t);
}

static void fork_worker(void *arg)
{
	struct prng rng;
	unsigned int me;

	(void)arg;
	torture_worker_start(&ft.t, &rng, 9900);
	me = torture_me();
	if (me == 0)
		forker(&rng);
	else
		writer(&rng, me);
}

static void fork_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	unsigned long writes = 0, cow_before = load_relaxed(&cow_copies);

	memset(&ft, 0, sizeof(ft));
	if (!torture_begin(&ft.t, &needs))
		return;
	ft.nr_pages = (torture_workers(&ft.t) - 1) * PAGES_PER_WRITER;
	long addr = vm_mmap(ft.t.mm, 0, ft.nr_pages * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	if (addr < 0) {
		KTAP_EXPECT(false, "mmap of %u pages failed (%ld)", ft.nr_pages, addr);
		torture_end(&ft.t);
		return;
	}
	ft.base = (uintptr_t)addr;
	torture_speculate(&ft.t, ft.base, ft.nr_pages * PAGE_SIZE);
	spf_delays_on(ft.t.mm, SPF_DELAYS_RANDOM);
	torture_run(&ft.t, fork_worker, NULL);
	spf_delays_off();
	for (unsigned int w = 0; w < torture_workers(&ft.t); w++)
		writes += ft.writes[w];
	unsigned long cows = load_relaxed(&cow_copies) - cow_before;
	ktap_diag("%lu forks, %lu writes in the parent, %lu writes in children, %lu pages copied on write",
		  ft.forks, writes, ft.child_writes, cows);
	TORTURE_EXPECT_WORK(&ft.t, ft.forks > 5 && writes > 100 && cows > 10,
			    "too little done: %lu forks, %lu writes, %lu copies on write", ft.forks, writes, cows);
	torture_end(&ft.t);
}

static const struct ktap_case fork_cases[] = { { "torture", fork_torture_run } };
KTAP_SUITE(fork_torture, fork_cases);
