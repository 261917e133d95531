#include "boot/multiboot2.h"
#include "kernel/string.h"

#define TAG_END		0
#define TAG_CMDLINE	1
#define TAG_LOADER	2
#define TAG_MODULE	3
#define TAG_MMAP	6
#define TAG_FRAMEBUFFER	8
#define TAG_EFI32	11
#define TAG_EFI64	12
#define TAG_ACPI_OLD	14
#define TAG_ACPI_NEW	15

struct mb2_tag {
	uint32_t type, size;
};

struct mb2_mmap_entry {
	uint64_t base, len;
	uint32_t type, reserved;
};

struct boot_info boot_info;

static void copy_string(char *dst, unsigned long cap, const char *src, unsigned long max,
			bool *truncated)
{
	unsigned long n = strnlen(src, max);

	if (n >= cap) {
		n = cap - 1;
		if (truncated)
			*truncated = true;
	}
	memcpy(dst, src, n);
	dst[n] = 0;
}

bool multiboot2_parse(uint64_t info_phys)
{
	struct boot_info *bi = &boot_info;
	const uint8_t *info = (const uint8_t *)(uintptr_t)info_phys;
	uint32_t total = *(const uint32_t *)info;
	const uint8_t *p = info + 8, *end = info + total;

	bi->info_phys = info_phys;
	bi->info_size = total;
	if (total < 16 || total > (1u << 20))
		return false;

	while (p + 8 <= end) {
		const struct mb2_tag *tag = (const struct mb2_tag *)p;
		const uint8_t *body = p + 8;
		uint32_t blen = tag->size - 8;

		if (tag->size < 8 || p + tag->size > end)
			return false;
		switch (tag->type) {
		case TAG_END:
			return true;
		case TAG_CMDLINE:
			copy_string(bi->cmdline, sizeof(bi->cmdline), (const char *)body, blen,
				    &bi->cmdline_truncated);
			break;
		case TAG_LOADER:
			copy_string(bi->loader, sizeof(bi->loader), (const char *)body, blen, NULL);
			break;
		case TAG_MODULE:
			if (bi->nmodules < BOOT_MAX_MODULES) {
				const uint32_t *m = (const uint32_t *)body;
				bi->modules[bi->nmodules].base = m[0];
				bi->modules[bi->nmodules].len = m[1] - m[0];
				bi->nmodules++;
			}
			break;
		case TAG_MMAP: {
			uint32_t esize = ((const uint32_t *)body)[0];
			const uint8_t *e = body + 8;
			if (esize < sizeof(struct mb2_mmap_entry))
				return false;
			for (; e + esize <= p + tag->size; e += esize) {
				const struct mb2_mmap_entry *me = (const void *)e;
				if (bi->nranges == BOOT_MAX_RANGES) {
					bi->ranges_truncated = true;
					break;
				}
				bi->ranges[bi->nranges].base = me->base;
				bi->ranges[bi->nranges].len = me->len;
				bi->ranges[bi->nranges].type = me->type;
				bi->nranges++;
			}
			break;
		}
		case TAG_FRAMEBUFFER: {
			const uint8_t *b = body;
			struct boot_fb *fb = &bi->fb;
			fb->present = true;
			memcpy(&fb->addr, b + 0, 8);
			memcpy(&fb->pitch, b + 8, 4);
			memcpy(&fb->width, b + 12, 4);
			memcpy(&fb->height, b + 16, 4);
			fb->bpp = b[20];
			fb->type = b[21];
			if (fb->type == 1 && blen >= 30) {
				fb->red_pos = b[24];
				fb->red_size = b[25];
				fb->green_pos = b[26];
				fb->green_size = b[27];
				fb->blue_pos = b[28];
				fb->blue_size = b[29];
			}
			break;
		}
		case TAG_EFI32:
		case TAG_EFI64:
			bi->efi = true;
			break;
		case TAG_ACPI_OLD:
		case TAG_ACPI_NEW:
			/* Prefer the v2 RSDP (XSDT) when both are given. */
			if (tag->type == TAG_ACPI_NEW || !bi->rsdp_len) {
				unsigned int n = blen < sizeof(bi->rsdp) ? blen : sizeof(bi->rsdp);
				memcpy(bi->rsdp, body, n);
				bi->rsdp_len = n;
			}
			break;
		}
		p += (tag->size + 7) & ~7u;
	}
	return false;
}
