/*
 * Shared by the torture suites: the time budget (duration=), one run's
 * setup and teardown (struct torture), and random delays for widening
 * race windows (tests/spf_delays.h puts them in the speculative fault
 * path).
 *
 * A suite's case reads:
 *
 *	memset(&state, 0, sizeof(state));	(state holds a struct torture t)
 *	if (!torture_begin(&state.t, &needs))	skipped, or no memory
 *		return;
 *	... set up the address space ...
 *	torture_run(&state.t, worker, arg);
 *	... sum up, ktap_diag() ...
 *	TORTURE_EXPECT_WORK(&state.t, cond, "too little done: ...", ...);
 *	torture_end(&state.t);
 *
 * In the workers one worker (or each) loops while torture_running(); a
 * suite whose other workers loop until that one is done ends its timed
 * loop with torture_stop() and lets them loop while !torture_stopped().
 *
 * The process model (kernel/sched.h) runs the workers: torture_run()
 * starts torture_tasks= workers per CPU, unpinned, each a user task of
 * the run's address space (its accesses run in ring 3), so they are
 * preempted, migrate, and share CPUs; beside them one kernel thread per
 * CPU (rcu=preempt readers that get preempted, and lazy periods for the
 * user mm) and a neighbour, a user task in an address space of its own
 * (mm switches, and shootdowns of a mm other CPUs hold lazily). A worker
 * is named by torture_me(), 0 .. torture_workers() - 1, not by its CPU,
 * which changes under it.
 */
#ifndef TESTS_TORTURE_H
#define TESTS_TORTURE_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/prng.h"
#include "kernel/sched.h"
#include "kernel/worker.h"
#include "tests/ktap.h"

struct mm;

extern uint64_t torture_duration_s;	/* (c) duration= */

enum torture_mm {
	TORTURE_NO_MM,			/* the suite needs no address space */
	TORTURE_OWN_MM,			/* torture_begin() creates one, torture_end() destroys it */
};

/* What a suite needs to run at all. */
struct torture_needs {
	unsigned int cpus;		/* fewer online: the case is skipped */
	const char *roles;		/* what those CPUs do, named in the skip; may be NULL */
	enum torture_mm mm;
};

/* Whether the "too little done" checks count (see TORTURE_EXPECT_WORK). */
enum torture_verdict { TORTURE_UNJUDGED, TORTURE_JUDGE_WORK, TORTURE_CUT_SHORT };

/*
 * One run of a torture case. Protection: (c) written by the case's CPU
 * before torture_run() starts the workers (workers_start() orders it for
 * them), constant while they run; (a) atomic; (b) the case's CPU only.
 */
struct torture {
	struct mm *mm;			/* (c) with TORTURE_OWN_MM, else NULL */
	uint64_t end_tsc;		/* (c) the timed loops end here */
	int stop;			/* (a) see torture_stop() */
	enum torture_verdict verdict;	/* (b) */
	unsigned int nr_workers;	/* (c) */
	int helpers_stop;		/* (a) the workers are done: helpers end */
	unsigned long helper_steps;	/* (a) what the helpers did */
	uintptr_t spec_base, spec_len;	/* (c) see torture_speculate() */
	unsigned long spec_fills;	/* (a) */
	unsigned long gups;		/* (a) gup_fast references the kernel threads took */
};

#define TORTURE_MAX_WORKERS 256

/* This worker's index, 0 .. torture_workers() - 1 (in a worker only). */
static inline unsigned int torture_me(void)
{
	return (unsigned int)current_task()->priv;
}
/*
 * Before torture_run(): whenever a CPU loads the run's mm in a context
 * switch, it reads a few random pages of [base, base + len)
 * right after the CR3 load (mm/debug.h, mm_switch_hook) and waits a
 * little: the TLB fills a real CPU may make speculatively from then on,
 * which emulators never make. A switch that joins the mm's cpumask only
 * after the CR3 load misses the shootdowns of those pages meanwhile. The
 * kernel threads also take gup_fast references on pages of the range.
 */
void torture_speculate(struct torture *t, uintptr_t base, uintptr_t len);

/* How many workers the run has (valid once torture_run() starts). */
unsigned int torture_workers(const struct torture *t);

/*
 * Start a case: skip it (returns false) if fewer than needs->cpus CPUs
 * are online; create its address space if it needs one (returns false,
 * the case failed, if memory ran out). t must be zeroed by the caller.
 */
bool torture_begin(struct torture *t, const struct torture_needs *needs);

/*
 * Run fn(arg) in every worker for duration= seconds and wait for all of
 * them, a minute longer at most (then the stragglers are a hang); print
 * the process model's figures for the run (# sched: ...).
 */
void torture_run(struct torture *t, worker_fn fn, void *arg);

/*
 * In a worker of a TORTURE_OWN_MM run, first: seed rng for this worker
 * (stream stream_base + torture_me(), from seed=) and make sure the
 * run's address space is the task's.
 */
void torture_worker_start(const struct torture *t, struct prng *rng, uint64_t stream_base);

/* In a worker: the time is not up and the case has not failed. */
static inline bool torture_running(const struct torture *t)
{
	return rdtsc() < t->end_tsc && !ktap_case_failed();
}

/*
 * The CPU running the timed loop tells the others it is done. The
 * release pairs with the acquire in torture_stopped(): what it did in
 * its last step is visible to a CPU that sees the stop.
 */
static inline void torture_stop(struct torture *t)
{
	store_release(&t->stop, 1);
}

static inline bool torture_stopped(struct torture *t)
{
	return load_acquire(&t->stop) != 0;
}

/*
 * Whether the run's work is judged: a case that had failed before its
 * first work check stopped its workers early, so none of the checks
 * count. Decided once per run, at the first call.
 */
bool torture_judges_work(struct torture *t);

/* A run that did too little proves nothing: check that cond holds. */
#define TORTURE_EXPECT_WORK(t, cond, fmt, ...)				\
	do {								\
		if (torture_judges_work(t))				\
			KTAP_EXPECT(cond, fmt, ##__VA_ARGS__);		\
	} while (0)

/* End the case: destroy its address space. */
void torture_end(struct torture *t);

/* A delay of up to max_ns, mostly short, now and then the whole range:
 * most iterations stay fast, a few hold a window open for long. */
static inline uint64_t torture_delay_ns(struct prng *r, uint64_t max_ns)
{
	uint64_t x = prng_below(r, 100);

	if (x < 70)
		return 0;
	if (x < 97)
		return prng_below(r, max_ns / 100 + 1);
	return prng_below(r, max_ns + 1);
}

static inline void torture_delay(struct prng *r, uint64_t max_ns)
{
	uint64_t ns = torture_delay_ns(r, max_ns);

	if (ns)
		ndelay(ns);
}

#endif
