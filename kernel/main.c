/*
 * Init order (BSP). Each step depends only on the ones above it:
 *
 *   per-CPU area, GDT/IDT   traps work, this_cpu() works
 *   multiboot2 info copied  before anything writes below 1 MiB
 *   COM1                    printk works (if the port exists)
 *   command line            options known; errors wait for the header
 *   kernel page tables      direct map, W^X image, ioremap
 *   page allocator          alloc_page(), kmalloc()
 *   screen, ACPI tables     the console follows the SPCR's UART (boot log
 *                           replayed there) before any bail-out is printed
 *   local APIC, TSC         clocks and IPIs
 *   tick, cross-CPU calls   then the APs start
 *   watchdog, header, tests
 */
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/fbcon.h"
#include "arch/x86/pic.h"
#include "arch/x86/smpboot.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "arch/x86/uart.h"
#include "arch/x86/vga.h"
#include "boot/multiboot2.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/report.h"
#include "kernel/rcu.h"
#include "kernel/sched.h"
#include "kernel/smp_call.h"
#include "kernel/timer.h"
#include "kernel/worker.h"
#include "mm/kmap.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"
#include "tests/ktap.h"

enum { CONSOLE_BOTH, CONSOLE_SERIAL, CONSOLE_FB };
static const char *const console_names[] = { "both", "serial", "fb", NULL };
static int console_choice;
CMDLINE_ENUM(console, console_choice, console_names, "where the log goes");

/*
 * crash=: make the boot CPU take an unhandled exception (or fail an
 * assertion) right after the header, to show the panic path: register
 * dump, symbolized backtrace, the other CPUs' backtraces, panic exit code.
 */
enum { CRASH_NONE, CRASH_PF, CRASH_UD, CRASH_GP, CRASH_ASSERT };
static const char *const crash_names[] = { "none", "pf", "ud", "gp", "assert", NULL };
static int crash_choice;
CMDLINE_ENUM(crash, crash_choice, crash_names, "take a deliberate panic after the header");

/* The address comes from a variable so the compiler cannot see the
 * null-page write coming. */
static uintptr_t crash_addr = 0x10;

__attribute__((noinline)) static void crash_now(int how)
{
	switch (how) {
	case CRASH_PF:
		*(volatile uint64_t *)READ_ONCE(crash_addr) = 1;
		break;
	case CRASH_UD:
		__asm__ volatile("ud2");
		break;
	case CRASH_GP:
		*(volatile uint64_t *)0x8000000000000000ul = 1;
		break;
	case CRASH_ASSERT:
		ASSERT(how != CRASH_ASSERT);
		break;
	}
}

/*
 * Serial output goes where the firmware's console is (ACPI SPCR), with the
 * lines printed so far replayed there. SPCR gives a register width; the
 * registers sit as far apart as they are wide (1 byte apart, or 4 for
 * 32-bit MMIO registers), the layout every PC-class MMIO 16550 uses.
 */
static void console_follow_spcr(void)
{
	const struct acpi_spcr *s = &acpi.spcr;
	struct uart_port p = {
		.space = s->mmio ? UART_SPACE_MMIO : UART_SPACE_IO,
		.base = s->address,
		.stride = s->reg_bytes,
		.width = s->reg_bytes,
		.baud = s->baud,
		.clock_hz = s->clock_hz,
		.origin = "ACPI SPCR",
	};

	uart_switch(&p);
}

/* Below this the tests cannot run (page tables, stacks, test pages). */
#define MIN_MEMORY_MIB 32

__attribute__((noreturn)) void kmain(uint32_t mb2_info_phys);

void kmain(uint32_t mb2_info_phys)
{
	char cmdline_err[400];
	bool cmdline_ok, info_ok, acpi_ok;

	smp_init_bsp();
	/* From here on the kernel's findings count against the test run. */
	report_set_sink(&ktap_report_sink);
	cpu_features_init();
	info_ok = multiboot2_parse(mb2_info_phys);
	cpu_setup_control_regs();
	cmdline_ok = info_ok && cmdline_parse(boot_info.cmdline, cmdline_err, sizeof(cmdline_err));
	if (console_choice != CONSOLE_FB)
		uart_init();
	if (!info_ok)
		ktap_bail_out("malformed multiboot2 information block at 0x%x", mb2_info_phys);

	kmap_init(&boot_info);
	page_alloc_init(&boot_info);
	if (console_choice != CONSOLE_SERIAL && !fbcon_init(&boot_info.fb))
		vga_text_init(&boot_info.fb);
	acpi_ok = acpi_init(boot_info.rsdp, boot_info.rsdp_len);
	if (console_choice != CONSOLE_FB && acpi.spcr.found)
		console_follow_spcr();
	console_boot_done();
	if (!cmdline_ok)
		ktap_bail_out("%s", cmdline_err);
	if (cmdline_ok && cpu_paging_error())
		ktap_bail_out("%s", cpu_paging_error());
	if (boot_info.cmdline_truncated)
		ktap_bail_out("command line longer than %zu bytes", sizeof(boot_info.cmdline) - 1);
	if (pages_managed() * PAGE_SIZE < (uint64_t)MIN_MEMORY_MIB << 20)
		ktap_bail_out("too little memory: %llu MiB usable, %u MiB needed",
			      (unsigned long long)(pages_managed() * PAGE_SIZE >> 20), MIN_MEMORY_MIB);

	pic_disable();
	if (!acpi_ok)
		ktap_bail_out("%s", acpi.error);
	const char *apic_error = apic_init_bsp(acpi.lapic_phys, acpi.need_x2apic);
	if (apic_error)
		ktap_bail_out("%s", apic_error);
	apic_init_cpu();
	this_cpu()->apic_id = apic_read_id();
	if (!tsc_init())
		ktap_bail_out("cannot calibrate the TSC (%s)", tsc_error);
	if (!timer_init())
		ktap_bail_out("the local APIC timer does not count");
	timer_init_cpu();
	smp_call_init();
	sched_init();
	rcu_init();
	mm_init();
	irq_enable();

	smp_boot_aps();
	smp_call_init_late();
	watchdog_enable();
	ktap_print_header();
	if (crash_choice != CRASH_NONE)
		crash_now(crash_choice);
	ktap_run();
}
