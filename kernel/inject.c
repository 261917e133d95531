#include "kernel/inject.h"
#include "kernel/cmdline.h"

int inject_active;

const char *const inject_names[NR_INJECT + 1] = {
	[INJECT_NONE] = "none",
	[INJECT_PAGE_DOUBLE_FREE] = "page_double_free",
	[INJECT_RCU_EARLY_GP] = "rcu_early_gp",
	[INJECT_RCU_SKIP_QS_CHECK] = "rcu_skip_qs_check",
	[NR_INJECT] = NULL,
};

CMDLINE_ENUM(inject, inject_active, inject_names, "seeded bug to turn on");
