/*
 * Suite "unmap_torture": one mapper, everyone else reads.
 *
 * One CPU moves ranges side by side through the phases of
 * tests/trange.h (map, zap, unmap) while every other CPU reads them and
 * classifies each read. Faults get random delays and now and then wait
 * for the munmap of their range before they commit (tests/spf_delays.h).
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/spf.h"
#include "tests/ktap.h"
#include "tests/spf_stats.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"
#include "tests/trange.h"

#define UNMAP_RANGES	8
#define UNMAP_PAGES	8

/* Protection: (m) the mapper's CPU only, (o) each CPU its own slot. */
static struct {
	struct torture t;
	struct trange r[UNMAP_RANGES];
	unsigned long steps;		/* (m) */
	unsigned long reads[TORTURE_MAX_WORKERS];	/* (o) each worker its own */
} ut;

/*
 * Now and then a reader holds a translation across the munmap of its
 * range: it reads a tagged page (its TLB now caches the translation),
 * then with interrupts off, so that the munmap's flush waits for it,
 * waits for the range to be unmapped (wait_for_unmap()) and reads the
 * page again. Through the cached translation it must still see the tag:
 * munmap frees the page only after the flush. A page freed before the
 * flush reads as poison (wrong_data).
 */
static void read_across_unmap(struct trange *t, unsigned int i)
{
	uintptr_t addr = t->addr + i * PAGE_SIZE;
	uint64_t v;

	if (PH(load_acquire(&t->state)) != PH_LIVE || user_read_u64(addr, &v))
		return;
	uint64_t flags = irq_save();
	wait_for_unmap(ut.t.mm, addr);
	range_check_read(t, i, "unmap_torture");
	irq_restore(flags);
}

/* The range a VMA-lock reader waits for a write of (vma_write_hint), or
 * a random one. */
static struct trange *next_range(struct prng *rng)
{
	uintptr_t h = atomic_xchg(&vma_write_hint, 0);

	for (unsigned int i = 0; h && i < UNMAP_RANGES; i++)
		if (h >= ut.r[i].addr && h < ut.r[i].addr + ut.r[i].npages * PAGE_SIZE)
			return &ut.r[i];
	return &ut.r[prng_below(rng, UNMAP_RANGES)];
}

static void mapper(struct prng *rng)
{
	while (torture_running(&ut.t)) {
		range_step(ut.t.mm, next_range(rng), rng);
		ut.steps++;
		torture_delay(rng, 500000);
	}
	torture_stop(&ut.t);
}

static void reader(struct prng *rng)
{
	unsigned int me = torture_me();

	while (!torture_stopped(&ut.t)) {
		struct trange *t = &ut.r[prng_below(rng, UNMAP_RANGES)];
		/* Half the reads go to tagged pages (their own data pages,
		 * which munmap frees), half anywhere (faults, zero page). */
		unsigned int i = prng_below(rng, t->npages);
		if (prng_below(rng, 2))
			i &= ~3u;
		if (range_page_tagged(i) && prng_below(rng, 1024) == 0)
			read_across_unmap(t, i);
		else
			range_check_read(t, i, "unmap_torture");
		ut.reads[me]++;
	}
}

static void unmap_worker(void *arg)
{
	struct prng rng;

	(void)arg;
	torture_worker_start(&ut.t, &rng, 8000);
	if (torture_me() == ut.r[0].owner)
		mapper(&rng);
	else
		reader(&rng);
}

static void unmap_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	uint64_t s0[NR_SPF_STATS];
	unsigned long reads = 0;
	unsigned int c;

	memset(&ut, 0, sizeof(ut));
	if (!torture_begin(&ut.t, &needs))
		return;
	/* Ranges side by side in one 2 MiB span: the PTE table outlives each
	 * munmap, so a PTE left behind would stay visible. */
	for (int i = 0; i < UNMAP_RANGES; i++)
		range_init(&ut.r[i], MMAP_BASE + i * UNMAP_PAGES * PAGE_SIZE, UNMAP_PAGES, 0);
	torture_speculate(&ut.t, MMAP_BASE, UNMAP_RANGES * UNMAP_PAGES * PAGE_SIZE);
	spf_stats_get(s0);
	spf_delays_on(ut.t.mm, SPF_DELAYS_WAIT_FOR_UNMAP);
	torture_run(&ut.t, unmap_worker, NULL);
	spf_delays_off();
	for (c = 0; c < torture_workers(&ut.t); c++)
		reads += ut.reads[c];
	ktap_diag("%lu map/madvise/unmap steps, %lu classified reads", ut.steps, reads);
	spf_stats_print(s0);
	TORTURE_EXPECT_WORK(&ut.t, ut.steps > 10 && reads > 100, "too little done: %lu steps, %lu reads",
			    ut.steps, reads);
	torture_end(&ut.t);
}

static const struct ktap_case unmap_cases[] = { { "torture", unmap_torture_run } };
KTAP_SUITE(unmap_torture, unmap_cases);
