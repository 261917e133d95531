#include "mm/kmalloc.h"
#include "arch/x86/pte.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"

#define MIN_SHIFT	4
#define MAX_SHIFT	11
#define NR_CLASSES	(MAX_SHIFT - MIN_SHIFT + 1)
#define LARGE_FLAG	(1ul << 32)

struct free_obj {
	struct free_obj *next;
};

static struct size_class {
	spinlock_t lock;
	struct free_obj *free;		/* (lock) */
} __cacheline_aligned classes[NR_CLASSES] = {
	[0 ... NR_CLASSES - 1] = { .lock = SPINLOCK_INIT(LOCK_KMALLOC) },
};

static long in_use[MAX_CPUS] __cacheline_aligned;	/* (o) per CPU, summed */

static unsigned int class_of(size_t size)
{
	unsigned int shift = MIN_SHIFT;

	while ((1ul << shift) < size)
		shift++;
	return shift - MIN_SHIFT;
}

void *kmalloc(size_t size)
{
	void *obj;
	uint64_t flags;

	if (size > (1ul << MAX_SHIFT)) {
		unsigned int order = 0;
		while ((PAGE_SIZE << order) < size)
			order++;
		struct page *p = alloc_pages(order, PAGE_KMALLOC);
		if (!p)
			return NULL;
		p->private = LARGE_FLAG | order;
		obj = page_address(p);
	} else {
		unsigned int c = class_of(size);
		struct size_class *sc = &classes[c];
		size_t osize = 1ul << (c + MIN_SHIFT);

		flags = spin_lock_irqsave(&sc->lock);
		if (!sc->free) {
			struct page *p = alloc_page(PAGE_KMALLOC);
			if (!p) {
				spin_unlock_irqrestore(&sc->lock, flags);
				return NULL;
			}
			p->private = c;
			char *base = page_address(p);
			for (size_t off = 0; off < PAGE_SIZE; off += osize) {
				struct free_obj *o = (struct free_obj *)(base + off);
				o->next = sc->free;
				sc->free = o;
			}
		}
		obj = sc->free;
		sc->free = sc->free->next;
		spin_unlock_irqrestore(&sc->lock, flags);
	}
	flags = irq_save();
	in_use[smp_processor_id()]++;
	irq_restore(flags);
	return obj;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *obj)
{
	struct page *p;
	uint64_t flags;

	if (!obj)
		return;
	p = virt_to_page(obj);
	ASSERT_MSG(p->type == PAGE_KMALLOC, "kfree of %p: not a kmalloc page", obj);
	flags = irq_save();
	in_use[smp_processor_id()]--;
	irq_restore(flags);
	if (p->private & LARGE_FLAG) {
		free_pages(p, p->private & 0xff);
		return;
	}

	struct size_class *sc = &classes[p->private];
	size_t osize = 1ul << (p->private + MIN_SHIFT);
	uint64_t *w = obj;
	for (size_t i = 0; i < osize / 8; i++)
		w[i] = PAGE_POISON;
	flags = spin_lock_irqsave(&sc->lock);
	((struct free_obj *)obj)->next = sc->free;
	sc->free = obj;
	spin_unlock_irqrestore(&sc->lock, flags);
}

long kmalloc_in_use(void)
{
	long n = 0;

	for (unsigned int c = 0; c < MAX_CPUS; c++)
		n += load_relaxed(&in_use[c]);
	return n;
}
