; Interrupt and exception entry stubs. Each stub pushes a dummy error code
; where the CPU pushes none, then its vector, and jumps to isr_common (or,
; for NMI, #DF and #MC, isr_paranoid), which saves the general registers
; as struct trap_frame (arch/x86/traps.h, arch/x86/frame.inc) and calls
; trap_dispatch(frame). RSP is 16-byte aligned at the call: the CPU aligns
; before pushing its 5 words; with the 2 pushed here and the 15 registers
; that makes 22 words, an even count.
;
; GS. In the kernel GS base is the per-CPU pointer (a kernel-half address,
; bit 63 set); in ring 3 it is 0 and the per-CPU pointer waits in
; KERNEL_GS_BASE. Every way into ring 3 (user_enter below, the returns of
; isr_common and syscall.asm) SWAPGSes just before its IRET or SYSRET, and
; every way out SWAPGSes first thing:
;
; - isr_common serves vectors that cannot arrive between a SWAPGS and the
;   instruction it belongs with: interrupts are masked there (SYSCALL's
;   FMASK clears IF, the exits run with IF clear) and those instructions
;   raise no exception with a frame the kernel built. So the frame's CS
;   tells the GS state: RPL 3 means SWAPGS on entry and before IRET.
; - isr_paranoid serves NMI, #MC and #DF (each on its own IST stack),
;   which can arrive anywhere, e.g.
;
;       ring 3: SYSCALL            CPU                 NMI
;       syscall_entry: <-----------------------------  frame CS = kernel,
;         swapgs                                       but GS base = 0
;
;   or between the exit's SWAPGS and its SYSRET/IRET. The frame's CS
;   cannot tell, so it reads GS base itself: bit 63 clear means the user's
;   GS is loaded; it SWAPGSes and SWAPGSes back before its IRET. (No
;   ring-3 code can set a kernel-looking GS base: CR4.FSGSBASE is off, so
;   WRGSBASE is #UD, and the MSRs are ring 0 only.)

extern trap_dispatch
global isr_stub_table
global exec_safe_asm
global exec_safe_fault

%include "arch/x86/frame.inc"

section .text
bits 64

%macro ISR_TARGET 1
%if %1 == 2 || %1 == 8 || %1 == 18
	jmp isr_paranoid
%else
	jmp isr_common
%endif
%endmacro
%macro ISR_NOERR 1
isr_%1:
	push 0
	push %1
	ISR_TARGET %1
%endmacro
%macro ISR_ERR 1
isr_%1:
	push %1
	ISR_TARGET %1
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
	test byte [rsp + FRAME_CS - FRAME_VECTOR], 3
	jz .from_kernel
	swapgs
.from_kernel:
	PUSH_REGS
	cld
	CLEAR_AC
	mov rdi, rsp
	call trap_dispatch
	POP_REGS
	add rsp, 16
	test byte [rsp + FRAME_CS - FRAME_RIP], 3
	jz .to_kernel
	swapgs
.to_kernel:
	iretq

; NMI, #DF, #MC: GS state read from the MSR (above). RBX (saved in the
; frame, callee-saved across the call) remembers whether to swap back.
isr_paranoid:
	PUSH_REGS
	cld
	CLEAR_AC
	xor ebx, ebx
	mov ecx, MSR_GS_BASE
	rdmsr
	test edx, edx
	js .kernel_gs
	swapgs
	mov ebx, 1
.kernel_gs:
	mov rdi, rsp
	call trap_dispatch
	test ebx, ebx
	jz .no_swap
	swapgs
.no_swap:
	POP_REGS
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
; uint64_t user_enter(const struct user_regs *regs, uint64_t *return_rsp,
;                     void *rsp0)
; Saves the callee-saved registers, records the stack pointer in
; *return_rsp, and that pointer rounded down to 16 bytes in the TSS's
; RSP0 (rsp0, unaligned: where interrupts from ring 3 push their frames,
; below what is saved here) and in this CPU's entry_rsp (where SYSCALL
; builds its frame: the same place). Then IRETs to ring 3 with the
; registers regs gives (RIP, RSP, RFLAGS, RDI, RSI, RDX), every other
; general register zeroed (no kernel value leaks), and the user's GS
; (SWAPGS). It never returns here by itself: user_leave() resumes this
; call's caller with the value it is given. Called with interrupts off
; (regs->rflags decides whether ring 3 runs with them on).

global user_enter
global user_leave
global user_stubs_start
global user_stubs_end
global user_stub_read
global user_stub_write
global user_stub_syscall
global user_stub_syscall_loop
global user_stub_map_touch_unmap

section .text
user_enter:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	mov [rsi], rsp
	mov rax, rsp
	and rax, -16
	mov [rdx], rax
	mov [gs:PERCPU_ENTRY_RSP], rax
	push USER_DS		; SS
	push qword [rdi + 8]	; RSP
	push qword [rdi + 16]	; RFLAGS
	push USER_CS		; CS
	push qword [rdi]	; RIP
	mov rsi, [rdi + 32]
	mov rdx, [rdi + 40]
	mov rdi, [rdi + 24]
	xor eax, eax
	xor ebx, ebx
	xor ecx, ecx
	xor ebp, ebp
	xor r8d, r8d
	xor r9d, r9d
	xor r10d, r10d
	xor r11d, r11d
	xor r12d, r12d
	xor r13d, r13d
	xor r14d, r14d
	xor r15d, r15d
	swapgs
	iretq

; void user_leave(uint64_t return_rsp, uint64_t value): back on the stack
; user_enter saved, return value from user_enter. Interrupts off. Called
; from C code that came in from ring 3 through isr_common or syscall.asm,
; whose entry SWAPGSed already: GS is the kernel's, nothing to swap.
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
user_stub_syscall:		; RAX = system call RDI (argument RSI); no stack
	mov rax, rdi
	mov rdi, rsi
	syscall
	int 0x80
user_stub_syscall_loop:		; system call RSI, RDI times (RDI > 0): the bench's round trips
	mov rbx, rdi
.again:
	mov rax, rsi
	syscall
	dec rbx
	jnz .again
	int 0x80
user_stub_map_touch_unmap:	; RDI times (RDI > 0): mmap a page, write it, munmap it; the
				; bench's map_touch_unmap from ring 3. System call numbers and
				; flags of kernel/syscall_abi.h: mmap 4, munmap 5, PROT_READ |
				; PROT_WRITE 3. A failed mmap faults on the write (RAX < 0).
	mov rbx, rdi
.mtu:
	mov eax, 4
	xor edi, edi
	mov esi, 4096
	mov edx, 3
	xor r10d, r10d
	syscall
	mov qword [rax], 1
	mov rdi, rax
	mov esi, 4096
	mov eax, 5
	syscall
	dec rbx
	jnz .mtu
	int 0x80
user_stubs_end:
