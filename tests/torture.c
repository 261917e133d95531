/* Shared torture machinery: see tests/torture.h. */
#include "tests/torture.h"
#include "arch/x86/pte.h"
#include "arch/x86/user.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/sched.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "mm/debug.h"
#include "mm/fault.h"
#include "mm/gup.h"
#include "mm/kmalloc.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/page_alloc.h"

uint64_t torture_duration_s = 10;
CMDLINE_U64(duration, torture_duration_s, 1, 86400, "seconds each torture suite runs");
static uint64_t torture_tasks_per_cpu = 2;
CMDLINE_U64(torture_tasks, torture_tasks_per_cpu, 1, 16, "torture worker tasks per CPU");

bool torture_begin(struct torture *t, const struct torture_needs *needs)
{
	if (nr_cpus_online < needs->cpus) {
		if (needs->roles)
			ktap_skip("needs %u CPUs (%s)", needs->cpus, needs->roles);
		else
			ktap_skip("needs %u CPUs", needs->cpus);
		return false;
	}
	if (needs->mm == TORTURE_OWN_MM) {
		t->mm = mm_create();
		if (!KTAP_EXPECT(t->mm, "out of memory"))
			return false;
	}
	t->nr_workers = (unsigned int)(nr_cpus_online * torture_tasks_per_cpu);
	if (t->nr_workers > TORTURE_MAX_WORKERS)
		t->nr_workers = TORTURE_MAX_WORKERS;
	return true;
}

unsigned int torture_workers(const struct torture *t)
{
	return t->nr_workers;
}

/*
 * gup_fast from a kernel thread, as a system call or an I/O path takes a
 * user page: a reference on a random page of the run's memory (the range
 * of torture_speculate()), held a little while the workers map, unmap,
 * reclaim and protect around it, then dropped. While held the page must
 * stay allocated: a free of it in between (its free count moved, or it
 * is on a free list) means the reference was not really taken, or was
 * taken on a page already being freed (gup_uaf). A reference kept after
 * gup_fast failed shows as a page never freed (the case's leak check).
 */
static void kthread_gup(struct torture *t, struct prng *rng)
{
	uintptr_t a = t->spec_base + prng_below(rng, t->spec_len / PAGE_SIZE) * PAGE_SIZE;
	struct page *p;

	if (gup_fast(t->mm, a, FAULT_READ, &p))
		return;
	uint32_t frees = load_relaxed(&p->frees);
	ndelay(prng_below(rng, 20000));
	uint32_t flags = load_relaxed(&p->flags), frees1 = load_relaxed(&p->frees);
	if (frees1 != frees || (flags & PG_FREE))
		report_error("gup_uaf", "torture kthread: page pfn 0x%lx of %lx in mm %u was freed while "
			     "gup_fast's reference on it was held (frees %u -> %u, flags %x)",
			     (unsigned long)(page_to_phys(p) >> PAGE_SHIFT), a, t->mm->id, frees,
			     frees1, flags);
	put_page(p);
	atomic_inc(&t->gups);
}

/*
 * The kernel thread beside the workers: short rcu_read_lock() sections
 * with a wait inside (an rcu=preempt reader the tick may switch out; with
 * rcu=sched a reader that holds the CPU), gup_fast on the run's memory, a
 * kmalloc now and then, and a yield, so the CPU's user mm goes lazy and
 * comes back all the time.
 */
static void kthread_fn(void *arg)
{
	struct torture *t = arg;
	struct prng rng;

	prng_init(&rng, global_seed, 5000 + current_task()->id);
	while (!load_acquire(&t->helpers_stop)) {
		if (t->mm && t->spec_len)
			kthread_gup(t, &rng);
		rcu_read_lock();
		ndelay(prng_below(&rng, 50000));
		rcu_read_unlock();
		if (prng_below(&rng, 4) == 0) {
			void *p = kmalloc(64 + prng_below(&rng, 512));
			if (p)
				kfree(p);
		}
		atomic_inc(&t->helper_steps);
		sched_yield();
	}
}

