/*
 * The inject= option: its values are "none" and every DEFINE_INJECT name.
 */
#include "kernel/inject.h"
#include "kernel/cmdline.h"

extern const struct inject_point __inject_points_start[], __inject_points_end[];

const struct inject_point *inject_on;
static int inject_index;	/* 0: none, i: __inject_points_start[i - 1] */

static const char *inject_choice(int i)
{
	if (i == 0)
		return "none";
	if (i - 1 >= __inject_points_end - __inject_points_start)
		return NULL;
	return __inject_points_start[i - 1].name;
}

static void inject_set(void)
{
	inject_on = inject_index ? &__inject_points_start[inject_index - 1] : NULL;
}

CMDLINE_OPT_(inject, .name = "inject", .type = OPT_ENUM, .var = &inject_index,
	     .choice_fn = inject_choice, .on_set = inject_set, .help = "seeded bug to turn on");
