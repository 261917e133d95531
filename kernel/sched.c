/*
 * Tasks, run queues, preemption and the context switch. See kernel/sched.h.
 *
 * Run queues: one per CPU, a FIFO of runnable tasks under the queue's
 * lock (LOCK_RUNQUEUE, always taken with interrupts off). A task is on a
 * queue only while no CPU runs it or is still on its stack: the task a
 * switch leaves is queued by the task switched in (finish_switch()), so
 * another CPU that takes it from the queue never runs it while this CPU
 * still stands on its stack.
 *
 * The context switch, on CPU c, interrupts off and the preempt count
 * raised, prev running, next taken from a queue:
 *
 *   schedule()                         what it pairs with
 *   switch-out hook (rcu.c)            a switch is a quiescent state
 *                                      (rcu=sched); a reader switched
 *                                      out stays counted (rcu=preempt)
 *   next is a user task:
 *     mm_load_irqs_off(next->mm)       mm/tlb.c (F): join before CR3,
 *                                      leave the old mm after; from
 *                                      lazy, the pending flush (B)
 *   next is a kernel thread:
 *     mm_lazy_irqs_off()               mm/tlb.c (B): page flushes may
 *                                      skip c from here on
 *   TSS.RSP0 = next->rsp0              ring-3 traps land on next's stack
 *   current = next; switch_to()
 *   ---- on next's stack ----
 *   finish_switch(): queue prev        prev may now run elsewhere
 *   (if runnable), or mark it off
 *   the CPU (if dead)
 *
 * Idle: a CPU whose queue is empty (and which finds nothing to steal)
 * runs its idle task, which halts with interrupts on as an RCU idle CPU
 * (extended quiescent state). A task queued on a CPU that looks idle
 * gets it a wake IPI:
 *
 *   enqueuer                           idle CPU
 *   append to the queue (lock)         idle = true
 *   smp_mb()                           smp_mb()
 *   if idle: send VEC_WAKE             if the queue is empty: sti; hlt
 *
 * Either the enqueuer sees the flag and wakes the CPU, or the idle CPU
 * sees the task; STI's one-instruction shadow keeps the wake IPI from
 * landing between the check and the HLT.
 */
#include "kernel/sched.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/desc.h"
#include "arch/x86/traps.h"
#include "arch/x86/tsc.h"
#include "kernel/atomic.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/prng.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "kernel/worker.h"
#include "mm/kmalloc.h"
#include "mm/mm.h"
#include "mm/page_alloc.h"

#define STACK_ORDER 3			/* 32 KiB kernel stacks */
#define STACK_SIZE (PAGE_SIZE << STACK_ORDER)

uint64_t sched_slice_ms = 4;
CMDLINE_U64(sched_slice, sched_slice_ms, 1, 10000, "ms a task runs before the tick may preempt it");
static uint64_t sched_migrate_pct = 25;
CMDLINE_U64(sched_migrate, sched_migrate_pct, 0, 100,
	    "percent of preempted tasks (not pinned) queued on another CPU");

static struct rq {
	spinlock_t lock;
	struct task *head, *tail;	/* (q) FIFO through task->rq_next */
	unsigned int nr;		/* (q) to write; a hint to read */
	unsigned int nr_movable;	/* (q) of which not pinned: others may steal them */
	uint64_t slice_ticks;		/* (i) ticks the running task has had */
	struct prng rng;		/* (i) where preempted tasks go */
	struct sched_stats stats;	/* (i) */
} __cacheline_aligned rqs[MAX_CPUS];

/* Each CPU's boot context: the boot CPU's is "main", an AP's becomes its
 * idle task. (c) once the CPU runs. */
static struct task boot_tasks[MAX_CPUS];
static unsigned int next_task_id;	/* (a) */

void (*sched_switch_out_hook)(struct task *prev);
void (*sched_switch_in_hook)(struct task *next);

/* The context switch's steps (its interleaving with a shootdown is (F) in
 * mm/tlb.c, with RCU (E) in kernel/rcu.c). Interrupts are off. */
