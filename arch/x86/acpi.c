#include "arch/x86/acpi.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/kmap.h"

struct acpi_info acpi;

struct rsdp {
	char sig[8];
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;		/* v2 from here */
	uint64_t xsdt;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct rsdp) == 36, "RSDP v2 layout");

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_rev;
	uint32_t creator, creator_rev;
} __attribute__((packed));
_Static_assert(sizeof(struct sdt_header) == 36, "SDT header layout");

static bool checksum_ok(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

/* Map a whole table: the header first to learn its length. */
static const struct sdt_header *map_table(paddr_t pa)
{
	const struct sdt_header *h = memremap(pa, sizeof(*h));

	if (h->length < sizeof(*h) || h->length > (16u << 20))
		return NULL;
	h = memremap(pa, h->length);
	if (!checksum_ok(h, h->length)) {
		printk("# acpi: table %.4s at 0x%lx has a bad checksum; ignored\n", h->sig, pa);
		return NULL;
	}
	return h;
}

static const struct rsdp *scan_for_rsdp(paddr_t start, paddr_t len)
{
	const uint8_t *p = memremap(start, len);

	for (paddr_t off = 0; off + 20 <= len; off += 16)
		if (!memcmp(p + off, "RSD PTR ", 8) && checksum_ok(p + off, 20))
			return (const struct rsdp *)(p + off);
	return NULL;
}

static void parse_madt(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + 44, *end = (const uint8_t *)h + h->length;

	acpi.lapic_phys = *(const uint32_t *)((const uint8_t *)h + 36);
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		uint32_t apic_id = 0, uid = 0, flags = 0;
		bool cpu = false, x2 = false;

		switch (p[0]) {
		case 0:		/* processor local APIC */
			uid = p[2];
			apic_id = p[3];
			flags = *(const uint32_t *)(p + 4);
			cpu = true;
			break;
		case 5:		/* local APIC address override */
			acpi.lapic_phys = *(const uint64_t *)(p + 4);
			break;
		case 9:		/* processor local x2APIC */
			apic_id = *(const uint32_t *)(p + 4);
			flags = *(const uint32_t *)(p + 8);
			uid = *(const uint32_t *)(p + 12);
			cpu = x2 = true;
			break;
		}
		if (cpu && acpi.ncpus < MAX_CPUS) {
			bool dup = false;
			/* Firmware may list a CPU both as type 0 and type 9. */
			for (unsigned int i = 0; i < acpi.ncpus; i++)
				dup |= acpi.cpus[i].apic_id == apic_id;
			if (!dup && (flags & 3)) {
				struct acpi_cpu *c = &acpi.cpus[acpi.ncpus++];
				c->apic_id = apic_id;
				c->uid = uid;
				c->enabled = flags & 1;
				c->online_capable = !(flags & 1) && (flags & 2);
				c->x2apic_entry = x2;
				if (c->enabled) {
					acpi.nenabled++;
					if (apic_id >= 255)
						acpi.need_x2apic = true;
				}
			}
		} else if (cpu) {
			printk("# acpi: more than %d CPUs in the MADT; the rest are ignored\n", MAX_CPUS);
		}
		p += p[1];
	}
}

/*
 * SPCR, Microsoft's Serial Port Console Redirection table (revisions 1-4;
 * offsets from its specification):
 *   36 interface type (a DBG2 serial subtype)  40 base address (GAS)
 *   58 configured baud rate code  76 UART clock in Hz (revision 3+)
 *   80 precise baud rate (revision 4+; overrides the code when non-zero)
 * GAS: 40 address space (0 memory, 1 I/O), 41 bit width, 42 bit offset,
 * 43 access size (1 byte .. 4 qword; 0 legacy: use the bit width),
 * 44 64-bit address.
 * Only 16550-compatible interfaces are taken: 0 (full 16550; in revision 1
 * 16550), 1 (16550 subset; in revision 1 16450) and 0x12 (16550 with the
 * register layout in the GAS). A base address of 0 means console
 * redirection is off.
 */
static void parse_spcr(const struct sdt_header *h)
{
	const uint8_t *t = (const uint8_t *)h;
	struct acpi_spcr *s = &acpi.spcr;
	uint8_t type = t[36], space = t[40], bit_width = t[41], bit_offset = t[42];
	uint8_t access = t[43], baud_code = t[58];
	uint64_t address = *(const uint64_t *)(t + 44);
	unsigned int bytes;

	if (type != 0x00 && type != 0x01 && type != 0x12) {
		printk("# acpi: SPCR names a UART of interface type 0x%x, not a 16550; ignored\n", type);
		return;
	}
	if (!address) {
		printk("# acpi: SPCR base address is 0 (console redirection off); ignored\n");
		return;
	}
	if (space != 0 && space != 1) {
		printk("# acpi: SPCR UART in address space %u (not memory or I/O); ignored\n", space);
		return;
	}
	if (access >= 1 && access <= 4)
		bytes = 1u << (access - 1);
	else
		bytes = bit_width >= 8 ? bit_width / 8u : 1u;
	if (bytes != 1 && !(bytes == 4 && space == 0)) {
		printk("# acpi: SPCR UART with %u-byte %s registers; not supported, ignored\n", bytes,
		       space ? "I/O" : "memory");
		return;
	}
	if (bit_offset) {
		printk("# acpi: SPCR UART registers at bit offset %u; not supported, ignored\n",
		       bit_offset);
		return;
	}

	s->interface_type = type;
	s->mmio = space == 0;
	s->reg_bytes = (uint8_t)bytes;
	s->address = address;
	switch (baud_code) {
	case 3: s->baud = 9600; break;
	case 4: s->baud = 19200; break;
	case 6: s->baud = 57600; break;
	case 7: s->baud = 115200; break;
	default: s->baud = 0; break;	/* 0 is "as is"; others are reserved */
	}
	if (h->revision >= 3)
		s->clock_hz = *(const uint32_t *)(t + 76);
	if (h->revision >= 4 && h->length >= 84 && *(const uint32_t *)(t + 80))
		s->baud = *(const uint32_t *)(t + 80);
	s->found = true;
}

