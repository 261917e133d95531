#include "arch/x86/smpboot.h"
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/syscall.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "boot/multiboot2.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/sched.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "kernel/worker.h"
#include "mm/kmap.h"
#include "mm/page_alloc.h"

struct trampoline_params {
	uint64_t cr3, cr4, efer, stack, entry, arg, kcr3, pad;
};
_Static_assert(sizeof(struct trampoline_params) == 64, "boot/trampoline.asm params");

extern const char tramp_start[], tramp_end[];
extern const uint64_t trampoline_params_offset;
extern uint32_t boot_cr3;
extern uint32_t boot_efer;
extern char ap_start64[];

struct smpboot_result smpboot_result;

static struct percpu bsp_percpu;
static char bsp_ist[3 * IST_STACK_SIZE] __attribute__((aligned(16)));
/* (a) the AP being started sets this to its index when it is up. */
static unsigned int ap_checked_in;

void smp_init_bsp(void)
{
	percpu_setup(0, 0, &bsp_percpu);
	gdt_init_cpu(0, bsp_ist);
	syscall_init_cpu();
	idt_init();
	idt_load();
}

/* A free page below 1 MiB for the trampoline (the page allocator never
 * hands those out). Prefer 0x8000; any usable page from 0x1000 will do. */
static paddr_t trampoline_page(void)
{
	paddr_t best = 0;

	for (unsigned int i = 0; i < boot_info.nranges; i++) {
		const struct mem_range *r = &boot_info.ranges[i];
		if (r->type != MEM_USABLE)
			continue;
		for (paddr_t pa = (r->base + PAGE_SIZE - 1) & PAGE_MASK;
		     pa + PAGE_SIZE <= r->base + r->len && pa < 0x9f000; pa += PAGE_SIZE) {
			if (pa < 0x1000)
				continue;
			if (pa == 0x8000)
				return pa;
			if (!best)
				best = pa;
		}
	}
	return best;
}

/* C entry of an AP, on its own stack and the kernel page tables. */
__attribute__((noreturn)) void ap_entry(unsigned int cpu);
void ap_entry(unsigned int cpu)
{
	struct percpu *pc = cpu_table[cpu];

	wrmsr(MSR_GS_BASE, (uintptr_t)pc);
	cpu_setup_control_regs();
	gdt_init_cpu(cpu, (void *)(pc->stack_bottom - 3 * IST_STACK_SIZE));
	syscall_init_cpu();
	idt_load();
	apic_init_cpu();
	ASSERT(apic_read_id() == pc->apic_id);
	timer_init_cpu();
	cpumask_set(&cpu_online_mask, cpu);
	/* Pairs with the acquire load in start_ap(). */
	store_release(&ap_checked_in, cpu);
	irq_enable();
	sched_ap_start();
}

static bool start_ap(unsigned int cpu, uint32_t apic_id, struct trampoline_params *params,
		     paddr_t tramp)
{
	/* Stack, then the three IST stacks below it, then the per-CPU area. */
	size_t size = KSTACK_SIZE + 3 * IST_STACK_SIZE + PAGE_SIZE;
	unsigned int order = 0;
	while ((PAGE_SIZE << order) < size)
		order++;
	struct page *pg = alloc_pages(order, PAGE_KERNEL);
	if (!pg)
		panic("smp: out of memory for cpu %u's stacks", cpu);
	char *base = page_address(pg);
	memset(base, 0, size);
	struct percpu *pc = (struct percpu *)base;
	pc->self = pc;
	pc->cpu = cpu;
	pc->apic_id = apic_id;
	pc->current = sched_boot_task(cpu);
	pc->stack_bottom = (uintptr_t)base + PAGE_SIZE + 3 * IST_STACK_SIZE;
	pc->stack_top = pc->stack_bottom + KSTACK_SIZE;
	cpu_table[cpu] = pc;

	params->stack = pc->stack_top;
	params->arg = cpu;
	store_release(&ap_checked_in, 0);

	apic_send_init(apic_id);
	mdelay(10);
	for (int i = 0; i < 2; i++) {
		apic_send_sipi(apic_id, tramp >> PAGE_SHIFT);
		udelay(200);
	}
	uint64_t deadline = rdtsc() + ns_to_tsc(AP_START_TIMEOUT_NS);
	while ((int64_t)(rdtsc() - deadline) < 0) {
		if (load_acquire(&ap_checked_in) == cpu)
			return true;
		cpu_relax();
	}
	cpu_table[cpu] = NULL;
	/* The stacks stay allocated: the AP might still wake up late. */
	return false;
}

unsigned int smp_boot_aps(void)
{
	unsigned int bsp_apic = this_cpu()->apic_id, next = 1;
	paddr_t tramp = trampoline_page();
	size_t len = tramp_end - tramp_start;

	bsp_percpu.stack_top = 0;
	cpumask_set(&cpu_online_mask, 0);
	nr_cpus_online = 1;
	if (acpi.nenabled <= 1)
		return 1;
	if (!tramp)
		panic("smp: no free page below 1 MiB for the AP trampoline");

	/* The trampoline page is reached through the direct map when it is
	 * RAM that the direct map covers, else mapped for the copy. */
	void *dst = memremap(tramp, PAGE_SIZE);
	memcpy(dst, tramp_start, len);
	struct trampoline_params *params =
		(struct trampoline_params *)((char *)dst + trampoline_params_offset);
	/* boot/entry.asm's symbols are linked at their physical addresses. */
	params->cr3 = *(const uint32_t *)phys_to_virt((uintptr_t)&boot_cr3);
	params->cr4 = CR4_PAE | (read_cr4() & CR4_LA57);
	params->efer = *(const uint32_t *)phys_to_virt((uintptr_t)&boot_efer);
	params->entry = (uintptr_t)ap_start64;
	params->kcr3 = kmap_kernel_top();

	for (unsigned int i = 0; i < acpi.ncpus; i++) {
		const struct acpi_cpu *c = &acpi.cpus[i];
		if (!c->enabled || c->apic_id == bsp_apic)
			continue;
		smpboot_result.tried++;
		if (start_ap(next, c->apic_id, params, tramp)) {
			smpboot_result.started++;
			next++;
		} else {
			smpboot_result.failed_apic_ids[smpboot_result.nfailed++] = c->apic_id;
			printk("# smp: cpu with apic id %u did not start within %llu ms\n",
			       c->apic_id, AP_START_TIMEOUT_NS / 1000000);
		}
	}
	nr_cpus_online = next;
	return next;
}
