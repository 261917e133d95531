#include "kernel/cmdline.h"
#include "kernel/printk.h"
#include "kernel/string.h"

extern const struct cmdline_opt __cmdline_opts_start[], __cmdline_opts_end[];

static const char *memchr_local(const char *s, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == c)
			return s + i;
	return NULL;
}

static const char *choice(const struct cmdline_opt *o, int i)
{
	return o->choices ? o->choices[i] : o->choice_fn(i);
}

static const struct cmdline_opt *find_opt(const char *key, size_t klen)
{
	for (const struct cmdline_opt *o = __cmdline_opts_start; o < __cmdline_opts_end; o++)
		if (strlen(o->name) == klen && !strncmp(o->name, key, klen))
			return o;
	return NULL;
}

/* Returns 0, or -1 with err filled. */
static int apply(const struct cmdline_opt *o, const char *word, size_t wlen,
		 const char *val, size_t vlen, char *err, size_t errlen)
{
	uint64_t v;

	switch (o->type) {
	case OPT_U64:
		if (parse_u64(val, vlen, &v) || v < o->min || v > o->max) {
			snprintf(err, errlen, "bad value in '%.*s': %s expects an integer in %llu..%llu",
				 (int)wlen, word, o->name, (unsigned long long)o->min,
				 (unsigned long long)o->max);
			return -1;
		}
		*(uint64_t *)o->var = v;
		break;
	case OPT_ENUM:
		for (int i = 0; choice(o, i); i++) {
			if (strlen(choice(o, i)) == vlen && !strncmp(choice(o, i), val, vlen)) {
				*(int *)o->var = i;
				goto done;
			}
		}
		{
			char list[320];
			size_t n = 0;
			list[0] = 0;
			for (int i = 0; choice(o, i); i++)
				n += snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
					      i ? "|" : "", choice(o, i));
			snprintf(err, errlen, "bad value in '%.*s': %s expects one of %s",
				 (int)wlen, word, o->name, list);
		}
		return -1;
	case OPT_STR:
		if (vlen + 1 > o->size) {
			snprintf(err, errlen, "value too long in '%.*s'", (int)wlen, word);
			return -1;
		}
		memcpy(o->var, val, vlen);
		((char *)o->var)[vlen] = 0;
		if (o->check && !o->check(o->var, err, errlen))
			return -1;
		break;
	}
done:
	if (o->set)
		*o->set = true;
	if (o->on_set)
		o->on_set();
	return 0;
}

bool cmdline_parse(const char *s, char *err, size_t errlen)
{
	bool ok = true;

	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		const char *word = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		size_t wlen = s - word;
		const char *eq = memchr_local(word, '=', wlen);
		char e[400];

		if (!eq) {
			snprintf(e, sizeof(e), "option without '=': '%.*s'", (int)wlen, word);
		} else {
			const struct cmdline_opt *o = find_opt(word, eq - word);
			if (!o)
				snprintf(e, sizeof(e), "unknown option '%.*s'", (int)wlen, word);
			else if (!apply(o, word, wlen, eq + 1, word + wlen - eq - 1, e, sizeof(e)))
				continue;
		}
		if (ok)
			strlcpy(err, e, errlen);
		ok = false;
	}
	return ok;
}
