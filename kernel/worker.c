#include "kernel/worker.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/sched.h"
#include "kernel/timer.h"

/*
 * One slot per CPU: the task running fn there. Written by the caller of
 * workers_start() (the test's task), read by its workers_wait().
 */
static struct task *workers[MAX_CPUS];

void (*idle_enter_hook)(void);
void (*idle_exit_hook)(void);

void workers_start(const struct cpumask *mask, worker_fn fn, void *arg)
{
	unsigned int me = smp_processor_id(), c;
	char name[TASK_NAME_LEN];

	ASSERT_MSG(current_task()->pin == (int)me, "workers_start() from a task that may migrate");
	for_each_cpu_in(c, mask) {
		if (c == me)
			continue;
		snprintf(name, sizeof(name), "worker/%u", c);
		workers[c] = task_create(name, fn, arg, NULL, (int)c);
		if (!workers[c])
			panic("workers: out of memory for cpu %u's task", c);
		task_start(workers[c], c);
	}
}

void workers_wait(const struct cpumask *mask, uint64_t timeout_ns)
{
	unsigned int me = smp_processor_id(), c;
	uint64_t deadline = rdtsc() + ns_to_tsc(timeout_ns ? timeout_ns : 60000000000ull);

	for_each_cpu_in(c, mask) {
		if (c == me)
			continue;
		struct task *t = workers[c];
		while (!task_done(t)) {
			sched_yield();
			cpu_relax();
			if ((int64_t)(rdtsc() - deadline) > 0)
				hang_report("worker on cpu %u did not finish %pS in time; "
					    "it last took an interrupt at %pS", c, (void *)t->fn,
					    (void *)READ_ONCE(cpu_percpu(c)->last_irq_rip));
		}
		task_free(t);
		workers[c] = NULL;
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
