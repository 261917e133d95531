/*
 * RCU: grace periods, quiescent states, callbacks. See kernel/rcu.h.
 *
 * Grace-period numbers: gp.current is the number of the latest grace
 * period started, gp.completed of the latest finished; they are equal
 * when none runs. A callback queued when current == N needs grace period
 * N + 1 to complete (N itself may have started before the callback's
 * update, so it cannot count).
 *
 * Shared state and what protects it:
 *   gp.current, gp.completed   written under gp.lock, read lock-free
 *                              (acquire) by call_rcu() and waiters
 *   gp.requested, gp.phase_state, gp.start_tsc, gp.stall_reported: gp.lock
 *   gp.qs_mask                 sched: bits set under gp.lock at the start,
 *                              cleared under gp.lock, tested lock-free as
 *                              a hint (a stale 1 only costs a lock trip)
 *   rcu_cpu[c]                 owner CPU with interrupts off; counters (o)
 *
 * This file owns the grace-period protocol. Its interleavings:
 *
 * (A) rcu=sched, a grace period ending. The reader holds the preempt
 *     count up (or interrupts off); CPU u frees p after it.
 *
 *   updater u                  reader r               last CPU to report
 *   unpublish p
 *   call_rcu: smp_mb();        preempt_disable()
 *     needs N = current + 1    q = rcu_dereference()
 *   GP N starts (gp.lock):     ... reads *q ...
 *     smp_mb(); qs_mask =
 *     online CPUs not idle
 *                              preempt_enable()
 *                              tick/unlock/idle with count 0:
 *                                report_qs(r) (gp.lock)
 *                                                     report_qs() clears
 *                                                     the last bit:
 *                                                     store_release(completed)
 *   tick: load_acquire(completed) >= N
 *   invoke callback: free p
 *
 *   A reader that began before GP N started runs on a CPU in qs_mask: an
 *   idle CPU is skipped only if its idle flag was seen, and leaving idle
 *   fences before any read (pairing (C)). Its CPU reports only with the
 *   count at 0 (or made only of lock waits, (F)) and interrupts on (a
 *   tick cannot land in an interrupts-off region), that is after the
 *   section. gp.lock orders the reports; the release of completed pairs
 *   with the acquire in advance_callbacks(), so the callback runs after
 *   every such reader ended. A reader that began after GP N started
 *   cannot find p: the unpublish is ordered before call_rcu()'s fence,
 *   before the start.
 *
 * (B) rcu=preempt, the phase flip. Readers count per CPU and per phase;
 *     the grace period drains the old phase behind a flip.
 *
 *   reader on CPU r                  grace period (gp.lock, any CPU's tick)
 *   idx = phase                      DRAIN_INACTIVE: wait until
 *   lock[idx]++                        sum unlock[!cur] == sum lock[!cur]
 *   smp_mb()                         smp_mb(); phase = !cur; smp_mb()
 *   ... reads ...                    DRAIN_OLD: wait until
 *   smp_mb()                           sum unlock[cur] == sum lock[cur]
 *   unlock[idx]++                      (unlocks summed first, smp_mb(),
 *                                       then locks)
 *                                    smp_mb(); store_release(completed)
 *
 *   A reader counted in the old phase's locks is waited for by DRAIN_OLD.
 *   One that sampled the old phase but bumped its lock count after the
 *   drain's scan did its smp_mb() after that scan, so its reads see every
 *   update made before the grace period: it needs no wait. Such late
 *   readers still sit in the phase that is now inactive; DRAIN_INACTIVE
 *   waits for them before the next flip makes that phase current again,
 *   so a drain never counts a reader of two grace periods ago against a
 *   new one. Summing unlocks before locks means a reader counted in the
 *   unlocks is counted in the locks too: equal sums cannot hide one.
 *
 * (C) Idle CPUs, both flavors. A grace period never waits for an idle
 *     CPU; leaving idle pairs with the start:
 *
 *   GP start (start_gp_locked)   CPU c leaving idle (rcu_idle_exit)
 *   gp.current = N               pc->idle = false
 *   smp_mb()                     smp_mb()
 *   read c's idle flag           read RCU-protected data
 *
 *   Either the start sees c busy and waits for its report, or c's reads
 *   come after the start's fence and see every update made before it.
 *
 * (E) Context switches (kernel/sched.c calls the hooks with interrupts
 *     off). rcu=sched: a switch is a quiescent state, since schedule()
 *     runs at preempt count 0 and a reader holds the count up. rcu=preempt:
 *     a reader may be switched out (preempted) and resume on any CPU.
 *
 *   reader task t                     grace period
 *   lock[idx]++ on CPU a
 *   ... preempted: switch-out hook
 *       marks t blocked; its count    DRAIN_OLD: sum of unlock[idx] over
 *       stays in lock[idx]              CPUs < sum of lock[idx]: waits
 *   ... runs again on CPU b
 *   unlock[idx]++ on CPU b            the sums match: t is gone
 *
 *   Tracking a blocked reader is keeping its count: the sums span every
 *   CPU, so where it resumes does not matter, and the expedited path,
 *   which drives the same drains, waits for it too. The blocked count
 *   and flag only feed statistics and the stall report.
 *
 * (D) Expedited (rcu=sched): the waiter IPIs every CPU still owing a
 *     report. At preempt count 0 the handler reports (the interrupted
 *     context had interrupts on, so it was in no reader); otherwise it
 *     sets rcu_exp_need_qs and the outermost rcu_read_unlock() reports.
 *     A CPU with interrupts off takes the IPI when it turns them on. With
 *     rcu=preempt the waiter drives the phase machine (B) itself.
 *
 * (F) Lock waits (rcu=sched). A CPU spinning for a lock raised its
 *     preempt count first (the ticket it holds must not wait for a task
 *     switched out) and counts the spin in lock_waits (kernel/percpu.h).
 *     The tick and the expedited IPI interrupt that CPU itself, so they
 *     read both counts as its program left them:
 *
 *   CPU c, waiting for lock L          tick (or expedited IPI) on c
 *   preempt_disable(); take a ticket   count > lock_waits: a reader
 *   lock_wait_begin()                    or a holder, no report
 *   spin until L is ours               count == lock_waits: report_qs(c)
 *   lock_wait_end()
 *   critical section                   count > lock_waits: no report
 *
 *   Every rcu=sched read-side section raises the count for its whole
 *   length (or turns interrupts off, and then neither interrupt lands),
 *   so a count made only of lock waits means no section is open on c:
 *   the spins read nothing but lock words, whose memory their callers
 *   keep alive by what they hold, and they hold nothing else. Without
 *   this, a CPU that spends a grace period's length waiting for locks
 *   whose holders wait for slow flush acks (4 emulated CPUs on fewer
 *   host CPUs: a writer queued behind readers that flush under the PTE
 *   lock, readers queued behind it) is never seen quiescent and stalls
 *   the grace period although it is in no reader.
 */
