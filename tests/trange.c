/* The range phase machine: see tests/trange.h. */
#include "tests/trange.h"
#include "arch/x86/pte.h"
#include "kernel/atomic.h"
#include "kernel/report.h"
#include "mm/fault.h"
#include "mm/mmap.h"
#include "mm/pgtable.h"

static const char *const phase_names[] = { "MAPPING", "LIVE", "ZAPPING", "ZEROED", "UNMAPPING", "DEAD" };

void range_init(struct trange *t, uintptr_t addr, unsigned int npages, unsigned int owner)
{
	t->addr = addr;
	t->npages = npages;
	t->owner = owner;
	t->state = STATE(0, PH_DEAD);
}

static uint64_t tag(uintptr_t addr, uint64_t gen, unsigned int page)
{
	return 0x7a00000000000000ull | (addr >> 12) << 28 | (gen & 0xfffff) << 8 | page;
}

static void publish(struct trange *t, uint64_t gen, enum phase ph)
{
	store_release(&t->state, STATE(gen, ph));
}

/*
 * A range munmap removed has no PTE until it is mapped again: one found
 * here was installed after the munmap's zap by a fault that did not see
 * its VMA go (or was missed by the zap). The owner checks just before it
 * maps the range again, the last moment such a PTE is told apart from
 * the new mapping's.
 */
static void check_dead_range(struct mm *mm, const struct trange *t)
{
	mmap_read_lock(mm);
	for (unsigned int i = 0; i < t->npages; i++) {
		uintptr_t va = t->addr + i * PAGE_SIZE;
		struct page *pt;
		pte_t *pte = pt_walk_lock(mm, va, PT_NO_ALLOC, &pt);
		if (!pte)
			continue;
		pte_t v = READ_ONCE(*pte);
		spin_unlock(&pt->ptl);
		if (!pte_none(v)) {
			report_error("stale_tlb", "cpu %u: %lx is mapped (PTE %lx) while its range is "
				     "unmapped (since generation %llu): installed after munmap zapped it",
				     smp_processor_id(), va, v, (unsigned long long)GEN(t->state));
			break;
		}
	}
	mmap_read_unlock(mm);
}

void range_step(struct mm *mm, struct trange *t, struct prng *r)
{
	uint64_t s = load_relaxed(&t->state), g = GEN(s);
	size_t len = t->npages * PAGE_SIZE;

	switch (PH(s)) {
	case PH_DEAD:
		check_dead_range(mm, t);
		g++;
		publish(t, g, PH_MAPPING);
		if (vm_mmap(mm, t->addr, len, PROT_READ | PROT_WRITE, MAP_FIXED) < 0) {
			publish(t, g, PH_DEAD);
			return;
		}
		for (unsigned int i = 0; i < t->npages; i += 4)
			user_write_u64(t->addr + i * PAGE_SIZE, tag(t->addr, g, i));
		publish(t, g, PH_LIVE);
		break;
	case PH_LIVE:
		if (prng_below(r, 3) == 0) {
			publish(t, g, PH_ZAPPING);
			vm_madvise_dontneed(mm, t->addr, len);
			publish(t, g, PH_ZEROED);
			break;
		}
		/* fall through */
	case PH_ZEROED:
		publish(t, g, PH_UNMAPPING);
		vm_munmap(mm, t->addr, len);
		publish(t, g, PH_DEAD);
		break;
	}
}

static bool value_allowed(const struct trange *t, uint64_t s, unsigned int i, uint64_t v)
{
	uint64_t g = GEN(s);

	switch (PH(s)) {
	case PH_MAPPING:
	case PH_ZAPPING:
	case PH_UNMAPPING:
		return v == 0 || (range_page_tagged(i) && v == tag(t->addr, g, i));
	case PH_LIVE:
		return v == (range_page_tagged(i) ? tag(t->addr, g, i) : 0);
	case PH_ZEROED:
		return v == 0;
	default:
		return false;
	}
}

void range_check_read(struct trange *t, unsigned int i, const char *who)
{
	unsigned int me = smp_processor_id();
	uintptr_t addr = t->addr + i * PAGE_SIZE;
	uint64_t v = 0;
	uint64_t s1 = load_acquire(&t->state);
	int r = user_read_u64(addr, &v);
	uint64_t s2 = load_acquire(&t->state);

	if (r == 0) {
		if (s1 == s2 && PH(s1) == PH_DEAD) {
			report_error("stale_tlb", "%s: cpu %u read %lx = %lx after munmap of generation "
				     "%llu returned", who, me, addr, v, (unsigned long long)GEN(s1));
			return;
		}
		if (s2 - s1 > 16)
			return;		/* many steps went by: nothing to say */
		for (uint64_t s = s1; s <= s2; s++)
			if (PH(s) < NR_PHASES && value_allowed(t, s, i, v))
				return;
		report_error("wrong_data", "%s: cpu %u read %lx = %lx%s, expected %lx or 0 "
			     "(phases %s(%llu)..%s(%llu))", who, me, addr, v,
			     v == PAGE_POISON ? " (poison: a freed page)" : "",
			     range_page_tagged(i) ? tag(t->addr, GEN(s1), i) : 0, phase_names[PH(s1)],
			     (unsigned long long)GEN(s1), phase_names[PH(s2)], (unsigned long long)GEN(s2));
		return;
	}
	if (GEN(s1) == GEN(s2) && PH(s1) >= PH_LIVE && PH(s2) <= PH_ZEROED)
		report_error("lost_mapping", "%s: cpu %u: read of %lx faulted while generation %llu "
			     "was mapped (%s..%s)", who, me, addr, (unsigned long long)GEN(s1),
			     phase_names[PH(s1)], phase_names[PH(s2)]);
}
