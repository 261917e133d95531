/*
 * KTAP runner, result accounting, and the run's report sink (the kernel's
 * findings, hangs and panics: kernel/report.h). See tests/ktap.h.
 *
 * The run is driven by the BSP; report_error() and KTAP_EXPECT() may be
 * called from any CPU while a case runs. Shared state:
 *   cur.failed, cur.checks: atomics
 *   per-case printed-class set and expectation: case_lock
 *   everything else: the BSP only, or the one CPU that closes the log
 *   early (a hang or a panic) once the others are stopped
 */
#include "tests/ktap.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/fbcon.h"
#include "arch/x86/tsc.h"
#include "boot/multiboot2.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/exit.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/prng.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "mm/kmalloc.h"
#include "mm/page_alloc.h"

const char *const kernel_version = "0.1.0";

/* The order suites run in; DESIGN.md's list. A name here with no
 * registered suite is simply not built yet. */
static const char *const suite_order[] = {
	"boot", "exceptions", "page_alloc", "timer", "locking", "rcu", "rcu_torture", "mm", "tlb",
	"spf", "uaccess", "elf", "user", "fault_torture", "unmap_torture", "mprotect_torture", "thp_torture", "fork_torture",
	"mremap_torture", "stack_torture",
	"table_free_torture",
	"tlb_torture", "bench", NULL,
};
/* Suites left out when tests= is not given (they are measurements). */
static const char *const not_default[] = { "bench", NULL };

static char tests_opt[512];
CMDLINE_STR(tests, tests_opt, "comma list of suites to run (default: all but bench)");

/*
 * crash_case=SUITE/CASE: that case panics instead of running, to show how
 * a panic in the middle of a run closes the log (panic-in-case scenario).
 */
static char crash_case_opt[96];
CMDLINE_STR(crash_case, crash_case_opt,
	    "SUITE/CASE: panic in that case instead of running it (default: none)");

uint64_t global_seed;
static bool seed_given;
CMDLINE_U64_SET(seed, global_seed, 0, UINT64_MAX, seed_given, "PRNG seed (default from the TSC)");

extern const struct ktap_suite __suites_start[], __suites_end[];

static bool header_started;
static void print_header_start(void);

/* Per-case accounting of findings (kernel/report.c counts the classes). */
static spinlock_t case_lock = SPINLOCK_INIT(LOCK_REPORT);

static struct {
	const char *name;		/* NULL between cases */
	unsigned int index;		/* its number in the suite */
	int failed;			/* (a) */
	int checks;			/* (a) */
	bool skipped, error;
	char reason[160];
	uint64_t start_tsc;
	uint32_t printed_classes;	/* (case_lock) bit per class index */
	const char *expect_class;	/* (case_lock) */
	unsigned long expect_seen;	/* (case_lock) */
} cur;

static struct {
	unsigned int pass, fail, skip, error;
	bool failed_outside_case;	/* (a) report_error() with no case */
	bool plan_printed;		/* the top-level "1..N" is out */
	unsigned int suite_index, nsuites;
	const char *suite_name;		/* until its result line is out */
	const struct ktap_suite *suite;	/* from its "# Subtest:" line to its result */
	unsigned int cases_done;	/* its cases' result lines printed */
	bool suite_failed, suite_error;
} run;

/*
 * The run's report sink (kernel/report.h): a finding fails the running
 * case unless the case armed an expectation for its class. The first
 * report of each class per case is printed with its detection time.
 */
static void ktap_report_error(const char *class, unsigned int idx, const char *msg)
{
	bool expected, first;

	uint64_t flags = spin_lock_irqsave(&case_lock);
	expected = cur.expect_class && !strcmp(cur.expect_class, class);
	if (expected)
		cur.expect_seen++;
	first = !(cur.printed_classes & (1u << idx));
	cur.printed_classes |= 1u << idx;
	spin_unlock_irqrestore(&case_lock, flags);

	if (expected) {
		printk("    # expected error %s: %s\n", class, msg);
		return;
	}
	if (!cur.name) {
		printk("# error %s: %s\n", class, msg);
		store_release(&run.failed_outside_case, true);
		return;
	}
	if (atomic_add_return(&cur.failed, 1) == 1 || first) {
		uint64_t ns = ktap_case_elapsed_ns();
		printk("    # error %s: %s\n", class, msg);
		printk("    # detect: %s after %llu.%03llu s\n", class,
		       (unsigned long long)(ns / 1000000000), (unsigned long long)(ns / 1000000 % 1000));
	}
}

bool ktap_check(bool ok, const char *file, int line, const char *cond, const char *fmt, ...)
{
	atomic_inc(&cur.checks);
	if (ok)
		return true;

	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("    # %s:%d: check failed: %s: %s\n", file, line, cond, msg);
	atomic_inc(&cur.failed);
	return false;
}