/*
 * The neighbour: a user task in an address space of its own, mapping,
 * writing, reading back and unmapping 16 pages in ring 3. Its switches
 * load another CR3 on the workers' CPUs, and its unmaps shoot down a mm
 * that kernel threads elsewhere keep lazily. A read that differs from
 * what it wrote is a kernel bug (a stale translation of a freed page).
 */
static void neighbour_fn(void *arg)
{
	struct torture *t = arg;
	struct mm *mm = current_task()->mm;
	const uintptr_t len = 16 * PAGE_SIZE;
	uint64_t n = 0;

	while (!load_acquire(&t->helpers_stop)) {
		long a = vm_mmap(mm, 0, len, PROT_READ | PROT_WRITE, 0);
		if (a <= 0)
			break;
		for (uintptr_t off = 0; off < len; off += PAGE_SIZE)
			if (user_write_u64((uintptr_t)a + off, ++n)) {
				report_error("lost_mapping", "torture neighbour: write to %lx faulted",
					     (uintptr_t)a + off);
				break;
			}
		sched_yield();
		uint64_t want = n - len / PAGE_SIZE, v = 0;
		for (uintptr_t off = 0; off < len; off += PAGE_SIZE) {
			want++;
			if (user_read_u64((uintptr_t)a + off, &v) || v != want) {
				report_error("wrong_data", "torture neighbour: %lx holds %lx, wrote %lx",
					     (uintptr_t)a + off, v, want);
				break;
			}
		}
		vm_munmap(mm, (uintptr_t)a, len);
		atomic_inc(&t->helper_steps);
	}
}

void torture_speculate(struct torture *t, uintptr_t base, uintptr_t len)
{
	t->spec_base = base;
	t->spec_len = len;
}

#define SPEC_FILLS 16

static struct torture *spec_run;		/* (c) while torture_run() runs */
/* (i) each CPU its own: its generator and the pages it filled. */
static struct spec_cpu {
	struct prng rng;
	uintptr_t filled[SPEC_FILLS];
} __cacheline_aligned spec_cpu[MAX_CPUS];

/*
 * A read of a user page from here, through the TLB, in ring 3 (QEMU keeps
 * a TLB per privilege level, so a fill the user accesses are to meet
 * must be a user access), that never faults in (arch/x86/user.h).
 */
static int spec_read(uintptr_t addr, uint64_t *v)
{
	return user_probe_read(addr, v);
}

/*
 * mm_switch_hook, interrupts off. At MM_SWITCH_CR3: fill, and hold the
 * window. At MM_SWITCH_DONE: read the filled pages again through the
 * TLB. A page freed meanwhile holds the allocator's poison; a user read
 * can only return it through a translation a shootdown missed (a
 * flush that reaches this CPU waits for its ack, which it cannot give
 * with interrupts off, before the page is freed).
 */
static void spec_fill(struct mm *mm, enum mm_switch_point at)
{
	struct torture *t = spec_run;

	if (!t || mm != t->mm)
		return;
	struct spec_cpu *sc = &spec_cpu[smp_processor_id()];
	struct prng *r = &sc->rng;
	uint64_t v;
	if (at == MM_SWITCH_DONE) {
		for (int i = 0; i < SPEC_FILLS; i++)
			if (spec_read(sc->filled[i], &v) == 0 && v == PAGE_POISON)
				report_error("stale_tlb", "cpu %u read free-page poison at %lx through its TLB "
					     "right after switching to mm %u: a shootdown of the page missed it",
					     smp_processor_id(), sc->filled[i], mm->id);
		return;
	}
	uint64_t gen = load_acquire(&mm->tlb_gen);
	for (int i = 0; i < SPEC_FILLS; i++) {
		sc->filled[i] = t->spec_base + prng_below(r, t->spec_len / PAGE_SIZE) * PAGE_SIZE;
		spec_read(sc->filled[i], &v);
	}
	/* Hold the window until a shootdown of mm starts (an initiator bumps
	 * tlb_gen just before it reads the cpumask: mm/tlb.c, (C)), or up
	 * to 500 us, now and then 2 ms; then 50 us longer, time for it to
	 * read the cpumask and, if it skipped this CPU, to free the pages.
	 * With interrupts off here, a correct switch only delays that
	 * initiator's ack (it waits for this CPU before it frees). */
	uint64_t end = rdtsc() + ns_to_tsc(prng_below(r, 8) ? 500000 : 2000000);
	while (load_relaxed(&mm->tlb_gen) == gen && (int64_t)(rdtsc() - end) < 0)
		cpu_relax();
	if (load_relaxed(&mm->tlb_gen) != gen)
		ndelay(50000);
	atomic_inc(&t->spec_fills);
}

