/*
 * x86 CPU primitives: port I/O, MSRs, control registers, CPUID, TSC,
 * interrupt flag. Every function here is a single instruction or close;
 * they have no locking of their own.
 */
#ifndef ARCH_X86_CPU_H
#define ARCH_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_EFER		0xc0000080
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_APIC_BASE		0x0000001b
#define MSR_PAT			0x00000277
#define MSR_TSC_DEADLINE	0x000006e0

#define EFER_SCE	(1u << 0)
#define EFER_LME	(1u << 8)
#define EFER_NXE	(1u << 11)

#define CR0_PE		(1ul << 0)
#define CR0_MP		(1ul << 1)
#define CR0_EM		(1ul << 2)
#define CR0_TS		(1ul << 3)
#define CR0_ET		(1ul << 4)
#define CR0_NE		(1ul << 5)
#define CR0_WP		(1ul << 16)
#define CR0_AM		(1ul << 18)
#define CR0_NW		(1ul << 29)
#define CR0_CD		(1ul << 30)
#define CR0_PG		(1ul << 31)

#define CR4_PAE		(1ul << 5)
#define CR4_PGE		(1ul << 7)
#define CR4_UMIP	(1ul << 11)
#define CR4_LA57	(1ul << 12)
#define CR4_FSGSBASE	(1ul << 16)
#define CR4_PCIDE	(1ul << 17)
#define CR4_SMEP	(1ul << 20)
#define CR4_SMAP	(1ul << 21)

#define RFLAGS_IF	(1ul << 9)
#define RFLAGS_AC	(1ul << 18)

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

#define DEFINE_CR(n)							\
static inline uint64_t read_cr##n(void)					\
{									\
	uint64_t v;							\
	__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v) : : "memory");	\
	return v;							\
}									\
static inline void write_cr##n(uint64_t v)				\
{									\
	__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");	\
}
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

/* RDTSC is not ordered against earlier loads; the fenced form is for
 * measurements that must not start early. */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

static inline uint64_t read_rflags(void)
{
	uint64_t f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f) : : "memory");
	return f;
}

static inline void irq_disable(void)
{
	__asm__ volatile("cli" : : : "memory");
}
static inline void irq_enable(void)
{
	__asm__ volatile("sti" : : : "memory");
}
static inline bool irqs_enabled(void)
{
	return read_rflags() & RFLAGS_IF;
}
/* Returns the previous RFLAGS for irq_restore(). */
static inline uint64_t irq_save(void)
{
	uint64_t f = read_rflags();
	irq_disable();
	return f;
}
static inline void irq_restore(uint64_t flags)
{
	if (flags & RFLAGS_IF)
		irq_enable();
}

/* Wait for an interrupt with interrupts enabled; STI's one-instruction
 * shadow makes "check, then sleep" race free when the check ran with
 * interrupts off. */
static inline void safe_halt(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

__attribute__((noreturn)) static inline void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" : : : "memory");
}

/*
 * CR4.SMAP is set (every CPU sets it when the BSP's CPUID has SMAP). Read
 * by isr.asm, which clears EFLAGS.AC on entry when it is set, and by the
 * user-memory helpers (arch/x86/uaccess.h). (c) after the BSP's
 * cpu_setup_control_regs().
 */
extern bool smap_enabled;

/* Open and close supervisor access to user pages (SMAP); #UD without
 * SMAP. Only the uaccess helpers and the SMAP test use them. */
static inline void stac(void)
{
	__asm__ volatile(".byte 0x0f,0x01,0xcb" : : : "memory");
}
static inline void clac(void)
{
	__asm__ volatile(".byte 0x0f,0x01,0xca" : : : "memory");
}

static inline void invlpg(uintptr_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* CPU features the kernel uses, filled by cpu_features_init() on the BSP. */
struct cpu_features {
	bool nx, smep, smap, umip, pge, pcid, invpcid, x2apic, la57;
	bool pdpe1gb, tsc_deadline, invariant_tsc, fsgsbase, hypervisor;
	uint8_t phys_bits, virt_bits;
	uint32_t max_leaf, max_ext_leaf;
	char vendor[13];
	char brand[49];
};
extern struct cpu_features cpu_features;

/* NULL, or why the paging mode contradicts the la57= option. */
const char *cpu_paging_error(void);

void cpu_features_init(void);
/* Load this CPU's CR0/CR4/EFER/PAT with everything the kernel uses. */
void cpu_setup_control_regs(void);
/* Format the "# features:" line's flags into buf. */
void cpu_features_string(char *buf, unsigned long len);
/* Physical address bits the CPU implements: PTE bits at and above it
 * (up to 51) are reserved. */
uint64_t cpu_reserved_pte_mask(void);

enum invpcid_type { INVPCID_ADDR = 0, INVPCID_CONTEXT = 1, INVPCID_ALL_GLOBAL = 2, INVPCID_ALL = 3 };

static inline void invpcid(enum invpcid_type type, uint64_t pcid, uintptr_t va)
{
	struct { uint64_t pcid, va; } desc = { pcid, va };

	__asm__ volatile("invpcid %0, %1" : : "m"(desc), "r"((uint64_t)type) : "memory");
}

/*
 * Drop this CPU's non-global translations and paging-structure caches for
 * the address space in CR3 (every one uses PCID 0): INVPCID single-context
 * where the CPU has it, else a CR3 reload, which does the same (SDM 4.10.4.1).
 * Global (kernel) translations stay.
 */
static inline void flush_tlb_local_nonglobal(void)
{
	if (cpu_features.invpcid)
		invpcid(INVPCID_CONTEXT, 0, 0);
	else
		write_cr3(read_cr3());
}

#endif
