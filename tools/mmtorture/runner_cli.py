"""tools/runner.py: boot mmtorture once per scenario and check the KTAP
results.

For every selected scenario the runner wraps build/mmtorture.elf in a GRUB
rescue ISO, boots it under the scenario's emulator, reads the KTAP log the
kernel writes to the serial port, combines it with the exit status and
compares the outcome with what the scenario expects.  Exit status: 0 when
every run gave its expected result, 1 otherwise, 2 on a usage error, 130
when interrupted.
"""

import argparse
import os
import shutil
import subprocess
import sys

from .common import (DEFAULT_ELF, DEFAULT_OUT, DEFAULT_SCENARIO_DIR, UsageError, display_path,
                     interrupt_on_signals)
from .emulators import emulator_for
from .emulators.bochs import adapt as bochs_adapt
from .emulators.qemu import set_x2apic_qemu
from .kunit import find_kunit
from .netboot import missing_net_image
from .report import list_scenarios, print_detection_stats, print_failed_logs, print_table, summary_line
from .results import write_json, write_junit
from .runs import make_jobs, run_all
from .scenario import load_scenarios, select_scenarios
from .selftest import run_unit_tests


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/runner.py",
        description="Boot mmtorture under QEMU once per scenario and check the KTAP results.")
    ap.add_argument("names", nargs="*", metavar="NAME_OR_GLOB",
                    help="scenarios to run regardless of their groups")
    ap.add_argument("--group", "-g", action="append", default=[],
                    help="run the scenarios of this group (repeatable; 'all' = every scenario; "
                         "default: 'default' when no names are given)")
    ap.add_argument("--jobs", "-j", type=int, default=2,
                    help="QEMU instances at once (default: 2)")
    ap.add_argument("--seeds", type=int, metavar="N",
                    help="run each scenario N times with seed=B..B+N-1 (implies --keep-going)")
    ap.add_argument("--seed-base", type=int, metavar="B",
                    help="first seed (default: 1)")
    ap.add_argument("--elf", default=DEFAULT_ELF, help="kernel to boot (default: build/mmtorture.elf)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="where run directories go (default: build/runs)")
    ap.add_argument("--scenario-dir", default=DEFAULT_SCENARIO_DIR,
                    help="where NAME.scn files are (default: tests/scenarios)")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    ap.add_argument("--keep-going", "-k", action="store_true",
                    help="start further scenarios after an unexpected result")
    ap.add_argument("--keep-iso", action="store_true",
                    help="keep boot.iso of runs that went as expected (always kept otherwise)")
    ap.add_argument("--selftest", action="store_true",
                    help="run the unit tests of tools/tests (the log parser and more) and exit")
    ap.add_argument("--emulator", choices=("bochs",),
                    help="boot the chosen scenarios on this emulator instead (same command line, CPU "
                         "count and expectation; a Bochs CPU model from --cpu)")
    ap.add_argument("--cpu", metavar="MODEL", help="with --emulator bochs: the Bochs CPU model")
    ap.add_argument("--junit", metavar="FILE",
                    help="also write the results as JUnit XML (a testsuite per run, a testcase per KTAP case)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--kunit", metavar="PATH",
                    help="Linux's kunit.py (or its directory) to check every log with (default: "
                         "build/kunit/tools/testing/kunit/kunit.py, made by 'make kunit')")
    ap.add_argument("--qemu-x2apic", metavar="PATH",
                    help="QEMU for the scenarios that need TCG x2APIC (needs = tcg-x2apic; default: "
                         "build/qemu-backports/qemu-system-x86_64 from 'make deps QEMU=backports' when "
                         "there, else the system's; a QEMU without it makes them skip)")
    ap.add_argument("--no-kunit", action="store_true",
                    help="do not check the logs with Linux's kunit.py (the runner's own count check stays)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show commands and timings; print failing logs")
    opts = ap.parse_args(argv)
    if opts.jobs < 1:
        ap.error("--jobs must be at least 1")
    if opts.seeds is not None and opts.seeds < 1:
        ap.error("--seeds must be at least 1")
    return opts


def check_host(chosen, elf, out):
    """Raises UsageError for what would make every run fail."""
    if not os.path.isfile(elf):
        raise UsageError("%s does not exist; build it first (make)" % display_path(elf))
    if "," in os.path.abspath(out):
        raise UsageError("--out must not contain ',' (QEMU option syntax)")
    tools = ["grub-mkrescue"]
    for scn in chosen:
        tools += [t for t in emulator_for(scn).tools if t not in tools]
    for tool in tools:
        if shutil.which(tool) is None:
            raise UsageError("%s not found; run tools/deps.sh" % tool)
    for firmware in sorted({s.firmware for s in chosen if s.boot == "net"}):
        problem = missing_net_image(firmware)
        if problem:
            raise UsageError(problem)
    check = subprocess.run(["grub-file", "--is-x86-multiboot2", elf],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if check.returncode != 0:
        raise UsageError("%s is not a multiboot2 kernel (grub-file --is-x86-multiboot2)" % display_path(elf))


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.selftest:
        return run_unit_tests()
    try:
        scenarios = load_scenarios(opts.scenario_dir)
        if opts.list:
            chosen = select_scenarios(scenarios, opts.group, opts.names) if (opts.group or opts.names) else scenarios
            list_scenarios(chosen)
            return 0
        chosen = select_scenarios(scenarios, opts.group, opts.names)
        if not chosen:
            raise UsageError("no scenario selected (groups: %s)" % ", ".join(opts.group or ["default"]))
        if opts.cpu and not opts.emulator:
            raise UsageError("--cpu goes with --emulator bochs")
        if opts.emulator == "bochs":
            chosen = [bochs_adapt(s, opts.cpu) for s in chosen]
        check_host(chosen, opts.elf, opts.out)
        if opts.qemu_x2apic:
            if shutil.which(opts.qemu_x2apic) is None:
                raise UsageError("--qemu-x2apic %s: no such program" % opts.qemu_x2apic)
            set_x2apic_qemu(os.path.abspath(opts.qemu_x2apic) if os.path.exists(opts.qemu_x2apic)
                            else opts.qemu_x2apic)
        if opts.kunit and opts.no_kunit:
            raise UsageError("--kunit and --no-kunit exclude each other")
        kunit_note = ""
        if opts.no_kunit:
            opts.kunit = None
        else:
            try:
                opts.kunit, kunit_note = find_kunit(opts.kunit)
            except FileNotFoundError as e:
                raise UsageError("--kunit %s" % e)
    except UsageError as e:
        print("runner: error: %s" % e, file=sys.stderr)
        return 2

    opts.elf = os.path.abspath(opts.elf)
    opts.out = os.path.abspath(opts.out)
    os.makedirs(opts.out, exist_ok=True)
    jobs = make_jobs(chosen, opts.seeds, opts.seed_base)
    if (opts.seeds or 1) > 1:
        opts.keep_going = True

    interrupt_on_signals()
    if kunit_note:
        print("runner: note: " + kunit_note, flush=True)
    elif opts.kunit:
        print("every log is checked with %s" % display_path(opts.kunit.path), flush=True)
    print("running %d scenario run%s, %d at a time; logs in %s" % (
        len(jobs), "" if len(jobs) == 1 else "s", min(opts.jobs, len(jobs)), display_path(opts.out)), flush=True)
    try:
        results = run_all(jobs, opts)
    except KeyboardInterrupt:
        print("\nrunner: interrupted; QEMU instances stopped", file=sys.stderr)
        return 130

    if opts.verbose or os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        print_failed_logs(results)
    print_table(results)
    print_detection_stats(results)
    if opts.junit:
        write_junit(results, opts.junit)
    if opts.json:
        write_json(results, opts.json)
    line, failed = summary_line(results)
    print()
    if kunit_note:
        print("runner: note: " + kunit_note)
    print(line, flush=True)
    return 1 if failed else 0
