/*
 * Framebuffer console. See arch/x86/fbcon.h.
 *
 * The screen is a grid of 8x16 cells (16x32 on large screens, each font
 * pixel drawn 2x2); the bottom text row is the status line, the rows
 * above it the log. A shadow copy of the log cells lets scrolling redraw
 * only the cells whose content changes, so the framebuffer is never read
 * back: reads from write-combining or uncached memory cost a bus round
 * trip each on real hardware, and most of a log screen is blank.
 *
 * A log line's colour depends on its content ("not ok", "FAILURE"...), so
 * the line is held in line_buf until its newline and classified before
 * its first character is drawn. A line longer than line_buf is classified
 * on its first LINE_BUF bytes and the rest follows in the same colour;
 * flush() draws a pending partial line (printk() callers print whole
 * lines, so in practice only kernel_exit() finds one).
 *
 * All state is (console lock): write() is called with it held and
 * fbcon_set_status() takes it. The lock nests when an NMI prints on the
 * CPU that holds it, and is stolen in panic mode, so one write() may run
 * inside another: every index is bounded where it is used, and such a
 * collision can garble the screen but not memory. Nothing here allocates.
 */
#include "arch/x86/fbcon.h"
#include "arch/x86/font8x16.h"
#include "boot/multiboot2.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/kmap.h"

#define MAX_COLS	320
#define MAX_ROWS	128		/* log rows */
#define LINE_BUF	256
#define TAB_WIDTH	8

enum { ATTR_NORMAL, ATTR_FAIL, ATTR_PASS, ATTR_STATUS, NR_ATTRS };

/* Foreground, background as 0xRRGGBB. */
static const uint32_t attr_rgb[NR_ATTRS][2] = {
	[ATTR_NORMAL] = { 0xc8c8c8, 0x000000 },
	[ATTR_FAIL]   = { 0xff6060, 0x000000 },
	[ATTR_PASS]   = { 0x60e060, 0x000000 },
	[ATTR_STATUS] = { 0x000000, 0xc8c8c8 },
};

#define CELL(ch, attr)	((uint16_t)((uint8_t)(ch) | (unsigned int)(attr) << 8))
#define BLANK		CELL(' ', ATTR_NORMAL)

static bool active;
static uint8_t *fb;
static size_t pitch;
static unsigned int bypp;		/* bytes per pixel: 4, 3 or 2 */
static unsigned int scale, cell_w, cell_h;
static unsigned int cols, rows;		/* the log area, in cells */
static unsigned int status_y;		/* first pixel row of the status line */
static uint32_t pixel[NR_ATTRS][2];	/* attr_rgb in the framebuffer's format */

static uint16_t cells[MAX_ROWS * MAX_COLS];	/* what the log area shows */
static char status_text[MAX_COLS];		/* what the status line shows */
static bool status_shown;

static unsigned int cx, cy;	/* cursor; cx == cols: wrap before the next character */

static char line_buf[LINE_BUF];
static unsigned int line_len;	/* bytes of the current line held back */
static bool line_open;		/* part of the current line is on screen, ... */
static uint8_t line_attr;	/* ... in this colour */

/* Make buffered write-combining stores visible before the CPU halts or
 * the console lock passes on. */
static void wc_flush(void)
{
	__asm__ volatile("sfence" : : : "memory");
}

static uint32_t channel(uint32_t v8, unsigned int pos, unsigned int size)
{
	uint32_t v;

	if (!size || size > 16 || pos + size > 32)
		return 0;
	v = size >= 8 ? v8 << (size - 8) : v8 >> (8 - size);
	return v << pos;
}

static void put_pixel(uint8_t *p, uint32_t v)
{
	switch (bypp) {
	case 4:
		*(uint32_t *)p = v;
		break;
	case 2:
		*(uint16_t *)p = (uint16_t)v;
		break;
	default:
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		break;
	}
}

static void fill_rect(unsigned int x, unsigned int y, unsigned int w, unsigned int h, uint32_t v)
{
	for (unsigned int j = 0; j < h; j++) {
		uint8_t *p = fb + (size_t)(y + j) * pitch + (size_t)x * bypp;
		for (unsigned int i = 0; i < w; i++, p += bypp)
			put_pixel(p, v);
	}
}

