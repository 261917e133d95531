#include "arch/x86/tsc.h"
#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "kernel/cmdline.h"
#include "kernel/printk.h"
#include "kernel/sort.h"
#include "mm/kmap.h"

uint64_t tsc_khz;
uint64_t tsc_ns_mult, ns_tsc_mult;
const char *tsc_source = "none";
char tsc_error[128];
char tsc_warning[160];
static uint64_t tsc_boot;

enum { CALIB_AUTO, CALIB_CPUID, CALIB_CPUID16, CALIB_PIT, CALIB_HPET };
static const char *const calib_names[] = { "auto", "cpuid", "cpuid16", "pit", "hpet", NULL };
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
 * CPUID leaf 16h, EAX[15:0]: the processor's base (nominal) frequency in
 * MHz. Since Skylake Intel's TSC ticks at that rate; the figure is a whole
 * number of MHz, so it may be off by up to 1 MHz (under 0.1% at 1 GHz and
 * above), close enough for timeouts. Leaf 15h, when it names the crystal,
 * is exact and comes first. AMD has no leaf 16h. A hypervisor may report
 * its host's figure, or zeros.
 */
static uint64_t calib_cpuid16(void)
{
	if (cpu_features.max_leaf < 0x16)
		return 0;
	return (uint64_t)(cpuid(0x16, 0).eax & 0xffff) * 1000;
}

/*
 * PIT channel 2 counting down from 0xffff (1.193182 MHz, one pass every
 * 55 ms), read with the latch command. A measurement pairs a counter read
 * with the TSC on both sides of it at the start and at the end of a
 * ~30 ms window; only the two edges must be tight (a vCPU descheduled in
 * the middle moves both clocks alike). A pair whose TSC reads are more
 * than twice the fastest pair seen apart is retried.
 */
static uint16_t pit_read(void)
{
	outb(0x43, 0x80);			/* latch channel 2 */
	uint8_t lo = inb(0x42);
	return lo | (uint16_t)inb(0x42) << 8;
}

static bool pit_pair(uint64_t *best_cost, uint16_t *count, uint64_t *tsc)
{
	/* Many tries: on a loaded host a vCPU runs in bursts, and a burst
	 * holds tight pairs; each try is three port accesses. */
	for (int i = 0; i < 1000; i++) {
		uint64_t a = rdtsc_ordered();
		uint16_t c = pit_read();
		uint64_t b = rdtsc_ordered();
		if (b - a < *best_cost)
			*best_cost = b - a;
		if (b - a <= 2 * *best_cost) {
			*count = c;
			*tsc = a + (b - a) / 2;
			return true;
		}
	}
	return false;
}

/* Returns kHz, 0 for a sample to retry, -1 if there is no working PIT. */
static int64_t pit_sample(uint64_t *best_cost)
{
	const uint32_t pit_hz = 1193182, ticks = 36000;	/* ~30 ms */
	uint8_t gate = inb(0x61);
	uint16_t c0, c1 = 0;
	uint64_t t0, t1;
	unsigned long i;

	outb(0x61, (gate & ~0x02) | 0x01);	/* gate on, speaker off */
	outb(0x43, 0xb0);			/* channel 2, lo/hi, mode 0 */
	outb(0x42, 0xff);
	outb(0x42, 0xff);
	if (!pit_pair(best_cost, &c0, &t0)) {
		outb(0x61, gate);
		return 0;
	}
	/* Bounded: a missing PIT never counts down. The counter wraps every
	 * 65536 ticks, so a vCPU descheduled between two polls may miss a
	 * wrap, and the sample is then about 2.8 times off ((ticks + 65536) /
	 * ticks). Hiding one takes a gap over the counter's way from
	 * c0 - ticks through 0 and back past c0 (29536 ticks, 25 ms). Such
	 * samples are not thrown away by the length of the gap, since a
	 * loaded host deschedules a vCPU for that long routinely (12-20 ms
	 * gaps were seen beside two Bochs runs): calib_pit() keeps a rate
	 * only where most samples agree, and a hidden wrap cannot agree with
	 * the rest. */
	for (i = 0; i < 20000000; i++) {
		uint16_t c = pit_read();
		if (c0 >= c && (uint32_t)(c0 - c) >= ticks)
			break;
	}
	bool ok = i < 20000000 && pit_pair(best_cost, &c1, &t1);
	outb(0x61, gate);
	if (i == 20000000)
		return -1;
	if (!ok || c1 > c0)
		return 0;
	return (int64_t)((t1 - t0) * pit_hz / (c0 - c1) / 1000);
}

/* max - min of n samples: how far apart repeated measurements landed. */
static uint64_t spread(const uint64_t *v, unsigned int n)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
	}
	return n ? hi - lo : 0;
}

