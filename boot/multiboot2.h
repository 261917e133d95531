/*
 * What GRUB told us, copied out of the multiboot2 info block into the
 * kernel image before anything is written below 1 MiB (under UEFI the
 * block can sit where the AP trampoline goes).
 */
#ifndef BOOT_MULTIBOOT2_H
#define BOOT_MULTIBOOT2_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_USABLE	1
#define MEM_RESERVED	2
#define MEM_ACPI	3
#define MEM_NVS		4
#define MEM_BAD		5

#define BOOT_MAX_RANGES	128
#define BOOT_MAX_MODULES 8

struct mem_range {
	uint64_t base, len;
	uint32_t type;
};

/* The whole 4 KiB pages of r, [*start, *end), if r is usable memory. */
static inline bool mem_range_usable_pages(const struct mem_range *r, uint64_t *start, uint64_t *end)
{
	*start = (r->base + 4095) & ~4095ull;
	*end = (r->base + r->len) & ~4095ull;
	return r->type == MEM_USABLE && *start < *end;
}

struct boot_fb {
	bool present;
	uint64_t addr;
	uint32_t pitch, width, height;
	uint8_t bpp, type;	/* type 1 RGB, 2 EGA text */
	uint8_t red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
};

struct boot_info {
	char cmdline[1024];
	bool cmdline_truncated;
	char loader[64];
	struct mem_range ranges[BOOT_MAX_RANGES];
	unsigned int nranges;
	bool ranges_truncated;
	struct mem_range modules[BOOT_MAX_MODULES];
	unsigned int nmodules;
	uint8_t rsdp[64];	/* copy of the RSDP (v1: 20 bytes, v2: 36) */
	unsigned int rsdp_len;	/* 0: GRUB gave none */
	bool efi;		/* booted through UEFI (EFI system table tag) */
	struct boot_fb fb;
	uint64_t info_phys, info_size;
};

extern struct boot_info boot_info;

/* Parse the info block at physical address info_phys (identity mapped by
 * the boot page tables). Returns false on a malformed block. */
bool multiboot2_parse(uint64_t info_phys);

#endif