#include "kernel/rcu.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/cmdline.h"
#include "kernel/inject.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/report.h"
#include "kernel/smp_call.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/timer.h"
#include "kernel/worker.h"
#include "mm/kmalloc.h"

DEFINE_INJECT(rcu_early_gp, "a grace period ends before the last CPU reports (sched) or before the old readers left (preempt)");
DEFINE_INJECT(rcu_skip_qs_check, "the tick reports a quiescent state without checking the preempt count");
DEFINE_INJECT(rcu_preempt_untracked, "a reader switched out is not counted until it runs again (rcu=preempt)");

/* The steps of the pairings above: grace-period start and end, the
 * preempt phase flip, quiescent-state reports, callbacks. */
DEFINE_STALL(rcu_gp_started, 50, "grace period: number raised, CPUs owing a report not yet read (gp.lock held)");
DEFINE_STALL(rcu_gp_ending, 50, "grace period: every report in, completion not yet published (gp.lock held)");
DEFINE_STALL(rcu_phase_flip, 50, "rcu=preempt: inactive phase drained, phase not yet flipped");
DEFINE_STALL(rcu_phase_flipped, 50, "rcu=preempt: phase flipped, old phase's readers not yet scanned");
DEFINE_STALL_GP(rcu_reader_phase, 100, 16, 1, "rcu=preempt reader: phase read, its lock count not yet raised");
DEFINE_STALL(rcu_qs_report, 50, "rcu=sched: quiescent state seen, not yet reported");
DEFINE_STALL(rcu_exp_ipi, 50, "expedited grace period: IPI taken, reader state not yet read");
DEFINE_STALL(rcu_cb_advance, 50, "callbacks: completed grace period read, lists not yet advanced");
DEFINE_STALL(rcu_idle_enter, 50, "idle entry: idle flag visible, quiescent state not yet reported");
DEFINE_STALL(rcu_reader_switched_out, 50, "rcu=preempt: a reader counted as blocked, switch not yet done");

