/*
 * Suite "fault_torture": every CPU faults every page.
 *
 * All CPUs read and write random pages of one region (zero-page maps,
 * zero-page upgrades, fresh pages, races on one page), each CPU owning
 * one word of every page. Now and then the owner of a 2 MiB span drops
 * the whole span with madvise(DONTNEED), which also gives its PTE table
 * back while other CPUs fault in it. A CPU knows the value of its word
 * unless a drop started since it wrote: drop_begin counts drops started
 * (bumped before the zap), drop_end those finished.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/spf.h"
#include "tests/ktap.h"
#include "tests/spf_stats.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define FT_SPANS	4
#define FT_PAGES	(FT_SPANS * 512)

/* Protection: (c) set before the workers start, (a) atomic, (o) each worker its own slot. */
static struct {
	struct torture t;
	uintptr_t base;			/* (c) */
	uint64_t drop_begin[FT_SPANS];	/* (a) */
	uint64_t drop_end[FT_SPANS];	/* (a) */
	unsigned int span_owner[FT_SPANS];	/* (c) */
	unsigned long ops[TORTURE_MAX_WORKERS], drops[TORTURE_MAX_WORKERS];	/* (o) each worker its own */
} ft;

struct ft_expect {
	uint64_t val;
	uint64_t drops;		/* drop_begin when val became certain; ~0: unknown */
};

static void fault_worker(void *arg)
{
	unsigned int me = torture_me();
	static struct ft_expect exp[TORTURE_MAX_WORKERS][FT_PAGES];
	struct ft_expect *e = exp[me];
	uint64_t n = 0;
	struct prng rng;

	(void)arg;
	for (unsigned int i = 0; i < FT_PAGES; i++)
		e[i] = (struct ft_expect){ 0, 0 };
	torture_worker_start(&ft.t, &rng, 6000);
	while (torture_running(&ft.t)) {
		unsigned int i = prng_below(&rng, FT_PAGES), span = i / 512;
		uintptr_t a = ft.base + (uintptr_t)i * PAGE_SIZE + 8 * me;
		uint64_t v = 0;

		if (ft.span_owner[span] == me && prng_below(&rng, 16) == 0) {
			atomic_inc(&ft.drop_begin[span]);
			vm_madvise_dontneed(ft.t.mm, ft.base + (uintptr_t)span * 512 * PAGE_SIZE,
					    512 * PAGE_SIZE);
			atomic_inc(&ft.drop_end[span]);
			ft.drops[me]++;
			continue;
		}
		if (prng_below(&rng, 2)) {
			/* Read: the word holds what this CPU last wrote, or 0 if a
			 * drop may have come in between. */
			int r = user_read_u64(a, &v);
			uint64_t b = load_acquire(&ft.drop_begin[span]);
			if (r) {
				report_error("lost_mapping", "fault_torture: cpu %u: read of %lx faulted", me, a);
				break;
			}
			if (e[i].drops == b && v != e[i].val)
				report_error(v == 0 ? "lost_write" : "wrong_data",
					     "fault_torture: cpu %u: %lx holds %lx, expected %lx (no drop since "
					     "the write)", me, a, v, e[i].val);
			else if (e[i].drops != b && v != e[i].val && v != 0)
				report_error("wrong_data", "fault_torture: cpu %u: %lx holds %lx, expected "
					     "%lx or 0", me, a, v, e[i].val);
		} else {
			uint64_t val = (uint64_t)(me + 1) << 48 | ++n;
			uint64_t b0 = load_acquire(&ft.drop_begin[span]);
			if (user_write_u64(a, val)) {
				report_error("lost_mapping", "fault_torture: cpu %u: write to %lx faulted", me, a);
				break;
			}
			uint64_t e1 = load_acquire(&ft.drop_end[span]);
			uint64_t b1 = load_acquire(&ft.drop_begin[span]);
			/* Certain only if no drop started during the write and
			 * none was running. */
			e[i] = (struct ft_expect){ val, b0 == b1 && b1 == e1 ? b1 : ~0ull };
		}
		ft.ops[me]++;
	}
}

/* Span s is dropped by worker s mod workers. */
static void assign_span_owners(void)
{
	for (unsigned int s = 0; s < FT_SPANS; s++)
		ft.span_owner[s] = s % torture_workers(&ft.t);
}

static void fault_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 1, .mm = TORTURE_OWN_MM };
	uint64_t s0[NR_SPF_STATS];
	unsigned long ops = 0, drops = 0;
	unsigned int c;

	memset(&ft, 0, sizeof(ft));
	if (!torture_begin(&ft.t, &needs))
		return;
	/* 2 MiB aligned, so each span is one PTE table. */
	ft.base = MMAP_BASE;
	KTAP_ASSERT(vm_mmap(ft.t.mm, ft.base, FT_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED) > 0,
		    "mmap failed");
	assign_span_owners();
	torture_speculate(&ft.t, ft.base, FT_PAGES * PAGE_SIZE);
	spf_stats_get(s0);
	spf_delays_on(ft.t.mm, SPF_DELAYS_RANDOM);
	torture_run(&ft.t, fault_worker, NULL);
	spf_delays_off();
	for (c = 0; c < torture_workers(&ft.t); c++) {
		ops += ft.ops[c];
		drops += ft.drops[c];
	}
	ktap_diag("%lu checked accesses, %lu span drops", ops, drops);
	spf_stats_print(s0);
	TORTURE_EXPECT_WORK(&ft.t, ops > 1000, "too little done: %lu accesses", ops);
	torture_end(&ft.t);
}

static const struct ktap_case fault_cases[] = { { "torture", fault_torture_run } };
KTAP_SUITE(fault_torture, fault_cases);
