"""build/bench/summary.md: per run, what ran, its problems, the target
table and why each missed target was missed, and under the run Linux was
paired with, the comparison with Linux; then the Linux run's figures and
the plot files."""

import os

from ..ktap import PASS
from .linux_compare import compare, side_by_side
from .targets import MISSED, evaluate


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


def why_list(rows):
    lines = []
    whys = [r for r in rows if r.result == MISSED]
    if whys:
        lines.append("Why the misses (from this run's figures):")
        lines.append("")
        for r in whys:
            lines.append("- %s: %s" % (r.check, r.why or "no explanation found in the figures"))
        lines.append("")
    return lines


def comparison_section(run, linux):
    """The table of run (the paired scenario) against Linux."""
    lines = ["### Compared with Linux (%s)" % linux.name, ""]
    lines.append("Ratios mmtorture / Linux of figures from QEMU with the same settings, in the same "
                 "`make bench`; times: lower is better for mmtorture.")
    lines.append("")
    rows = compare(run, linux)
    notes = [r for r in rows if r.result == "note"]
    rows = [r for r in rows if r.result != "note"]
    lines += md_table(("check", "mmtorture", "Linux", "measured", "target", "result"),
                      [(r.check, r.mmtorture, r.linux, r.measured, r.target, r.result) for r in rows])
    lines.append("")
    for r in notes:
        lines += [r.check[0].upper() + r.check[1:], ""]
    return lines + why_list(rows)


def linux_section(linux, mm_run):
    """What the Linux boot was and everything it printed, beside the paired
    run's figure of the same name and keys."""
    lines = ["## %s" % linux.name, ""]
    if linux.skipped:
        return lines + ["skipped: %s" % linux.reason, ""]
    lines += [linux.describe(), ""]
    if linux.note:
        lines += ["Linux says: %s" % linux.note, ""]
    if linux.problem():
        lines += ["**run problem:** %s" % linux.problem(), ""]
    if linux.lines:
        lines += md_table(("figure", "Linux", "mmtorture (%s)" % linux.paired, "mmtorture / Linux"),
                          side_by_side(mm_run, linux))
        lines.append("")
    return lines


def summary(runs, files, plot_note, out_dir, linux=None):
    """linux: the LinuxRun to compare with (its .paired names the run), or None."""
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
        elif run.state != PASS:
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
            lines += why_list(rows)
        if linux is not None and run.name == linux.paired:
            lines += comparison_section(run, linux)
    if linux is not None:
        paired = next((r for r in runs if r.name == linux.paired), None)
        lines += linux_section(linux, paired)
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
