/*
 * Finding classes and their counts, and the hand-off to the run's sink.
 * See kernel/report.h.
 *
 * Protection: (l) class_lock, (a) atomic, (c) constant after boot.
 */
#include "kernel/report.h"
#include "kernel/atomic.h"
#include "kernel/exit.h"
#include "kernel/printk.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"

static spinlock_t class_lock = SPINLOCK_INIT(LOCK_REPORT);
static struct {
	const char *name;	/* (l) set once, at the class's first report */
	unsigned long count;	/* (a) */
} classes[REPORT_MAX_CLASSES];

static const struct report_sink *sink;	/* (c) */

void report_set_sink(const struct report_sink *s)
{
	sink = s;
}

/* The class's index, numbering it on first use; the last slot takes
 * every class past the table's end. Called with class_lock held. */
static unsigned int class_index(const char *name)
{
	for (unsigned int i = 0; i < REPORT_MAX_CLASSES; i++) {
		if (!classes[i].name) {
			classes[i].name = name;
			return i;
		}
		if (!strcmp(classes[i].name, name))
			return i;
	}
	return REPORT_MAX_CLASSES - 1;
}

unsigned long report_count(const char *class)
{
	uint64_t flags = spin_lock_irqsave(&class_lock);
	unsigned long n = 0;

	for (unsigned int i = 0; i < REPORT_MAX_CLASSES && classes[i].name; i++)
		if (!strcmp(classes[i].name, class))
			n = load_relaxed(&classes[i].count);
	spin_unlock_irqrestore(&class_lock, flags);
	return n;
}

void report_error(const char *class, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	uint64_t flags = spin_lock_irqsave(&class_lock);
	unsigned int idx = class_index(class);
	atomic_inc(&classes[idx].count);
	spin_unlock_irqrestore(&class_lock, flags);

	if (sink)
		sink->error(class, idx, msg);
	else
		printk("# error %s: %s\n", class, msg);
}

void report_diag(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sink && sink->diag)
		sink->diag(msg);
	else
		printk("# %s\n", msg);
}

void report_abort_run(const char *class)
{
	if (sink)
		sink->abort_run(class);
	kernel_exit(EXIT_FAILURE_CODE);
}

void report_panic_finish(const char *msg)
{
	if (sink)
		sink->panic_finish(msg);
}
