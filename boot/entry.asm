; 32-bit entry from GRUB (multiboot2), switch to long mode, jump to the
; higher half and call kmain(mb2_info_phys).
;
; State on entry (multiboot2 spec, i386): EAX = magic, EBX = physical
; address of the info block, protected mode with paging off, interrupts
; off, flat segments. Nothing else is promised: firmware and GRUB leave
; CR0/CR4/EFER bits behind (OVMF enters with NXE and WP set), so every
; control register is loaded with a full value here.

MB2_BOOT_MAGIC	equ 0x36d76289
KERNEL_VMA	equ 0xffffffff80000000
COM1		equ 0x3f8

CR0_PE	equ 1 << 0
CR0_MP	equ 1 << 1
CR0_ET	equ 1 << 4
CR0_NE	equ 1 << 5
CR0_WP	equ 1 << 16
CR0_PG	equ 1 << 31
CR4_PAE	equ 1 << 5
CR4_LA57 equ 1 << 12
EFER_MSR equ 0xc0000080
EFER_LME equ 1 << 8
EFER_NXE equ 1 << 11

extern kmain
extern _bss_start
extern _bss_end
global _start32
global boot_cr3
global boot_efer
global boot_stack_top

section .boot.text progbits alloc exec nowrite align=16
bits 32
_start32:
	cli
	cld
	mov esp, boot32_stack_top
	cmp eax, MB2_BOOT_MAGIC
	jne .bad_magic
	mov [mb2_info_phys], ebx

	; CPUID must exist (ID flag in EFLAGS toggles) and report long mode.
	pushfd
	pop eax
	mov ecx, eax
	xor eax, 1 << 21
	push eax
	popfd
	pushfd
	pop eax
	push ecx
	popfd
	cmp eax, ecx
	je .no_long_mode
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_long_mode
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 29
	jz .no_long_mode
	; Remember whether NX exists: EFER.NXE is reserved without it.
	xor eax, eax
	test edx, 1 << 20
	jz .no_nx
	mov eax, EFER_NXE
.no_nx:
	or eax, EFER_LME
	mov [boot_efer], eax

	; 5-level paging when the CPU has LA57 and the command line does not
	; hold the word la57=off. CR4.LA57 cannot change in long mode, so the
	; choice is made here, once; arch/x86/cpu.c reads it back from CR4
	; and checks the la57= option against it.
	xor eax, eax
	cpuid
	cmp eax, 7
	jb .paging_chosen
	mov eax, 7
	xor ecx, ecx
	cpuid
	test ecx, 1 << 16
	jz .paging_chosen
	call cmdline_has_la57_off
	jc .paging_chosen
	mov byte [boot_la57], 1
.paging_chosen:

	; Boot page tables, 2 MiB pages: the first 4 GiB identity mapped (this
	; code, the multiboot2 info wherever GRUB put it, the AP trampoline)
	; and the first 2 GiB again at KERNEL_VMA (the kernel image).
	mov edi, boot_pd
	mov eax, 0x83			; present, writable, 2 MiB
	xor edx, edx
	mov ecx, 4 * 512
.fill_pd:
	mov [edi], eax
	mov [edi + 4], edx
	add eax, 0x200000
	adc edx, 0
	add edi, 8
	loop .fill_pd
	mov edi, boot_pdpt_low
	mov eax, boot_pd
	or eax, 3
	mov ecx, 4
.fill_pdpt:
	mov [edi], eax
	add eax, 4096
	add edi, 8
	loop .fill_pdpt
	mov eax, boot_pd
	or eax, 3
	mov [boot_pdpt_high + 510 * 8], eax
	add eax, 4096
	mov [boot_pdpt_high + 511 * 8], eax
	mov eax, boot_pdpt_low
	or eax, 3
	mov [boot_pml4], eax
	mov eax, boot_pdpt_high
	or eax, 3
	mov [boot_pml4 + 511 * 8], eax

	; With LA57 one PML5 puts the same PML4 at both ends (entries 0 and
	; 511), so the addresses above are translated identically.
	mov eax, CR4_PAE
	mov ebx, boot_pml4
	cmp byte [boot_la57], 0
	je .load_cr3
	mov eax, boot_pml4
	or eax, 3
	mov [boot_pml5], eax
	mov [boot_pml5 + 511 * 8], eax
	mov eax, CR4_PAE | CR4_LA57
	mov ebx, boot_pml5
.load_cr3:
	mov [boot_cr3], ebx
	mov cr4, eax
	mov cr3, ebx
	mov ecx, EFER_MSR
	mov eax, [boot_efer]
	xor edx, edx
	wrmsr
	mov eax, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG
	mov cr0, eax
	lgdt [boot_gdt_ptr]
	jmp 0x08:long_mode64

