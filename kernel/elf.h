/*
 * Loading a static ELF64 x86-64 executable (ET_EXEC) into an address
 * space.
 */
#ifndef KERNEL_ELF_H
#define KERNEL_ELF_H

#include <stddef.h>
#include <stdint.h>

struct mm;

/* The file format (the System V ABI's ELF-64 object file format). */
struct elf64_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF64 header");

struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF64 program header");

#define ET_EXEC		2
#define EM_X86_64	62
#define PT_LOAD		1
#define PT_DYNAMIC	2
#define PT_INTERP	3
#define ELF_PF_X	1
#define ELF_PF_W	2
#define ELF_PF_R	4

/* At most this many program headers. */
#define ELF_MAX_PHDRS	16

/*
 * Check the image and map its PT_LOAD segments into mm, which must be
 * loaded on this CPU and have nothing mapped where they go; interrupts on.
 * Returns 0 with *entry set; -ENOEXEC for an image it refuses (header,
 * class, byte order, machine, type, program headers out of the image, a
 * segment out of [USER_BASE, USER_MAP_TOP) or out of the image, segments
 * sharing a page, p_vaddr and p_offset disagreeing modulo p_align, a
 * writable and executable segment, an entry outside executable code, a
 * dynamic or interpreted image); -ENOMEM, -EFAULT from mapping and
 * copying. On failure, what was mapped stays for the mm's teardown.
 */
long elf_load(struct mm *mm, const void *image, size_t size, uintptr_t *entry);

#endif
