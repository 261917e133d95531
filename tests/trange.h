/*
 * The range phase machine shared by unmap_torture and tlb_torture.
 *
 * Ranges of an address space move through published phases; CPUs that
 * read or write them classify every access by the phases they saw before
 * and after it:
 *
 *   MAPPING(g)    mmap(g) running: a read may fault, see 0 or g's tag
 *   LIVE(g)       must succeed: g's tag (tagged pages) or 0 (untouched)
 *   ZAPPING(g)    madvise(DONTNEED) running: tag or 0
 *   ZEROED(g)     madvise returned: must succeed with 0
 *   UNMAPPING(g)  munmap(g) running: may fault, or tag / 0 of g
 *   DEAD(g)       munmap returned: must fault
 *
 * A success in DEAD is a stale TLB entry (or a PTE that outlived its
 * VMA): stale_tlb. A value no phase in between allows (poison from a
 * freed page, another generation's tag) is wrong_data. A fault where the
 * VMA existed throughout is lost_mapping. The state is published with
 * release after each step and read with acquire around each access, so
 * "s1 == s2 == DEAD" means munmap had returned before the access began.
 */
#ifndef TESTS_TRANGE_H
#define TESTS_TRANGE_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/percpu.h"
#include "kernel/prng.h"
#include "mm/mm.h"

enum phase { PH_MAPPING, PH_LIVE, PH_ZAPPING, PH_ZEROED, PH_UNMAPPING, PH_DEAD, NR_PHASES };
/* A published state: generation and phase in one word. */
#define STATE(g, ph)	((g) * 8 + (ph))
#define GEN(s)		((s) / 8)
#define PH(s)		((s) % 8)

/* Protection: (c) constant after range_init(), (a) atomic. */
struct trange {
	uint64_t state;			/* (a) published phase: release by the owner, acquire by readers */
	uintptr_t addr;			/* (c) */
	unsigned int npages;		/* (c) */
	unsigned int owner;		/* (c) worker (torture_me()) that changes it */
} __cacheline_aligned;

/* Set up an unmapped range (DEAD of generation 0), before the workers start. */
void range_init(struct trange *t, uintptr_t addr, unsigned int npages, unsigned int owner);

/* Every fourth page gets a tag; the others stay untouched, so readers'
 * faults keep installing the zero page (the speculative path's case). */
static inline bool range_page_tagged(unsigned int page)
{
	return page % 4 == 0;
}

/*
 * Owner only: move the range one step on (map and tag, zap, or unmap),
 * publishing each phase. Before it maps the range again it reports a
 * PTE left in it while it was unmapped (stale_tlb).
 */
void range_step(struct mm *mm, struct trange *t, struct prng *r);

/*
 * Any CPU running on mm: read page i of t and classify the read by the
 * states published around it, reporting stale_tlb, wrong_data or
 * lost_mapping with who (the suite's name) in the message.
 */
void range_check_read(struct trange *t, unsigned int i, const char *who);

#endif
