/*
 * Kernel page tables. See mm/kmap.h.
 *
 * Before kmap_init() switches CR3 the CPU runs on the boot tables, which
 * identity map the first 4 GiB: tables built here are reached through
 * that identity map until the switch, then through the direct map.
 */
#include "mm/kmap.h"
#include "arch/x86/cpu.h"
#include "boot/multiboot2.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/smp_call.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"

extern char _kernel_phys_start[], _text_start[], _text_end[], _rodata_start[], _rodata_end[];
extern char _data_start[], _data_end[], _ksyms_start[], _kernel_end[];

paddr_t direct_map_end;
static paddr_t kernel_top;		/* (c) after kmap_init() */
static bool switched;			/* (c) BSP only, during init */
static pte_t *kmap_ptes;		/* (c) the KMAP_BASE slots' PTEs */

/* Early allocator: a bump pointer in one free range (BSP, init only). */
static paddr_t early_start, early_cur, early_end;

static void *table_ptr(paddr_t pa)
{
	return switched ? phys_to_virt(pa) : (void *)(uintptr_t)pa;
}

paddr_t early_alloc(size_t bytes)
{
	paddr_t pa = early_cur;

	bytes = (bytes + PAGE_SIZE - 1) & PAGE_MASK;
	if (!early_end || early_end - early_cur < bytes)
		panic("early_alloc: out of boot memory (%zu bytes wanted)", bytes);
	early_cur += bytes;
	memset(table_ptr(pa), 0, bytes);
	return pa;
}

paddr_t early_alloc_page(void)
{
	return early_alloc(PAGE_SIZE);
}

void early_alloc_range(paddr_t *start, paddr_t *end)
{
	*start = early_start;
	*end = early_cur;
	/* The rest of the range goes to the page allocator from now on. */
	early_end = early_cur;
}

static paddr_t alloc_table(void)
{
	if (page_alloc_ready())
		return page_to_phys(alloc_page_zeroed(PAGE_TABLE_KERNEL));
	return early_alloc_page();
}

/* Return the entry for va at `level` in the tree under top, creating
 * the intermediate tables. */
static pte_t *walk_create(paddr_t top, uintptr_t va, unsigned int level)
{
	pte_t *table = table_ptr(top);

	for (unsigned int l = pt_levels; l > level; l--) {
		pte_t *e = &table[pt_index(va, l)];
		if (!(*e & PTE_P))
			*e = alloc_table() | PTE_P | PTE_W;
		ASSERT_MSG(!(*e & PTE_PS), "va %lx already mapped by a large page", va);
		table = table_ptr(pte_addr(*e));
	}
	return &table[pt_index(va, level)];
}

/* Map [va, va+len) to [pa, ...) with the largest pages alignment allows.
 * flags: PTE_* bits for the leaf (PTE_PS is added for large pages). */
static void kmap_range(paddr_t top, uintptr_t va, paddr_t pa, size_t len, uint64_t flags)
{
	while (len) {
		if (cpu_features.pdpe1gb && !(va & (HUGE_PAGE_SIZE - 1)) &&
		    !(pa & (HUGE_PAGE_SIZE - 1)) && len >= HUGE_PAGE_SIZE) {
			*walk_create(top, va, 3) = pa | flags | PTE_PS;
			va += HUGE_PAGE_SIZE, pa += HUGE_PAGE_SIZE, len -= HUGE_PAGE_SIZE;
		} else if (!(va & (LARGE_PAGE_SIZE - 1)) && !(pa & (LARGE_PAGE_SIZE - 1)) &&
			   len >= LARGE_PAGE_SIZE) {
			*walk_create(top, va, 2) = pa | flags | PTE_PS;
			va += LARGE_PAGE_SIZE, pa += LARGE_PAGE_SIZE, len -= LARGE_PAGE_SIZE;
		} else {
			*walk_create(top, va, 1) = pa | flags;
			va += PAGE_SIZE, pa += PAGE_SIZE, len -= PAGE_SIZE;
		}
	}
}

static bool is_direct_mapped_type(uint32_t type)
{
	return type == MEM_USABLE || type == MEM_ACPI || type == MEM_NVS;
}

/* Pick the largest free piece of usable memory below 4 GiB above the
 * kernel for the early allocator. */
