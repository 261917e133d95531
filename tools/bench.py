#!/usr/bin/env python3
"""Benchmark runs of mmtorture: collect, check ratios, plot.

Runs the scenarios of group 'bench' through tools/runner.py (one at a time,
so that they do not compete for host CPUs), or reuses the logs of an
earlier run (--from-runs DIR), and reads every line the kernel's bench
suite prints:

    # bench <name> <value> <unit> [key=value ...]

It writes to build/bench/:
  results.json   every bench line as a record (scenario, name, value, unit,
                 keys, kernel version and command line, date of the run)
  summary.md     per scenario, the ratios the kernel is meant to meet, each
                 with its measured value, its target and ok/MISSED
  *.svg, *.png   plots: fault throughput vs CPUs, shootdown cost vs
                 targets, munmap cost per page vs pages, grace periods

Plots go through matplotlib when it is importable (Debian:
python3-matplotlib); without it the SVG files are drawn here and PNG is
skipped.  Absolute TCG and KVM figures depend on the host, so only ratios
are checked; under -icount the figures count guest instructions.

Exit status: 0 when the bench runs completed (a missed ratio is reported,
not a failure); 1 when a bench scenario crashed, timed out or printed no
bench line; 2 on a usage error.
"""

import argparse
import datetime
import fnmatch
import json
import math
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
sys.dont_write_bytecode = True  # no tools/__pycache__ in the work tree
import runner  # noqa: E402  (tools/runner.py: scenario files, KTAP parser)

ROOT = runner.ROOT
RUNNER = os.path.join(TOOLS, "runner.py")
DEFAULT_OUT = os.path.join(ROOT, "build", "bench")
GROUP = "bench"

BENCH_RE = re.compile(r"#\s*bench\s+(\S+)\s+([0-9.]+)\s+(\S+)((?:\s+\S+=\S+)*)")
VERSION_RE = re.compile(r"^#\s*mmtorture\s+(\S+)\s+cmdline:\s*(.*?)\s*$")
CPUS_RE = re.compile(r"^#\s*cpus:\s*(\d+)\s+online")
TICK_HZ_RE = re.compile(r"^#\s*tick_hz:?\s+(\d+)\s*$")

# Time units, in nanoseconds.  Other units (faults/s, callbacks/s) are
# only ever compared with the same unit.
TIME_UNITS = {"ns": 1.0, "us": 1e3, "\u00b5s": 1e3, "ms": 1e6, "s": 1e9}
DEFAULT_TICK_US = 4000.0        # HZ=250
DEFAULT_TLB_CEILING = 33

NOT_MEASURED = "n/a (not measured)"
OK, MISSED = "ok", "MISSED"

# Run states (runner.py's results, plus what a bare log can tell).
BAD_STATES = {runner.PANIC, runner.TIMEOUT, runner.CRASH, runner.HOSTERR, "INCOMPLETE", "NOT RUN"}


class UsageError(Exception):
    pass


# --------------------------------------------------------------------------
# Reading logs


def _number(text):
    v = float(text)
    return int(v) if v.is_integer() and "." not in text else v


def parse_log(text):
    """(header dict, [(name, value, unit, keys)]) from one serial log."""
    head = {"kernel_version": None, "cmdline": None, "cpus": None, "seed": None, "tick_hz": None}
    lines = []
    bad = []
    for raw in text.splitlines():
        line = runner.ANSI_RE.sub("", raw).replace("\r", "").strip()
        if "#" not in line:
            continue
        m = BENCH_RE.search(line)
        if m:
            keys = {}
            for word in m.group(4).split():
                k, _, v = word.partition("=")
                keys[k] = v
            try:
                value = _number(m.group(2))
            except ValueError:
                bad.append(line)
                continue
            lines.append((m.group(1), value, m.group(3), keys))
            continue
        m = VERSION_RE.match(line)
        if m and head["kernel_version"] is None:
            head["kernel_version"], head["cmdline"] = m.group(1), m.group(2)
            continue
        m = CPUS_RE.match(line)
        if m and head["cpus"] is None:
            head["cpus"] = int(m.group(1))
            continue
        m = runner.SEED_RE.match(line)
        if m and head["seed"] is None:
            head["seed"] = int(m.group(1))
            continue
        m = TICK_HZ_RE.match(line)
        if m and head["tick_hz"] is None:
            head["tick_hz"] = int(m.group(1))
    head["unparsed"] = bad
    return head, lines


def icount_shift(args):
    """The -icount shift in a QEMU argument list: an int, 'auto', or None
    when icount is off."""
    for i, a in enumerate(args):
        if a in ("-icount", "--icount"):
            value = args[i + 1] if i + 1 < len(args) else ""
        elif a.startswith(("-icount=", "--icount=")):
            value = a.partition("=")[2]
        else:
            continue
        for part in value.split(","):
            k, eq, v = part.partition("=")
            if not eq and k:
                k, v = "shift", k
            if k == "shift":
                return int(v) if v.isdigit() else v
        return "auto"
    return None


def smp_count(smp):
    m = re.match(r"^(?:cpus=)?(\d+)", smp or "")
    return int(m.group(1)) if m else None


class Run:
    """One scenario's run directory and what it says."""

    def __init__(self, name, scn, run_dir):
        self.name = name
        self.scn = scn
        self.dir = run_dir
        self.state = None           # PASS, FAIL, ..., SKIP, NOT RUN
        self.reason = ""
        self.head = {}
        self.lines = []
        self.records = []
        self.date = None
        self.cpus = None
        self.accel = scn.accel if scn else None
        self.icount = None
        self.qemu_args = list(scn.qemu_extra) if scn else []

    @property
    def skipped(self):
        return self.state == runner.SKIP

    @property
    def broken(self):
        """Crashed, hung, never ran, or printed no bench line."""
        if self.skipped:
            return False
        return self.state in BAD_STATES or not self.lines

    def problem(self):
        if self.skipped:
            return None
        if self.state in BAD_STATES:
            return "%s%s" % (self.state, ": " + self.reason if self.reason else "")
        if not self.lines:
            why = "no bench lines in the log"
            if self.state and self.state != runner.PASS:
                why += " (%s%s)" % (self.state, ": " + self.reason if self.reason else "")
            return why
        return None


