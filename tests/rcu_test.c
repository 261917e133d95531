/*
 * Suite "rcu": the grace-period guarantees of kernel/rcu.h, each checked
 * directly, in the flavor that makes the claim.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/worker.h"
#include "mm/kmalloc.h"
#include "tests/ktap.h"

/*
 * Run side(arg) on CPU 1 and main(arg) on the calling CPU at the same
 * time, and wait for both.
 */
struct duo {
	void (*main)(void *arg);
	void (*side)(void *arg);
	void *arg;
	unsigned int main_cpu;
};

static void duo_dispatch(void *p)
{
	struct duo *d = p;

	if (smp_processor_id() == d->main_cpu)
		d->main(d->arg);
	else
		d->side(d->arg);
}

static void duo_run(void (*main)(void *), void (*side)(void *), void *arg)
{
	struct duo d = { main, side, arg, smp_processor_id() };
	struct cpumask m;
	unsigned int side_cpu = cpumask_next(&cpu_online_mask, 0) == d.main_cpu
					? cpumask_next(&cpu_online_mask, d.main_cpu + 1)
					: cpumask_next(&cpu_online_mask, 0);

	cpumask_zero(&m);
	cpumask_set(&m, d.main_cpu);
	cpumask_set(&m, side_cpu);
	workers_run(&m, duo_dispatch, &d, 0);
}

static bool need_two_cpus(void)
{
	if (nr_cpus_online >= 2)
		return true;
	ktap_skip("needs 2 CPUs");
	return false;
}

static struct {
	int started;		/* (a) side is inside its region */
	int inside;		/* (a) */
	int cb_ran;		/* (a) */
	int cb_seen_inside;	/* (a) */
	uint64_t left_tsc;	/* (a) when side left its region */
	uint64_t done_tsc;	/* when main's wait returned */
	struct rcu_head head;
} t;

static void reset(void)
{
	t.started = t.inside = t.cb_ran = t.cb_seen_inside = 0;
	t.left_tsc = t.done_tsc = 0;
}

static void set_cb_ran(struct rcu_head *h)
{
	(void)h;
	store_release(&t.cb_ran, 1);
}

static void reader_side(void *arg)
{
	(void)arg;
	rcu_read_lock();
	store_release(&t.inside, 1);
	store_release(&t.started, 1);
	uint64_t end = rdtsc() + ns_to_tsc(300000000ull);
	while (rdtsc() < end)
		if (load_acquire(&t.cb_ran))
			store_relaxed(&t.cb_seen_inside, 1);
	store_release(&t.inside, 0);
	rcu_read_unlock();
}

static void reader_main(void *arg)
{
	(void)arg;
	while (!load_acquire(&t.started))
		cpu_relax();
	call_rcu(&t.head, set_cb_ran);
	synchronize_rcu();
	KTAP_EXPECT(!load_acquire(&t.inside), "synchronize_rcu() returned while cpu 1 was still reading");
}

static void gp_waits_for_reader(void)
{
	if (!need_two_cpus())
		return;
	reset();
	duo_run(reader_main, reader_side, NULL);
	rcu_barrier();
	KTAP_EXPECT(!load_relaxed(&t.cb_seen_inside), "a callback ran while the reader held its section");
	KTAP_EXPECT(load_acquire(&t.cb_ran), "the callback never ran");
}

static void irqoff_side(void *arg)
{
	(void)arg;
	irq_disable();
	store_release(&t.started, 1);
	/* Long enough that a grace period which does not wait for this
	 * region ends well inside it, even on a loaded host. */
	mdelay(1000);
	store_release(&t.left_tsc, rdtsc());
	irq_enable();
}

static void irqoff_main(void *arg)
{
	(void)arg;
	while (!load_acquire(&t.started))
		cpu_relax();
	synchronize_rcu();
	t.done_tsc = rdtsc();
}

/* The difference between the flavors, and the reason this kernel exists:
 * only rcu=sched counts an interrupts-off region as a reader. */
