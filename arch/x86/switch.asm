; The context switch's register half (kernel/sched.c draws the rest).
;
; void switch_to(uintptr_t *prev_rsp, uintptr_t next_rsp)
; Saves the callee-saved registers on the current stack, stores the stack
; pointer in *prev_rsp, loads next_rsp and pops the registers saved there
; by an earlier switch_to() (or primed by task_create()), returning into
; that task. Interrupts off; the caller-saved registers are the C
; caller's to save.
;
; task_trampoline: where a new task's first switch_to() returns. Its stack
; (primed by task_create()) holds six zeroed registers, this address,
; then the top 16 bytes, so task_entry() starts with an ABI-aligned
; stack and a zero RBP ending backtraces.

extern task_entry
global switch_to
global task_trampoline

section .text
bits 64

switch_to:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	mov [rdi], rsp
	mov rsp, rsi
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret

task_trampoline:
	call task_entry
	ud2			; task_entry() does not return