static void early_alloc_init(const struct boot_info *bi)
{
	paddr_t kend = virt_to_phys(_kernel_end);

	for (unsigned int i = 0; i < bi->nranges; i++) {
		paddr_t s, e;

		if (!mem_range_usable_pages(&bi->ranges[i], &s, &e))
			continue;
		if (s < kend && e > (paddr_t)(uintptr_t)_kernel_phys_start)
			s = kend;
		if (s < 0x100000)
			s = 0x100000;
		if (e > 0x100000000ull)
			e = 0x100000000ull;
		for (unsigned int m = 0; m < bi->nmodules; m++) {
			paddr_t me = bi->modules[m].base + bi->modules[m].len;
			if (me > s && bi->modules[m].base < e)
				s = (me + PAGE_SIZE - 1) & PAGE_MASK;
		}
		if (e > s && e - s > early_end - early_start) {
			early_start = early_cur = s;
			early_end = e;
		}
	}
	if (!early_end)
		panic("kmap: no usable memory above the kernel in the memory map");
}

static void map_kernel_section(const char *start, const char *end, uint64_t flags)
{
	uint64_t g = cpu_features.pge ? PTE_G : 0;

	kmap_range(kernel_top, (uintptr_t)start, virt_to_phys(start), end - start,
		   flags | g | PTE_P);
}

void kmap_init(const struct boot_info *bi)
{
	uint64_t nx = cpu_features.nx ? PTE_NX : 0;

	early_alloc_init(bi);
	kernel_top = early_alloc_page();

	/* Pre-create every upper-half PDPT so the top-level entries that
	 * each mm copies never change afterwards. With 5-level paging the
	 * kernel lives in the last PML5 slot (everything from
	 * 0xffff000000000000 up), whose PML4 is laid out as in 4-level
	 * mode; the other upper-half PML5 slots stay empty for good. */
	pte_t *pml4 = table_ptr(kernel_top);
	if (pt_levels == 5) {
		paddr_t pa = early_alloc_page();
		pml4[511] = pa | PTE_P | PTE_W;
		pml4 = table_ptr(pa);
	}
	for (unsigned int i = 256; i < 512; i++)
		pml4[i] = early_alloc_page() | PTE_P | PTE_W;

	for (unsigned int i = 0; i < bi->nranges; i++) {
		const struct mem_range *r = &bi->ranges[i];
		paddr_t s = r->base & ~(LARGE_PAGE_SIZE - 1);
		paddr_t e = (r->base + r->len + LARGE_PAGE_SIZE - 1) & ~(LARGE_PAGE_SIZE - 1);

		if (!is_direct_mapped_type(r->type) || !r->len)
			continue;
		/* Neighbouring ranges may share a 2 MiB page: skip what an
		 * earlier range already mapped. */
		for (paddr_t pa = s; pa < e; pa += LARGE_PAGE_SIZE) {
			pte_t *pde = walk_create(kernel_top, DIRECT_MAP_BASE + pa, 2);
			if (!(*pde & PTE_P))
				*pde = pa | PTE_P | PTE_W | PTE_PS | nx |
				       (cpu_features.pge ? PTE_G : 0);
		}
		if (e > direct_map_end)
			direct_map_end = e;
	}

	map_kernel_section(_text_start, _text_end, 0);
	map_kernel_section(_rodata_start, _rodata_end, nx);
	map_kernel_section(_data_start, _data_end, PTE_W | nx);
	map_kernel_section(_ksyms_start, _kernel_end, nx);

	write_cr3(kernel_top);
	switched = true;
	kmap_ptes = walk_create(kernel_top, KMAP_BASE, 1);
}

void kmap_load(void)
{
	write_cr3(kernel_top);
}

paddr_t kmap_kernel_top(void)
{
	return kernel_top;
}

static spinlock_t ioremap_lock = SPINLOCK_INIT(LOCK_IOREMAP);
static uintptr_t ioremap_next = IOREMAP_BASE;	/* (ioremap_lock) */

