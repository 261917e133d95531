/*
 * Framebuffer text console for the linear RGB framebuffer GRUB passes
 * under UEFI (GOP): 8x16 font, light grey on black, KTAP result lines in
 * colour, and a status line in inverse video on the bottom text row.
 * On screens of at least 2560x1440 each font pixel is drawn 2x2.
 */
#ifndef ARCH_X86_FBCON_H
#define ARCH_X86_FBCON_H

#include <stdbool.h>

struct boot_fb;

/* Map and clear the framebuffer and register the console. Needs the
 * kernel page tables (kmap_init()); false, doing nothing, unless fb is a
 * type 1 (RGB) framebuffer of 32, 24 or 16 bits per pixel that holds at
 * least two text rows. Call once, on the BSP. */
bool fbcon_init(const struct boot_fb *fb);

/* fbcon_init() succeeded. */
bool fbcon_active(void);

/* Show text (one line; cut at the screen width, control characters
 * drawn as boxes) on the status line; NULL or "" clears it. Takes the
 * console lock; any context. A no-op while the console is not active. */
void fbcon_set_status(const char *text);

#endif
