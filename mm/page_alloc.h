/*
 * Physical page allocator: a struct page per frame, a buddy allocator
 * with per-CPU caches of single pages, poisoning of free pages (the
 * pattern of arch/x86/pte.h) with a check on allocation, double-free
 * detection, and per-type accounting for leak checks.
 *
 * Lock order: per-CPU cache (interrupts off) -> zone lock.
 */
#ifndef MM_PAGE_ALLOC_H
#define MM_PAGE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch/x86/pte.h"
#include "kernel/rcu_types.h"
#include "kernel/spinlock.h"

struct boot_info;

enum page_type {
	PAGE_FREE_TYPE,		/* on a free list */
	PAGE_KERNEL,		/* generic kernel use */
	PAGE_TABLE_KERNEL,	/* kernel-half page tables */
	PAGE_TABLE,		/* page tables of test address spaces */
	PAGE_ANON,		/* data pages of test address spaces */
	PAGE_KMALLOC,
	PAGE_TEST,		/* allocated directly by tests */
	NR_PAGE_TYPES,
};

#define PG_FREE		(1u << 0)	/* in the allocator (buddy or per-CPU cache) */
#define PG_BUDDY	(1u << 1)	/* head of a free buddy block */
#define PG_RESERVED	(1u << 2)	/* never handed out */
#define PG_HEAD		(1u << 3)	/* (t) first page of a huge page, freed whole */

/*
 * Protection: (z) zone lock, (a) atomic, (t) the page's owner,
 * (p) ptl itself protects the PTEs of a page-table page.
 */
struct page {
	uint32_t flags;			/* (z) while free; (t) otherwise */
	int32_t refcount;		/* (a) */
	uint8_t order;			/* (z) of a free buddy block; (t) of a PG_HEAD page */
	uint8_t type;			/* (t) enum page_type */
	uint16_t pad;
	/* (a) Bumped each time the page is freed, before its poison is
	 * written: a lockless walker that reads it before and after reading
	 * from the page knows whether the page was freed in between, even
	 * if it was already reused and holds valid-looking data. */
	uint32_t frees;
	struct page *next, *prev;	/* (z) free lists; (t) owner's lists */
	spinlock_t ptl;			/* page-table lock for PTE tables */
	uint16_t pad3;
	struct rcu_head rcu;		/* (t) deferred freeing */
	uint64_t private;		/* (t) owner's use */
};
_Static_assert(sizeof(struct page) == 64, "struct page is one cache line");

extern struct page *page_array;		/* (c) indexed by PFN */
extern uint64_t max_pfn;		/* (c) */

static inline paddr_t page_to_phys(const struct page *p)
{
	return (paddr_t)(p - page_array) << PAGE_SHIFT;
}
static inline struct page *phys_to_page(paddr_t pa)
{
	return &page_array[pa >> PAGE_SHIFT];
}
static inline void *page_address(const struct page *p)
{
	return phys_to_virt(page_to_phys(p));
}
static inline struct page *virt_to_page(const void *va)
{
	return phys_to_page(virt_to_phys(va));
}

void page_alloc_init(const struct boot_info *bi);
bool page_alloc_ready(void);

/* Allocate 2^order contiguous pages. Contents are the poison pattern
 * (checked); NULL when memory is exhausted. Any context but NMI. */
struct page *alloc_pages(unsigned int order, enum page_type type);
struct page *alloc_page(enum page_type type);
struct page *alloc_page_zeroed(enum page_type type);
void free_pages(struct page *p, unsigned int order);
void free_page(struct page *p);

/* Reference counting for pages shared by walkers (gup_fast). */
static inline void get_page(struct page *p)
{
	__atomic_add_fetch(&p->refcount, 1, __ATOMIC_RELAXED);
}
/* Returns true if this dropped the last reference (and freed the page,
 * all 2^order of them for a PG_HEAD page). */
bool put_page(struct page *p);

/*
 * Huge pages (mm/huge.c): make the 2^order pages at p, allocated as one
 * block, one page freed whole by put_page() (compound); or split such a
 * page into 2^order single pages with one reference each. The caller
 * owns the only reference.
 */
void page_make_compound(struct page *p, unsigned int order);
void page_split_compound(struct page *p);

/* Pages in use of a type, summed over CPUs (racy snapshot). */
long pages_in_use(enum page_type type);
long pages_in_use_total(void);
uint64_t pages_free(void);
uint64_t pages_managed(void);

/* Drain this CPU's cache back to the buddy lists (for tests). */
void page_cache_drain_this_cpu(void);

bool page_poison_intact(const struct page *p);

#endif
