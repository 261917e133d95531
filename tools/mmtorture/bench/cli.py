"""tools/bench.py: benchmark runs of mmtorture: collect, check ratios, plot.

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

After the scenarios it boots Debian's Linux kernel (downloaded once with
apt-get into build/linux/) with the QEMU settings of the TCG scenario with
the most CPUs the host has cores for, tests/linux-bench/bench.c as its init, and sets the two
kernels' figures side by side (summary.md, under that scenario).  When
the kernel cannot be had, the comparison says "skipped: " and why.

Plots need matplotlib (Debian: python3-matplotlib); without it plain SVG
line plots are drawn and PNG is skipped.  Absolute TCG and KVM figures
depend on the host, so only ratios are checked; under -icount the figures
count guest instructions.

Exit status: 0 when the bench runs completed (a missed ratio is reported,
not a failure, and so is a Linux comparison the host cannot make); 1 when
a bench scenario or the Linux boot crashed, timed out or printed no bench
line; 2 on a usage error.
"""

import argparse
import fnmatch
import json
import os
import shlex
import signal
import subprocess
import sys
import time

from ..common import DEFAULT_ELF, DEFAULT_SCENARIO_DIR, ROOT, TOOLS, UsageError, display_path, interrupt_on_signals
from ..common import DEFAULT_OUT as DEFAULT_RUNS
from ..scenario import load_scenarios
from ..selftest import run_unit_tests
from . import linux_boot
from .linux_compare import PREFIX as LINUX_PREFIX
from .linux_compare import compare as linux_compare
from .linux_compare import load_linux, pick_pair, run_name, skipped_run
from .logs import NOT_RUN, load_run
from .plots import load_matplotlib, write_plots
from .summary import summary
from .targets import MISSED, evaluate, host_cpus

