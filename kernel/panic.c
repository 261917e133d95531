#include "kernel/panic.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/pte.h"
#include "arch/x86/traps.h"
#include "kernel/atomic.h"
#include "kernel/exit.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/report.h"
#include "kernel/string.h"

/* Generated after the first link (tools/gensyms.py); see linker.ld. */
struct ksym {
	uint64_t addr;
	uint32_t name;
	uint32_t size;
};
extern const uint64_t ksyms_count;
extern const struct ksym ksyms_table[];
extern const char ksyms_names[];

const char *ksym_lookup(uintptr_t addr, uintptr_t *off)
{
	uint64_t lo = 0, hi = ksyms_count;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (ksyms_table[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct ksym *s = &ksyms_table[lo - 1];
	/* Past the symbol's end (when its size is known) is no symbol. */
	if (s->size && addr - s->addr >= s->size)
		return NULL;
	*off = addr - s->addr;
	return ksyms_names + s->name;
}

void ksym_format(uintptr_t addr, char *buf, size_t len)
{
	uintptr_t off;
	const char *name = ksym_lookup(addr, &off);

	if (name)
		snprintf(buf, len, "%s+0x%lx", name, off);
	else
		snprintf(buf, len, "0x%lx", addr);
}

static bool kernel_addr(uintptr_t a)
{
	return a >= DIRECT_MAP_BASE;
}

void backtrace_print(uintptr_t rip, uintptr_t rbp)
{
	printk("  Call trace:\n");
	printk("    [<%016lx>] %pS\n", rip, (void *)rip);
	for (int depth = 0; depth < 32; depth++) {
		if (!rbp || (rbp & 7) || !kernel_addr(rbp))
			break;
		uint64_t next, ret;
		/* A corrupt chain must not fault inside the panic path. */
		if (read_u64_safe((void *)rbp, &next) || read_u64_safe((void *)(rbp + 8), &ret))
			break;
		if (!ret)
			break;
		printk("    [<%016lx>] %pS\n", ret, (void *)ret);
		if (next <= rbp)
			break;
		rbp = next;
	}
}

void backtrace_here(void)
{
	/* Start at our caller: our own frame's saved RBP and return address. */
	uintptr_t *fp = __builtin_frame_address(0);
	backtrace_print(fp[1], fp[0]);
}

/* CPUs asked for a backtrace by NMI; each clears its own bit. */
static struct cpumask nmi_bt_pending;

int nmi_backtrace_handler(struct trap_frame *f)
{
	unsigned int cpu = smp_processor_id();

	if (kernel_stopping()) {
		/* kernel_exit() stops the other CPUs this way. */
		cpumask_clear_cpu(&nmi_bt_pending, cpu);
		halt_forever();
	}
	if (!cpumask_test(&nmi_bt_pending, cpu))
		return 0;
	printk_lock();
	printk("# cpu %u (apic id %u) backtrace:\n", cpu, this_cpu()->apic_id);
	trap_dump(f);
	backtrace_print(f->rip, f->rbp);
	printk_unlock();
	cpumask_clear_cpu(&nmi_bt_pending, cpu);
	return 1;
}

void backtrace_all_other_cpus(void)
{
	struct cpumask m = cpu_online_mask;

	cpumask_clear_cpu(&m, smp_processor_id());
	backtrace_cpus(&m);
}

void backtrace_cpus(const struct cpumask *mask)
{
	unsigned int c;

	for_each_cpu_in(c, mask) {
		if (c == smp_processor_id())
			continue;
		cpumask_set(&nmi_bt_pending, c);
		apic_send_nmi(cpu_percpu(c)->apic_id);
	}
	/* Bounded: ~2 s of TSC at any plausible rate. */
	uint64_t start = rdtsc();
	while (cpumask_weight(&nmi_bt_pending) && rdtsc() - start < 8000000000ull)
		cpu_relax();
	for_each_cpu_in(c, &nmi_bt_pending)
		printk("# cpu %u did not answer the backtrace NMI\n", c);
}

static int panicking;

static void panic_begin(void)
{
	int expected = 0;

	irq_disable();
	if (!atomic_cmpxchg(&panicking, &expected, 1 + (int)smp_processor_id())) {
		/* Another CPU is panicking: let it print and exit. */
		halt_forever();
	}
	printk_panic_mode = true;
}

__attribute__((noreturn)) static void panic_end(const char *msg)
{
	backtrace_all_other_cpus();
	report_panic_finish(msg);
	kernel_exit(EXIT_PANIC_CODE);
}

void panic(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	panic_begin();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printk_lock();
	printk("PANIC: cpu %u: %s\n", smp_processor_id(), msg);
	backtrace_here();
	printk_unlock();
	panic_end(msg);
}

void panic_exception(struct trap_frame *f, const char *name)
{
	char msg[96];

	panic_begin();
	snprintf(msg, sizeof(msg), "unhandled exception %lu (%s)", f->vector, name);
	printk_lock();
	printk("PANIC: cpu %u: %s error 0x%lx at %pS\n", smp_processor_id(), msg, f->error,
	       (void *)f->rip);
	if (f->vector == 14)
		printk("  page fault at 0x%lx: %s %s%s%s\n", read_cr2(),
		       f->error & 1 ? "protection violation" : "not present",
		       f->error & 2 ? "write" : (f->error & 16 ? "fetch" : "read"),
		       f->error & 8 ? " reserved-bit" : "", f->error & 4 ? " user" : "");
	trap_dump(f);
	backtrace_print(f->rip, f->rbp);
	printk_unlock();
	panic_end(msg);
}
