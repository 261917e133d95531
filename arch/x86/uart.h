/*
 * 16550 UART console. It starts on the legacy COM1 (I/O port 0x3f8); once
 * ACPI is parsed it may move to the UART that the SPCR table names, which
 * can sit at any I/O port or in memory (MMIO) with 1- or 4-byte registers.
 * A missing port (reads 0xff, or the scratch register does not hold a
 * value) is detected and never waited on; every wait is bounded.
 */
#ifndef ARCH_X86_UART_H
#define ARCH_X86_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum uart_space { UART_SPACE_IO, UART_SPACE_MMIO };

/* Where a 16550 sits and how to talk to it. */
struct uart_port {
	enum uart_space space;
	uint64_t base;		/* I/O port, or physical address for MMIO */
	unsigned int stride;	/* bytes from one register to the next: 1 or 4 */
	unsigned int width;	/* bytes per access: 1, or 4 for 32-bit MMIO registers */
	uint32_t baud;		/* 0: keep the rate the firmware programmed */
	uint32_t clock_hz;	/* input clock; 0: the PC's 1.8432 MHz */
	const char *origin;	/* where the description came from: "COM1", "ACPI SPCR" */
};

/* Probe and program COM1; registers the console if present. */
bool uart_init(void);
/*
 * Move the serial console to port p: probe it, program it, and replay the
 * boot log to it (kernel/printk.h), after a line on the old consoles saying
 * where the log went. Returns false, printing why, if p does not answer;
 * the console then stays where it was. BSP only, before the APs start.
 */
bool uart_switch(const struct uart_port *p);
bool uart_present(void);
/* Wait (bounded) until everything written has left the transmitter. */
void uart_drain(void);
/* "io 0x3f8, 115200 baud, COM1": the port the console uses. */
void uart_describe(char *buf, size_t len);

#endif
