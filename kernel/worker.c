#include "kernel/worker.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/timer.h"

/*
 * One slot per CPU. The BSP writes fn/arg, then bumps gen with release;
 * the worker reads gen with acquire (pairs), runs, and publishes done =
 * gen with release, which the BSP reads with acquire.
 */
static struct worker {
	worker_fn fn;			/* (BSP) before gen is bumped */
	void *arg;
	uint64_t gen;			/* (a) */
	uint64_t done;			/* (a) */
} __cacheline_aligned workers[MAX_CPUS];

void (*idle_enter_hook)(void);
void (*idle_exit_hook)(void);

void worker_idle_loop(void)
{
	struct percpu *pc = this_cpu();
	struct worker *w = &workers[pc->cpu];

	for (;;) {
		irq_disable();
		uint64_t gen = load_acquire(&w->gen);
		if (gen != w->done) {
			irq_enable();
			w->fn(w->arg);
			store_release(&w->done, gen);
			continue;
		}
		/* Interrupts stay off from the check to the halt, so the wake
		 * IPI cannot slip in between and be missed. */
		pc->idle = true;
		if (idle_enter_hook)
			idle_enter_hook();
		safe_halt();
		irq_disable();
		pc->idle = false;
		if (idle_exit_hook)
			idle_exit_hook();
		irq_enable();
	}
}

void workers_start(const struct cpumask *mask, worker_fn fn, void *arg)
{
	unsigned int me = smp_processor_id(), c;

	for_each_cpu_in(c, mask) {
		if (c == me)
			continue;
		struct worker *w = &workers[c];
		w->fn = fn;
		w->arg = arg;
		store_release(&w->gen, w->gen + 1);
		apic_send_ipi(cpu_percpu(c)->apic_id, VEC_WAKE);
	}
}

void workers_wait(const struct cpumask *mask, uint64_t timeout_ns)
{
	unsigned int me = smp_processor_id(), c;
	uint64_t deadline = rdtsc() + ns_to_tsc(timeout_ns ? timeout_ns : 60000000000ull);

	for_each_cpu_in(c, mask) {
		if (c == me)
			continue;
		struct worker *w = &workers[c];
		while (load_acquire(&w->done) != w->gen) {
			cpu_relax();
			if ((int64_t)(rdtsc() - deadline) > 0)
				hang_report("worker on cpu %u did not finish %pS in time; "
					    "it last took an interrupt at %pS", c, (void *)w->fn,
					    (void *)READ_ONCE(cpu_percpu(c)->last_irq_rip));
		}
	}
}

void workers_run(const struct cpumask *mask, worker_fn fn, void *arg, uint64_t timeout_ns)
{
	workers_start(mask, fn, arg);
	if (cpumask_test(mask, smp_processor_id()))
		fn(arg);
	workers_wait(mask, timeout_ns);
}

void workers_run_all(worker_fn fn, void *arg, uint64_t timeout_ns)
{
	workers_run(&cpu_online_mask, fn, arg, timeout_ns);
}

static void wake_ipi(struct trap_frame *f)
{
	(void)f;
}


void worker_init(void)
{
	irq_register(VEC_WAKE, wake_ipi);
}
