#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "kernel/cpumask.h"
#include "kernel/percpu.h"
#include "kernel/string.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "TSS layout (SDM Vol 3 Fig. 8-11)");

struct gdt {
	uint64_t null, code, data;
	uint64_t tss_lo, tss_hi;
	uint64_t user_data, user_code;
} __attribute__((aligned(16)));
_Static_assert(__builtin_offsetof(struct gdt, user_data) == (USER_DS & ~3), "USER_DS");
_Static_assert(__builtin_offsetof(struct gdt, user_code) == (USER_CS & ~3), "USER_CS");

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout");

/* (c) after the owning CPU's gdt_init_cpu(). */
static struct gdt gdts[MAX_CPUS];
static struct tss tsses[MAX_CPUS];
/* (c) after idt_init() on the BSP. */
static struct idt_gate idt[256] __attribute__((aligned(16)));

extern const uint64_t isr_stub_table[256];

void gdt_init_cpu(unsigned int cpu, void *ist_stacks)
{
	struct gdt *g = &gdts[cpu];
	struct tss *t = &tsses[cpu];
	uintptr_t base = (uintptr_t)t;
	uintptr_t stacks = (uintptr_t)ist_stacks;
	struct desc_ptr ptr = { sizeof(*g) - 1, (uintptr_t)g };

	memset(t, 0, sizeof(*t));
	t->ist[IST_NMI - 1] = stacks + 1 * IST_STACK_SIZE;
	t->ist[IST_DF - 1] = stacks + 2 * IST_STACK_SIZE;
	t->ist[IST_MC - 1] = stacks + 3 * IST_STACK_SIZE;
	t->iomap_base = sizeof(*t);

	g->null = 0;
	g->code = 0x00209a0000000000ull;	/* present, DPL 0, L=1 */
	g->data = 0x0000920000000000ull;
	g->tss_lo = (sizeof(*t) - 1) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		    ((base >> 24 & 0xff) << 56);
	g->tss_hi = base >> 32;
	g->user_data = 0x0000f20000000000ull;	/* present, DPL 3, writable */
	g->user_code = 0x0020fa0000000000ull;	/* present, DPL 3, L=1 */

	__asm__ volatile("lgdt %0\n"
			 "mov %1, %%ds\n"
			 "mov %1, %%es\n"
			 "mov %1, %%ss\n"
			 "pushq %2\n"
			 "leaq 1f(%%rip), %%rax\n"
			 "pushq %%rax\n"
			 "lretq\n"
			 "1:\n"
			 "ltr %w3\n"
			 : : "m"(ptr), "r"(KERNEL_DS), "i"(KERNEL_CS), "r"(TSS_SEL)
			 : "rax", "memory");
}

void *tss_rsp0_slot(void)
{
	/* At offset 4, so unaligned: the caller's 8-byte store is fine on
	 * x86, a C pointer to it would not be. */
	return (char *)&tsses[smp_processor_id()] + __builtin_offsetof(struct tss, rsp);
}

static void idt_set(unsigned int vec, uintptr_t handler, unsigned int ist)
{
	struct idt_gate *g = &idt[vec];

	g->offset_lo = handler & 0xffff;
	g->selector = KERNEL_CS;
	g->ist = ist;
	/* Present interrupt gate, DPL 0; DPL 3 for the one vector ring 3
	 * may raise with INT (its way back, arch/x86/user.c). */
	g->type_attr = vec == VEC_USER_RET ? 0xee : 0x8e;
	g->offset_mid = (handler >> 16) & 0xffff;
	g->offset_hi = handler >> 32;
	g->reserved = 0;
}

void idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++)
		idt_set(v, isr_stub_table[v], 0);
	idt_set(VEC_NMI, isr_stub_table[VEC_NMI], IST_NMI);
	idt_set(VEC_DF, isr_stub_table[VEC_DF], IST_DF);
	idt_set(VEC_MC, isr_stub_table[VEC_MC], IST_MC);
}

void idt_load(void)
{
	struct desc_ptr ptr = { sizeof(idt) - 1, (uintptr_t)idt };

	__asm__ volatile("lidt %0" : : "m"(ptr));
}
