#include "kernel/timer.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/exit.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/report.h"

#define MAX_TICK_HOOKS 4

static uint64_t watchdog_s;
CMDLINE_U64(watchdog, watchdog_s, 0, 3600, "seconds without a tick before a CPU is hung (0: default)");
uint64_t watchdog_ns;
static uint64_t apic_hz;			/* (c) */
static tick_hook_t tick_hooks[MAX_TICK_HOOKS];	/* (c) registered at init */
static unsigned int nr_tick_hooks;
static bool watchdog_on;			/* (a) */
static int hang_reporting;			/* (a) first reporter wins */

uint64_t timer_apic_hz(void)
{
	return apic_hz;
}

void tick_hook_register(tick_hook_t fn)
{
	ASSERT(nr_tick_hooks < MAX_TICK_HOOKS);
	tick_hooks[nr_tick_hooks++] = fn;
}

void watchdog_enable(void)
{
	unsigned int c;
	uint64_t now = rdtsc();

	/* Start every CPU's clock fresh so boot time does not count. */
	for_each_online_cpu(c)
		WRITE_ONCE(cpu_percpu(c)->last_tick_tsc, now);
	store_release(&watchdog_on, true);
}

void watchdog_disable(void)
{
	store_release(&watchdog_on, false);
}

static void watchdog_check(void)
{
	uint64_t now = rdtsc(), limit = ns_to_tsc(watchdog_ns);
	unsigned int me = smp_processor_id(), c;

	for_each_online_cpu(c) {
		if (c == me)
			continue;
		struct percpu *pc = cpu_percpu(c);
		uint64_t last = READ_ONCE(pc->last_tick_tsc);
		if ((int64_t)(now - last) > (int64_t)limit && load_acquire(&watchdog_on))
			hang_report("cpu %u has not ticked for %llu ms (interrupts off or wedged); "
				    "last interrupted at %pS", c,
				    (unsigned long long)tsc_to_ns(now - last) / 1000000,
				    (void *)READ_ONCE(pc->last_irq_rip));
	}
}

static void tick(struct trap_frame *f)
{
	struct percpu *pc = this_cpu();

	pc->tick_count++;
	WRITE_ONCE(pc->last_tick_tsc, rdtsc());
	for (unsigned int i = 0; i < nr_tick_hooks; i++)
		tick_hooks[i](f);
	if (pc->tick_count % (HZ / 10) == 0 && load_relaxed(&watchdog_on))
		watchdog_check();
}

bool timer_init(void)
{
	watchdog_ns = (watchdog_s ? watchdog_s : cpu_features.hypervisor ? 20 : 5) * 1000000000ull;
	apic_hz = apic_timer_calibrate();
	if (apic_hz < HZ * 100)
		return false;
	irq_register(VEC_TIMER, tick);
	return true;
}

void timer_init_cpu(void)
{
	this_cpu()->last_tick_tsc = rdtsc();
	apic_timer_periodic(VEC_TIMER, (uint32_t)(apic_hz / HZ));
}

void hang_report(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int expected = 0;

	irq_disable();
	watchdog_disable();
	if (!atomic_cmpxchg(&hang_reporting, &expected, 1))
		halt_forever();		/* another CPU is reporting */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_error("hang", "cpu %u: %s", smp_processor_id(), msg);
	printk_panic_mode = true;
	printk_lock();
	printk("# hang detected on cpu %u; backtraces of every CPU follow\n", smp_processor_id());
	printk("# cpu %u (reporting) backtrace:\n", smp_processor_id());
	backtrace_here();
	printk_unlock();
	backtrace_all_other_cpus();
	report_abort_run("hang");
}
