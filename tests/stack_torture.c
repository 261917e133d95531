/*
 * Suite "stack_torture": stacks that grow down on faults ((T) in
 * mm/mmap.c) in one address space, all at once.
 *
 * Every worker owns a stack: a MAP_GROWSDOWN VMA of one page at the top
 * of an area of its own, with a gap of unmapped pages below it. It pushes
 * values onto it (a write to the page just below what it has used, or a
 * few pages further down: the fault grows the stack), reads back pages it
 * pushed, pops, and now and then gives the pages below its depth back
 * (munmap), so that the next pushes grow the stack again. Every push and
 * read must succeed (lost_mapping) and a read must find the value pushed
 * there last (lost_write). Now and then a worker reads a page of another
 * worker's stack, which grows that stack if it reaches below it, racing
 * with the owner's own growths and munmaps: it must succeed and find 0
 * or a value the owner pushed there. Growth replaces the stack's VMA, so the
 * workers' faults replace VMAs of one mm all the time: a growth made
 * without mmap_lock for write loses another one, or leaves a freed VMA in
 * the array (uaf_vma).
 * Pushes and reads from ring 3; faults take whatever path fault= says.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define STACK_PAGES	64			/* deepest a stack gets */
#define AREA_PAGES	(2 * STACK_PAGES)	/* a stack's area: the gap below it, then the stack */

/* Protection: (c) set before the workers start, (o) each worker its
 * own, (a) atomic. */
static struct {
	struct torture t;
	uintptr_t base;				/* (c) */
	uint64_t val[TORTURE_MAX_WORKERS][STACK_PAGES];	/* (o) page k below the top: its value */
	unsigned long pushes[TORTURE_MAX_WORKERS], reads[TORTURE_MAX_WORKERS];	/* (o) */
	int mapped[TORTURE_MAX_WORKERS];	/* (a) the worker's stack is mapped */
	unsigned long shrinks[TORTURE_MAX_WORKERS], stranger_reads[TORTURE_MAX_WORKERS];	/* (o) */
} st;

/* The end of worker w's stack (its first page is just below). */
static uintptr_t stack_top(unsigned int w)
{
	return st.base + (uintptr_t)(w + 1) * AREA_PAGES * PAGE_SIZE;
}

static uintptr_t stack_page(unsigned int w, unsigned int k)
{
	return stack_top(w) - (uintptr_t)(k + 1) * PAGE_SIZE;
}

/*
 * Read a page of another worker's stack, at most STACK_PAGES deep: it
 * grows that stack when it reaches below it, racing with its owner's
 * pushes, which may grow it too, and with its munmaps. It must succeed
 * and find 0 or a value the owner pushed to that page.
 */
static void stranger_read(struct prng *rng, unsigned int me)
{
	unsigned int w = prng_below(rng, torture_workers(&st.t)), k = prng_below(rng, STACK_PAGES);
	uint64_t v;

	/* Not before w has its stack: the gap would belong to the stack
	 * above it, which may grow this far. */
	if (!load_acquire(&st.mapped[w]))
		return;

	if (user_read_u64(stack_page(w, k), &v))
		report_error("lost_mapping", "stack_torture: worker %u: read of %lx (page %u of worker %u's "
			     "stack) faulted", me, stack_page(w, k), k, w);
	else if (v && v >> 40 != ((uint64_t)w << 8 | k))
		report_error("stale_tlb", "stack_torture: worker %u: %lx (page %u of worker %u's stack) holds "
			     "%llx, not a value pushed there", me, stack_page(w, k), k, w, (unsigned long long)v);
	st.stranger_reads[me]++;
}