#define RCU_BATCH 64

static const char *const flavor_names[] = { "sched", "preempt", NULL };
int rcu_flavor = RCU_SCHED;
CMDLINE_ENUM(rcu, rcu_flavor, flavor_names, "RCU flavor");
uint64_t rcu_stall_s = 10;
CMDLINE_U64(rcu_stall, rcu_stall_s, 0, 3600, "seconds before a grace period is a stall (0: never)");

struct rcu_cpu_preempt rcu_preempt_cpu[MAX_CPUS];
int rcu_preempt_phase;

enum { PHASE_IDLE, PHASE_DRAIN_INACTIVE, PHASE_DRAIN_OLD };

static struct {
	spinlock_t lock;
	uint64_t current;
	uint64_t completed;
	uint64_t requested;
	struct cpumask qs_mask;
	int phase_state;
	uint64_t start_tsc;
	bool stall_reported;
} gp = { .lock = SPINLOCK_INIT(LOCK_RCU_GP) };

struct cblist {
	struct rcu_head *head, **tail;
};

/* Per-CPU callbacks: done (ready), then up to two segments waiting for
 * grace periods seg_gp[0] < seg_gp[1]. Owner CPU, interrupts off. */
static struct rcu_cpu {
	struct cblist done;
	struct cblist seg[2];
	uint64_t seg_gp[2];
	unsigned int nseg;
	long queued, invoked;			/* (o) */
	struct rcu_stats stats;			/* (o) */
} __cacheline_aligned rcu_cpu[MAX_CPUS];

