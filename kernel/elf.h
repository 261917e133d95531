/*
 * Loading a static ELF64 x86-64 executable (ET_EXEC) into an address
 * space.
 */
#ifndef KERNEL_ELF_H
#define KERNEL_ELF_H

#include <stddef.h>
#include <stdint.h>

struct mm;

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