def load_run(name, scn, runs_dir, since=None):
    """since: the time the runner was started for this collection; a run
    directory older than that is left from an earlier run and not used."""
    run = Run(name, scn, os.path.join(runs_dir, name))
    serial = os.path.join(run.dir, "serial.log")
    record = None
    result_json = os.path.join(run.dir, "result.json")
    try:
        with open(result_json, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        pass
    if since is not None:
        try:
            fresh = os.stat(result_json).st_mtime >= since
        except OSError:
            fresh = False
        if not fresh:
            # The runner skips a KVM scenario on a host without usable KVM
            # before it makes a run directory.
            why = runner.kvm_unusable_reason() if scn is not None and scn.accel == "kvm" else None
            if why:
                run.state, run.reason = runner.SKIP, why
            else:
                run.state, run.reason = "NOT RUN", "tools/runner.py left no result for it"
            return run
    if record is not None and record.get("verdict") == runner.SKIPPED:
        run.state, run.reason = runner.SKIP, record.get("reason") or ""
        return run
    try:
        with open(serial, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        mtime = os.stat(serial).st_mtime
    except OSError:
        if record is not None:
            run.state, run.reason = record.get("result") or "CRASH", record.get("reason") or ""
        else:
            run.state, run.reason = "NOT RUN", "no %s" % runner.display_path(serial)
        return run

    run.date = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if record is not None:
        run.state, run.reason = record.get("result") or "CRASH", record.get("reason") or ""
    else:
        # A log without the runner's record (copied by hand, say): judge
        # it by its own end.
        rep = runner.parse_ktap(text)
        if rep.panic:
            run.state, run.reason = runner.PANIC, rep.panic[0].strip()
        elif rep.sentinel == "SUCCESS":
            run.state = runner.PASS
        elif rep.sentinel == "FAILURE":
            run.state = runner.FAIL
            lines = rep.problem_lines(1)
            run.reason = lines[0] if lines else ""
        elif rep.bails:
            run.state, run.reason = runner.ERROR, "Bail out! " + rep.bails[0][1]
        else:
            run.state, run.reason = "INCOMPLETE", "the log does not end with '--- End of test'"

    cmd_txt = os.path.join(run.dir, "cmd.txt")
    try:
        with open(cmd_txt, encoding="utf-8") as f:
            run.qemu_args = shlex.split(f.read())
        if "-accel" in run.qemu_args:
            acc = run.qemu_args[run.qemu_args.index("-accel") + 1]
            run.accel = acc.split(",")[0]
    except (OSError, ValueError, IndexError):
        pass
    run.icount = icount_shift(run.qemu_args)

    run.head, run.lines = parse_log(text)
    run.cpus = run.head["cpus"] or (smp_count(scn.smp) if scn else None)
    for bname, value, unit, keys in run.lines:
        run.records.append({
            "scenario": name, "name": bname, "value": value, "unit": unit, "keys": keys,
            "kernel_version": run.head["kernel_version"], "cmdline": run.head["cmdline"],
            "date": run.date, "cpus": run.cpus,
        })
    return run


# --------------------------------------------------------------------------
# Quantities


class Q:
    """A measured quantity: value in base units (ns for times), its kind
    ('time' or the unit string) and how many lines it came from."""

    def __init__(self, value, kind, n=1):
        self.value = value
        self.kind = kind
        self.n = n

    def __str__(self):
        if self.kind == "time":
            return fmt_time(self.value)
        return "%s %s" % (fmt_num(self.value), self.kind)


def to_q(value, unit):
    if unit in TIME_UNITS:
        return Q(value * TIME_UNITS[unit], "time")
    return Q(float(value), unit)


class Lookup:
    def __init__(self, records):
        self.records = records

    def find(self, name, **keys):
        want = {k: str(v) for k, v in keys.items()}
        return [r for r in self.records
                if r["name"] == name and all(r["keys"].get(k) == v for k, v in want.items())]

    def get(self, name, **keys):
        """Median over the matching lines, or None."""
        qs = [to_q(r["value"], r["unit"]) for r in self.find(name, **keys)]
        if not qs:
            return None
        kinds = {q.kind for q in qs}
        if len(kinds) > 1:
            raise UnitMismatch("%s lines in mixed units (%s)" % (name, ", ".join(sorted(kinds))))
        return Q(statistics.median(q.value for q in qs), qs[0].kind, len(qs))

    def key_values(self, name, key, **keys):
        out = set()
        for r in self.find(name, **keys):
            v = r["keys"].get(key)
            if v is not None and v.isdigit():
                out.add(int(v))
        return sorted(out)


class UnitMismatch(Exception):
    pass


def ratio(a, b):
    if a.kind != b.kind:
        raise UnitMismatch("units differ: %s vs %s" % (a.kind, b.kind))
    if b.value == 0:
        raise UnitMismatch("divisor is zero")
    return a.value / b.value


def fmt_num(v):
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:
            return _trim("%.3g" % (v / div)) + suffix
    if a == 0:
        return "0"
    if a >= 100:
        return "%d" % round(v)
    return _trim("%.3g" % v)


def _trim(s):
    if "e" in s:
        return s
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_time(ns):
    a = abs(ns)
    if a >= 1e9:
        return _trim("%.3g" % (ns / 1e9)) + " s"
    if a >= 1e6:
        return _trim("%.3g" % (ns / 1e6)) + " ms"
    if a >= 1e3:
        return _trim("%.3g" % (ns / 1e3)) + " us"
    return fmt_num(ns) + " ns"


def fmt_ratio(r):
    return "%.2f" % r


# --------------------------------------------------------------------------
# Ratio checks


class Row:
    def __init__(self, check, measured, target, result, why=""):
        self.check = check
        self.measured = measured
        self.target = target
        self.result = result
        self.why = why          # for a miss: what the run's own figures say caused it


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


def evaluate(run):
    """The ratio rows of one run."""
    d = Lookup(run.records)
    cpus = run.cpus
    rows = []

    def one_cpu_or_missing(why_skip="1 CPU"):
        return "skipped (%s)" % why_skip if cpus == 1 else NOT_MEASURED

    def add(check, target, compute, missing=NOT_MEASURED, why=None):
        """compute() returns (measured text, pass bool) or None when an
        input is missing; why() the explanation of a miss."""
        try:
            got = compute()
        except UnitMismatch as e:
            rows.append(Row(check, "", target, "n/a (%s)" % e))
            return
        if got is None:
            rows.append(Row(check, "", target, missing))
        else:
            text, good = got
            reason = ""
            if not good:
                reason = "; ".join(x for x in ((why() if why else ""), oversubscribed(run)) if x)
            rows.append(Row(check, text, target, OK if good else MISSED, reason))

    # Under -icount the CPUs take turns on one host thread: throughput
    # with several CPUs is not parallel and says nothing about scaling.
    serial_cpus = run.icount is not None and cpus is not None and cpus > 1
    SERIAL = "n/a (-icount: the CPUs take turns, so throughput is not parallel)"

    # 1. minor fault on the speculative path vs its parts
    def c_minor():
        mf, ex, pc = d.get("minor_fault", path="spf"), d.get("exception_roundtrip"), d.get("page_clear")
        if None in (mf, ex, pc):
            return None
        if ex.kind != pc.kind:
            raise UnitMismatch("units differ: %s vs %s" % (ex.kind, pc.kind))
        parts = Q(ex.value + pc.value, ex.kind)
        r = ratio(mf, parts)
        return "%s (%s / %s)" % (fmt_ratio(r), mf, parts), r <= 1.5
    add("minor_fault path=spf / (exception_roundtrip + page_clear)", "<= 1.5", c_minor)

    # 2. a concurrent writer costs the speculative faulters at most 10%
    counts = sorted(set(d.key_values("fault_throughput", "cpus", path="spf", writer=0)) |
                    set(d.key_values("fault_throughput", "cpus", path="spf", writer=1)))
    if not counts:
        add("fault_throughput path=spf writer=1 / writer=0", ">= 0.9", lambda: None,
            missing=one_cpu_or_missing("1 CPU: no CPU for the writer"))
    if serial_cpus:
        for n in counts:
            rows.append(Row("fault_throughput path=spf writer=1 / writer=0, cpus=%d" % n, "", ">= 0.9",
                            SERIAL))
        counts = []
    for n in counts:
        def c_writer(n=n):
            w1 = d.get("fault_throughput", path="spf", writer=1, cpus=n)
            w0 = d.get("fault_throughput", path="spf", writer=0, cpus=n)
            if w1 is None or w0 is None:
                return None
            r = ratio(w1, w0)
            return "%s (%s / %s)" % (fmt_ratio(r), w1, w0), r >= 0.9

        def why_writer(n=n):
            """Split the loss: the writer in another address space shows
            what sharing the machine costs; the rest is its shootdowns."""
            w1 = d.get("fault_throughput", path="spf", writer=1, cpus=n)
            w0 = d.get("fault_throughput", path="spf", writer=0, cpus=n)
            we = d.get("fault_throughput", path="spf", writer="elsewhere", cpus=n)
            ipis = d.find("writer_ipis", path="spf", writer=1, cpus=n)
            recv = d.get("ipi_receive")
            parts = []
            if we is not None:
                re = ratio(we, w0)
                if re < 0.9:
                    return ("with the writer in an address space of its own the ratio is already %s: "
                            "the loss comes from sharing the host's cores, not from the writer's "
                            "work in the faulters' mm" % fmt_ratio(re))
                parts.append("with the writer in an address space of its own the ratio is %s, so "
                             "mmap_lock, the VMA arrays and the allocator are not the cost"
                             % fmt_ratio(re))
            if ipis and ipis[0]["value"] > 0 and ipis[0]["keys"].get("faults", "").isdigit():
                k = ipis[0]["value"]
                faults = int(ipis[0]["keys"]["faults"])
                # Wall time = n * faults / rate; the extra time over the
                # IPIs each faulter took.
                lost = n * faults * (1.0 / w1.value - 1.0 / w0.value) * 1e9
                text = ("in its address space every munmap interrupts each faulter: %s shootdown IPIs "
                        "per faulter, %s lost per IPI taken" % (fmt_num(k), fmt_time(lost / k)))
                if recv is not None:
                    text += " (ipi_receive, a CPU in a plain loop: %s)" % recv
                    if lost / k > 10 * recv.value and oversubscribed(run):
                        text += ("; far more than taking an interrupt costs: the writer's shootdown "
                                 "waits for every faulter's answer, and with more busy vCPUs than host "
                                 "cores it spins while a faulter is descheduled, on a core that "
                                 "faulter needs")
                parts.append(text)
            if parts:
                parts.append("the shootdown is required (x86 may cache any present translation); "
                             "the cost of taking it is the emulator's interrupt delivery")
            return "; ".join(parts)
        miss = NOT_MEASURED
        if cpus is not None and n >= cpus and not d.find("fault_throughput", path="spf", writer=1, cpus=n):
            miss = "skipped (no CPU left for the writer)"
        add("fault_throughput path=spf writer=1 / writer=0, cpus=%d" % n, ">= 0.9", c_writer, missing=miss,
            why=why_writer)

    # 3. speculative vs locked faults under a writer, at the most CPUs
    check3 = "fault_throughput writer=1 path=spf / path=locked, at the most CPUs"
    if cpus is not None and cpus < 4:
        rows.append(Row(check3, "", ">= 3", "skipped (target is for -smp 4; %d online)" % cpus))
    elif serial_cpus:
        rows.append(Row(check3, "", ">= 3", SERIAL))
    else:
        both = sorted(set(d.key_values("fault_throughput", "cpus", path="spf", writer=1)) &
                      set(d.key_values("fault_throughput", "cpus", path="locked", writer=1)))

        def c_spf_locked():
            if not both:
                return None
            n = both[-1]
            s = d.get("fault_throughput", path="spf", writer=1, cpus=n)
            lk = d.get("fault_throughput", path="locked", writer=1, cpus=n)
            r = ratio(s, lk)
            return "%s at cpus=%d (%s / %s)" % (fmt_ratio(r), n, s, lk), r >= 3
        add(check3, ">= 3", c_spf_locked)

    # 4. shootdown: one target vs an IPI round trip, then the cost of each
    #    further target
    ipi = d.get("ipi_roundtrip")
    first = d.get("shootdown", targets=1, pages=1)

    def c_shoot1():
        if first is None or ipi is None:
            return None
        r = ratio(first, ipi)
        return "%s (%s / %s)" % (fmt_ratio(r), first, ipi), r <= 3
    add("shootdown targets=1 pages=1 / ipi_roundtrip", "<= 3", c_shoot1,
        missing=one_cpu_or_missing("1 CPU: nothing to shoot down"))
    targets = [k for k in d.key_values("shootdown", "targets", pages=1) if k >= 2]
    if not targets:
        if cpus is not None and cpus <= 2:
            rows.append(Row("shootdown pages=1, each further target / targets=1", "", "<= 0.25",
                            "skipped (%d CPU%s: no second target)" % (cpus, "" if cpus == 1 else "s")))
        else:
            rows.append(Row("shootdown pages=1, each further target / targets=1", "", "<= 0.25",
                            NOT_MEASURED))
    def why_step():
        if run.icount is not None:
            return ("-icount runs the CPUs one after another, so each target's interrupt entry, "
                    "flush, ack and return to its idle loop add to the initiator's time; on parallel "
                    "CPUs they overlap and the initiator pays only its own send and wait")
        return ""
    for k in targets:
        def c_step(k=k):
            cur = d.get("shootdown", targets=k, pages=1)
            prev = d.get("shootdown", targets=k - 1, pages=1)
            if cur is None or prev is None or first is None:
                return None
            step = Q(cur.value - prev.value, cur.kind)
            if cur.kind != prev.kind:
                raise UnitMismatch("units differ: %s vs %s" % (cur.kind, prev.kind))
            r = ratio(step, first)
            sign = "+" if step.value >= 0 else "-"
            return "%s (%s%s / %s)" % (fmt_ratio(r), sign, Q(abs(step.value), step.kind), first), r <= 0.25
        add("shootdown pages=1, targets=%d minus targets=%d / targets=1" % (k, k - 1), "<= 0.25", c_step,
            why=why_step)

    # 5. expedited grace period vs IPIs to every other CPU
    check5 = "rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))"
    if cpus == 1:
        rows.append(Row(check5, "", "<= 3", "skipped (1 CPU)"))
    elif cpus is None:
        rows.append(Row(check5, "", "<= 3", "n/a (CPU count not in the log)"))
    else:
        def c_exp():
            gp = d.get("rcu_gp", kind="expedited", stat="median")
            if gp is None or ipi is None:
                return None
            budget = Q(ipi.value * (cpus - 1), ipi.kind)
            r = ratio(gp, budget)
            return "%s (%s / %s x %d)" % (fmt_ratio(r), gp, ipi, cpus - 1), r <= 3
        add(check5, "<= 3", c_exp)

    # 6. normal grace period vs the tick
    tick_ns, tick_src = tick_period(run, d)

    def c_normal():
        gp = d.get("rcu_gp", kind="normal", stat="median")
        if gp is None:
            return None
        r = ratio(gp, Q(tick_ns, "time"))
        return "%s ticks (%s)" % (fmt_ratio(r), gp), r <= 3
    add("rcu_gp kind=normal stat=median / tick period", "<= 3 ticks (tick %s, %s)" % (fmt_time(tick_ns), tick_src),
        c_normal)

    # 7. map-touch-unmap with another CPU holding the mm
    def c_mtu():
        r1, r0 = d.get("map_touch_unmap", remote=1), d.get("map_touch_unmap", remote=0)
        if r1 is None or r0 is None:
            return None
        r = ratio(r1, r0)
        return "%s (%s / %s)" % (fmt_ratio(r), r1, r0), r <= 2
    add("map_touch_unmap remote=1 / remote=0", "<= 2", c_mtu,
        missing=one_cpu_or_missing("1 CPU: no remote CPU"))

    if run.icount is not None:
        if run.icount == 0:
            text = ("figures are instruction counts (guest time = instructions at shift=0), "
                    "stable across hosts")
        elif isinstance(run.icount, int):
            text = ("figures are instruction counts times %d (guest time = instructions x 2^%d ns at "
                    "shift=%d), stable across hosts" % (2 ** run.icount, run.icount, run.icount))
        else:
            text = ("icount shift=%s: guest time follows the host's speed, so the figures are not "
                    "instruction counts" % run.icount)
        rows.append(Row("note: " + text, "", "", "note"))
    return rows


# --------------------------------------------------------------------------
# Plots


REF_COLOR = "#2ca02c"          # reference (target) lines
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]


class Plot:
    def __init__(self, name, title, xlabel, unit, ylabel=None, kind="line", xscale="int"):
        self.name = name            # file name without extension
        self.title = title
        self.xlabel = xlabel
        self.ylabel = ylabel or unit
        self.kind = kind            # "line" or "bar"
        self.xscale = xscale        # "int", "linear" or "log2"
        self.series = []            # dicts: label, xs, ys, color, dashed
        self.categories = []        # bar plots: x categories
        self.vlines = []            # (x, label)
        self.hlines = []            # (y, label): reference lines, shown in the legend
        self.offscale = []          # (y, label): reference lines far above the data, named only
        self.unit = unit            # of the y values; a time unit is rescaled by fit_time_unit()

    def fit_time_unit(self, instructions=False):
        """Shows times in the unit that keeps the numbers short (12 ms, not
        12000000 ns), or as instruction counts (ns under -icount shift=0)."""
        if self.unit not in TIME_UNITS:
            return
        ys = [y for s in self.series for y in s["ys"] if y is not None] + [y for y, _ in self.hlines]
        top = max(ys) * TIME_UNITS[self.unit] if ys else 0
        best = "ns"
        for u in ("s", "ms", "us"):
            if top >= TIME_UNITS[u] and not instructions:
                best = u
                break
        f = TIME_UNITS[self.unit] / TIME_UNITS[best]
        for s in self.series:
            s["ys"] = [None if y is None else y * f for y in s["ys"]]
        self.hlines = [(y * f, label) for y, label in self.hlines]
        self.offscale = [(y * f, label) for y, label in self.offscale]
        if instructions:
            best = "instructions"
        self.ylabel = self.ylabel.replace(self.unit, best, 1)
        self.unit = best

    def add(self, label, xs, ys, color=None, dashed=False):
        self.series.append({"label": label, "xs": list(xs), "ys": list(ys),
                            "color": color or PALETTE[len(self.series) % len(PALETTE)], "dashed": dashed,
                            "marker": "s" if dashed else "o"})


def _series(d, name, xkey, display_unit, **keys):
    pts = []
    for r in d.find(name, **keys):
        x = r["keys"].get(xkey)
        if x is None or not x.isdigit():
            continue
        pts.append((int(x), _convert(r["value"], r["unit"], display_unit)))
    by_x = {}
    for x, y in pts:
        by_x.setdefault(x, []).append(y)
    xs = sorted(by_x)
    return xs, [statistics.median(by_x[x]) for x in xs]


def _convert(value, unit, display_unit):
    if unit in TIME_UNITS and display_unit in TIME_UNITS:
        return value * TIME_UNITS[unit] / TIME_UNITS[display_unit]
    return float(value)


def _unit_of(d, name, **keys):
    hits = d.find(name, **keys)
    return hits[0]["unit"] if hits else None


def tlb_ceiling(cmdline):
    m = re.search(r"(?:^|\s)tlb_ceiling=(\d+)(?:\s|$)", cmdline or "")
    return int(m.group(1)) if m else DEFAULT_TLB_CEILING


def make_plots(run):
    d = Lookup(run.records)
    plots = []
    what = run.name
    if run.icount is not None:
        what += " (icount shift=%s)" % run.icount

    unit = _unit_of(d, "fault_throughput")
    if unit:
        p = Plot("fault_throughput-" + run.name, "Fault throughput vs CPUs: " + what,
                 "CPUs faulting", unit)
        for path, color in (("spf", PALETTE[0]), ("locked", PALETTE[1])):
            for writer in ("0", "1"):
                xs, ys = _series(d, "fault_throughput", "cpus", unit, path=path, writer=writer)
                if xs:
                    p.add("%s, writer=%s" % (path, writer), xs, ys, color=color, dashed=writer == "1")
        # The writer in an address space of its own: what the faulters
        # lose without its shootdowns.
        xs, ys = _series(d, "fault_throughput", "cpus", unit, path="spf", writer="elsewhere")
        if xs:
            p.add("spf, writer elsewhere", xs, ys, color=PALETTE[3], dashed=True)
        if p.series:
            plots.append(p)

    unit = _unit_of(d, "shootdown", pages=1)
    if unit:
        p = Plot("shootdown-" + run.name, "Shootdown cost vs targets (pages=1): " + what,
                 "target CPUs", unit)
        xs, ys = _series(d, "shootdown", "targets", unit, pages=1)
        p.add("shootdown pages=1", xs, ys, color=PALETTE[0])
        ipi = d.find("ipi_roundtrip")
        if ipi:
            y = 3 * _convert(statistics.median(r["value"] for r in ipi), ipi[0]["unit"], unit)
            p.hlines.append((y, "3 x ipi_roundtrip\n(target at 1 target)"))
        plots.append(p)

    unit = _unit_of(d, "munmap_per_page")
    if unit:
        p = Plot("munmap_per_page-" + run.name, "munmap cost per page vs pages: " + what,
                 "pages unmapped", unit, ylabel=unit + " per page", xscale="log2")
        xs, ys = _series(d, "munmap_per_page", "pages", unit)
        p.add("munmap_per_page", xs, ys, color=PALETTE[0])
        ceiling = tlb_ceiling(run.head.get("cmdline"))
        p.vlines.append((ceiling, "tlb_ceiling=%d" % ceiling))
        plots.append(p)

    unit = _unit_of(d, "rcu_gp")
    if unit:
        p = Plot("rcu_gp-" + run.name, "Grace-period latency: " + what, "grace period", unit, kind="bar")
        p.categories = ["normal", "expedited"]
        for stat, color in (("median", PALETTE[0]), ("p99", PALETTE[3])):
            ys = []
            for kind in p.categories:
                hits = d.find("rcu_gp", kind=kind, stat=stat)
                ys.append(statistics.median(_convert(r["value"], r["unit"], unit) for r in hits) if hits else None)
            p.add(stat, p.categories, ys, color=color)
        if unit in TIME_UNITS:
            tick_ns, _ = tick_period(run, d)
            p.hlines.append((3 * tick_ns / TIME_UNITS[unit], "3 ticks\n(target, normal median)"))
        plots.append(p)
    for p in plots:
        # A reference line far above the data would squash it flat.
        top = max([y for s in p.series for y in s["ys"] if y is not None] + [0])
        p.offscale = [(y, label) for y, label in p.hlines if y > 2 * top]
        p.hlines = [(y, label) for y, label in p.hlines if y <= 2 * top]
        p.fit_time_unit(instructions=run.icount == 0)
    return plots


def fmt_x(v):
    """x tick labels: whole numbers in full (1024 pages, not 1.02k)."""
    if float(v).is_integer() and abs(v) < 1e5:
        return "%d" % v
    return fmt_num(v)


def _nice_ticks(lo, hi, n=6):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag * 10
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            step = m * mag
            break
    start = math.floor(lo / step + 1e-9) * step
    count = int(math.ceil((hi - start) / step - 1e-9))
    return [start + i * step for i in range(count + 1)]


def _xdomain(plot):
    xs = [x for s in plot.series for x in s["xs"]] + [x for x, _ in plot.vlines]
    if plot.xscale == "log2":
        xs = [x for x in xs if x > 0] or [1]
        lo, hi = math.floor(math.log2(min(xs))), math.ceil(math.log2(max(xs)))
        if lo == hi:
            hi += 1
        ticks = [2 ** e for e in range(lo, hi + 1)]
        pad = 0.3
        return (lo - pad, hi + pad), ticks, math.log2
    lo, hi = min(xs), max(xs)
    if lo == hi:
        return (lo - 1, hi + 1), [lo], (lambda v: v)
    if plot.xscale == "int" and hi - lo <= 12:
        ticks = list(range(int(math.ceil(lo)), int(math.floor(hi)) + 1))
    else:
        ticks = [t for t in _nice_ticks(lo, hi) if lo <= t <= hi]
    pad = (hi - lo) * 0.06
    return (lo - pad, hi + pad), ticks, (lambda v: v)


def _ydomain(plot):
    ys = [y for s in plot.series for y in s["ys"] if y is not None] + [y for y, _ in plot.hlines]
    top = max(ys) if ys else 1.0
    if top <= 0:
        top = 1.0
    ticks = _nice_ticks(0, top * 1.08)
    return ticks


def offscale_notes(plot):
    return ["%s:\n%s %s, off scale" % (label.split("\n")[0], fmt_num(y), plot.unit)
            for y, label in plot.offscale]


def _svg_marker(s, x, y):
    if s["marker"] == "s":
        return '<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"/>' % (x - 3.5, y - 3.5, s["color"])
    return '<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (x, y, s["color"])


def svg_plot(plot):
    """A plot as SVG text, drawn without any plotting library."""
    W, H = 820, 480
    x0, x1, y0, y1 = 82, 590, 56, 410       # plot area: left, right, top, bottom
    out = []
    add = out.append
    add('<?xml version="1.0" encoding="UTF-8"?>')
    add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="12">' % (W, H, W, H))
    add('<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (W, H))
    add('<text x="%d" y="30" text-anchor="middle" font-size="15" font-weight="bold">%s</text>'
        % ((x0 + x1) // 2, escape(plot.title)))

    yt = _ydomain(plot)
    ylo, yhi = yt[0], yt[-1]

    def Y(v):
        return y1 - (v - ylo) / (yhi - ylo) * (y1 - y0)

    for t in yt:
        add('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>' % (x0, Y(t), x1, Y(t)))
        add('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (x0 - 6, Y(t) + 4, escape(fmt_num(t))))

    if plot.kind == "bar":
        ncat = max(1, len(plot.categories))
        slot = (x1 - x0) / ncat
        nser = max(1, len(plot.series))
        bw = slot * 0.7 / nser
        for ci, cat in enumerate(plot.categories):
            cx = x0 + slot * (ci + 0.5)
            add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (cx, y1 + 18, escape(str(cat))))
            for si, s in enumerate(plot.series):
                v = s["ys"][ci]
                bx = cx - slot * 0.35 + si * bw
                if v is None:
                    add('<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="#888">'
                        'not measured</text>' % (bx + bw / 2, y1 - 4))
                    continue
                add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                    % (bx + 2, Y(v), bw - 4, y1 - Y(v), s["color"]))
                add('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>'
                    % (bx + bw / 2, Y(v) - 4, escape(fmt_num(v))))
    else:
        (xlo, xhi), xt, f = _xdomain(plot)

        def X(v):
            return x0 + (f(v) - xlo) / (xhi - xlo) * (x1 - x0)

        for t in xt:
            add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>' % (X(t), y0, X(t), y1))
            add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X(t), y1 + 18, escape(fmt_x(t))))
        for x, label in plot.vlines:
            add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555" stroke-width="1.5" '
                'stroke-dasharray="5,4"/>' % (X(x), y0, X(x), y1))
            add('<text x="%.1f" y="%d" font-size="11" fill="#333">%s</text>' % (X(x) + 5, y0 + 14, escape(label)))
        for s in plot.series:
            pts = [(X(x), Y(y)) for x, y in zip(s["xs"], s["ys"]) if y is not None]
            dash = ' stroke-dasharray="7,4"' if s["dashed"] else ""
            if len(pts) > 1:
                add('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>'
                    % (s["color"], dash, " ".join("%.1f,%.1f" % p for p in pts)))
            for px, py in pts:
                add(_svg_marker(s, px, py))

    for y, _ in plot.hlines:
        add('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" '
            'stroke-dasharray="2,3"/>' % (x0, Y(y), x1, Y(y), REF_COLOR))

    add('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (x0, y0, x1 - x0, y1 - y0))
    add('<text x="%d" y="%d" text-anchor="middle" font-size="13">%s</text>'
        % ((x0 + x1) // 2, y1 + 42, escape(plot.xlabel)))
    add('<text x="20" y="%d" text-anchor="middle" font-size="13" transform="rotate(-90 20 %d)">%s</text>'
        % ((y0 + y1) // 2, (y0 + y1) // 2, escape(plot.ylabel)))

    ly = y0 + 8
    for s in plot.series:
        if plot.kind == "bar":
            add('<rect x="%d" y="%d" width="22" height="12" fill="%s"/>' % (x1 + 20, ly, s["color"]))
        else:
            dash = ' stroke-dasharray="7,4"' if s["dashed"] else ""
            add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                % (x1 + 18, ly + 6, x1 + 44, ly + 6, s["color"], dash))
            add(_svg_marker(s, x1 + 31, ly + 6))
        add('<text x="%d" y="%d">%s</text>' % (x1 + 52, ly + 11, escape(s["label"])))
        ly += 22
    for _, label in plot.hlines:
        add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="2,3"/>'
            % (x1 + 18, ly + 6, x1 + 44, ly + 6, REF_COLOR))
        for i, part in enumerate(label.split("\n")):
            add('<text x="%d" y="%d">%s</text>' % (x1 + 52, ly + 11 + 15 * i, escape(part)))
        ly += 22 + 15 * label.count("\n")
    for note in offscale_notes(plot):
        for i, part in enumerate(note.split("\n")):
            add('<text x="%d" y="%d" fill="%s">%s</text>' % (x1 + 18, ly + 11 + 15 * i, REF_COLOR, escape(part)))
        ly += 22 + 15 * note.count("\n")
    add('</svg>')
    return "\n".join(out) + "\n"


DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def load_matplotlib():
    """(pyplot, ticker), or None when matplotlib cannot be imported.

    Debian's python3-matplotlib lives in /usr/lib/python3/dist-packages,
    which a Python other than /usr/bin/python3 (a pyenv or venv one, say)
    does not search.  That directory is tried as well; its compiled modules
    only load into a Python of the same minor version, so a mismatch ends
    in an ImportError like any other missing module."""
    def attempt():
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
        return plt, ticker

    try:
        return attempt()
    except Exception:
        pass
    if not os.path.isdir(DEBIAN_DIST_PACKAGES) or DEBIAN_DIST_PACKAGES in sys.path:
        return None
    for mod in [m for m in sys.modules if m.split(".")[0] in ("matplotlib", "numpy", "PIL")]:
        del sys.modules[mod]
    sys.path.append(DEBIAN_DIST_PACKAGES)
    try:
        return attempt()
    except Exception:
        sys.path.remove(DEBIAN_DIST_PACKAGES)
        return None


def mpl_plot(mpl, plot, svg_path, png_path):
    plt, ticker = mpl
    fig, ax = plt.subplots(figsize=(8.2, 4.8))
    try:
        if plot.kind == "bar":
            n = max(1, len(plot.series))
            width = 0.7 / n
            for si, s in enumerate(plot.series):
                for ci, v in enumerate(s["ys"]):
                    x = ci - 0.35 + width * (si + 0.5)
                    if v is None:
                        ax.text(x, 0, "not measured", ha="center", va="bottom", fontsize=8, color="#888")
                        continue
                    ax.bar(x, v, width * 0.9, color=s["color"], label=s["label"] if ci == 0 else None)
                    ax.text(x, v, fmt_num(v), ha="center", va="bottom", fontsize=9)
            ax.set_xticks(range(len(plot.categories)))
            ax.set_xticklabels(plot.categories)
            ax.set_xlim(-0.6, len(plot.categories) - 0.4)
        else:
            for s in plot.series:
                pts = [(x, y) for x, y in zip(s["xs"], s["ys"]) if y is not None]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=s["marker"], color=s["color"],
                        linestyle="--" if s["dashed"] else "-", linewidth=2, label=s["label"])
            if plot.xscale == "log2":
                ax.set_xscale("log", base=2)
                _, xticks, _ = _xdomain(plot)
                ax.set_xticks(xticks)
                ax.xaxis.set_minor_locator(ticker.NullLocator())
                ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt_x(v)))
            else:
                (xlo, xhi), xticks, _ = _xdomain(plot)
                ax.set_xlim(xlo, xhi)
                ax.set_xticks(xticks)
                ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt_x(v)))
            for x, label in plot.vlines:
                ax.axvline(x, color="#555", linestyle="--", linewidth=1.5)
                ax.annotate(label, xy=(x, 1), xycoords=("data", "axes fraction"), xytext=(5, -14),
                            textcoords="offset points", fontsize=9, color="#333")
        for y, label in plot.hlines:
            ax.axhline(y, color=REF_COLOR, linestyle=":", linewidth=1.5, label=label)
        for note in offscale_notes(plot):
            ax.plot([], [], " ", label=note)
        ax.set_ylim(bottom=0)
        top = max([y for s in plot.series for y in s["ys"] if y is not None] + [y for y, _ in plot.hlines] + [0])
        if top > 0:
            ax.set_ylim(top=top * 1.12)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt_num(v)))
        ax.set_title(plot.title, fontsize=12)
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        ax.grid(True, which="major", color="#e0e0e0")
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        fig.tight_layout()
        fig.savefig(svg_path, metadata={"Date": None})
        fig.savefig(png_path, dpi=100)
    finally:
        plt.close(fig)


