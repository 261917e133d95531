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
EXIT_ERROR_CODE	equ 0x12		; kernel/exit.h: error or bail-out
ISA_DEBUG_EXIT	equ 0xf4		; QEMU's exit device (exit=qemu)
MB2_TAG_CMDLINE	equ 1
MB2_TAG_ACPI_OLD equ 14			; a copy of the ACPI 1.0 RSDP
MB2_TAG_ACPI_NEW equ 15			; a copy of the ACPI 2.0+ RSDP

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
extern kernel_version
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
	je .no_cpuid
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_ext_leaf
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
	mov edi, key_la57
	call cmdline_last_value
	jc .la57_on			; no la57= word: auto
	mov edi, value_off
	call value_is
	je .paging_chosen
.la57_on:
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
	; EBX is no multiboot2 information block: no command line, no
	; ACPI tables, so the run halts (exit= cannot be read).
	mov dword [mb2_info_phys], 0
	mov esi, reason_bad_magic
	jmp boot_error
.no_cpuid:
	mov esi, reason_no_cpuid
	jmp boot_error
.no_ext_leaf:
	mov esi, reason_no_ext_leaf
	jmp boot_error
.no_long_mode:
	mov esi, reason_no_long_mode
	; fall through

; The kernel cannot run on this machine: report it as the C code reports
; a broken environment (a KTAP header, plan 1..1, `not ok 1 boot # ERROR
; reason`, the totals and the FAILURE sentinel; tools/runner.py reads it
; as an ERROR run), then end the way exit= says, with the error code
; (kernel/exit.c). ESI: the reason, NUL-terminated. Does not return.
boot_error:
	mov [error_reason], esi
	call serial_init32
	mov esi, ktap_head
	call serial_puts32
	; kernel_version is a C pointer to a string in .rodata; both are
	; linked at KERNEL_VMA + their load address and paging is off.
	mov esi, [kernel_version - KERNEL_VMA]
	sub esi, KERNEL_VMA & 0xffffffff
	call serial_puts32
	mov esi, ktap_cmdline
	call serial_puts32
	call cmdline_bounds
.cmdline_char:
	cmp esi, ebp
	jae .cmdline_done
	mov al, [esi]
	test al, al
	jz .cmdline_done
	call serial_putc32
	inc esi
	jmp .cmdline_char
.cmdline_done:
	mov esi, ktap_result
	call serial_puts32
	mov esi, [error_reason]
	call serial_puts32
	mov esi, ktap_tail
	call serial_puts32

	; The reason on the VGA text screen too, for machines with no
	; serial port.
	mov esi, [error_reason]
	mov edi, 0xb8000
.vga:
	lodsb
	test al, al
	jz .exit
	mov ah, 0x4f
	stosw
	jmp .vga

.exit:
	mov edi, key_exit
	call cmdline_last_value
	jc .halt			; no exit= word: exit=halt
	mov edi, value_qemu
	call value_is
	je .exit_qemu
	mov edi, value_poweroff
	call value_is
	je .exit_poweroff
	mov edi, value_reboot
	call value_is
	je .exit_reboot
.halt:
	mov esi, msg_halted
	call serial_puts32
	jmp .stop
.exit_qemu:
	mov al, EXIT_ERROR_CODE
	out ISA_DEBUG_EXIT, al
	mov esi, msg_no_debug_exit
	call serial_puts32
	jmp .stop
.exit_poweroff:
	mov esi, msg_poweroff
	call serial_puts32
	call acpi_poweroff32
	mov esi, msg_poweroff_failed
	call serial_puts32
	jmp .stop
.exit_reboot:
	mov esi, msg_reboot
	call serial_puts32
	; The keyboard controller's reset line, then a triple fault.
	mov ecx, 100000
.kbc_wait:
	in al, 0x64
	test al, 2
	jz .kbc_reset
	loop .kbc_wait
