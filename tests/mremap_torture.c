/*
 * Suite "mremap_torture": VMAs that move, with their pages, while every
 * other CPU reads and writes them (mm/mremap.c, (M)).
 *
 * OBJS objects of OBJ_PAGES pages live in SLOTS slots side by side; the
 * other slots are unmapped. Worker 0, the mover, moves a random object to
 * a free slot with mremap, or drops some of an object's pages (madvise),
 * and publishes each slot's state around the change: empty, or holding
 * object o, or moving. The others pick a slot, a page and a word and
 * read it, or write their own word (worker w owns word w of every page);
 * every value written carries a tag naming its object, page and word.
 *   - A slot that was empty throughout the access must fault: a read
 *     that succeeds used a translation mremap left behind (stale_tlb).
 *   - A slot that held object o throughout must not fault
 *     (lost_mapping), and every word read must be 0 or tagged for o,
 *     that page and that word (else stale_tlb: another object's page).
 *   - A worker's own word holds its last write, unless a drop of that
 *     object overlapped either (lost_write: a write that succeeded, even
 *     one that raced with the move of its object, landed in a page the
 *     move left behind).
 * A read is judged only when its slot's state, sequence number included,
 * is the same before and after it. A slot is given to a moving object
 * only after every write that saw it in its earlier state has ended: a
 * worker publishes the slot it is about to write (inflight) before it
 * reads the slot's state, and the mover marks the slot before it waits
 * for those (a store-buffer pairing, both sides with a full barrier
 * between). So a write to a slot seen holding o lands in o's page or
 * faults.
 * Faults take whatever path fault= says; VMA-lock readers now and then
 * wait for a writer to mark their VMA (tests/spf_delays.h).
 */
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/prng.h"
#include "kernel/report.h"
#include "kernel/string.h"
#include "mm/fault.h"
#include "mm/mm.h"
#include "mm/mmap.h"
#include "mm/mremap.h"
#include "tests/ktap.h"
#include "tests/spf_delays.h"
#include "tests/torture.h"

#define SLOTS		8
#define OBJS		4
#define OBJ_PAGES	8
#define SLOT_LEN	(OBJ_PAGES * PAGE_SIZE)

/* A slot's state: the object it holds plus one (0: none), whether it is
 * changing, and a sequence number that moves at every change. */
#define ST_OBJ(s)	((unsigned int)((s) & 0xff))
#define ST_MOVING	0x100ull
#define ST_SEQ		0x200ull

/* A value written: object + 1, page, word (its writer), count. */
#define TAG(o, i, w)	(((uint64_t)(o) + 1) << 56 | (uint64_t)(i) << 48 | (uint64_t)(w) << 40)
#define TAG_MASK	(~0ull << 40)
#define UNKNOWN		(~0ull)

/* Protection: (c) set before the workers start, (a) atomic: slot states
 * and drop generations written by the mover with release and read with
 * acquire, inflight written by its worker and read by the mover, (k) the
 * mover only, (o) each worker its own. */
static struct {
	struct torture t;
	uintptr_t base;				/* (c) */
	uint64_t slot[SLOTS];			/* (a) */
	uint64_t dgen[OBJS];			/* (a) odd while pages of the object are dropped */
	int inflight[TORTURE_MAX_WORKERS];	/* (a) slot + 1 being accessed, 0 none */
	struct { uint64_t v, dgen; } last[TORTURE_MAX_WORKERS][OBJS][OBJ_PAGES];	/* (o) */
	unsigned int where[OBJS];		/* (k) */
	uint64_t seq;				/* (k) */
	unsigned long moves, drops;		/* (k) */
	unsigned long reads[TORTURE_MAX_WORKERS], writes[TORTURE_MAX_WORKERS];	/* (o) */
	unsigned long empty_reads[TORTURE_MAX_WORKERS];				/* (o) */
} rt;

static uintptr_t slot_va(unsigned int s)
{
	return rt.base + (uintptr_t)s * SLOT_LEN;
}

static void set_slot(unsigned int s, unsigned int obj_plus_1, uint64_t flags)
{
	rt.seq += ST_SEQ;
	store_release(&rt.slot[s], rt.seq | flags | obj_plus_1);
}

/* Wait until no worker writes slot s under an earlier state; s is
 * marked moving already. */
static void wait_inflight(unsigned int s)
{
	smp_mb();	/* the mark before the reads of inflight: pairs with access() */
	for (unsigned int w = 1; w < torture_workers(&rt.t); w++)
		while (load_acquire(&rt.inflight[w]) == (int)s + 1)
			cpu_relax();
}

/*
 * The move a VMA-lock reader waits for (vma_write_hint): half the time
 * the object whose VMA it holds, half the time another object into a
 * free slot beside that one, where the moved VMA merges with the held
 * one (a writer must mark every VMA it merges, not only those it
 * covers). Without a hint, or without a free slot beside it, a random
 * object to a random free slot.
 */