PLOT_PREFIXES = ("fault_throughput-", "shootdown-", "munmap_per_page-", "rcu_gp-")


def write_plots(runs, out_dir, use_matplotlib=True):
    """Writes every plot; returns (list of file paths, note or None)."""
    for fname in os.listdir(out_dir):
        if fname.startswith(PLOT_PREFIXES) and fname.endswith((".svg", ".png")):
            os.unlink(os.path.join(out_dir, fname))
    mpl = load_matplotlib() if use_matplotlib else None
    files = []
    for run in runs:
        for plot in make_plots(run):
            svg = os.path.join(out_dir, plot.name + ".svg")
            png = os.path.join(out_dir, plot.name + ".png")
            if mpl:
                mpl_plot(mpl, plot, svg, png)
                files += [svg, png]
            else:
                with open(svg, "w", encoding="utf-8") as f:
                    f.write(svg_plot(plot))
                files.append(svg)
    note = None
    if not mpl and files:
        note = ("PNG plots skipped: matplotlib is not installed (apt-get install python3-matplotlib); "
                "the SVG plots were drawn without it")
    return files, note


# --------------------------------------------------------------------------
# Summary


def md_table(header, rows):
    cells = [list(header)] + [[c.replace("|", "\\|") for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(cells[0])) + " |",
             "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")
    return lines


