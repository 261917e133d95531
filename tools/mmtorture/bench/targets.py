"""The targets: ratios between figures of one run, each checked by a small
function below.  evaluate() calls them in CHECKS order and returns the
rows of the run's table in summary.md: the check, what was measured, the
target, and ok, MISSED, skipped or n/a; a MISSED row carries what the
run's own figures say caused it.

The targets (README, Benchmarks):

  minor_fault path=spf / (exception_roundtrip + page_clear)          <= 1.5
  fault_throughput path=spf writer=1 / writer=0, every CPU count     >= 0.9
  fault_throughput writer=1 path=spf / path=locked, at the most CPUs >= 3
  shootdown targets=1 pages=1 / ipi_roundtrip                        <= 3
  each further shootdown target / targets=1                          <= 0.25
  rcu_gp expedited median / (ipi_roundtrip x (CPUs-1))               <= 3
  rcu_gp normal median / tick period                                 <= 3
  rcu_gp_after_unlock preempted_reader / tick period                 <= 2
  map_touch_unmap remote=1 / remote=0                                <= 2
"""

import os

from .quantity import Lookup, Q, UnitMismatch, fmt_num, fmt_ratio, fmt_time, ratio

NOT_MEASURED = "n/a (not measured)"
# Under -icount the CPUs take turns on one host thread: throughput with
# several CPUs is not parallel and says nothing about scaling.
SERIAL = "n/a (-icount: the CPUs take turns, so throughput is not parallel)"
OK, MISSED = "ok", "MISSED"
DEFAULT_TICK_US = 4000.0        # HZ=250


class Row:
    def __init__(self, check, measured, target, result, why=""):
        self.check = check
        self.measured = measured
        self.target = target
        self.result = result
        self.why = why          # for a miss: what the run's own figures say caused it


class Target:
    """A bound on a ratio; shown as '<= 1.5' unless given a label."""

    def __init__(self, op, limit, label=None):
        self.op, self.limit, self.label = op, limit, label

    def met(self, r):
        return r <= self.limit if self.op == "<=" else r >= self.limit

    def __str__(self):
        return self.label or "%s %g" % (self.op, self.limit)


def at_most(limit, label=None):
    return Target("<=", limit, label)


def at_least(limit):
    return Target(">=", limit)


def host_cpus():
    return os.cpu_count() or 1


def oversubscribed(run):
    """The reason text when the run had more vCPUs than the host has cores
    (TCG: one host thread per vCPU), else ''."""
    host = host_cpus()
    if run.icount is None and run.accel == "tcg" and run.cpus and run.cpus > host:
        return ("%d vCPUs shared %d host cores: a target that is busy, or woken from halt, "
                "waits for a host core (a host scheduling slice, milliseconds), which no "
                "kernel change can remove; the -icount runs count the instructions instead"
                % (run.cpus, host))
    return ""


def tick_period(run, d):
    """(tick in ns, how it was found)."""
    try:
        q = d.get("tick_period")
    except UnitMismatch:
        q = None
    if q is not None and q.kind == "time" and q.value > 0:
        return q.value, "bench tick_period"
    hz = run.head.get("tick_hz")
    if hz:
        return 1e9 / hz, "tick_hz %d" % hz
    return DEFAULT_TICK_US * 1e3, "assumed: not printed"


def quotient(a, b):
    """(a / b, 'r (a / b)'), or None when either was not measured."""
    if a is None or b is None:
        return None
    r = ratio(a, b)
    return r, "%s (%s / %s)" % (fmt_ratio(r), a, b)


class Checks:
    """One run's figures, and the rows the checks add for it."""

    def __init__(self, run):
        self.run = run
        self.cpus = run.cpus
        self.d = Lookup(run.records)
        self.get = self.d.get
        self.serial = run.icount is not None and self.cpus is not None and self.cpus > 1
        self.rows = []

    def absent(self, why_skip):
        """What a missing input means: nothing to measure on 1 CPU."""
        return "skipped (%s)" % why_skip if self.cpus == 1 else NOT_MEASURED

    def fixed(self, check, target, result):
        """A row with nothing measured (skipped, n/a)."""
        self.rows.append(Row(check, "", str(target), result))

    def check(self, check, target, measure, missing=NOT_MEASURED, why=None):
        """measure() returns (ratio, measured text) or None when an input is
        missing; why() explains a miss."""
        try:
            got = measure()
        except UnitMismatch as e:
            self.fixed(check, target, "n/a (%s)" % e)
            return
        if got is None:
            self.fixed(check, target, missing)
            return
        r, text = got
        good = target.met(r)
        reason = ""
        if not good:
            reason = "; ".join(x for x in ((why() if why else ""), oversubscribed(self.run)) if x)
        self.rows.append(Row(check, text, str(target), OK if good else MISSED, reason))


