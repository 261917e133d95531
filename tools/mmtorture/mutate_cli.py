"""tools/mutate.py: mutation testing of the tests.

Each selected mutant of the catalog (tools/mutants.toml; mutate.py reads
it) is made in a copy of the working tree (build/mutate/ID/src), built,
and booted with its scenario through the runner's own code (runs.py).
A run that does not give the scenario's expected result caught it.
First the scenarios the mutants use are booted once with the unmutated
kernel, built the same way: one that does not give its expected result
stops everything, since a catch would then mean nothing.

Exit status: 0; 1 when a baseline run went wrong, a mutant is stale or
does not build, a host error left a mutant without a verdict, or the
score is below --min-score; 2 on a usage error; 130 when interrupted.
"""

import argparse
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import traceback
import types

from . import machine
from . import mutate as mt
from .common import DEFAULT_SCENARIO_DIR, ROOT, UsageError, display_path, interrupt_on_signals, read_text
from .ktap import OK
from .runner_cli import check_host
from .runs import Job, run_all, run_job
from .scenario import load_scenarios

DEFAULT_CATALOG = os.path.join(ROOT, "tools", "mutants.toml")
DEFAULT_OUT = os.path.join(ROOT, "build", "mutate")
BASE = "_base"            # the unmutated copy and its baseline runs (no id has '_')
BUILD_TIMEOUT = 900
MAKE_JOBS = max(1, min(os.cpu_count() or 2, 8))


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/mutate.py",
        description="Mutation testing: build each mutant of the catalog in a copy of the tree, boot its "
                    "scenario, and score the share of mutants the tests catch.")
    ap.add_argument("--catalog", default=DEFAULT_CATALOG, metavar="PATH",
                    help="the mutant catalog (default: tools/mutants.toml)")
    ap.add_argument("--check", action="store_true",
                    help="no builds or boots: check the catalog (fields, unique ids, scenario files, every "
                         "find text occurring exactly once) and exit non-zero listing the problems")
    ap.add_argument("--only", action="append", default=[], metavar="ID[,ID...]",
                    help="run only these mutants (repeatable)")
    ap.add_argument("--sample", type=int, metavar="N",
                    help="run a fixed subset of N mutants (those whose ids hash lowest: the same on every run)")
    ap.add_argument("--include-equivalent", action="store_true",
                    help="also run the mutants marked equivalent (never counted in the score)")
    ap.add_argument("--seed", type=int, metavar="S",
                    help="boot every mutant with seed S (default: a seed derived from its id)")
    ap.add_argument("--seeds", type=int, default=1, metavar="N",
                    help="boot each mutant with up to N seeds from its first, one after another until one "
                         "catches it; that seed's detection time counts the earlier seeds' boots, and "
                         "the 60 s limit applies to the sum")
    ap.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                    help="mutants booted at once, i.e. QEMU instances (default: 2); builds run one at a time")
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not boot the scenarios with the unmutated kernel first")
    ap.add_argument("--min-score", type=float, metavar="P",
                    help="exit non-zero when the score is below P percent")
    ap.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                    help="work directory: DIR/ID/ per mutant (default: build/mutate)")
    ap.add_argument("--json", metavar="FILE", help="results as JSON (default: OUT/results.json)")
    ap.add_argument("--markdown", metavar="FILE", help="the score table as Markdown (default: OUT/score.md)")
    ap.add_argument("--keep", action="store_true",
                    help="keep each mutant's source copy and build (DIR/ID/src); logs are always kept")
    ap.add_argument("--scenario-dir", default=DEFAULT_SCENARIO_DIR, help=argparse.SUPPRESS)
    ap.add_argument("-v", "--verbose", action="store_true", help="show commands and timings")
    opts = ap.parse_args(argv)
    if opts.jobs < 1:
        ap.error("--jobs must be at least 1")
    if opts.seeds < 1:
        ap.error("--seeds must be at least 1")
    if opts.sample is not None and opts.sample < 1:
        ap.error("--sample must be at least 1")
    if opts.seed is not None and not 0 < opts.seed < 2 ** 63 - opts.seeds:
        ap.error("--seed must be positive")
    opts.only = [i.strip() for arg in opts.only for i in arg.split(",") if i.strip()]
    return opts