void ktap_diag(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk("%s# %s\n", cur.name || run.suite_name ? "    " : "", msg);
}

void ktap_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur.reason, sizeof(cur.reason), fmt, ap);
	va_end(ap);
	cur.skipped = true;
}

void ktap_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur.reason, sizeof(cur.reason), fmt, ap);
	va_end(ap);
	printk("    # error (test environment): %s\n", cur.reason);
	cur.error = true;
}

void ktap_expect_error_begin(const char *class)
{
	uint64_t flags = spin_lock_irqsave(&case_lock);
	cur.expect_class = class;
	cur.expect_seen = 0;
	spin_unlock_irqrestore(&case_lock, flags);
}

unsigned long ktap_expect_error_end(void)
{
	uint64_t flags = spin_lock_irqsave(&case_lock);
	unsigned long n = cur.expect_seen;
	cur.expect_class = NULL;
	spin_unlock_irqrestore(&case_lock, flags);
	return n;
}

uint64_t ktap_case_elapsed_ns(void)
{
	return cur.start_tsc ? tsc_to_ns(rdtsc() - cur.start_tsc) : 0;
}

bool ktap_case_failed(void)
{
	return load_relaxed(&cur.failed) != 0;
}

static long leak_snapshot_pages(void)
{
	return pages_in_use(PAGE_KERNEL) + pages_in_use(PAGE_TEST) + pages_in_use(PAGE_TABLE) +
	       pages_in_use(PAGE_ANON);
}

/* Is suite/name the case crash_case= names? */
static bool is_crash_case(const char *suite, const char *name)
{
	size_t n = strlen(suite);

	return !strncmp(crash_case_opt, suite, n) && crash_case_opt[n] == '/' &&
	       !strcmp(crash_case_opt + n + 1, name);
}

static void run_case(unsigned int n, const struct ktap_case *c)
{
	long pages0, kmalloc0, rcu0;

	memset(&cur, 0, sizeof(cur));
	cur.name = c->name;
	cur.index = n;
	rcu0 = rcu_callbacks_pending();
	pages0 = leak_snapshot_pages();
	kmalloc0 = kmalloc_in_use();
	cur.start_tsc = rdtsc();
	if (!strcmp(c->name, run.suite_name))
		/* KTAP parsers (Linux's kunit.py) read a result named like its
		 * suite as the suite's own result line. */
		ktap_error("case named like its suite '%s'; rename the case", c->name);
	else if (is_crash_case(run.suite_name, c->name))
		panic("crash_case=%s: a deliberate panic inside the case", crash_case_opt);
	else
		c->run();

	/* Objects freed through RCU count as returned once their callbacks
	 * have run: wait for them before comparing. */
	if (rcu_callbacks_pending() != rcu0)
		rcu_barrier();
	long dp = leak_snapshot_pages() - pages0, dk = kmalloc_in_use() - kmalloc0;
	long dr = rcu_callbacks_pending() - rcu0;
	if (!cur.skipped && !cur.error && (dp || dk || dr))
		report_error("leak", "case %s: %ld pages, %ld kmalloc objects and %ld RCU callbacks "
			     "not returned", c->name, dp, dk, dr);

	const char *res = "ok";
	char directive[200] = "";
	if (cur.error) {
		res = "not ok";
		snprintf(directive, sizeof(directive), " # ERROR %s", cur.reason);
		run.error++;
		run.suite_error = true;
	} else if (load_relaxed(&cur.failed)) {
		res = "not ok";
		run.fail++;
		run.suite_failed = true;
	} else if (cur.skipped) {
		snprintf(directive, sizeof(directive), " # SKIP %s", cur.reason);
		run.skip++;
	} else if (!load_relaxed(&cur.checks)) {
		res = "not ok";
		snprintf(directive, sizeof(directive), " # ERROR the case checked nothing");
		run.error++;
		run.suite_error = true;
	} else {
		run.pass++;
	}
	printk("    %s %u %s%s\n", res, n, c->name, directive);
	run.cases_done = n;
	cur.name = NULL;
	char status[96];
	snprintf(status, sizeof(status), "mmtorture: %s  pass %u  fail %u  skip %u  error %u",
		 run.suite_name, run.pass, run.fail, run.skip, run.error);
	fbcon_set_status(status);
}

static const struct ktap_suite *find_suite(const char *name, size_t len)
{
	for (const struct ktap_suite *s = __suites_start; s < __suites_end; s++)
		if (strlen(s->name) == len && !strncmp(s->name, name, len))
			return s;
	return NULL;
}

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

/* Is this suite selected by tests=? */
static bool selected(const char *name)
{
	const char *p = tests_opt;

	if (!*p)
		return !in_list(not_default, name);
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == strlen(name) && !strncmp(p, name, len))
			return true;
		if (len == 3 && !strncmp(p, "all", 3))
			return true;
		p += len + (e ? 1 : 0);
	}
	return false;
}

