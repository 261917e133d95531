#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "mm/kmap.h"

#define APIC_BASE_BSP	(1ull << 8)
#define APIC_BASE_EXTD	(1ull << 10)
#define APIC_BASE_EN	(1ull << 11)

/* Register offsets (xAPIC MMIO); x2APIC MSR = 0x800 + offset / 16. */
#define APIC_ID		0x020
#define APIC_TPR	0x080
#define APIC_EOI	0x0b0
#define APIC_LDR	0x0d0
#define APIC_DFR	0x0e0
#define APIC_SVR	0x0f0
#define APIC_ESR	0x280
#define APIC_ICR_LO	0x300
#define APIC_ICR_HI	0x310
#define APIC_LVT_TIMER	0x320
#define APIC_LVT_LINT0	0x350
#define APIC_LVT_LINT1	0x360
#define APIC_LVT_ERROR	0x370
#define APIC_TIMER_INIT	0x380
#define APIC_TIMER_CUR	0x390
#define APIC_TIMER_DIV	0x3e0

#define LVT_MASKED	(1u << 16)
#define LVT_PERIODIC	(1u << 17)

#define ICR_FIXED	(0u << 8)
#define ICR_NMI		(4u << 8)
#define ICR_INIT	(5u << 8)
#define ICR_STARTUP	(6u << 8)
#define ICR_PENDING	(1u << 12)
#define ICR_ASSERT	(1u << 14)
#define ICR_LEVEL	(1u << 15)

enum { APIC_AUTO, APIC_XAPIC, APIC_X2APIC };
static const char *const apic_names[] = { "auto", "xapic", "x2apic", NULL };
static int apic_choice;
CMDLINE_ENUM(apic, apic_choice, apic_names, "local APIC mode: auto, xapic or x2apic");

/* (c) after apic_init_bsp(). */
static bool x2apic;
static bool firmware_x2apic;
static const char *mode_reason;		/* why this mode, for the header */
static volatile uint32_t *mmio;

static uint32_t apic_read(uint32_t reg)
{
	if (x2apic)
		return (uint32_t)rdmsr(0x800 + reg / 16);
	return mmio[reg / 4];
}

static void apic_write(uint32_t reg, uint32_t v)
{
	if (x2apic)
		wrmsr(0x800 + reg / 16, v);
	else
		mmio[reg / 4] = v;
}

/* WRMSR that reports a #GP instead of panicking: 0, or the vector + 1. */
static int wrmsr_safe(uint32_t msr, uint64_t v)
{
	uint64_t fault = (uint32_t)v;

	__asm__ volatile("1: wrmsr\n"
			 "xor %%eax, %%eax\n"
			 "2:\n"
			 ".pushsection __ex_table, \"a\"\n"
			 ".quad 1b, 2b\n"
			 ".popsection\n"
			 : "+a"(fault)
			 : "c"(msr), "d"((uint32_t)(v >> 32))
			 : "memory");
	return (int)fault;
}

/*
 * Leave x2APIC mode for xAPIC mode. The SDM (10.12.5) allows that only
 * through a disabled APIC (EN and EXTD clear), which resets the APIC's
 * registers; apic_init_cpu() programs every one the kernel uses after
 * this. Firmware that locked the x2APIC (IA32_XAPIC_DISABLE_STATUS) makes
 * the first write fault, and the APIC stays as it was. An implementation
 * may also not enable a disabled APIC again (Bochs 2.7 ignores every
 * IA32_APIC_BASE write once EN is clear); the value read back says so.
 * Returns NULL, or what went wrong.
 */
static const char *leave_x2apic(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_EXTD))
		return NULL;
	if (wrmsr_safe(MSR_APIC_BASE, base & ~(APIC_BASE_EN | APIC_BASE_EXTD)))
		return "the firmware locked the APIC in x2APIC mode (clearing IA32_APIC_BASE.EXTD faulted)";
	wrmsr(MSR_APIC_BASE, (base & ~APIC_BASE_EXTD) | APIC_BASE_EN);
	if ((rdmsr(MSR_APIC_BASE) & (APIC_BASE_EN | APIC_BASE_EXTD)) != APIC_BASE_EN)
		return "the APIC, disabled to leave x2APIC mode, did not come back in xAPIC mode";
	return NULL;
}

const char *apic_init_bsp(uint64_t mmio_phys, bool need_x2apic)
{
	static char error[128];
	uint64_t base = rdmsr(MSR_APIC_BASE);
	const char *why;

	firmware_x2apic = (base & APIC_BASE_EXTD) && (base & APIC_BASE_EN);
	switch (apic_choice) {
	case APIC_X2APIC:
		if (!cpu_features.x2apic)
			return "apic=x2apic: this CPU has no x2APIC (CPUID 1:ECX bit 21)";
		x2apic = true;
		mode_reason = "apic=x2apic";
		break;
	case APIC_XAPIC:
		if (need_x2apic)
			return "apic=xapic: APIC IDs above 254 exist, which only x2APIC mode reaches";
		if (firmware_x2apic && (why = leave_x2apic())) {
			snprintf(error, sizeof(error), "apic=xapic: %s", why);
			return error;
		}
		x2apic = false;
		mode_reason = firmware_x2apic ? "apic=xapic; the firmware had enabled x2APIC: the APIC "
						"was disabled and enabled again in xAPIC mode"
					      : "apic=xapic";
		break;
	default:
		x2apic = firmware_x2apic || need_x2apic;
		if (x2apic && !cpu_features.x2apic)
			return "APIC IDs above 254 exist, which only x2APIC mode reaches, "
			       "and this CPU has no x2APIC";
		mode_reason = firmware_x2apic ? "apic=auto: the firmware enabled it"
			      : need_x2apic   ? "apic=auto: APIC IDs above 254"
					      : "apic=auto";
		break;
	}
	if (!x2apic)
		mmio = ioremap(mmio_phys, 4096);
	return NULL;
}

