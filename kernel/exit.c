#include "kernel/exit.h"
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "arch/x86/uart.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/timer.h"

static const char *const exit_names[] = { "halt", "qemu", "reboot", "poweroff", NULL };
int exit_action = EXIT_HALT;
CMDLINE_ENUM(exit, exit_action, exit_names, "what happens when the tests end");

static bool stopping;		/* (a) set once by kernel_exit() */

bool kernel_stopping(void)
{
	return load_acquire(&stopping);
}

/* Park every other CPU (NMI: reaches them even with interrupts off). */
static void stop_other_cpus(void)
{
	unsigned int me = smp_processor_id(), c;

	store_release(&stopping, true);
	for_each_online_cpu(c)
		if (c != me)
			apic_send_nmi(cpu_percpu(c)->apic_id);
	mdelay(10);
}

static void acpi_reboot(void)
{
	if (acpi.reset_supported && acpi.reset_space == 1)
		outb((uint16_t)acpi.reset_addr, acpi.reset_value);
	mdelay(50);
	/* Keyboard controller pulse on the reset line. */
	for (int i = 0; i < 1000 && (inb(0x64) & 2); i++)
		udelay(10);
	outb(0x64, 0xfe);
	mdelay(50);
	/* Triple fault: load an empty IDT and take an exception. */
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) null_idt = { 0, 0 };
	__asm__ volatile("lidt %0; int3" : : "m"(null_idt));
}

static void acpi_poweroff(void)
{
	if (acpi.pm1a_cnt && acpi.slp_typa_s5 != 0xffff) {
		outw(acpi.pm1a_cnt, (acpi.slp_typa_s5 << 10) | (1u << 13));
		if (acpi.pm1b_cnt)
			outw(acpi.pm1b_cnt, (acpi.slp_typb_s5 << 10) | (1u << 13));
		mdelay(100);
	}
	printk("# poweroff: ACPI S5 did not power the machine off; halting\n");
}

void kernel_exit(enum exit_code code)
{
	irq_disable();
	watchdog_disable();
	if (nr_cpus_online > 1)
		stop_other_cpus();
	console_flush_all();

	switch (exit_action) {
	case EXIT_QEMU:
		/* isa-debug-exit: QEMU exits with (code << 1) | 1. */
		outb(0xf4, code);
		printk("# exit=qemu: no isa-debug-exit device at 0xf4; halting\n");
		break;
	case EXIT_REBOOT:
		printk("# rebooting (exit code 0x%x)\n", code);
		console_flush_all();
		acpi_reboot();
		break;
	case EXIT_POWEROFF:
		/* The code stays in the log: an emulator that ends on power
		 * off (Bochs) has no other way to pass it on. */
		printk("# powering off (exit code 0x%x)\n", code);
		console_flush_all();
		acpi_poweroff();
		break;
	default:
		printk("# halted (exit code 0x%x)\n", code);
		break;
	}
	console_flush_all();
	halt_forever();
}