/* crash_case= must name a case that runs, or it would crash nothing. */
static void validate_crash_case_opt(void)
{
	if (!crash_case_opt[0])
		return;
	for (const struct ktap_suite *s = __suites_start; s < __suites_end; s++)
		for (unsigned int i = 0; i < s->ncases; i++)
			if (is_crash_case(s->name, s->cases[i].name)) {
				if (!selected(s->name))
					ktap_bail_out("crash_case=%s: suite '%s' is not in the run (tests=%s)",
						      crash_case_opt, s->name, tests_opt);
				return;
			}
	ktap_bail_out("crash_case=%s: no such case (SUITE/CASE, as the results name them)",
		      crash_case_opt);
}

static void validate_tests_opt(void)
{
	const char *p = tests_opt;

	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (!(len == 3 && !strncmp(p, "all", 3)) && !find_suite(p, len)) {
			char list[400];
			size_t n = 0;
			for (const char *const *s = suite_order; *s; s++)
				if (find_suite(*s, strlen(*s)))
					n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? "," : "", *s);
			ktap_bail_out("unknown suite '%.*s' in 'tests=%s' (suites: %s)", (int)len, p,
				      tests_opt, list);
		}
		p += len + (e ? 1 : 0);
	}
}

static void print_totals_and_exit(void)
{
	bool failed = run.fail || load_acquire(&run.failed_outside_case);

	printk("# Totals: pass:%u fail:%u skip:%u error:%u\n", run.pass, run.fail, run.skip,
	       run.error);
	printk("--- End of test: %s\n", failed || run.error ? "FAILURE" : "SUCCESS");
	kernel_exit(failed ? EXIT_FAILURE_CODE : run.error ? EXIT_ERROR_CODE : EXIT_SUCCESS_CODE);
}

static void finish_suite(void)
{
	const char *res = run.suite_failed || run.suite_error ? "not ok" : "ok";

	printk("%s %u %s%s\n", res, run.suite_index, run.suite_name,
	       !run.suite_failed && run.suite_error ? " # ERROR" : "");
}

void ktap_run(void)
{
	unsigned int n = 0;

	validate_tests_opt();
	validate_crash_case_opt();
	for (const char *const *s = suite_order; *s; s++)
		if (find_suite(*s, strlen(*s)) && selected(*s))
			n++;
	run.nsuites = n;
	printk("1..%u\n", n);
	run.plan_printed = true;
	for (const char *const *s = suite_order; *s; s++) {
		const struct ktap_suite *suite = find_suite(*s, strlen(*s));
		char why[160];

		if (!suite || !selected(*s))
			continue;
		run.suite_index++;
		run.suite_name = suite->name;
		run.suite_failed = run.suite_error = false;
		if (suite->available && !suite->available(why, sizeof(why))) {
			printk("ok %u %s # SKIP %s\n", run.suite_index, suite->name, why);
			run.skip++;
			run.suite_name = NULL;
			continue;
		}
		printk("    KTAP version 1\n");
		printk("    # Subtest: %s\n", suite->name);
		printk("    1..%u\n", suite->ncases);
		run.suite = suite;
		run.cases_done = 0;
		for (unsigned int i = 0; i < suite->ncases; i++)
			run_case(i + 1, &suite->cases[i]);
		finish_suite();
		run.suite = NULL;
		run.suite_name = NULL;
	}
	print_totals_and_exit();
	__builtin_unreachable();
}

/* How a run that stops early reports the case it stopped in. */
enum stop_verdict {
	STOP_FAILS_CASE,	/* a hang or panic: the code under test failed */
	STOP_ERRORS_CASE,	/* a bail-out: the run could not go on */
};

/*
 * Every planned test owes a result line, also when the run stops before
 * its end (a bail-out, a hang, a panic), so that a KTAP parser (Linux's
 * kunit.py among them) reads a whole document whose counts are the
 * totals:
 *
 *   before the plan          "1..1", "not ok 1 boot # ERROR <why>"
 *   the running case         "not ok N case # <why>" (a FAILURE), or
 *                            "not ok N case # ERROR <why>" for a bail-out
 *   the cases and suites     "not ok N name # ERROR not run: <why>"
 *   that did not run
 *
 * kunit.py (6.1) has no ERROR directive and counts those lines as
 * failures: its "failed" is our fail + error. Called on one CPU with the
 * others stopped or halting.
 */
