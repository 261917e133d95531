/*
 * Suite "bench": the costs users compare across machines, printed as
 *   # bench <name> <value> <unit> [key=value ...]
 * Absolute times depend on the host (and under TCG on its load); the
 * ratios between lines of one run are what tools/bench.py checks.
 * Each figure is the median of several batches unless it says otherwise.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/user.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/rcu.h"
#include "kernel/sched.h"
#include "kernel/syscall_abi.h"
#include "kernel/smp_call.h"
#include "kernel/sort.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "kernel/worker.h"
#include "mm/fault.h"
#include "mm/kmalloc.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"
#include "mm/spf.h"
#include "mm/tlb.h"
#include "tests/ktap.h"

#define BATCHES 9

static void bench_line(const char *name, uint64_t value, const char *unit, const char *keys)
{
	ktap_diag("bench %s %llu %s%s%s", name, (unsigned long long)value, unit, keys[0] ? " " : "",
		  keys);
}

/* ns per iteration of fn, median of BATCHES batches of n. */
static uint64_t time_ns(void (*fn)(void *), void *arg, unsigned int n)
{
	uint64_t b[BATCHES];

	for (int k = 0; k < BATCHES; k++) {
		uint64_t t0 = rdtsc_ordered();
		for (unsigned int i = 0; i < n; i++)
			fn(arg);
		b[k] = tsc_to_ns(rdtsc_ordered() - t0) / n;
	}
	return median_u64(b, BATCHES);
}

static void one_exception(void *arg)
{
	uint64_t v;
	(void)arg;
	read_u64_safe((const void *)0x7000000000ul, &v);
}

static void clear_one(void *arg)
{
	memset(arg, 0, PAGE_SIZE);
	barrier();
}

static void noop(void *arg)
{
	(void)arg;
}

static unsigned int other_cpu(void)
{
	unsigned int c = cpumask_next(&cpu_online_mask, smp_processor_id() + 1);
	return c < MAX_CPUS ? c : cpumask_next(&cpu_online_mask, 0);
}

static void call_other(void *arg)
{
	smp_call_on(*(unsigned int *)arg, noop, NULL);
}

static uint64_t ipi_rt;

static void basics(void)
{
	struct page *p = alloc_page(PAGE_TEST);

	KTAP_ASSERT(p, "out of memory");
	mm_switch_kernel();
	uint64_t exc = time_ns(one_exception, NULL, 200);
	uint64_t clr = time_ns(clear_one, page_address(p), 200);
	free_page(p);
	bench_line("exception_roundtrip", exc, "ns", "");
	bench_line("page_clear", clr, "ns", "");
	bench_line("tick_period", 1000000 / HZ, "us", "");
	KTAP_EXPECT(exc > 0 && clr > 0, "zero timings");
	if (nr_cpus_online > 1) {
		unsigned int o = other_cpu();
		ipi_rt = time_ns(call_other, &o, 100);
		bench_line("ipi_roundtrip", ipi_rt, "ns", "");
		KTAP_EXPECT(ipi_rt > 0, "zero ipi time");
	}
}

/*
 * What an interrupt costs the CPU it lands on: another CPU times a fixed
 * loop of work, alone and then while this one keeps calling it (each call
 * an IPI and an ack). The time the loop lost, divided by the calls it
 * took, is the cost of receiving one (delivery, handler, return), the
 * figure behind a shootdown's cost to the CPUs it interrupts.
 */
static struct {
	int go, done;			/* (a) */
	uint64_t ns;
} recv;

static void recv_loop(void *arg)
{
	volatile uint64_t x = 0;
	(void)arg;
	while (!load_acquire(&recv.go))
		cpu_relax();
	uint64_t t0 = rdtsc_ordered();
	for (unsigned int i = 0; i < 2000000; i++)
		x += i;
	recv.ns = tsc_to_ns(rdtsc_ordered() - t0);
	store_release(&recv.done, 1);
}