static void irqoff_region_vs_flavor(void)
{
	if (!need_two_cpus())
		return;
	reset();
	duo_run(irqoff_main, irqoff_side, NULL);
	uint64_t left = load_acquire(&t.left_tsc);
	if (rcu_flavor == RCU_SCHED)
		KTAP_EXPECT(t.done_tsc > left,
			    "rcu=sched: grace period ended %llu us before cpu 1 enabled interrupts",
			    (unsigned long long)tsc_to_ns(left - t.done_tsc) / 1000);
	else
		KTAP_EXPECT(t.done_tsc < left,
			    "rcu=preempt: grace period waited for an interrupts-off region (no reader)");
	ktap_diag("rcu=%s: grace period %s the interrupts-off region",
		  rcu_flavor == RCU_SCHED ? "sched" : "preempt",
		  t.done_tsc > left ? "waited for" : "did not wait for");
}

static int busy_stop;		/* (a) */

static void busy_loop(void *arg)
{
	(void)arg;
	/* Preempt count 0, interrupts on, never idle, never rcu_qs(). */
	while (!load_acquire(&busy_stop))
		cpu_relax();
}

static uint64_t exp_latency_ns;
static void expedite_main(void *arg)
{
	(void)arg;
	mdelay(20);		/* let the others settle into their loops */
	uint64_t t0 = rdtsc();
	synchronize_rcu_expedited();
	exp_latency_ns = tsc_to_ns(rdtsc() - t0);
	store_release(&busy_stop, 1);
}

static void expedite_dispatch(void *arg)
{
	if (smp_processor_id() == *(unsigned int *)arg)
		expedite_main(NULL);
	else
		busy_loop(NULL);
}

static void expedited_with_busy_cpus(void)
{
	struct rcu_stats s0, s1;
	unsigned int me = smp_processor_id();

	busy_stop = 0;
	rcu_stats_get(&s0);
	workers_run_all(expedite_dispatch, &me, 0);
	rcu_stats_get(&s1);
	KTAP_EXPECT(exp_latency_ns < 1000000000ull, "expedited grace period took %llu ms",
		    (unsigned long long)exp_latency_ns / 1000000);
	KTAP_EXPECT(s1.gp_expedited == s0.gp_expedited + 1, "expedited count %llu -> %llu",
		    (unsigned long long)s0.gp_expedited, (unsigned long long)s1.gp_expedited);
	ktap_diag("expedited grace period: %llu us; %llu CPUs answered the IPI, %llu by tick",
		  (unsigned long long)exp_latency_ns / 1000,
		  (unsigned long long)(s1.qs_exp_ipi - s0.qs_exp_ipi),
		  (unsigned long long)(s1.qs_tick - s0.qs_tick));
}

#define BARRIER_CBS 100
static int barrier_count;	/* (a) */
static struct rcu_head barrier_heads[MAX_CPUS][BARRIER_CBS];

static void count_cb(struct rcu_head *h)
{
	(void)h;
	atomic_inc(&barrier_count);
}

static void queue_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < BARRIER_CBS; i++) {
		call_rcu(&barrier_heads[smp_processor_id()][i], count_cb);
		if (i % 10 == 0)
			udelay(100);	/* spread them over grace periods */
	}
}

static void barrier_waits_for_all(void)
{
	barrier_count = 0;
	workers_run_all(queue_many, NULL, 0);
	rcu_barrier();
	KTAP_EXPECT(load_acquire(&barrier_count) == (int)nr_cpus_online * BARRIER_CBS,
		    "rcu_barrier() returned with %d of %u callbacks run", barrier_count,
		    nr_cpus_online * BARRIER_CBS);
}

