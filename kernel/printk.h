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
	struct console *next;
};

void console_register(struct console *c);
void console_flush_all(void);

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
