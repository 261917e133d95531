; SYSCALL entry and the return to ring 3 (arch/x86/syscall.h).
;
; SYSCALL, from ring 3, loads CS/SS from STAR, RIP from LSTAR, saves the
; user's RIP in RCX and RFLAGS in R11, clears the RFLAGS bits FMASK names
; (IF, DF, AC, TF, NT, IOPL) and changes nothing else: RSP is still the
; user's and GS is still the user's. The entry below SWAPGSes, parks the
; user RSP in this CPU's scratch slot, loads the kernel stack from
; entry_rsp (= TSS.RSP0) and builds the same struct trap_frame an
; interrupt from ring 3 builds (vector VEC_SYSCALL), so the rest of the
; kernel sees one user frame format. It then turns interrupts on and calls
; syscall_dispatch(frame).
;
; Interleavings (only NMI and #MC can arrive here: IF is clear from
; SYSCALL to the first STI and from the CLI to SYSRET/IRET):
;
;   syscall_entry:                   NMI/#MC here: frame CS = kernel, GS
;     swapgs                         base = 0 (user); isr_paranoid reads
;     ...                            the MSR and SWAPGSes (isr.asm)
;   exit:
;     cli
;     ...checks, POP_REGS...
;     mov rsp, user RSP              NMI here: IST stack, GS = kernel,
;     swapgs                         frame CS = kernel: no swap
;                                    NMI here: GS = user, frame CS =
;     o64 sysret                     kernel: isr_paranoid swaps, swaps back
;
; The return takes SYSRET only when it restores exactly the frame:
; RCX == RIP and R11 == RFLAGS (what SYSRET loads them from), RIP below
; USER_TOP (canonical and user: on Intel, SYSRET to a non-canonical RCX
; raises #GP in ring 0 after the SWAPGS, on the user's RSP), CS the user
; code selector, and no TF, RF or NT in RFLAGS (SYSRET cannot restore RF
; and would trap on TF after the first user instruction). Any other frame,
; e.g. one the kernel changed, goes back through IRET, which restores
; every register. (The RIP SYSCALL saved is always a user address, since
; nothing can be mapped near the end of the user half; syscall_dispatch()
; asserts it, so the IRET path never sees a non-canonical RIP either.)

%include "arch/x86/frame.inc"

VEC_SYSCALL	equ 0x100	; arch/x86/syscall.h

extern syscall_dispatch
extern user_top
global syscall_entry

section .text
bits 64

align 16
syscall_entry:
	swapgs
	mov [gs:PERCPU_SYSCALL_USER_RSP], rsp
	mov rsp, [gs:PERCPU_ENTRY_RSP]
	and rsp, -16
	push USER_DS				; SS
	push qword [gs:PERCPU_SYSCALL_USER_RSP]	; RSP
	push r11				; RFLAGS
	push USER_CS				; CS
	push rcx				; RIP
	push 0					; error
	push VEC_SYSCALL			; vector
	PUSH_REGS
	mov rdi, rsp
	sti
	call syscall_dispatch
	cli

	mov rcx, [rsp + FRAME_RIP]
	cmp rcx, [rsp + FRAME_RCX]
	jne .iret
	mov r11, [rsp + FRAME_RFLAGS]
	cmp r11, [rsp + FRAME_R11]
	jne .iret
	cmp rcx, [rel user_top]
	jae .iret
	cmp qword [rsp + FRAME_CS], USER_CS
	jne .iret
	test r11, RFLAGS_TF | RFLAGS_RF | RFLAGS_NT
	jnz .iret
	POP_REGS
	mov rsp, [rsp + FRAME_RSP - FRAME_VECTOR]
	swapgs
	o64 sysret

.iret:
	POP_REGS
	add rsp, 16
	swapgs
	iretq