DEFINE_STALL(sched_switch_out, 50, "context switch: prev's RCU state saved, next's mm not yet loaded");
DEFINE_STALL(sched_switch, 50, "context switch: next is current, its stack not yet switched to");

void switch_to(uintptr_t *prev_rsp, uintptr_t next_rsp);
extern const char task_trampoline[];
__attribute__((noreturn)) void task_entry(void);

void sched_stat_inc(enum sched_stat s)
{
	struct sched_stats *st = &rqs[smp_processor_id()].stats;

	switch (s) {
	case SCHED_MM_SWITCH:
		st->mm_switches++;
		break;
	case SCHED_LAZY_ENTER:
		st->lazy_enter++;
		break;
	case SCHED_LAZY_FLUSH:
		st->lazy_flushes++;
		break;
	case SCHED_PREEMPTED_READER:
		st->preempted_readers++;
		break;
	}
}

void sched_stats_get(struct sched_stats *s)
{
	*s = (struct sched_stats){ 0 };
	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		const struct sched_stats *r = &rqs[c].stats;
		s->tasks += load_relaxed(&r->tasks);
		s->user_tasks += load_relaxed(&r->user_tasks);
		s->ctxsw += load_relaxed(&r->ctxsw);
		s->preemptions += load_relaxed(&r->preemptions);
		s->migrations += load_relaxed(&r->migrations);
		s->mm_switches += load_relaxed(&r->mm_switches);
		s->lazy_enter += load_relaxed(&r->lazy_enter);
		s->lazy_flushes += load_relaxed(&r->lazy_flushes);
		s->preempted_readers += load_relaxed(&r->preempted_readers);
	}
}

uint64_t sched_ctxsw_count(void)
{
	return load_relaxed(&rqs[smp_processor_id()].stats.ctxsw);
}

static void task_init_common(struct task *t, const char *name, int pin)
{
	strlcpy(t->name, name, TASK_NAME_LEN);
	t->pin = pin;
	t->weight = 1;
	t->id = atomic_add_return(&next_task_id, 1);
}

/* The task standing for cpu's boot context (percpu_setup(), smpboot.c). */
struct task *sched_boot_task(unsigned int cpu)
{
	struct task *t = &boot_tasks[cpu];
	char name[TASK_NAME_LEN];

	if (cpu == 0)
		snprintf(name, sizeof(name), "main");
	else
		snprintf(name, sizeof(name), "idle/%u", cpu);
	task_init_common(t, name, (int)cpu);
	t->state = TASK_RUNNING;
	t->cpu = cpu;
	return t;
}

struct task *task_create(const char *name, task_fn fn, void *arg, struct mm *mm, int pin)
{
	struct task *t = kzalloc(sizeof(*t));
	struct page *stack;

	if (!t)
		return NULL;
	stack = alloc_pages(STACK_ORDER, PAGE_KERNEL);
	if (!stack) {
		kfree(t);
		return NULL;
	}
	task_init_common(t, name, pin);
	t->stack = page_address(stack);
	t->fn = fn;
	t->arg = arg;
	t->mm = mm;
	t->state = TASK_RUNNABLE;
	/* The first switch_to() pops six zeroed registers and returns to
	 * task_trampoline, leaving RSP at top - 16 (arch/x86/switch.asm). */
	uintptr_t top = (uintptr_t)t->stack + STACK_SIZE;
	uint64_t *sp = (uint64_t *)(top - 24);
	*sp = (uintptr_t)task_trampoline;
	sp -= 6;
	memset(sp, 0, 6 * sizeof(*sp));
	t->rsp = (uintptr_t)sp;
	t->rsp0 = top;
	uint64_t flags = irq_save();
	rqs[smp_processor_id()].stats.tasks++;
	if (mm)
		rqs[smp_processor_id()].stats.user_tasks++;
	irq_restore(flags);
	return t;
}

