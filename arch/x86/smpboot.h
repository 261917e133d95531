/*
 * Bringing up the application processors: INIT-SIPI-SIPI to each enabled
 * MADT entry, one at a time, each with a timeout. An AP that does not
 * check in is recorded, never waited for forever.
 */
#ifndef ARCH_X86_SMPBOOT_H
#define ARCH_X86_SMPBOOT_H

#include <stdint.h>
#include "kernel/cpumask.h"

#define AP_START_TIMEOUT_NS 2000000000ull
#define KSTACK_SIZE (32 * 1024)

struct smpboot_result {
	unsigned int tried;		/* APs sent INIT-SIPI-SIPI */
	unsigned int started;
	uint32_t failed_apic_ids[MAX_CPUS];
	unsigned int nfailed;
};

extern struct smpboot_result smpboot_result;

/* Set up the BSP as CPU 0 (per-CPU area, GDT/TSS, IDT). */
void smp_init_bsp(void);
/* Start every AP; returns the number online (BSP included). */
unsigned int smp_boot_aps(void);

#endif
