/*
 * Suite "thp_torture": huge pages that are mapped, split and collapsed
 * while user tasks write, read and drop their memory, and lockless
 * walkers (speculative faults, gup_fast) cross the tables collapse
 * retracts (mm/huge.c, (H)).
 *
 * The run's memory is one VMA holding a 2 MiB-aligned span per owner.
 * Each owner (a worker) is the only writer of its span and keeps a shadow
 * of what each page holds: it writes a new value to a page, reads one
 * back, drops a few pages with madvise(DONTNEED) (never a whole span: a
 * huge page covered in part is split into a PTE table; no table is freed
 * except by collapse, so the cells where munmap's free is unsafe by
 * design still judge collapse alone), and now and then makes its span
 * read-only and back (a huge page is downgraded whole). Worker 0 is the
 * collapse thread (khugepaged): it collapses random spans into huge
 * pages, retracting their tables. The kernel threads beside the workers
 * take gup_fast references on the spans (torture_speculate()).
 *
 * Owners also write through gup_fast references (a driver's I/O into a
 * user buffer), and send half their accesses to one hot page, whose
 * translation then stays cached where a missing flush would leave it.
 *
 * What is checked: a read that returns anything but the owner's last
 * write (lost_write: a copy that missed a write, a write through a
 * translation that outlived the collapse or split, a page freed under
 * its mapping); a write that succeeds while the span is read-only
 * (stale_tlb); and the walkers' own checks of the tables they cross
 * (uaf_table), the free-time check that a retracted table is empty, and
 * the case's leak check.
 *
 * The suite turns thp on for its run whatever thp= says (no other suite
 * runs meanwhile) and restores it after.
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/gup.h"
#include "mm/huge.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define SPAN		LARGE_PAGE_SIZE
#define SPAN_PAGES	(SPAN / PAGE_SIZE)
#define DROP_MAX	32		/* pages one drop takes, at most */
#define MAX_SPANS	31		/* the shadow's 32 pages hold 31 spans' and one spare */
#define SHADOW_ORDER	5

/* Protection: (c) set before the workers start, (o) the span's owner
 * only, (k) the collapse worker only. */
static struct {
	struct torture t;
	uintptr_t base;			/* (c) first span, 2 MiB aligned */
	unsigned int nr_spans;		/* (c) one per owner */
	uint64_t *shadow;		/* (o) nr_spans * SPAN_PAGES: what each page holds */
	unsigned long writes[TORTURE_MAX_WORKERS], reads[TORTURE_MAX_WORKERS];	/* (o) */
	unsigned long drops[TORTURE_MAX_WORKERS], protects[TORTURE_MAX_WORKERS];	/* (o) */
	unsigned long gup_writes[TORTURE_MAX_WORKERS];	/* (o) */
	unsigned long collapse_calls;	/* (k) */
	uint64_t collapse_ns, collapse_max_ns;	/* (k) time in huge_collapse() */
} ht;

static uintptr_t page_va(unsigned int span, unsigned int page)
{
	return ht.base + span * SPAN + (uintptr_t)page * PAGE_SIZE;
}

/* Read page i of the span and compare with what the owner wrote last. */
static void check_page(unsigned int me, unsigned int span, unsigned int i, const char *when)
{
	uint64_t v = 0, want = ht.shadow[span * SPAN_PAGES + i];
	int r = user_read_u64(page_va(span, i), &v);

	if (r)
		report_error("lost_mapping", "thp_torture: owner %u: read of %lx faulted (%d)%s", me,
			     page_va(span, i), r, when);
	else if (v != want)
		report_error("lost_write", "thp_torture: owner %u: %lx holds %llx, its last write was "
			     "%llx%s", me, page_va(span, i), (unsigned long long)v,
			     (unsigned long long)want, when);
}

/*
 * Write through a gup_fast reference, as a driver doing I/O into a user
 * buffer does: the page must stay the one mapped at the address while
 * the reference is held (collapse gives up on a page with a reference
 * it does not own), so the write shows through the mapping after.
 */
static void gup_write(struct prng *rng, unsigned int me, unsigned int span, unsigned int i, uint64_t v)
{
	uint64_t *shadow = &ht.shadow[span * SPAN_PAGES];
	struct page *p;

	if (gup_fast(ht.t.mm, page_va(span, i), FAULT_WRITE, &p))
		return;		/* not mapped writable by a PTE: nothing taken */
	ndelay(prng_below(rng, 2000000));	/* a collapse may come by meanwhile */
	WRITE_ONCE(*(uint64_t *)page_address(p), v);
	shadow[i] = v;
	put_page(p);
	ht.gup_writes[me]++;
}

