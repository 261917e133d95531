/*
 * Suite "page_alloc": patterns survive, blocks are aligned and disjoint,
 * the per-CPU caches work under SMP, poison is laid on free and checked
 * on allocation (a deliberate write after free is caught), and a double
 * free is caught (inject=page_double_free turns that check off, and this
 * suite must then fail).
 */
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/worker.h"
#include "mm/page_alloc.h"
#include "tests/ktap.h"

static void fill(struct page *p, unsigned int order, uint64_t tag)
{
	uint64_t *w = page_address(p);
	for (size_t i = 0; i < (PAGE_SIZE / 8) << order; i++)
		w[i] = tag ^ i;
}

/* Returns the index of the first word that differs, or -1. */
static long verify(struct page *p, unsigned int order, uint64_t tag)
{
	uint64_t *w = page_address(p);
	for (size_t i = 0; i < (PAGE_SIZE / 8) << order; i++)
		if (w[i] != (tag ^ i))
			return i;
	return -1;
}

static void patterns_and_alignment(void)
{
	struct page *pages[64];
	unsigned int orders[64];
	struct prng rng;

	prng_init(&rng, global_seed, 1);
	for (int i = 0; i < 64; i++) {
		orders[i] = prng_below(&rng, 5);
		pages[i] = alloc_pages(orders[i], PAGE_TEST);
		KTAP_ASSERT(pages[i], "out of memory at block %d", i);
		uint64_t pfn = page_to_phys(pages[i]) >> PAGE_SHIFT;
		KTAP_EXPECT(!(pfn & ((1ul << orders[i]) - 1)), "order-%u block at pfn 0x%lx unaligned",
			    orders[i], pfn);
		KTAP_EXPECT(page_poison_intact(pages[i]), "fresh page not poisoned");
		fill(pages[i], orders[i], 0xa5a5000000000000ull | (uint64_t)i << 32);
	}
	for (int i = 0; i < 64; i++) {
		long bad = verify(pages[i], orders[i], 0xa5a5000000000000ull | (uint64_t)i << 32);
		KTAP_EXPECT(bad < 0, "block %d word %ld overwritten (overlapping blocks)", i, bad);
		free_pages(pages[i], orders[i]);
		KTAP_EXPECT(page_poison_intact(pages[i]), "freed page not poisoned");
	}
}

static void accounting(void)
{
	long before = pages_in_use(PAGE_TEST);
	uint64_t free_before = pages_free();
	struct page *p = alloc_pages(3, PAGE_TEST);

	KTAP_ASSERT(p, "out of memory");
	KTAP_EXPECT(pages_in_use(PAGE_TEST) == before + 8, "in use %ld, expected %ld",
		    pages_in_use(PAGE_TEST), before + 8);
	KTAP_EXPECT(pages_free() == free_before - 8, "free %lu, expected %lu", pages_free(),
		    free_before - 8);
	free_pages(p, 3);
	KTAP_EXPECT(pages_in_use(PAGE_TEST) == before, "in use %ld after free", pages_in_use(PAGE_TEST));
}

static void write_after_free_caught(void)
{
	struct page *p = alloc_page(PAGE_TEST), *q;

	KTAP_ASSERT(p, "out of memory");
	free_page(p);
	/* The bug being simulated: a stale pointer writes to the freed page. */
	((uint64_t *)page_address(p))[17] = 0x5555;
	ktap_expect_error_begin("write_after_free");
	/* This CPU's cache is LIFO: the next allocation is the same page. */
	q = alloc_page(PAGE_TEST);
	unsigned long seen = ktap_expect_error_end();
	KTAP_EXPECT(q == p, "allocator did not hand back the freed page");
	KTAP_EXPECT(seen == 1, "write after free reported %lu times, expected once", seen);
	if (q)
		free_page(q);

	/* The same through the zeroing allocation (the page fault's), which
	 * checks while it clears; a write in the last word of the page. */
	p = alloc_page(PAGE_TEST);
	KTAP_ASSERT(p, "out of memory");
	free_page(p);
	((uint64_t *)page_address(p))[PAGE_SIZE / 8 - 1] = 0x6666;
	ktap_expect_error_begin("write_after_free");
	q = alloc_page_zeroed(PAGE_TEST);
	seen = ktap_expect_error_end();
	KTAP_EXPECT(q == p, "allocator did not hand back the freed page");
	KTAP_EXPECT(seen == 1, "write after free (zeroing allocation) reported %lu times", seen);
	KTAP_EXPECT(q && !((uint64_t *)page_address(q))[PAGE_SIZE / 8 - 1], "page not zeroed");
	if (q)
		free_page(q);
}

