/*
 * 16550 UART console on COM1. A missing port (reads 0xff, or the scratch
 * register does not hold a value) is detected and never waited on.
 */
#ifndef ARCH_X86_UART_H
#define ARCH_X86_UART_H

#include <stdbool.h>

/* Probe and program COM1; registers the console if present. */
bool uart_init(void);
bool uart_present(void);
/* Wait (bounded) until everything written has left the transmitter. */
void uart_drain(void);

#endif