RUNNER = os.path.join(TOOLS, "runner.py")
DEFAULT_OUT = os.path.join(ROOT, "build", "bench")
GROUP = "bench"


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
            # Linux boots (linux-*) are read as the comparison, not as runs.
            hits += sorted(n for n in os.listdir(runs_dir)
                           if fnmatch.fnmatchcase(n, pat) and os.path.isfile(os.path.join(runs_dir, n, "serial.log"))
                           and (n in by_name or not n.startswith(LINUX_PREFIX)))
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
    print("bench: " + " ".join(shlex.quote(display_path(c)) if c.startswith("/") else shlex.quote(c)
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
    ap.add_argument("--runs", default=DEFAULT_RUNS,
                    help="where the runner keeps its run directories (default: build/runs)")
    ap.add_argument("--jobs", "-j", type=int, default=1,
                    help="QEMU instances at once (default: 1, so that runs do not compete for CPUs)")
    ap.add_argument("--elf", default=DEFAULT_ELF, help="kernel to boot (default: build/mmtorture.elf)")
    ap.add_argument("--scenario-dir", default=DEFAULT_SCENARIO_DIR,
                    help="where NAME.scn files are (default: tests/scenarios)")
    ap.add_argument("--no-linux", action="store_true",
                    help="leave out the comparison with Linux (no download, no Linux boot)")
    ap.add_argument("--linux-with", metavar="SCENARIO",
                    help="boot Linux with this scenario's QEMU settings and compare with it (default: "
                         "of the TCG scenarios run, without -icount, the one with the most CPUs "
                         "but no more than the host has cores)")
    ap.add_argument("--linux-refresh", action="store_true",
                    help="download the kernel package linux-image-amd64 depends on now, "
                         "even when build/linux/ has one")
    ap.add_argument("--no-matplotlib", action="store_true",
                    help="draw plain SVG line plots without matplotlib even when it is importable (no PNG)")
    ap.add_argument("--have-matplotlib", action="store_true",
                    help="exit 0 if matplotlib can be used for the plots, 1 if not")
    ap.add_argument("--selftest", action="store_true",
                    help="run the unit tests of tools/tests (the log parser, the checks, the plots) and exit")
    opts = ap.parse_args(argv)
    if opts.jobs < 1:
        ap.error("--jobs must be at least 1")
    return opts


def linux_pair(opts, chosen, runs_dir):
    """(scenario name or None, why there is none)."""
    names = [n for n, _ in chosen]
    if opts.linux_with:
        if opts.linux_with not in names:
            raise UsageError("--linux-with %s: not among the scenarios of this run (%s)" % (
                opts.linux_with, ", ".join(names)))
        return opts.linux_with, ""
    if opts.from_runs:
        # The Linux boot that an earlier run made, if any.
        have = [(n, s) for n, s in chosen if os.path.isdir(os.path.join(runs_dir, run_name(n)))]
        pair = pick_pair(have, host_cpus()) or (have[0][0] if have else None)
        return pair, "" if pair else "no Linux boot (%s*) in %s" % (LINUX_PREFIX, display_path(runs_dir))
    pair = pick_pair(chosen, host_cpus())
    return pair, "" if pair else "no TCG scenario without -icount among those run"


def prepare_linux(opts, pair):
    """The kernel record to boot, or (None, why not)."""
    if not os.path.isfile(linux_boot.INIT):
        return None, "%s is missing (`make %s` builds it; it needs a static C library, libc6-dev)" % (
            display_path(linux_boot.INIT), display_path(linux_boot.INIT))
    try:
        return linux_boot.fetch_kernel(refresh=opts.linux_refresh), ""
    except linux_boot.Unavailable as e:
        return None, str(e)


def collect_linux(opts, pair, kernel, why, scn_of, runs_dir):
    """The LinuxRun of this collection: booted now, read back, or skipped."""
    if opts.no_linux:
        return None
    if pair is None:
        return skipped_run(None, why)
    if opts.from_runs:
        return load_linux(pair, runs_dir)
    if kernel is None:
        return skipped_run(pair, why)
    try:
        linux_boot.boot_linux(scn_of[pair], kernel, os.path.join(runs_dir, run_name(pair)))
    except linux_boot.Unavailable as e:
        return skipped_run(pair, str(e))
    print()
    return load_linux(pair, runs_dir)


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.selftest:
        return run_unit_tests()
    if opts.have_matplotlib:
        return 0 if load_matplotlib() else 1
    runs_dir = os.path.abspath(opts.from_runs or opts.runs)
    opts.runs = runs_dir
    try:
        if opts.from_runs and not os.path.isdir(runs_dir):
            raise UsageError("%s is not a directory" % opts.from_runs)
        scenarios = load_scenarios(opts.scenario_dir)
        chosen = choose(scenarios, opts.names, runs_dir, bool(opts.from_runs))
        pair, why = (None, "") if opts.no_linux else linux_pair(opts, chosen, runs_dir)
    except UsageError as e:
        print("bench: error: %s" % e, file=sys.stderr)
        return 2

    kernel = None
    if pair and not opts.from_runs:
        # Before the scenarios, so that a download problem shows at once.
        kernel, why = prepare_linux(opts, pair)
        if kernel is None:
            print("bench: the Linux comparison is skipped: %s" % why, flush=True)

    since = None
    if not opts.from_runs:
        since = time.time() - 1     # file times may be coarser than time()
        interrupt_on_signals()
        try:
            rc = run_runner(opts, chosen)
        except KeyboardInterrupt:
            print("\nbench: interrupted", file=sys.stderr)
            return 130
        if rc in (2, 130):
            print("bench: tools/runner.py stopped with status %d; nothing collected" % rc, file=sys.stderr)
            return rc
        print()
    try:
        linux = collect_linux(opts, pair, kernel, why, dict(chosen), runs_dir)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130

    runs = [load_run(name, scn, runs_dir, since) for name, scn in chosen]
    if opts.from_runs:
        # Reusing logs: scenarios that were never run are left out, not
        # counted as failures.
        absent = [r for r in runs if r.state == NOT_RUN]
        runs = [r for r in runs if r.state != NOT_RUN]
        for r in absent:
            print("bench: %s: no run in %s; left out" % (r.name, display_path(runs_dir)))
        if not runs:
            print("bench: error: no bench run found in %s" % display_path(runs_dir), file=sys.stderr)
            return 1

    out_dir = os.path.abspath(opts.out)
    os.makedirs(out_dir, exist_ok=True)
    records = [rec for r in runs for rec in r.records] + (linux.records if linux else [])
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    files, note = write_plots(runs, out_dir, use_matplotlib=not opts.no_matplotlib)
    text = summary(runs, files, note, out_dir, linux)
    with open(os.path.join(out_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)

    print(text)
    print("bench: %d bench line%s from %d run%s; wrote %s, %s and %d plot file%s" % (
        len(records), "" if len(records) == 1 else "s", len(runs), "" if len(runs) == 1 else "s",
        display_path(os.path.join(out_dir, "results.json")),
        display_path(os.path.join(out_dir, "summary.md")), len(files), "" if len(files) == 1 else "s"))
    broken = [r for r in runs if r.broken] + ([linux] if linux and linux.broken else [])
    for r in broken:
        print("bench: %s: %s" % (r.name, r.problem()), file=sys.stderr)
    missed = sum(1 for r in runs if r.lines for row in evaluate(r) if row.result == MISSED)
    if linux:
        paired = next((r for r in runs if r.name == linux.paired), None)
        missed += sum(1 for row in linux_compare(paired, linux) if row.result == MISSED)
    if missed:
        print("bench: %d target%s missed (reported, not a failure)" % (missed, "" if missed == 1 else "s"))
    return 1 if broken else 0
