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
#include "mm/kmalloc.h"
#include "mm/mm.h"

DEFINE_STALL(vma_publish, 100, "VMA change: new array built, not yet published");
DEFINE_STALL(vma_published, 100, "VMA change: new array published, old VMAs not yet retired");

DEFINE_INJECT(vma_free_no_rcu, "replaced VMAs are freed at once, not after a grace period");

static struct vma_array *array_alloc(unsigned int n)
{
	struct vma_array *a = kmalloc(sizeof(*a) + n * sizeof(a->v[0]));

	if (a)
		a->n = n;
	return a;
}

static uint64_t next_vma_id;	/* (a) */

static struct vma *vma_new(uintptr_t start, uintptr_t end, unsigned int prot)
{
	struct vma *v = kmalloc(sizeof(*v));

	if (v) {
		v->start = start;
		v->end = end;
		v->prot = prot;
		v->id = atomic_add_return(&next_vma_id, 1);
	}
	return v;
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

	/* At most: every old VMA, two edge pieces, and the new one. */
	new = array_alloc(n_old + 3);
	if (!new)
		return -ENOMEM;
	if (prot != VMA_REMOVE && !(mid = vma_new(start, end, prot)))
		goto nomem;

	for (unsigned int i = 0; i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (v->end <= start || v->start >= end)
			continue;
		if (v->start < start && !(left = vma_new(v->start, start, v->prot)))
			goto nomem;
		if (v->end > end && !(right = vma_new(end, v->end, v->prot)))
			goto nomem;
	}
	/* Build the sorted array: untouched VMAs, with the edge pieces and
	 * the new VMA placed where they belong. */
	for (unsigned int i = 0; i < n_old; i++)
		if (old->v[i].vma->end <= start)
			new->v[n++] = old->v[i];
	if (left)
		new->v[n++] = (struct vma_ref){ left, left->id };
	if (mid)
		new->v[n++] = (struct vma_ref){ mid, mid->id };
	if (right)
		new->v[n++] = (struct vma_ref){ right, right->id };
	for (unsigned int i = 0; i < n_old; i++)
		if (old->v[i].vma->start >= end)
			new->v[n++] = old->v[i];
	new->n = n;

	/* Publish: the array and new VMAs are fully written before a
	 * lockless reader can find them (pairs with rcu_dereference()). */
	stall(vma_publish);
	rcu_assign_pointer(mm->vmas, new);
	stall(vma_published);
	for (unsigned int i = 0; i < n_old; i++) {
		struct vma *v = old->v[i].vma;
		if (!(v->end <= start || v->start >= end))
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