def minor_fault(c):
    """A speculative minor fault costs at most 1.5 x its parts: taking the
    exception and clearing the page."""
    def measure():
        mf, ex, pc = c.get("minor_fault", path="spf"), c.get("exception_roundtrip"), c.get("page_clear")
        if None in (mf, ex, pc):
            return None
        if ex.kind != pc.kind:
            raise UnitMismatch("units differ: %s vs %s" % (ex.kind, pc.kind))
        return quotient(mf, Q(ex.value + pc.value, ex.kind))
    c.check("minor_fault path=spf / (exception_roundtrip + page_clear)", at_most(1.5), measure)


def writer_cost(c):
    """A writer in the faulters' mm costs the speculative faulters at most
    10%, at every CPU count measured."""
    check, target = "fault_throughput path=spf writer=1 / writer=0", at_least(0.9)
    counts = sorted(set(c.d.key_values("fault_throughput", "cpus", path="spf", writer=0)) |
                    set(c.d.key_values("fault_throughput", "cpus", path="spf", writer=1)))
    if not counts:
        c.fixed(check, target, c.absent("1 CPU: no CPU for the writer"))
    for n in counts:
        row = "%s, cpus=%d" % (check, n)
        if c.serial:
            c.fixed(row, target, SERIAL)
            continue
        missing = NOT_MEASURED
        if c.cpus is not None and n >= c.cpus and not c.d.find("fault_throughput", path="spf", writer=1, cpus=n):
            missing = "skipped (no CPU left for the writer)"
        c.check(row, target,
                lambda: quotient(c.get("fault_throughput", path="spf", writer=1, cpus=n),
                                 c.get("fault_throughput", path="spf", writer=0, cpus=n)),
                missing=missing, why=lambda: why_writer_cost(c, n))


def why_writer_cost(c, n):
    """Splits the loss: the writer in another address space shows what
    sharing the machine costs; the rest is its shootdowns."""
    w1 = c.get("fault_throughput", path="spf", writer=1, cpus=n)
    w0 = c.get("fault_throughput", path="spf", writer=0, cpus=n)
    we = c.get("fault_throughput", path="spf", writer="elsewhere", cpus=n)
    ipis = c.d.find("writer_ipis", path="spf", writer=1, cpus=n)
    recv = c.get("ipi_receive")
    parts = []
    if we is not None:
        apart = ratio(we, w0)
        if apart < 0.9:
            return ("with the writer in an address space of its own the ratio is already %s: "
                    "the loss comes from sharing the host's cores, not from the writer's "
                    "work in the faulters' mm" % fmt_ratio(apart))
        parts.append("with the writer in an address space of its own the ratio is %s, so "
                     "mmap_lock, the VMA arrays and the allocator are not the cost" % fmt_ratio(apart))
    if ipis and ipis[0]["value"] > 0 and ipis[0]["keys"].get("faults", "").isdigit():
        k = ipis[0]["value"]
        faults = int(ipis[0]["keys"]["faults"])
        # Wall time = n * faults / rate; the extra time over the IPIs each
        # faulter took.
        lost = n * faults * (1.0 / w1.value - 1.0 / w0.value) * 1e9
        text = ("in its address space every munmap interrupts each faulter: %s shootdown IPIs "
                "per faulter, %s lost per IPI taken" % (fmt_num(k), fmt_time(lost / k)))
        if recv is not None:
            text += " (ipi_receive, a CPU in a plain loop: %s)" % recv
            if lost / k > 10 * recv.value and oversubscribed(c.run):
                text += ("; far more than taking an interrupt costs: the writer's shootdown "
                         "waits for every faulter's answer, and with more busy vCPUs than host "
                         "cores it spins while a faulter is descheduled, on a core that "
                         "faulter needs")
        parts.append(text)
    if parts:
        parts.append("the shootdown is required (x86 may cache any present translation); "
                     "the cost of taking it is the emulator's interrupt delivery")
    return "; ".join(parts)


def spf_vs_locked(c):
    """Under a writer, speculative faults outrun locked ones 3 to 1 at the
    most CPUs (a target for 4-CPU runs)."""
    check, target = "fault_throughput writer=1 path=spf / path=locked, at the most CPUs", at_least(3)
    if c.cpus is not None and c.cpus < 4:
        c.fixed(check, target, "skipped (target is for -smp 4; %d online)" % c.cpus)
        return
    if c.serial:
        c.fixed(check, target, SERIAL)
        return
    both = sorted(set(c.d.key_values("fault_throughput", "cpus", path="spf", writer=1)) &
                  set(c.d.key_values("fault_throughput", "cpus", path="locked", writer=1)))

    def measure():
        if not both:
            return None
        n = both[-1]
        s = c.get("fault_throughput", path="spf", writer=1, cpus=n)
        lk = c.get("fault_throughput", path="locked", writer=1, cpus=n)
        r = ratio(s, lk)
        return r, "%s at cpus=%d (%s / %s)" % (fmt_ratio(r), n, s, lk)
    c.check(check, target, measure)


def shootdown_first(c):
    """A shootdown of one page on one target costs at most 3 IPI round trips."""
    c.check("shootdown targets=1 pages=1 / ipi_roundtrip", at_most(3),
            lambda: quotient(c.get("shootdown", targets=1, pages=1), c.get("ipi_roundtrip")),
            missing=c.absent("1 CPU: nothing to shoot down"))


