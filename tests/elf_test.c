/*
 * Suite "elf": the ELF loader (kernel/elf.h) on a small image built here,
 * loaded as it is and with one thing broken at a time. Every broken image
 * must be refused with -ENOEXEC before anything is mapped.
 */
#include "arch/x86/uaccess.h"
#include "kernel/elf.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"
#include "mm/vma.h"
#include "tests/ktap.h"

#define TEXT_VA		0x400000ul
#define DATA_VA		0x402000ul
#define CODE_OFF	(sizeof(struct elf64_ehdr) + 2 * sizeof(struct elf64_phdr))

/* Header, two program headers (text R+X with a bss tail, data R+W), and
 * a few bytes of code; the data segment maps the file's first bytes too. */
struct test_image {
	struct elf64_ehdr e;
	struct elf64_phdr ph[2];
	uint8_t code[16];
} __attribute__((aligned(8)));

static void build_image(struct test_image *im)
{
	static const uint8_t code[16] = { 0x31, 0xc0, 0x0f, 0x05 };	/* xor eax, eax; syscall */

	memset(im, 0, sizeof(*im));
	memcpy(im->e.ident, "\177ELF\2\1\1", 7);
	im->e.type = ET_EXEC;
	im->e.machine = EM_X86_64;
	im->e.version = 1;
	im->e.entry = TEXT_VA + CODE_OFF;
	im->e.phoff = sizeof(im->e);
	im->e.ehsize = sizeof(im->e);
	im->e.phentsize = sizeof(im->ph[0]);
	im->e.phnum = 2;
	im->ph[0] = (struct elf64_phdr){ .type = PT_LOAD, .flags = ELF_PF_R | ELF_PF_X, .offset = 0,
					 .vaddr = TEXT_VA, .filesz = sizeof(*im), .memsz = 0x1800,
					 .align = 0x1000 };
	im->ph[1] = (struct elf64_phdr){ .type = PT_LOAD, .flags = ELF_PF_R | ELF_PF_W, .offset = 0,
					 .vaddr = DATA_VA, .filesz = 16, .memsz = 0x1000, .align = 0x1000 };
	memcpy(im->code, code, sizeof(code));
}

static struct mm *enter_new_mm(void)
{
	struct mm *mm = mm_create();

	if (!mm) {
		ktap_error("out of memory for an mm");
		return NULL;
	}
	mm_switch(mm);
	return mm;
}

static bool vma_is(struct mm *mm, uintptr_t start, uintptr_t end, unsigned int prot)
{
	struct vma *v = vma_find(mm, start);

	return v && v->start == start && v->end == end && v->prot == prot;
}

static void good_image_loads(void)
{
	struct test_image im, back;
	struct mm *mm = enter_new_mm();
	uintptr_t entry = 0;
	uint64_t v = 1;

	if (!mm)
		return;
	build_image(&im);
	long r = elf_load(mm, &im, sizeof(im), &entry);
	KTAP_ASSERT(r == 0, "elf_load returned %ld", r);
	KTAP_EXPECT(entry == TEXT_VA + CODE_OFF, "entry %lx", entry);
	KTAP_EXPECT(vma_is(mm, TEXT_VA, TEXT_VA + 0x2000, PROT_READ | PROT_EXEC), "text VMA");
	KTAP_EXPECT(vma_is(mm, DATA_VA, DATA_VA + 0x1000, PROT_READ | PROT_WRITE), "data VMA");
	KTAP_EXPECT(vma_count(mm) == 2, "%u VMAs", vma_count(mm));
	KTAP_EXPECT(!copy_from_user(&back, TEXT_VA, sizeof(back)) && !memcmp(&back, &im, sizeof(im)),
		    "text contents differ");
	KTAP_EXPECT(!get_user_u64(&v, TEXT_VA + 0x1800 - 8) && v == 0, "bss reads %lx", v);
	KTAP_EXPECT(!get_user_u64(&v, DATA_VA) && v == *(uint64_t *)&im, "data reads %lx", v);
	KTAP_EXPECT(!get_user_u64(&v, DATA_VA + 16) && v == 0, "data past its file bytes %lx", v);
	/* Final protections, not the loader's read-write mapping. */
	KTAP_EXPECT(put_user_u64(TEXT_VA, 0) == -EFAULT, "text is writable");
	KTAP_EXPECT(put_user_u64(DATA_VA, 0) == 0, "data is not writable");
	mm_destroy(mm);
}

struct bad_case {
	const char *what;
	void (*breakit)(struct test_image *im, size_t *size);
};

