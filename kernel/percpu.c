#include "kernel/percpu.h"
#include "arch/x86/cpu.h"
#include "kernel/sched.h"

struct percpu *cpu_table[MAX_CPUS];
unsigned int nr_cpus_online;
struct cpumask cpu_online_mask;

void percpu_setup(unsigned int cpu, uint32_t apic_id, struct percpu *area)
{
	area->self = area;
	area->cpu = cpu;
	area->apic_id = apic_id;
	area->current = sched_boot_task(cpu);
	wrmsr(MSR_GS_BASE, (uintptr_t)area);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	cpu_table[cpu] = area;
}
