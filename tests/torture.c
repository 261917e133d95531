/* Shared torture machinery: see tests/torture.h. */
#include "tests/torture.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "mm/mm.h"

uint64_t torture_duration_s = 10;
CMDLINE_U64(duration, torture_duration_s, 1, 86400, "seconds each torture suite runs");

bool torture_begin(struct torture *t, const struct torture_needs *needs)
{
	if (nr_cpus_online < needs->cpus) {
		if (needs->roles)
			ktap_skip("needs %u CPUs (%s)", needs->cpus, needs->roles);
		else
			ktap_skip("needs %u CPUs", needs->cpus);
		return false;
	}
	if (needs->mm == TORTURE_OWN_MM) {
		t->mm = mm_create();
		if (!KTAP_EXPECT(t->mm, "out of memory"))
			return false;
	}
	return true;
}

void torture_run(struct torture *t, worker_fn fn, void *arg)
{
	t->end_tsc = rdtsc() + ns_to_tsc(torture_duration_s * 1000000000ull);
	workers_run_all(fn, arg, (torture_duration_s + 60) * 1000000000ull);
}

void torture_worker_start(const struct torture *t, struct prng *rng, uint64_t stream_base)
{
	prng_init(rng, global_seed, stream_base + smp_processor_id());
	mm_switch(t->mm);
}

bool torture_judges_work(struct torture *t)
{
	if (t->verdict == TORTURE_UNJUDGED)
		t->verdict = ktap_case_failed() ? TORTURE_CUT_SHORT : TORTURE_JUDGE_WORK;
	return t->verdict == TORTURE_JUDGE_WORK;
}

void torture_end(struct torture *t)
{
	if (t->mm)
		mm_destroy(t->mm);
	t->mm = NULL;
}
