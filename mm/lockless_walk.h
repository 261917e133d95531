/*
 * Walking page tables without mmap_lock, and what keeps the tables alive
 * while a walker reads them: the walker protection.
 *
 * This is the question the kernel tests. Tables are unhooked under a
 * PTE-table lock or mmap_lock and freed after the flush that follows
 * (mm/tlb.c draws that protocol): at once after the synchronous IPI with
 * pt_free=ipi, after an RCU grace period with pt_free=rcu. A lockless
 * walker is safe when its protection holds off whichever free is in force:
 *
 *   protection      holds off pt_free=ipi     holds off pt_free=rcu
 *   interrupts off  yes (delays the ack)      rcu=sched only (an irqs-off
 *                                             region is a reader there)
 *   RCU read side   no (the IPI is served)    yes
 *   nothing         no                        no
 *
 * Every lockless walker takes its protection here, so one place says which
 * walker is protected how:
 *   WALKER_SPF  the speculative fault: what spf_walk= says (the matrix's
 *               variable; spf_walk=none is its seeded bug)
 *   WALKER_GUP  gup_fast: interrupts off always, as every lockless
 *               get-user-page does, plus a read section with spf_walk=rcu,
 *               so the matrix cell speaks for both walkers
 *   WALKER_PTL  the locked paths finding a PTE table to lock under the
 *               mmap_lock read side, where madvise may unhook and free it
 *               concurrently: interrupts off and a read section, safe
 *               under every pt_free and flavor
 *
 * The walk checks, at every level, whether the table it holds was freed
 * under it (its page's free count moved, its entries read as poison, or
 * it points at a page that is no table) and reports uaf_table: a working
 * protection never lets that happen.
 */
#ifndef MM_LOCKLESS_WALK_H
#define MM_LOCKLESS_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/pte.h"
#include "mm/debug.h"

struct mm;
struct page;

enum spf_walk_mode { SPF_WALK_IRQOFF, SPF_WALK_RCU, SPF_WALK_NONE };
extern int spf_walk_mode;	/* (c) spf_walk= */

enum walker { WALKER_SPF, WALKER_GUP, WALKER_PTL };

struct walk_prot {
	enum walker who;
	uint64_t flags;		/* interrupt state to restore */
	bool irqoff, rcu;	/* what was taken */
};

/* Take / drop the protection of a walker of kind who (see above). Any
 * context; pairs must nest. */
void walk_prot_enter(struct walk_prot *p, enum walker who);
void walk_prot_leave(struct walk_prot *p);

/*
 * A lockless walk to the PTE of addr, and the table it ended in. Set up
 * by walk_lockless(); read the PTE with walk_read_pte().
 */
struct lockless_walk {
	const char *who;	/* for reports: "speculative fault", "gup_fast" */
	struct mm *mm;
	uintptr_t addr;
	pte_t *pmdp;		/* the entry pointing at the PTE table */
	pte_t pmdval;		/* its value when the walk crossed it */
	pte_t *ptep;		/* the PTE of addr */
	struct page *pt;	/* the PTE table's page */
	uint32_t pt_frees;	/* its free count when the walk took it */
	bool freed;		/* a table was found freed under the walk (reported) */
};

/*
 * Walk mm's tables to the PTE of addr with single reads, passing stall
 * point at (kernel/stall.h) after each level. Returns true with w->ptep set, or
 * false: a level is missing or huge, or a table was freed under the walk
 * (w->freed, reported as uaf_table). The walker's protection is held.
 */
bool walk_lockless(struct lockless_walk *w, struct mm *mm, uintptr_t addr, const char *who,
		   struct stall_point *at);

/* Read the PTE the walk found, then check that its table was not freed
 * meanwhile. Returns false (w->freed, reported) if it was. */
bool walk_read_pte(struct lockless_walk *w, pte_t *pte);

#endif
