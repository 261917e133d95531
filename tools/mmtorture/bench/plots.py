"""The plots of a bench run: fault throughput vs CPUs, shootdown cost vs
target CPUs, munmap cost per page vs pages (the TLB flush ceiling marked)
and grace-period latency.

make_plots() turns a run's records into Plot objects (series, reference
lines, units); matplotlib draws them as SVG and PNG.  Without matplotlib,
svg_plot() draws a plain SVG line plot of the same data and the summary
says that plots need matplotlib.
"""

import math
import os
import re
import statistics
import sys
from xml.sax.saxutils import escape

from .quantity import TIME_UNITS, Lookup, convert, fmt_num
from .targets import tick_period

DEFAULT_TLB_CEILING = 33
REF_COLOR = "#2ca02c"          # reference (target) lines
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
PLOT_PREFIXES = ("fault_throughput-", "shootdown-", "munmap_per_page-", "rcu_gp-")


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
        pts.append((int(x), convert(r["value"], r["unit"], display_unit)))
    by_x = {}
    for x, y in pts:
        by_x.setdefault(x, []).append(y)
    xs = sorted(by_x)
    return xs, [statistics.median(by_x[x]) for x in xs]


def _unit_of(d, name, **keys):
    hits = d.find(name, **keys)
    return hits[0]["unit"] if hits else None


def tlb_ceiling(cmdline):
    m = re.search(r"(?:^|\s)tlb_ceiling=(\d+)(?:\s|$)", cmdline or "")
    return int(m.group(1)) if m else DEFAULT_TLB_CEILING


def fault_throughput_plot(run, d, what):
    unit = _unit_of(d, "fault_throughput")
    if not unit:
        return None
    p = Plot("fault_throughput-" + run.name, "Fault throughput vs CPUs: " + what, "CPUs faulting", unit)
    for path, color in (("spf", PALETTE[0]), ("locked", PALETTE[1])):
        for writer in ("0", "1"):
            xs, ys = _series(d, "fault_throughput", "cpus", unit, path=path, writer=writer)
            if xs:
                p.add("%s, writer=%s" % (path, writer), xs, ys, color=color, dashed=writer == "1")
    # The writer in an address space of its own: what the faulters lose
    # without its shootdowns.
    xs, ys = _series(d, "fault_throughput", "cpus", unit, path="spf", writer="elsewhere")
    if xs:
        p.add("spf, writer elsewhere", xs, ys, color=PALETTE[3], dashed=True)
    return p if p.series else None


def shootdown_plot(run, d, what):
    unit = _unit_of(d, "shootdown", pages=1)
    if not unit:
        return None
    p = Plot("shootdown-" + run.name, "Shootdown cost vs targets (pages=1): " + what, "target CPUs", unit)
    xs, ys = _series(d, "shootdown", "targets", unit, pages=1)
    p.add("shootdown pages=1", xs, ys, color=PALETTE[0])
    ipi = d.find("ipi_roundtrip")
    if ipi:
        y = 3 * convert(statistics.median(r["value"] for r in ipi), ipi[0]["unit"], unit)
        p.hlines.append((y, "3 x ipi_roundtrip\n(target at 1 target)"))
    return p


def munmap_plot(run, d, what):
    unit = _unit_of(d, "munmap_per_page")
    if not unit:
        return None
    p = Plot("munmap_per_page-" + run.name, "munmap cost per page vs pages: " + what,
             "pages unmapped", unit, ylabel=unit + " per page", xscale="log2")
    xs, ys = _series(d, "munmap_per_page", "pages", unit)
    p.add("munmap_per_page", xs, ys, color=PALETTE[0])
    ceiling = tlb_ceiling(run.head.get("cmdline"))
    p.vlines.append((ceiling, "tlb_ceiling=%d" % ceiling))
    return p


def grace_period_plot(run, d, what):
    unit = _unit_of(d, "rcu_gp")
    if not unit:
        return None
    p = Plot("rcu_gp-" + run.name, "Grace-period latency: " + what, "grace period", unit, kind="bar")
    p.categories = ["normal", "expedited"]
    for stat, color in (("median", PALETTE[0]), ("p99", PALETTE[3])):
        ys = []
        for kind in p.categories:
            hits = d.find("rcu_gp", kind=kind, stat=stat)
            ys.append(statistics.median(convert(r["value"], r["unit"], unit) for r in hits) if hits else None)
        p.add(stat, p.categories, ys, color=color)
    if unit in TIME_UNITS:
        tick_ns, _ = tick_period(run, d)
        p.hlines.append((3 * tick_ns / TIME_UNITS[unit], "3 ticks\n(target, normal median)"))
    return p


