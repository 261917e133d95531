#ifndef KERNEL_RCU_TYPES_H
#define KERNEL_RCU_TYPES_H

/* A callback queued by call_rcu(); embedded in the object it frees. */
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};

#endif
