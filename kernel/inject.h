/*
 * Seeded bugs. inject=NAME turns off one safety step; the scenario matrix
 * runs each as an expected failure to show that the test guarding the
 * step can fail.
 *
 * A seeded bug is declared where it lives, in the file whose safety step
 * it turns off, and tested there:
 *
 *   DEFINE_INJECT(skip_shootdown, "remote TLB flushes are skipped");
 *   ...
 *   if (injected(skip_shootdown))
 *           return;
 *
 * DEFINE_INJECT registers the name in section .inject_points (as
 * CMDLINE_ENUM registers an option), so the inject= option knows every
 * bug without a list kept in sync by hand. injected() is one load and a
 * predictable branch.
 */
#ifndef KERNEL_INJECT_H
#define KERNEL_INJECT_H

#include <stdbool.h>

struct inject_point {
	const char *name;
	const char *help;
};

#define DEFINE_INJECT(nm, h)						\
	static const struct inject_point inject_point_##nm		\
	__attribute__((used, section(".inject_points"), aligned(8))) = { #nm, h }

/* The bug chosen by inject=, NULL for none. (c) after the command line
 * is parsed. */
extern const struct inject_point *inject_on;

#define injected(nm) __builtin_expect(inject_on == &inject_point_##nm, 0)

#endif