/* Append t to cpu's queue and wake cpu if it idles. Interrupts any. */
static void enqueue(struct task *t, unsigned int cpu)
{
	struct rq *rq = &rqs[cpu];
	uint64_t flags = spin_lock_irqsave(&rq->lock);

	ASSERT_MSG(!t->on_rq && t->state != TASK_DEAD && t->state != TASK_RUNNING,
		   "task %s queued twice or while running (state %d)", t->name, t->state);
	t->on_rq = true;
	t->state = TASK_RUNNABLE;
	t->rq_next = NULL;
	if (rq->tail)
		rq->tail->rq_next = t;
	else
		rq->head = t;
	rq->tail = t;
	rq->nr++;
	if (t->pin == TASK_ANY_CPU)
		rq->nr_movable++;
	spin_unlock_irqrestore(&rq->lock, flags);
	/* The wake pairing at the top of the file. */
	smp_mb();
	if (cpu != smp_processor_id() && READ_ONCE(cpu_percpu(cpu)->idle))
		apic_send_ipi(cpu_percpu(cpu)->apic_id, VEC_WAKE);
}

/* The online CPU after c, wrapping around. */
static unsigned int next_online_cpu(unsigned int c)
{
	c = cpumask_next(&cpu_online_mask, c + 1);
	return c < MAX_CPUS ? c : cpumask_next(&cpu_online_mask, 0);
}

void task_start(struct task *t, unsigned int cpu_hint)
{
	unsigned int cpu;

	if (t->pin != TASK_ANY_CPU) {
		cpu = (unsigned int)t->pin;
	} else {
		unsigned int n = cpu_hint % nr_cpus_online;
		cpu = cpumask_next(&cpu_online_mask, 0);
		while (n--)
			cpu = next_online_cpu(cpu);
	}
	ASSERT_MSG(cpumask_test(&cpu_online_mask, cpu), "task %s pinned to offline cpu %u", t->name, cpu);
	t->cpu = cpu;
	enqueue(t, cpu);
}

bool task_done(const struct task *t)
{
	return load_acquire(&t->done) != 0;
}

void task_free(struct task *t)
{
	ASSERT_MSG(task_done(t), "freeing task %s that still runs", t->name);
	/* Its last switch may still stand on its stack: finish_switch()
	 * on that CPU releases it. */
	while (!load_acquire(&t->off_cpu))
		cpu_relax();
	free_pages(virt_to_page(t->stack), STACK_ORDER);
	kfree(t);
}

/* Take the first task of rq that may run on cpu. rq's lock held. */
static struct task *rq_take(struct rq *rq, unsigned int cpu)
{
	struct task **pp = &rq->head, *prev = NULL;

	for (struct task *t = rq->head; t; prev = t, t = t->rq_next) {
		if (t->pin != TASK_ANY_CPU && (unsigned int)t->pin != cpu) {
			pp = &t->rq_next;
			continue;
		}
		ASSERT_MSG(t->on_rq && t->state == TASK_RUNNABLE, "task %s on a queue in state %d",
			   t->name, t->state);
		t->on_rq = false;
		*pp = t->rq_next;
		if (rq->tail == t)
			rq->tail = prev;
		rq->nr--;
		if (t->pin == TASK_ANY_CPU)
			rq->nr_movable--;
		return t;
	}
	return NULL;
}

/* An idle CPU takes a waiting task from the first busy CPU after it. */
static struct task *steal(unsigned int me)
{
	unsigned int c = me;

	for (unsigned int i = 1; i < nr_cpus_online; i++) {
		c = next_online_cpu(c);
		struct rq *rq = &rqs[c];
		if (!load_relaxed(&rq->nr_movable))
			continue;
		spin_lock(&rq->lock);
		struct task *t = rq_take(rq, me);
		spin_unlock(&rq->lock);
		if (t)
			return t;
	}
	return NULL;
}

/* The next task for this CPU; interrupts off. */
static struct task *pick_next(struct percpu *pc, struct task *prev)
{
	struct rq *rq = &rqs[pc->cpu];
	struct task *t = NULL;

	if (load_relaxed(&rq->nr)) {
		spin_lock(&rq->lock);
		t = rq_take(rq, pc->cpu);
		spin_unlock(&rq->lock);
	}
	if (t)
		return t;
	if (prev != pc->idle_task && prev->state == TASK_RUNNING)
		return prev;	/* nothing else to run: keep going */
	t = steal(pc->cpu);
	return t ? t : pc->idle_task;
}