/* Returns kHz (0: no rate); *spread_khz: how far the samples spread. */
static uint64_t calib_pit(uint64_t *spread_khz)
{
	uint64_t samples[7], best_cost = UINT64_MAX;
	unsigned int n = 0;

	for (int tries = 0; tries < 100 && n < 7; tries++) {
		int64_t khz = pit_sample(&best_cost);
		if (khz < 0)
			return 0;
		if (khz)
			samples[n++] = khz;
	}
	if (n < 5)
		return 0;
	/* The rate most samples agree on, within 2%: a sample that hid a
	 * counter wrap is far from it (see pit_sample()). */
	uint64_t mid = median_u64(samples, n), kept[7];
	unsigned int k = 0;
	for (unsigned int i = 0; i < n; i++)
		if (samples[i] * 50 >= mid * 49 && samples[i] * 50 <= mid * 51)
			kept[k++] = samples[i];
	if (k * 2 <= n)
		return 0;
	*spread_khz = spread(kept, k);
	return median_u64(kept, k);
}

/*
 * Read the HPET counter and the TSC as close together as possible: the
 * TSC is read on both sides and the pair is kept only if the two TSC
 * reads are within `slack` cycles. Returns false if no attempt was tight.
 */
bool hpet_tsc_pair(volatile uint64_t *hpet, uint64_t slack, uint64_t *counter, uint64_t *tsc)
{
	for (int i = 0; i < 100; i++) {
		uint64_t a = rdtsc_ordered();
		uint64_t c = hpet[30];
		uint64_t b = rdtsc_ordered();
		if (b - a <= slack) {
			*counter = c;
			*tsc = a + (b - a) / 2;
			return true;
		}
	}
	return false;
}

/* Returns kHz (0: no rate); *spread_khz: how far the samples spread. */
static uint64_t calib_hpet(uint64_t *spread_khz)
{
	paddr_t base = acpi_hpet_base();
	volatile uint64_t *hpet;
	uint64_t period_fs, c0, c1, t0, t1, samples[5];
	unsigned int n = 0;

	if (!base)
		return 0;
	hpet = ioremap(base, 1024);
	period_fs = hpet[0] >> 32;
	if (!period_fs || period_fs > 100000000)
		return 0;
	hpet[2] |= 1;				/* ENABLE_CNF */
	uint64_t ticks = 20000000000000ull / period_fs;	/* 20 ms */
	for (int tries = 0; tries < 20 && n < 5; tries++) {
		/* Slack: 20 us at up to 10 GHz; the window below is 20 ms. */
		if (!hpet_tsc_pair(hpet, 200000, &c0, &t0))
			continue;
		do {
			if (!hpet_tsc_pair(hpet, 200000, &c1, &t1))
				return 0;
		} while (c1 - c0 < ticks && t1 - t0 < 100000000000ull);
		if (c1 - c0 < ticks)
			return 0;	/* the counter does not run */
		uint64_t elapsed_us = (c1 - c0) * period_fs / 1000000000ull;
		samples[n++] = (t1 - t0) * 1000 / elapsed_us;
	}
	*spread_khz = spread(samples, n);
	return n >= 3 ? median_u64(samples, n) : 0;
}

/* Why the chosen source gave nothing, for the bail-out line. */
static void describe_failure(void)
{
	const char *name = calib_names[calib_choice];
	uint32_t max = cpu_features.max_leaf;

	switch (calib_choice) {
	case CALIB_CPUID:
		snprintf(tsc_error, sizeof(tsc_error), "tsc_calib=%s: %s", name,
			 max < 0x15 ? "no CPUID leaf 15h" : "CPUID leaf 15h does not give the crystal clock");
		break;
	case CALIB_CPUID16:
		snprintf(tsc_error, sizeof(tsc_error), "tsc_calib=%s: %s (max basic leaf 0x%x)", name,
			 max < 0x16 ? "no CPUID leaf 16h" : "CPUID leaf 16h reports no base frequency",
			 max);
		break;
	case CALIB_PIT:
		snprintf(tsc_error, sizeof(tsc_error), "tsc_calib=%s: the PIT does not count", name);
		break;
	case CALIB_HPET:
		snprintf(tsc_error, sizeof(tsc_error), "tsc_calib=%s: %s", name,
			 acpi_hpet_base() ? "the HPET does not count" : "no HPET in the ACPI tables");
		break;
	default:
		snprintf(tsc_error, sizeof(tsc_error),
			 "tsc_calib=%s: neither CPUID leaf 15h/16h, the PIT nor the HPET gave a rate", name);
	}
}

static void format_mhz(char *buf, size_t len, uint64_t khz)
{
	snprintf(buf, len, "%llu.%03llu MHz", (unsigned long long)(khz / 1000),
		 (unsigned long long)(khz % 1000));
}

