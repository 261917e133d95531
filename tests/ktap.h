/*
 * In-kernel KTAP (version 1) test framework.
 *
 * A suite is a named list of cases, registered with KTAP_SUITE() in
 * section .ktap_suites; the runner prints one top-level result per suite
 * and the cases nested under it, indented four spaces as KTAP specifies.
 *
 * A case fails through KTAP_EXPECT() (the check and a message) or through
 * report_error() from any CPU (kernel/report.h; ktap_report_sink below). ktap_skip() and
 * ktap_error() end it as SKIP or ERROR: ERROR means the test or its
 * environment is broken, kept apart from a FAILURE of the code under
 * test. A case that checks nothing is an ERROR. Every case is leak
 * checked: pages in use and kmalloc objects return to their values from
 * before the case.
 */
#ifndef TESTS_KTAP_H
#define TESTS_KTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ktap_case {
	const char *name;
	void (*run)(void);
};

struct ktap_suite {
	const char *name;
	const struct ktap_case *cases;
	unsigned int ncases;
	/* Optional: return false (with why filled) to skip the suite. */
	bool (*available)(char *why, unsigned long len);
};

#define KTAP_CASE(fn) { #fn, fn }
#define KTAP_SUITE(id, case_array, ...)					\
	static const struct ktap_suite ktap_suite_##id			\
	__attribute__((used, section(".ktap_suites"), aligned(8))) = {	\
		.name = #id, .cases = case_array,			\
		.ncases = sizeof(case_array) / sizeof(case_array[0]),	\
		##__VA_ARGS__ }

/* Non-fatal check: the case goes on but will report not ok. */
#define KTAP_EXPECT(cond, fmt, ...)					\
	ktap_check(!!(cond), __FILE__, __LINE__, #cond, fmt, ##__VA_ARGS__)
/* Fatal check: returns from the case function. */
#define KTAP_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!KTAP_EXPECT(cond, fmt, ##__VA_ARGS__))		\
			return;						\
	} while (0)

bool ktap_check(bool ok, const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void ktap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ktap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ktap_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* While armed, report_error() of this class is expected: it is counted
 * and printed but does not fail the case. Returns the count seen since
 * arming when disarmed. */
void ktap_expect_error_begin(const char *class);
unsigned long ktap_expect_error_end(void);

/* Seconds since the running case started. */
uint64_t ktap_case_elapsed_ns(void);
bool ktap_case_failed(void);

/* Validate tests= and run the selected suites; never returns. */
__attribute__((noreturn)) void ktap_run(void);
/* The run cannot go on (bad input, a machine it cannot run on): close
 * the KTAP document with the reason as an ERROR result (see
 * close_results_early() in ktap.c), print the totals and exit with the
 * error code. */
__attribute__((noreturn, format(printf, 1, 2))) void ktap_bail_out(const char *fmt, ...);
/*
 * The run's report sink, for report_set_sink() at boot: a finding fails
 * the running case; a hang fails it and its suite, lists the cases and
 * suites that did not run as ERROR, and ends the run with totals and the
 * FAILURE sentinel; a panic closes the log the same way.
 */
struct report_sink;
extern const struct report_sink ktap_report_sink;

/* Print the header lines (KTAP version, cmdline, cpus, features, seed). */
void ktap_print_header(void);
extern const char *const kernel_version;

#endif
