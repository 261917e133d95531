; Multiboot2 header: GRUB finds it in the first 32 KiB of the image.
; GRUB passes its framebuffer (EFI GOP, or a VBE mode on BIOS) as a tag;
; with no framebuffer, a BIOS machine stays in VGA text mode.

MB2_MAGIC	equ 0xE85250D6
MB2_ARCH_I386	equ 0

section .multiboot2 align=8
mb2_header:
	dd MB2_MAGIC
	dd MB2_ARCH_I386
	dd mb2_header_end - mb2_header
	dd -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

	; Information request: the kernel cannot run without these.
	align 8
	dw 1, 1			; type 1, optional: GRUB boots us without a framebuffer too
	dd 8 + 4 * 3
	dd 1			; command line
	dd 6			; memory map
	dd 8			; framebuffer (optional in practice; GRUB gives it when it has one)

	; Framebuffer, optional, no preferred mode: under UEFI GRUB hands over
	; the GOP framebuffer (without this tag it passes EGA text only, which
	; EFI does not have). On BIOS GRUB then sets a VBE mode as well, so the
	; screen console is arch/x86/fbcon.c there too.
	align 8
	dw 5, 1
	dd 20
	dd 0, 0, 0

	; Modules page aligned (none are used yet; keeps the reservation simple).
	align 8
	dw 6, 0
	dd 8

	align 8
	dw 0, 0			; end tag
	dd 8
mb2_header_end:
