/*
 * Local APIC behind one interface, with an xAPIC (MMIO) and an x2APIC
 * (MSR) back end. The mode is chosen once on the BSP by apic=: auto takes
 * x2APIC when the firmware handed over in x2APIC mode or when any APIC ID
 * is >= 255; x2apic forces it (a CPU without it is an error); xapic keeps
 * xAPIC mode, leaving x2APIC mode through a disabled APIC when the
 * firmware had enabled it. xAPIC MMIO is never touched in x2APIC mode.
 */
#ifndef ARCH_X86_APIC_H
#define ARCH_X86_APIC_H

#include <stdbool.h>
#include <stdint.h>

/* Choose the mode and map the registers. mmio_phys: the MADT's (possibly
 * overridden) local APIC address; need_x2apic: an APIC ID >= 255 exists.
 * Returns NULL, or why the mode apic= asks for cannot be had (the CPU is
 * left as it was). */
const char *apic_init_bsp(uint64_t mmio_phys, bool need_x2apic);
/* "x2APIC mode (apic=x2apic)": the mode and why, for the log header. */
void apic_describe(char *buf, unsigned long len);
/* Enable and configure the calling CPU's local APIC. */
void apic_init_cpu(void);
bool apic_x2apic_mode(void);
/* True if the firmware left the BSP in x2APIC mode. */
bool apic_firmware_x2apic(void);
uint32_t apic_read_id(void);
void apic_eoi(void);

void apic_send_ipi(uint32_t apic_id, uint8_t vector);
void apic_send_nmi(uint32_t apic_id);
void apic_send_init(uint32_t apic_id);
void apic_send_sipi(uint32_t apic_id, uint8_t page);
/* Returns false if a previous xAPIC IPI is still pending delivery after
 * a bounded wait (no-op in x2APIC mode). */
bool apic_icr_idle(void);

void apic_timer_periodic(uint8_t vector, uint32_t count);
void apic_timer_oneshot_max(void);
uint32_t apic_timer_current(void);
void apic_timer_stop(void);
/* Divide-by-16 is programmed by the functions above. */
#define APIC_TIMER_DIVIDE 16

#endif