static void wait_task(struct task *task, uint64_t deadline)
{
	while (!task_done(task)) {
		sched_yield();
		cpu_relax();
		if ((int64_t)(rdtsc() - deadline) > 0)
			hang_report("torture task %s (%pS) did not finish in time", task->name,
				    (void *)task->fn);
	}
}

static void print_sched_line(const struct sched_stats *a, const struct sched_stats *b)
{
	ktap_diag("sched: tasks=%llu user=%llu ctxsw=%llu mm_switches=%llu lazy_enter=%llu "
		  "lazy_flushes=%llu migrations=%llu preempted_readers=%llu preemptions=%llu",
		  (unsigned long long)(b->tasks - a->tasks),
		  (unsigned long long)(b->user_tasks - a->user_tasks),
		  (unsigned long long)(b->ctxsw - a->ctxsw),
		  (unsigned long long)(b->mm_switches - a->mm_switches),
		  (unsigned long long)(b->lazy_enter - a->lazy_enter),
		  (unsigned long long)(b->lazy_flushes - a->lazy_flushes),
		  (unsigned long long)(b->migrations - a->migrations),
		  (unsigned long long)(b->preempted_readers - a->preempted_readers),
		  (unsigned long long)(b->preemptions - a->preemptions));
}

/* Which stall points fired how often during the run (kernel/stall.h):
 * the interleavings the run widened. By name, a few to a line. */
static void print_stall_line(const unsigned long *before)
{
	const struct stall_point *last = NULL;
	char line[200];
	size_t n = 0;

	if (!(stall_active & STALL_ARMED))
		return;
	for (;;) {
		const struct stall_point *next = NULL;
		for_each_stall_point(p)
			if (p->armed && (!last || strcmp(p->name, last->name) > 0) &&
			    (!next || strcmp(p->name, next->name) < 0))
				next = p;
		if (n && (!next || n > sizeof(line) - 48)) {
			ktap_diag("stall:%s", line);
			n = 0;
		}
		if (!next)
			break;
		unsigned int i = next - __stall_points_start;
		n += snprintf(line + n, sizeof(line) - n, " %s=%lu", next->name, stall_fired(next) - before[i]);
		if (next->gp_hold)
			n += snprintf(line + n, sizeof(line) - n, "(%lu held)", stall_held(next) - before[STALL_MAX_POINTS + i]);
		last = next;
	}
}

static void print_spec_line(const struct torture *t)
{
	if (t->spec_len)
		ktap_diag("speculative fills: %lu switches into the run's mm read its pages right after "
			  "the CR3 load; %lu gup_fast references taken by kernel threads", t->spec_fills,
			  t->gups);
}

