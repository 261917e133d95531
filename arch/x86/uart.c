#include "arch/x86/uart.h"
#include "arch/x86/cpu.h"
#include "kernel/printk.h"
#include "mm/kmap.h"

#define COM1	0x3f8
#define PC_UART_CLOCK 1843200u	/* 1.8432 MHz crystal: divisor 1 is 115200 baud */

/* Register numbers; the address is base + number * stride. */
#define THR	0	/* transmit holding */
#define DLL	0	/* divisor latch, low (with LCR_DLAB) */
#define IER	1
#define DLM	1	/* divisor latch, high (with LCR_DLAB) */
#define FCR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define SCR	7
#define NR_REGS	8
#define LCR_DLAB 0x80
#define LCR_8N1	0x03
#define LSR_THRE (1u << 5)
#define LSR_TEMT (1u << 6)

struct uart {
	struct uart_port port;
	void *mmio;		/* the register window, for UART_SPACE_MMIO */
};

/*
 * The console's UART. Set by uart_init() and replaced only by uart_switch(),
 * both on the BSP before the APs start; uart_switch() holds the console
 * lock across the change, so no write sees a half-updated port. Read-only
 * afterwards.
 */
static struct uart cur;
static bool present;

/*
 * One register access. MMIO registers are device memory mapped uncached
 * (ioremap): each volatile access is one bus transaction of the register's
 * width, in program order with the others, which is all a 16550 needs.
 * A 32-bit register carries its 8 bits in the low byte.
 */
static uint8_t reg_read(const struct uart *u, unsigned int reg)
{
	uintptr_t off = (uintptr_t)reg * u->port.stride;

	if (u->port.space == UART_SPACE_IO)
		return inb((uint16_t)(u->port.base + off));
	if (u->port.width == 4)
		return (uint8_t)*(volatile uint32_t *)((char *)u->mmio + off);
	return *(volatile uint8_t *)((char *)u->mmio + off);
}

static void reg_write(const struct uart *u, unsigned int reg, uint8_t v)
{
	uintptr_t off = (uintptr_t)reg * u->port.stride;

	if (u->port.space == UART_SPACE_IO)
		outb((uint16_t)(u->port.base + off), v);
	else if (u->port.width == 4)
		*(volatile uint32_t *)((char *)u->mmio + off) = v;
	else
		*(volatile uint8_t *)((char *)u->mmio + off) = v;
}

static void uart_putc(char c)
{
	/* Bounded: a wedged or absent UART must not stop the kernel. */
	for (unsigned int i = 0; i < 100000; i++) {
		if (reg_read(&cur, LSR) & LSR_THRE)
			break;
		cpu_relax();
	}
	reg_write(&cur, THR, c);
}

static void uart_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

static void drain(const struct uart *u)
{
	for (unsigned int i = 0; i < 1000000; i++) {
		if ((reg_read(u, LSR) & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT))
			return;
		cpu_relax();
	}
}

void uart_drain(void)
{
	if (present)
		drain(&cur);
}

static struct console uart_console = {
	.name = "serial",
	.write = uart_write,
	.flush = uart_drain,
	.describe = uart_describe,
};

/* Is there a 16550 at u? Nothing decodes the address: reads are all
 * ones. Something else there: the scratch register does not keep a value. */
static bool uart_probe(const struct uart *u)
{
	if (reg_read(u, LSR) == 0xff)
		return false;
	reg_write(u, SCR, 0x5a);
	if (reg_read(u, SCR) != 0x5a)
		return false;
	reg_write(u, SCR, 0xa5);
	return reg_read(u, SCR) == 0xa5;
}

static uint32_t divisor_for(const struct uart_port *p)
{
	uint32_t clock = p->clock_hz ? p->clock_hz : PC_UART_CLOCK;

	uint32_t div;

	if (!p->baud)
		return 0;
	div = (clock / 16 + p->baud / 2) / p->baud;	/* rounded to nearest */
	return div < 1 ? 1 : div > 0xffff ? 0xffff : div;
}