static void draw_glyph(unsigned int px, unsigned int py, unsigned char ch, unsigned int attr)
{
	const uint8_t *g = font8x16_glyph(ch);
	uint32_t fg = pixel[attr][0], bg = pixel[attr][1];
	uint8_t *row = fb + (size_t)py * pitch + (size_t)px * bypp;

	for (unsigned int gy = 0; gy < FONT8X16_HEIGHT; gy++) {
		unsigned int bits = g[gy];
		for (unsigned int sy = 0; sy < scale; sy++, row += pitch) {
			uint8_t *p = row;
			if (bypp == 4 && scale == 1) {
				uint32_t *q = (uint32_t *)p;
				for (unsigned int b = 0; b < FONT8X16_WIDTH; b++)
					q[b] = bits & (0x80u >> b) ? fg : bg;
				continue;
			}
			for (unsigned int b = 0; b < FONT8X16_WIDTH; b++) {
				uint32_t v = bits & (0x80u >> b) ? fg : bg;
				for (unsigned int sx = 0; sx < scale; sx++, p += bypp)
					put_pixel(p, v);
			}
		}
	}
}

static void draw_cell(unsigned int r, unsigned int c)
{
	uint16_t v;

	if (r >= rows || c >= cols)
		return;
	v = cells[r * cols + c];
	draw_glyph(c * cell_w, r * cell_h, (unsigned char)v, (v >> 8) < NR_ATTRS ? v >> 8 : 0);
}

/* Move the log up one row: a cell is redrawn only where the row below
 * holds something different. */
static void scroll(void)
{
	for (unsigned int r = 0; r + 1 < rows; r++) {
		uint16_t *dst = &cells[r * cols], *src = dst + cols;
		for (unsigned int c = 0; c < cols; c++) {
			if (dst[c] != src[c]) {
				dst[c] = src[c];
				draw_cell(r, c);
			}
		}
	}
	uint16_t *last = &cells[(rows - 1) * cols];
	for (unsigned int c = 0; c < cols; c++) {
		if (last[c] != BLANK) {
			last[c] = BLANK;
			draw_cell(rows - 1, c);
		}
	}
}

static void newline(void)
{
	unsigned int y = cy + 1;

	if (y >= rows) {
		scroll();
		y = rows - 1;
	}
	cy = y;
	cx = 0;
}

static void put_cell(char ch, unsigned int attr)
{
	uint16_t v = ch == ' ' ? BLANK : CELL(ch, attr);
	unsigned int x, y;

	if (cx >= cols)
		newline();
	x = cx;
	y = cy;
	if (x >= cols || y >= rows)
		return;
	cx = x + 1;
	if (cells[y * cols + x] != v) {
		cells[y * cols + x] = v;
		draw_cell(y, x);
	}
}

static void emit(char ch, unsigned int attr)
{
	switch (ch) {
	case '\t':
		do {
			put_cell(' ', attr);
		} while (cx < cols && cx % TAB_WIDTH);
		break;
	case '\r':
		break;		/* serial line endings; nothing prints them */
	default:
		put_cell(ch, attr);
		break;
	}
}

/* "ok" as a whole word, so "okay" does not count. */
static bool has_word_prefix(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);

	if (n < k || memcmp(s, word, k))
		return false;
	return n == k || s[k] == ' ' || s[k] == '\t';
}

static bool contains(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(s + i, needle, k))
			return true;
	return false;
}

static unsigned int classify(const char *s, size_t n)
{
	size_t i = 0;

	/* KTAP indents the results of subtests. */
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (has_word_prefix(s + i, n - i, "not ok") || contains(s, n, "FAILURE") ||
	    contains(s, n, "Bail out!"))
		return ATTR_FAIL;
	if (has_word_prefix(s + i, n - i, "ok") || contains(s, n, "SUCCESS"))
		return ATTR_PASS;
	return ATTR_NORMAL;
}

/* Choose the held-back line's colour and draw what is held. */
static void open_line(void)
{
	unsigned int n = line_len < LINE_BUF ? line_len : LINE_BUF;

	line_attr = classify(line_buf, n);
	line_open = true;
	line_len = 0;
	for (unsigned int i = 0; i < n; i++)
		emit(line_buf[i], line_attr);
}