void apic_describe(char *buf, unsigned long len)
{
	snprintf(buf, len, "%s mode (%s)", x2apic ? "x2APIC" : "xAPIC", mode_reason);
}

bool apic_x2apic_mode(void)
{
	return x2apic;
}

bool apic_firmware_x2apic(void)
{
	return firmware_x2apic;
}

void apic_init_cpu(void)
{
	uint64_t base;

	/* xAPIC -> x2APIC must pass through enabled xAPIC mode; going back
	 * needs a disable first (SDM 10.12.5): apic=xapic where the firmware
	 * enabled x2APIC, which it does on every CPU. The BSP found that
	 * the transition works. */
	if (!x2apic) {
		const char *why = leave_x2apic();
		ASSERT_MSG(!why, "apic_init_cpu: %s", why);
	}
	base = rdmsr(MSR_APIC_BASE) | APIC_BASE_EN;
	wrmsr(MSR_APIC_BASE, base);
	if (x2apic)
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);

	apic_write(APIC_TPR, 0);
	if (!x2apic) {
		apic_write(APIC_DFR, 0xffffffff);	/* flat model */
		apic_write(APIC_LDR, 0);
	}
	apic_write(APIC_LVT_TIMER, LVT_MASKED);
	apic_write(APIC_LVT_LINT0, LVT_MASKED);
	/* LINT1 carries NMI on PCs; leave it as NMI (delivery mode 100b). */
	apic_write(APIC_LVT_LINT1, 4u << 8);
	apic_write(APIC_LVT_ERROR, LVT_MASKED);
	apic_write(APIC_ESR, 0);
	apic_write(APIC_ESR, 0);
	apic_write(APIC_SVR, 0x100 | VEC_SPURIOUS);	/* software enable */
	apic_eoi();
}

uint32_t apic_read_id(void)
{
	if (x2apic)
		return (uint32_t)rdmsr(0x802);
	return apic_read(APIC_ID) >> 24;
}

void apic_eoi(void)
{
	apic_write(APIC_EOI, 0);
}

bool apic_icr_idle(void)
{
	if (x2apic)
		return true;
	for (unsigned long i = 0; i < 10000000; i++) {
		if (!(apic_read(APIC_ICR_LO) & ICR_PENDING))
			return true;
		cpu_relax();
	}
	return false;
}

/*
 * The xAPIC ICR is two registers: an interrupt between the two writes
 * that sends its own IPI would replace the destination, so interrupts
 * are off across the pair.
 *
 * x2APIC: the ICR is one MSR with a 32-bit destination. WRMSR to the
 * x2APIC registers is not serializing, and the SDM allows it to complete
 * before earlier stores are globally visible: the IPI could reach a CPU
 * before the request it announces (a call queued by smp_call, a flag the
 * handler reads). MFENCE then LFENCE (the SDM's sequence) drains the
 * stores first. The xAPIC write needs nothing: it is an uncached store,
 * ordered after the earlier stores like any store.
 */
static void apic_send(uint32_t apic_id, uint32_t lo)
{
	uint64_t flags = irq_save();

	if (x2apic) {
		__asm__ volatile("mfence; lfence" : : : "memory");
		wrmsr(0x830, ((uint64_t)apic_id << 32) | lo);
	} else {
		apic_icr_idle();
		apic_write(APIC_ICR_HI, apic_id << 24);
		apic_write(APIC_ICR_LO, lo);
	}
	irq_restore(flags);
}

void apic_send_ipi(uint32_t apic_id, uint8_t vector)
{
	apic_send(apic_id, ICR_FIXED | ICR_ASSERT | vector);
}

void apic_send_nmi(uint32_t apic_id)
{
	apic_send(apic_id, ICR_NMI | ICR_ASSERT);
}

void apic_send_init(uint32_t apic_id)
{
	apic_send(apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	apic_icr_idle();
	/* INIT level de-assert: required by old CPUs, ignored by new ones;
	 * in x2APIC mode it is not used. */
	if (!x2apic)
		apic_send(apic_id, ICR_INIT | ICR_LEVEL);
}

void apic_send_sipi(uint32_t apic_id, uint8_t page)
{
	apic_send(apic_id, ICR_STARTUP | ICR_ASSERT | page);
}

void apic_timer_periodic(uint8_t vector, uint32_t count)
{
	apic_write(APIC_TIMER_DIV, 0x3);	/* divide by 16 */
	apic_write(APIC_LVT_TIMER, LVT_PERIODIC | vector);
	apic_write(APIC_TIMER_INIT, count);
}

void apic_timer_oneshot_max(void)
{
	apic_write(APIC_TIMER_DIV, 0x3);
	apic_write(APIC_LVT_TIMER, LVT_MASKED);
	apic_write(APIC_TIMER_INIT, 0xffffffff);
}

uint32_t apic_timer_current(void)
{
	return apic_read(APIC_TIMER_CUR);
}

void apic_timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, LVT_MASKED);
	apic_write(APIC_TIMER_INIT, 0);
}