.kbc_reset:
	mov al, 0xfe
	out 0x64, al
	lidt [null_idt]
	int3
.stop:
	cli
	hlt
	jmp .stop

; COM1 at 115200 baud 8N1, FIFOs on, as arch/x86/uart.c sets it up (GRUB
; leaves the port as the firmware left it). A missing UART ignores this.
serial_init32:
	mov dx, COM1 + 1
	xor al, al
	out dx, al			; no interrupts
	mov dx, COM1 + 3
	mov al, 0x80
	out dx, al			; divisor latch
	mov dx, COM1
	mov al, 1
	out dx, al			; divisor 1: 115200 baud
	mov dx, COM1 + 1
	xor al, al
	out dx, al
	mov dx, COM1 + 3
	mov al, 0x03
	out dx, al			; 8N1
	mov dx, COM1 + 2
	mov al, 0xc7
	out dx, al			; FIFOs on and cleared
	mov dx, COM1 + 4
	mov al, 0x03
	out dx, al			; DTR, RTS
	ret

; Send AL on COM1; every register is preserved. A missing UART reads
; 0xff from LSR; the bounded wait never hangs on it.
serial_putc32:
	push eax
	push ecx
	push edx
	mov ah, al
	mov ecx, 100000
	mov dx, COM1 + 5
.wait:
	in al, dx
	test al, 0x20
	jnz .send
	loop .wait
.send:
	mov dx, COM1
	mov al, ah
	out dx, al
	pop edx
	pop ecx
	pop eax
	ret

; Print the NUL-terminated string at ESI on COM1 (ESI is preserved).
serial_puts32:
	push eax
	push esi
.next:
	lodsb
	test al, al
	jz .done
	call serial_putc32
	jmp .next
.done:
	pop esi
	pop eax
	ret

; ESI: the multiboot2 tag of type EAX, or 0 (also when there is no
; information block). Clobbers ECX and EDX. The walk is bounded by the
; block's total size and each tag's size.
mb2_find_tag:
	mov esi, [mb2_info_phys]
	test esi, esi
	jz .none
	mov edx, [esi]
	add edx, esi			; EDX: end of the information block
	add esi, 8			; first tag
.tag:
	lea ecx, [esi + 8]
	cmp ecx, edx
	ja .none
	cmp dword [esi], 0		; type 0 ends the list
	je .none
	mov ecx, [esi + 4]		; size, header included
	cmp ecx, 8
	jb .none
	cmp [esi], eax
	je .found
	add ecx, 7
	and ecx, ~7
	add esi, ecx
	jmp .tag
.none:
	xor esi, esi
.found:
	ret

; ESI..EBP: the command line's bytes (NUL-terminated inside; ESI = EBP = 0
; when there is none). Clobbers EAX, ECX and EDX.
cmdline_bounds:
	mov eax, MB2_TAG_CMDLINE
	call mb2_find_tag
	xor ebp, ebp
	test esi, esi
	jz .out
	mov ebp, [esi + 4]
	add ebp, esi
	add esi, 8
.out:
	ret

; The value of the last word on the command line that starts with the
; key at EDI (NUL-terminated, e.g. "exit="): later words win, as in
; kernel/cmdline.c. Returns ESI = the value, ECX = its length and CF=0,
; or CF=1 when no word has the key. Words are separated by spaces and
; tabs. Other registers are preserved.
cmdline_last_value:
	pushad
	mov ebx, edi			; EBX: the key
	call cmdline_bounds
	xor edx, edx			; EDX: the last value found, 0 if none
.next_word:
	call .peek
	test al, al
	jz .done
	call .is_blank
	jne .compare
	inc esi
	jmp .next_word
.compare:
	mov edi, ebx
.compare_next:
	mov ah, [edi]
	test ah, ah
	jz .matched			; the whole key matched
	call .peek
	cmp al, ah
	jne .skip_word
	inc esi
	inc edi
	jmp .compare_next