static void ipi_receive(void)
{
	uint64_t alone = 0, loaded = 0, calls = 0;
	unsigned int o = other_cpu();
	struct cpumask one;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	cpumask_zero(&one);
	cpumask_set(&one, o);
	for (int pass = 0; pass < 2; pass++) {
		recv.go = recv.done = 0;
		workers_start(&one, recv_loop, NULL);
		mdelay(2);
		store_release(&recv.go, 1);
		while (!load_acquire(&recv.done))
			if (pass) {
				smp_call_on(o, noop, NULL);
				calls++;
			} else {
				cpu_relax();
			}
		workers_wait(&one, 0);
		*(pass ? &loaded : &alone) = recv.ns;
	}
	KTAP_ASSERT(calls > 0, "no call landed during the loop");
	uint64_t per = loaded > alone ? (loaded - alone) / calls : 0;
	bench_line("ipi_receive", per, "ns", "");
	ktap_diag("ipi_receive: loop %llu us alone, %llu us under %llu calls",
		  (unsigned long long)alone / 1000, (unsigned long long)loaded / 1000,
		  (unsigned long long)calls);
}

/* --- faults ------------------------------------------------------------- */

#define FAULT_PAGES 511		/* one PTE table's worth after its first page */

static uint64_t fault_once(struct mm *mm, uintptr_t base)
{
	uint64_t t0 = rdtsc_ordered();
	for (unsigned int i = 1; i <= FAULT_PAGES; i++)
		user_write_u64(base + i * PAGE_SIZE, i);
	return tsc_to_ns(rdtsc_ordered() - t0) / FAULT_PAGES;
}

static void minor_fault(void)
{
	int saved = spf_enabled;
	uint64_t b[2][BATCHES];
	struct mm *mm = mm_create();

	KTAP_ASSERT(mm, "out of memory");
	mm_switch(mm);
	for (int k = 0; k < BATCHES; k++) {
		for (int path = 0; path < 2; path++) {
			/* The run's spf= stays as given elsewhere: switched here
			 * only for the measurement, on an idle machine. */
			spf_enabled = path == 0;
			long a = vm_mmap(mm, MMAP_BASE, 512 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED);
			user_write_u64(a, 1);		/* builds the tables */
			b[path][k] = fault_once(mm, a);
			vm_munmap(mm, a, 512 * PAGE_SIZE);
		}
	}
	spf_enabled = saved;
	bench_line("minor_fault", median_u64(b[0], BATCHES), "ns", "path=spf");
	bench_line("minor_fault", median_u64(b[1], BATCHES), "ns", "path=locked");
	KTAP_EXPECT(b[0][0] && b[1][0], "zero fault time");
	mm_destroy(mm);
}

/*
 * writer=1: one more CPU maps, touches and unmaps an unrelated page in
 * the faulters' mm (mmap_lock for write, replaced VMA arrays, and a
 * shootdown that interrupts every faulter). writer=elsewhere: the same
 * loop in an address space of its own, which reaches the faulters with
 * nothing but the machine's shared resources: the difference between the
 * two is what the shootdowns cost them.
 */
/* Each faulter writes every page of two PTE tables but the first of each
 * (already faulted in, to build the tables). */
#define TPUT_FAULTS	1022

struct tput {
	struct mm *mm;
	struct mm *writer_mm;		/* the writer's: mm, or one of its own */
	struct cpumask faulters;
	unsigned int writer;		/* MAX_CPUS: none */
	int go, done;			/* (a) */
	uintptr_t base;
};