static void cblist_init(struct cblist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void cblist_append(struct cblist *l, struct rcu_head *h)
{
	h->next = NULL;
	*l->tail = h;
	l->tail = &h->next;
}

static void cblist_splice(struct cblist *dst, struct cblist *src)
{
	if (!src->head)
		return;
	*dst->tail = src->head;
	dst->tail = src->tail;
	cblist_init(src);
}

uint64_t rcu_gp_completed(void)
{
	return load_acquire(&gp.completed);
}

/* ---- grace periods ---------------------------------------------------- */

static void end_gp_locked(void);

static void start_gp_locked(void)
{
	unsigned int c, me = smp_processor_id();

	gp.current = gp.completed + 1;
	gp.start_tsc = rdtsc();
	gp.stall_reported = false;
	rcu_cpu[me].stats.gp_started++;
	/* Order the callers' updates (and the new gp.current) before the
	 * idle flags read below: pairing (C) at the top of the file. */
	smp_mb();
	stall(rcu_gp_started);
	if (rcu_flavor == RCU_PREEMPT) {
		gp.phase_state = PHASE_DRAIN_INACTIVE;
		return;
	}
	for_each_online_cpu(c) {
		if (READ_ONCE(cpu_percpu(c)->idle)) {
			rcu_cpu[me].stats.qs_idle++;
			continue;
		}
		cpumask_set(&gp.qs_mask, c);
	}
	if (!cpumask_weight(&gp.qs_mask))
		end_gp_locked();
}

static void end_gp_locked(void)
{
	/* Everything the readers did happens before the callbacks run:
	 * release pairs with the acquire of gp.completed in
	 * advance_callbacks(). */
	stall(rcu_gp_ending);
	store_release(&gp.completed, gp.current);
	gp.phase_state = PHASE_IDLE;
	if (gp.requested > gp.completed)
		start_gp_locked();
}

static void request_gp(uint64_t needed)
{
	if (load_relaxed(&gp.requested) >= needed && load_relaxed(&gp.current) >= needed)
		return;
	uint64_t flags = spin_lock_irqsave(&gp.lock);
	if (gp.requested < needed)
		gp.requested = needed;
	if (gp.current == gp.completed && gp.requested > gp.completed)
		start_gp_locked();
	spin_unlock_irqrestore(&gp.lock, flags);
}

/* The grace period a callback queued now must wait for. The fence orders
 * the caller's update before the read of gp.current: if a grace period
 * starts after this read, it starts after the update. */
static uint64_t gp_needed_now(void)
{
	smp_mb();
	return load_acquire(&gp.current) + 1;
}

/* sched: this CPU passed a quiescent state. */
static void report_qs(unsigned int cpu)
{
	if (!cpumask_test(&gp.qs_mask, cpu))
		return;
	stall(rcu_qs_report);
	uint64_t flags = spin_lock_irqsave(&gp.lock);
	if (gp.current != gp.completed && cpumask_test(&gp.qs_mask, cpu)) {
		cpumask_clear_cpu(&gp.qs_mask, cpu);
		unsigned int left = cpumask_weight(&gp.qs_mask);
		/* inject=rcu_early_gp: end without the last CPU's report. */
		if (left == 0 || (left == 1 && injected(rcu_early_gp))) {
			cpumask_zero(&gp.qs_mask);
			end_gp_locked();
		}
	}
	spin_unlock_irqrestore(&gp.lock, flags);
}

/* preempt: are all readers of phase idx gone? Pairing (B) at the top of
 * the file. */
static bool readers_drained(int idx)
{
	unsigned long locks = 0, unlocks = 0;
	unsigned int c;

	for_each_online_cpu(c)
		unlocks += load_relaxed(&rcu_preempt_cpu[c].unlock[idx]);
	smp_mb();
	for_each_online_cpu(c)
		locks += load_relaxed(&rcu_preempt_cpu[c].lock[idx]);
	return locks == unlocks;
}

/* preempt: advance the phase machine as far as it goes. gp.lock held. */
static void preempt_advance_locked(void)
{
	if (gp.phase_state == PHASE_DRAIN_INACTIVE) {
		/* Readers that sampled the phase before the last flip but
		 * entered late may sit in the inactive phase: drain them
		 * before flipping back to it. */
		if (!readers_drained(rcu_preempt_phase ^ 1))
			return;
		stall(rcu_phase_flip);
		smp_mb();
		store_relaxed(&rcu_preempt_phase, rcu_preempt_phase ^ 1);
		smp_mb();
		stall(rcu_phase_flipped);
		gp.phase_state = PHASE_DRAIN_OLD;
	}
	if (gp.phase_state == PHASE_DRAIN_OLD) {
		/* inject=rcu_early_gp: do not wait for the old readers. */
		if (!injected(rcu_early_gp) && !readers_drained(rcu_preempt_phase ^ 1))
			return;
		smp_mb();
		end_gp_locked();
	}
}

enum gp_lock_wait { GP_LOCK_TRY, GP_LOCK_SPIN };

static void preempt_try_advance(enum gp_lock_wait wait)
{
	uint64_t flags = irq_save();

	if (wait == GP_LOCK_SPIN)
		spin_lock(&gp.lock);
	else if (!spin_trylock(&gp.lock)) {
		irq_restore(flags);
		return;
	}
	if (gp.current != gp.completed)
		preempt_advance_locked();
	spin_unlock(&gp.lock);
	irq_restore(flags);
}

/*
 * The caller may be preempted and moved: the CPU whose quiescent state
 * is reported is read with interrupts off, so it is the CPU the caller
 * runs on while it is in no reader (a report for a CPU it just left
 * could end a grace period under that CPU's next task).
 */
void rcu_qs(void)
{
	if (rcu_flavor != RCU_SCHED || !irqs_enabled())
		return;
	uint64_t flags = irq_save();
	struct percpu *pc = this_cpu();
	if (pc->preempt_count == 0) {
		rcu_cpu[pc->cpu].stats.qs_explicit++;
		report_qs(pc->cpu);
	}
	irq_restore(flags);
}

void rcu_read_unlock_special(void)
{
	if (!irqs_enabled())
		return;		/* still a reader (sched): the tick reports later */
	uint64_t flags = irq_save();
	struct percpu *pc = this_cpu();
	if (pc->preempt_count == 0 && pc->rcu_exp_need_qs) {
		pc->rcu_exp_need_qs = false;
		rcu_cpu[pc->cpu].stats.qs_unlock++;
		report_qs(pc->cpu);
	}
	irq_restore(flags);
}

static void rcu_idle_enter(void)
{
	struct percpu *pc = this_cpu();

	/* pc->idle was set by the caller; make it visible before the
	 * report, so a grace period starting now skips this CPU. */
	smp_mb();
	stall(rcu_idle_enter);
	if (rcu_flavor == RCU_SCHED && pc->preempt_count == 0) {
		rcu_cpu[pc->cpu].stats.qs_idle++;
		report_qs(pc->cpu);
	}
}

static void rcu_idle_exit(void)
{
	/* pc->idle was cleared by the caller: pairing (C) at the top of
	 * the file. */
	smp_mb();
}

/* ---- context switches: pairing (E) at the top of the file -------------- */

long rcu_blocked_readers;

/* prev is being switched out: interrupts off, schedule() entered at
 * preempt count 0. */
static void rcu_switch_out(struct task *prev)
{
	struct percpu *pc = this_cpu();

	if (rcu_flavor == RCU_SCHED) {
		/* No sched reader is switched out: schedule() runs at preempt
		 * count 0, and from an interrupt only if it came with
		 * interrupts on. */
		rcu_cpu[pc->cpu].stats.qs_switch++;
		report_qs(pc->cpu);
		return;
	}
	if (!prev->rcu_nesting)
		return;
	prev->rcu_blocked = true;
	atomic_inc(&rcu_blocked_readers);
	stall(rcu_reader_switched_out);
	sched_stat_inc(SCHED_PREEMPTED_READER);
	if (injected(rcu_preempt_untracked)) {
		/* The bug: count the reader as gone while it is out. */
		struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[pc->cpu];
		smp_mb();
		store_relaxed(&rc->unlock[prev->rcu_idx], rc->unlock[prev->rcu_idx] + 1);
	}
}

static void rcu_switch_in(struct task *next)
{
	if (!next->rcu_blocked)
		return;
	next->rcu_blocked = false;
	atomic_dec(&rcu_blocked_readers);
	if (injected(rcu_preempt_untracked)) {
		/* ... and as a new reader of the current phase once back. */
		struct rcu_cpu_preempt *rc = &rcu_preempt_cpu[smp_processor_id()];
		int idx = load_relaxed(&rcu_preempt_phase);
		next->rcu_idx = idx;
		store_relaxed(&rc->lock[idx], rc->lock[idx] + 1);
		smp_mb();
	}
}

/* ---- callbacks -------------------------------------------------------- */

/* Move segments whose grace period completed to done. Interrupts off. */
static void advance_callbacks(struct rcu_cpu *rc)
{
	uint64_t completed = load_acquire(&gp.completed);

	stall(rcu_cb_advance);
	while (rc->nseg && rc->seg_gp[0] <= completed) {
		cblist_splice(&rc->done, &rc->seg[0]);
		rc->seg[0] = rc->seg[1];
		if (!rc->seg[0].head)
			cblist_init(&rc->seg[0]);
		rc->seg_gp[0] = rc->seg_gp[1];
		cblist_init(&rc->seg[1]);
		rc->nseg--;
	}
}

static void invoke(struct rcu_head *h)
{
	uintptr_t f = (uintptr_t)h->func;

	if (f < 4096)
		kfree((char *)h - f);	/* kfree_rcu(): func holds the offset */
	else
		h->func(h);
}

/* Run up to `batch` ready callbacks of this CPU. Interrupts off. */
static void process_callbacks(unsigned int batch)
{
	struct rcu_cpu *rc = &rcu_cpu[smp_processor_id()];

	advance_callbacks(rc);
	while (rc->done.head && batch--) {
		struct rcu_head *h = rc->done.head;
		rc->done.head = h->next;
		if (!rc->done.head)
			rc->done.tail = &rc->done.head;
		/* Counted before it runs: rcu_barrier()'s own callback ends
		 * the wait when it runs, and a waiter that then reads the
		 * counts must find it invoked (every callback before it on
		 * this CPU has fully run by then). */
		store_relaxed(&rc->invoked, rc->invoked + 1);
		invoke(h);
	}
}

void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	uint64_t needed = gp_needed_now();
	uint64_t flags = irq_save();
	struct rcu_cpu *rc = &rcu_cpu[smp_processor_id()];

	head->func = func;
	advance_callbacks(rc);
	if (rc->nseg && rc->seg_gp[rc->nseg - 1] >= needed) {
		/* A later segment already waits long enough: needed only
		 * grows per CPU, so it is the last one. */
		cblist_append(&rc->seg[rc->nseg - 1], head);
	} else {
		ASSERT_MSG(rc->nseg < 2, "rcu: callback needs gp %lu with segments at %lu and %lu",
			   needed, rc->seg_gp[0], rc->seg_gp[1]);
		cblist_init(&rc->seg[rc->nseg]);
		cblist_append(&rc->seg[rc->nseg], head);
		rc->seg_gp[rc->nseg++] = needed;
	}
	store_relaxed(&rc->queued, rc->queued + 1);
	irq_restore(flags);
	request_gp(needed);
}

