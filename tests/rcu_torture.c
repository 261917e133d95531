/*
 * Suite "rcu_torture": writers keep replacing a published object while
 * readers on every other CPU read it inside rcu_read_lock() sections of
 * random length. Each retired object ages one step per grace period that
 * completes after its removal (0 -> 1 -> 2) and is freed (poisoned) at
 * age 2. A reader that sees poison read freed memory. A reader can only
 * have found an object while it was still published, i.e. before its
 * removal, so every grace period counted in the age began after the
 * reader's section did and must wait for it: a reader that sees any age
 * above 0 watched a grace period end under it. (rcutorture tolerates one
 * step because its writer also counts the grace period in progress at
 * removal; ours counts only later ones.) Either is a FAILURE naming the
 * CPU and the ages.
 *
 * Retirement picks among synchronize_rcu() and synchronize_rcu_expedited()
 * (the writer ages the object itself) and call_rcu() chains (callbacks
 * age it), so the waiting, expedited and callback paths all run against
 * the same readers. Under rcu=sched a reader sometimes protects its
 * section by turning interrupts off instead of rcu_read_lock(): that
 * flavor counts such regions as readers (the safety matrix relies on it),
 * and an expedited grace period's IPI must wait for them.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/pte.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "mm/kmalloc.h"
#include "tests/ktap.h"
#include "kernel/string.h"
#include "tests/torture.h"

#define OBJ_LIVE	0x4c49564520524355ull	/* "LIVE RCU" */
#define MAX_AGE		3
#define MAX_IN_FLIGHT	256

struct tobj {
	uint64_t magic;		/* OBJ_LIVE until freed (then poison) */
	int age;		/* (a) grace periods completed since removal */
	uint64_t seq;
	struct rcu_head rcu;
};

static struct {
	struct tobj *current;		/* (r) published object */
	struct torture t;
	int in_flight;			/* (a) objects retired by call_rcu, not freed */
	unsigned long hist[TORTURE_MAX_WORKERS][MAX_AGE + 1];	/* (o) age seen at read end */
	unsigned long reads[TORTURE_MAX_WORKERS];	/* (o) each worker its own */
	unsigned long updates;		/* writer only */
} tt;

static void age_two(struct rcu_head *h)
{
	struct tobj *o = (struct tobj *)((char *)h - __builtin_offsetof(struct tobj, rcu));

	store_release(&o->age, 2);
	kfree(o);
	atomic_dec(&tt.in_flight);
}

static void age_one(struct rcu_head *h)
{
	struct tobj *o = (struct tobj *)((char *)h - __builtin_offsetof(struct tobj, rcu));

	store_release(&o->age, 1);
	call_rcu(&o->rcu, age_two);
}

static void writer(struct prng *r)
{
	while (torture_running(&tt.t)) {
		struct tobj *n = kmalloc(sizeof(*n)), *old;
		if (!n) {
			rcu_barrier();
			continue;
		}
		n->magic = OBJ_LIVE;
		n->age = 0;
		n->seq = ++tt.updates;
		old = tt.current;
		rcu_assign_pointer(tt.current, n);
		if (!old)
			continue;
		/* Half by callbacks, a quarter each by the two waits. */
		unsigned int how = (unsigned int)prng_below(r, 4);
		if (how <= 1 && load_relaxed(&tt.in_flight) < MAX_IN_FLIGHT) {
			atomic_inc(&tt.in_flight);
			call_rcu(&old->rcu, age_one);
		} else if (how == 2) {
			synchronize_rcu_expedited();
			store_release(&old->age, 1);
			synchronize_rcu_expedited();
			store_release(&old->age, 2);
			kfree(old);
		} else {
			synchronize_rcu();
			store_release(&old->age, 1);
			synchronize_rcu();
			store_release(&old->age, 2);
			kfree(old);
		}
		torture_delay(r, 200000);
	}
	torture_stop(&tt.t);
}

