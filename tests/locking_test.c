/*
 * Suite "locking": the lock-order check (kernel/lockdep.h) reports an
 * inverted order and stays quiet for the table's order. Runs with
 * lockdep=on; with the check off there is nothing to test. The check
 * itself watches every lock of the run, whatever suites are chosen.
 */
#include "kernel/lockdep.h"
#include "kernel/printk.h"
#include "kernel/rwlock.h"
#include "kernel/spinlock.h"
#include "tests/ktap.h"

static bool lockdep_available(char *why, unsigned long len)
{
	if (lockdep_enabled)
		return true;
	snprintf(why, len, "lockdep=off");
	return false;
}

/* Private locks of real classes: nobody else takes them. */
static spinlock_t outer = SPINLOCK_INIT(LOCK_PTL);
static spinlock_t inner = SPINLOCK_INIT(LOCK_PAGE_ALLOC);
static struct rwlock map_lock = RWLOCK_INIT(LOCK_MMAP);

static unsigned long take_two(void (*first)(void *), void *a, void (*second)(void *), void *b,
			      void (*unlock_a)(void *), void (*unlock_b)(void *))
{
	ktap_expect_error_begin("lock_order");
	uint64_t flags = irq_save();
	first(a);
	second(b);
	unlock_b(b);
	unlock_a(a);
	irq_restore(flags);
	return ktap_expect_error_end();
}

static void spin_take(void *l) { spin_lock(l); }
static void spin_drop(void *l) { spin_unlock(l); }
static void write_take(void *l) { write_lock(l); }
static void write_drop(void *l) { write_unlock(l); }

static void table_order_is_quiet(void)
{
	unsigned long n = take_two(spin_take, &outer, spin_take, &inner, spin_drop, spin_drop);
	KTAP_EXPECT(n == 0, "ptl then page_alloc (the table's order) reported %lu times", n);
	n = take_two(write_take, &map_lock, spin_take, &outer, write_drop, spin_drop);
	KTAP_EXPECT(n == 0, "mmap_lock then ptl reported %lu times", n);
}

static void inversion_reported(void)
{
	unsigned long n = take_two(spin_take, &inner, spin_take, &outer, spin_drop, spin_drop);
	KTAP_EXPECT(n == 1, "page_alloc then ptl (inverted) reported %lu times, expected once", n);
	n = take_two(spin_take, &outer, write_take, &map_lock, spin_drop, write_drop);
	KTAP_EXPECT(n == 1, "ptl then mmap_lock (inverted) reported %lu times, expected once", n);
}

/* A trylock cannot wait, so it may be taken against the order. */
static void trylock_any_order(void)
{
	uint64_t flags = irq_save();
	ktap_expect_error_begin("lock_order");
	spin_lock(&inner);
	bool got = spin_trylock(&outer);
	if (got)
		spin_unlock(&outer);
	spin_unlock(&inner);
	unsigned long n = ktap_expect_error_end();
	irq_restore(flags);
	KTAP_EXPECT(got, "trylock of a free lock failed");
	KTAP_EXPECT(n == 0, "a trylock against the order reported %lu times", n);
}

static const struct ktap_case locking_cases[] = {
	KTAP_CASE(table_order_is_quiet),
	KTAP_CASE(inversion_reported),
	KTAP_CASE(trylock_any_order),
};
KTAP_SUITE(locking, locking_cases, .available = lockdep_available);