PLOTS = (fault_throughput_plot, shootdown_plot, munmap_plot, grace_period_plot)


def make_plots(run):
    """The run's plots, each with its data in the units it is shown in."""
    d = Lookup(run.records)
    what = run.name
    if run.icount is not None:
        what += " (icount shift=%s)" % run.icount
    plots = [p for p in (make(run, d, what) for make in PLOTS) if p is not None]
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


def offscale_notes(plot):
    return ["%s:\n%s %s, off scale" % (label.split("\n")[0], fmt_num(y), plot.unit)
            for y, label in plot.offscale]


def load_matplotlib():
    """(pyplot, ticker), or None when this Python cannot import matplotlib
    (Debian's python3-matplotlib is for /usr/bin/python3 only; `make
    bench` runs under a Python that has it when there is one)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except Exception:
        return None
    return plt, ticker


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


def svg_plot(plot):
    """The fallback without matplotlib: a plain SVG line plot.  Each series
    is a polyline (a bar plot's categories are its x positions), reference
    lines are dashed; the y axis is labelled at its ends, the x axis at the
    data's x values."""
    W, H, x0, x1, y0, y1 = 760, 400, 70, 470, 40, 340
    ym = (y0 + y1) // 2
    fx = math.log2 if plot.xscale == "log2" else float
    lines = [(s, [(i if plot.kind == "bar" else x, y) for i, (x, y) in enumerate(zip(s["xs"], s["ys"]))
                  if y is not None]) for s in plot.series]
    xs = [x for _, pts in lines for x, _ in pts] or [1]
    xlo, xhi = fx(min(xs)), fx(max(xs))
    xhi += xhi == xlo
    yhi = 1.1 * max([y for _, pts in lines for _, y in pts] + [y for y, _ in plot.hlines] + [0]) or 1.0

    def X(x):
        return x0 + (fx(x) - xlo) / (xhi - xlo) * (x1 - x0)

    def Y(y):
        return y1 - y / yhi * (y1 - y0)

    def text(x, y, s, attrs=""):
        return '<text x="%.1f" y="%.1f"%s>%s</text>' % (x, y, attrs, escape(str(s)))

    xmarks = list(enumerate(plot.categories)) if plot.kind == "bar" else [(x, fmt_x(x)) for x in sorted(set(xs))]
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12"><rect width="%d" height="%d" fill="white"/>' % (W, H, W, H),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (x0, y0, x1 - x0, y1 - y0),
           text(x0, 24, plot.title, ' font-weight="bold"'), text((x0 + x1) / 2, H - 20, plot.xlabel),
           text(16, ym, plot.ylabel, ' text-anchor="middle" transform="rotate(-90 16 %d)"' % ym),
           text(x0 - 6, y1, "0", ' text-anchor="end"'), text(x0 - 6, y0 + 4, fmt_num(yhi), ' text-anchor="end"')]
    out += [text(X(x), y1 + 16, label, ' text-anchor="middle"') for x, label in xmarks]
    legend = [(s["color"], s["label"], "7,4" if s["dashed"] else "none") for s, _ in lines]
    legend += [(REF_COLOR, label.replace("\n", " "), "2,3") for _, label in plot.hlines]
    legend += [("none", note.replace("\n", " "), "none") for note in offscale_notes(plot)]
    out += ['<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>'
            % (s["color"], "7,4" if s["dashed"] else "none", " ".join("%.1f,%.1f" % (X(x), Y(y)) for x, y in pts))
            for s, pts in lines]
    out += ['<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (X(x), Y(y), s["color"])
            for s, pts in lines for x, y in pts]
    out += ['<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-dasharray="2,3"/>'
            % (x0, Y(y), x1, Y(y), REF_COLOR) for y, _ in plot.hlines]
    for x, label in plot.vlines:
        out += ['<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555" stroke-dasharray="5,4"/>'
                % (X(x), y0, X(x), y1), text(X(x) + 4, y0 + 14, label)]
    for i, (color, label, dash) in enumerate(legend):
        ly = y0 + 10 + 22 * i
        out += ['<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>'
                % (x1 + 16, ly, x1 + 40, ly, color, dash), text(x1 + 46, ly + 4, label)]
    return "\n".join(out + ["</svg>"]) + "\n"


def no_matplotlib_note(asked):
    if asked:
        why = "--no-matplotlib"
    else:
        why = ("plots need matplotlib, which %s cannot import (Debian: apt-get install python3-matplotlib, "
               "for /usr/bin/python3; `make bench` uses a Python that has it)" % sys.executable)
    return "Plain SVG line plots, no PNG: %s." % why


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
        note = no_matplotlib_note(asked=not use_matplotlib)
    return files, note
