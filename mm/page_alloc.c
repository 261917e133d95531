#include "mm/page_alloc.h"
#include "arch/x86/cpu.h"
#include "boot/multiboot2.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/kmap.h"

DEFINE_INJECT(page_double_free, "the page allocator skips its double-free check");

#define MAX_ORDER	11		/* blocks of 2^0 .. 2^10 pages */
#define PCP_HIGH	64
#define PCP_BATCH	16

extern char _kernel_phys_start[], _kernel_end[];

struct page *page_array;
uint64_t max_pfn;

/*
 * Three zones, split by physical address: the kernel's own memory
 * (kmalloc, stacks, kernel tables), the test address spaces' page tables,
 * and their data pages (with the pages tests take directly). A bug under
 * test writes through a stale translation into a freed data page, or
 * installs an entry into a freed table; the page it hits is then poisoned
 * or reused for the same purpose, where the poison check and the
 * workers' own checks find the write and name it. Were the zones one, the
 * page could by then be a kmalloc page or a table, and the bug would
 * corrupt the checker itself (a free list, an RCU callback, an entry
 * pointing at PFN 0) and end the run in an unnamed panic. A zone that
 * runs dry borrows from the others, so only memory pressure mixes them.
 */
enum { ZONE_KERNEL, ZONE_TABLE, ZONE_DATA, NR_ZONES };

struct zone {
	spinlock_t lock;
	struct page *free[MAX_ORDER];	/* (lock) doubly linked, NULL-terminated */
	uint64_t nr_free;		/* (lock) pages */
	uint64_t managed;		/* (c) pages ever given to the allocator */
};
static struct zone zones[NR_ZONES] = {
	[ZONE_KERNEL] = { .lock = SPINLOCK_INIT(LOCK_PAGE_ALLOC) },
	[ZONE_TABLE] = { .lock = SPINLOCK_INIT(LOCK_PAGE_ALLOC) },
	[ZONE_DATA] = { .lock = SPINLOCK_INIT(LOCK_PAGE_ALLOC) },
};
/* (c) First PFN of each zone but the kernel's (which starts at 0), a
 * multiple of the largest buddy block, so no block straddles a boundary
 * and buddies never merge across one. */
static uint64_t zone_start_pfn[NR_ZONES];

/* Per-CPU cache of order-0 pages, per zone, used with interrupts off by
 * its owner. */
struct pcp {
	unsigned int count[NR_ZONES];
	struct page *pages[NR_ZONES][PCP_HIGH];
	long in_use[NR_PAGE_TYPES];	/* (o) allocs - frees by this CPU */
} __cacheline_aligned;
static struct pcp pcps[MAX_CPUS];
static bool ready;

static uint64_t block_round_up(uint64_t pfn)
{
	uint64_t b = 1ul << (MAX_ORDER - 1);

	return (pfn + b - 1) & ~(b - 1);
}

static unsigned int zone_of_pfn(uint64_t pfn)
{
	unsigned int z = NR_ZONES - 1;

	while (z && pfn < zone_start_pfn[z])
		z--;
	return z;
}

static unsigned int zone_of_type(enum page_type type)
{
	switch (type) {
	case PAGE_TABLE:
		return ZONE_TABLE;
	case PAGE_ANON:
	case PAGE_TEST:
		return ZONE_DATA;
	default:
		return ZONE_KERNEL;
	}
}

bool page_alloc_ready(void)
{
	return ready;
}

static void list_push(struct page **head, struct page *p)
{
	p->prev = NULL;
	p->next = *head;
	if (*head)
		(*head)->prev = p;
	*head = p;
}

