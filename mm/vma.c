/*
 * The VMA set: see mm/vma.h.
 *
 * Readers (the speculative fault path) load mm->vmas once with
 * rcu_dereference() and binary-search that array; the array and every
 * VMA in it stay valid until the reader's protection ends, because
 * replaced ones are freed only after a grace period. VMAs go through
 * RCU whatever pt_free= and spf_walk= say: the lockless lookup takes a
 * read section of its own (mm/spf.c), so the walker protection under
 * test covers the tables only.
 *
 * (V) The VMA lock (fault=vma_lock; Linux's per-VMA locks). A fault
 *     read-locks the one VMA it needs instead of taking mmap_lock. A
 *     writer (vma_set_range(), under mmap_lock for write) marks every
 *     VMA it is about to change or replace (a neighbour it merges too)
 *     with the mm's current
 *     mm_lock_seq and waits for that VMA's readers to drain; new VMAs are
 *     born marked. mmap_write_unlock() bumps mm_lock_seq, which unmarks
 *     them all at once.
 *
 *   writer (mmap_lock held for write)     fault (vma_start_read)
 *                                         rcu_read_lock(); v = vma_find()
 *   v->lock_seq = mm_lock_seq (mark)      atomic_inc(v->readers) [locked]
 *   smp_mb()                              v->lock_seq == mm_lock_seq?
 *   wait: v->readers == 0                   yes: drop, fall back to mmap_lock
 *   publish the new array                 vma_find() == v? no: drop, fall back
 *   zap, flush, free                      fault under v's read lock
 *   mm_lock_seq++ (release); unlock       atomic_dec(v->readers) [release]
 *
 *   Store-buffer pairing on (lock_seq, readers): either the writer sees
 *   the reader counted and waits for it to finish, or the reader sees the
 *   mark and backs off; a reader that raced with no writer at all is
 *   still refused its VMA by the second check when a whole write section
 *   (publish, zap, unlock) ran between its lookup and its count. Without
 *   the mark check a reader could take the lock after the drain, then
 *   fault while the writer zaps (inject=vma_lock_no_seq_check); without
 *   the recheck it could fault in a VMA already unmapped
 *   (inject=vma_lock_no_recheck); a writer that changes a VMA without
 *   marking it (inject=vma_lock_unmarked_mprotect, or inject=
 *   vma_merge_unmarked for the neighbours a change merges) changes it
 *   under a fault.
 */
#include "mm/vma.h"

#include "arch/x86/pte.h"
#include "kernel/atomic.h"
#include "kernel/errno.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/rcu.h"
#include "kernel/report.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "mm/debug.h"
#include "mm/kmalloc.h"
#include "mm/mm.h"
#include "mm/mmap.h"

DEFINE_STALL(vma_publish, 100, "VMA change: new array built, not yet published");
DEFINE_STALL(vma_published, 100, "VMA change: new array published, old VMAs not yet retired");

DEFINE_STALL(vma_write_drained, 200, "VMA change: old VMAs marked and their readers drained, new array not yet built");
/* Found, not yet counted: only RCU keeps the object; a hold across a
 * grace period lets whole write sections run past the reader. */
DEFINE_STALL_GP(vma_read_found, 50, 16, 1, "VMA lock: VMA found under RCU, reader not yet counted");
DEFINE_STALL(vma_read_counted, 50, "VMA lock: reader counted, mark and mapping not yet rechecked");
DEFINE_STALL(vma_read_locked, 200, "VMA lock: read lock held, the fault not yet begun (a writer drains meanwhile)");

DEFINE_INJECT(vma_free_no_rcu, "replaced VMAs are freed at once, not after a grace period");
DEFINE_INJECT(vma_lock_no_seq_check, "a VMA lock reader does not check the writer's mark (mm_lock_seq)");
DEFINE_INJECT(vma_lock_no_recheck, "a VMA lock reader does not recheck that its VMA is still mapped");
DEFINE_INJECT(vma_merge_unmarked, "a VMA change merges a neighbour of the same protection without marking it");
DEFINE_INJECT(vma_lock_unmarked_mprotect, "mprotect and mmap change VMAs without marking them for the VMA lock");

static struct vma_array *array_alloc(unsigned int n)
{
	struct vma_array *a = kmalloc(sizeof(*a) + n * sizeof(a->v[0]));

	if (a)
		a->n = n;
	return a;
}

static uint64_t next_vma_id;	/* (a) */

/* A new VMA, born marked by the write section of mm that creates it (V). */
static struct vma *vma_new(struct mm *mm, uintptr_t start, uintptr_t end, unsigned int prot)
{
	struct vma *v = kmalloc(sizeof(*v));