/*
 * tsc_calib=auto: CPUID names a rate but does not measure it. An emulator
 * may report its model's figure while its TSC follows the instructions it
 * runs (Bochs: leaf 15h says 1497.6 MHz, the TSC ticks at the ips
 * setting), and a CPU may report a crystal it does not have. So the
 * CPUID rate is measured against the HPET (else the PIT) and kept only if
 * the two agree within the measurement error: the spread of the samples,
 * but at least 1% (leaf 16h alone may be 1 MHz off, and the timer suite
 * allows 2%). Otherwise the measured rate is used and tsc_warning says
 * so. No measurement at all leaves the CPUID rate, with a warning.
 */
static void check_cpuid_rate(unsigned int leaf)
{
	uint64_t spread_khz = 0, measured = 0;
	const char *source = "hpet", *clock = "HPET";
	char said[32], got[32];

	if (acpi_hpet_base())
		measured = calib_hpet(&spread_khz);
	if (!measured) {
		source = "pit";
		clock = "PIT";
		measured = calib_pit(&spread_khz);
	}
	format_mhz(said, sizeof(said), tsc_khz);
	if (!measured) {
		snprintf(tsc_warning, sizeof(tsc_warning),
			 "CPUID leaf %xh says %s; neither the HPET nor the PIT could check it", leaf, said);
		return;
	}
	uint64_t diff = measured > tsc_khz ? measured - tsc_khz : tsc_khz - measured;
	uint64_t error = spread_khz > measured / 100 ? spread_khz : measured / 100;
	if (diff <= error)
		return;
	format_mhz(got, sizeof(got), measured);
	snprintf(tsc_warning, sizeof(tsc_warning),
		 "CPUID leaf %xh says %s but the %s measures %s; using the measured rate", leaf, said,
		 clock, got);
	tsc_khz = measured;
	tsc_source = source;
}

bool tsc_init(void)
{
	uint64_t spread_khz = 0;

	tsc_boot = rdtsc();
	if (calib_choice == CALIB_AUTO || calib_choice == CALIB_CPUID) {
		tsc_khz = calib_cpuid();
		tsc_source = "cpuid15";
		if (tsc_khz && calib_choice == CALIB_AUTO)
			check_cpuid_rate(0x15);
	}
	if (!tsc_khz && (calib_choice == CALIB_AUTO || calib_choice == CALIB_CPUID16)) {
		tsc_khz = calib_cpuid16();
		tsc_source = "cpuid16";
		if (tsc_khz && calib_choice == CALIB_AUTO)
			check_cpuid_rate(0x16);
	}
	if (!tsc_khz && (calib_choice == CALIB_AUTO || calib_choice == CALIB_PIT)) {
		tsc_khz = calib_pit(&spread_khz);
		tsc_source = "pit";
	}
	if (!tsc_khz && (calib_choice == CALIB_AUTO || calib_choice == CALIB_HPET)) {
		tsc_khz = calib_hpet(&spread_khz);
		tsc_source = "hpet";
	}
	bool ok = tsc_khz != 0;
	if (!ok) {
		describe_failure();
		tsc_source = "none";
		tsc_khz = 1000000;	/* keeps delays finite for the error path */
	}
	tsc_ns_mult = (1000000ull << 32) / tsc_khz;
	ns_tsc_mult = (tsc_khz << 32) / 1000000;
	return ok;
}

bool apic_tsc_pair(uint64_t slack, uint32_t *count, uint64_t *tsc)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t a = rdtsc_ordered();
		uint32_t c = apic_timer_current();
		uint64_t b = rdtsc_ordered();
		if (b - a <= slack) {
			*count = c;
			*tsc = a + (b - a) / 2;
			return true;
		}
	}
	return false;
}

/*
 * The APIC timer's rate against the TSC: the count read twice, 20 ms
 * apart, each read between two TSC reads at most 10 us apart, so a vCPU
 * that the host deschedules between a read and its timestamp skews
 * nothing (the first version read the count and the TSC once each and was
 * 10% off on a loaded host); the median of five windows.
 */
uint64_t apic_timer_calibrate(void)
{
	uint64_t slack = ns_to_tsc(10000), samples[5];
	unsigned int n = 0;

	apic_timer_oneshot_max();
	for (int tries = 0; tries < 20 && n < 5; tries++) {
		uint32_t c0, c1;
		uint64_t t0, t1;
		if (!apic_tsc_pair(slack, &c0, &t0))
			continue;
		uint64_t end = t0 + ns_to_tsc(20000000);
		while ((int64_t)(rdtsc() - end) < 0)
			cpu_relax();
		if (!apic_tsc_pair(slack, &c1, &t1) || c1 >= c0 || t1 <= t0)
			continue;
		samples[n++] = (uint64_t)(c0 - c1) * 1000000000ull / tsc_to_ns(t1 - t0);
	}
	apic_timer_stop();
	return n ? median_u64(samples, n) : 0;
}