static void list_del(struct page **head, struct page *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		*head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

static void poison_fill(struct page *p, unsigned int order)
{
	uint64_t *w = page_address(p);
	size_t n = (PAGE_SIZE / 8) << order;

	for (size_t i = 0; i < n; i++)
		w[i] = PAGE_POISON;
}

bool page_poison_intact(const struct page *p)
{
	const uint64_t *w = page_address(p);

	for (size_t i = 0; i < PAGE_SIZE / 8; i++)
		if (w[i] != PAGE_POISON)
			return false;
	return true;
}

/* Report each word of w[0..3] (word index i of the block at p) that lost
 * its poison, and restore it so one bad write is reported once. */
static __attribute__((noinline, cold)) void poison_report(struct page *p, uint64_t *w, size_t i)
{
	for (size_t k = 0; k < 4; k++, i++) {
		if (w[k] == PAGE_POISON)
			continue;
		report_error("write_after_free",
			     "page pfn 0x%lx offset 0x%zx: expected poison %016llx, found %016lx",
			     (unsigned long)(p - page_array) + (i * 8 >> PAGE_SHIFT),
			     (i * 8) & (PAGE_SIZE - 1), PAGE_POISON, w[k]);
		w[k] = PAGE_POISON;
	}
}

/* Four words per step and one branch for them: allocations pay for this
 * on every page, so it is kept to a few instructions per word. */
static inline bool poison_differs(const uint64_t *w)
{
	return (w[0] ^ PAGE_POISON) | (w[1] ^ PAGE_POISON) | (w[2] ^ PAGE_POISON) |
	       (w[3] ^ PAGE_POISON);
}

static void poison_check(struct page *p, unsigned int order)
{
	uint64_t *w = page_address(p);
	size_t n = (PAGE_SIZE / 8) << order;

	for (size_t i = 0; i < n; i += 4)
		if (poison_differs(w + i))
			poison_report(p, w + i, i);
}

/*
 * poison_check() and zeroing in one pass over the page: the page fault's
 * allocation would otherwise read the page once to check and write it
 * once to clear, twice the work of the clear alone (the floor the
 * minor_fault benchmark is held against).
 */
static void poison_check_zero(struct page *p)
{
	uint64_t *w = page_address(p);

	for (size_t i = 0; i < PAGE_SIZE / 8; i += 4) {
		if (poison_differs(w + i))
			poison_report(p, w + i, i);
		w[i] = w[i + 1] = w[i + 2] = w[i + 3] = 0;
	}
}

/* Zone lock held; p is in zone. */
static void buddy_free(struct zone *zone, struct page *p, unsigned int order)
{
	uint64_t pfn = p - page_array;

	zone->nr_free += 1ul << order;
	while (order < MAX_ORDER - 1) {
		uint64_t bpfn = pfn ^ (1ul << order);
		struct page *b;

		if (bpfn >= max_pfn)
			break;
		b = &page_array[bpfn];
		if (!(b->flags & PG_BUDDY) || b->order != order)
			break;
		list_del(&zone->free[order], b);
		b->flags &= ~PG_BUDDY;
		pfn &= ~(1ul << order);
		order++;
	}
	p = &page_array[pfn];
	p->flags |= PG_BUDDY;
	p->order = order;
	list_push(&zone->free[order], p);
}

/* Zone lock held. */
static struct page *buddy_alloc(struct zone *zone, unsigned int order)
{
	unsigned int o = order;

	while (o < MAX_ORDER && !zone->free[o])
		o++;
	if (o == MAX_ORDER)
		return NULL;
	struct page *p = zone->free[o];
	list_del(&zone->free[o], p);
	p->flags &= ~PG_BUDDY;
	while (o > order) {
		o--;
		struct page *half = p + (1ul << o);
		half->flags |= PG_BUDDY;
		half->order = o;
		list_push(&zone->free[o], half);
	}
	zone->nr_free -= 1ul << order;
	return p;
}

static void mark_allocated(struct page *p, unsigned int order, enum page_type type)
{
	for (unsigned long i = 0; i < (1ul << order); i++) {
		p[i].flags &= ~PG_FREE;
		p[i].type = type;
	}
	p->refcount = 1;
	p->private = 0;
	spin_lock_init(&p->ptl, LOCK_PTL);
	pcps[smp_processor_id()].in_use[type] += 1l << order;
}

/* Interrupts off. A page of zone z, from this CPU's cache or the buddy
 * lists, or NULL when the zone has none. */
static struct page *zone_take(struct pcp *pcp, unsigned int z, unsigned int order)
{
	struct zone *zone = &zones[z];
	struct page *p = NULL;

	if (order == 0) {
		if (!pcp->count[z]) {
			spin_lock(&zone->lock);
			while (pcp->count[z] < PCP_BATCH) {
				struct page *q = buddy_alloc(zone, 0);
				if (!q)
					break;
				pcp->pages[z][pcp->count[z]++] = q;
			}
			spin_unlock(&zone->lock);
		}
		if (pcp->count[z])
			p = pcp->pages[z][--pcp->count[z]];
	} else {
		spin_lock(&zone->lock);
		p = buddy_alloc(zone, order);
		spin_unlock(&zone->lock);
	}
	return p;
}

static struct page *alloc_unchecked(unsigned int order, enum page_type type)
{
	struct pcp *pcp;
	struct page *p;
	unsigned int z = zone_of_type(type);
	uint64_t flags = irq_save();

	pcp = &pcps[smp_processor_id()];
	p = zone_take(pcp, z, order);
	for (unsigned int other = 0; !p && other < NR_ZONES; other++)
		if (other != z)
			p = zone_take(pcp, other, order);
	if (p && !(p->flags & PG_FREE)) {
		/* Only an undetected double free puts an allocated page on a
		 * free list: report it and drop the stale entry. */
		irq_restore(flags);
		report_error("double_free", "pfn 0x%lx was on a free list while allocated",
			     (unsigned long)(p - page_array));
		return alloc_unchecked(order, type);
	}
	if (p)
		mark_allocated(p, order, type);
	irq_restore(flags);
	return p;
}

struct page *alloc_pages(unsigned int order, enum page_type type)
{
	struct page *p = alloc_unchecked(order, type);

	if (p)
		poison_check(p, order);
	return p;
}

struct page *alloc_page(enum page_type type)
{
	return alloc_pages(0, type);
}

struct page *alloc_page_zeroed(enum page_type type)
{
	struct page *p = alloc_unchecked(0, type);

	if (p)
		poison_check_zero(p);
	return p;
}

void free_pages(struct page *p, unsigned int order)
{
	uint64_t pfn = p - page_array;
	struct pcp *pcp;
	unsigned int z = zone_of_pfn(pfn);
	struct zone *zone = &zones[z];

	ASSERT_MSG(pfn < max_pfn, "bad page pointer %p", (void *)p);
	/*
	 * Double free: the page is already in the allocator. Freeing it
	 * again would put it on a list twice and hand it out twice.
	 */
	if ((load_relaxed(&p->flags) & PG_FREE) && !injected(page_double_free)) {
		report_error("double_free", "page pfn 0x%lx freed twice (type %u)",
			     (unsigned long)pfn, p->type);
		return;
	}
	/* The count first: a walker that reads poison (or what a reuse
	 * wrote later) and then the count sees it moved (x86 keeps stores
	 * in order; the compiler barrier keeps them there). */
	for (unsigned long i = 0; i < (1ul << order); i++)
		store_relaxed(&p[i].frees, p[i].frees + 1);
	barrier();
	poison_fill(p, order);

	uint64_t flags = irq_save();
	pcp = &pcps[smp_processor_id()];
	pcp->in_use[p->type] -= 1l << order;
	for (unsigned long i = 0; i < (1ul << order); i++) {
		p[i].flags |= PG_FREE;
		p[i].type = PAGE_FREE_TYPE;
	}
	if (order == 0) {
		if (pcp->count[z] == PCP_HIGH) {
			spin_lock(&zone->lock);
			while (pcp->count[z] > PCP_HIGH - PCP_BATCH * 2)
				buddy_free(zone, pcp->pages[z][--pcp->count[z]], 0);
			spin_unlock(&zone->lock);
		}
		pcp->pages[z][pcp->count[z]++] = p;
	} else {
		spin_lock(&zone->lock);
		buddy_free(zone, p, order);
		spin_unlock(&zone->lock);
	}
	irq_restore(flags);
}

void free_page(struct page *p)
{
	free_pages(p, 0);
}

bool put_page(struct page *p)
{
	int32_t left = __atomic_sub_fetch(&p->refcount, 1, __ATOMIC_ACQ_REL);

	ASSERT_MSG(left >= 0, "pfn 0x%lx refcount underflow", (unsigned long)(p - page_array));
	if (left)
		return false;
	if (p->flags & PG_HEAD) {
		p->flags &= ~PG_HEAD;
		free_pages(p, p->order);
	} else {
		free_page(p);
	}
	return true;
}

void page_make_compound(struct page *p, unsigned int order)
{
	ASSERT_MSG(load_relaxed(&p->refcount) == 1, "pfn 0x%lx: compound with %d references",
		   (unsigned long)(p - page_array), p->refcount);
	p->order = (uint8_t)order;
	p->flags |= PG_HEAD;
}

void page_split_compound(struct page *p)
{
	unsigned int order = p->order;

	ASSERT_MSG((p->flags & PG_HEAD) && load_relaxed(&p->refcount) == 1,
		   "pfn 0x%lx: split of a page that is not an unshared compound (flags %x refs %d)",
		   (unsigned long)(p - page_array), p->flags, p->refcount);
	p->flags &= ~PG_HEAD;
	for (unsigned long i = 1; i < (1ul << order); i++) {
		p[i].private = 0;
		store_relaxed(&p[i].refcount, 1);
	}
}

void page_cache_drain_this_cpu(void)
{
	uint64_t flags = irq_save();
	struct pcp *pcp = &pcps[smp_processor_id()];

	for (unsigned int z = 0; z < NR_ZONES; z++) {
		spin_lock(&zones[z].lock);
		while (pcp->count[z])
			buddy_free(&zones[z], pcp->pages[z][--pcp->count[z]], 0);
		spin_unlock(&zones[z].lock);
	}
	irq_restore(flags);
}

long pages_in_use(enum page_type type)
{
	long n = 0;

	for (unsigned int c = 0; c < MAX_CPUS; c++)
		n += load_relaxed(&pcps[c].in_use[type]);
	return n;
}

long pages_in_use_total(void)
{
	long n = 0;

	for (unsigned int t = PAGE_KERNEL; t < NR_PAGE_TYPES; t++)
		n += pages_in_use(t);
	return n;
}

uint64_t pages_free(void)
{
	return pages_managed() - pages_in_use_total();
}

uint64_t pages_managed(void)
{
	uint64_t n = 0;

	for (unsigned int z = 0; z < NR_ZONES; z++)
		n += zones[z].managed;
	return n;
}

/* Free [s, e) into the buddy lists, as large blocks as alignment allows
 * (a block never crosses a zone boundary: it is aligned to the largest). */
static void add_free_range(paddr_t s, paddr_t e)
{
	for (uint64_t pfn = s >> PAGE_SHIFT; pfn < e >> PAGE_SHIFT;) {
		unsigned int order = 0;
		struct zone *zone = &zones[zone_of_pfn(pfn)];

		while (order + 1 < MAX_ORDER && !(pfn & ((2ul << order) - 1)) &&
		       pfn + (2ul << order) <= e >> PAGE_SHIFT)
			order++;
		struct page *p = &page_array[pfn];
		for (unsigned long i = 0; i < (1ul << order); i++) {
			p[i].flags = PG_FREE;
			p[i].type = PAGE_FREE_TYPE;
		}
		poison_fill(p, order);
		spin_lock(&zone->lock);
		buddy_free(zone, p, order);
		spin_unlock(&zone->lock);
		zone->managed += 1ul << order;
		pfn += 1ul << order;
	}
}

/* Subtract reserved [rs, re) from the free piece [s, e) and recurse on
 * what is left. */
static void add_free_minus(paddr_t s, paddr_t e, const paddr_t (*resv)[2], unsigned int n)
{
	if (s >= e)
		return;
	for (unsigned int i = 0; i < n; i++) {
		paddr_t rs = resv[i][0], re = resv[i][1];
		if (re <= s || rs >= e)
			continue;
		add_free_minus(s, rs, resv + i + 1, n - i - 1);
		add_free_minus(re, e, resv + i + 1, n - i - 1);
		return;
	}
	add_free_range(s, e);
}

void page_alloc_init(const struct boot_info *bi)
{
	paddr_t resv[2 + BOOT_MAX_MODULES][2];
	unsigned int nresv = 0;

	for (unsigned int i = 0; i < bi->nranges; i++) {
		const struct mem_range *r = &bi->ranges[i];
		uint64_t end = (r->base + r->len) >> PAGE_SHIFT;
		if (r->type == MEM_USABLE && end > max_pfn)
			max_pfn = end;
	}
	page_array = phys_to_virt(early_alloc(max_pfn * sizeof(struct page)));
	for (uint64_t pfn = 0; pfn < max_pfn; pfn++)
		page_array[pfn].flags = PG_RESERVED;
	/* The kernel zone is the lowest quarter of the address range, the
	 * tables' the next eighth, the data pages' the rest. */
	zone_start_pfn[ZONE_TABLE] = block_round_up(max_pfn / 4);
	zone_start_pfn[ZONE_DATA] = block_round_up(max_pfn / 4 + max_pfn / 8);

	resv[nresv][0] = (paddr_t)(uintptr_t)_kernel_phys_start & PAGE_MASK;
	resv[nresv++][1] = virt_to_phys(_kernel_end);
	early_alloc_range(&resv[nresv][0], &resv[nresv][1]);
	nresv++;
	for (unsigned int m = 0; m < bi->nmodules; m++) {
		resv[nresv][0] = bi->modules[m].base & PAGE_MASK;
		resv[nresv++][1] = (bi->modules[m].base + bi->modules[m].len + PAGE_SIZE - 1) & PAGE_MASK;
	}

	for (unsigned int i = 0; i < bi->nranges; i++) {
		paddr_t s, e;

		if (!mem_range_usable_pages(&bi->ranges[i], &s, &e))
			continue;
		/* Below 1 MiB stays with the firmware and the AP trampoline. */
		if (s < 0x100000)
			s = 0x100000;
		add_free_minus(s, e, resv, nresv);
	}
	ready = true;
}