	if (v) {
		v->start = start;
		v->end = end;
		v->prot = prot;
		v->id = atomic_add_return(&next_vma_id, 1);
		v->lock_seq = mm->mm_lock_seq;
		v->readers = 0;
	}
	return v;
}

/* (V), the writer's half: mark v and wait for its readers. mmap_lock
 * held for write. */
static void vma_mark_write(struct mm *mm, struct vma *v)
{
	store_relaxed(&v->lock_seq, mm->mm_lock_seq);
	smp_mb();	/* the mark before the readers count: pairs with the reader's locked inc */
	while (load_acquire(&v->readers))
		cpu_relax();
}

enum vma_lock_result vma_start_read(struct mm *mm, struct vma *v, uintptr_t addr)
{
	/* Marked: a writer is inside (no need to count ourselves). */
	if (load_relaxed(&v->lock_seq) == load_acquire(&mm->mm_lock_seq) &&
	    !injected(vma_lock_no_seq_check))
		return VMA_LOCK_MARKED;
	struct spf_hook_ctx ctx = { .mm = mm, .addr = addr, .vma = v };
	stall_ctx(vma_read_found, &ctx);
	preempt_disable();
	atomic_inc(&v->readers);	/* locked: the count before the mark check (V) */
	stall(vma_read_counted);
	if (load_relaxed(&v->lock_seq) == load_acquire(&mm->mm_lock_seq) &&
	    !injected(vma_lock_no_seq_check)) {
		vma_end_read(v);
		return VMA_LOCK_MARKED;
	}
	if (vma_find(mm, addr) != v && !injected(vma_lock_no_recheck)) {
		vma_end_read(v);
		return VMA_LOCK_CHANGED;
	}
	stall_ctx(vma_read_locked, &ctx);
	return VMA_LOCKED;
}

void vma_end_read(struct vma *v)
{
	/* Release: the fault's accesses before a draining writer goes on. */
	__atomic_sub_fetch(&v->readers, 1, __ATOMIC_RELEASE);
	preempt_enable();
}

void vma_mark_all(struct mm *mm)
{
	struct vma_array *a = mm->vmas;

	for (unsigned int i = 0; a && i < a->n; i++)
		vma_mark_write(mm, a->v[i].vma);
}

struct vma *vma_find(struct mm *mm, uintptr_t addr)
{
	return vma_find_in(rcu_dereference(mm->vmas), addr);
}

struct vma *vma_find_in(const struct vma_array *a, uintptr_t addr)
{
	unsigned int lo = 0, hi;

