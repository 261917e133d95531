"""A bench scenario's run directory, read back: the runner's result.json,
cmd.txt and the serial log's header and bench lines

    # bench <name> <value> <unit> [key=value ...]

into a Run with one record per bench line (what results.json holds)."""

import datetime
import json
import os
import re
import shlex

from ..common import display_path
from ..emulators import emulator_for
from ..emulators.qemu import icount_shift
from ..ktap import ANSI_RE, CRASH, ERROR, FAIL, HOSTERR, PANIC, PASS, SEED_RE, SKIP, SKIPPED, TIMEOUT, parse_ktap

BENCH_RE = re.compile(r"#\s*bench\s+(\S+)\s+([0-9.]+)\s+(\S+)((?:\s+\S+=\S+)*)")
VERSION_RE = re.compile(r"^#\s*mmtorture\s+(\S+)\s+cmdline:\s*(.*?)\s*$")
CPUS_RE = re.compile(r"^#\s*cpus:\s*(\d+)\s+online")
TICK_HZ_RE = re.compile(r"^#\s*tick_hz:?\s+(\d+)\s*$")

# Run states: the runner's results, plus what a bare log can tell.
INCOMPLETE, NOT_RUN = "INCOMPLETE", "NOT RUN"
BAD_STATES = {PANIC, TIMEOUT, CRASH, HOSTERR, INCOMPLETE, NOT_RUN}


def _number(text):
    v = float(text)
    return int(v) if v.is_integer() and "." not in text else v


def parse_log(text):
    """(header dict, [(name, value, unit, keys)]) from one serial log."""
    head = {"kernel_version": None, "cmdline": None, "cpus": None, "seed": None, "tick_hz": None}
    lines = []
    bad = []
    for raw in text.splitlines():
        line = ANSI_RE.sub("", raw).replace("\r", "").strip()
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
        m = SEED_RE.match(line)
        if m and head["seed"] is None:
            head["seed"] = int(m.group(1))
            continue
        m = TICK_HZ_RE.match(line)
        if m and head["tick_hz"] is None:
            head["tick_hz"] = int(m.group(1))
    head["unparsed"] = bad
    return head, lines


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
        return self.state == SKIP

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
            if self.state and self.state != PASS:
                why += " (%s%s)" % (self.state, ": " + self.reason if self.reason else "")
            return why
        return None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_fresh(path, since):
    try:
        return os.stat(path).st_mtime >= since
    except OSError:
        return False


def judge_log(text):
    """(state, reason) of a log without the runner's record (copied by
    hand, say), from its own end."""
    rep = parse_ktap(text)
    if rep.panic:
        return PANIC, rep.panic[0].strip()
    if rep.sentinel == "SUCCESS":
        return PASS, ""
    if rep.sentinel == "FAILURE":
        lines = rep.problem_lines(1)
        counts = rep.counts()
        # Only ERROR results (a bail-out: 'not ok 1 boot # ERROR ...'):
        # the run could not test anything.
        state = ERROR if counts["error"] and not counts["fail"] else FAIL
        return state, lines[0] if lines else ""
    if rep.bails:
        return ERROR, "Bail out! " + rep.bails[0][1]
    return INCOMPLETE, "the log does not end with '--- End of test'"


def _read_command(run):
    """The accelerator and -icount shift from the run's cmd.txt, when it has one."""
    try:
        with open(os.path.join(run.dir, "cmd.txt"), encoding="utf-8") as f:
            run.qemu_args = shlex.split(f.read())
        if "-accel" in run.qemu_args:
            acc = run.qemu_args[run.qemu_args.index("-accel") + 1]
            run.accel = acc.split(",")[0]
    except (OSError, ValueError, IndexError):
        pass
    run.icount = icount_shift(run.qemu_args)


def load_run(name, scn, runs_dir, since=None):
    """since: the time the runner was started for this collection; a run
    directory older than that is left from an earlier run and not used."""
    run = Run(name, scn, os.path.join(runs_dir, name))
    serial = os.path.join(run.dir, "serial.log")
    result_json = os.path.join(run.dir, "result.json")
    record = _read_json(result_json)
    if since is not None and not _is_fresh(result_json, since):
        # The runner skips a scenario the host cannot boot (KVM without a
        # usable /dev/kvm) before it makes a run directory.
        why = emulator_for(scn).unusable(scn) if scn is not None else None
        if why:
            run.state, run.reason = SKIP, why
        else:
            run.state, run.reason = NOT_RUN, "tools/runner.py left no result for it"
        return run
    if record is not None and record.get("verdict") == SKIPPED:
        run.state, run.reason = SKIP, record.get("reason") or ""
        return run
    if record is not None:
        run.state, run.reason = record.get("result") or CRASH, record.get("reason") or ""
    try:
        with open(serial, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        mtime = os.stat(serial).st_mtime
    except OSError:
        if record is None:
            run.state, run.reason = NOT_RUN, "no %s" % display_path(serial)
        return run

    run.date = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if record is None:
        run.state, run.reason = judge_log(text)
    _read_command(run)
    run.head, run.lines = parse_log(text)
    run.cpus = run.head["cpus"] or (smp_count(scn.smp) if scn else None)
    for bname, value, unit, keys in run.lines:
        run.records.append({
            "scenario": name, "name": bname, "value": value, "unit": unit, "keys": keys,
            "kernel_version": run.head["kernel_version"], "cmdline": run.head["cmdline"],
            "date": run.date, "cpus": run.cpus,
        })
    return run