def describe(run):
    parts = []
    if run.head.get("kernel_version"):
        parts.append("kernel %s" % run.head["kernel_version"])
    if run.head.get("cmdline") is not None:
        parts.append("cmdline `%s`" % run.head["cmdline"])
    if run.cpus:
        parts.append("%d CPU%s" % (run.cpus, "" if run.cpus == 1 else "s"))
    if run.accel:
        acc = run.accel
        if run.icount is not None:
            acc += " with -icount shift=%s" % run.icount
        parts.append(acc)
    if run.date:
        parts.append("run %s" % run.date)
    parts.append("result %s" % run.state)
    return ", ".join(parts)


def summary(runs, files, plot_note, out_dir):
    lines = ["# mmtorture benchmark summary", ""]
    lines.append("Targets are ratios between figures of one run. Under TCG and KVM absolute times "
                 "depend on the host; under -icount the figures count guest instructions.")
    lines.append("")
    for run in runs:
        lines.append("## %s" % run.name)
        lines.append("")
        if run.skipped:
            lines.append("skipped: %s" % (run.reason or "the runner skipped it"))
            lines.append("")
            continue
        lines.append(describe(run))
        lines.append("")
        problem = run.problem()
        if problem:
            lines.append("**run problem:** %s" % problem)
            lines.append("")
        elif run.state != runner.PASS:
            lines.append("**the kernel reported %s:** %s" % (run.state, run.reason or "see the log"))
            lines.append("")
        if run.head.get("unparsed"):
            lines.append("unparsable bench lines: %s" % "; ".join("`%s`" % l for l in run.head["unparsed"]))
            lines.append("")
        if run.lines:
            rows = evaluate(run)
            lines += md_table(("check", "measured", "target", "result"),
                              [(r.check, r.measured, r.target, r.result) for r in rows])
            lines.append("")
            whys = [r for r in rows if r.result == MISSED]
            if whys:
                lines.append("Why the misses (from this run's figures):")
                lines.append("")
                for r in whys:
                    lines.append("- %s: %s" % (r.check, r.why or "no explanation found in the figures"))
                lines.append("")
    if files:
        lines.append("## Plots")
        lines.append("")
        for f in files:
            lines.append("- %s" % os.path.relpath(f, out_dir))
        lines.append("")
    if plot_note:
        lines.append(plot_note)
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main