void kfree_rcu_head(struct rcu_head *head, unsigned long offset)
{
	ASSERT(offset < 4096);
	call_rcu(head, (void (*)(struct rcu_head *))offset);
}

long rcu_callbacks_pending(void)
{
	long n = 0;

	for (unsigned int c = 0; c < MAX_CPUS; c++)
		n += load_relaxed(&rcu_cpu[c].queued) - load_relaxed(&rcu_cpu[c].invoked);
	return n;
}

/* ---- waiting ---------------------------------------------------------- */

struct rcu_waiter {
	struct rcu_head head;
	int done;		/* (a) */
};

static void wake_waiter(struct rcu_head *h)
{
	struct rcu_waiter *w = (struct rcu_waiter *)h;
	store_release(&w->done, 1);
}

/* Spin until *v == until, helping: report our own quiescent state, run
 * our own callbacks, advance the preempt phase machine. */
static void wait_helping(int *v, int until)
{
	ASSERT_MSG(irqs_enabled(), "waiting for a grace period with interrupts off");
	while (load_acquire(v) != until) {
		rcu_qs();
		if (rcu_flavor == RCU_PREEMPT)
			preempt_try_advance(GP_LOCK_TRY);
		uint64_t flags = irq_save();
		process_callbacks(RCU_BATCH);
		irq_restore(flags);
		cpu_relax();
	}
}