static void owner(struct prng *rng, unsigned int me)
{
	unsigned int span = me - 1;
	uint64_t *shadow = &ht.shadow[span * SPAN_PAGES];
	uint64_t seq = 0;
	unsigned int hot = 0;

	while (torture_running(&ht.t)) {
		unsigned int op = prng_below(rng, 100), i = prng_below(rng, SPAN_PAGES);
		/* Half the accesses go to one hot page, whose translation
		 * then stays cached: a flush that collapse or mprotect left
		 * out shows as a write through it. */
		if (prng_below(rng, 64) == 0)
			hot = prng_below(rng, SPAN_PAGES);
		if (prng_below(rng, 2))
			i = hot;
		if (op < 10) {
			gup_write(rng, me, span, i, ((uint64_t)me << 48) | ++seq);
		} else if (op < 50) {
			uint64_t v = ((uint64_t)me << 48) | ++seq;
			if (user_write_u64(page_va(span, i), v))
				report_error("lost_mapping", "thp_torture: owner %u: write to %lx faulted",
					     me, page_va(span, i));
			shadow[i] = v;
			ht.writes[me]++;
		} else if (op < 88) {
			check_page(me, span, i, "");
			ht.reads[me]++;
		} else if (op < 98) {
			/* A few pages, never the whole span: a huge page is
			 * split, a table keeps its other pages. */
			unsigned int n = 1 + prng_below(rng, DROP_MAX);
			if (i + n > SPAN_PAGES)
				i = SPAN_PAGES - n;
			vm_madvise_dontneed(ht.t.mm, page_va(span, i), (uintptr_t)n * PAGE_SIZE);
			memset(&shadow[i], 0, n * sizeof(*shadow));
			check_page(me, span, i, " after madvise(DONTNEED) dropped it");
			ht.drops[me]++;
		} else {
			/* Read-only and back, the whole span: a huge page is
			 * downgraded whole; no write may get through. */
			uint64_t v = ((uint64_t)me << 48) | ++seq;
			if (user_write_u64(page_va(span, i), v) == 0)	/* cached writable */
				shadow[i] = v;
			vm_mprotect(ht.t.mm, page_va(span, 0), SPAN, PROT_READ);
			if (user_write_u64(page_va(span, i), ~0ull) == 0)
				report_error("stale_tlb", "thp_torture: owner %u: write to %lx succeeded after "
					     "mprotect(PROT_READ) of its span returned", me, page_va(span, i));
			check_page(me, span, i, " while read-only");
			vm_mprotect(ht.t.mm, page_va(span, 0), SPAN, PROT_READ | PROT_WRITE);
			ht.protects[me]++;
		}
		torture_delay(rng, 50000);
	}
	/* Every page once more: nothing lost at the end either. */
	for (unsigned int i = 0; i < SPAN_PAGES && !ktap_case_failed(); i++)
		check_page(me, span, i, " (final pass)");
}

static void collapser(struct prng *rng)
{
	while (torture_running(&ht.t)) {
		/* A span a walker waits in (tests/spf_delays.h) first. */
		uintptr_t span = atomic_xchg(&collapse_hint, 0);
		if (span < ht.base || span >= ht.base + ht.nr_spans * SPAN) {
			/* Half the time a random span; else wait a little
			 * for a walker to ask. */
			if (prng_below(rng, 2)) {
				uint64_t end = rdtsc() + ns_to_tsc(2000000);
				while (!load_relaxed(&collapse_hint) && rdtsc() < end)
					cpu_relax();
				continue;
			}
			span = ht.base + prng_below(rng, ht.nr_spans) * SPAN;
		}
		uint64_t t0 = rdtsc();
		huge_collapse(ht.t.mm, span);
		uint64_t ns = tsc_to_ns(rdtsc() - t0);
		ht.collapse_ns += ns;
		if (ns > ht.collapse_max_ns)
			ht.collapse_max_ns = ns;
		ht.collapse_calls++;
		if (!load_relaxed(&collapse_hint))
			torture_delay(rng, 200000);
	}
}