static void reader(struct prng *r)
{
	unsigned int me = torture_me();

	while (!torture_stopped(&tt.t)) {
		/* Between reads a kernel thread passes a quiescent state (as
		 * cond_resched() would); without it rcu=sched could only rely
		 * on a tick landing between two sections. */
		rcu_qs();
		/* rcu=sched: one section in four has interrupts off instead. */
		bool irqoff = rcu_flavor == RCU_SCHED && prng_below(r, 4) == 0;
		uint64_t flags = 0;
		if (irqoff)
			flags = irq_save();
		else
			rcu_read_lock();
		struct tobj *p = rcu_dereference(tt.current);
		if (!p) {
			if (irqoff)
				irq_restore(flags);
			else
				rcu_read_unlock();
			continue;
		}
		uint64_t seq = READ_ONCE(p->seq);
		int a0 = load_acquire(&p->age);
		/* Hold the section: mostly short, sometimes across ticks
		 * (with interrupts off, 2 ms at most: the CPU takes no IPI
		 * meanwhile). */
		torture_delay(r, prng_below(r, 20) ? 50000 : irqoff ? 2000000 : 12000000);
		uint64_t magic = READ_ONCE(p->magic);
		int a1 = load_acquire(&p->age);
		if (irqoff)
			irq_restore(flags);
		else
			rcu_read_unlock();

		if (magic != OBJ_LIVE) {
			report_error("rcu_uaf", "worker %u read object #%llu after it was freed: magic %016llx%s "
				     "(age %d at entry)", me, (unsigned long long)seq,
				     (unsigned long long)magic, magic == PAGE_POISON ? " (poison)" : "", a0);
			continue;
		}
		if (a1 >= 1)
			report_error("rcu_age", "worker %u saw object #%llu age %d -> %d within one read "
				     "section: a grace period ended under the reader", me,
				     (unsigned long long)seq, a0, a1);
		tt.hist[me][a1 > MAX_AGE ? MAX_AGE : (a1 < 0 ? 0 : a1)]++;
		tt.reads[me]++;
	}
}

static void torture_dispatch(void *arg)
{
	struct prng r;
	unsigned int me = torture_me();

	(void)arg;
	prng_init(&r, global_seed, 1000 + me);
	if (me == 0)
		writer(&r);
	else
		reader(&r);
}

static void rcu_torture_run(void)
{
	static const struct torture_needs needs = {
		.cpus = 2, .roles = "a writer and a reader", .mm = TORTURE_NO_MM,
	};
	unsigned int c;
	uint64_t gp0 = rcu_gp_completed(), t0 = rdtsc();
	unsigned long hist[MAX_AGE + 1] = { 0 }, reads = 0;

	memset(&tt, 0, sizeof(tt));
	if (!torture_begin(&tt.t, &needs))
		return;
	torture_run(&tt.t, torture_dispatch, NULL);

	struct tobj *last = tt.current;
	tt.current = NULL;
	if (last)
		kfree_rcu(last, rcu);
	rcu_barrier();

	uint64_t gps = rcu_gp_completed() - gp0, ms = tsc_to_ns(rdtsc() - t0) / 1000000;
	for (c = 0; c < torture_workers(&tt.t); c++) {
		for (int a = 0; a <= MAX_AGE; a++)
			hist[a] += tt.hist[c][a];
		reads += tt.reads[c];
	}
	ktap_diag("rcu=%s: %lu updates, %lu reads, %llu grace periods in %llu ms (%llu/s)",
		  rcu_flavor == RCU_SCHED ? "sched" : "preempt", tt.updates, reads,
		  (unsigned long long)gps, (unsigned long long)ms,
		  (unsigned long long)(ms ? gps * 1000 / ms : 0));
	ktap_diag("age histogram (grace periods seen ending under a reader): 0:%lu 1:%lu 2:%lu 3+:%lu",
		  hist[0], hist[1], hist[2], hist[3]);
	TORTURE_EXPECT_WORK(&tt.t, tt.updates > 10, "only %lu updates", tt.updates);
	TORTURE_EXPECT_WORK(&tt.t, reads > 100, "only %lu reads", reads);
	torture_end(&tt.t);
	KTAP_EXPECT(load_relaxed(&tt.in_flight) == 0, "%d retired objects never freed", tt.in_flight);
}

static const struct ktap_case rcu_torture_cases[] = {
	{ "torture", rcu_torture_run },
};
KTAP_SUITE(rcu_torture, rcu_torture_cases);