#define BAD(name, body) \
	static void name(struct test_image *im, size_t *size) { body; }
BAD(truncated_header, *size = sizeof(im->e) - 1)
BAD(truncated_phdrs, *size = sizeof(im->e) + sizeof(im->ph[0]) + 8)
BAD(segment_past_file, im->ph[1].filesz = sizeof(*im) + 1; im->ph[1].memsz = 0x1000)
BAD(bad_magic, im->e.ident[1] = 'e')
BAD(class32, im->e.ident[4] = 1)
BAD(big_endian, im->e.ident[5] = 2)
BAD(machine_i386, im->e.machine = 3)
BAD(type_dyn, im->e.type = 3)
BAD(phentsize, im->e.phentsize = 32)
BAD(no_phdrs, im->e.phnum = 0)
BAD(too_many_phdrs, im->e.phnum = ELF_MAX_PHDRS + 1)
BAD(phoff_past_end, im->e.phoff = ~0ul - 8)
BAD(below_user_base, im->ph[1].vaddr = 0x1000)
BAD(past_map_top, im->ph[1].vaddr = USER_MAP_TOP - 0x1000; im->ph[1].memsz = 0x2000)
BAD(kernel_half, im->ph[1].vaddr = 0xffffffff80000000ul)
BAD(wrapping, im->ph[1].vaddr = 0xfffffffffffff000ul; im->ph[1].memsz = 0x2000)
BAD(overlapping, im->ph[1].vaddr = TEXT_VA + 0x1000)
BAD(sharing_a_page, im->ph[1].vaddr = TEXT_VA + 0x1810; im->ph[1].offset = 0x10)
BAD(filesz_over_memsz, im->ph[1].filesz = 0x2000)
BAD(writable_code, im->ph[0].flags |= ELF_PF_W)
BAD(misaligned, im->ph[1].vaddr = DATA_VA + 0x10)
BAD(align_not_power_of_two, im->ph[1].align = 0x1800)
BAD(entry_in_data, im->e.entry = DATA_VA)
BAD(entry_outside, im->e.entry = 0)
BAD(interpreter, im->ph[1].type = PT_INTERP)
BAD(no_load_segment, im->ph[0].type = 6; im->ph[1].type = 6)

static const struct bad_case bad_cases[] = {
	{ "truncated header", truncated_header },
	{ "truncated program headers", truncated_phdrs },
	{ "segment past the file's end", segment_past_file },
	{ "bad magic", bad_magic },
	{ "32-bit class", class32 },
	{ "big endian", big_endian },
	{ "machine i386", machine_i386 },
	{ "type ET_DYN", type_dyn },
	{ "program header size", phentsize },
	{ "no program headers", no_phdrs },
	{ "too many program headers", too_many_phdrs },
	{ "program headers past the end (wrapping)", phoff_past_end },
	{ "segment below USER_BASE", below_user_base },
	{ "segment past USER_MAP_TOP", past_map_top },
	{ "segment in the kernel half", kernel_half },
	{ "segment wrapping around", wrapping },
	{ "overlapping segments", overlapping },
	{ "segments sharing a page", sharing_a_page },
	{ "p_filesz > p_memsz", filesz_over_memsz },
	{ "writable and executable segment", writable_code },
	{ "p_vaddr and p_offset disagree modulo p_align", misaligned },
	{ "p_align not a power of two", align_not_power_of_two },
	{ "entry in a non-executable segment", entry_in_data },
	{ "entry outside every segment", entry_outside },
	{ "PT_INTERP", interpreter },
	{ "no PT_LOAD", no_load_segment },
};

static void bad_images_refused(void)
{
	struct mm *mm = enter_new_mm();
	struct test_image im;

	if (!mm)
		return;
	for (unsigned int i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		size_t size = sizeof(im);
		uintptr_t entry = 0;

		build_image(&im);
		bad_cases[i].breakit(&im, &size);
		long r = elf_load(mm, &im, size, &entry);
		KTAP_EXPECT(r == -ENOEXEC, "%s: elf_load returned %ld", bad_cases[i].what, r);
		KTAP_EXPECT(vma_count(mm) == 0, "%s: %u VMAs mapped", bad_cases[i].what, vma_count(mm));
	}
	mm_destroy(mm);
}

static const struct ktap_case elf_cases[] = {
	KTAP_CASE(good_image_loads),
	KTAP_CASE(bad_images_refused),
};
KTAP_SUITE(elf, elf_cases);
