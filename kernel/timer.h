/*
 * The periodic tick (local APIC timer, HZ per second on every CPU) and
 * the watchdog it drives.
 *
 * Watchdog: every CPU's tick checks, ten times a second, that every other
 * online CPU has ticked within the last watchdog_ns. A CPU that has not
 * (spinning with interrupts off, or wedged) is a hang: every CPU's
 * backtrace is printed, the running test fails with class "hang" and the
 * run ends. hang_report() is the same exit for bounded waits that expire.
 */
#ifndef KERNEL_TIMER_H
#define KERNEL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define HZ 250
/* watchdog= seconds: 5 on bare metal, 20 under a hypervisor (see
 * kernel/smp_call.h for why). */
extern uint64_t watchdog_ns;

struct trap_frame;

/* Calibrate the APIC timer on the BSP; returns false if it does not run. */
bool timer_init(void);
/* Start this CPU's periodic tick. */
void timer_init_cpu(void);
uint64_t timer_apic_hz(void);

/* Run fn from every tick on every CPU, in interrupt context. */
typedef void (*tick_hook_t)(struct trap_frame *f);
void tick_hook_register(tick_hook_t fn);

void watchdog_enable(void);
void watchdog_disable(void);

__attribute__((noreturn, format(printf, 1, 2)))
void hang_report(const char *fmt, ...);

#endif
