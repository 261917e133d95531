#include "arch/x86/uart.h"
#include "arch/x86/cpu.h"
#include "kernel/printk.h"

#define COM1	0x3f8
#define THR	0	/* transmit holding */
#define IER	1
#define FCR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define SCR	7
#define LSR_THRE (1u << 5)
#define LSR_TEMT (1u << 6)

static bool present;		/* (c) after uart_init() */

static void uart_putc(char c)
{
	/* Bounded: a wedged or absent UART must not stop the kernel. */
	for (unsigned int i = 0; i < 100000; i++) {
		if (inb(COM1 + LSR) & LSR_THRE)
			break;
		cpu_relax();
	}
	outb(COM1 + THR, c);
}

static void uart_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

void uart_drain(void)
{
	if (!present)
		return;
	for (unsigned int i = 0; i < 1000000; i++) {
		if ((inb(COM1 + LSR) & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT))
			return;
		cpu_relax();
	}
}

static struct console uart_console = {
	.name = "serial",
	.write = uart_write,
	.flush = uart_drain,
};

bool uart_init(void)
{
	if (inb(COM1 + LSR) == 0xff)
		return false;
	outb(COM1 + SCR, 0x5a);
	if (inb(COM1 + SCR) != 0x5a)
		return false;
	outb(COM1 + SCR, 0xa5);
	if (inb(COM1 + SCR) != 0xa5)
		return false;

	outb(COM1 + IER, 0);		/* polled: no interrupts */
	outb(COM1 + LCR, 0x80);		/* divisor latch */
	outb(COM1 + 0, 1);		/* 115200 baud */
	outb(COM1 + 1, 0);
	outb(COM1 + LCR, 0x03);		/* 8N1 */
	outb(COM1 + FCR, 0xc7);		/* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + MCR, 0x03);		/* DTR, RTS */
	present = true;
	console_register(&uart_console);
	return true;
}

bool uart_present(void)
{
	return present;
}