void synchronize_rcu(void)
{
	struct rcu_waiter w = { .done = 0 };

	ASSERT_MSG(this_cpu()->preempt_count == 0, "synchronize_rcu() inside a read section");
	call_rcu(&w.head, wake_waiter);
	wait_helping(&w.done, 1);
}

/* rcu=sched, from an interrupt that found interrupts on: was the
 * interrupted context in no read-side section? Its preempt count is 0,
 * or made only of lock waits (pairing (F) at the top of the file). */
static bool sched_qs_at_irq(const struct percpu *pc)
{
	return pc->preempt_count == pc->lock_waits;
}

static void exp_ipi(struct trap_frame *f)
{
	struct percpu *pc = this_cpu();

	/* The IPI runs with interrupts off; the interrupted context had
	 * them on (or we would not be here), so a count holding no section
	 * means it was quiescent. */
	stall(rcu_exp_ipi);
	if (sched_qs_at_irq(pc)) {
		rcu_cpu[pc->cpu].stats.qs_exp_ipi++;
		report_qs(pc->cpu);
	} else {
		pc->rcu_exp_need_qs = true;
	}
}

void synchronize_rcu_expedited(void)
{
	uint64_t needed = gp_needed_now();
	unsigned int me = smp_processor_id(), c;

	ASSERT_MSG(this_cpu()->preempt_count == 0, "synchronize_rcu_expedited() inside a read section");
	ASSERT_MSG(irqs_enabled(), "synchronize_rcu_expedited() with interrupts off");
	rcu_cpu[me].stats.gp_expedited++;
	request_gp(needed);
	uint64_t asked = 0, again = 0;
	while (load_acquire(&gp.completed) < needed) {
		if (rcu_flavor == RCU_PREEMPT) {
			preempt_try_advance(GP_LOCK_SPIN);
			cpu_relax();
			continue;
		}
		rcu_qs();
		/*
		 * Ask every CPU still owing a report, once per grace period:
		 * the handler either reports or leaves the report to the CPU's
		 * outermost rcu_read_unlock(), and a CPU with interrupts off
		 * takes the IPI when it turns them on. The grace period we
		 * need may start only after the one in progress ends, so a new
		 * gp.current asks again at once; otherwise a repeat after 10 ms
		 * is only a safety net (an IPI storm slows every target).
		 */
		if (load_acquire(&gp.current) != asked || rdtsc() > again) {
			/* Mask and number together: a grace period being
			 * started fills its mask under the lock. */
			struct cpumask owing;
			uint64_t flags = spin_lock_irqsave(&gp.lock);
			asked = gp.current;
			owing = gp.qs_mask;
			spin_unlock_irqrestore(&gp.lock, flags);
			for_each_cpu_in(c, &owing)
				if (c != me)
					apic_send_ipi(cpu_percpu(c)->apic_id, VEC_RCU_EXP);
			again = rdtsc() + ns_to_tsc(10000000);
		}
		cpu_relax();
	}
}