/* Where a preempted or yielding task goes next. Interrupts off. */
static unsigned int requeue_cpu(struct task *t, struct rq *rq, unsigned int me)
{
	if (t->pin != TASK_ANY_CPU || nr_cpus_online < 2 ||
	    prng_below(&rq->rng, 100) >= sched_migrate_pct)
		return t->pin != TASK_ANY_CPU ? (unsigned int)t->pin : me;
	unsigned int n = (unsigned int)prng_below(&rq->rng, nr_cpus_online - 1), c = me;
	do
		c = next_online_cpu(c);
	while (n--);
	return c;
}

/*
 * Runs on the stack of the task switched in, interrupts off: queue the
 * task the switch left, or let its stack go if it died.
 */
static void finish_switch(void)
{
	struct percpu *pc = this_cpu();
	struct task *last = pc->switch_prev;

	pc->switch_prev = NULL;
	ASSERT_MSG(last, "cpu %u finishes a switch it did not start (current %s)", pc->cpu, pc->current->name);
	if (last != pc->idle_task) {
		/* Off this CPU; the queue lock publishes it with the task. */
		last->on_cpu = 0;
		if (last->state == TASK_RUNNABLE)
			enqueue(last, requeue_cpu(last, &rqs[pc->cpu], pc->cpu));
		else if (last->state == TASK_DEAD)
			store_release(&last->off_cpu, 1);
	}
	if (sched_switch_in_hook)
		sched_switch_in_hook(pc->current);
}

static void context_switch(struct percpu *pc, struct task *prev, struct task *next)
{
	struct rq *rq = &rqs[pc->cpu];
	uint64_t *rsp0 = (uint64_t *)tss_rsp0_slot();

	ASSERT_MSG(pc == this_cpu() && prev == pc->current, "context switch on cpu %u with a stale view",
		   smp_processor_id());
	ASSERT_MSG(next->pin == TASK_ANY_CPU || (unsigned int)next->pin == pc->cpu,
		   "task %s pinned to cpu %d switched in on cpu %u", next->name, next->pin, pc->cpu);
	if (sched_switch_out_hook)
		sched_switch_out_hook(prev);
	stall(sched_switch_out);
	if (next->mm)
		mm_load_irqs_off(next->mm);
	else
		mm_lazy_irqs_off();
	/* Where ring-3 traps and SYSCALL land: user_enter() keeps TSS.RSP0
	 * and entry_rsp equal for the task in ring 3 (arch/x86/user.h);
	 * each task keeps its own across switches. */
	prev->rsp0 = *rsp0;
	*rsp0 = next->rsp0;
	pc->entry_rsp = next->rsp0;
	if (next->cpu != pc->cpu && next != pc->idle_task)
		rq->stats.migrations++;
	next->cpu = pc->cpu;
	next->state = TASK_RUNNING;
	rq->stats.ctxsw++;
	rq->slice_ticks = 0;
	pc->switch_prev = prev;
	ASSERT_MSG(!next->on_cpu || next == pc->idle_task, "task %s switched in on cpu %u while it runs on cpu %d",
		   next->name, pc->cpu, next->on_cpu - 1);
	next->on_cpu = (int)pc->cpu + 1;
	pc->current = next;
	stall(sched_switch);
	switch_to(&prev->rsp, next->rsp);
	/* Back in prev, switched in again, maybe on another CPU. */
	finish_switch();
}

void schedule(void)
{
	uint64_t flags = irq_save();
	struct percpu *pc = this_cpu();
	struct task *prev = pc->current;

	ASSERT_MSG(pc->preempt_count == 0, "schedule() with preempt count %d in %s", pc->preempt_count,
		   prev->name);
	ASSERT_MSG(!pc->irq_depth, "schedule() from an interrupt handler");
	preempt_disable();
	pc->need_resched = false;
	struct task *next = pick_next(pc, prev);
	if (next != prev) {
		if (prev != pc->idle_task && prev->state == TASK_RUNNING)
			prev->state = TASK_RUNNABLE;
		context_switch(pc, prev, next);
	}
	preempt_enable_no_resched();
	irq_restore(flags);
}

