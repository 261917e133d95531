/*
 * Cross-CPU function calls: run fn(arg) on another CPU in interrupt
 * context (interrupts off) and wait for it. A call that is not answered
 * within its bound is a hang: the target's last interrupted RIP and every
 * CPU's backtrace are printed and the run ends (kernel/timer.h).
 *
 * While waiting, the caller serves calls queued to itself, so two CPUs
 * calling each other with interrupts off cannot deadlock.
 */
#ifndef KERNEL_SMP_CALL_H
#define KERNEL_SMP_CALL_H

#include <stdint.h>

/* How long a caller waits for an answer: ipi_timeout= (ms), default 2 s
 * on bare metal and 20 s under a hypervisor, where a vCPU can sit
 * descheduled for seconds when the host has fewer cores than vCPUs. */
extern uint64_t smp_call_timeout_ns;

typedef void (*smp_call_fn)(void *arg);

void smp_call_init(void);
/* Run fn on cpu (directly if it is this CPU) and wait. */
void smp_call_on(unsigned int cpu, smp_call_fn fn, void *arg);
/* Run fn on every CPU in mask but this one and wait for all. Not
 * reentrant on one CPU: fn must not call here. */
struct cpumask;
void smp_call_mask(const struct cpumask *mask, smp_call_fn fn, void *arg);
/* Run fn on every other online CPU and wait for all. */
void smp_call_others(smp_call_fn fn, void *arg);
/* After the APs are up: allocate what each CPU needs to call others. */
void smp_call_init_late(void);
/* Serve this CPU's queue (the IPI handler; also polled by waiters). */
void smp_call_serve(void);

#endif
