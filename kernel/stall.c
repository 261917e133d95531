/*
 * Stall points: see kernel/stall.h. The stall= option chooses the set;
 * stall_arm()/stall_disarm() bracket a torture suite's workers.
 */
#include "kernel/stall.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/string.h"

/*
 * Protection: (c) written while no CPU passes an armed point (stall=
 * at boot, stall_arm()/stall_disarm() between a suite's runs); (o) each
 * CPU its own, read by stall_fired() as a sum of plain loads.
 */
int stall_active;							/* (c) */
static void (*stall_test_hook)(const struct stall_point *p, const void *ctx);	/* (c) */
static struct prng rng[MAX_CPUS];					/* (o) */
static unsigned long fired[MAX_CPUS][STALL_MAX_POINTS];		/* (o) */
/* A CPU holds across grace periods again only from here on: each hold
 * of d is followed by 9 d without one, so holds take at most a tenth of
 * a CPU however often its points are passed. (o), but written after a
 * hold by the CPU the task then runs on, for the CPU it started on:
 * a stale value only moves one hold. */
static uint64_t hold_ok_tsc[MAX_CPUS];
static unsigned long held[MAX_CPUS][STALL_MAX_POINTS];		/* (o) */
static char stall_opt[512] = "all";					/* (c) stall= */

static unsigned int nr_points(void)
{
	return (unsigned int)(__stall_points_end - __stall_points_start);
}

static struct stall_point *find_point(const char *name, size_t len)
{
	for_each_stall_point(p)
		if (strlen(p->name) == len && !strncmp(p->name, name, len))
			return p;
	return NULL;
}

/*
 * stall=all, stall=none or stall=NAME[,NAME...]: set each point's armed
 * flag, or name the first word that is no point.
 */
static bool stall_parse(const char *v, char *err, size_t errlen)
{
	bool all = !strcmp(v, "all"), none = !strcmp(v, "none");

	if (nr_points() > STALL_MAX_POINTS) {
		snprintf(err, errlen, "stall=: %u stall points, STALL_MAX_POINTS is %u",
			 nr_points(), STALL_MAX_POINTS);
		return false;
	}
	for_each_stall_point(p)
		p->armed = all;
	if (all || none)
		return true;
	for (const char *s = v; *s;) {
		const char *e = s;
		while (*e && *e != ',')
			e++;
		struct stall_point *p = find_point(s, (size_t)(e - s));
		if (!p) {
			snprintf(err, errlen, "bad value in 'stall=%s': '%.*s' is no stall point "
				 "(all, none, or a comma-separated list of the points the log's "
				 "'# stall:' lines name)", v, (int)(e - s), s);
			return false;
		}
		p->armed = 1;
		s = *e ? e + 1 : e;
	}
	return true;
}

CMDLINE_OPT_(stall, .name = "stall", .type = OPT_STR, .var = stall_opt, .size = sizeof(stall_opt),
	     .check = stall_parse,
	     .help = "stall points armed in torture runs: all, none, or a comma-separated list");

/*
 * A pass through p with stall_active set. The draw is made with the
 * preempt count raised, so it uses one CPU's generator whole; the delay
 * is made in the caller's state (a preemptible caller may be switched
 * out in the middle of it, which widens the window further).
 */
void stall_hit(struct stall_point *p, const void *ctx)
{
	void (*hook)(const struct stall_point *, const void *) = READ_ONCE(stall_test_hook);
	uint64_t ns = 0;
	bool hold = false;

	if (hook)
		hook(p, ctx);
	if (!(load_acquire(&stall_active) & STALL_ARMED) || !p->armed)
		return;
	preempt_disable();
	unsigned int cpu = smp_processor_id();
	struct prng *r = &rng[cpu];
	if (prng_below(r, 16) == 0) {
		uint64_t max_ns = (uint64_t)p->max_us * 1000;
		ns = prng_below(r, 8) ? prng_below(r, max_ns / 16 + 1) : prng_below(r, max_ns + 1);
		hold = p->gp_hold && prng_below(r, p->gp_hold) == 0 &&
		       rdtsc() >= load_relaxed(&hold_ok_tsc[cpu]);
		unsigned long *f = &fired[cpu][p - __stall_points_start];
		store_relaxed(f, load_relaxed(f) + 1);
	}
	preempt_enable_no_resched();
	if (hold) {
		uint64_t t0 = rdtsc(), gp = rcu_gp_completed() + p->gp_count;
		uint64_t end = t0 + ns_to_tsc(STALL_GP_HOLD_MS * 1000000ull);
		while (rcu_gp_completed() < gp && rdtsc() < end)
			cpu_relax();
		uint64_t t1 = rdtsc();
		store_relaxed(&hold_ok_tsc[cpu], t1 + 9 * (t1 - t0));
		unsigned long *h = &held[cpu][p - __stall_points_start];
		store_relaxed(h, load_relaxed(h) + 1);
	} else if (ns) {
		ndelay(ns);
	}
}

static unsigned long sum_over_cpus(unsigned long (*counts)[STALL_MAX_POINTS], const struct stall_point *p)
{
	unsigned long n = 0;

	for (unsigned int c = 0; c < MAX_CPUS; c++)
		n += load_relaxed(&counts[c][p - __stall_points_start]);
	return n;
}

unsigned long stall_fired(const struct stall_point *p)
{
	return sum_over_cpus(fired, p);
}

unsigned long stall_held(const struct stall_point *p)
{
	return sum_over_cpus(held, p);
}

void stall_arm(void)
{
	unsigned int c;
	bool any = false;

	for_each_stall_point(p)
		any |= p->armed != 0;
	if (!any)
		return;
	for_each_online_cpu(c)
		prng_init(&rng[c], global_seed, 9000 + c);
	/* The draws are seeded before a CPU can see the points armed. */
	store_release(&stall_active, stall_active | STALL_ARMED);
}

void stall_disarm(void)
{
	WRITE_ONCE(stall_active, stall_active & ~STALL_ARMED);
}

void stall_set_test_hook(void (*hook)(const struct stall_point *p, const void *ctx))
{
	WRITE_ONCE(stall_test_hook, hook);
	WRITE_ONCE(stall_active, hook ? stall_active | STALL_HOOKED : stall_active & ~STALL_HOOKED);
}