.bad_magic:
	mov esi, msg_bad_magic
	jmp .fatal
.no_long_mode:
	mov esi, msg_no_lm
.fatal:
	call serial_puts32
	; Also on the VGA text screen, for machines with no serial port.
	mov edi, 0xb8000
.vga:
	lodsb
	test al, al
	jz .halt
	mov ah, 0x4f
	stosw
	jmp .vga
.halt:
	hlt
	jmp .halt

; Print the NUL-terminated string at ESI on COM1 (ESI is preserved).
; A missing UART reads 0xff from LSR; the bounded wait never hangs on it.
serial_puts32:
	push esi
.next:
	lodsb
	test al, al
	jz .done
	mov bl, al
	mov ecx, 100000
.wait:
	mov dx, COM1 + 5
	in al, dx
	test al, 0x20
	jnz .send
	loop .wait
.send:
	mov dx, COM1
	mov al, bl
	out dx, al
	jmp .next
.done:
	pop esi
	ret

; CF=1 if the multiboot2 command line holds the word "la57=off" (words
; are separated by spaces). All registers are preserved. The walk is
; bounded by the info block's total size and each tag's size.
cmdline_has_la57_off:
	pushad
	mov esi, [mb2_info_phys]
	mov edx, [esi]
	add edx, esi			; EDX: end of the info block
	add esi, 8			; first tag
.tag:
	lea eax, [esi + 8]
	cmp eax, edx
	ja .absent
	mov eax, [esi]			; type (0 ends the list)
	test eax, eax
	jz .absent
	mov ecx, [esi + 4]		; size, header included
	cmp ecx, 8
	jb .absent
	cmp eax, 1			; the command line
	je .cmdline
	add ecx, 7
	and ecx, ~7
	add esi, ecx
	jmp .tag
.cmdline:
	lea ebp, [esi + ecx]		; EBP: end of the string
	add esi, 8			; ESI: scan position
.next_word:
	call .peek
	test al, al
	jz .absent
	cmp al, ' '
	jne .compare
	inc esi
	jmp .next_word
.compare:
	mov edi, la57_off_word
.compare_next:
	mov al, [edi]
	test al, al
	jz .word_end			; the whole pattern matched
	cmp esi, ebp
	jae .absent
	cmp al, [esi]
	jne .skip_word
	inc esi
	inc edi
	jmp .compare_next
.word_end:
	call .peek
	test al, al
	jz .present
	cmp al, ' '
	je .present
.skip_word:
	call .peek
	test al, al
	jz .absent
	cmp al, ' '
	je .next_word
	inc esi
	jmp .skip_word
.present:
	popad
	stc
	ret
.absent:
	popad
	clc
	ret
; AL = the byte at ESI, or 0 at the end of the string (ESI >= EBP).
.peek:
	xor eax, eax
	cmp esi, ebp
	jae .peek_end
	mov al, [esi]
.peek_end:
	ret

bits 64
long_mode64:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor ax, ax
	mov fs, ax
	mov gs, ax
	mov rax, higher_half
	jmp rax

section .boot.data progbits alloc noexec write align=16
msg_bad_magic:
	db "mmtorture: not started by a multiboot2 loader (bad magic); halting", 13, 10, 0
msg_no_lm:
	db "mmtorture: this CPU has no 64-bit long mode; halting", 13, 10, 0
la57_off_word:
	db "la57=off", 0
boot_la57:	db 0
align 8
mb2_info_phys:	dd 0, 0
boot_efer:	dd 0, 0
boot_cr3:	dd 0, 0			; the boot tables' root, for the APs
align 16
boot_gdt:
	dq 0
	dq 0x00209a0000000000		; 0x08: 64-bit code
	dq 0x0000920000000000		; 0x10: data
boot_gdt_ptr:
	dw boot_gdt_ptr - boot_gdt - 1
	dd boot_gdt

section .boot.bss nobits alloc noexec write align=4096
boot_pml5:	resb 4096
boot_pml4:	resb 4096
boot_pdpt_low:	resb 4096
boot_pdpt_high:	resb 4096
boot_pd:	resb 4 * 4096
boot32_stack:	resb 1024
boot32_stack_top:

section .text.entry
bits 64
higher_half:
	mov rsp, boot_stack_top
	xor ebp, ebp
	; The ELF loader zero-fills .bss, but nothing in multiboot2 promises
	; it; clearing it costs little.
	mov rdi, _bss_start
	mov rcx, _bss_end
	sub rcx, rdi
	xor eax, eax
	rep stosb
	mov edi, [mb2_info_phys]
	call kmain
.hang:
	cli
	hlt
	jmp .hang

section .bss
align 16
boot_stack:	resb 16384
boot_stack_top:
