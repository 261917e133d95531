/*
 * CPU feature detection and control-register setup.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/apic.h"
#include "kernel/cmdline.h"
#include "kernel/printk.h"
#include "kernel/string.h"

struct cpu_features cpu_features;
unsigned int pt_levels = 4;

/* la57=off is acted on by boot/entry.asm, which scans the command line
 * for that word before entering long mode; the registry only validates it
 * here, and la57=on turns a missing LA57 into an error. */
enum { LA57_AUTO, LA57_ON, LA57_OFF };
static const char *const la57_names[] = { "auto", "on", "off", NULL };
static int la57_choice;
CMDLINE_ENUM(la57, la57_choice, la57_names, "5-level paging: auto, on (required) or off");

const char *cpu_paging_error(void)
{
	if (la57_choice == LA57_ON && pt_levels != 5)
		return cpu_features.la57 ? "la57=on: 5-level paging was not enabled at boot"
					 : "la57=on: this CPU has no 5-level paging (CPUID 7.0:ECX bit 16)";
	if (la57_choice == LA57_OFF && pt_levels != 4)
		return "la57=off: the boot code missed the option and enabled 5-level paging";
	return NULL;
}

/* The feature flags: CPUID leaf (subleaf 0), register and bit. */
static const struct feature_bit {
	uint32_t leaf;
	char reg;		/* 'a', 'b', 'c', 'd' */
	uint8_t bit;
	size_t field;		/* offsetof(struct cpu_features, ...), a bool */
} feature_bits[] = {
#define FEATURE(nm, lf, rg, bt) { lf, rg, bt, __builtin_offsetof(struct cpu_features, nm) }
	FEATURE(pge, 1, 'd', 13),
	FEATURE(pcid, 1, 'c', 17),
	FEATURE(x2apic, 1, 'c', 21),
	FEATURE(tsc_deadline, 1, 'c', 24),
	FEATURE(hypervisor, 1, 'c', 31),
	FEATURE(fsgsbase, 7, 'b', 0),
	FEATURE(smep, 7, 'b', 7),
	FEATURE(invpcid, 7, 'b', 10),
	FEATURE(smap, 7, 'b', 20),
	FEATURE(umip, 7, 'c', 2),
	FEATURE(la57, 7, 'c', 16),
	FEATURE(nx, 0x80000001, 'd', 20),
	FEATURE(pdpe1gb, 0x80000001, 'd', 26),
	FEATURE(invariant_tsc, 0x80000007, 'd', 8),
#undef FEATURE
};

void cpu_features_init(void)
{
	struct cpu_features *f = &cpu_features;
	struct cpuid_regs r = cpuid(0, 0);

	f->max_leaf = r.eax;
	memcpy(f->vendor + 0, &r.ebx, 4);
	memcpy(f->vendor + 4, &r.edx, 4);
	memcpy(f->vendor + 8, &r.ecx, 4);
	f->vendor[12] = 0;
	f->max_ext_leaf = cpuid(0x80000000, 0).eax;

	for (const struct feature_bit *b = feature_bits;
	     b < feature_bits + sizeof(feature_bits) / sizeof(feature_bits[0]); b++) {
		uint32_t max = b->leaf >= 0x80000000 ? f->max_ext_leaf : f->max_leaf;
		if (b->leaf > max)
			continue;
		struct cpuid_regs fr = cpuid(b->leaf, 0);
		uint32_t reg = b->reg == 'a' ? fr.eax : b->reg == 'b' ? fr.ebx : b->reg == 'c' ? fr.ecx : fr.edx;
		*(bool *)((char *)f + b->field) = reg & (1u << b->bit);
	}
	/* The paging mode was chosen before long mode was entered (LA57
	 * cannot change inside it): just read what boot/entry.asm did. */
	pt_levels = read_cr4() & CR4_LA57 ? 5 : 4;

	if (f->max_ext_leaf >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			r = cpuid(0x80000002 + i, 0);
			memcpy(f->brand + 16 * i + 0, &r.eax, 4);
			memcpy(f->brand + 16 * i + 4, &r.ebx, 4);
			memcpy(f->brand + 16 * i + 8, &r.ecx, 4);
			memcpy(f->brand + 16 * i + 12, &r.edx, 4);
		}
		f->brand[48] = 0;
	}
	f->phys_bits = 36;
	f->virt_bits = 48;
	if (f->max_ext_leaf >= 0x80000008) {
		r = cpuid(0x80000008, 0);
		f->phys_bits = r.eax & 0xff;
		f->virt_bits = (r.eax >> 8) & 0xff;
	}
}