.matched:
	mov edx, esi
.skip_word:
	call .peek
	test al, al
	jz .done
	call .is_blank
	je .next_word
	inc esi
	jmp .skip_word
.done:
	test edx, edx
	jz .absent
	mov esi, edx
.value_end:
	call .peek
	test al, al
	jz .value_done
	call .is_blank
	je .value_done
	inc esi
	jmp .value_end
.value_done:
	sub esi, edx
	mov [esp + 24], esi		; the ECX that popad restores
	mov [esp + 4], edx		; the ESI that popad restores
	popad
	clc
	ret
.absent:
	popad
	stc
	ret
; AL = the byte at ESI, or 0 at the end of the string (ESI >= EBP). AH
; and the other registers are kept.
.peek:
	mov al, 0
	cmp esi, ebp
	jae .peek_end
	mov al, [esi]
.peek_end:
	ret
; ZF=1 if AL is a space or a tab.
.is_blank:
	cmp al, ' '
	je .blank
	cmp al, 9
.blank:
	ret

; ZF=1 if the ECX bytes at ESI are the NUL-terminated string at EDI.
; Registers are preserved.
value_is:
	push eax
	push ecx
	push esi
	push edi
.next:
	mov al, [edi]
	test al, al
	jz .end_of_string
	jecxz .differ
	cmp al, [esi]
	jne .differ
	inc esi
	inc edi
	dec ecx
	jmp .next
.end_of_string:
	test ecx, ecx			; equal only if the value ends here too
	jmp .out
.differ:
	test esp, esp			; ZF=0
.out:
	pop edi
	pop esi
	pop ecx
	pop eax
	ret

; Power off through ACPI S5, as kernel/exit.c does from the tables
; arch/x86/acpi.c parses: the RSDP copy GRUB passes, the RSDT (or an XSDT
; below 4 GiB), the FADT's PM1 control registers and the DSDT's \_S5
; package. Checksums are not verified: this runs only to end a run that
; has already failed. Returns if a table is missing or the write did not
; power the machine off. Registers are preserved.
acpi_poweroff32:
	pushad
	mov eax, MB2_TAG_ACPI_NEW
	call mb2_find_tag
	test esi, esi
	jnz .rsdp
	mov eax, MB2_TAG_ACPI_OLD
	call mb2_find_tag
	test esi, esi
	jz .out
.rsdp:
	add esi, 8			; the RSDP copy
	cmp dword [esi], 'RSD '
	jne .out
	cmp dword [esi + 4], 'PTR '
	jne .out
	mov ebx, [esi + 16]		; RSDT: 4-byte entries
	mov edx, 4
	test ebx, ebx
	jnz .root
	cmp byte [esi + 15], 2		; revision 2 and later have an XSDT
	jb .out
	cmp dword [esi + 28], 0		; above 4 GiB: out of reach
	jne .out
	mov ebx, [esi + 24]		; XSDT: 8-byte entries
	mov edx, 8
	test ebx, ebx
	jz .out
.root:
	mov ecx, [ebx + 4]
	add ecx, ebx			; ECX: end of the root table
	lea edi, [ebx + 36]		; its first entry
.entry:
	lea eax, [edi + edx]
	cmp eax, ecx
	ja .out
	cmp edx, 8
	jne .low_entry
	cmp dword [edi + 4], 0
	jne .next_entry
.low_entry:
	mov eax, [edi]
	cmp dword [eax], 'FACP'
	je .fadt
.next_entry:
	add edi, edx
	jmp .entry
.fadt:
	mov ebx, eax			; EBX: the FADT
	cmp word [ebx + 64], 0		; PM1a_CNT_BLK
	je .out
	mov esi, [ebx + 40]		; DSDT
	test esi, esi
	jz .out
	cmp dword [esi], 'DSDT'
	jne .out
	mov ecx, [esi + 4]
	add ecx, esi			; ECX: end of the DSDT
	add esi, 36
