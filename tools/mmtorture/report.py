"""What the runner prints at the end: the failed logs (verbose or CI), the
result table, detection times over seeds, the closing 'N passed, N failed'
line; and the scenario list of --list."""

import math
import statistics

from .common import display_path, tail_lines
from .ktap import ANSI_RE, FAILED, OK, PANIC, SKIPPED

# Lines of a log or stderr shown when a run goes wrong on CI, where nobody
# can open build/runs afterwards.
CI_LOG_TAIL = 60


def print_table(results):
    rows = sorted(results, key=lambda r: (r.scn.name, r.job.seed or 0))
    header = ("scenario", "expect", "result", "verdict", "seconds")
    cells = [(r.name, r.scn.expect, r.result, r.verdict, "%.1f" % r.seconds) for r in rows]
    widths = [max(len(c[i]) for c in cells + [header]) for i in range(5)]

    def fmt(c):
        return "  ".join([c[0].ljust(widths[0]), c[1].ljust(widths[1]), c[2].ljust(widths[2]),
                          c[3].ljust(widths[3]), c[4].rjust(widths[4])]).rstrip()
    print()
    print(fmt(header))
    for r, c in zip(rows, cells):
        print(fmt(c))
        if r.verdict == FAILED:
            print("    " + r.why)
            for line in r.problems:
                if line not in r.why:
                    print("    " + line)
            if r.log:
                print("    log: " + display_path(r.log))
            for line in replay_lines(r):
                print("    " + line)
            if r.sym_log:
                print("    symbolized: " + display_path(r.sym_log))
        elif r.verdict == SKIPPED and r.reason:
            print("    " + r.reason)
        elif r.result == PANIC and r.sym_log:
            print("    symbolized: " + display_path(r.sym_log))


def replay_lines(r):
    """The commands that boot a run again with its seed: as it was, and on
    Bochs, where a run with the same seed and configuration repeats exactly."""
    seed = r.job.seed if r.job.seed is not None else (r.rep.seed if getattr(r, "rep", None) else None)
    if seed is None:
        return []
    again = "python3 tools/runner.py %s --seed-base %d --seeds 1" % (r.scn.name, seed)
    lines = ["replay: " + again + (" --emulator bochs --cpu %s" % r.scn.cpu if r.scn.emulator == "bochs" else "")]
    if r.scn.emulator != "bochs":
        lines.append("on Bochs: " + again + " --emulator bochs")
    return lines


def print_failed_logs(results):
    for r in results:
        if r.verdict != FAILED or not r.dir:
            continue
        for path in (r.sym_log or r.log, r.stderr):
            if not path:
                continue
            lines = tail_lines(path, CI_LOG_TAIL)
            if lines:
                print("\n==> %s (last %d lines) <==" % (display_path(path), len(lines)))
                for l in lines:
                    print("    " + ANSI_RE.sub("", l))


def percentile(sorted_values, p):
    """Nearest-rank percentile: always one of the observed values."""
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[k - 1]


def print_detection_stats(results):
    by_scn = {}
    for r in results:
        if r.scn.expect == "fail" and r.job.seed is not None:
            by_scn.setdefault(r.scn.name, []).append(r)
    if not by_scn:
        return
    print()
    for name in sorted(by_scn):
        runs = [r for r in by_scn[name] if r.result != "-"]
        caught = [r for r in runs if r.verdict == OK]
        line = "detection %s: caught %d of %d" % (name, len(caught), len(runs))
        if caught:
            times = sorted(r.detect if r.detect is not None else r.seconds for r in caught)
            from_detect = sum(1 for r in caught if r.detect is not None)
            line += "; seconds min %.2f  median %.2f  p90 %.2f  max %.2f" % (
                times[0], statistics.median(times), percentile(times, 90), times[-1])
            if from_detect != len(caught):
                line += "  (%d of %d from wall time: no '# detect:' line)" % (len(caught) - from_detect, len(caught))
        print(line)


def summary_line(results):
    passed = sum(1 for r in results if r.verdict == OK)
    failed = sum(1 for r in results if r.verdict == FAILED)
    skipped = sum(1 for r in results if r.verdict == SKIPPED)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    if failed:
        # Named here too: a CI log is often read from its tail, where the
        # table's failing row may already have scrolled away.
        names = []
        for r in results:
            if r.verdict == FAILED:
                seed = "" if r.job.seed is None else " (seed %d)" % r.job.seed
                names.append(r.scn.name + seed)
        line += "\nfailed: " + ", ".join(names)
    return line, failed


def list_scenarios(scenarios):
    rows = [(s.name, ",".join(s.groups), s.expect, s.description) for s in scenarios]
    head = ("name", "groups", "expect", "description")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    for r in [head] + rows:
        print(("%-*s  %-*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], r[3])).rstrip())