def shootdown_steps(c):
    """Each further target adds at most a quarter of the first one's cost."""
    target = at_most(0.25)
    targets = [k for k in c.d.key_values("shootdown", "targets", pages=1) if k >= 2]
    if not targets:
        check = "shootdown pages=1, each further target / targets=1"
        if c.cpus is not None and c.cpus <= 2:
            c.fixed(check, target, "skipped (%d CPU%s: no second target)" % (c.cpus, "" if c.cpus == 1 else "s"))
        else:
            c.fixed(check, target, NOT_MEASURED)

    def measure(k):
        first = c.get("shootdown", targets=1, pages=1)
        cur = c.get("shootdown", targets=k, pages=1)
        prev = c.get("shootdown", targets=k - 1, pages=1)
        if cur is None or prev is None or first is None:
            return None
        if cur.kind != prev.kind:
            raise UnitMismatch("units differ: %s vs %s" % (cur.kind, prev.kind))
        step = Q(cur.value - prev.value, cur.kind)
        r = ratio(step, first)
        sign = "+" if step.value >= 0 else "-"
        return r, "%s (%s%s / %s)" % (fmt_ratio(r), sign, Q(abs(step.value), step.kind), first)

    def why():
        if c.run.icount is not None:
            return ("-icount runs the CPUs one after another, so each target's interrupt entry, "
                    "flush, ack and return to its idle loop add to the initiator's time; on parallel "
                    "CPUs they overlap and the initiator pays only its own send and wait")
        return ""
    for k in targets:
        c.check("shootdown pages=1, targets=%d minus targets=%d / targets=1" % (k, k - 1), target,
                lambda: measure(k), why=why)


def expedited_gp(c):
    """An expedited grace period costs at most 3 IPI round trips to every
    other CPU."""
    check, target = "rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))", at_most(3)
    if c.cpus == 1:
        c.fixed(check, target, "skipped (1 CPU)")
        return
    if c.cpus is None:
        c.fixed(check, target, "n/a (CPU count not in the log)")
        return

    def measure():
        gp, ipi = c.get("rcu_gp", kind="expedited", stat="median"), c.get("ipi_roundtrip")
        if gp is None or ipi is None:
            return None
        r = ratio(gp, Q(ipi.value * (c.cpus - 1), ipi.kind))
        return r, "%s (%s / %s x %d)" % (fmt_ratio(r), gp, ipi, c.cpus - 1)
    c.check(check, target, measure)


def in_ticks(c, name, kind, limit, missing=NOT_MEASURED):
    """Check that the median of `name kind=...` is at most limit ticks."""
    tick_ns, tick_src = tick_period(c.run, c.d)

    def measure():
        gp = c.get(name, kind=kind, stat="median")
        if gp is None:
            return None
        r = ratio(gp, Q(tick_ns, "time"))
        return r, "%s ticks (%s)" % (fmt_ratio(r), gp)
    c.check("%s kind=%s stat=median / tick period" % (name, kind),
            at_most(limit, "<= %d ticks (tick %s, %s)" % (limit, fmt_time(tick_ns), tick_src)), measure,
            missing=missing)


def normal_gp(c):
    """A normal grace period takes at most 3 ticks."""
    in_ticks(c, "rcu_gp", "normal", 3)


def preempted_reader_gp(c):
    """A grace period waiting for a preempted reader ends at most 2 ticks
    after the reader leaves (rcu=preempt: the tick advances the phase
    machine; measured only in a run with rcu=preempt)."""
    in_ticks(c, "rcu_gp_after_unlock", "preempted_reader", 2,
             missing="skipped (rcu=sched: no reader is preempted; scenario bench-tcg-smp2-rcu-preempt)")


def map_touch_unmap(c):
    """Map, touch and unmap cost at most twice as much when another CPU
    holds the mm (the unmap then needs a shootdown)."""
    c.check("map_touch_unmap remote=1 / remote=0", at_most(2),
            lambda: quotient(c.get("map_touch_unmap", remote=1), c.get("map_touch_unmap", remote=0)),
            missing=c.absent("1 CPU: no remote CPU"))


def icount_note(c):
    """Under -icount, a note on what the figures count."""
    icount = c.run.icount
    if icount is None:
        return
    if icount == 0:
        text = "figures are instruction counts (guest time = instructions at shift=0), stable across hosts"
    elif isinstance(icount, int):
        text = ("figures are instruction counts times %d (guest time = instructions x 2^%d ns at "
                "shift=%d), stable across hosts" % (2 ** icount, icount, icount))
    else:
        text = ("icount shift=%s: guest time follows the host's speed, so the figures are not "
                "instruction counts" % icount)
    c.rows.append(Row("note: " + text, "", "", "note"))


CHECKS = (minor_fault, writer_cost, spf_vs_locked, shootdown_first, shootdown_steps,
          expedited_gp, normal_gp, preempted_reader_gp, map_touch_unmap, icount_note)


def evaluate(run):
    """The rows of one run's table."""
    c = Checks(run)
    for check in CHECKS:
        check(c)
    return c.rows
