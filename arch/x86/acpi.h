/*
 * ACPI tables: RSDP (from GRUB, else the BIOS areas) -> XSDT or RSDT ->
 * MADT (CPUs and the local APIC address), HPET, FADT (power off and
 * reset registers), SPCR (the firmware's serial console). Checksums are verified; a table that fails is
 * ignored with a message.
 */
#ifndef ARCH_X86_ACPI_H
#define ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/pte.h"
#include "kernel/cpumask.h"

struct acpi_cpu {
	uint32_t apic_id;
	uint32_t uid;
	bool enabled;		/* MADT Enabled flag: the CPU is usable now */
	bool online_capable;	/* may be enabled later (hotplug); not started */
	bool x2apic_entry;	/* from a type 9 entry */
};

/* The SPCR table's UART, when it is a 16550 the kernel can drive. */
struct acpi_spcr {
	bool found;
	uint8_t interface_type;	/* DBG2 serial subtype: 0, 1 or 0x12 */
	bool mmio;		/* system memory; else system I/O space */
	uint8_t reg_bytes;	/* register width: 1, or 4 (MMIO only) */
	uint64_t address;	/* I/O port or physical address */
	uint32_t baud;		/* 0: keep what the firmware programmed */
	uint32_t clock_hz;	/* UART input clock; 0: not given (1.8432 MHz) */
};

struct acpi_info {
	bool found;			/* a valid RSDP and MADT */
	char error[96];			/* why not, when !found */
	unsigned int revision;		/* RSDP revision */
	paddr_t lapic_phys;
	struct acpi_cpu cpus[MAX_CPUS];
	unsigned int ncpus;		/* entries in cpus[] */
	unsigned int nenabled;
	bool need_x2apic;		/* an enabled APIC ID >= 255 */
	paddr_t hpet_phys;
	/* FADT */
	uint16_t pm1a_cnt, pm1b_cnt;
	uint16_t slp_typa_s5, slp_typb_s5;	/* 0xffff: unknown */
	bool reset_supported;
	uint8_t reset_space;		/* GAS address space: 0 memory, 1 I/O */
	uint64_t reset_addr;
	uint8_t reset_value;
	struct acpi_spcr spcr;
};

extern struct acpi_info acpi;

/* Parse the tables; returns acpi.found. */
bool acpi_init(const uint8_t *rsdp_copy, unsigned int len);
paddr_t acpi_hpet_base(void);

#endif
