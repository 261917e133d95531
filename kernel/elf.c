/*
 * ELF64 loader for the user programs. See kernel/elf.h.
 *
 * Every check runs before anything is mapped. Each segment is mapped
 * anonymous, read-write and MAP_FIXED; its file bytes are copied in with
 * copy_to_user (so the copy faults the pages in like any user access);
 * the rest up to p_memsz (the bss) is zero because fresh anonymous memory
 * is demand-zero and nothing else was mapped there; then the segment gets
 * its final protection (W^X: no segment is both).
 */
#include "kernel/elf.h"
#include "arch/x86/uaccess.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"



static bool ident_ok(const struct elf64_ehdr *e)
{
	return e->ident[0] == 0x7f && e->ident[1] == 'E' && e->ident[2] == 'L' && e->ident[3] == 'F' &&
	       e->ident[4] == 2 /* ELFCLASS64 */ && e->ident[5] == 1 /* little endian */ &&
	       e->ident[6] == 1 /* EV_CURRENT */;
}

static uintptr_t page_down(uintptr_t a) { return a & PAGE_MASK; }
static uintptr_t page_up(uintptr_t a) { return (a + PAGE_SIZE - 1) & PAGE_MASK; }

/* One PT_LOAD against the image and the user range. */
static bool segment_ok(const struct elf64_phdr *p, size_t size)
{
	if (p->filesz > p->memsz || p->offset > size || p->filesz > size - p->offset)
		return false;
	if (p->vaddr < USER_BASE || p->vaddr >= USER_MAP_TOP || p->memsz > USER_MAP_TOP - p->vaddr)
		return false;
	if (p->align > 1 && ((p->align & (p->align - 1)) || p->vaddr % p->align != p->offset % p->align))
		return false;
	if ((p->flags & ELF_PF_W) && (p->flags & ELF_PF_X))
		return false;
	return true;
}

static unsigned int segment_prot(const struct elf64_phdr *p)
{
	return (p->flags & ELF_PF_R ? PROT_READ : 0) | (p->flags & ELF_PF_W ? PROT_WRITE : 0) |
	       (p->flags & ELF_PF_X ? PROT_EXEC : 0);
}

/* Read and check the headers into e and ph (n entries, PT_LOAD ones only
 * kept). 0 or -ENOEXEC. */
static long read_headers(const void *image, size_t size, struct elf64_ehdr *e,
			 struct elf64_phdr ph[ELF_MAX_PHDRS], unsigned int *n)
{
	bool entry_in_code = false;

	if (size < sizeof(*e))
		return -ENOEXEC;
	memcpy(e, image, sizeof(*e));
	if (!ident_ok(e) || e->type != ET_EXEC || e->machine != EM_X86_64 || e->version != 1 ||
	    e->ehsize != sizeof(*e) || e->phentsize != sizeof(ph[0]) || !e->phnum ||
	    e->phnum > ELF_MAX_PHDRS || e->phoff > size ||
	    (size_t)e->phnum * sizeof(ph[0]) > size - e->phoff)
		return -ENOEXEC;
	*n = 0;
	for (unsigned int i = 0; i < e->phnum; i++) {
		struct elf64_phdr p;
		memcpy(&p, (const char *)image + e->phoff + i * sizeof(p), sizeof(p));
		if (p.type == PT_INTERP || p.type == PT_DYNAMIC)
			return -ENOEXEC;	/* static executables only */
		if (p.type != PT_LOAD || !p.memsz)
			continue;
		if (!segment_ok(&p, size))
			return -ENOEXEC;
		/* Segments may not share a page: each gets its own protection. */
		for (unsigned int j = 0; j < *n; j++)
			if (page_down(p.vaddr) < page_up(ph[j].vaddr + ph[j].memsz) &&
			    page_down(ph[j].vaddr) < page_up(p.vaddr + p.memsz))
				return -ENOEXEC;
		if ((p.flags & ELF_PF_X) && e->entry >= p.vaddr && e->entry < p.vaddr + p.memsz)
			entry_in_code = true;
		ph[(*n)++] = p;
	}
	return *n && entry_in_code ? 0 : -ENOEXEC;
}

long elf_load(struct mm *mm, const void *image, size_t size, uintptr_t *entry)
{
	struct elf64_phdr ph[ELF_MAX_PHDRS];
	struct elf64_ehdr e;
	unsigned int n;
	long r = read_headers(image, size, &e, ph, &n);

	if (r)
		return r;
	for (unsigned int i = 0; i < n; i++) {
		uintptr_t start = page_down(ph[i].vaddr), len = page_up(ph[i].vaddr + ph[i].memsz) - start;

		r = vm_mmap(mm, start, len, PROT_READ | PROT_WRITE, MAP_FIXED);
		if (r < 0)
			return r;
		r = copy_to_user(ph[i].vaddr, (const char *)image + ph[i].offset, ph[i].filesz);
		if (r)
			return r;
		r = vm_mprotect(mm, start, len, segment_prot(&ph[i]));
		if (r)
			return r;
	}
	*entry = e.entry;
	return 0;
}
