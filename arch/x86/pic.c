#include "arch/x86/pic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"

void pic_disable(void)
{
	outb(0x20, 0x11);		/* ICW1: init, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, VEC_PIC_BASE);	/* ICW2: vector base */
	outb(0xa1, VEC_PIC_BASE + 8);
	outb(0x21, 4);			/* ICW3: slave on IRQ2 */
	outb(0xa1, 2);
	outb(0x21, 1);			/* ICW4: 8086 mode */
	outb(0xa1, 1);
	outb(0x21, 0xff);		/* mask all */
	outb(0xa1, 0xff);
}
