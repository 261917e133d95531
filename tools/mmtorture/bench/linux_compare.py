"""The Linux comparison read back and checked: a Linux boot's run directory
(linux_boot.py writes it) -> LinuxRun, and the rows that set the paired
mmtorture scenario's figures against Linux's (README, Benchmarks):

  minor_fault path=spf, mmtorture / Linux                               <= 0.5
  map_touch_unmap remote=1, mmtorture / Linux                           <= 0.5
  fault_throughput kept under a writer (writer=1 / writer=0), per CPU
    count: mmtorture's (path=spf) >= 0.9, shown beside Linux's and
    divided by it

Linux prints the lines of tests/linux-bench/bench.c, the kernel suite's
names and keys plus os=linux (and no path=: Linux has one fault path).
"""

import datetime
import json
import os
import re

from ..emulators.qemu import icount_shift
from ..ktap import PASS, SKIP
from .logs import INCOMPLETE, NOT_RUN, parse_log, smp_count
from .quantity import Lookup, UnitMismatch, fmt_ratio, fmt_time, ratio
from .targets import MISSED, NOT_MEASURED, OK, Checks, at_least, at_most, oversubscribed, why_writer_cost

PREFIX = "linux-"
HEAD_RE = re.compile(r"^#\s*linux-bench:\s*linux\s+(\S+)\s+cmdline:\s*(.*?)\s*$")
NOTE_RE = re.compile(r"^#\s*linux-bench:\s*(clocksource\s.*?)\s*$")
DONE_RE = re.compile(r"^#\s*linux-bench:\s*done\s*$", re.M)


def run_name(scenario):
    """The run directory of the Linux boot made with scenario's settings."""
    return PREFIX + scenario


def pick_pair(chosen, host_cpus):
    """Of [(name, Scenario or None)], the scenario whose QEMU settings Linux
    boots with, or None: a TCG one without -icount (KVM figures depend on
    the host CPU; -icount runs one vCPU at a time), the one with the most
    CPUs that the host has a core for each (a vCPU waiting for a host core
    costs both kernels milliseconds), else the one with the fewest CPUs.
    Ties: the first."""
    fits, over = None, None
    for name, scn in chosen:
        if scn is None or scn.accel != "tcg" or icount_shift(scn.qemu_extra) is not None:
            continue
        n = smp_count(scn.smp) or 0
        if n <= host_cpus:
            if fits is None or n > fits[0]:
                fits = (n, name)
        elif over is None or n < over[0]:
            over = (n, name)
    best = fits or over
    return best[1] if best else None


class LinuxRun:
    """One Linux boot, or why there is none (state SKIP)."""

    def __init__(self, paired, run_dir=None):
        self.paired = paired        # the mmtorture scenario of the same settings
        self.name = run_name(paired) if paired else "linux"
        self.dir = run_dir
        self.state = None
        self.reason = ""
        self.release = None
        self.cmdline = None
        self.note = None
        self.package = None
        self.seconds = None
        self.host_load = None       # the host's 1-minute load average when it booted
        self.cpus = None
        self.date = None
        self.lines = []
        self.records = []
        self.d = Lookup(self.records)

    @property
    def skipped(self):
        return self.state == SKIP

    @property
    def broken(self):
        """Booted, but crashed, hung or printed no bench line."""
        return not self.skipped and (self.state != PASS or not self.lines)

    def problem(self):
        if self.skipped:
            return None
        if self.state != PASS:
            return "%s%s" % (self.state, ": " + self.reason if self.reason else "")
        if not self.lines:
            return "no bench lines in the log"
        return None

    def describe(self):
        parts = []
        if self.release:
            parts.append("Linux %s%s" % (self.release, " (Debian package %s)" % self.package if self.package else ""))
        if self.cmdline is not None:
            parts.append("cmdline `%s`" % self.cmdline)
        if self.cpus:
            parts.append("%d CPU%s" % (self.cpus, "" if self.cpus == 1 else "s"))
        if self.paired:
            parts.append("QEMU settings of %s" % self.paired)
        if self.seconds is not None:
            parts.append("boot and bench %.0f s" % self.seconds)
        if self.host_load is not None:
            parts.append("host load average %.1f at its start" % self.host_load)
        if self.date:
            parts.append("run %s" % self.date)
        parts.append("result %s" % self.state)
        return ", ".join(parts)