void torture_run(struct torture *t, worker_fn fn, void *arg)
{
	static struct task *workers[TORTURE_MAX_WORKERS], *helpers[MAX_CPUS + 1];
	unsigned int nh = 0, c;
	struct sched_stats s0, s1;
	struct vma_lock_stats v0, v1;
	static unsigned long stalls0[2 * STALL_MAX_POINTS];	/* fired, then held */
	struct mm *nmm = mm_create();
	char name[TASK_NAME_LEN];

	sched_stats_get(&s0);
	vma_lock_stats_get(&v0);
	t->end_tsc = rdtsc() + ns_to_tsc(torture_duration_s * 1000000000ull);
	store_relaxed(&t->helpers_stop, 0);
	for (unsigned int i = 0; i < t->nr_workers; i++) {
		snprintf(name, sizeof(name), "torture/%u", i);
		workers[i] = task_create(name, fn, arg, t->mm, TASK_ANY_CPU);
		KTAP_ASSERT(workers[i], "out of memory for torture task %u", i);
		workers[i]->priv = i;
	}
	/* Worker 0 leads where a suite has a lead (the mapper, the
	 * unmapper, the flipper, the RCU writer): among 2 workers per CPU,
	 * kernel threads and the neighbour it would get a few percent of a
	 * CPU and the runs would hold few of its events; four slices per
	 * turn keep it near half a CPU. */
	workers[0]->weight = 4;
	for_each_online_cpu(c) {
		snprintf(name, sizeof(name), "kthread/%u", c);
		helpers[nh] = task_create(name, kthread_fn, t, NULL, TASK_ANY_CPU);
		KTAP_ASSERT(helpers[nh], "out of memory for a kernel thread");
		nh++;
	}
	if (nmm) {
		helpers[nh] = task_create("neighbour", neighbour_fn, t, nmm, TASK_ANY_CPU);
		KTAP_ASSERT(helpers[nh], "out of memory for the neighbour");
		nh++;
	}
	if (t->spec_len && t->mm) {
		for_each_online_cpu(c)
			prng_init(&spec_cpu[c].rng, global_seed, 4000 + c);
		spec_run = t;
		mm_switch_hook = spec_fill;
	}
	unsigned int ns = 0;
	for_each_stall_point(p) {
		if (ns < STALL_MAX_POINTS) {
			stalls0[ns] = stall_fired(p);
			stalls0[STALL_MAX_POINTS + ns++] = stall_held(p);
		}
	}
	stall_arm();
	for (unsigned int i = 0; i < t->nr_workers; i++)
		task_start(workers[i], i);
	for (unsigned int i = 0; i < nh; i++)
		task_start(helpers[i], i);
	uint64_t deadline = t->end_tsc + ns_to_tsc(60000000000ull);
	for (unsigned int i = 0; i < t->nr_workers; i++)
		wait_task(workers[i], deadline);
	store_release(&t->helpers_stop, 1);
	for (unsigned int i = 0; i < nh; i++)
		wait_task(helpers[i], deadline);
	print_stall_line(stalls0);
	stall_disarm();
	/* No switch to t->mm is left: the workers are done. */
	mm_switch_hook = NULL;
	spec_run = NULL;
	sched_stats_get(&s1);
	for (unsigned int i = 0; i < t->nr_workers; i++)
		task_free(workers[i]);
	for (unsigned int i = 0; i < nh; i++)
		task_free(helpers[i]);
	if (nmm)
		mm_destroy(nmm);
	print_sched_line(&s0, &s1);
	print_spec_line(t);
	if (fault_mode == FAULT_PATH_VMA_LOCK) {
		vma_lock_stats_get(&v1);
		ktap_diag("vma_lock: attempts=%llu done=%llu fallback_novma=%llu fallback_marked=%llu "
			  "fallback_changed=%llu", (unsigned long long)(v1.attempts - v0.attempts),
			  (unsigned long long)(v1.done - v0.done),
			  (unsigned long long)(v1.fallback_novma - v0.fallback_novma),
			  (unsigned long long)(v1.fallback_marked - v0.fallback_marked),
			  (unsigned long long)(v1.fallback_changed - v0.fallback_changed));
	}
}

void torture_worker_start(const struct torture *t, struct prng *rng, uint64_t stream_base)
{
	prng_init(rng, global_seed, stream_base + torture_me());
	mm_switch(t->mm);
}

bool torture_judges_work(struct torture *t)
{
	if (t->verdict == TORTURE_UNJUDGED)
		t->verdict = ktap_case_failed() ? TORTURE_CUT_SHORT : TORTURE_JUDGE_WORK;
	return t->verdict == TORTURE_JUDGE_WORK;
}

void torture_end(struct torture *t)
{
	if (t->mm)
		mm_destroy(t->mm);
	t->mm = NULL;
}
