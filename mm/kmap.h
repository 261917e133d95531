/*
 * The kernel half of the address space: direct map of RAM, the kernel
 * image mapped W^X, and an ioremap area for MMIO and firmware tables.
 * Built once on the BSP; every CPU and every mm shares the same upper-half
 * top-level entries, which never change after kmap_init() (new mappings
 * land in lower-level tables that are already shared).
 */
#ifndef MM_KMAP_H
#define MM_KMAP_H

#include <stdbool.h>
#include <stddef.h>
#include "arch/x86/pte.h"

struct boot_info;

/* Early allocator: pages from the memory map before the page allocator
 * runs. Returns a zeroed page's physical address; panics when out. */
paddr_t early_alloc_page(void);
paddr_t early_alloc(size_t bytes);
/* The [start, end) physical range the early allocator has consumed. */
void early_alloc_range(paddr_t *start, paddr_t *end);

/* Build the kernel page tables and switch the BSP to them. */
void kmap_init(const struct boot_info *bi);
/* Load the kernel page tables on this (AP) CPU. */
void kmap_load(void);
paddr_t kmap_kernel_top(void);

/* Map MMIO uncached; returns a kernel virtual address. */
void *ioremap(paddr_t pa, size_t len);
/* Map write-combining (a framebuffer: writes are buffered and burst,
 * reads are uncached, so draw without reading back). */
void *ioremap_wc(paddr_t pa, size_t len);
/* Map firmware memory (ACPI tables) cached: the direct map when it
 * covers the range, else the ioremap area. */
void *memremap(paddr_t pa, size_t len);

/*
 * Remappable kernel pages: KMAP_SLOTS one-page windows at KMAP_BASE,
 * mapped global (G) like the rest of the kernel half, so a TLB entry for
 * one survives CR3 loads and only INVLPG (or turning CR4.PGE off) drops
 * it. The caller owns a slot from kmap_page() to kunmap_page(); a slot is
 * changed by one CPU at a time.
 */
/* Map the page at pa; returns its kernel address, NULL if every slot is
 * taken. Nothing is flushed: the slot was unmapped and flushed. */
void *kmap_page(paddr_t pa);
/* Point the slot at va to the page at pa. Returns once every online CPU
 * has dropped its translation of va (INVLPG on each); interrupts may be
 * on or off, and the caller serves cross-CPU calls while it waits. */
void kmap_repoint(void *va, paddr_t pa);
/* Unmap the slot at va, flushed as kmap_repoint() does, and free it. */
void kunmap_page(void *va);

/* Highest physical address + 1 that the direct map covers. */
extern paddr_t direct_map_end;

#endif