static void *map_io_area(paddr_t pa, size_t len, uint64_t cache)
{
	paddr_t start = pa & PAGE_MASK;
	size_t size = ((pa + len + PAGE_SIZE - 1) & PAGE_MASK) - start;
	uint64_t flags = PTE_P | PTE_W | cache | (cpu_features.nx ? PTE_NX : 0);
	uintptr_t va;

	uint64_t irq = spin_lock_irqsave(&ioremap_lock);
	va = ioremap_next;
	ioremap_next += size + PAGE_SIZE;	/* a guard page between mappings */
	ASSERT(ioremap_next < IOREMAP_BASE + IOREMAP_SIZE);
	for (size_t off = 0; off < size; off += PAGE_SIZE)
		*walk_create(kernel_top, va + off, 1) = (start + off) | flags;
	spin_unlock_irqrestore(&ioremap_lock, irq);
	return (void *)(va + (pa - start));
}

void *ioremap(paddr_t pa, size_t len)
{
	return map_io_area(pa, len, PTE_PCD | PTE_PWT);
}

/* In a 4 KiB PTE bit 7 is the PAT bit: with PCD = PWT = 0 it selects PAT
 * entry 4, which cpu_setup_control_regs() programs as write-combining. */
#define PTE_PAT_4K	(1ull << 7)

void *ioremap_wc(paddr_t pa, size_t len)
{
	return map_io_area(pa, len, PTE_PAT_4K);
}

void *memremap(paddr_t pa, size_t len)
{
	for (unsigned int i = 0; i < boot_info.nranges; i++) {
		const struct mem_range *r = &boot_info.ranges[i];
		if (is_direct_mapped_type(r->type) && pa >= r->base &&
		    pa + len <= r->base + r->len)
			return phys_to_virt(pa);
	}
	return map_io_area(pa, len, 0);
}

/*
 * kmap slots. Protection: kmap_lock for kmap_used; a slot's PTE is
 * written only by its owner (between kmap_page() and kunmap_page()).
 */
static spinlock_t kmap_lock = SPINLOCK_INIT(LOCK_KMAP);
static uint64_t kmap_used;		/* (kmap_lock) bit per slot */
_Static_assert(KMAP_SLOTS <= 64, "kmap_used has one bit per slot");
_Static_assert(KMAP_SLOTS <= PTRS_PER_TABLE && !(KMAP_BASE & (LARGE_PAGE_SIZE - 1)),
	       "the slots share one PTE table");

static uint64_t kmap_pte_flags(void)
{
	return PTE_P | PTE_W | (cpu_features.nx ? PTE_NX : 0) | (cpu_features.pge ? PTE_G : 0);
}

static unsigned int kmap_slot(void *va)
{
	uintptr_t v = (uintptr_t)va;

	ASSERT_MSG(v >= KMAP_BASE && v < KMAP_BASE + KMAP_SLOTS * PAGE_SIZE && !(v & ~PAGE_MASK),
		   "kmap: %lx is no kmap slot", v);
	return (v - KMAP_BASE) >> PAGE_SHIFT;
}

static void invlpg_one(void *va)
{
	invlpg((uintptr_t)va);
}

/* The entry is global: a CR3 load on the other CPUs would not drop it,
 * so every CPU runs INVLPG. */
static void kmap_flush(void *va)
{
	invlpg((uintptr_t)va);
	smp_call_others(invlpg_one, va);
}

void *kmap_page(paddr_t pa)
{
	unsigned int slot;
	uint64_t irq = spin_lock_irqsave(&kmap_lock);

	for (slot = 0; slot < KMAP_SLOTS && (kmap_used & (1ull << slot)); slot++)
		;
	if (slot < KMAP_SLOTS)
		kmap_used |= 1ull << slot;
	spin_unlock_irqrestore(&kmap_lock, irq);
	if (slot == KMAP_SLOTS)
		return NULL;
	WRITE_ONCE(kmap_ptes[slot], pa | kmap_pte_flags());
	return (void *)(KMAP_BASE + slot * PAGE_SIZE);
}

void kmap_repoint(void *va, paddr_t pa)
{
	WRITE_ONCE(kmap_ptes[kmap_slot(va)], pa | kmap_pte_flags());
	kmap_flush(va);
}

void kunmap_page(void *va)
{
	unsigned int slot = kmap_slot(va);

	WRITE_ONCE(kmap_ptes[slot], 0);
	kmap_flush(va);
	uint64_t irq = spin_lock_irqsave(&kmap_lock);
	kmap_used &= ~(1ull << slot);
	spin_unlock_irqrestore(&kmap_lock, irq);
}
