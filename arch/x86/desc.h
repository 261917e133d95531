/*
 * Descriptor tables: one GDT and TSS per CPU (the TSS holds that CPU's
 * IST stacks), one shared IDT.
 */
#ifndef ARCH_X86_DESC_H
#define ARCH_X86_DESC_H

#include <stdint.h>

#define KERNEL_CS	0x08
#define KERNEL_DS	0x10
#define TSS_SEL		0x18	/* 16 bytes: 0x18 and 0x20 */
#define USER_DS		0x2b	/* 0x28, RPL 3 */
#define USER_CS		0x33	/* 0x30, RPL 3 */

#define IST_NMI		1
#define IST_DF		2
#define IST_MC		3
#define IST_STACK_SIZE	8192

/* Build and load this CPU's GDT and TSS (IST stacks allocated by the
 * caller: 3 stacks of IST_STACK_SIZE). */
void gdt_init_cpu(unsigned int cpu, void *ist_stacks);

/* Where this CPU's stack starts when an interrupt or exception arrives
 * in ring 3: the address of its TSS.RSP0 (8 bytes, unaligned). Owner
 * CPU, interrupts off. */
void *tss_rsp0_slot(void);

/* Build the shared IDT once (BSP), then load it on each CPU. */
void idt_init(void);
void idt_load(void);

#endif
