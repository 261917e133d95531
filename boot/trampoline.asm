; AP start-up trampoline. The BSP copies this blob to a free page below
; 1 MiB and points the SIPI vector at it; the AP starts here in real mode
; with CS = page >> 4, IP = 0.
;
; The blob is position independent: it finds its physical base from CS
; and patches its own GDT pointer and far-jump targets. The BSP fills the
; parameter block (struct trampoline_params in arch/x86/smpboot.c, which
; checks the offsets) before each SIPI:
;   +0  cr3    boot page tables (identity + higher half; below 4 GiB)
;   +8  cr4    CR4 value to load before paging (PAE at least)
;   +16 efer   EFER value (LME, NXE when present)
;   +24 stack  top of the AP's stack (direct map: valid only on kcr3)
;   +32 entry  64-bit entry in the kernel image (mapped by both CR3s)
;   +40 arg    the CPU index
;   +48 kcr3   the kernel page tables
; The entry is jumped to with RDI = arg, RSI = kcr3, RDX = stack and no
; usable stack: it switches CR3 and RSP itself (arch/x86/smpboot_entry).

section .trampoline progbits alloc noexec nowrite align=16
global trampoline_params_offset
global tramp_start
global tramp_end

bits 16
tramp_start:
	cli
	cld
	mov ax, cs
	mov ds, ax
	xor ebx, ebx
	mov bx, ax
	shl ebx, 4			; EBX = physical base of the blob

	lea eax, [ebx + tramp_gdt - tramp_start]
	mov [tramp_gdt_ptr - tramp_start + 2], eax
	lea eax, [ebx + pm32 - tramp_start]
	mov [jmp32 - tramp_start], eax
	lea eax, [ebx + lm64 - tramp_start]
	mov [jmp64 - tramp_start], eax

	lgdt [tramp_gdt_ptr - tramp_start]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp far dword [jmp32 - tramp_start]

bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, [ebx + params - tramp_start + 8]
	mov cr4, eax
	mov eax, [ebx + params - tramp_start + 0]
	mov cr3, eax
	mov ecx, 0xc0000080
	mov eax, [ebx + params - tramp_start + 16]
	xor edx, edx
	wrmsr
	; PE | MP | ET | NE | WP | PG: the same full value as the BSP.
	mov eax, 0x80010033
	mov cr0, eax
	jmp far [ebx + jmp64 - tramp_start]

bits 64
lm64:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov rdx, [rbx + params - tramp_start + 24]
	mov rdi, [rbx + params - tramp_start + 40]
	mov rsi, [rbx + params - tramp_start + 48]
	mov rax, [rbx + params - tramp_start + 32]
	xor ebp, ebp
	jmp rax

align 8
jmp32:	dd 0
	dw 0x08
jmp64:	dd 0
	dw 0x18
align 16
tramp_gdt:
	dq 0
	dq 0x00cf9a000000ffff		; 0x08: 32-bit code
	dq 0x00cf92000000ffff		; 0x10: data
	dq 0x00209a0000000000		; 0x18: 64-bit code
tramp_gdt_ptr:
	dw tramp_gdt_ptr - tramp_gdt - 1
	dd 0
align 64
params:
	times 8 dq 0
tramp_end:

section .rodata
trampoline_params_offset: dq params - tramp_start

; Kernel-side AP entry: switch to the kernel page tables, then to the
; AP's own stack, then C. Reached on the boot page tables.
extern ap_entry
global ap_start64
section .text
ap_start64:
	mov cr3, rsi
	mov rsp, rdx
	xor ebp, ebp
	call ap_entry
.hang:
	cli
	hlt
	jmp .hang