static void fbcon_write(const char *s, size_t n)
{
	if (!active)
		return;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '\n') {
			if (!line_open)
				open_line();
			line_open = false;
			newline();
		} else if (line_open) {
			emit(ch, line_attr < NR_ATTRS ? line_attr : ATTR_NORMAL);
		} else {
			unsigned int len = line_len;
			if (len >= LINE_BUF)
				len = 0;
			line_buf[len++] = ch;
			line_len = len;
			if (len == LINE_BUF)
				open_line();
		}
	}
	wc_flush();
}

static void fbcon_flush(void)
{
	if (!active)
		return;
	if (!line_open && line_len)
		open_line();
	wc_flush();
}

static struct console fbcon_console = {
	.name = "fbcon",
	.write = fbcon_write,
	.flush = fbcon_flush,
};

void fbcon_set_status(const char *text)
{
	if (!active)
		return;
	printk_lock();
	if (!text || !*text) {
		if (status_shown)
			fill_rect(0, status_y, cols * cell_w, cell_h, pixel[ATTR_NORMAL][1]);
		status_shown = false;
	} else {
		bool ended = false;
		for (unsigned int c = 0; c < cols; c++) {
			char ch = ' ';
			if (!ended && text[c])
				ch = text[c];
			else
				ended = true;
			if (!status_shown || status_text[c] != ch) {
				status_text[c] = ch;
				draw_glyph(c * cell_w, status_y, (unsigned char)ch, ATTR_STATUS);
			}
		}
		status_shown = true;
	}
	wc_flush();
	printk_unlock();
}

bool fbcon_active(void)
{
	return active;
}

bool fbcon_init(const struct boot_fb *info)
{
	uint8_t rp = info->red_pos, rs = info->red_size;
	uint8_t gp = info->green_pos, gs = info->green_size;
	uint8_t bp = info->blue_pos, bs = info->blue_size;
	unsigned int screen_rows;

	if (active || !info->present || info->type != 1 || !info->width || !info->height)
		return false;
	switch (info->bpp) {
	case 32:
		bypp = 4;
		break;
	case 24:
		bypp = 3;
		break;
	case 16:
		bypp = 2;
		break;
	default:
		return false;
	}
	if (info->pitch < (uint64_t)info->width * bypp)
		return false;
	/* Keep text a readable size on high-density panels. */
	scale = info->width >= 2560 && info->height >= 1440 ? 2 : 1;
	cell_w = FONT8X16_WIDTH * scale;
	cell_h = FONT8X16_HEIGHT * scale;
	screen_rows = info->height / cell_h;
	if (info->width < cell_w || screen_rows < 2)
		return false;
	cols = info->width / cell_w;
	if (cols > MAX_COLS)
		cols = MAX_COLS;
	rows = screen_rows - 1;
	if (rows > MAX_ROWS)
		rows = MAX_ROWS;
	status_y = info->height - cell_h;

	/* A firmware that leaves the field layout out: the usual ones. */
	if (!rs && !gs && !bs) {
		if (bypp == 2)
			rp = 11, rs = 5, gp = 5, gs = 6, bp = 0, bs = 5;
		else
			rp = 16, rs = 8, gp = 8, gs = 8, bp = 0, bs = 8;
	}
	for (unsigned int a = 0; a < NR_ATTRS; a++) {
		for (unsigned int i = 0; i < 2; i++) {
			uint32_t rgb = attr_rgb[a][i];
			pixel[a][i] = channel(rgb >> 16 & 0xff, rp, rs) |
				      channel(rgb >> 8 & 0xff, gp, gs) |
				      channel(rgb & 0xff, bp, bs);
		}
	}

	pitch = info->pitch;
	fb = ioremap_wc(info->addr, pitch * info->height);
	fill_rect(0, 0, info->width, info->height, pixel[ATTR_NORMAL][1]);
	wc_flush();
	for (unsigned int i = 0; i < rows * cols; i++)
		cells[i] = BLANK;
	cx = cy = 0;
	line_len = 0;
	line_open = false;
	status_shown = false;
	active = true;
	console_register(&fbcon_console);
	return true;
}