static void idle_cpus_do_not_delay(void)
{
	struct rcu_stats s0, s1;
	uint64_t worst = 0;

	/* The other CPUs sit in their idle loops now. */
	rcu_stats_get(&s0);
	for (int i = 0; i < 10; i++) {
		uint64_t t0 = rdtsc();
		synchronize_rcu();
		uint64_t ns = tsc_to_ns(rdtsc() - t0);
		if (ns > worst)
			worst = ns;
	}
	rcu_stats_get(&s1);
	if (rcu_flavor == RCU_SCHED && nr_cpus_online > 1)
		KTAP_EXPECT(s1.qs_idle - s0.qs_idle >= nr_cpus_online - 1,
			    "only %llu idle quiescent states over 10 grace periods with %u idle CPUs",
			    (unsigned long long)(s1.qs_idle - s0.qs_idle), nr_cpus_online - 1);
	/* A grace period that waited on idle CPUs would wait forever (they
	 * report nothing while halted) or at best several ticks each. */
	KTAP_EXPECT(worst < 200000000ull, "a grace period took %llu ms with the other CPUs idle",
		    (unsigned long long)worst / 1000000);
	ktap_diag("slowest of 10 grace periods with idle CPUs: %llu us",
		  (unsigned long long)worst / 1000);
}

#define ORDER_CBS 300
struct order_cb {
	struct rcu_head head;
	unsigned int cpu, seq;
};
static unsigned int order_next[MAX_CPUS];	/* (o) touched only by that CPU's callbacks */
static int order_errors;			/* (a) */

static void order_check(struct rcu_head *h)
{
	struct order_cb *o = (struct order_cb *)h;

	if (o->seq != order_next[o->cpu]) {
		atomic_inc(&order_errors);
		order_next[o->cpu] = o->seq;
	}
	order_next[o->cpu]++;
	kfree(o);
}

static void queue_ordered(void *arg)
{
	unsigned int me = smp_processor_id();

	(void)arg;
	order_next[me] = 0;
	for (unsigned int i = 0; i < ORDER_CBS; i++) {
		struct order_cb *o = kmalloc(sizeof(*o));
		if (!o)
			break;
		o->cpu = me;
		o->seq = i;
		call_rcu(&o->head, order_check);
		if (i % 16 == 0)
			udelay(200);
	}
}

static void callbacks_in_order(void)
{
	unsigned int c;

	order_errors = 0;
	workers_run_all(queue_ordered, NULL, 0);
	rcu_barrier();
	KTAP_EXPECT(load_relaxed(&order_errors) == 0, "%d callbacks ran out of order", order_errors);
	for_each_online_cpu(c)
		KTAP_EXPECT(order_next[c] == ORDER_CBS, "cpu %u ran %u of %u callbacks", c,
			    order_next[c], ORDER_CBS);
}

struct kobj {
	uint64_t payload[4];
	struct rcu_head rcu;
};

static void kfree_rcu_frees(void)
{
	long before = kmalloc_in_use();
	struct kobj *o = kmalloc(sizeof(*o));

	KTAP_ASSERT(o, "out of memory");
	kfree_rcu(o, rcu);
	rcu_barrier();
	KTAP_EXPECT(kmalloc_in_use() == before, "object not freed: %ld in use, %ld before",
		    kmalloc_in_use(), before);
}

static void long_reader_side(void *arg)
{
	(void)arg;
	rcu_read_lock();
	store_release(&t.started, 1);
	mdelay(2500);
	rcu_read_unlock();
}

static void stall_main(void *arg)
{
	(void)arg;
	while (!load_acquire(&t.started))
		cpu_relax();
	synchronize_rcu();
}

/* A reader held past rcu_stall= is named by the stall detector. */
static void stall_detected(void)
{
	uint64_t saved = rcu_stall_s;

	if (!need_two_cpus())
		return;
	reset();
	rcu_stall_s = 1;
	ktap_expect_error_begin("rcu_stall");
	duo_run(stall_main, long_reader_side, NULL);
	unsigned long seen = ktap_expect_error_end();
	rcu_stall_s = saved;
	KTAP_EXPECT(seen >= 1, "a 2.5 s reader with rcu_stall=1 was not reported");
}

static const struct ktap_case rcu_cases[] = {
	KTAP_CASE(gp_waits_for_reader),
	KTAP_CASE(irqoff_region_vs_flavor),
	KTAP_CASE(expedited_with_busy_cpus),
	KTAP_CASE(barrier_waits_for_all),
	KTAP_CASE(idle_cpus_do_not_delay),
	KTAP_CASE(callbacks_in_order),
	KTAP_CASE(kfree_rcu_frees),
	KTAP_CASE(stall_detected),
};
KTAP_SUITE(rcu, rcu_cases);
