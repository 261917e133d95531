/*
 * The framebuffer console's 8x16 bitmap font: printable ASCII 0x20..0x7e,
 * 16 bytes per glyph (one per pixel row, top first, MSB = leftmost pixel).
 */
#ifndef ARCH_X86_FONT8X16_H
#define ARCH_X86_FONT8X16_H

#include <stdint.h>

#define FONT8X16_WIDTH	8
#define FONT8X16_HEIGHT	16
#define FONT8X16_FIRST	0x20
#define FONT8X16_LAST	0x7e
#define FONT8X16_COUNT	(FONT8X16_LAST - FONT8X16_FIRST + 1)

extern const uint8_t font8x16[FONT8X16_COUNT][FONT8X16_HEIGHT];
extern const uint8_t font8x16_box[FONT8X16_HEIGHT];	/* any other byte */

static inline const uint8_t *font8x16_glyph(unsigned char c)
{
	if (c < FONT8X16_FIRST || c > FONT8X16_LAST)
		return font8x16_box;
	return font8x16[c - FONT8X16_FIRST];
}

#endif
