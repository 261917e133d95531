"""build/bench/summary.md: per run, what ran, its problems, the target
table and why each missed target was missed; then the plot files."""

import os

from ..ktap import PASS
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
