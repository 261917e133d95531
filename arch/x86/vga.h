/*
 * VGA text-mode console (BIOS boots, where GRUB leaves 80x25 text mode
 * and says so in the framebuffer tag).
 */
#ifndef ARCH_X86_VGA_H
#define ARCH_X86_VGA_H

#include <stdbool.h>

struct boot_fb;
bool vga_text_init(const struct boot_fb *fb);

#endif