static int barrier_left;	/* (a) */
static struct rcu_head barrier_heads[MAX_CPUS];

static void barrier_cb(struct rcu_head *h)
{
	(void)h;
	atomic_dec(&barrier_left);
}

static void queue_barrier(void *arg)
{
	(void)arg;
	call_rcu(&barrier_heads[smp_processor_id()], barrier_cb);
}

void rcu_barrier(void)
{
	unsigned int c;

	store_relaxed(&barrier_left, (int)nr_cpus_online);
	/* Each CPU's callbacks run in order, so its barrier callback runs
	 * after everything it queued before. */
	for_each_online_cpu(c)
		smp_call_on(c, queue_barrier, NULL);
	wait_helping(&barrier_left, 0);
}

/* ---- tick and stalls -------------------------------------------------- */

/* f: the frame the tick interrupted, for this CPU's own backtrace when
 * it is one of the CPUs holding the grace period up. */
static void stall_check(const struct trap_frame *f)
{
	if (!rcu_stall_s || load_acquire(&gp.current) == load_acquire(&gp.completed))
		return;
	if (rdtsc() - READ_ONCE(gp.start_tsc) < ns_to_tsc(rcu_stall_s * 1000000000ull))
		return;
	if (!spin_trylock(&gp.lock))
		return;
	bool report = gp.current != gp.completed && !gp.stall_reported &&
		      rdtsc() - gp.start_tsc >= ns_to_tsc(rcu_stall_s * 1000000000ull);
	struct cpumask holders;
	cpumask_zero(&holders);
	uint64_t n = gp.current;
	if (report) {
		gp.stall_reported = true;
		unsigned int c;
		if (rcu_flavor == RCU_SCHED) {
			holders = gp.qs_mask;
		} else {
			/* Readers migrate, so the per-CPU counts name no
			 * holder: name the CPUs running a reader now (switched
			 * out readers are counted in the report). */
			for_each_online_cpu(c) {
				struct task *t = READ_ONCE(cpu_percpu(c)->current);
				if (t && READ_ONCE(t->rcu_nesting))
					cpumask_set(&holders, c);
			}
		}
	}
	spin_unlock(&gp.lock);
	if (!report)
		return;

	char list[256];
	size_t len = 0;
	unsigned int c;
	list[0] = 0;
	for_each_cpu_in(c, &holders)
		len += snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0, "%s%u",
				len ? "," : "", c);
	report_error("rcu_stall", "grace period %llu has run for %llu s; cpus not quiescent: %s; "
		     "readers switched out: %ld", (unsigned long long)n, (unsigned long long)rcu_stall_s,
		     len ? list : "none", load_relaxed(&rcu_blocked_readers));
	if (cpumask_test(&holders, smp_processor_id())) {
		/* The tick found this CPU inside a reader (preempt count
		 * raised, for rcu=sched): show where it was interrupted. */
		printk("# cpu %u (reporting; preempt count %d at the tick) interrupted at:\n",
		       smp_processor_id(), this_cpu()->preempt_count);
		backtrace_print(f->rip, f->rbp);
		cpumask_clear_cpu(&holders, smp_processor_id());
	}
	backtrace_cpus(&holders);
}

