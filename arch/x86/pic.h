#ifndef ARCH_X86_PIC_H
#define ARCH_X86_PIC_H

/* Remap the 8259 PICs to vectors 0x20-0x2f (off the exceptions) and mask
 * every line: the kernel uses only the local APICs. */
void pic_disable(void);

#endif