	if (!a)
		return NULL;
	hi = a->n;
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		struct vma *v = a->v[mid].vma;
		/* A lockless reader that finds a freed VMA (poisoned by kfree,
		 * or reused for another object) was not protected long
		 * enough: report, do not use it. */
		if (READ_ONCE(v->id) != a->v[mid].id) {
			report_error("uaf_vma", "cpu %u: VMA lookup of %lx read a freed VMA (id %llu, "
				     "found %llx)", smp_processor_id(), addr,
				     (unsigned long long)a->v[mid].id, (unsigned long long)READ_ONCE(v->id));
			return NULL;
		}
		if (addr < v->start)
			hi = mid;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

/* Free an old VMA once no lockless reader can hold it. inject=
 * vma_free_no_rcu frees at once instead. */
static void vma_retire(struct vma *v)
{
	if (injected(vma_free_no_rcu))
		kfree(v);
	else
		kfree_rcu(v, rcu);
}

int vma_set_range(struct mm *mm, uintptr_t start, uintptr_t end, unsigned int prot)
{
	struct vma_array *old = mm->vmas, *new;
	unsigned int n_old = old ? old->n : 0, n = 0;
	struct vma *mid = NULL, *left = NULL, *right = NULL;

	/* The writers' rule: a change of the array under the read lock
	 * races with another one; both build from the same old array, one
	 * change is lost, and a VMA the other retired stays published.
	 * Refuse it, and say so. */
	if (!rwlock_write_held(&mm->mmap_lock)) {
		report_error("vma_unlocked", "mm %u: VMAs [%lx, %lx) changed without mmap_lock held for write",
			     mm->id, start, end);
		return -EINVAL;
	}
	/* Merge: a VMA of the same protection that the range cuts, or that
	 * touches it, goes into the new VMA whole (so it is marked and
	 * replaced like those the range covers). The range the caller
	 * asked for is [start, end); the new VMA spans [lo, hi). */
	uintptr_t lo = start, hi = end;
	for (unsigned int i = 0; prot != VMA_REMOVE && i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (v->prot != prot)
			continue;
		if (v->start < start && v->end >= start)
			lo = v->start;
		if (v->end > end && v->start <= end)
			hi = v->end;
	}
	/* At most: every old VMA, two edge pieces, and the new one. */
	new = array_alloc(n_old + 3);
	if (!new)
		return -ENOMEM;
	if (prot != VMA_REMOVE && !(mid = vma_new(mm, lo, hi, prot)))
		goto nomem;

	for (unsigned int i = 0; i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (v->end <= lo || v->start >= hi)
			continue;
		if (v->start < lo && !(left = vma_new(mm, v->start, lo, v->prot)))
			goto nomem;
		if (v->end > hi && !(right = vma_new(mm, hi, v->end, v->prot)))
			goto nomem;
	}
	/* (V): every VMA replaced here is marked and drained before the
	 * caller changes a PTE of it. */
	for (unsigned int i = 0; i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (v->end <= lo || v->start >= hi)
			continue;
		if (prot != VMA_REMOVE && injected(vma_lock_unmarked_mprotect))
			continue;
		if ((v->end <= start || v->start >= end) && injected(vma_merge_unmarked))
			continue;	/* a neighbour merged in, outside the range asked for */
		vma_mark_write(mm, v);
	}
	stall_ctx(vma_write_drained, (&(struct spf_hook_ctx){ .mm = mm }));
	/* Build the sorted array: untouched VMAs, with the edge pieces and
	 * the new VMA placed where they belong. */
	for (unsigned int i = 0; i < n_old; i++)
		if (old->v[i].vma->end <= lo)
			new->v[n++] = old->v[i];
	if (left)
		new->v[n++] = (struct vma_ref){ left, left->id };
	if (mid)
		new->v[n++] = (struct vma_ref){ mid, mid->id };
	if (right)
		new->v[n++] = (struct vma_ref){ right, right->id };
	for (unsigned int i = 0; i < n_old; i++)
		if (old->v[i].vma->start >= hi)
			new->v[n++] = old->v[i];
	new->n = n;

	/* Publish: the array and new VMAs are fully written before a
	 * lockless reader can find them (pairs with rcu_dereference()). */
	stall(vma_publish);
	rcu_assign_pointer(mm->vmas, new);
	stall(vma_published);
	for (unsigned int i = 0; i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (!(v->end <= lo || v->start >= hi))
			vma_retire(v);
	}
	if (old)
		kfree_rcu(old, rcu);
	return 0;

nomem:
	kfree(left);
	kfree(right);
	kfree(mid);
	kfree(new);
	return -ENOMEM;
}

bool vma_overlaps(struct mm *mm, uintptr_t start, uintptr_t end)
{
	struct vma_array *a = mm->vmas;

	for (unsigned int i = 0; a && i < a->n; i++)
		if (a->v[i].vma->start < end && a->v[i].vma->end > start)
			return true;
	return false;
}

struct vma *vma_stack_above(struct mm *mm, uintptr_t addr, uintptr_t max_grow, uintptr_t guard)
{
	struct vma_array *a = mm->vmas;
	unsigned int i = 0;

	while (a && i < a->n && a->v[i].vma->end <= addr)
		i++;
	if (!a || i == a->n)
		return NULL;
	struct vma *v = a->v[i].vma;
	uintptr_t floor = i ? a->v[i - 1].vma->end : USER_BASE;
	if (v->start <= addr || !(v->prot & PROT_GROWSDOWN) || v->start - addr > max_grow ||
	    addr < floor + guard)
		return NULL;
	return v;
}

uintptr_t vma_find_gap(struct mm *mm, uintptr_t len)
{
	struct vma_array *a = mm->vmas;
	uintptr_t addr = MMAP_BASE;

	for (unsigned int i = 0; a && i < a->n; i++) {
		struct vma *v = a->v[i].vma;
		if (v->end <= addr)
			continue;
		if (v->start >= addr + len)
			break;
		addr = v->end;
	}
	return addr + len <= USER_MAP_TOP ? addr : 0;
}

void vma_destroy_all(struct mm *mm)
{
	struct vma_array *a = mm->vmas;

	mm->vmas = NULL;
	if (!a)
		return;
	for (unsigned int i = 0; i < a->n; i++)
		kfree_rcu(a->v[i].vma, rcu);
	kfree_rcu(a, rcu);
}

unsigned int vma_count(struct mm *mm)
{
	return mm->vmas ? mm->vmas->n : 0;
}
