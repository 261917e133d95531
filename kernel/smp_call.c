/*
 * Cross-CPU function calls. See kernel/smp_call.h.
 *
 * This file owns the call protocol; the TLB shootdown built on it is
 * drawn in mm/tlb.c.
 *
 *   caller                             target (IPI, or polling while it
 *                                      waits for a call of its own)
 *   req on the stack, done = 0
 *   lock queue; push req; unlock
 *   send IPI  ------------------->     lock queue; take the list; unlock
 *                                      next = req->next (req dies with done)
 *                                      fn(arg) with interrupts off
 *   load_acquire(done)  <----------    store_release(done, 1)
 *   req may go out of scope
 *
 * The queue lock hands the request over; the release of done pairs with
 * the caller's acquire, so the caller sees everything fn wrote, and the
 * target touches req no more after it. A caller waiting for its own call
 * serves its queue meanwhile, so CPUs calling each other never deadlock.
 */
#include "kernel/smp_call.h"
#include "arch/x86/apic.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/stall.h"
#include "kernel/timer.h"
#include "mm/kmalloc.h"

DEFINE_STALL(smp_call_posted, 50, "cross-CPU call: request posted and IPI sent, not yet waited for");
DEFINE_STALL(smp_call_serve, 50, "cross-CPU call: the target took the request, function not yet run");

static uint64_t ipi_timeout_ms;
CMDLINE_U64(ipi_timeout, ipi_timeout_ms, 0, 600000, "ms to wait for a cross-CPU call (0: default)");
uint64_t smp_call_timeout_ns;

/* A request lives on the caller's stack until done is set. */
struct call_req {
	smp_call_fn fn;
	void *arg;
	struct call_req *next;		/* (queue lock) */
	int done;			/* (a) release by the target */
};

static struct call_queue {
	spinlock_t lock;
	struct call_req *head;		/* (lock) */
} __cacheline_aligned queues[MAX_CPUS];

void smp_call_serve(void)
{
	struct call_queue *q = &queues[smp_processor_id()];
	struct call_req *list;
	uint64_t flags;

	if (!load_relaxed(&q->head))
		return;
	flags = spin_lock_irqsave(&q->lock);
	list = q->head;
	q->head = NULL;
	spin_unlock_irqrestore(&q->lock, flags);
	while (list) {
		struct call_req *r = list;
		list = r->next;		/* read before done: r dies with it */
		/* Functions always run with interrupts off, whether from the
		 * IPI or polled by a waiter. */
		flags = irq_save();
		stall(smp_call_serve);
		r->fn(r->arg);
		irq_restore(flags);
		/* Pairs with the acquire load in wait_done(): the caller sees
		 * everything fn wrote. */
		store_release(&r->done, 1);
	}
}

static void call_ipi(struct trap_frame *f)
{
	(void)f;
	smp_call_serve();
}

void smp_call_init(void)
{
	uint64_t ms = ipi_timeout_ms ? ipi_timeout_ms : cpu_features.hypervisor ? 20000 : 2000;
	smp_call_timeout_ns = ms * 1000000;
	for (unsigned int c = 0; c < MAX_CPUS; c++)
		spin_lock_init(&queues[c].lock, LOCK_CALL_QUEUE);
	irq_register(VEC_CALL, call_ipi);
}

static void post(unsigned int cpu, struct call_req *r)
{
	struct call_queue *q = &queues[cpu];
	uint64_t flags = spin_lock_irqsave(&q->lock);

	r->next = q->head;
	q->head = r;
	spin_unlock_irqrestore(&q->lock, flags);
	apic_send_ipi(cpu_percpu(cpu)->apic_id, VEC_CALL);
}

static void wait_done(unsigned int cpu, struct call_req *r, uint64_t deadline)
{
	while (!load_acquire(&r->done)) {
		smp_call_serve();
		cpu_relax();
		if ((int64_t)(rdtsc() - deadline) > 0)
			hang_report("smp_call: cpu %u did not answer a call to %pS within %llu ms; "
				    "it last took an interrupt at %pS", cpu, (void *)r->fn,
				    (unsigned long long)smp_call_timeout_ns / 1000000,
				    (void *)READ_ONCE(cpu_percpu(cpu)->last_irq_rip));
	}
}

void smp_call_on(unsigned int cpu, smp_call_fn fn, void *arg)
{
	struct call_req r = { fn, arg, NULL, 0 };

	/* On one CPU throughout: "cpu is me" must stay true or false. */
	preempt_disable();
	if (cpu == smp_processor_id()) {
		uint64_t flags = irq_save();
		fn(arg);
		irq_restore(flags);
	} else {
		post(cpu, &r);
		stall(smp_call_posted);
		wait_done(cpu, &r, rdtsc() + ns_to_tsc(smp_call_timeout_ns));
	}
	preempt_enable();
}

/* Per-CPU request arrays for smp_call_others(), one slot per target,
 * allocated once the CPUs are known. (o) */
static struct call_req *others_reqs[MAX_CPUS];
static bool others_busy[MAX_CPUS];

static void smp_call_mask_here(const struct cpumask *mask, smp_call_fn fn, void *arg);

void smp_call_mask(const struct cpumask *mask, smp_call_fn fn, void *arg)
{
	preempt_disable();
	smp_call_mask_here(mask, fn, arg);
	preempt_enable();
}

/* smp_call_mask() with the preempt count raised: this CPU's slots. */
static void smp_call_mask_here(const struct cpumask *mask, smp_call_fn fn, void *arg)
{
	unsigned int me = smp_processor_id(), c;
	uint64_t deadline = rdtsc() + ns_to_tsc(smp_call_timeout_ns);
	struct call_req *reqs;

	ASSERT_MSG(others_reqs[me], "smp_call_mask before smp_call_init_late");
	/* A function run while this CPU waits must not call here again:
	 * it would reuse the slots still queued. */
	ASSERT(!others_busy[me]);
	others_busy[me] = true;
	reqs = others_reqs[me];
	for_each_cpu_in(c, mask) {
		if (c == me)
			continue;
		reqs[c] = (struct call_req){ fn, arg, NULL, 0 };
		post(c, &reqs[c]);
	}
	stall(smp_call_posted);
	for_each_cpu_in(c, mask)
		if (c != me)
			wait_done(c, &reqs[c], deadline);
	others_busy[me] = false;
}

void smp_call_others(smp_call_fn fn, void *arg)
{
	smp_call_mask(&cpu_online_mask, fn, arg);
}

void smp_call_init_late(void)
{
	unsigned int c;

	for_each_online_cpu(c) {
		others_reqs[c] = kmalloc(sizeof(struct call_req) * MAX_CPUS);
		ASSERT(others_reqs[c]);
	}
}
