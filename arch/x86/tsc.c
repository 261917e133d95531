#include "arch/x86/tsc.h"
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/printk.h"
#include "mm/kmap.h"

uint64_t tsc_khz;
uint64_t tsc_ns_mult, ns_tsc_mult;
const char *tsc_source = "none";
static uint64_t tsc_boot;

enum { CALIB_AUTO, CALIB_CPUID, CALIB_PIT, CALIB_HPET };
static const char *const calib_names[] = { "auto", "cpuid", "pit", "hpet", NULL };
static int calib_choice;
CMDLINE_ENUM(tsc_calib, calib_choice, calib_names, "TSC calibration source");

uint64_t now_ns(void)
{
	return tsc_to_ns(rdtsc() - tsc_boot);
}

void ndelay(uint64_t ns)
{
	uint64_t end = rdtsc() + ns_to_tsc(ns);

	while ((int64_t)(rdtsc() - end) < 0)
		cpu_relax();
}

static uint64_t calib_cpuid(void)
{
	if (cpu_features.max_leaf < 0x15)
		return 0;
	struct cpuid_regs r = cpuid(0x15, 0);
	if (!r.eax || !r.ebx || !r.ecx)
		return 0;
	return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
}

/*
 * PIT channel 2 in one-shot mode, gated by port 0x61: count down 50 ms
 * and see how far the TSC moved. The wait is bounded by iterations, so
 * a machine without a PIT (bit 5 never rises) fails instead of hanging.
 */
static uint64_t calib_pit(void)
{
	const uint32_t pit_hz = 1193182, ms = 50;
	uint32_t count = pit_hz * ms / 1000;
	uint8_t gate = inb(0x61);
	uint64_t t0, t1;
	unsigned long i;

	outb(0x61, (gate & ~0x02) | 0x01);
	outb(0x43, 0xb0);			/* channel 2, lo/hi, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	t0 = rdtsc_ordered();
	for (i = 0; i < 50000000; i++)
		if (inb(0x61) & 0x20)
			break;
	t1 = rdtsc_ordered();
	outb(0x61, gate);
	if (i == 50000000 || i < 10)
		return 0;
	return (t1 - t0) / ms;
}

static uint64_t calib_hpet(void)
{
	paddr_t base = acpi_hpet_base();
	volatile uint64_t *hpet;
	uint64_t period_fs, c0, c1 = 0, t0, t1, ticks;

	if (!base)
		return 0;
	hpet = ioremap(base, 1024);
	period_fs = hpet[0] >> 32;
	if (!period_fs || period_fs > 100000000)
		return 0;
	hpet[2] |= 1;				/* ENABLE_CNF */
	ticks = 50000000000000ull / period_fs;	/* 50 ms */
	c0 = hpet[30];
	t0 = rdtsc_ordered();
	/* Bounded: a stopped counter fails calibration instead of hanging. */
	for (unsigned long i = 0; i < 200000000; i++) {
		c1 = hpet[30];
		if (c1 - c0 >= ticks)
			break;
	}
	if (c1 - c0 < ticks)
		return 0;
	t1 = rdtsc_ordered();
	uint64_t elapsed_us = (c1 - c0) * period_fs / 1000000000ull;
	return (t1 - t0) * 1000 / elapsed_us;
}

bool tsc_init(void)
{
	tsc_boot = rdtsc();
	if (calib_choice == CALIB_AUTO || calib_choice == CALIB_CPUID) {
		tsc_khz = calib_cpuid();
		tsc_source = "cpuid15";
	}
	if (!tsc_khz && (calib_choice == CALIB_AUTO || calib_choice == CALIB_PIT)) {
		tsc_khz = calib_pit();
		tsc_source = "pit";
	}
	if (!tsc_khz && (calib_choice == CALIB_AUTO || calib_choice == CALIB_HPET)) {
		tsc_khz = calib_hpet();
		tsc_source = "hpet";
	}
	bool ok = tsc_khz != 0;
	if (!ok) {
		tsc_source = "none";
		tsc_khz = 1000000;	/* keeps delays finite for the error path */
	}
	tsc_ns_mult = (1000000ull << 32) / tsc_khz;
	ns_tsc_mult = (tsc_khz << 32) / 1000000;
	return ok;
}

uint64_t apic_timer_calibrate(void)
{
	uint64_t t0, end;
	uint32_t c;

	apic_timer_oneshot_max();
	t0 = rdtsc_ordered();
	end = t0 + ns_to_tsc(20000000);		/* 20 ms */
	while ((int64_t)(rdtsc() - end) < 0)
		cpu_relax();
	c = apic_timer_current();
	t0 = rdtsc_ordered() - t0;
	apic_timer_stop();
	return (uint64_t)(0xffffffffu - c) * 1000000000ull / tsc_to_ns(t0);
}