static void close_results_early(const char *why, enum stop_verdict how)
{
	print_header_start();
	if (!run.plan_printed) {
		printk("1..1\n");
		printk("not ok 1 boot # ERROR %s\n", why);
		run.plan_printed = true;
		run.error++;
		return;
	}
	if (cur.name) {
		printk("    not ok %u %s # %s%s\n", cur.index, cur.name,
		       how == STOP_ERRORS_CASE ? "ERROR " : "", why);
		if (how == STOP_ERRORS_CASE)
			run.error++;
		else
			run.fail++;
		run.cases_done = cur.index;
		cur.name = NULL;
	}
	if (run.suite) {
		for (unsigned int i = run.cases_done; i < run.suite->ncases; i++) {
			printk("    not ok %u %s # ERROR not run: %s\n", i + 1, run.suite->cases[i].name,
			       why);
			run.error++;
		}
		printk("not ok %u %s\n", run.suite_index, run.suite_name);
	} else if (run.suite_name) {
		/* Stopped in its available() check: no case was listed. */
		printk("not ok %u %s # ERROR not run: %s\n", run.suite_index, run.suite_name, why);
		run.error++;
	}
	run.suite = NULL;
	run.suite_name = NULL;

	unsigned int n = 0;
	for (const char *const *s = suite_order; *s; s++) {
		if (!find_suite(*s, strlen(*s)) || !selected(*s) || ++n <= run.suite_index)
			continue;
		printk("not ok %u %s # ERROR not run: %s\n", n, *s, why);
		run.error++;
	}
}

/* A CPU hung (reported already): fail the running case and end the run. */
__attribute__((noreturn)) static void ktap_abort_run(const char *class)
{
	char why[64];

	snprintf(why, sizeof(why), "%s: the run stops here", class);
	close_results_early(why, STOP_FAILS_CASE);
	print_totals_and_exit();
	__builtin_unreachable();
}

/* After the panic dumps: close the results; the caller exits. */
static void ktap_finish_panic(const char *msg)
{
	char why[300];

	snprintf(why, sizeof(why), "panic: %s", msg);
	close_results_early(why, STOP_FAILS_CASE);
	printk("# Totals: pass:%u fail:%u skip:%u error:%u\n", run.pass, run.fail, run.skip,
	       run.error);
	printk("--- End of test: FAILURE\n");
}

static void ktap_report_diag(const char *msg)
{
	ktap_diag("%s", msg);
}

const struct report_sink ktap_report_sink = {
	.error = ktap_report_error,
	.abort_run = ktap_abort_run,
	.panic_finish = ktap_finish_panic,
	.diag = ktap_report_diag,
};

/*
 * The first line starts a line of its own: the firmware or the boot
 * loader may have left text or a carriage return in front of it, which
 * kunit.py would take as a prefix and cut from every later line.
 */
static void print_header_start(void)
{
	if (header_started)
		return;
	header_started = true;
	printk("\nKTAP version 1\n");
	printk("# mmtorture %s cmdline: %s\n", kernel_version, boot_info.cmdline);
}

void ktap_bail_out(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	close_results_early(msg, STOP_ERRORS_CASE);
	print_totals_and_exit();
	__builtin_unreachable();
}

/*
 * "# cpus: N online, apic ids: a,b,...": one line however many CPUs there
 * are (288 IDs take over 1 KiB, more than one printk() holds), printed in
 * pieces under the console lock so no other line lands inside it.
 */
static void print_cpus_line(void)
{
	char buf[256] = "";
	size_t n = 0;
	unsigned int c;
	bool first = true;

	printk_lock();
	printk("# cpus: %u online, apic ids: ", nr_cpus_online);
	for_each_online_cpu(c) {
		/* An ID takes at most 11 characters with its comma: never truncated. */
		n += snprintf(buf + n, sizeof(buf) - n, "%s%u", first ? "" : ",", cpu_percpu(c)->apic_id);
		first = false;
		if (n > sizeof(buf) - 16) {
			printk("%s", buf);
			n = 0;
			buf[0] = 0;
		}
	}
	printk("%s\n", buf);
	printk_unlock();
}

void ktap_print_header(void)
{
	char buf[512];

	print_header_start();
	print_cpus_line();
	cpu_features_string(buf, sizeof(buf));
	printk("# features: %s\n", buf);
	console_list(buf, sizeof(buf));
	printk("# console: %s\n", buf);
	apic_describe(buf, sizeof(buf));
	printk("# apic: %s\n", buf);
	if (!cpu_features.invariant_tsc)
		printk("# warning: the TSC is not invariant (CPUID 80000007h EDX bit 8 clear); "
		       "timeouts and bench figures assume it ticks at a constant rate%s\n",
		       cpu_features.hypervisor ? " (a hypervisor may keep it constant without saying so)" : "");
	if (tsc_warning[0])
		printk("# warning: %s\n", tsc_warning);
	if (!seed_given)
		global_seed = rdtsc();
	printk("# seed: %llu\n", (unsigned long long)global_seed);
}
