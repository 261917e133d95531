/*
 * x86-64 page-table entry format (4-level; 5-level adds a top level of
 * the same format) and the kernel's virtual layout constants.
 */
#ifndef ARCH_X86_PTE_H
#define ARCH_X86_PTE_H

#include <stdint.h>

typedef uint64_t paddr_t;	/* physical address */
typedef uint64_t pte_t;		/* an entry at any level */

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1ul << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define LARGE_PAGE_SIZE	(1ul << 21)
#define HUGE_PAGE_SIZE	(1ul << 30)
#define PTRS_PER_TABLE	512

#define PTE_P		(1ull << 0)
#define PTE_W		(1ull << 1)
#define PTE_U		(1ull << 2)
#define PTE_PWT		(1ull << 3)
#define PTE_PCD		(1ull << 4)
#define PTE_A		(1ull << 5)
#define PTE_D		(1ull << 6)
#define PTE_PS		(1ull << 7)	/* large page (PDE/PDPTE); PAT in a PTE */
#define PTE_G		(1ull << 8)
#define PTE_NX		(1ull << 63)
#define PTE_ADDR_MASK	0x000ffffffffff000ull

_Static_assert(PTE_ADDR_MASK == (((1ull << 52) - 1) & ~0xfffull), "PTE address bits 51:12");

/*
 * Freed pages are filled with this pattern (mm/page_alloc.c). Read as a
 * page-table entry at any level it is present (bit 0) with reserved bits
 * set: bits 51:48 and, on CPUs with fewer than 48 physical address bits,
 * the address bits above MAXPHYADDR; bit 7 is also reserved in a PML4E.
 * A hardware walk through a freed table raises #PF with RSVD=1, and a
 * software walker recognises the value itself.
 */
#define PAGE_POISON	0x000fdeadbeeff0a1ull
_Static_assert(PAGE_POISON & PTE_P, "poison must read as present");
_Static_assert(PAGE_POISON & 0x000f000000000000ull, "poison must set reserved bits 51:48");

#define KERNEL_VMA	0xffffffff80000000ul
#define DIRECT_MAP_BASE	0xffff800000000000ul
#define IOREMAP_BASE	0xffffc90000000000ul
#define IOREMAP_SIZE	(1ul << 39)
/* Remappable global kernel pages (mm/kmap.h kmap_page()): one PTE table. */
#define KMAP_BASE	(IOREMAP_BASE + IOREMAP_SIZE)
#define KMAP_SLOTS	64

/*
 * Paging depth: 5 when boot/entry.asm turned on LA57 (the CPU has it and
 * the command line did not say la57=off), else 4. Written once by
 * cpu_features_init() on the BSP before any table is walked; constant
 * afterwards, so plain reads are fine everywhere.
 */
extern unsigned int pt_levels;

static inline unsigned int pt_index(uintptr_t va, unsigned int level)
{
	/* level 1 = PTE ... 4 = PML4, 5 = PML5 */
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & 511;
}

static inline paddr_t pte_addr(pte_t e)
{
	return e & PTE_ADDR_MASK;
}

static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(pa + DIRECT_MAP_BASE);
}

/* Works for the direct map and for the kernel image. */
static inline paddr_t virt_to_phys(const void *va)
{
	uintptr_t v = (uintptr_t)va;
	return v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP_BASE;
}

#endif