/* \_S5 package: find "_S5_" in the DSDT and read the two SLP_TYP values
 * (a byte prefix 0x0a or a bare small constant). The package may be the
 * DSDT's last object (the Bochs BIOS puts it there): every byte read is
 * checked against the table's end, not a fixed margin. */
static void parse_s5(const struct sdt_header *dsdt)
{
	const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
	const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;

	for (; p + 6 <= end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12)
			continue;
		const uint8_t *q = p + 5;
		q += ((*q >> 6) & 3) + 1;	/* PkgLength */
		q++;				/* NumElements */
		uint16_t v[2];
		for (int i = 0; i < 2; i++) {
			if (q >= end)
				return;
			if (*q == 0x0a) {
				if (q + 1 >= end)
					return;
				v[i] = q[1];
				q += 2;
			} else {
				v[i] = *q == 1 ? 1 : 0;	/* OneOp / ZeroOp */
				q++;
			}
		}
		acpi.slp_typa_s5 = v[0];
		acpi.slp_typb_s5 = v[1];
		return;
	}
}

static void parse_fadt(const struct sdt_header *h)
{
	const uint8_t *f = (const uint8_t *)h;

	acpi.pm1a_cnt = (uint16_t)*(const uint32_t *)(f + 64);
	acpi.pm1b_cnt = (uint16_t)*(const uint32_t *)(f + 68);
	if (h->length >= 129) {
		uint32_t flags = *(const uint32_t *)(f + 112);
		acpi.reset_supported = flags & (1u << 10);
		acpi.reset_space = f[116];
		acpi.reset_addr = *(const uint64_t *)(f + 120);
		acpi.reset_value = f[128];
	}
	uint64_t dsdt = *(const uint32_t *)(f + 40);
	if (h->length >= 148 && *(const uint64_t *)(f + 140))
		dsdt = *(const uint64_t *)(f + 140);
	const struct sdt_header *d = dsdt ? map_table(dsdt) : NULL;
	if (d && !memcmp(d->sig, "DSDT", 4))
		parse_s5(d);
}

bool acpi_init(const uint8_t *rsdp_copy, unsigned int len)
{
	const struct rsdp *r = NULL;
	const struct sdt_header *root;
	bool xsdt;

	acpi.slp_typa_s5 = acpi.slp_typb_s5 = 0xffff;
	if (len >= 20 && !memcmp(rsdp_copy, "RSD PTR ", 8) && checksum_ok(rsdp_copy, 20))
		r = (const struct rsdp *)rsdp_copy;
	if (!r) {
		/* BIOS: the first KiB of the EBDA, then 0xe0000-0xfffff. */
		paddr_t ebda = (paddr_t)*(const uint16_t *)memremap(0x40e, 2) << 4;
		if (ebda >= 0x80000 && ebda < 0xa0000)
			r = scan_for_rsdp(ebda, 1024);
		if (!r)
			r = scan_for_rsdp(0xe0000, 0x20000);
	}
	if (!r) {
		snprintf(acpi.error, sizeof(acpi.error), "no ACPI RSDP (GRUB passed none, BIOS areas have none)");
		return false;
	}
	acpi.revision = r->revision;
	xsdt = r->revision >= 2 && r->xsdt && checksum_ok(r, sizeof(*r));
	root = map_table(xsdt ? r->xsdt : r->rsdt);
	if (!root) {
		snprintf(acpi.error, sizeof(acpi.error), "ACPI %s is unreadable", xsdt ? "XSDT" : "RSDT");
		return false;
	}

	unsigned int n = (root->length - sizeof(*root)) / (xsdt ? 8 : 4);
	const uint8_t *entries = (const uint8_t *)root + sizeof(*root);
	bool madt = false;
	for (unsigned int i = 0; i < n; i++) {
		paddr_t pa = xsdt ? *(const uint64_t *)(entries + 8 * i)
				  : *(const uint32_t *)(entries + 4 * i);
		const struct sdt_header *h = map_table(pa);
		if (!h)
			continue;
		if (!memcmp(h->sig, "APIC", 4) && !madt) {
			parse_madt(h);
			madt = true;
		} else if (!memcmp(h->sig, "HPET", 4) && h->length >= 56) {
			acpi.hpet_phys = *(const uint64_t *)((const uint8_t *)h + 44);
		} else if (!memcmp(h->sig, "FACP", 4) && h->length >= 116) {
			parse_fadt(h);
		} else if (!memcmp(h->sig, "SPCR", 4) && h->length >= 80 && !acpi.spcr.found) {
			parse_spcr(h);
		}
	}
	if (!madt || !acpi.nenabled) {
		snprintf(acpi.error, sizeof(acpi.error), "no ACPI MADT with an enabled CPU");
		return false;
	}
	acpi.found = true;
	return true;
}

paddr_t acpi_hpet_base(void)
{
	return acpi.hpet_phys;
}