static void pick_move(struct prng *rng, unsigned int *obj, unsigned int *dst)
{
	uintptr_t h = atomic_xchg(&vma_write_hint, 0);
	unsigned int o = prng_below(rng, OBJS), s;

	for (unsigned int i = 0; h && i < OBJS; i++) {
		s = rt.where[i];
		if (h < slot_va(s) || h >= slot_va(s) + SLOT_LEN)
			continue;
		o = i;
		if (prng_below(rng, 2) == 0)
			break;
		unsigned int side = s == 0 ? 1 : s == SLOTS - 1 ? s - 1 : prng_below(rng, 2) ? s + 1 : s - 1;
		if (ST_OBJ(rt.slot[side]))
			break;
		*obj = (i + 1 + prng_below(rng, OBJS - 1)) % OBJS;
		*dst = side;
		return;
	}
	*obj = o;
	do
		s = prng_below(rng, SLOTS);
	while (ST_OBJ(rt.slot[s]));
	*dst = s;
}

static void move_object(struct prng *rng)
{
	unsigned int o, dst;

	pick_move(rng, &o, &dst);
	unsigned int src = rt.where[o];
	set_slot(src, o + 1, ST_MOVING);
	set_slot(dst, o + 1, ST_MOVING);
	wait_inflight(dst);
	long r = vm_mremap(rt.t.mm, slot_va(src), SLOT_LEN, slot_va(dst));
	if (r != (long)slot_va(dst)) {
		ktap_error("mremap_torture: mremap of %lx to %lx returned %ld", slot_va(src), slot_va(dst), r);
		return;
	}
	rt.where[o] = dst;
	set_slot(src, 0, 0);
	set_slot(dst, o + 1, 0);
	rt.moves++;
}

static void drop_pages(struct prng *rng)
{
	unsigned int o = prng_below(rng, OBJS), first = prng_below(rng, OBJ_PAGES);
	unsigned int n = 1 + prng_below(rng, OBJ_PAGES - first);

	store_release(&rt.dgen[o], rt.dgen[o] + 1);
	smp_mb();	/* odd before the zap: a worker that reads it even after its access saw no zap */
	vm_madvise_dontneed(rt.t.mm, slot_va(rt.where[o]) + first * PAGE_SIZE, n * PAGE_SIZE);
	store_release(&rt.dgen[o], rt.dgen[o] + 1);
	rt.drops++;
}

static void mover(struct prng *rng)
{
	while (torture_running(&rt.t)) {
		if (prng_below(rng, 4) == 0)
			drop_pages(rng);
		else
			move_object(rng);
		torture_delay(rng, 300000);
	}
	torture_stop(&rt.t);
}

/* A read of word w of page i at slot s, which held state st throughout. */
static void check_read(unsigned int me, unsigned int s, unsigned int i, unsigned int w, uint64_t st, int r,
		       uint64_t v, uint64_t d1, uint64_t d2)
{
	uintptr_t a = slot_va(s) + i * PAGE_SIZE + w * 8;

	if (!ST_OBJ(st)) {
		rt.empty_reads[me]++;
		if (r == 0)
			report_error("stale_tlb", "mremap_torture: worker %u: read of %lx in an empty slot succeeded "
				     "(%llx): a translation outlived the mremap that moved its object away",
				     me, a, (unsigned long long)v);
		return;
	}
	unsigned int o = ST_OBJ(st) - 1;
	if (r != 0) {
		report_error("lost_mapping", "mremap_torture: worker %u: read of %lx (object %u) faulted", me, a,
			     o);
		return;
	}
	if (v && (v & TAG_MASK) != TAG(o, i, w)) {
		report_error("stale_tlb", "mremap_torture: worker %u: %lx (object %u page %u word %u) holds %llx, "
			     "written for object %llu page %llu", me, a, o, i, w, (unsigned long long)v,
			     (unsigned long long)(v >> 56) - 1, (unsigned long long)(v >> 48 & 0xff));
		return;
	}
	if (w != me || rt.last[me][o][i].v == UNKNOWN || d1 != d2 || d1 != rt.last[me][o][i].dgen)
		return;
	if (v != rt.last[me][o][i].v)
		report_error("lost_write", "mremap_torture: worker %u: %lx (object %u page %u) holds %llx, its "
			     "last write was %llx", me, a, o, i, (unsigned long long)v,
			     (unsigned long long)rt.last[me][o][i].v);
}

/*
 * A write to the worker's own word of page i at slot s, if s holds an
 * object that is not moving. inflight keeps s from changing hands under
 * the write (wait_inflight()); reads need no such guard: a read is
 * judged only when the slot's state, sequence number included, was the
 * same before and after it.
 */