static void thp_worker(void *arg)
{
	struct prng rng;
	unsigned int me;

	(void)arg;
	torture_worker_start(&ht.t, &rng, 9800);
	me = torture_me();
	if (me == 0)
		collapser(&rng);
	else if (me - 1 < ht.nr_spans)
		owner(&rng, me);
}

static void thp_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	struct huge_stats before, after;
	unsigned long writes = 0, reads = 0, drops = 0, protects = 0, gup_writes = 0;
	int thp_was = thp_enabled;

	memset(&ht, 0, sizeof(ht));
	if (!torture_begin(&ht.t, &needs))
		return;
	ht.nr_spans = torture_workers(&ht.t) - 1;
	if (ht.nr_spans > MAX_SPANS)
		ht.nr_spans = MAX_SPANS;	/* the other workers only run */
	struct page *sp = alloc_pages(SHADOW_ORDER, PAGE_TEST);
	ht.shadow = sp ? page_address(sp) : NULL;
	long addr = vm_mmap(ht.t.mm, 0, (ht.nr_spans + 1) * SPAN, PROT_READ | PROT_WRITE, 0);
	if (!ht.shadow || addr < 0) {
		KTAP_EXPECT(false, "no memory for %u spans", ht.nr_spans);
		if (sp)
			free_pages(sp, SHADOW_ORDER);
		torture_end(&ht.t);
		return;
	}
	memset(ht.shadow, 0, ht.nr_spans * SPAN_PAGES * sizeof(uint64_t));
	ht.base = ((uintptr_t)addr + SPAN - 1) & ~(SPAN - 1);
	torture_speculate(&ht.t, ht.base, ht.nr_spans * SPAN);
	spf_delays_on(ht.t.mm, SPF_DELAYS_WAIT_FOR_COLLAPSE);
	thp_enabled = 1;
	huge_stats_get(&before);
	torture_run(&ht.t, thp_worker, NULL);
	huge_stats_get(&after);
	thp_enabled = thp_was;
	spf_delays_off();
	for (unsigned int w = 0; w < torture_workers(&ht.t); w++) {
		writes += ht.writes[w];
		reads += ht.reads[w];
		drops += ht.drops[w];
		protects += ht.protects[w];
		gup_writes += ht.gup_writes[w];
	}
	uint64_t done = after.collapse[COLLAPSE_DONE] - before.collapse[COLLAPSE_DONE];
	ktap_diag("%u spans: %lu writes, %lu reads, %lu drops, %lu read-only rounds, %lu writes through "
		  "gup_fast references", ht.nr_spans, writes, reads, drops, protects, gup_writes);
	ktap_diag("collapse: %llu us on average, %llu us at most",
		  (unsigned long long)(ht.collapse_ns / (ht.collapse_calls ? ht.collapse_calls : 1) / 1000),
		  (unsigned long long)(ht.collapse_max_ns / 1000));
	ktap_diag("thp: huge_faults=%llu splits=%llu collapse_calls=%lu done=%llu pinned=%llu no_table=%llu "
		  "empty=%llu nomem=%llu", (unsigned long long)(after.faults - before.faults),
		  (unsigned long long)(after.splits - before.splits), ht.collapse_calls,
		  (unsigned long long)done,
		  (unsigned long long)(after.collapse[COLLAPSE_PINNED] - before.collapse[COLLAPSE_PINNED]),
		  (unsigned long long)(after.collapse[COLLAPSE_NO_TABLE] - before.collapse[COLLAPSE_NO_TABLE]),
		  (unsigned long long)(after.collapse[COLLAPSE_EMPTY] - before.collapse[COLLAPSE_EMPTY]),
		  (unsigned long long)(after.collapse[COLLAPSE_NOMEM] - before.collapse[COLLAPSE_NOMEM]));
	TORTURE_EXPECT_WORK(&ht.t, writes > 100 && drops > 10 && done > 5 &&
			    after.splits - before.splits > 5 && after.faults - before.faults > 5,
			    "too little done: %lu writes, %lu drops, %llu collapses, %llu splits, %llu huge faults",
			    writes, drops, (unsigned long long)done,
			    (unsigned long long)(after.splits - before.splits),
			    (unsigned long long)(after.faults - before.faults));
	free_pages(sp, SHADOW_ORDER);
	torture_end(&ht.t);
}

static const struct ktap_case thp_cases[] = { { "torture", thp_torture_run } };
KTAP_SUITE(thp_torture, thp_cases);