def choose(scenarios, names, runs_dir, from_runs):
    """[(name, Scenario or None)] to collect."""
    by_name = {s.name: s for s in scenarios}
    if not names:
        chosen = [(s.name, s) for s in scenarios if GROUP in s.groups]
        if not chosen:
            raise UsageError("no scenario in group '%s'" % GROUP)
        return chosen
    out, seen = [], set()
    for pat in names:
        hits = [s.name for s in scenarios if fnmatch.fnmatchcase(s.name, pat)]
        if from_runs and os.path.isdir(runs_dir):
            hits += sorted(n for n in os.listdir(runs_dir)
                           if fnmatch.fnmatchcase(n, pat) and os.path.isfile(os.path.join(runs_dir, n, "serial.log")))
        if not hits:
            raise UsageError("no scenario matches %r" % pat)
        for n in hits:
            if n not in seen:
                seen.add(n)
                out.append((n, by_name.get(n)))
    return out


def run_runner(opts, chosen):
    cmd = [sys.executable, RUNNER, "--jobs", str(opts.jobs), "--keep-going",
           "--out", opts.runs, "--elf", opts.elf, "--scenario-dir", opts.scenario_dir]
    cmd += [n for n, _ in chosen]
    print("bench: " + " ".join(shlex.quote(runner.display_path(c)) if c.startswith("/") else shlex.quote(c)
                               for c in cmd[1:]), flush=True)
    p = subprocess.Popen(cmd)
    try:
        return p.wait()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the runner too; a SIGTERM sent to
        # this process alone is passed on.  Either way the runner stops
        # its QEMUs itself.
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            p.wait()
        raise


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt()


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/bench.py",
        description="Run the bench scenarios (group 'bench'), collect their '# bench' lines into "
                    "build/bench/results.json, check the target ratios (summary.md) and plot.")
    ap.add_argument("names", nargs="*", metavar="NAME_OR_GLOB",
                    help="scenarios (or, with --from-runs, run directories) to use instead of group 'bench'")
    ap.add_argument("--from-runs", metavar="DIR",
                    help="do not boot anything: read DIR/<scenario>/serial.log from an earlier run")
    ap.add_argument("--out", default=DEFAULT_OUT, help="where results and plots go (default: build/bench)")
    ap.add_argument("--runs", default=runner.DEFAULT_OUT,
                    help="where the runner keeps its run directories (default: build/runs)")
    ap.add_argument("--jobs", "-j", type=int, default=1,
                    help="QEMU instances at once (default: 1, so that runs do not compete for CPUs)")
    ap.add_argument("--elf", default=runner.DEFAULT_ELF, help="kernel to boot (default: build/mmtorture.elf)")
    ap.add_argument("--scenario-dir", default=runner.DEFAULT_SCENARIO_DIR,
                    help="where NAME.scn files are (default: tests/scenarios)")
    ap.add_argument("--no-matplotlib", action="store_true",
                    help="draw the SVG plots without matplotlib even when it is installed (no PNG)")
    ap.add_argument("--have-matplotlib", action="store_true",
                    help="exit 0 if matplotlib can be used for the plots, 1 if not")
    ap.add_argument("--selftest", action="store_true", help="test the parser and the checks, then exit")
    opts = ap.parse_args(argv)
    if opts.jobs < 1:
        ap.error("--jobs must be at least 1")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.selftest:
        return _selftests()
    if opts.have_matplotlib:
        return 0 if load_matplotlib() else 1
    runs_dir = os.path.abspath(opts.from_runs or opts.runs)
    opts.runs = runs_dir
    try:
        if opts.from_runs and not os.path.isdir(runs_dir):
            raise UsageError("%s is not a directory" % opts.from_runs)
        scenarios = runner.load_scenarios(opts.scenario_dir)
        chosen = choose(scenarios, opts.names, runs_dir, bool(opts.from_runs))
    except (UsageError, runner.UsageError) as e:
        print("bench: error: %s" % e, file=sys.stderr)
        return 2

    since = None
    if not opts.from_runs:
        since = time.time() - 1     # file times may be coarser than time()
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGHUP, _raise_interrupt)
        try:
            rc = run_runner(opts, chosen)
        except KeyboardInterrupt:
            print("\nbench: interrupted", file=sys.stderr)
            return 130
        if rc in (2, 130):
            print("bench: tools/runner.py stopped with status %d; nothing collected" % rc, file=sys.stderr)
            return rc
        print()

    runs = [load_run(name, scn, runs_dir, since) for name, scn in chosen]
    if opts.from_runs:
        # Reusing logs: scenarios that were never run are left out, not
        # counted as failures.
        absent = [r for r in runs if r.state == "NOT RUN"]
        runs = [r for r in runs if r.state != "NOT RUN"]
        for r in absent:
            print("bench: %s: no run in %s; left out" % (r.name, runner.display_path(runs_dir)))
        if not runs:
            print("bench: error: no bench run found in %s" % runner.display_path(runs_dir), file=sys.stderr)
            return 1

    out_dir = os.path.abspath(opts.out)
    os.makedirs(out_dir, exist_ok=True)
    records = [rec for r in runs for rec in r.records]
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    files, note = write_plots(runs, out_dir, use_matplotlib=not opts.no_matplotlib)
    text = summary(runs, files, note, out_dir)
    with open(os.path.join(out_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)

    print(text)
    print("bench: %d bench line%s from %d run%s; wrote %s, %s and %d plot file%s" % (
        len(records), "" if len(records) == 1 else "s", len(runs), "" if len(runs) == 1 else "s",
        runner.display_path(os.path.join(out_dir, "results.json")),
        runner.display_path(os.path.join(out_dir, "summary.md")), len(files), "" if len(files) == 1 else "s"))
    broken = [r for r in runs if r.broken]
    for r in broken:
        print("bench: %s: %s" % (r.name, r.problem()), file=sys.stderr)
    missed = sum(1 for r in runs if r.lines for row in evaluate(r) if row.result == MISSED)
    if missed:
        print("bench: %d target%s missed (reported, not a failure)" % (missed, "" if missed == 1 else "s"))
    return 1 if broken else 0


# --------------------------------------------------------------------------
# Self-test

SAMPLE_LOG = """\
\x1b[2JSeaBIOS (version 1.16.2)
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=bench exit=qemu
# cpus: 4 online, apic ids: 0,1,2,3
# seed: 99
1..1
    KTAP version 1
    # Subtest: bench
    1..3
    # bench exception_roundtrip 900 ns
    # bench page_clear 600 ns
    # bench tick_period 4000 us
    # bench ipi_roundtrip 10000 ns
\t# bench minor_fault 2000 ns path=spf\r
    # bench minor_fault 2100 ns path=locked
    ok 1 basics
    # bench fault_throughput 100000 faults/s cpus=1 writer=0 path=spf
    # bench fault_throughput 95000 faults/s cpus=1 writer=1 path=spf
    # bench fault_throughput 190000 faults/s cpus=2 writer=0 path=spf
    # bench fault_throughput 150000 faults/s cpus=2 writer=1 path=spf
    # bench fault_throughput 280000 faults/s cpus=3 writer=0 path=spf
    # bench fault_throughput 270000 faults/s cpus=3 writer=1 path=spf
    # bench fault_throughput 60000 faults/s cpus=3 writer=1 path=locked
    # bench shootdown 25000 ns targets=1 pages=1
    # bench shootdown 30000 ns targets=2 pages=1
    # bench shootdown 40000 ns targets=3 pages=1
    # bench shootdown 45000 ns targets=3 pages=64
    # bench rcu_gp 50 us kind=expedited stat=median
    # bench rcu_gp 9000 us kind=normal stat=median
    # bench rcu_gp 15000 us kind=normal stat=p99
    # bench map_touch_unmap 5000 ns remote=0
    # bench map_touch_unmap 12000 ns remote=1
    # bench call_rcu 1.5 callbacks/s
    ok 2 more
    ok 3 rest
ok 1 bench
# Totals: pass:3 fail:0 skip:0 error:0
--- End of test: SUCCESS
"""


def _selftests():
    import shutil
    import xml.etree.ElementTree as ET
    tests = []
    tmpdirs = []

    def test(fn):
        tests.append(fn)
        return fn

    def fake_run(text, name="s", smp="4", extra=""):
        tmp = tempfile.mkdtemp(prefix="bench-selftest-")
        tmpdirs.append(tmp)
        os.makedirs(os.path.join(tmp, name))
        with open(os.path.join(tmp, name, "serial.log"), "w") as f:
            f.write(text)
        scn = runner.parse_scenario(name, "smp = %s\ngroups = bench\n%s" % (smp, extra))
        return load_run(name, scn, tmp), tmp

    def rows_by_check(run):
        return {r.check: r for r in evaluate(run)}

    @test
    def parse_lines():
        head, lines = parse_log(SAMPLE_LOG)
        assert head["kernel_version"] == "0.1.0" and head["cmdline"] == "tests=bench exit=qemu", head
        assert head["cpus"] == 4 and head["seed"] == 99
        assert ("minor_fault", 2000, "ns", {"path": "spf"}) in lines, lines
        assert ("call_rcu", 1.5, "callbacks/s", {}) in lines
        assert ("fault_throughput", 60000, "faults/s", {"cpus": "3", "writer": "1", "path": "locked"}) in lines
        assert len(lines) == 23, len(lines)
        assert parse_log("# tick_hz 100\n")[0]["tick_hz"] == 100

    @test
    def checks_four_cpus():
        run, _ = fake_run(SAMPLE_LOG)
        assert run.state == runner.PASS and not run.broken and run.cpus == 4
        rows = rows_by_check(run)
        r = rows["minor_fault path=spf / (exception_roundtrip + page_clear)"]
        assert r.result == OK and r.measured.startswith("1.33 "), r.measured
        assert rows["fault_throughput path=spf writer=1 / writer=0, cpus=1"].result == OK
        r = rows["fault_throughput path=spf writer=1 / writer=0, cpus=2"]
        assert r.result == MISSED and r.measured.startswith("0.79 "), r.measured
        r = rows["fault_throughput writer=1 path=spf / path=locked, at the most CPUs"]
        assert r.result == OK and "cpus=3" in r.measured, r.measured
        assert rows["shootdown targets=1 pages=1 / ipi_roundtrip"].result == OK
        assert rows["shootdown pages=1, targets=2 minus targets=1 / targets=1"].result == OK
        r = rows["shootdown pages=1, targets=3 minus targets=2 / targets=1"]
        assert r.result == MISSED and r.measured.startswith("0.40 "), r.measured
        r = rows["rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))"]
        assert r.result == OK and r.measured.startswith("1.67 "), r.measured
        r = rows["rcu_gp kind=normal stat=median / tick period"]
        assert r.result == OK and r.measured.startswith("2.25 ticks"), r.measured
        assert "bench tick_period" in r.target
        r = rows["map_touch_unmap remote=1 / remote=0"]
        assert r.result == MISSED and r.measured.startswith("2.40 "), r.measured
        assert not any(x.result == "note" for x in rows.values())

    @test
    def missing_inputs():
        text = "\n".join(l for l in SAMPLE_LOG.splitlines()
                         if "page_clear" not in l and "ipi_roundtrip" not in l and "tick_period" not in l
                         and "remote=1" not in l)
        run, _ = fake_run(text)
        rows = rows_by_check(run)
        assert rows["minor_fault path=spf / (exception_roundtrip + page_clear)"].result == NOT_MEASURED
        assert rows["shootdown targets=1 pages=1 / ipi_roundtrip"].result == NOT_MEASURED
        assert rows["map_touch_unmap remote=1 / remote=0"].result == NOT_MEASURED
        r = rows["rcu_gp kind=normal stat=median / tick period"]
        assert "assumed" in r.target and r.measured.startswith("2.25"), (r.target, r.measured)

    @test
    def one_cpu_icount():
        text = ("KTAP version 1\n# mmtorture 0.1.0 cmdline: tests=bench exit=qemu\n# cpus: 1 online, apic ids: 0\n"
                "1..1\n    # bench exception_roundtrip 137 ns\n    # bench rcu_gp 1 us kind=normal stat=median\n"
                "ok 1 bench\n--- End of test: SUCCESS\n")
        run, _ = fake_run(text, smp="1", extra="qemu_extra = -icount shift=0\n")
        assert run.icount == 0 and run.cpus == 1
        rows = evaluate(run)
        res = {r.check: r.result for r in rows}
        assert res["rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))"] == "skipped (1 CPU)"
        assert res["shootdown targets=1 pages=1 / ipi_roundtrip"].startswith("skipped")
        assert res["fault_throughput writer=1 path=spf / path=locked, at the most CPUs"].startswith("skipped")
        assert rows[-1].result == "note" and "instruction counts" in rows[-1].check
        assert "shift=0" in rows[-1].check

    @test
    def broken_runs():
        run, _ = fake_run("KTAP version 1\n# cpus: 2 online\n1..1\n    # bench page_clear 5 ns\n")
        assert run.state == "INCOMPLETE" and run.broken
        run, _ = fake_run("KTAP version 1\n1..1\nok 1 bench\n--- End of test: SUCCESS\n")
        assert run.state == runner.PASS and run.broken and "no bench lines" in run.problem()
        run, _ = fake_run("KTAP version 1\nBail out! unknown suite 'bench'\n")
        assert run.state == runner.ERROR and run.broken
        run, tmp = fake_run("KTAP version 1\n")
        with open(os.path.join(tmp, "s", "result.json"), "w") as f:
            json.dump({"result": "SKIP", "verdict": "skipped", "reason": "/dev/kvm: No such file"}, f)
        run = load_run("s", run.scn, tmp)
        assert run.skipped and not run.broken
        assert load_run("nothing", None, tmp).state == "NOT RUN"
        # A directory older than this collection is an earlier run's.
        run, tmp = fake_run(SAMPLE_LOG)
        with open(os.path.join(tmp, "s", "result.json"), "w") as f:
            json.dump({"result": "PASS", "verdict": "ok", "reason": ""}, f)
        assert load_run("s", run.scn, tmp, since=time.time() - 60).state == runner.PASS
        assert load_run("s", run.scn, tmp, since=time.time() + 60).state == "NOT RUN"
        kvm = runner.parse_scenario("k", "accel = kvm\n")
        want = runner.SKIP if runner.kvm_unusable_reason() else "NOT RUN"
        assert load_run("k", kvm, tmp, since=time.time()).state == want

    @test
    def icount_args():
        assert icount_shift(["-icount", "shift=0"]) == 0
        assert icount_shift(["-icount", "shift=3,sleep=off"]) == 3
        assert icount_shift(["-icount", "7"]) == 7
        assert icount_shift(["-icount", "shift=auto"]) == "auto"
        assert icount_shift(["-smp", "2"]) is None

    @test
    def svg_is_wellformed():
        run, _ = fake_run(SAMPLE_LOG)
        plots = make_plots(run)
        assert [p.name.split("-")[0] for p in plots] == ["fault_throughput", "shootdown", "rcu_gp"], \
            [p.name for p in plots]
        for p in plots:
            ET.fromstring(svg_plot(p).split("\n", 1)[1])
        fault = plots[0]
        assert [s["label"] for s in fault.series] == ["spf, writer=0", "spf, writer=1", "locked, writer=1"]
        bars = plots[2]
        assert bars.unit == "ms" and bars.series[1]["ys"] == [15.0, None], (bars.unit, bars.series[1]["ys"])

    @test
    def numbers():
        assert fmt_num(1500) == "1.5k" and fmt_num(999) == "999" and fmt_num(0.25) == "0.25"
        assert fmt_num(2.5e6) == "2.5M" and fmt_time(1500) == "1.5 us" and fmt_time(12e6) == "12 ms"
        assert _nice_ticks(0, 10.8) == [0, 2, 4, 6, 8, 10, 12], _nice_ticks(0, 10.8)
        assert tlb_ceiling("tests=bench tlb_ceiling=8 exit=qemu") == 8 and tlb_ceiling("") == 33

    passed = failed = 0
    for fn in tests:
        try:
            fn()
        except Exception as e:
            failed += 1
            print("not ok %s: %s: %s" % (fn.__name__, type(e).__name__, e))
        else:
            passed += 1
            print("ok %s" % fn.__name__)
    for tmp in tmpdirs:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
