; Interrupt and exception entry stubs. Each stub pushes a dummy error code
; where the CPU pushes none, then its vector, and jumps to isr_common,
; which saves the general registers as struct trap_frame
; (arch/x86/traps.h) and calls trap_dispatch(frame).
;
; The kernel runs only in ring 0 and GS base always holds the per-CPU
; pointer, so there is no SWAPGS. RSP is 16-byte aligned at the call:
; the CPU aligns before pushing its 5 words; with the 2 pushed here and
; the 15 registers that makes 22 words, an even count.

extern trap_dispatch
global isr_stub_table
global exec_safe_asm
global exec_safe_fault

section .text
bits 64

%macro ISR_NOERR 1
isr_%1:
	push 0
	push %1
	jmp isr_common
%endmacro
%macro ISR_ERR 1
isr_%1:
	push %1
	jmp isr_common
%endmacro

%assign v 0
%rep 256
%if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21 || v == 29 || v == 30
	ISR_ERR v
%else
	ISR_NOERR v
%endif
%assign v v + 1
%endrep

isr_common:
	push rax
	push rbx
	push rcx
	push rdx
	push rsi
	push rdi
	push rbp
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	cld
	mov rdi, rsp
	call trap_dispatch
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rbp
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16
	iretq

; int exec_safe_asm(uintptr_t target): call target (a test's code page, which
; may be non-executable). Returns 0 if the call returned, else the fault
; vector + 1. The fixup resumes at exec_safe_fault with RAX set; the
; callee's return address is then still on the stack, so RSP is restored
; from RBX.
exec_safe_asm:
	push rbp
	mov rbp, rsp
	push rbx
	mov rbx, rsp
	xor eax, eax
	call rdi
	xor eax, eax
exec_safe_fault:
	mov rsp, rbx
	pop rbx
	pop rbp
	ret

section .rodata
align 8
isr_stub_table:
%assign v 0
%rep 256
	dq isr_ %+ v
%assign v v + 1
%endrep
