/*
 * Ending the run. The code reaches the host through QEMU's isa-debug-exit
 * device (exit=qemu; QEMU exits with code * 2 + 1) or picks what a real
 * machine does (exit=halt|reboot|poweroff).
 */
#ifndef KERNEL_EXIT_H
#define KERNEL_EXIT_H

enum exit_code {
	EXIT_SUCCESS_CODE = 0x10,	/* QEMU status 33 */
	EXIT_FAILURE_CODE = 0x11,	/* 35 */
	EXIT_ERROR_CODE = 0x12,		/* 37: error or bail-out */
	EXIT_PANIC_CODE = 0x13,		/* 39 */
};

enum exit_action { EXIT_HALT, EXIT_QEMU, EXIT_REBOOT, EXIT_POWEROFF };
extern int exit_action;		/* index into the exit= choices */

/* Drain the consoles, stop the other CPUs and end the run. */
__attribute__((noreturn)) void kernel_exit(enum exit_code code);
/* True once kernel_exit() has started stopping the other CPUs. */
#include <stdbool.h>
bool kernel_stopping(void);

#endif