.scan:
	lea eax, [esi + 6]
	cmp eax, ecx
	ja .out
	cmp dword [esi], '_S5_'
	jne .scan_next
	cmp byte [esi + 4], 0x12	; PackageOp
	je .package
.scan_next:
	inc esi
	jmp .scan
.package:
	movzx eax, byte [esi + 5]	; PkgLength: 1 to 4 bytes
	shr eax, 6
	lea esi, [esi + eax + 7]	; past PkgLength and NumElements
	call .slp_typ
	jc .out
	mov edi, eax			; EDI: SLP_TYPa
	call .slp_typ
	jc .out
	mov ebp, eax			; EBP: SLP_TYPb
	shl edi, 10
	or edi, 1 << 13			; SLP_EN
	mov dx, [ebx + 64]
	mov eax, edi
	out dx, ax
	mov dx, [ebx + 68]		; PM1b_CNT_BLK, if any
	test dx, dx
	jz .wait
	shl ebp, 10
	or ebp, 1 << 13
	mov eax, ebp
	out dx, ax
.wait:
	; No clock is calibrated here: ~100 ms of port 0x80 reads (about
	; 1 us each) before giving up.
	mov ecx, 100000
.wait_loop:
	in al, 0x80
	loop .wait_loop
.out:
	popad
	ret
; EAX: the package element at ESI (BytePrefix 0x0a and a byte, or ZeroOp
; or OneOp), ESI moved past it; CF=1 if it runs past the DSDT (ECX).
.slp_typ:
	cmp esi, ecx
	jae .past_end
	movzx eax, byte [esi]
	inc esi
	cmp al, 0x0a
	jne .constant
	cmp esi, ecx
	jae .past_end
	movzx eax, byte [esi]
	inc esi
	clc
	ret
.constant:
	cmp al, 1			; OneOp; anything else reads as ZeroOp
	je .one
	xor eax, eax
.one:
	clc
	ret
.past_end:
	stc
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
; The error path's lines, in the C code's words (tests/ktap.c,
; kernel/exit.c).
reason_bad_magic:
	db "not started by a multiboot2 loader (EAX is not 0x36d76289)", 0
reason_no_cpuid:
	db "this CPU has no CPUID instruction (EFLAGS.ID does not change), so no 64-bit long mode", 0
reason_no_ext_leaf:
	db "this CPU has no CPUID leaf 80000001h, so no 64-bit long mode", 0
reason_no_long_mode:
	db "this CPU has no 64-bit long mode (CPUID 80000001h EDX bit 29)", 0
ktap_head:
	db 13, 10, "KTAP version 1", 13, 10, "# mmtorture ", 0
ktap_cmdline:
	db " cmdline: ", 0
ktap_result:
	db 13, 10, "1..1", 13, 10, "not ok 1 boot # ERROR ", 0
ktap_tail:
	db 13, 10, "# Totals: pass:0 fail:0 skip:0 error:1", 13, 10
	db "--- End of test: FAILURE", 13, 10, 0
msg_halted:
	db "# halted (exit code 0x12)", 13, 10, 0
msg_no_debug_exit:
	db "# exit=qemu: no isa-debug-exit device at 0xf4; halting", 13, 10, 0
msg_poweroff:
	db "# powering off (exit code 0x12)", 13, 10, 0
msg_poweroff_failed:
	db "# poweroff: ACPI S5 did not power the machine off; halting", 13, 10, 0
msg_reboot:
	db "# rebooting (exit code 0x12)", 13, 10, 0
key_la57:	db "la57=", 0
value_off:	db "off", 0
key_exit:	db "exit=", 0
value_qemu:	db "qemu", 0
value_poweroff:	db "poweroff", 0
value_reboot:	db "reboot", 0
boot_la57:	db 0
align 8
null_idt:	dw 0
		dd 0
align 8
mb2_info_phys:	dd 0, 0
error_reason:	dd 0
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
