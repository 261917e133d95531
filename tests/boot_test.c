/*
 * Suite "boot": every enabled CPU came up, runs code, has its own per-CPU
 * area, and answers IPIs, including all CPUs calling each other at once.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/smpboot.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/percpu.h"
#include "kernel/smp_call.h"
#include "kernel/worker.h"
#include "tests/ktap.h"

static void cpus_online(void)
{
	if (smpboot_result.nfailed) {
		for (unsigned int i = 0; i < smpboot_result.nfailed; i++)
			ktap_diag("cpu with apic id %u did not start", smpboot_result.failed_apic_ids[i]);
		ktap_error("%u of %u APs did not start", smpboot_result.nfailed, smpboot_result.tried);
		return;
	}
	KTAP_EXPECT(nr_cpus_online == acpi.nenabled, "%u CPUs online, %u enabled in the MADT",
		    nr_cpus_online, acpi.nenabled);
	KTAP_EXPECT(cpumask_weight(&cpu_online_mask) == nr_cpus_online, "online mask has %u bits",
		    cpumask_weight(&cpu_online_mask));
	ktap_diag("%u CPUs online (%u MADT entries, %u enabled), %s mode", nr_cpus_online,
		  acpi.ncpus, acpi.nenabled, apic_x2apic_mode() ? "x2APIC" : "xAPIC");
}

static struct {
	unsigned int cpu;
	uint32_t apic_id;
	uintptr_t percpu;
	int ran;
} seen[MAX_CPUS];

static void record_self(void *arg)
{
	struct percpu *pc = this_cpu();

	(void)arg;
	seen[pc->cpu].cpu = pc->cpu;
	seen[pc->cpu].apic_id = apic_read_id();
	seen[pc->cpu].percpu = (uintptr_t)pc;
	store_release(&seen[pc->cpu].ran, 1);
}

static void each_cpu_runs_code(void)
{
	unsigned int c;

	for_each_online_cpu(c)
		seen[c].ran = 0;
	workers_run_all(record_self, NULL, 0);
	for_each_online_cpu(c) {
		struct percpu *pc = cpu_percpu(c);
		KTAP_EXPECT(load_acquire(&seen[c].ran), "cpu %u did not run its worker", c);
		KTAP_EXPECT(seen[c].apic_id == pc->apic_id, "cpu %u reports apic id %u, table has %u",
			    c, seen[c].apic_id, pc->apic_id);
		KTAP_EXPECT(seen[c].percpu == (uintptr_t)pc, "cpu %u per-CPU area mismatch", c);
	}
}

static void apic_ids_match_madt(void)
{
	unsigned int c;

	for_each_online_cpu(c) {
		bool found = false;
		for (unsigned int i = 0; i < acpi.ncpus; i++)
			found |= acpi.cpus[i].enabled && acpi.cpus[i].apic_id == cpu_percpu(c)->apic_id;
		KTAP_EXPECT(found, "cpu %u apic id %u not an enabled MADT entry", c,
			    cpu_percpu(c)->apic_id);
		for (unsigned int d = c + 1; d < MAX_CPUS; d++)
			if (cpumask_test(&cpu_online_mask, d))
				KTAP_EXPECT(cpu_percpu(c)->apic_id != cpu_percpu(d)->apic_id,
					    "cpus %u and %u share apic id %u", c, d, cpu_percpu(c)->apic_id);
	}
}

static int call_hits[MAX_CPUS];

static void count_call(void *arg)
{
	(void)arg;
	/* Runs in the IPI handler on the target: interrupts are off. */
	KTAP_EXPECT(!irqs_enabled(), "call handler ran with interrupts on");
	atomic_inc(&call_hits[smp_processor_id()]);
}

static void ipi_each_cpu(void)
{
	unsigned int c;

	for_each_online_cpu(c)
		call_hits[c] = 0;
	for_each_online_cpu(c)
		smp_call_on(c, count_call, NULL);
	smp_call_others(count_call, NULL);
	for_each_online_cpu(c)
		KTAP_EXPECT(load_relaxed(&call_hits[c]) == (c == smp_processor_id() ? 1 : 2),
			    "cpu %u answered %d calls", c, call_hits[c]);
}

/* Calls per case, spread over all pairs: with many CPUs sharing a few
 * host cores under emulation, each call can take milliseconds. */
#define ALL_TO_ALL_CALLS 2400
static unsigned int all_to_all_rounds;

/* Every CPU calls every other CPU at once: the waiters serve their own
 * queues, so nobody deadlocks even when two CPUs target each other. */
static void call_everyone(void *arg)
{
	unsigned int me = smp_processor_id(), c;

	(void)arg;
	for (unsigned int r = 0; r < all_to_all_rounds; r++)
		for_each_online_cpu(c)
			if (c != me)
				smp_call_on(c, count_call, NULL);
}

static void ipi_all_to_all(void)
{
	unsigned int c;

	if (nr_cpus_online < 2) {
		ktap_skip("needs 2 CPUs");
		return;
	}
	all_to_all_rounds = ALL_TO_ALL_CALLS / (nr_cpus_online * (nr_cpus_online - 1));
	if (all_to_all_rounds < 2)
		all_to_all_rounds = 2;
	for_each_online_cpu(c)
		call_hits[c] = 0;
	workers_run_all(call_everyone, NULL, 0);
	for_each_online_cpu(c)
		KTAP_EXPECT(load_relaxed(&call_hits[c]) == (int)((nr_cpus_online - 1) * all_to_all_rounds),
			    "cpu %u answered %d calls, expected %u", c, call_hits[c],
			    (nr_cpus_online - 1) * all_to_all_rounds);
}

static void each_cpu_ticks(void)
{
	unsigned int c;
	uint64_t before[MAX_CPUS];

	for_each_online_cpu(c)
		before[c] = READ_ONCE(cpu_percpu(c)->tick_count);
	/* A few periods normally; up to 2 s for a vCPU the host keeps waiting. */
	uint64_t end = rdtsc() + ns_to_tsc(2000000000ull);
	for_each_online_cpu(c)
		while (READ_ONCE(cpu_percpu(c)->tick_count) == before[c] && rdtsc() < end)
			cpu_relax();
	for_each_online_cpu(c)
		KTAP_EXPECT(READ_ONCE(cpu_percpu(c)->tick_count) > before[c], "cpu %u did not tick in 2 s", c);
}

static const struct ktap_case boot_cases[] = {
	KTAP_CASE(cpus_online),
	KTAP_CASE(apic_ids_match_madt),
	KTAP_CASE(each_cpu_runs_code),
	KTAP_CASE(ipi_each_cpu),
	KTAP_CASE(ipi_all_to_all),
	KTAP_CASE(each_cpu_ticks),
};
KTAP_SUITE(boot, boot_cases);