uint64_t cpu_reserved_pte_mask(void)
{
	uint64_t mask = 0;

	for (unsigned int b = cpu_features.phys_bits; b < 52; b++)
		mask |= 1ull << b;
	return mask;
}

bool smap_enabled;

void cpu_setup_control_regs(void)
{
	const struct cpu_features *f = &cpu_features;
	uint64_t cr4 = CR4_PAE;
	/* SYSCALL on; its MSRs are syscall_init_cpu()'s. */
	uint64_t efer = EFER_LME | EFER_SCE;

	/* Caches on, write protection honoured in ring 0, x87 errors native. */
	write_cr0(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
	if (f->nx)
		efer |= EFER_NXE;
	wrmsr(MSR_EFER, efer);
	if (f->pge)
		cr4 |= CR4_PGE;
	if (f->smep)
		cr4 |= CR4_SMEP;
	if (f->smap)
		cr4 |= CR4_SMAP;
	smap_enabled = f->smap;
	if (f->umip)
		cr4 |= CR4_UMIP;
	/* CR4.PCIDE may only be set while CR3[11:0] is 0: every CR3 this
	 * kernel loads uses PCID 0 until the mm layer assigns others. */
	if (f->pcid && !(read_cr3() & 0xfff))
		cr4 |= CR4_PCIDE;
	if (read_cr4() & CR4_LA57)
		cr4 |= CR4_LA57;
	write_cr4(cr4);
	/* PAT: entries 0-3 keep the power-on layout (WB, WT, UC-, UC) so
	 * PCD/PWT mean what the page-table code expects on every firmware.
	 * Entry 4 (4 KiB PTE with PAT=1, PCD=PWT=0) is write-combining for
	 * ioremap_wc(): framebuffer stores are combined into bursts instead
	 * of one uncached bus write per pixel. Nothing else sets that bit.
	 * Every CPU loads the same value, as the SDM requires. */
	wrmsr(MSR_PAT, 0x0007040100070406ull);
}

void cpu_features_string(char *buf, unsigned long len)
{
	const struct cpu_features *f = &cpu_features;
	uint64_t cr4 = read_cr4();
	struct { bool on; const char *name; } flags[] = {
		{ apic_x2apic_mode(), "x2apic" },
		{ cr4 & CR4_PCIDE, "pcid" },
		{ f->invpcid, "invpcid" },
		{ cr4 & CR4_LA57, "la57" },
		{ f->la57 && !(cr4 & CR4_LA57), "la57=off" },
		{ cr4 & CR4_SMEP, "smep" },
		{ cr4 & CR4_SMAP, "smap" },
		{ cr4 & CR4_UMIP, "umip" },
		{ cr4 & CR4_PGE, "pge" },
		{ rdmsr(MSR_EFER) & EFER_NXE, "nx" },
		{ f->pdpe1gb, "pdpe1gb" },
		{ f->tsc_deadline, "tsc_deadline" },
		{ f->invariant_tsc, "invariant_tsc" },
		{ f->hypervisor, "hypervisor" },
	};
	unsigned long n = 0;

	buf[0] = 0;
	for (unsigned long i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!flags[i].on)
			continue;
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			      n ? " " : "", flags[i].name);
	}
}
