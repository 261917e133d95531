/*
 * Stall points: named steps of the drawn interleavings where a torture
 * run delays the CPU for a random, bounded time, so the other side of the
 * race gets to run in the window the step opens.
 *
 * A stall point is declared where it lives, in the file that owns the
 * protocol, beside the step it widens:
 *
 *   DEFINE_STALL(munmap_zapped, 200, "munmap: PTEs cleared, tables not yet unhooked");
 *   ...
 *   pt_zap_range(mm, &tlb, start, end);
 *   stall(munmap_zapped);
 *
 * DEFINE_STALL registers it in section .stall_points (as DEFINE_INJECT
 * registers a seeded bug), so the stall= option and the log know every
 * point without a list kept by hand. When nothing is armed, stall() is
 * one load and a predictable branch.
 *
 * Who stalls: stall=all (the default) arms every point while a torture
 * suite runs its workers (stall_arm() .. stall_disarm() in
 * tests/torture.c); stall=none arms none; stall=a,b arms those. Benches
 * and directed tests run with nothing armed. An armed point delays about
 * one pass in sixteen, mostly for a short time, now and then for its
 * whole bound (max_us), at a DEFINE_STALL_GP point now and then for one
 * or two grace periods; the draws come from seed=, per CPU. The delay is
 * a busy wait in whatever state the step is in: with interrupts on a
 * tick may preempt the task in the middle of it (where the step
 * allows that, the window then lasts a whole slice), with interrupts or
 * preemption off it holds the CPU.
 *
 * Test hook: a directed test may set stall_test_hook to be called at
 * every point (armed or not) with the point and the context the step
 * passes (stall_ctx(); NULL for stall()), to force one interleaving at
 * one step. This generalizes the lockless walkers' test hook: their
 * points pass a struct spf_hook_ctx (mm/debug.h).
 */
#ifndef KERNEL_STALL_H
#define KERNEL_STALL_H

#include <stdint.h>

struct stall_point {
	const char *name;
	const char *help;
	uint32_t max_us;	/* the longest delay */
	int armed;		/* (c) chosen by stall= (all by default) */
	unsigned int gp_hold;	/* (c) one delay in gp_hold lasts gp_count grace periods (0: none) */
	unsigned int gp_count;
};

#define DEFINE_STALL(nm, us, h)						\
	struct stall_point stall_point_##nm				\
	__attribute__((used, section(".stall_points"), aligned(8))) = { #nm, h, us, 1, 0, 0 }
/*
 * A point in a lockless reader or walker whose protection must outlast
 * a grace period or a table free: one delay in one_in holds the CPU
 * until gps grace periods have completed (at most STALL_GP_HOLD_MS): two
 * for a walker, so that a table freed by a callback the protection fails
 * to hold off is freed under it; one for a reader between sampling the
 * rcu=preempt phase and counting itself in it, so that it is counted in
 * a phase a grace period has already drained. one_in is set by how often
 * the point is passed; a CPU spends at most a tenth of its time in holds
 * (kernel/stall.c).
 */
#define DEFINE_STALL_GP(nm, us, one_in, gps, h)			\
	struct stall_point stall_point_##nm				\
	__attribute__((used, section(".stall_points"), aligned(8))) = { #nm, h, us, 1, one_in, gps }
#define STALL_GP_HOLD_MS	100
/* For a point used from an inline function in a header. */
#define DECLARE_STALL(nm) extern struct stall_point stall_point_##nm
#define STALL_POINT(nm) (&stall_point_##nm)

#define STALL_MAX_POINTS 64	/* registered points at most (stall= says if more) */

/* Bits of stall_active: (c) changed only while no torture worker runs;
 * read with one relaxed load at every point (a loop passing a point sees
 * it change); stall_hit() reads it again with acquire, pairing with
 * stall_arm()'s release, before it uses the draws stall_arm() seeded. */
#define STALL_ARMED	1	/* stall_arm() .. stall_disarm() */
#define STALL_HOOKED	2	/* stall_test_hook is set */
extern int stall_active;

void stall_hit(struct stall_point *p, const void *ctx);

#define stall_at(p, ctx)						\
	do {								\
		if (__builtin_expect(__atomic_load_n(&stall_active, __ATOMIC_RELAXED) != 0, 0)) \
			stall_hit((p), (ctx));				\
	} while (0)
#define stall(nm) stall_at(&stall_point_##nm, (const void *)0)
#define stall_ctx(nm, ctx) stall_at(&stall_point_##nm, (ctx))

/* Arm the points stall= chose, with per-CPU draws from seed=; disarm. */
void stall_arm(void);
void stall_disarm(void);

/* Set (hook != NULL) or clear the test hook; before the CPUs that pass
 * the points start, and after they stop. */
void stall_set_test_hook(void (*hook)(const struct stall_point *p, const void *ctx));

/* Delays made at p so far, summed over the CPUs (each CPU counts its
 * own with plain stores: a locked add would be a fence the step under
 * test may lack). */
unsigned long stall_fired(const struct stall_point *p);
/* Of those, holds across grace periods (DEFINE_STALL_GP points). */
unsigned long stall_held(const struct stall_point *p);

/* Iterate the registered points (for the log). */
extern struct stall_point __stall_points_start[], __stall_points_end[];
#define for_each_stall_point(p) \
	for (struct stall_point *p = __stall_points_start; p < __stall_points_end; p++)

#endif
