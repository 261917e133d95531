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

; EFLAGS.AC is not cleared by exception or interrupt delivery: an
; interrupt that arrives in the middle of a user copy (arch/x86/uaccess.c,
; between STAC and CLAC) would run its handler with SMAP open. Clear it
; here; IRET gives the interrupted code its own AC back. CLAC is #UD on
; CPUs without SMAP, hence the test.
extern smap_enabled
%macro clear_ac 0
	cmp byte [rel smap_enabled], 0
	je %%done
	clac
%%done:
%endmacro

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
	clear_ac
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

; ---- ring 3 (arch/x86/user.c) ----------------------------------------------
;
; uint64_t user_enter(uintptr_t entry, uint64_t a0, uint64_t a1,
;                     uint64_t rflags, uint64_t *return_rsp, void *rsp0)
; Saves the callee-saved registers, records the stack pointer in
; *return_rsp and in the TSS's RSP0 (rsp0, unaligned: where interrupts from ring 3
; push their frames, below what is saved here), and IRETs to entry in
; ring 3 with RDI = a0, RSI = a1 and the given RFLAGS. The user code needs
; no stack. It never returns here by itself: user_leave() resumes this
; call's caller with the value it is given. Called with interrupts off.

global user_enter
global user_leave
global user_stubs_start
global user_stubs_end
global user_stub_read
global user_stub_write

USER_CS equ 0x33
USER_DS equ 0x2b

section .text
user_enter:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	mov [r8], rsp
	mov [r9], rsp
	push USER_DS		; SS
	push 0			; RSP: the user code uses no stack
	push rcx		; RFLAGS
	push USER_CS		; CS
	push rdi		; RIP
	mov rdi, rsi
	mov rsi, rdx
	xor eax, eax
	xor ecx, ecx
	xor edx, edx
	iretq

; void user_leave(uint64_t return_rsp, uint64_t value): back on the stack
; user_enter saved, return value from user_enter. Interrupts off.
user_leave:
	mov rsp, rdi
	mov rax, rsi
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret

; The ring-3 code: copied into a page that every address space maps
; user-accessible (mm/mm.c). Position independent; each ends with the
; DPL-3 INT that hands control back to the kernel (VEC_USER_RET, 0x80).
section .rodata
align 16
user_stubs_start:
user_stub_read:			; RAX = *(u64 *)RDI
	mov rax, [rdi]
	int 0x80
user_stub_write:		; *(u64 *)RDI = RSI
	mov [rdi], rsi
	int 0x80
user_stubs_end:
