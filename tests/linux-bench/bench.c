/*
 * The init of the Linux comparison (README, Benchmarks): a static program
 * that Linux runs as PID 1 from an initramfs, doing what the minor_fault,
 * map_touch_unmap and fault_throughput cases of tests/bench.c do, with the
 * same page counts, batches and keys, and printing the figures the same
 * way on the console:
 *
 *   # bench <name> <value> <unit> os=linux [key=value ...]
 *
 * then "# linux-bench: done" and a power-off. It runs nothing else: no
 * shell, no modules, no other process but the one fork() of
 * writer=elsewhere.
 *
 * Every page faulted here is a 4 KiB one: the regions are madvise()d
 * MADV_NOHUGEPAGE, since mmtorture has no huge pages and Debian's kernel
 * gives anonymous memory transparent huge pages by default (when it has
 * 512 MiB of usable memory; -m 512M leaves less, and Linux then turns
 * them off itself).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE	4096ul
#define TABLE_SPAN	(512 * PAGE_SIZE)	/* what one PTE table maps */
#define BATCHES		9			/* as tests/bench.c */
#define FAULT_PAGES	511
#define TPUT_FAULTS	1022
#define MTU_ROUNDS	20
#define MAX_CPUS	64

static unsigned int nr_cpus;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/*
 * The end of the run: as init, power the machine off (QEMU then exits);
 * run by hand on a host, only exit.
 */
static void finish(int status)
{
	if (getpid() == 1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	exit(status);
}

/* Never returns: the console says why. */
static void die(const char *what)
{
	say("# linux-bench: error: %s: %s\n", what, strerror(errno));
	finish(1);
}

static void bench_line(const char *name, uint64_t value, const char *unit, const char *keys)
{
	say("# bench %s %llu %s os=linux%s%s\n", name, (unsigned long long)value, unit,
	    keys[0] ? " " : "", keys);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median_u64(uint64_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Pin the calling thread to one CPU. */
static void pin(unsigned int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

/* The kernel suite's cpu_relax(): under TCG a PAUSE also ends the
 * emulator's run of translated code, as it does on mmtorture's CPUs. */
static void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static void touch(uintptr_t va, uint64_t v)
{
	*(volatile uint64_t *)va = v;
}

/*
 * A private anonymous region of len bytes starting on a PTE-table
 * boundary, with 4 KiB pages only. *map and *maplen get what to munmap.
 */
static uintptr_t map_aligned(size_t len, void **map, size_t *maplen)
{
	size_t full = len + TABLE_SPAN;
	void *p = mmap(NULL, full, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (madvise(p, full, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	*map = p;
	*maplen = full;
	return ((uintptr_t)p + TABLE_SPAN - 1) & ~(TABLE_SPAN - 1);
}

/* --- minor fault ------------------------------------------------------- */

/* As tests/bench.c: a fresh PTE table's worth of pages, the first one
 * touched to build the tables, the other 511 timed. */
static void minor_fault(void)
{
	uint64_t b[BATCHES];

	for (int k = 0; k < BATCHES; k++) {
		void *map;
		size_t len;
		uintptr_t a = map_aligned(TABLE_SPAN, &map, &len);

		touch(a, 1);
		uint64_t t0 = now_ns();
		for (unsigned int i = 1; i <= FAULT_PAGES; i++)
			touch(a + i * PAGE_SIZE, i);
		b[k] = (now_ns() - t0) / FAULT_PAGES;
		munmap(map, len);
	}
	bench_line("minor_fault", median_u64(b, BATCHES), "ns", "");
}

/* --- threads pinned to CPUs --------------------------------------------- */

struct crew {
	pthread_t tid[MAX_CPUS];
	unsigned int n;
};

struct pinned_arg {
	unsigned int cpu;
	void *(*fn)(void *);
	void *arg;
};

static void *pinned_start(void *p)
{
	struct pinned_arg a = *(struct pinned_arg *)p;

	free(p);
	pin(a.cpu);
	return a.fn(a.arg);
}

static void crew_add(struct crew *c, unsigned int cpu, void *(*fn)(void *), void *arg)
{
	struct pinned_arg *a = malloc(sizeof(*a));

	if (!a)
		die("malloc");
	a->cpu = cpu;
	a->fn = fn;
	a->arg = arg;
	if (pthread_create(&c->tid[c->n], NULL, pinned_start, a))
		die("pthread_create");
	c->n++;
}

static void crew_join(struct crew *c)
{
	for (unsigned int i = 0; i < c->n; i++)
		pthread_join(c->tid[i], NULL);
	c->n = 0;
}

/* --- map, touch, unmap with remote CPUs in the mm ------------------------ */

/* K threads spin in user mode on CPUs 1..K, so the mm is loaded there and
 * every munmap of CPU 0 must shoot their TLBs down, as tests/bench.c's
 * spin_in_mm workers make mmtorture's. */
static atomic_int mtu_stop, mtu_ready;

static void *spin_in_mm(void *arg)
{
	(void)arg;
	atomic_fetch_add(&mtu_ready, 1);
	while (!atomic_load_explicit(&mtu_stop, memory_order_acquire))
		cpu_relax();
	return NULL;
}

static void map_touch_unmap(void)
{
	for (unsigned int remote = 0; remote < nr_cpus; remote++) {
		struct crew c = { .n = 0 };
		uint64_t b[BATCHES];

		atomic_store(&mtu_stop, 0);
		atomic_store(&mtu_ready, 0);
		for (unsigned int k = 1; k <= remote; k++)
			crew_add(&c, k, spin_in_mm, NULL);
		while (atomic_load(&mtu_ready) < (int)remote)
			sched_yield();
		for (int r = 0; r < BATCHES; r++) {
			uint64_t t0 = now_ns();
			for (int i = 0; i < MTU_ROUNDS; i++) {
				void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				if (p == MAP_FAILED)
					die("mmap");
				touch((uintptr_t)p, 1);
				munmap(p, PAGE_SIZE);
			}
			b[r] = (now_ns() - t0) / MTU_ROUNDS;
		}
		atomic_store_explicit(&mtu_stop, 1, memory_order_release);
		crew_join(&c);
		char keys[24];
		snprintf(keys, sizeof(keys), "remote=%u", remote);
		bench_line("map_touch_unmap", median_u64(b, BATCHES), "ns", keys);
	}
}

/* --- fault throughput, with and without a writer -------------------------- */

/*
 * Per CPU, the TLB shootdowns it received (the "TLB:" row of
 * /proc/interrupts), for writer_ipis. Returns 0 when the row is missing.
 */
static int tlb_counts(uint64_t *out)
{
	char buf[16384];
	int fd = open("/proc/interrupts", O_RDONLY);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *row = strstr(buf, "TLB:");
	if (!row)
		return 0;
	row += 4;
	for (unsigned int c = 0; c < nr_cpus; c++)
		out[c] = strtoull(row, &row, 10);
	return 1;
}

/*
 * Control of the writer: shared memory, so that a writer in another
 * process (writer=elsewhere) reads it too. Protection: (a) all fields.
 */
struct tput_ctl {
	atomic_int go, done, writer_ready, writer_stop;
};

struct tput {
	struct tput_ctl *ctl;
	uintptr_t base;
	unsigned int n;			/* faulters, on CPUs 0..n-1 */
};

struct faulter {
	struct tput *t;
	unsigned int idx;
	atomic_int ready;
};

/* Each faulter writes every page of two PTE tables but the first of
 * each, which it touches before the start to build the tables. */
static void *faulter_run(void *arg)
{
	struct faulter *f = arg;
	struct tput_ctl *ctl = f->t->ctl;
	uintptr_t base = f->t->base + (uintptr_t)f->idx * 2 * TABLE_SPAN;

	touch(base, 1);
	touch(base + TABLE_SPAN, 1);
	atomic_store(&f->ready, 1);
	while (!atomic_load_explicit(&ctl->go, memory_order_acquire))
		cpu_relax();
	for (unsigned int i = 1; i < 1024; i++)
		if (i != 512)
			touch(base + i * PAGE_SIZE, i);
	atomic_fetch_add(&ctl->done, 1);
	return NULL;
}

/* Maps, touches and unmaps one page in a loop in its mm until told to stop. */
static void writer_loop(struct tput_ctl *ctl)
{
	atomic_store(&ctl->writer_ready, 1);
	while (!atomic_load_explicit(&ctl->go, memory_order_acquire))
		cpu_relax();
	while (!atomic_load_explicit(&ctl->writer_stop, memory_order_acquire)) {
		void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			touch((uintptr_t)p, 1);
			munmap(p, PAGE_SIZE);
		}
	}
}

static void *writer_thread(void *arg)
{
	writer_loop(arg);
	return NULL;
}

enum writer { WRITER_NONE, WRITER_SAME_MM, WRITER_ELSEWHERE };

/* Faults per second of n faulters, with the writer (if any) on CPU n. */
static void tput_once(unsigned int n, enum writer w, struct tput_ctl *ctl)
{
	static const char *const wname[] = { "0", "1", "elsewhere" };
	struct faulter f[MAX_CPUS];
	struct tput t = { .ctl = ctl, .n = n };
	struct crew c = { .n = 0 };
	uint64_t tlb0[MAX_CPUS], tlb1[MAX_CPUS];
	pid_t child = -1;
	void *map;
	size_t len;

	memset(ctl, 0, sizeof(*ctl));
	if (w == WRITER_ELSEWHERE) {
		/* Forked before the region exists, so nothing of it is shared. */
		child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			pin(n);
			writer_loop(ctl);
			_exit(0);
		}
	}
	t.base = map_aligned((size_t)n * 2 * TABLE_SPAN, &map, &len);
	for (unsigned int i = 0; i < n; i++) {
		f[i].t = &t;
		f[i].idx = i;
		atomic_store(&f[i].ready, 0);
	}
	for (unsigned int i = 1; i < n; i++)
		crew_add(&c, i, faulter_run, &f[i]);
	if (w == WRITER_SAME_MM)
		crew_add(&c, n, writer_thread, ctl);
	/* This thread is faulter 0; it builds its tables before the start too. */
	touch(t.base, 1);
	touch(t.base + TABLE_SPAN, 1);
	atomic_store(&f[0].ready, 1);
	for (unsigned int i = 1; i < n; i++)
		while (!atomic_load(&f[i].ready))
			sched_yield();
	while (w != WRITER_NONE && !atomic_load(&ctl->writer_ready))
		sched_yield();
	int have_tlb = tlb_counts(tlb0);
	usleep(5000);
	uint64_t t0 = now_ns();
	atomic_store_explicit(&ctl->go, 1, memory_order_release);
	for (unsigned int i = 1; i < 1024; i++)
		if (i != 512)
			touch(t.base + i * PAGE_SIZE, i);
	atomic_fetch_add(&ctl->done, 1);
	while (atomic_load(&ctl->done) < (int)n)
		cpu_relax();
	uint64_t ns = now_ns() - t0;
	atomic_store_explicit(&ctl->writer_stop, 1, memory_order_release);
	have_tlb = have_tlb && tlb_counts(tlb1);
	crew_join(&c);
	if (child > 0)
		waitpid(child, NULL, 0);
	munmap(map, len);

	char keys[64];
	snprintf(keys, sizeof(keys), "cpus=%u writer=%s", n, wname[w]);
	uint64_t faults = (uint64_t)n * TPUT_FAULTS;
	bench_line("fault_throughput", faults * 1000000000ull / (ns ? ns : 1), "faults/s", keys);
	if (w == WRITER_SAME_MM && have_tlb) {
		/* Shootdowns the faulters' CPUs received, per faulter. */
		uint64_t sum = 0;
		for (unsigned int i = 0; i < n; i++)
			sum += tlb1[i] - tlb0[i];
		char wk[96];
		snprintf(wk, sizeof(wk), "%s faults=%u", keys, TPUT_FAULTS);
		bench_line("writer_ipis", sum / n, "count", wk);
	}
}

static void fault_throughput(void)
{
	unsigned int maxc = nr_cpus > 1 ? nr_cpus - 1 : 1;
	struct tput_ctl *ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (ctl == MAP_FAILED)
		die("mmap");
	for (unsigned int n = 1; n <= maxc; n++) {
		int writers = nr_cpus > n ? 3 : 1;
		for (int w = 0; w < writers; w++)
			tput_once(n, (enum writer)w, ctl);
	}
	munmap(ctl, sizeof(*ctl));
}

/* --- what the host needs to read the figures ------------------------------ */

static void read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

static void header(void)
{
	struct utsname u;
	char cmdline[1024], clock[64], thp[128];

	if (getpid() == 1) {
		/* An initramfs has /proc and /sys only as empty directories. */
		if (mount("proc", "/proc", "proc", 0, NULL))
			die("mount /proc");
		if (mount("sysfs", "/sys", "sysfs", 0, NULL))
			die("mount /sys");
	}
	uname(&u);
	read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource", clock, sizeof(clock));
	read_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	say("# linux-bench: linux %s cmdline: %s\n", u.release, cmdline);
	say("# cpus: %u online\n", nr_cpus);
	say("# linux-bench: clocksource %s, transparent_hugepage %s (regions here are MADV_NOHUGEPAGE)\n",
	    clock[0] ? clock : "?", thp[0] ? thp : "?");
}

int main(void)
{
	cpu_set_t all;

	/* PID 1 may start without a console on fds 0-2. */
	if (fcntl(1, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	if (sched_getaffinity(0, sizeof(all), &all))
		die("sched_getaffinity");
	nr_cpus = CPU_COUNT(&all);
	if (nr_cpus > MAX_CPUS)
		nr_cpus = MAX_CPUS;
	header();
	pin(0);
	minor_fault();
	map_touch_unmap();
	fault_throughput();
	say("# linux-bench: done\n");
	finish(0);
}