class Context:
    """What the workers share."""

    def __init__(self, opts, scenarios):
        self.opts = opts
        self.scenarios = scenarios
        self.procs = machine.ProcessTable()
        self.build_lock = threading.Lock()
        self.print_lock = threading.Lock()
        self.base_src = None
        self.base_files = None

    def note(self, msg):
        if self.opts.verbose:
            with self.print_lock:
                print(msg, flush=True)

    def run_opts(self, out, elf):
        """The options runs.run_job() reads."""
        return types.SimpleNamespace(out=out, elf=elf, kunit=None, keep_iso=False, verbose=self.opts.verbose,
                                     jobs=self.opts.jobs, keep_going=True)


def make_env():
    """The environment of a copy's make: none of the calling make's flags
    (a jobserver it does not share, V=1, ...)."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS"):
        env.pop(k, None)
    return env


def prepare_copy(src, files, dest):
    """A fresh copy of the tree (its files, not its build/) at dest.  The
    copy's build/.deps-ok is made newer than tools/deps.sh: the host
    packages were checked for the tree itself (make mutate's deps), not
    once more per copy."""
    shutil.rmtree(dest, ignore_errors=True)
    mt.copy_tree(src, files, dest)
    os.makedirs(os.path.join(dest, "build"), exist_ok=True)
    with open(os.path.join(dest, "build", ".deps-ok"), "w"):
        pass


def build(ctx, src, log_path):
    """make -C src build/mmtorture.elf, one build at a time; (ok, log text)."""
    cmd = ["make", "-C", src, "-j%d" % MAKE_JOBS, "build/mmtorture.elf"]
    with ctx.build_lock:
        ctx.procs.check_stopping()
        ctx.note("  build: %s" % " ".join(cmd))
        t0 = time.monotonic()
        with open(log_path, "w+") as log:
            p = ctx.procs.spawn(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=make_env())
            try:
                rc = p.wait(timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                ctx.procs.kill(p)
                rc = "timeout"
            finally:
                ctx.procs.release(p)
            log.seek(0)
            text = log.read()
        ctx.note("  build of %s: %s in %.1f s" % (display_path(src), "ok" if rc == 0 else rc, time.monotonic() - t0))
    ctx.procs.check_stopping()
    ok = rc == 0 and os.path.isfile(os.path.join(src, "build", "mmtorture.elf"))
    if rc == "timeout":
        text += "\nmutate: the build took more than %d s\n" % BUILD_TIMEOUT
    return ok, text


def run_mutant(ctx, m):
    """Copy, edit, build and boot one mutant; its MutantResult."""
    opts = ctx.opts
    mdir = os.path.join(opts.out, m.id)
    shutil.rmtree(mdir, ignore_errors=True)
    os.makedirs(mdir)
    seeds = mt.mutant_seeds(m, opts.seed, opts.seeds)
    src = os.path.join(mdir, "src")
    try:
        prepare_copy(ctx.base_src, ctx.base_files, src)
        try:
            diff = mt.apply_edit(m, src)
        except mt.StaleError as e:
            return done(ctx, m, mt.MutantResult(m, mt.STALE, str(e)), mdir, src)
        with open(os.path.join(mdir, "mutant.diff"), "w") as f:
            f.write(diff)
        ok, text = build(ctx, src, os.path.join(mdir, "build.log"))
        if not ok:
            return done(ctx, m, mt.MutantResult(m, mt.BUILD_FAILED, mt.first_build_error(text)), mdir, src)
        scn = ctx.scenarios[m.scenario]
        run_opts = ctx.run_opts(os.path.join(mdir, "runs"), os.path.join(src, "build", "mmtorture.elf"))
        os.makedirs(run_opts.out, exist_ok=True)
        runs = []
        spent = 0.0
        for seed in seeds:
            # Seeds one after another until one catches the mutant; a
            # later seed's detection time counts the earlier boots.
            job = Job(scn, seed, "%s-seed%d" % (scn.name, seed))
            res = run_job(job, run_opts, ctx.procs, ctx.note)
            if not opts.keep and res.dir:
                # The runner keeps the ISO of a run that went wrong, which
                # is every caught one here; --keep keeps it to boot again.
                machine.remove_iso(res.dir)
            rec = mt.after_earlier_seeds(mt.judge_run(res, read_text(res.log) if res.log else ""), spent)
            runs.append(rec)
            if rec["outcome"] in ("caught", "late", "host_error"):
                break
            spent += res.seconds or 0.0
        return done(ctx, m, mt.mutant_verdict(m, runs, seeds), mdir, src)
    except machine.Interrupted:
        raise
    except Exception as e:  # one mutant's trouble is not the others'
        with ctx.print_lock:
            traceback.print_exc()
        return done(ctx, m, mt.MutantResult(m, mt.HOST_ERROR, "mutate: %s: %s" % (type(e).__name__, e),
                                            seeds=seeds), mdir, src)


def done(ctx, m, res, mdir, src):
    res.dir = mdir
    if not res.seeds and res.verdict not in mt.CATALOG_ERRORS:
        res.seeds = mt.mutant_seeds(m, ctx.opts.seed, ctx.opts.seeds)
    if not ctx.opts.keep:
        shutil.rmtree(src, ignore_errors=True)
    return res


def run_pool(ctx, mutants):
    """Runs the mutants opts.jobs at a time, printing a line per finished
    one; their results in catalog order."""
    pending = queue.Queue()
    for m in mutants:
        pending.put(m)
    finished = queue.Queue()

    def worker():
        while not ctx.procs.stopping:
            try:
                m = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put(run_mutant(ctx, m))
            except machine.Interrupted:
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(ctx.opts.jobs, len(mutants)))]
    for t in threads:
        t.start()
    results = []
    try:
        while len(results) < len(mutants):
            try:
                r = finished.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and finished.empty():
                    break
                continue
            results.append(r)
            with ctx.print_lock:
                print(mt.progress_line(r, len(results), len(mutants)), flush=True)
    except KeyboardInterrupt:
        ctx.procs.kill_all()
        for t in threads:
            t.join(timeout=15)
        raise
    order = {m.id: i for i, m in enumerate(mutants)}
    return sorted(results, key=lambda r: order[r.mutant.id])


def run_baseline(ctx, scenario_names, elf):
    """Boots each scenario once with the unmutated kernel; (ok, records)."""
    opts = ctx.opts
    jobs = []
    for name in scenario_names:
        seed = opts.seed if opts.seed is not None else mt.seed_for("baseline:" + name)
        jobs.append(Job(ctx.scenarios[name], seed, "%s-seed%d" % (name, seed)))
    print("mutate: baseline: %d scenario%s with the unmutated kernel" % (len(jobs), "" if len(jobs) == 1 else "s"),
          flush=True)
    run_opts = ctx.run_opts(os.path.join(opts.out, BASE, "runs"), elf)
    os.makedirs(run_opts.out, exist_ok=True)
    results = run_all(jobs, run_opts)
    records, ok = [], True
    for res in results:
        records.append({"scenario": res.scn.name, "seed": res.job.seed, "result": res.result,
                        "verdict": res.verdict, "why": res.why or res.reason, "seconds": round(res.seconds, 3),
                        "log": res.log})
        if res.verdict != OK:
            ok = False
            print("mutate: error: baseline %s (seed %s) did not give its expected result (%s) with the "
                  "unmutated kernel: %s" % (res.name, res.job.seed, res.scn.expect, res.why or res.reason or res.result),
                  file=sys.stderr)
            for line in res.problems[:4]:
                print("    " + line, file=sys.stderr)
            if res.log:
                print("    log: " + display_path(res.log), file=sys.stderr)
    if not ok:
        print("mutate: error: a mutant caught on a scenario that fails unmutated would mean nothing; fix the "
              "tree or the scenario first (--no-baseline skips this check)", file=sys.stderr)
    return ok, records


def run_check(opts, mutants, problems):
    catalog = display_path(opts.catalog)
    if mutants:
        problems = problems + mt.check_catalog(mutants, ROOT, opts.scenario_dir)
    if problems:
        for p in problems:
            print("  " + p)
        print("mutate: %s: %d problem%s" % (catalog, len(problems), "" if len(problems) == 1 else "s"))
        return 1
    print("mutate: %s: %d mutant%s (%d equivalent, %d blind); every find text occurs exactly once, every "
          "scenario exists" % (catalog, len(mutants), "" if len(mutants) == 1 else "s",
                               sum(1 for m in mutants if m.equivalent), sum(1 for m in mutants if m.blind)))
    return 0


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    mutants, problems = mt.load_catalog(opts.catalog)
    if opts.check:
        return run_check(opts, mutants, problems)
    catalog_arg = None if os.path.abspath(opts.catalog) == DEFAULT_CATALOG else opts.catalog
    try:
        if problems:
            raise UsageError("%s has problems (tools/mutate.py --check lists them):\n  %s" % (
                display_path(opts.catalog), "\n  ".join(problems)))
        try:
            chosen, listed = mt.select(mutants, opts.only, opts.sample, opts.include_equivalent)
        except ValueError as e:
            raise UsageError(str(e))
        scenarios = {s.name: s for s in load_scenarios(opts.scenario_dir)}
        missing = sorted({m.scenario for m in chosen if m.scenario not in scenarios})
        if missing:
            raise UsageError("no scenario %s in %s" % (", ".join(missing), display_path(opts.scenario_dir)))
        opts.out = os.path.abspath(opts.out)
        if "," in opts.out:
            raise UsageError("--out must not contain ',' (QEMU option syntax)")
        for tool in ("make", "gcc", "nasm", "ld"):
            if shutil.which(tool) is None:
                raise UsageError("%s not found; run tools/deps.sh (or make deps)" % tool)
    except UsageError as e:
        print("mutate: error: %s" % e, file=sys.stderr)
        return 2

    json_path = opts.json or os.path.join(opts.out, "results.json")
    md_path = opts.markdown or os.path.join(opts.out, "score.md")
    ctx = Context(opts, scenarios)
    interrupt_on_signals()
    print("mutate: %s: %d mutant%s to run%s, %d at a time; work in %s" % (
        display_path(opts.catalog), len(chosen), "" if len(chosen) == 1 else "s",
        " (%d equivalent listed, not run)" % len(listed) if listed else "",
        min(opts.jobs, max(1, len(chosen))), display_path(opts.out)), flush=True)

    baseline = []
    results = []
    try:
        if chosen:
            # One snapshot of the working tree: the baseline and every
            # mutant are built from the same sources, however the tree
            # changes meanwhile.
            base_src = ctx.base_src = os.path.join(opts.out, BASE, "src")
            shutil.rmtree(os.path.join(opts.out, BASE), ignore_errors=True)
            ctx.base_files = mt.tree_files(ROOT)
            prepare_copy(ROOT, ctx.base_files, base_src)
            print("mutate: building the unmutated tree (%d files) in %s" % (
                len(ctx.base_files), display_path(base_src)), flush=True)
            ok, text = build(ctx, base_src, os.path.join(opts.out, BASE, "build.log"))
            if not ok:
                print("mutate: error: the unmutated tree does not build: %s (log: %s)" % (
                    mt.first_build_error(text), display_path(os.path.join(opts.out, BASE, "build.log"))),
                    file=sys.stderr)
                return 1
            elf = os.path.join(base_src, "build", "mmtorture.elf")
            used = sorted({m.scenario for m in chosen})
            try:
                check_host([scenarios[n] for n in used], elf, opts.out)
            except UsageError as e:
                print("mutate: error: %s" % e, file=sys.stderr)
                return 2
            if opts.no_baseline:
                print("mutate: no baseline (--no-baseline)", flush=True)
            else:
                ok, baseline = run_baseline(ctx, used, elf)
                if not ok:
                    mt.write_json(json_path, mt.json_document([], listed, mt.score([], listed), opts.catalog, baseline))
                    return 1
            print("mutate: mutants", flush=True)
            results = run_pool(ctx, chosen)
    except (KeyboardInterrupt, machine.Interrupted):
        ctx.procs.kill_all()
        print("\nmutate: interrupted; builds and QEMU instances stopped", file=sys.stderr)
        return 130
    finally:
        if ctx.base_src and not opts.keep:
            shutil.rmtree(ctx.base_src, ignore_errors=True)

    s = mt.score(results, listed)
    print()
    if results:
        for line in mt.text_table(results):
            print(line)
    for line in mt.report_lines(results, listed, s, catalog_arg):
        print(line)
    mt.write_json(json_path, mt.json_document(results, listed, s, opts.catalog, baseline))
    mt.write_text(md_path, mt.markdown(results, listed, s))
    print("results: %s, %s; logs in %s/ID/" % (display_path(json_path), display_path(md_path),
                                              display_path(opts.out)))
    if results:
        print("replay a mutant: python3 tools/mutate.py%s --only ID --seed SEED --keep" % (
            " --catalog " + catalog_arg if catalog_arg else ""))

    status = 0
    bad = [r for r in results if r.verdict in mt.CATALOG_ERRORS]
    if bad:
        print("mutate: %d catalog error%s: %s" % (len(bad), "" if len(bad) == 1 else "s",
                                                 ", ".join("%s (%s)" % (r.mutant.id, r.verdict) for r in bad)))
        status = 1
    if s["host_errors"]:
        print("mutate: %d mutant%s without a verdict (host errors)" % (s["host_errors"],
                                                                     "" if s["host_errors"] == 1 else "s"))
        status = 1
    if opts.min_score is not None:
        if s["percent"] is None or s["percent"] < opts.min_score:
            print("mutate: the score is below %g%%" % opts.min_score)
            status = 1
        else:
            print("mutate: the score is at least %g%%" % opts.min_score)
    return status