void sched_yield(void)
{
	schedule();
}

void preempt_count_underflow(void)
{
	panic("cpu %u: preempt count below zero (an enable without its disable)", smp_processor_id());
}

void sched_preempt_point(void)
{
	struct percpu *pc = this_cpu();

	if (irqs_enabled() && !pc->irq_depth && pc->preempt_count == 0 && pc->current != pc->idle_task)
		schedule();
}

void sched_irq_exit(const struct trap_frame *f)
{
	struct percpu *pc = this_cpu();

	/* Not in a nested handler, not in a non-preemptible section, not
	 * where interrupts were off (a sched-RCU reader or a caller that
	 * relies on them), and never the idle task mid-halt (its RCU idle
	 * state is undone by its own loop). */
	if (!pc->need_resched || pc->irq_depth || pc->preempt_count || !(f->rflags & RFLAGS_IF) ||
	    pc->current == pc->idle_task)
		return;
	rqs[pc->cpu].stats.preemptions++;
	schedule();
}

__attribute__((noreturn)) static void task_exit(void)
{
	struct task *t = current_task();

	irq_disable();
	t->state = TASK_DEAD;
	store_release(&t->done, 1);
	schedule();
	panic("dead task %s switched in again", t->name);
}

void task_entry(void)
{
	struct task *t;

	/* The switch that started us raised the preempt count in
	 * schedule(), as every switch does; its other half is here. */
	finish_switch();
	preempt_enable_no_resched();
	irq_enable();
	t = current_task();
	t->fn(t->arg);
	task_exit();
}

/* Tick: end the slice; an idle CPU looks for work. */
static void sched_tick(struct trap_frame *f)
{
	struct percpu *pc = this_cpu();
	struct rq *rq = &rqs[pc->cpu];

	(void)f;
	if (pc->current == pc->idle_task)
		return;		/* the idle loop checks after every wake */
	if (++rq->slice_ticks * 1000 < sched_slice_ms * HZ * pc->current->weight)
		return;
	rq->slice_ticks = 0;
	if (load_relaxed(&rq->nr))
		pc->need_resched = true;
}

static bool has_work(struct percpu *pc)
{
	if (load_relaxed(&rqs[pc->cpu].nr))
		return true;
	unsigned int c;
	for_each_online_cpu(c)
		if (c != pc->cpu && load_relaxed(&rqs[c].nr_movable))
			return true;
	return false;
}

/* The idle task's loop: never returns. */
__attribute__((noreturn)) static void idle_loop(void)
{
	struct percpu *pc = this_cpu();

	for (;;) {
		irq_disable();
		pc->idle = true;
		/* The wake pairing at the top of the file. */
		smp_mb();
		if (!has_work(pc)) {
			if (idle_enter_hook)
				idle_enter_hook();
			safe_halt();
			irq_disable();
		}
		pc->idle = false;
		if (idle_exit_hook)
			idle_exit_hook();
		irq_enable();
		schedule();
	}
}

static void idle_fn(void *arg)
{
	(void)arg;
	idle_loop();
}

static void wake_ipi(struct trap_frame *f)
{
	(void)f;
}

void sched_init(void)
{
	struct percpu *pc = this_cpu();

	for (unsigned int c = 0; c < MAX_CPUS; c++) {
		spin_lock_init(&rqs[c].lock, LOCK_RUNQUEUE);
		prng_init(&rqs[c].rng, global_seed ? global_seed : rdtsc(), 9000 + c);
	}
	pc->current->rsp0 = *(uint64_t *)tss_rsp0_slot();
	/* The boot CPU's idle task has a stack of its own: its boot
	 * context goes on as "main". */
	pc->idle_task = task_create("idle/0", idle_fn, NULL, NULL, (int)pc->cpu);
	ASSERT(pc->idle_task);
	irq_register(VEC_WAKE, wake_ipi);
	tick_hook_register(sched_tick);
}

void sched_ap_start(void)
{
	struct percpu *pc = this_cpu();

	pc->idle_task = pc->current;
	pc->idle_task->rsp0 = *(uint64_t *)tss_rsp0_slot();
	idle_loop();
}