static void double_free_caught(void)
{
	struct page *p = alloc_page(PAGE_TEST), *a, *b;

	KTAP_ASSERT(p, "out of memory");
	free_page(p);
	ktap_expect_error_begin("double_free");
	free_page(p);			/* the bug being simulated */
	unsigned long seen = ktap_expect_error_end();
	KTAP_EXPECT(seen == 1, "double free of pfn 0x%lx not detected",
		    (unsigned long)(page_to_phys(p) >> PAGE_SHIFT));

	/* What an undetected double free does: the page is handed out twice. */
	a = alloc_page(PAGE_TEST);
	b = alloc_page(PAGE_TEST);
	KTAP_ASSERT(a && b, "out of memory");
	if (a == b) {
		report_error("double_free", "pfn 0x%lx handed out twice",
			     (unsigned long)(page_to_phys(a) >> PAGE_SHIFT));
		free_page(a);
		return;
	}
	free_page(a);
	free_page(b);
}

/* SMP: every CPU allocates and frees random orders, tagging each block
 * with (cpu, sequence); a tag that changes while held means two CPUs got
 * the same memory. Frees go through other CPUs' caches too. */
#define STRESS_MIN_OPS 1000

struct stress {
	uint64_t end_tsc, hard_end_tsc;
	struct page *handoff[MAX_CPUS];	/* (a) pages passed to the next CPU */
	unsigned long ops[MAX_CPUS];
};

static void stress_worker(void *arg)
{
	struct stress *s = arg;
	unsigned int me = smp_processor_id();
	struct prng rng;
	struct page *held[16] = { 0 };
	unsigned int order[16] = { 0 };
	uint64_t tag[16] = { 0 };
	unsigned long n = 0;

	prng_init(&rng, global_seed, 100 + me);
	/* At least a second, and on until this CPU did its share of the
	 * work asked for: a host that deschedules the vCPUs stretches the
	 * time, not the check (bounded by hard_end_tsc). */
	while ((rdtsc() < s->end_tsc || n < STRESS_MIN_OPS / nr_cpus_online + 1) &&
	       rdtsc() < s->hard_end_tsc) {
		unsigned int i = prng_below(&rng, 16);
		if (held[i]) {
			long bad = verify(held[i], order[i], tag[i]);
			if (bad >= 0)
				report_error("page_shared", "cpu %u: block at pfn 0x%lx word %ld changed while held",
					     me, (unsigned long)(page_to_phys(held[i]) >> PAGE_SHIFT), bad);
			/* Hand order-0 pages to a neighbour to free remotely. */
			if (!order[i] && prng_below(&rng, 2)) {
				struct page *old = atomic_xchg(&s->handoff[me], held[i]);
				if (old)
					free_page(old);
			} else {
				free_pages(held[i], order[i]);
			}
			held[i] = NULL;
		} else {
			order[i] = prng_below(&rng, 3);
			held[i] = alloc_pages(order[i], PAGE_TEST);
			if (!held[i])
				continue;
			tag[i] = (uint64_t)me << 48 | n;
			fill(held[i], order[i], tag[i]);
		}
		n++;
		/* Free what the previous CPU handed over. */
		unsigned int prev = me ? me - 1 : MAX_CPUS - 1;
		while (prev != me && !cpumask_test(&cpu_online_mask, prev))
			prev = prev ? prev - 1 : MAX_CPUS - 1;
		struct page *in = atomic_xchg(&s->handoff[prev], NULL);
		if (in)
			free_page(in);
	}
	for (int i = 0; i < 16; i++)
		if (held[i])
			free_pages(held[i], order[i]);
	s->ops[me] = n;
}

static void smp_stress(void)
{
	static struct stress s;
	unsigned long total = 0;
	unsigned int c;

	for (c = 0; c < MAX_CPUS; c++) {
		s.handoff[c] = NULL;
		s.ops[c] = 0;
	}
	s.end_tsc = rdtsc() + ns_to_tsc(1000000000ull);
	s.hard_end_tsc = rdtsc() + ns_to_tsc(60000000000ull);
	workers_run_all(stress_worker, &s, 0);
	for (c = 0; c < MAX_CPUS; c++) {
		if (s.handoff[c])
			free_page(s.handoff[c]);
		total += s.ops[c];
	}
	ktap_diag("%lu alloc/free operations on %u CPUs", total, nr_cpus_online);
	KTAP_EXPECT(total > STRESS_MIN_OPS, "only %lu operations in 60 s", total);
}

static const struct ktap_case page_alloc_cases[] = {
	KTAP_CASE(patterns_and_alignment),
	KTAP_CASE(accounting),
	KTAP_CASE(write_after_free_caught),
	KTAP_CASE(double_free_caught),
	KTAP_CASE(smp_stress),
};
KTAP_SUITE(page_alloc, page_alloc_cases);