static void rcu_tick(struct trap_frame *f)
{
	struct percpu *pc = this_cpu();

	if (rcu_flavor == RCU_SCHED) {
		/* inject=rcu_skip_qs_check: report even inside a reader. */
		if (cpumask_test(&gp.qs_mask, pc->cpu) &&
		    (sched_qs_at_irq(pc) || injected(rcu_skip_qs_check))) {
			rcu_cpu[pc->cpu].stats.qs_tick++;
			report_qs(pc->cpu);
		}
	} else {
		preempt_try_advance(GP_LOCK_TRY);
	}
	stall_check(f);
	process_callbacks(RCU_BATCH);
}

void rcu_stats_get(struct rcu_stats *s)
{
	*s = (struct rcu_stats){ 0 };
	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		const struct rcu_stats *r = &rcu_cpu[c].stats;
		s->qs_tick += load_relaxed(&r->qs_tick);
		s->qs_idle += load_relaxed(&r->qs_idle);
		s->qs_explicit += load_relaxed(&r->qs_explicit);
		s->qs_exp_ipi += load_relaxed(&r->qs_exp_ipi);
		s->qs_unlock += load_relaxed(&r->qs_unlock);
		s->qs_switch += load_relaxed(&r->qs_switch);
		s->gp_started += load_relaxed(&r->gp_started);
		s->gp_expedited += load_relaxed(&r->gp_expedited);
	}
}

void rcu_init(void)
{
	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		cblist_init(&rcu_cpu[c].done);
		cblist_init(&rcu_cpu[c].seg[0]);
		cblist_init(&rcu_cpu[c].seg[1]);
	}
	irq_register(VEC_RCU_EXP, exp_ipi);
	tick_hook_register(rcu_tick);
	idle_enter_hook = rcu_idle_enter;
	idle_exit_hook = rcu_idle_exit;
	sched_switch_out_hook = rcu_switch_out;
	sched_switch_in_hook = rcu_switch_in;
}
