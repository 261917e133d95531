/*
 * Reporting what the kernel's own checks find, from any CPU and any
 * context but NMI, and ending a run that cannot go on.
 *
 * The kernel names each finding by a class (stable names that scenarios
 * match: uaf_table, uaf_vma, stale_tlb, lost_write, lost_mapping,
 * wrong_data, leak, hang, double_free, write_after_free, rcu_uaf, rcu_age,
 * rcu_stall) and counts it here. What a finding means for the run (which
 * test case fails, whether it was expected, how the log says it) belongs
 * to whoever drives the run: it registers a struct report_sink at boot,
 * as the mm registers page_fault_hook with the trap code. With no sink a
 * finding is printed as a "# error" line, a hang ends the run with the
 * failure code and a panic just exits.
 */
#ifndef KERNEL_REPORT_H
#define KERNEL_REPORT_H

#include <stdbool.h>

/* Classes are numbered in order of their first report, at most this many. */
#define REPORT_MAX_CLASSES 32

struct report_sink {
	/* A finding, counted already. idx numbers the class (< REPORT_MAX_CLASSES);
	 * msg is formatted, the sink may print it. Same context as report_error(). */
	void (*error)(const char *class, unsigned int idx, const char *msg);
	/* The run cannot go on (a CPU hung): close the log and exit with
	 * the failure code. Interrupts off, every other CPU stopped. */
	__attribute__((noreturn)) void (*abort_run)(const char *class);
	/* panic(): close the log after the register dumps. The caller exits
	 * with the panic code. */
	void (*panic_finish)(const char *msg);
	/* A diagnostic line (no finding), formatted, without "# " or a
	 * newline; the sink prints it where the log's diagnostics go. Same
	 * context as report_error(). */
	void (*diag)(const char *msg);
};

/* Set once at boot, before any other CPU runs. */
void report_set_sink(const struct report_sink *sink);

void report_error(const char *class, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A diagnostic line for the log ("# " and the newline are added): what
 * the kernel prints on behalf of others, e.g. a user program's output. */
void report_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number of report_error() calls of this class so far (all cases). */
unsigned long report_count(const char *class);

/* End the run after a hang already reported with report_error(). */
__attribute__((noreturn)) void report_abort_run(const char *class);

/* Called by panic() once the dumps are printed; returns. */
void report_panic_finish(const char *msg);

#endif
