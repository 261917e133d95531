#include "arch/x86/vga.h"
#include "boot/multiboot2.h"
#include "kernel/printk.h"
#include "mm/kmap.h"

/* (console lock) */
static uint16_t *screen;
static unsigned int cols, rows, x, y;

static void scroll(void)
{
	for (unsigned int i = 0; i < (rows - 1) * cols; i++)
		screen[i] = screen[i + cols];
	for (unsigned int i = 0; i < cols; i++)
		screen[(rows - 1) * cols + i] = 0x0700 | ' ';
	y = rows - 1;
}

static void vga_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\n') {
			x = 0;
			if (++y == rows)
				scroll();
			continue;
		}
		if (x == cols) {
			x = 0;
			if (++y == rows)
				scroll();
		}
		/* A panic may steal the console from a wedged CPU mid-line:
		 * never index outside the screen. */
		if (y >= rows)
			y = rows - 1;
		screen[y * cols + x++] = 0x0700 | (uint8_t)c;
	}
}

static struct console vga_console = {
	.name = "vga",
	.write = vga_write,
};

bool vga_text_init(const struct boot_fb *fb)
{
	if (!fb->present || fb->type != 2 || !fb->width || !fb->height)
		return false;
	cols = fb->width;
	rows = fb->height;
	screen = ioremap(fb->addr, cols * rows * 2);
	for (unsigned int i = 0; i < cols * rows; i++)
		screen[i] = 0x0700 | ' ';
	x = y = 0;
	console_register(&vga_console);
	return true;
}
