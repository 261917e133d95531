/*
 * Reporting an error found while a test runs: any CPU, any context
 * (not NMI). The running test case fails with the named class; the first
 * report of each class per case is printed with its details, the rest
 * are counted. Implemented by the KTAP framework (tests/ktap.c).
 *
 * Classes (stable names that scenarios match): uaf_table, stale_tlb,
 * lost_write, lost_mapping, wrong_data, leak, hang, double_free,
 * write_after_free, rcu_early_free, rcu_stall, ...
 */
#ifndef KERNEL_REPORT_H
#define KERNEL_REPORT_H

#include <stdbool.h>

void report_error(const char *class, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Number of report_error() calls of this class so far (all cases). */
unsigned long report_count(const char *class);

#endif
