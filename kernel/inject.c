#include "kernel/inject.h"
#include "kernel/cmdline.h"

int inject_active;

const char *const inject_names[NR_INJECT + 1] = {
	[INJECT_NONE] = "none",
	[INJECT_PAGE_DOUBLE_FREE] = "page_double_free",
	[INJECT_RCU_EARLY_GP] = "rcu_early_gp",
	[INJECT_RCU_SKIP_QS_CHECK] = "rcu_skip_qs_check",
	[INJECT_VMA_FREE_NO_RCU] = "vma_free_no_rcu",
	[INJECT_SKIP_SHOOTDOWN] = "skip_shootdown",
	[INJECT_FREE_BEFORE_FLUSH] = "free_before_flush",
	[INJECT_PT_FREE_NO_WAIT] = "pt_free_no_wait",
	[INJECT_ZERO_PAGE_NO_FLUSH] = "zero_page_no_flush",
	[INJECT_SPF_NO_VMA_RECHECK] = "spf_no_vma_recheck",
	[INJECT_SPF_NO_PMD_RECHECK] = "spf_no_pmd_recheck",
	[INJECT_SPF_LOCK_PTL] = "spf_lock_ptl",
	[NR_INJECT] = NULL,
};

CMDLINE_ENUM(inject, inject_active, inject_names, "seeded bug to turn on");