static void tput_worker(void *arg)
{
	struct tput *t = arg;
	unsigned int me = smp_processor_id();

	if (me == t->writer) {
		mm_switch(t->writer_mm);
		while (!load_acquire(&t->go))
			cpu_relax();
		while (load_acquire(&t->done) < (int)cpumask_weight(&t->faulters)) {
			long a = vm_mmap(t->writer_mm, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
			if (a > 0) {
				user_write_u64(a, 1);
				vm_munmap(t->writer_mm, a, PAGE_SIZE);
			}
		}
		return;
	}
	mm_switch(t->mm);
	uintptr_t base = t->base + (uintptr_t)me * 2 * LARGE_PAGE_SIZE;
	user_write_u64(base, 1);		/* tables */
	user_write_u64(base + LARGE_PAGE_SIZE, 1);
	while (!load_acquire(&t->go))
		cpu_relax();
	for (unsigned int i = 1; i < 1024; i++)
		if (i != 512)
			user_write_u64(base + i * PAGE_SIZE, i);
	atomic_inc(&t->done);
}

static void fault_throughput(void)
{
	static struct tput t;
	uint64_t slowest = UINT64_MAX;
	int saved = spf_enabled;
	unsigned int maxc = nr_cpus_online > 1 ? nr_cpus_online - 1 : 1;

	for (int path = 0; path < 2; path++) {
		spf_enabled = path == 0;
		for (unsigned int n = 1; n <= maxc; n++) {
			/* writer 2 is writer=elsewhere, measured for spf only */
			int writers = nr_cpus_online > n ? (path == 0 ? 3 : 2) : 1;
			for (int writer = 0; writer < writers; writer++) {
				struct cpumask all;
				unsigned int c, k = 0;
				memset(&t, 0, sizeof(t));
				t.mm = mm_create();
				KTAP_ASSERT(t.mm, "out of memory");
				t.writer_mm = writer == 2 ? mm_create() : t.mm;
				KTAP_ASSERT(t.writer_mm, "out of memory");
				t.writer = MAX_CPUS;
				cpumask_zero(&all);
				for_each_online_cpu(c) {
					if (k < n)
						cpumask_set(&t.faulters, c);
					else if (writer && t.writer == MAX_CPUS)
						t.writer = c;
					k++;
				}
				all = t.faulters;
				if (t.writer < MAX_CPUS)
					cpumask_set(&all, t.writer);
				t.base = vm_mmap(t.mm, MMAP_BASE, (uintptr_t)MAX_CPUS * 2 * LARGE_PAGE_SIZE,
						 PROT_READ | PROT_WRITE, MAP_FIXED);
				unsigned int me = smp_processor_id();
				bool me_in = cpumask_test(&all, me);
				cpumask_clear_cpu(&all, me);
				struct tlb_stats ts0, ts1;
				tlb_stats_get(&ts0);
				workers_start(&all, tput_worker, &t);
				mdelay(5);
				uint64_t t0 = rdtsc_ordered();
				store_release(&t.go, 1);
				if (me_in)
					tput_worker(&t);
				while (load_acquire(&t.done) < (int)n)
					cpu_relax();
				uint64_t ns = tsc_to_ns(rdtsc_ordered() - t0);
				workers_wait(&all, 0);
				uint64_t faults = (uint64_t)n * TPUT_FAULTS;
				char keys[64];
				snprintf(keys, sizeof(keys), "cpus=%u writer=%s path=%s", n,
					 writer == 2 ? "elsewhere" : writer ? "1" : "0",
					 path == 0 ? "spf" : "locked");
				uint64_t rate = faults * 1000000000ull / (ns ? ns : 1);
				bench_line("fault_throughput", rate, "faults/s", keys);
				if (writer) {
					/* The writer's shootdowns, per faulter: each
					 * interrupts every faulter once. */
					char wk[96];
					tlb_stats_get(&ts1);
					snprintf(wk, sizeof(wk), "%s faults=%u", keys, TPUT_FAULTS);
					bench_line("writer_ipis", (ts1.ipis_sent - ts0.ipis_sent) / n,
						   "count", wk);
				}
				if (rate < slowest)
					slowest = rate;
				if (t.writer_mm != t.mm)
					mm_destroy(t.writer_mm);
				mm_destroy(t.mm);
			}
		}
	}
	spf_enabled = saved;
	KTAP_EXPECT(slowest > 0 && slowest != UINT64_MAX, "a throughput of %llu faults/s",
		    (unsigned long long)slowest);
}

/* --- shootdowns and munmap ------------------------------------------------ */

/* Load the mm and go idle with it active (not lazy): a flush target
 * that takes the IPI. */
static void load_mm(void *arg)
{
	mm_switch(arg);
}

static void shootdown(void)
{
	uint64_t first = 0;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	struct mm *mm = mm_create();
	KTAP_ASSERT(mm, "out of memory");
	mm_switch(mm);
	long a = vm_mmap(mm, 0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, 0);
	for (unsigned int targets = 1; targets < nr_cpus_online; targets++) {
		struct cpumask m;
		unsigned int c, k = 0;
		cpumask_zero(&m);
		for_each_online_cpu(c)
			if (c != smp_processor_id() && k++ < targets)
				cpumask_set(&m, c);
		workers_run(&m, load_mm, mm, 0);
		static const unsigned int pages[] = { 1, 16, 64 };
		for (unsigned int pi = 0; pi < 3; pi++) {
			if (pages[pi] != 1 && targets != nr_cpus_online - 1)
				continue;
			uint64_t b[BATCHES];
			for (int r = 0; r < BATCHES; r++) {
				uint64_t t0 = rdtsc_ordered();
				for (int i = 0; i < 50; i++)
					flush_tlb_mm_range(mm, a, a + pages[pi] * PAGE_SIZE, FLUSH_PAGES);
				b[r] = tsc_to_ns(rdtsc_ordered() - t0) / 50;
			}
			uint64_t ns = median_u64(b, BATCHES);
			char keys[48];
			snprintf(keys, sizeof(keys), "targets=%u pages=%u", targets, pages[pi]);
			bench_line("shootdown", ns, "ns", keys);
			if (targets == 1 && pages[pi] == 1)
				first = ns;
		}
	}
	KTAP_EXPECT(first > 0, "no shootdown measured");
	mm_destroy(mm);
}

static void munmap_per_page(void)
{
	static const unsigned int sizes[] = { 1, 4, 16, 32, 33, 34, 64, 256, 1024 };
	struct mm *mm = mm_create();
	uint64_t worst = 0;

	KTAP_ASSERT(mm, "out of memory");
	mm_switch(mm);
	if (nr_cpus_online > 1) {
		/* One other CPU holds the mm, so each munmap is a real shootdown. */
		struct cpumask m;
		cpumask_zero(&m);
		cpumask_set(&m, other_cpu());
		workers_run(&m, load_mm, mm, 0);
	}
	for (unsigned int si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t b[BATCHES];
		unsigned int n = sizes[si];
		for (int r = 0; r < BATCHES; r++) {
			long a = vm_mmap(mm, MMAP_BASE, n * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED);
			for (unsigned int i = 0; i < n; i++)
				user_write_u64(a + i * PAGE_SIZE, i);
			uint64_t t0 = rdtsc_ordered();
			vm_munmap(mm, a, n * PAGE_SIZE);
			b[r] = tsc_to_ns(rdtsc_ordered() - t0) / n;
		}
		uint64_t ns = median_u64(b, BATCHES);
		char keys[24];
		snprintf(keys, sizeof(keys), "pages=%u", n);
		bench_line("munmap_per_page", ns, "ns", keys);
		if (ns > worst)
			worst = ns;
	}
	KTAP_EXPECT(worst > 0, "no munmap measured");
	mm_destroy(mm);
}

/* K other CPUs spin inside the mm (loaded, active) while this one maps,
 * touches and unmaps a page: each munmap's shootdown reaches them. The
 * loop runs in ring 3 (mmap and munmap are system calls, the touch a user
 * fault), as Linux's bench does it; ns per round, one ring-3 entry per
 * MTU_ROUNDS rounds. */
static int mtu_stop;	/* (a) */
#define MTU_ROUNDS 20		/* per ring-3 entry */

static void spin_in_mm(void *arg)
{
	mm_switch(arg);
	while (!load_acquire(&mtu_stop))
		cpu_relax();
}

static void map_touch_unmap(void)
{
	struct mm *mm = mm_create();
	uintptr_t stub = USER_STUB_VA + (uintptr_t)(user_stub_map_touch_unmap - user_stubs_start);
	uint64_t first = 0;

	KTAP_ASSERT(mm, "out of memory");
	mm_switch(mm);
	for (unsigned int remote = 0; remote < nr_cpus_online; remote++) {
		struct cpumask m;
		unsigned int c, k = 0;
		cpumask_zero(&m);
		for_each_online_cpu(c)
			if (c != smp_processor_id() && k++ < remote)
				cpumask_set(&m, c);
		store_release(&mtu_stop, 0);
		workers_start(&m, spin_in_mm, mm);
		uint64_t b[BATCHES], ret;
		for (int r = 0; r < BATCHES; r++) {
			uint64_t t0 = rdtsc_ordered();
			int fault = user_call(stub, MTU_ROUNDS, 0, &ret);
			b[r] = tsc_to_ns(rdtsc_ordered() - t0) / MTU_ROUNDS;
			if (!KTAP_EXPECT(!fault, "the map_touch_unmap stub faulted (vector %d): mmap failed?",
					 fault - 1))
				break;
		}
		store_release(&mtu_stop, 1);
		workers_wait(&m, 0);
		uint64_t ns = median_u64(b, BATCHES);
		char keys[24];
		snprintf(keys, sizeof(keys), "remote=%u", remote);
		bench_line("map_touch_unmap", ns, "ns", keys);
		if (!remote)
			first = ns;
	}
	KTAP_EXPECT(first > 0, "nothing measured");
	mm_destroy(mm);
}

/* --- RCU --------------------------------------------------------------- */

/* Grace periods on a busy machine: the other CPUs loop at preempt count
 * 0 (not idle, so they are waited for), as a loaded system's would. */
static int gp_busy_stop;	/* (a) */
static uint64_t gp_normal[41], gp_exp[41];

static void gp_busy(void *arg)
{
	(void)arg;
	while (!load_acquire(&gp_busy_stop))
		cpu_relax();
}

static void gp_measure(void *arg)
{
	(void)arg;
	for (int i = 0; i < 41; i++) {
		uint64_t t0 = rdtsc_ordered();
		synchronize_rcu();
		gp_normal[i] = tsc_to_ns(rdtsc_ordered() - t0);
		t0 = rdtsc_ordered();
		synchronize_rcu_expedited();
		gp_exp[i] = tsc_to_ns(rdtsc_ordered() - t0);
	}
	store_release(&gp_busy_stop, 1);
}

static void gp_dispatch(void *arg)
{
	if (smp_processor_id() == *(unsigned int *)arg)
		gp_measure(NULL);
	else
		gp_busy(NULL);
}

static void rcu_gp(void)
{
	unsigned int me = smp_processor_id();

	gp_busy_stop = 0;
	workers_run_all(gp_dispatch, &me, 0);
	sort_u64(gp_normal, 41);
	sort_u64(gp_exp, 41);
	/* Microseconds, rounded up: a sub-microsecond grace period is 1. */
	bench_line("rcu_gp", (gp_normal[20] + 999) / 1000, "us", "kind=normal stat=median");
	bench_line("rcu_gp", (gp_normal[40] + 999) / 1000, "us", "kind=normal stat=p99");
	bench_line("rcu_gp", (gp_exp[20] + 999) / 1000, "us", "kind=expedited stat=median");
	bench_line("rcu_gp", (gp_exp[40] + 999) / 1000, "us", "kind=expedited stat=p99");
	KTAP_EXPECT(gp_normal[40] > 0, "grace periods took no time");
}

/*
 * A grace period that waits for a preempted reader (rcu=preempt): on
 * another CPU a reader enters its section and yields to a partner that
 * holds that CPU for HOLD_US, so the reader sits switched out in its
 * section; this CPU starts synchronize_rcu() meanwhile. The grace period
 * must not end before the reader's rcu_read_unlock() (checked each
 * round); the figures are the whole wait and how long after the unlock
 * it ended (what tracking a blocked reader costs to notice it leave).
 * rcu=sched readers cannot be switched out: nothing to measure there.
 */
#define PR_ROUNDS 21
#define HOLD_US 1000

static struct {
	int round;		/* (a) the measurer's round: the reader may enter */
	int entered;		/* (a) the reader is in its section for this round */
	int hold;		/* (a) the partner holds the CPU once */
	int stop;		/* (a) */
	uint64_t unlock_tsc;	/* written by the reader before leaving */
	int leaving;		/* (a) the reader's last step in its section this round */
	int done;		/* (a) the reader left its section for this round */
} pr;

static void pr_reader(void *arg)
{
	(void)arg;
	for (int i = 1; i <= PR_ROUNDS; i++) {
		while (load_acquire(&pr.round) != i)
			sched_yield();
		rcu_read_lock();
		store_release(&pr.hold, 1);
		store_release(&pr.entered, i);
		sched_yield();			/* switched out inside the section */
		while (load_acquire(&pr.hold))
			sched_yield();
		pr.unlock_tsc = rdtsc_ordered();
		store_release(&pr.leaving, i);
		rcu_read_unlock();
		store_release(&pr.done, i);
	}
}

static void pr_partner(void *arg)
{
	(void)arg;
	while (!load_acquire(&pr.stop)) {
		if (load_acquire(&pr.hold)) {
			ndelay(HOLD_US * 1000ull);
			store_release(&pr.hold, 0);
		}
		sched_yield();
	}
}

static void rcu_gp_preempted_reader(void)
{
	uint64_t total[PR_ROUNDS], after[PR_ROUNDS];
	unsigned int cpu = other_cpu();
	struct task *r, *p;
	int early = 0;

	if (rcu_flavor != RCU_PREEMPT || nr_cpus_online < 2) {
		ktap_skip("needs rcu=preempt and 2 CPUs (bench scenario bench-tcg-smp2-rcu-preempt)");
		return;
	}
	memset(&pr, 0, sizeof(pr));
	r = task_create("bench-reader", pr_reader, NULL, NULL, (int)cpu);
	p = task_create("bench-holder", pr_partner, NULL, NULL, (int)cpu);
	KTAP_ASSERT(r && p, "out of memory");
	task_start(r, cpu);
	task_start(p, cpu);
	for (int i = 1; i <= PR_ROUNDS; i++) {
		store_release(&pr.round, i);
		while (load_acquire(&pr.entered) != i)
			cpu_relax();
		uint64_t t0 = rdtsc_ordered();
		synchronize_rcu();
		uint64_t t1 = rdtsc_ordered();
		/* The reader marks its last step inside the section: a grace
		 * period that ended without seeing it did not wait. */
		if (load_acquire(&pr.leaving) != i)
			early++;
		while (load_acquire(&pr.done) != i)
			cpu_relax();
		total[i - 1] = tsc_to_ns(t1 - t0);
		after[i - 1] = t1 > pr.unlock_tsc ? tsc_to_ns(t1 - pr.unlock_tsc) : 0;
	}
	store_release(&pr.stop, 1);
	while (!task_done(r) || !task_done(p))
		sched_yield();
	task_free(r);
	task_free(p);
	KTAP_EXPECT(!early, "%d of %d grace periods ended while the preempted reader was still in "
		    "its section", early, PR_ROUNDS);
	bench_line("rcu_gp", (median_u64(total, PR_ROUNDS) + 999) / 1000, "us",
		   "kind=preempted_reader stat=median");
	bench_line("rcu_gp_after_unlock", (median_u64(after, PR_ROUNDS) + 999) / 1000, "us",
		   "kind=preempted_reader stat=median");
}

#define CB_COUNT 20000
static int cb_left;
static struct rcu_head cb_heads[CB_COUNT];

static void cb_count(struct rcu_head *h)
{
	(void)h;
	atomic_dec(&cb_left);
}

static void call_rcu_rate(void)
{
	cb_left = CB_COUNT;
	uint64_t t0 = rdtsc_ordered();
	for (int i = 0; i < CB_COUNT; i++)
		call_rcu(&cb_heads[i], cb_count);
	rcu_barrier();
	uint64_t ns = tsc_to_ns(rdtsc_ordered() - t0);
	KTAP_EXPECT(load_acquire(&cb_left) == 0, "%d callbacks left", cb_left);
	bench_line("call_rcu", (uint64_t)CB_COUNT * 1000000000ull / (ns ? ns : 1), "callbacks/s", "");
}

static void read_pair(void *arg)
{
	(void)arg;
	rcu_read_lock();
	barrier();
	rcu_read_unlock();
}

static void rcu_read(void)
{
	uint64_t ns100 = time_ns(read_pair, NULL, 10000);
	bench_line("rcu_read", ns100, "ns", rcu_flavor == RCU_SCHED ? "flavor=sched" : "flavor=preempt");
	KTAP_EXPECT(ns100 < 100000, "a read section cost %llu ns", (unsigned long long)ns100);
}

/*
 * Context switch: the bench's task and a partner pinned to its CPU yield
 * to each other, so every yield is one switch. Same mm: both are user
 * tasks of one address space (no CR3 load); other mm: each has its own
 * (a CR3 load and two cpumask updates per switch). ns per switch.
 */
#define SWITCHES 2000

static void yield_partner(void *arg)
{
	int *stop = arg;

	while (!load_acquire(stop))
		sched_yield();
}

static uint64_t switch_ns(struct mm *mine, struct mm *partner_mm)
{
	static int stop;
	unsigned int me = smp_processor_id();
	struct task *p;
	uint64_t b[BATCHES];

	store_relaxed(&stop, 0);
	p = task_create("bench-partner", yield_partner, &stop, partner_mm, (int)me);
	if (!KTAP_EXPECT(p, "out of memory"))
		return 0;
	mm_switch(mine);
	task_start(p, me);
	sched_yield();		/* let it start */
	for (int k = 0; k < BATCHES; k++) {
		uint64_t c0 = sched_ctxsw_count(), t0 = rdtsc_ordered();
		for (unsigned int i = 0; i < SWITCHES / 2; i++)
			sched_yield();
		uint64_t t1 = rdtsc_ordered(), n = sched_ctxsw_count() - c0;
		b[k] = n ? tsc_to_ns(t1 - t0) / n : 0;
	}
	store_release(&stop, 1);
	while (!task_done(p))
		sched_yield();
	task_free(p);
	mm_switch_kernel();
	return median_u64(b, BATCHES);
}

static void context_switch(void)
{
	struct mm *a = mm_create(), *b = mm_create();

	if (KTAP_EXPECT(a && b, "out of memory")) {
		bench_line("context_switch", switch_ns(a, a), "ns", "mm=same");
		bench_line("context_switch", switch_ns(a, b), "ns", "mm=other");
	}
	if (a)
		mm_destroy(a);
	if (b)
		mm_destroy(b);
}

/*
 * System call round trip from ring 3: a stub makes SYSCALLS getcpu calls
 * in a loop (SYSCALL in, SYSRET out, the frame saved and restored), in a
 * user task's mm; ns per call, median of batches, the one ring-3 entry
 * and exit of each batch included (1/SYSCALLS of it per call).
 */
#define SYSCALLS 2000

static void syscall_roundtrip(void)
{
	struct mm *mm = mm_create();
	uint64_t b[BATCHES], ret;

	if (!KTAP_EXPECT(mm, "out of memory"))
		return;
	mm_switch(mm);
	uintptr_t stub = USER_STUB_VA + (uintptr_t)(user_stub_syscall_loop - user_stubs_start);
	for (int k = 0; k < BATCHES; k++) {
		uint64_t t0 = rdtsc_ordered();
		int fault = user_call(stub, SYSCALLS, SYS_getcpu, &ret);
		b[k] = tsc_to_ns(rdtsc_ordered() - t0) / SYSCALLS;
		if (!KTAP_EXPECT(!fault, "the system-call stub faulted (vector %d)", fault - 1))
			break;
	}
	mm_switch_kernel();
	mm_destroy(mm);
	bench_line("syscall_roundtrip", median_u64(b, BATCHES), "ns", "call=getcpu");
}

static const struct ktap_case bench_cases[] = {
	KTAP_CASE(basics),
	KTAP_CASE(ipi_receive),
	KTAP_CASE(minor_fault),
	KTAP_CASE(fault_throughput),
	KTAP_CASE(shootdown),
	KTAP_CASE(munmap_per_page),
	KTAP_CASE(map_touch_unmap),
	KTAP_CASE(rcu_gp),
	KTAP_CASE(rcu_gp_preempted_reader),
	KTAP_CASE(call_rcu_rate),
	KTAP_CASE(rcu_read),
	KTAP_CASE(context_switch),
	KTAP_CASE(syscall_roundtrip),
};
KTAP_SUITE(bench, bench_cases);
