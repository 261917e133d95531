/*
 * Command line: space-separated key=value options, each registered by the
 * subsystem that owns it with one of the macros below (a table in section
 * .cmdline_opts). An unknown key, a missing '=', or a bad value makes the
 * run bail out naming the offending text.
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cmdline_type { OPT_U64, OPT_ENUM, OPT_STR };

struct cmdline_opt {
	const char *name;
	enum cmdline_type type;
	void *var;			/* uint64_t *, int *, or char[size] */
	size_t size;			/* OPT_STR buffer size */
	const char *const *choices;	/* OPT_ENUM: NULL-terminated */
	const char *(*choice_fn)(int i);	/* OPT_ENUM without choices: the i-th, NULL past the end */
	void (*on_set)(void);		/* optional: called after the value is stored */
	uint64_t min, max;		/* OPT_U64 bounds */
	const char *help;
	bool *set;			/* optional: becomes true when given */
	/* OPT_STR, optional: check the stored value; false with err
	 * filled rejects the word as a bad value. */
	bool (*check)(const char *val, char *err, size_t errlen);
};

#define CMDLINE_OPT_(id, ...)						\
	static const struct cmdline_opt cmdline_opt_##id		\
	__attribute__((used, section(".cmdline_opts"), aligned(8))) = { __VA_ARGS__ }

#define CMDLINE_U64(nm, v, lo, hi, h) \
	CMDLINE_OPT_(nm, .name = #nm, .type = OPT_U64, .var = &(v), .min = (lo), .max = (hi), .help = (h))
#define CMDLINE_U64_SET(nm, v, lo, hi, s, h) \
	CMDLINE_OPT_(nm, .name = #nm, .type = OPT_U64, .var = &(v), .min = (lo), .max = (hi), .help = (h), .set = &(s))
#define CMDLINE_ENUM(nm, v, ch, h) \
	CMDLINE_OPT_(nm, .name = #nm, .type = OPT_ENUM, .var = &(v), .choices = (ch), .help = (h))
#define CMDLINE_STR(nm, v, h) \
	CMDLINE_OPT_(nm, .name = #nm, .type = OPT_STR, .var = (v), .size = sizeof(v), .help = (h))

/*
 * Parse the command line into the registered variables. Returns true if
 * every word parsed; else writes a description of the first problem
 * ("unknown option 'bogus=1'") to err and returns false, having still
 * applied every word that did parse (so exit= takes effect).
 */
bool cmdline_parse(const char *cmdline, char *err, size_t errlen);

#endif
