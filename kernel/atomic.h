/*
 * Atomics with a named ordering (C11 memory model through the GCC
 * builtins), and READ_ONCE/WRITE_ONCE for single accesses that must be
 * neither torn, fused nor repeated. No volatile for synchronization
 * elsewhere in the kernel.
 */
#ifndef KERNEL_ATOMIC_H
#define KERNEL_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define barrier()	__asm__ volatile("" : : : "memory")
/* Full fence: orders earlier stores before later loads (the one
 * reordering x86 does). */
#define smp_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
/* x86 keeps load-load and store-store order; these only stop the compiler. */
#define smp_rmb()	barrier()
#define smp_wmb()	barrier()

#define load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define store_relaxed(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Read-modify-write operations are full barriers on x86 (LOCK prefix);
 * they are all spelled seq_cst so the compiler agrees. */
#define atomic_add_return(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_add(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define atomic_sub_return(p, v)	__atomic_sub_fetch((p), (v), __ATOMIC_SEQ_CST)
#define atomic_inc(p)		((void)__atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST))
#define atomic_dec(p)		((void)__atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST))
#define atomic_xchg(p, v)	__atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_or(p, v)	__atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define atomic_fetch_and(p, v)	__atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
/* Returns true if *p was old and is now new; else stores the value seen
 * in *old. */
#define atomic_cmpxchg(p, old, new) \
	__atomic_compare_exchange_n((p), (old), (new), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

/* Per-CPU statistics counters: only the owner CPU writes, others read
 * with relaxed loads for sums. */
#define counter_inc(p)	store_relaxed((p), load_relaxed(p) + 1)

#endif