static bool write_own(unsigned int me, unsigned int s, unsigned int i, uint64_t *count)
{
	uintptr_t a = slot_va(s) + i * PAGE_SIZE + me * 8;

	store_relaxed(&rt.inflight[me], (int)s + 1);
	smp_mb();	/* inflight before the state: pairs with wait_inflight() */
	uint64_t st = load_acquire(&rt.slot[s]);
	unsigned int o = ST_OBJ(st) - 1;
	if (!ST_OBJ(st) || (st & ST_MOVING)) {
		store_release(&rt.inflight[me], 0);
		return false;
	}
	uint64_t d1 = load_acquire(&rt.dgen[o]);
	uint64_t v = TAG(o, i, me) | ++*count;
	int r = user_write_u64(a, v);
	uint64_t d2 = load_acquire(&rt.dgen[o]);
	if (r == 0) {
		/* In o's page: the slot cannot change hands while we are in
		 * flight. Known unless a drop overlapped. */
		rt.last[me][o][i].v = d1 == d2 && !(d1 & 1) ? v : UNKNOWN;
		rt.last[me][o][i].dgen = d1;
		rt.writes[me]++;
	} else if (load_acquire(&rt.slot[s]) == st) {
		report_error("lost_mapping", "mremap_torture: worker %u: write to %lx (object %u) faulted", me, a, o);
	}
	store_release(&rt.inflight[me], 0);
	return true;
}

static void access(struct prng *rng, unsigned int me, uint64_t *count)
{
	unsigned int s = prng_below(rng, SLOTS), i = prng_below(rng, OBJ_PAGES);
	unsigned int w = prng_below(rng, 2) ? me : 1 + prng_below(rng, torture_workers(&rt.t) - 1);
	uintptr_t a = slot_va(s) + i * PAGE_SIZE + w * 8;
	uint64_t v = 0;

	if (w == me && prng_below(rng, 2) && write_own(me, s, i, count))
		return;
	uint64_t st = load_acquire(&rt.slot[s]);
	unsigned int o = ST_OBJ(st) - 1;
	uint64_t d1 = ST_OBJ(st) ? load_acquire(&rt.dgen[o]) : 0;
	int r = user_read_u64(a, &v);
	uint64_t d2 = ST_OBJ(st) ? load_acquire(&rt.dgen[o]) : 0;
	if (load_acquire(&rt.slot[s]) == st && !(st & ST_MOVING))
		check_read(me, s, i, w, st, r, v, d1, d2);
	rt.reads[me]++;
}

static void mremap_worker(void *arg)
{
	struct prng rng;
	uint64_t count = 0;

	(void)arg;
	torture_worker_start(&rt.t, &rng, 9950);
	unsigned int me = torture_me();
	if (me == 0) {
		mover(&rng);
		return;
	}
	/* rt.last starts zeroed: a word never written reads 0. */
	while (!torture_stopped(&rt.t)) {
		access(&rng, me, &count);
		torture_delay(&rng, 20000);
	}
}

static void mremap_torture_run(void)
{
	static const struct torture_needs needs = { .cpus = 2, .mm = TORTURE_OWN_MM };
	unsigned long reads = 0, writes = 0, empty = 0, moved_before = load_relaxed(&mremap_pages);

	memset(&rt, 0, sizeof(rt));
	if (!torture_begin(&rt.t, &needs))
		return;
	long addr = vm_mmap(rt.t.mm, 0, SLOTS * SLOT_LEN, PROT_READ | PROT_WRITE, 0);
	if (addr < 0) {
		KTAP_EXPECT(false, "mmap of %u slots failed (%ld)", SLOTS, addr);
		torture_end(&rt.t);
		return;
	}
	rt.base = (uintptr_t)addr;
	/* Objects in the first slots; the others empty. */
	for (unsigned int s = 0; s < SLOTS; s++) {
		if (s < OBJS) {
			rt.where[s] = s;
			set_slot(s, s + 1, 0);
		} else {
			vm_munmap(rt.t.mm, slot_va(s), SLOT_LEN);
			set_slot(s, 0, 0);
		}
	}
	torture_speculate(&rt.t, rt.base, SLOTS * SLOT_LEN);
	spf_delays_on(rt.t.mm, SPF_DELAYS_VMA_WRITER);
	torture_run(&rt.t, mremap_worker, NULL);
	spf_delays_off();
	for (unsigned int w = 0; w < torture_workers(&rt.t); w++) {
		reads += rt.reads[w];
		writes += rt.writes[w];
		empty += rt.empty_reads[w];
	}
	unsigned long moved = load_relaxed(&mremap_pages) - moved_before;
	ktap_diag("%lu moves (%lu pages moved), %lu drops; %lu writes, %lu reads (%lu checked in empty slots)",
		  rt.moves, moved, rt.drops, writes, reads, empty);
	TORTURE_EXPECT_WORK(&rt.t, rt.moves > 10 && writes > 100 && empty > 10,
			    "too little done: %lu moves, %lu writes, %lu reads of empty slots", rt.moves, writes,
			    empty);
	torture_end(&rt.t);
}

static const struct ktap_case mremap_cases[] = { { "torture", mremap_torture_run } };
KTAP_SUITE(mremap_torture, mremap_cases);