static void stack_worker(void *arg)
{
	struct prng rng;
	uint64_t count = 0, v;
	unsigned int depth = 1, low = 1;	/* pages in use; pages the VMA has */

	(void)arg;
	torture_worker_start(&st.t, &rng, 9970);
	unsigned int me = torture_me();
	uint64_t *val = st.val[me];
	long r = vm_mmap(st.t.mm, stack_page(me, 0), PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_GROWSDOWN);
	if (r < 0) {
		ktap_error("stack_torture: worker %u: mmap of its stack: %ld", me, r);
		return;
	}
	store_release(&st.mapped[me], 1);
	while (torture_running(&st.t)) {
		unsigned int op = prng_below(&rng, 8);
		if (op < 4 && depth < STACK_PAGES) {
			/* Push, sometimes skipping a few pages (they read 0). */
			unsigned int k = depth + prng_below(&rng, 4);
			if (k >= STACK_PAGES)
				k = STACK_PAGES - 1;
			v = (uint64_t)me << 48 | (uint64_t)k << 40 | ++count;
			if (user_write_u64(stack_page(me, k), v)) {
				report_error("lost_mapping", "stack_torture: worker %u: push to %lx (page %u of the "
					     "stack, %u in use, %u mapped) faulted", me, stack_page(me, k), k, depth,
					     low);
				break;
			}
			for (unsigned int j = depth; j < k; j++)
				if (j >= low)
					val[j] = 0;	/* grown over, never written */
			val[k] = v;
			depth = k + 1;
			if (depth > low)
				low = depth;
			st.pushes[me]++;
		} else if (op < 6) {
			unsigned int k = prng_below(&rng, depth);
			if (user_read_u64(stack_page(me, k), &v))
				report_error("lost_mapping", "stack_torture: worker %u: read of %lx (page %u of the "
					     "stack, %u in use) faulted", me, stack_page(me, k), k, depth);
			else if (v != val[k])
				report_error("lost_write", "stack_torture: worker %u: %lx (page %u of the stack) holds "
					     "%llx, pushed there last: %llx", me, stack_page(me, k), k,
					     (unsigned long long)v, (unsigned long long)val[k]);
			st.reads[me]++;
		} else if (op < 7) {
			depth -= prng_below(&rng, depth);	/* pop; at least one page stays */
		} else if (prng_below(&rng, 2)) {
			stranger_read(&rng, me);
		} else if (depth < STACK_PAGES) {
			/* Give back every page below the depth (also those
			 * other workers' reads grew: a hole would leave the
			 * stack's lower part as the VMA under the gap, closer
			 * than the guard gap): the stack shrinks, and grows
			 * again on the next pushes. */
			r = vm_munmap(st.t.mm, stack_page(me, STACK_PAGES - 1), (STACK_PAGES - depth) * PAGE_SIZE);
			if (r)
				ktap_error("stack_torture: worker %u: munmap of its stack's pages %u-%u: %ld", me,
					   depth, STACK_PAGES - 1, r);
			low = depth;
			st.shrinks[me]++;
		}
		torture_delay(&rng, 20000);
	}
}

static void stack_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	unsigned long pushes = 0, reads = 0, shrinks = 0, strangers = 0, grown_before = load_relaxed(&stack_growths);

	memset(&st, 0, sizeof(st));
	if (!torture_begin(&st.t, &needs))
		return;
	/* A place for every possible worker's area; each worker maps a
	 * stack of one page at the top of its own. */
	uintptr_t len = (uintptr_t)TORTURE_MAX_WORKERS * AREA_PAGES * PAGE_SIZE;
	long addr = vm_mmap(st.t.mm, 0, len, PROT_READ, 0);
	if (addr < 0) {
		KTAP_EXPECT(false, "no room for the stacks (%ld)", addr);
		torture_end(&st.t);
		return;
	}
	vm_munmap(st.t.mm, (uintptr_t)addr, len);
	st.base = (uintptr_t)addr;
	spf_delays_on(st.t.mm, SPF_DELAYS_RANDOM);
	torture_run(&st.t, stack_worker, NULL);
	spf_delays_off();
	for (unsigned int w = 0; w < torture_workers(&st.t); w++) {
		pushes += st.pushes[w];
		reads += st.reads[w];
		shrinks += st.shrinks[w];
		strangers += st.stranger_reads[w];
	}
	unsigned long grown = load_relaxed(&stack_growths) - grown_before;
	ktap_diag("%u stacks: %lu pushes, %lu growths, %lu shrinks, %lu reads, %lu of other stacks",
		  torture_workers(&st.t), pushes, grown, shrinks, reads, strangers);
	TORTURE_EXPECT_WORK(&st.t, pushes > 100 && grown > 20 && shrinks > 10,
			    "too little done: %lu pushes, %lu growths, %lu shrinks", pushes, grown, shrinks);
	torture_end(&st.t);
}

static const struct ktap_case stack_cases[] = { { "torture", stack_torture_run } };
KTAP_SUITE(stack_torture, stack_cases);
