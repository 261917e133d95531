/*
 * Per-CPU workers: how directed tests run code on several CPUs at once.
 * Each worker is a kernel thread pinned to its CPU (kernel/sched.h), so
 * smp_processor_id() names it; it runs with interrupts on, and the
 * caller (a task pinned to its own CPU) waits for all of them.
 */
#ifndef KERNEL_WORKER_H
#define KERNEL_WORKER_H

#include <stdint.h>
#include "kernel/cpumask.h"

typedef void (*worker_fn)(void *arg);

/*
 * Run fn(arg) on every CPU in mask (the calling CPU included if it is in
 * the mask: it runs its share after starting the others) and wait for
 * all; timeout_ns bounds the wait (0: the default of 60 s), past which
 * the stragglers are reported as a hang.
 */
void workers_run(const struct cpumask *mask, worker_fn fn, void *arg, uint64_t timeout_ns);
/* The two halves of workers_run(), for a caller that must act while the
 * others run (the calling CPU never runs fn here). */
void workers_start(const struct cpumask *mask, worker_fn fn, void *arg);
void workers_wait(const struct cpumask *mask, uint64_t timeout_ns);
/* Same, on every online CPU. */
void workers_run_all(worker_fn fn, void *arg, uint64_t timeout_ns);

/* Hooks for RCU, called by the idle loop (kernel/sched.c) with
 * interrupts off: enter after this_cpu()->idle is set, exit after it is
 * cleared. */
extern void (*idle_enter_hook)(void);
extern void (*idle_exit_hook)(void);

#endif
