/*
 * Kernel log. printk() formats a message and writes it to every console
 * under one lock, so lines from different CPUs never interleave as long
 * as each call prints whole lines.
 *
 * Formats: %d %i %u %x %X %o %c %s %p %% with flags '-', '0', width,
 * precision (strings), length modifiers hh h l ll z; %pS prints a code
 * address as symbol+offset.
 */
#ifndef KERNEL_PRINTK_H
#define KERNEL_PRINTK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct console {
	const char *name;
	void (*write)(const char *s, size_t n);
	void (*flush)(void);		/* may be NULL */
	void (*describe)(char *buf, size_t len);	/* may be NULL: where it writes */
	struct console *next;
};

void console_register(struct console *c);
/* Register c and first write to it everything printed so far (up to 8 KiB
 * of it) while the boot log is open: for a console found late in boot. */
void console_register_replay(struct console *c);
void console_unregister(struct console *c);
/* Close the boot log: the consoles are final; stop keeping the text. */
void console_boot_done(void);
void console_flush_all(void);
/* "serial (io 0x3f8, 115200 baud, COM1), fbcon": the consoles in use. */
void console_list(char *buf, size_t len);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, va_list ap);

/* Hold the console across several printk() calls (a register dump, a
 * backtrace) so another CPU's lines do not land in the middle. Nests. */
void printk_lock(void);
void printk_unlock(void);

/* Once set, a CPU waiting for the console lock steals it after a bounded
 * wait: a CPU that died holding it must not silence the panic. */
extern bool printk_panic_mode;

#endif
