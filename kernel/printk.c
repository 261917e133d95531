#include "kernel/printk.h"
#include "arch/x86/cpu.h"
#include "kernel/atomic.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/string.h"

static struct console *consoles;	/* (console lock) */

/*
 * Boot log: the text printed before console_boot_done(), kept so that a
 * console found late (the UART that the ACPI SPCR table names, known only
 * once ACPI is parsed) can be given the lines it missed. All three fields
 * are under the console lock; the BSP alone prints at that stage.
 */
#define BOOT_LOG_SIZE 8192
static char boot_log[BOOT_LOG_SIZE];
static size_t boot_log_len;		/* bytes kept */
static size_t boot_log_lost;		/* bytes that did not fit */
static bool boot_log_done;

/*
 * The console lock records its owner so that an NMI (backtrace request)
 * arriving on the CPU that holds it can still print: it nests instead of
 * deadlocking. (a) for both fields; depth only by the owner.
 */
static int console_owner;		/* CPU index + 1, 0 when free */
static int console_depth;
bool printk_panic_mode;

static bool percpu_ready(void)
{
	return rdmsr(MSR_GS_BASE) != 0;
}

/*
 * The owner is a CPU, so the holder must stay on it: the preempt count
 * is raised from the lock to the unlock (a task switched out holding it
 * would let the next task on its CPU in as a "recursion").
 */
void printk_lock(void)
{
	if (percpu_ready())
		preempt_disable();
	int me = percpu_ready() ? (int)smp_processor_id() + 1 : 1;
	uint64_t start = 0;

	if (load_relaxed(&console_owner) == me) {
		console_depth++;
		return;
	}
	for (;;) {
		int expected = 0;
		if (atomic_cmpxchg(&console_owner, &expected, me))
			break;
		cpu_relax();
		if (READ_ONCE(printk_panic_mode)) {
			if (!start)
				start = rdtsc();
			/* ~10 s at 4 GHz: only a CPU that died holding it. */
			else if (rdtsc() - start > 40000000000ull) {
				store_release(&console_owner, me);
				break;
			}
		}
	}
	console_depth = 1;
}

void printk_unlock(void)
{
	if (--console_depth == 0)
		store_release(&console_owner, 0);
	if (percpu_ready())
		preempt_enable_no_resched();
}

void console_register(struct console *c)
{
	printk_lock();
	c->next = consoles;
	consoles = c;
	printk_unlock();
}

void console_register_replay(struct console *c)
{
	printk_lock();
	c->write(boot_log, boot_log_len);
	if (boot_log_lost) {
		char note[96];
		int n = snprintf(note, sizeof(note),
				 "# console: %zu bytes of the boot log did not fit and are lost\n",
				 boot_log_lost);
		c->write(note, n < (int)sizeof(note) ? (size_t)n : sizeof(note) - 1);
	}
	c->next = consoles;
	consoles = c;
	printk_unlock();
}

void console_unregister(struct console *c)
{
	printk_lock();
	for (struct console **pp = &consoles; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->next = NULL;
	printk_unlock();
}

void console_boot_done(void)
{
	printk_lock();
	boot_log_done = true;
	printk_unlock();
}

static void boot_log_append(const char *s, size_t n)
{
	size_t room = BOOT_LOG_SIZE - boot_log_len;

	if (boot_log_done)
		return;
	if (n > room) {
		boot_log_lost += n - room;
		n = room;
	}
	memcpy(boot_log + boot_log_len, s, n);
	boot_log_len += n;
}

void console_list(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	printk_lock();
	for (struct console *c = consoles; c; c = c->next) {
		char what[128] = "";
		if (c->describe)
			c->describe(what, sizeof(what));
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s%s%s%s", n ? ", " : "", c->name,
			      *what ? " (" : "", what, *what ? ")" : "");
	}
	printk_unlock();
}

void console_flush_all(void)
{
	for (struct console *c = consoles; c; c = c->next)
		if (c->flush)
			c->flush();
}

void vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	printk_lock();
	boot_log_append(buf, n);
	for (struct console *c = consoles; c; c = c->next)
		c->write(buf, n);
	printk_unlock();
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

struct outbuf {
	char *buf;
	size_t size, pos;
};

static void out_char(struct outbuf *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

/* One conversion's flags, width and precision ("%-08.3x"). */
struct spec {
	int width, prec;	/* prec < 0: none */
	bool left, zero, upper;
	unsigned int base;
};

static void out_str(struct outbuf *o, const char *s, const struct spec *sp)
{
	int len = sp->prec >= 0 ? (int)strnlen(s, sp->prec) : (int)strlen(s);

	if (!sp->left)
		for (int i = len; i < sp->width; i++)
			out_char(o, ' ');
	for (int i = 0; i < len; i++)
		out_char(o, s[i]);
	if (sp->left)
		for (int i = len; i < sp->width; i++)
			out_char(o, ' ');
}

/* v in sp->base, preceded by '-' when negative is set. */
static void out_num(struct outbuf *o, unsigned long long v, bool negative, const struct spec *sp)
{
	char tmp[24];
	int n = 0;
	const char *digits = sp->upper ? "0123456789ABCDEF" : "0123456789abcdef";

	do {
		tmp[n++] = digits[v % sp->base];
		v /= sp->base;
	} while (v);
	int len = n + negative;
	if (negative && sp->zero)
		out_char(o, '-');
	if (!sp->left)
		for (int i = len; i < sp->width; i++)
			out_char(o, sp->zero ? '0' : ' ');
	if (negative && !sp->zero)
		out_char(o, '-');
	while (n)
		out_char(o, tmp[--n]);
	if (sp->left)
		for (int i = len; i < sp->width; i++)
			out_char(o, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_char(&o, *fmt);
			continue;
		}
		struct spec sp = { .prec = -1, .base = 10 };
		int lng = 0;

		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				sp.left = true;
			else
				sp.zero = true;
		}
		if (*fmt == '*') {
			sp.width = va_arg(ap, int);
			fmt++;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			sp.width = sp.width * 10 + (*fmt - '0');
		if (*fmt == '.') {
			sp.prec = 0;
			fmt++;
			if (*fmt == '*') {
				sp.prec = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				sp.prec = sp.prec * 10 + (*fmt - '0');
		}
		for (; *fmt == 'l' || *fmt == 'z' || *fmt == 'h'; fmt++)
			if (*fmt != 'h')
				lng++;

		unsigned long long u;
		long long s;
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, long long) : va_arg(ap, int);
			out_num(&o, s < 0 ? -(unsigned long long)s : (unsigned long long)s, s < 0, &sp);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			u = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			sp.base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
			sp.upper = *fmt == 'X';
			out_num(&o, u, false, &sp);
			break;
		case 'c':
			out_char(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			out_str(&o, str ? str : "(null)", &sp);
			break;
		}
		case 'p': {
			uintptr_t p = (uintptr_t)va_arg(ap, void *);
			if (fmt[1] == 'S') {
				char sym[128];
				fmt++;
				ksym_format(p, sym, sizeof(sym));
				sp.prec = -1;
				out_str(&o, sym, &sp);
			} else {
				/* 0x and 16 digits, whatever the flags said. */
				static const struct spec ptr = { .width = 16, .prec = -1, .zero = true, .base = 16 };
				out_char(&o, '0');
				out_char(&o, 'x');
				out_num(&o, p, false, &ptr);
			}
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *fmt);
		}
	}
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = 0;
	return o.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