def skipped_run(paired, reason):
    run = LinuxRun(paired)
    run.state, run.reason = SKIP, reason
    return run


def parse_linux_log(run, text):
    """Fills run's release, command line, CPU count and bench lines from
    its serial log; only lines tagged os=linux count."""
    head, lines = parse_log(text)
    run.cpus = head["cpus"]
    run.lines = [l for l in lines if l[3].get("os") == "linux"]
    for raw in text.splitlines():
        line = raw.replace("\r", "").strip()
        m = HEAD_RE.match(line)
        if m and run.release is None:
            run.release, run.cmdline = m.group(1), m.group(2)
        m = NOTE_RE.match(line)
        if m and run.note is None:
            run.note = m.group(1)
    for name, value, unit, keys in run.lines:
        run.records.append({
            "scenario": run.name, "name": name, "value": value, "unit": unit, "keys": keys,
            "kernel_version": "linux " + run.release if run.release else None,
            "cmdline": run.cmdline, "date": run.date, "cpus": run.cpus,
        })


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_linux(paired, runs_dir):
    """The Linux run made with paired's settings, from runs_dir."""
    run_dir = os.path.join(runs_dir, run_name(paired))
    run = LinuxRun(paired, run_dir)
    serial = os.path.join(run_dir, "serial.log")
    try:
        with open(serial, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        mtime = os.stat(serial).st_mtime
    except OSError:
        run.state, run.reason = NOT_RUN, "no serial.log in %s" % run_dir
        return run
    run.date = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = _read_json(os.path.join(run_dir, "result.json"))
    if result:
        run.state, run.reason = result.get("result") or INCOMPLETE, result.get("reason") or ""
        run.seconds = result.get("seconds")
        run.host_load = result.get("host_load")
    else:
        done = DONE_RE.search(text)
        run.state, run.reason = (PASS, "") if done else (INCOMPLETE, "the log does not end with the done line")
    kernel = _read_json(os.path.join(run_dir, "kernel.json")) or {}
    if kernel.get("package"):
        run.package = "%s %s" % (kernel["package"], kernel.get("version", ""))
    parse_linux_log(run, text)
    return run


# --- the comparison ----------------------------------------------------------

class CompareRow:
    def __init__(self, check, mmtorture, linux, measured, target, result, why=""):
        self.check = check
        self.mmtorture = mmtorture      # the figures, as text
        self.linux = linux
        self.measured = measured        # the checked ratio, as text
        self.target = target
        self.result = result
        self.why = why


class Comparison:
    """The rows of one mmtorture run set against one Linux run."""

    def __init__(self, mm_run, linux):
        self.mm_run = mm_run
        self.linux = linux
        self.m = Lookup(mm_run.records) if mm_run is not None else Lookup([])
        self.lx = linux.d
        self.rows = []
        if linux.skipped:
            # The reason, often long, is said once, in the Linux section.
            self.unavailable = "skipped: Linux was not booted (%s says why)" % linux.name
        elif linux.broken:
            self.unavailable = "n/a (Linux run: %s)" % linux.problem()
        elif mm_run is None or not mm_run.lines:
            self.unavailable = "n/a (no mmtorture figures from %s)" % linux.paired
        elif linux.cpus and mm_run.cpus and linux.cpus != mm_run.cpus:
            self.unavailable = "n/a (Linux had %d CPUs, %s %d)" % (linux.cpus, mm_run.name, mm_run.cpus)
        else:
            self.unavailable = None

    def add(self, check, target, m, lx, why=None, measure=None):
        """A row for m / lx (or measure(m, lx) -> (ratio, text)) against
        target; why() explains a miss."""
        if self.unavailable:
            self.rows.append(CompareRow(check, "", "", "", str(target), self.unavailable))
            return
        if m is None or lx is None:
            self.rows.append(CompareRow(check, str(m or ""), str(lx or ""), "", str(target), NOT_MEASURED))
            return
        try:
            r, text = measure(m, lx) if measure else (ratio(m, lx), None)
        except UnitMismatch as e:
            self.rows.append(CompareRow(check, str(m), str(lx), "", str(target), "n/a (%s)" % e))
            return
        good = target.met(r)
        reason = ""
        if not good:
            reason = "; ".join(x for x in ((why() if why else ""), oversubscribed(self.mm_run)) if x)
        self.rows.append(CompareRow(check, str(m), str(lx), text or fmt_ratio(r), str(target),
                                    OK if good else MISSED, reason))


def minor_fault(c):
    """mmtorture's speculative minor fault costs at most half of Linux's."""
    m, lx = c.m.get("minor_fault", path="spf"), c.lx.get("minor_fault")

    def why():
        ex, pc = c.m.get("exception_roundtrip"), c.m.get("page_clear")
        if ex is None or pc is None or ex.kind != "time" or pc.kind != "time":
            return "mmtorture printed no exception_roundtrip and page_clear to split its fault by"
        floor = ex.value + pc.value
        text = ("of mmtorture's %s fault, taking the exception (%s) and clearing the page (%s) "
                "are %s, %s of Linux's fault" % (m, ex, pc, fmt_time(floor), fmt_ratio(floor / lx.value)))
        if floor / lx.value > 0.5:
            return text + ("; those two alone are over the target, so the miss is the emulator's price "
                           "of an exception and of a page clear, which both kernels pay")
        return text + ("; the other %s is mmtorture's own fault handling, where the miss is"
                       % fmt_time(m.value - floor))
    c.add("minor_fault: mmtorture path=spf / Linux", at_most(0.5), m, lx, why=why)


def map_touch_unmap(c):
    """mmtorture's map, touch and unmap with one remote CPU in the mm cost
    at most half of Linux's."""
    m1, l1 = c.m.get("map_touch_unmap", remote=1), c.lx.get("map_touch_unmap", remote=1)

    def why():
        m0, l0 = c.m.get("map_touch_unmap", remote=0), c.lx.get("map_touch_unmap", remote=0)
        if m0 is None or l0 is None:
            return "remote=0 was not measured on both, so the shootdown's share is unknown"
        parts = ["mmtorture %s alone, %s with the remote CPU; Linux %s and %s" % (m0, m1, l0, l1)]
        sd = c.m.get("shootdown", targets=1, pages=1)
        if m0.value / l1.value > 0.5:
            parts.append("mmtorture's remote=0 alone is %s of Linux's remote=1: the local mmap, "
                         "fault and munmap are where the miss is" % fmt_ratio(m0.value / l1.value))
        else:
            added = m1.value - m0.value
            text = ("the remote CPU adds %s to mmtorture and %s to Linux"
                    % (fmt_time(added), fmt_time(l1.value - l0.value)))
            if sd is not None and sd.kind == "time" and added > 10 * sd.value:
                text += (", %.0f x what mmtorture's shootdown targets=1 pages=1 costs (%s): the "
                         "remote vCPU was waiting for a host core, not for the kernel (a busy "
                         "host; compare on an idle one)" % (added / sd.value, sd))
            elif sd is not None:
                text += " (mmtorture's shootdown targets=1 pages=1 alone: %s): the shootdown is where the miss is" % sd
            else:
                text += ": the shootdown is where the miss is"
            parts.append(text)
        return "; ".join(parts)
    c.add("map_touch_unmap remote=1: mmtorture / Linux", at_most(0.5), m1, l1, why=why)


def kept_under_writer(c):
    """At every CPU count both measured, the fault throughput mmtorture
    keeps under a writer (writer=1 / writer=0, path=spf) is at least 0.9;
    Linux's is shown beside it, and mmtorture's divided by it."""
    base = "fault_throughput kept under a writer (writer=1 / writer=0)"
    target = at_least(0.9)
    counts = sorted(set(c.m.key_values("fault_throughput", "cpus", path="spf", writer=1)) &
                    set(c.lx.key_values("fault_throughput", "cpus", writer=1)))
    if c.unavailable or not counts:
        c.add(base, target, None, None)
        return
    for n in counts:
        m1, m0 = c.m.get("fault_throughput", path="spf", writer=1, cpus=n), \
            c.m.get("fault_throughput", path="spf", writer=0, cpus=n)
        l1, l0 = c.lx.get("fault_throughput", writer=1, cpus=n), c.lx.get("fault_throughput", writer=0, cpus=n)
        if None in (m1, m0, l1, l0):
            c.add("%s, cpus=%d" % (base, n), target, None, None)
            continue
        mk, lk = ratio(m1, m0), ratio(l1, l0)

        def measure(m, lx, mk=mk, lk=lk):
            return mk, "mmtorture keeps %s, Linux %s: %s x Linux's" % (fmt_ratio(mk), fmt_ratio(lk),
                                                                     fmt_ratio(mk / lk) if lk else "n/a")

        def why(n=n, lk=lk, l1=l1, l0=l0):
            parts = [why_writer_cost(Checks(c.mm_run), n) or "mmtorture printed nothing to split the loss by"]
            ipis = c.lx.find("writer_ipis", writer=1, cpus=n)
            text = "Linux keeps %s (%s / %s)" % (fmt_ratio(lk), l1, l0)
            if ipis:
                text += " with %s shootdowns per faulter" % ipis[0]["value"]
            parts.append(text)
            return "; ".join(parts)
        c.add("%s, cpus=%d" % (base, n), target,
              "%s / %s" % (m1, m0), "%s / %s" % (l1, l0), why=why, measure=measure)


def release_before(release, major, minor):
    """Whether a Linux release string ('6.1.0-57-amd64') is older than major.minor."""
    m = re.match(r"^(\d+)\.(\d+)", release or "")
    return bool(m) and (int(m.group(1)), int(m.group(2))) < (major, minor)


def linux_lost_to_lock(c):
    """A note when Linux's loss under a writer is not its shootdowns: few
    of them reached the faulters, yet its throughput dropped.  Before 6.4
    (per-VMA locks) every Linux fault takes mmap_lock for read."""
    if c.unavailable or not release_before(c.linux.release, 6, 4):
        return
    for rec in c.lx.find("writer_ipis", writer=1):
        n = rec["keys"].get("cpus")
        l1, l0 = c.lx.get("fault_throughput", writer=1, cpus=n), c.lx.get("fault_throughput", writer=0, cpus=n)
        if l1 is None or l0 is None or ratio(l1, l0) >= 0.9:
            continue
        faults = int(rec["keys"].get("faults", "0") or 0)
        if faults and rec["value"] * 20 < faults:
            c.rows.append(CompareRow(
                "note: Linux %s, cpus=%s: %s shootdowns per faulter for %d faults, yet it keeps %s; "
                "before 6.4 every Linux fault takes mmap_lock, which the writer's mmap and munmap "
                "hold for write" % (c.linux.release, n, rec["value"], faults, fmt_ratio(ratio(l1, l0))),
                "", "", "", "", "note"))
            return


CHECKS = (minor_fault, map_touch_unmap, kept_under_writer, linux_lost_to_lock)


def compare(mm_run, linux):
    """The comparison rows of mm_run (the paired scenario's Run, or None)
    against linux (a LinuxRun)."""
    c = Comparison(mm_run, linux)
    for check in CHECKS:
        check(c)
    return c.rows


def side_by_side(mm_run, linux):
    """[(figure, Linux, mmtorture, mmtorture / Linux)] for every Linux line;
    mmtorture's figure is the one with the same name and keys (path=spf
    where it prints a path)."""
    m = Lookup(mm_run.records if mm_run is not None else [])
    out, seen = [], set()
    for name, value, unit, keys in linux.lines:
        want = {k: v for k, v in keys.items() if k != "os"}
        label = " ".join([name] + ["%s=%s" % kv for kv in sorted(want.items())])
        if label in seen:
            continue        # printed more than once: the median is shown
        seen.add(label)
        lq = linux.d.get(name, **keys)
        mq = None
        try:
            if m.find(name, path="spf", **want):
                mq = m.get(name, path="spf", **want)
            elif m.find(name, **want):
                mq = m.get(name, **want)
            r = fmt_ratio(ratio(mq, lq)) if mq is not None else ""
        except UnitMismatch:
            r = "n/a"
        out.append((label, str(lq), str(mq) if mq is not None else "not measured", r))
    return out