/* Polled 8N1 at the port's rate, FIFOs on. With baud 0 the firmware's
 * divisor and line settings stay (SPCR "as is"); only DLAB is cleared. */
static void uart_program(const struct uart *u)
{
	uint32_t div = divisor_for(&u->port);

	reg_write(u, IER, 0);			/* polled: no interrupts */
	if (div) {
		reg_write(u, LCR, LCR_DLAB);
		reg_write(u, DLL, div & 0xff);
		reg_write(u, DLM, (div >> 8) & 0xff);
		reg_write(u, LCR, LCR_8N1);
	} else {
		reg_write(u, LCR, reg_read(u, LCR) & ~LCR_DLAB);
	}
	reg_write(u, FCR, 0xc7);		/* FIFO on, cleared, 14-byte threshold */
	reg_write(u, MCR, 0x03);		/* DTR, RTS */
}

bool uart_init(void)
{
	struct uart u = {
		.port = { .space = UART_SPACE_IO, .base = COM1, .stride = 1, .width = 1,
			  .baud = 115200, .origin = "COM1" },
	};

	if (!uart_probe(&u))
		return false;
	uart_program(&u);
	cur = u;
	present = true;
	console_register(&uart_console);
	return true;
}

static bool same_port(const struct uart_port *a, const struct uart_port *b)
{
	return a->space == b->space && a->base == b->base;
}

static void describe(const struct uart_port *p, char *buf, size_t len)
{
	char rate[32];

	if (p->baud)
		snprintf(rate, sizeof(rate), "%u baud", p->baud);
	else
		snprintf(rate, sizeof(rate), "baud as the firmware set it");
	if (p->space == UART_SPACE_IO)
		snprintf(buf, len, "io 0x%llx, %s, %s", (unsigned long long)p->base, rate, p->origin);
	else
		snprintf(buf, len, "mmio 0x%llx, %u-bit registers %u bytes apart, %s, %s",
			 (unsigned long long)p->base, p->width * 8, p->stride, rate, p->origin);
}

void uart_describe(char *buf, size_t len)
{
	if (present)
		describe(&cur.port, buf, len);
	else
		snprintf(buf, len, "none");
}

bool uart_switch(const struct uart_port *p)
{
	struct uart u = { .port = *p };
	char desc[128];

	describe(p, desc, sizeof(desc));
	if ((p->width != 1 && p->width != 4) || p->stride < p->width ||
	    (p->space == UART_SPACE_IO && (p->width != 1 || p->base + NR_REGS * p->stride > 0x10000)) ||
	    (p->space == UART_SPACE_MMIO && p->base % p->width)) {
		printk("# console: cannot drive the UART at %s; %s%s\n", desc,
		       present ? "staying on " : "no serial console", present ? cur.port.origin : "");
		return false;
	}
	if (p->space == UART_SPACE_MMIO)
		u.mmio = ioremap(p->base, NR_REGS * p->stride);

	if (present && same_port(p, &cur.port)) {
		/* The same UART: take the firmware's rate, keep the log going.
		 * The line goes out after the change, at the new rate. */
		printk_lock();
		drain(&cur);
		uart_program(&u);
		cur = u;
		printk_unlock();
		printk("# console: serial port unchanged: %s\n", desc);
		return true;
	}
	if (!uart_probe(&u)) {
		printk("# console: the UART at %s does not answer; %s%s\n", desc,
		       present ? "staying on " : "no serial console", present ? cur.port.origin : "");
		return false;
	}
	printk("# console: serial output moves to %s\n", desc);
	printk_lock();
	if (present) {
		drain(&cur);
		console_unregister(&uart_console);
	}
	uart_program(&u);
	cur = u;
	present = true;
	console_register_replay(&uart_console);
	printk_unlock();
	return true;
}

bool uart_present(void)
{
	return present;
}
