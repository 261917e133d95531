"""Mutation testing of the tests: the mutant catalog, the edits, what a
mutant's runs mean, the score and the reports.

A mutant is one textual edit of one source file that turns off a safety
step (a flush, a recheck, a barrier, a grace period, a reference).  Built
and booted with its scenario it must make the run go wrong; the share of
mutants that do is a measure of the tests, not of the kernel.  The
catalog is TOML (tools/mutants.toml), one table per mutant:

    [[mutant]]
    id = "tlb-skip-remote-flush"   # unique, kebab-case
    file = "mm/tlb.c"              # from the repo root
    find = \"\"\"exact text\"\"\"        # must occur exactly once in file
    replace = \"\"\"replacement\"\"\"
    scenario = "torture-smp4"      # tests/scenarios/NAME.scn
    breaks = "the safety step this edit breaks"
    kind = "flush"                 # optional category
    equivalent = "why"             # optional: cannot change behaviour
    blind = "why"                  # optional: why the emulator cannot show it

tools/mutate.py's command line, the builds and the boots are in
mutate_cli.py; everything here runs without a compiler or an emulator.
"""

import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib

from .common import display_path
from .ktap import ANSI_RE, HOSTERR, OK, PANIC, SKIPPED, SUBTEST_RE, TIMEOUT

# The target: a mutant counts as caught when its first finding comes
# within this many seconds of the start of the case that reports it (for
# the torture suites, of the torture).  A later catch counts as survived.
LATE_SECONDS = 60.0

# Verdicts of a mutant.
CAUGHT = "CAUGHT"              # a seed did not give the expected result, within LATE_SECONDS
LATE = "LATE"                  # caught, but every catch came after LATE_SECONDS: survived-late
SURVIVED = "SURVIVED"          # every seed gave the scenario's expected result
STALE = "STALE"                # the find text does not occur exactly once
BUILD_FAILED = "BUILD_FAILED"  # the mutated tree does not build
HOST_ERROR = "HOST_ERROR"      # the host could not boot it (grub-mkrescue, QEMU)
SKIPPED_RUN = "SKIPPED"        # the host cannot boot its scenario (KVM missing)
EQUIVALENT = "EQUIVALENT"      # marked equivalent and not run

SCORED = (CAUGHT, LATE, SURVIVED)
CATALOG_ERRORS = (STALE, BUILD_FAILED)

REQUIRED = ("id", "file", "find", "replace", "scenario", "breaks")
OPTIONAL = ("kind", "equivalent", "blind")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SCENARIO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# A finding as the kernel prints it (tests/ktap.c): "# error CLASS: msg".
# "# expected error" (a case that provokes its class on purpose) and
# "# error (test environment): ..." are no findings.
FINDING_RE = re.compile(r"^\s*#\s*error\s+([A-Za-z_][A-Za-z0-9_]*):")
CHECK_RE = re.compile(r"^\s*#\s*\S+:\d+: check failed:")


class Mutant:
    def __init__(self, index, fields):
        self.index = index                  # its place in the catalog, from 1
        self.id = fields["id"]
        self.file = fields["file"]
        self.find = fields["find"]
        self.replace = fields["replace"]
        self.scenario = fields["scenario"]
        self.breaks = fields["breaks"]
        self.kind = fields.get("kind", "")
        self.equivalent = fields.get("equivalent", "")
        self.blind = fields.get("blind", "")

    def record(self):
        return {"id": self.id, "file": self.file, "scenario": self.scenario, "breaks": self.breaks,
                "kind": self.kind, "equivalent": self.equivalent, "blind": self.blind}


def one_line(text, limit=None):
    text = " ".join(str(text).split())
    if limit and len(text) > limit:
        text = text[:limit - 3] + "..."
    return text


# ---------------------------------------------------------------- catalog

def load_catalog(path):
    """(mutants, problems): the well-formed mutants of the catalog at path
    and a line per problem found in it.  A missing or unparsable file is a
    problem too, never an exception."""
    if not os.path.exists(path):
        return [], ["%s does not exist: there is no mutant catalog yet (its format: README, "
                    "Mutation testing)" % display_path(path)]
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        return [], ["%s: %s" % (display_path(path), e)]
    return parse_catalog(data)


def parse_catalog(data):
    """(mutants, problems) of a catalog already read by tomllib."""
    problems = []
    extra = sorted(k for k in data if k != "mutant")
    if extra:
        problems.append("unknown top-level key%s %s (the catalog is a list of [[mutant]] tables)"
                        % ("s" if len(extra) > 1 else "", ", ".join(repr(k) for k in extra)))
    entries = data.get("mutant", [])
    if not isinstance(entries, list):
        return [], problems + ["'mutant' must be a list of tables ([[mutant]])"]
    mutants, seen = [], {}
    for index, entry in enumerate(entries, 1):
        where = "mutant %d" % index
        if not isinstance(entry, dict):
            problems.append("%s: not a table" % where)
            continue
        if isinstance(entry.get("id"), str) and entry["id"]:
            where += " (%s)" % entry["id"]
        bad = []
        for key in sorted(set(entry) - set(REQUIRED) - set(OPTIONAL)):
            bad.append("unknown key %r (known: %s)" % (key, ", ".join(REQUIRED + OPTIONAL)))
        for key in REQUIRED:
            if key not in entry:
                bad.append("no %s" % key)
        for key in REQUIRED + OPTIONAL:
            if key in entry and not isinstance(entry[key], str):
                bad.append("%s must be a string" % key)
        if not bad:
            for key in ("id", "file", "find", "scenario", "breaks") + OPTIONAL:
                if key in entry and not entry[key].strip():
                    bad.append("%s is empty" % key)
        if not bad:
            mid = entry["id"]
            if not ID_RE.match(mid):
                bad.append("id %r is not kebab-case (lower-case letters and digits joined by '-')" % mid)
            elif mid in seen:
                bad.append("id %r is already used by mutant %d" % (mid, seen[mid]))
            else:
                seen[mid] = index
            file_problem = _file_problem(entry["file"])
            if file_problem:
                bad.append(file_problem)
            if not SCENARIO_NAME_RE.match(entry["scenario"]):
                bad.append("scenario %r is not a scenario name (tests/scenarios/NAME.scn)" % entry["scenario"])
            if entry["find"] == entry["replace"]:
                bad.append("replace equals find: the edit changes nothing")
        if bad:
            problems += ["%s: %s" % (where, b) for b in bad]
        else:
            mutants.append(Mutant(index, entry))
    if not entries and not problems:
        problems.append("no [[mutant]] table")
    return mutants, problems


def _file_problem(path):
    if os.path.isabs(path) or "\\" in path:
        return "file %r must be a path from the repo root, with '/'" % path
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "file %r must be a plain path from the repo root (no '.', '..' or '//')" % path
    if parts[0] in ("build", ".git"):
        return "file %r is not a source file" % path
    return None


def count_occurrences(text, find):
    """How many times find occurs in text, overlapping ones included (a
    text that matches twice overlapping is no exact place either)."""
    n, i = 0, text.find(find)
    while i >= 0:
        n += 1
        i = text.find(find, i + 1)
    return n


def read_source(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def stale_reason(m, root):
    """None when m's find text occurs exactly once in its file under root,
    else why the mutant is stale."""
    path = os.path.join(root, m.file)
    if not os.path.isfile(path):
        return "%s does not exist" % m.file
    try:
        text = read_source(path)
    except (OSError, UnicodeDecodeError) as e:
        return "cannot read %s: %s" % (m.file, e)
    n = count_occurrences(text, m.find)
    if n == 1:
        return None
    first = next((l.strip() for l in m.find.splitlines() if l.strip()), m.find)
    return "the find text (first line: %r) occurs %d times in %s; it must occur exactly once" % (
        one_line(first, 70), n, m.file)


def check_catalog(mutants, root, scenario_dir):
    """Problems of well-formed mutants against a tree: their scenario
    files and their find texts (each must occur exactly once)."""
    problems = []
    for m in mutants:
        if not os.path.isfile(os.path.join(scenario_dir, m.scenario + ".scn")):
            problems.append("mutant %s: no scenario %s (tests/scenarios/%s.scn)" % (m.id, m.scenario, m.scenario))
        why = stale_reason(m, root)
        if why:
            problems.append("mutant %s: STALE: %s" % (m.id, why))
    return problems


class StaleError(Exception):
    pass


def apply_edit(m, root):
    """Makes m's edit in the tree at root; returns the unified diff.
    Raises StaleError when the find text does not occur exactly once."""
    why = stale_reason(m, root)
    if why:
        raise StaleError(why)
    path = os.path.join(root, m.file)
    old = read_source(path)
    new = old.replace(m.find, m.replace, 1)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(new)
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        "a/" + m.file, "b/" + m.file))


# ---------------------------------------------------------------- the tree

def tree_files(root):
    """The files of the working tree at root as git sees them (tracked and
    untracked but not ignored, so uncommitted edits are in), without
    build/; every file but build/, .git and __pycache__ when root is no
    git work tree."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             check=True).stdout
        names = sorted(set(n for n in out.decode("utf-8", "surrogateescape").split("\0") if n))
    except (OSError, subprocess.CalledProcessError):
        names = []
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root)
            dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__")
                             and not (rel == "." and d == "build"))
            names += [os.path.normpath(os.path.join(rel, f)) for f in files]
        names.sort()
    out = []
    for n in names:
        if n.split("/")[0] in ("build", ".git"):
            continue
        path = os.path.join(root, n)
        # A tracked file deleted in the work tree is not part of it; a
        # submodule is a directory.
        if os.path.islink(path) or os.path.isfile(path):
            out.append(n)
    return out


def copy_tree(root, files, dest):
    """Copies files (paths from root) to dest, keeping modes, times and
    symbolic links."""
    for rel in files:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), target, follow_symlinks=False)


# ---------------------------------------------------------------- selection

def sample_rank(mid):
    return hashlib.sha256(mid.encode("utf-8")).hexdigest()


def sample(mutants, n):
    """A fixed subset of n mutants: those whose ids hash lowest.  The same
    catalog always gives the same subset, and a mutant added to or taken
    out of the catalog changes it by at most that one."""
    keep = {m.id for m in sorted(mutants, key=lambda m: sample_rank(m.id))[:n]}
    return [m for m in mutants if m.id in keep]


def select(mutants, only=(), sample_n=None, include_equivalent=False):
    """(to_run, equivalents_not_run).  only: ids (unknown ones are a
    ValueError); equivalent mutants run only with include_equivalent;
    sample_n picks a fixed subset of those to run."""
    chosen = mutants
    if only:
        known = {m.id for m in mutants}
        unknown = [i for i in only if i not in known]
        if unknown:
            raise ValueError("no mutant %s in the catalog" % ", ".join(unknown))
        wanted = set(only)
        chosen = [m for m in mutants if m.id in wanted]
    run = [m for m in chosen if include_equivalent or not m.equivalent]
    listed = [m for m in chosen if m.equivalent and not include_equivalent]
    if sample_n is not None:
        run = sample(run, sample_n)
    return run, listed


def seed_for(text):
    """A fixed seed for a name: 1 .. 2^31-1."""
    v = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7fffffff
    return v or 1


def mutant_seeds(m, seed, seeds):
    base = seed_for("mutant:" + m.id) if seed is None else seed
    return list(range(base, base + seeds))


# ---------------------------------------------------------------- verdicts

def first_build_error(text):
    """The first line of a build log that says what went wrong."""
    lines = [ANSI_RE.sub("", l).rstrip() for l in text.splitlines()]
    for pattern in (r":\d+(?::\d+)?: (?:fatal )?error\b", r"\berror\b|undefined reference|multiple definition",
                    r"\*\*\*"):
        for l in lines:
            if re.search(pattern, l, re.IGNORECASE):
                return l.strip()
    tail = [l for l in lines if l.strip()]
    return tail[-1].strip() if tail else "the build failed with no output"


def finding_classes(text):
    """The classes of the findings in a log, first seen first."""
    out = []
    for line in ANSI_RE.sub("", text).splitlines():
        m = FINDING_RE.match(line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


def failed_case(rep, text):
    """suite/case of the first failing case, or the suite that was running
    when the log stopped, or '-'."""
    if rep is not None:
        bad = rep.failures()
        if bad:
            return bad[0].path
    running = None
    for line in ANSI_RE.sub("", text).splitlines():
        m = SUBTEST_RE.match(line.strip())
        if m:
            running = m.group(1)
    return "%s (running)" % running if running else "-"


def outcome_classes(result, text):
    """What caught a run: the finding classes, then what the run itself
    shows (a panic, a timeout, a failed check, a log the parsers reject)."""
    classes = finding_classes(text)
    if result == PANIC:
        classes.append("panic")
    elif result == TIMEOUT:
        classes.append("timeout")
    if not classes and any(CHECK_RE.match(l) for l in text.splitlines()):
        classes.append("check")
    if not classes and result:
        classes.append(str(result).lower())
    return classes


def judge_run(res, text, late=LATE_SECONDS):
    """One seed's run (a runs.RunResult) as a dict: outcome 'caught',
    'late', 'survived', 'host_error' or 'skipped', what caught it and when."""
    rec = {"seed": res.job.seed, "result": res.result, "reason": res.reason, "why": res.why,
           "wall_seconds": round(res.seconds or 0.0, 3), "classes": [], "case": "-",
           "detect_seconds": None, "detect_from": None, "log": res.log}
    if res.verdict == SKIPPED:
        rec["outcome"] = "skipped"
    elif res.result == HOSTERR:
        rec["outcome"] = "host_error"
    elif res.verdict == OK:
        rec["outcome"] = "survived"
    else:
        rec["classes"] = outcome_classes(res.result, text)
        rec["case"] = failed_case(getattr(res, "rep", None), text)
        if res.detect is not None:
            rec["detect_seconds"], rec["detect_from"] = res.detect, "log"
        else:
            # No '# detect:' line (a panic, a timeout, a failed check):
            # the boot's wall time bounds it from above.
            rec["detect_seconds"], rec["detect_from"] = round(res.seconds or 0.0, 3), "wall"
        rec["outcome"] = "late" if rec["detect_seconds"] > late else "caught"
    return rec


def after_earlier_seeds(rec, spent, late=LATE_SECONDS):
    """A seed's run booted after earlier seeds that did not catch the
    mutant, whose boots took spent seconds: its detection time counts them
    (the torture time spent on the mutant so far, boots included, so an
    upper bound), and the 60 s limit applies to that sum."""
    if spent and rec["outcome"] in ("caught", "late") and rec["detect_seconds"] is not None:
        rec["detect_seconds"] = round(rec["detect_seconds"] + spent, 3)
        rec["after_seconds"] = round(spent, 3)
        rec["outcome"] = "late" if rec["detect_seconds"] > late else "caught"
    return rec


class MutantResult:
    def __init__(self, mutant, verdict, reason="", runs=(), seeds=()):
        self.mutant = mutant
        self.verdict = verdict
        self.reason = reason        # STALE, BUILD_FAILED, HOST_ERROR: why
        self.runs = list(runs)      # judge_run() dicts, one per seed
        self.seeds = list(seeds)
        self.best = None            # the run that decided the verdict
        self.dir = None

    @property
    def caught_runs(self):
        return [r for r in self.runs if r["outcome"] in ("caught", "late")]

    def record(self):
        rec = self.mutant.record()
        best = self.best or {}
        rec.update({
            "verdict": self.verdict, "reason": self.reason, "seeds": self.seeds,
            "caught_seeds": len(self.caught_runs), "classes": best.get("classes", []),
            "case": best.get("case"), "detect_seconds": best.get("detect_seconds"),
            "detect_from": best.get("detect_from"), "seed": best.get("seed", self.seeds[0] if self.seeds else None),
            "dir": self.dir, "runs": self.runs,
        })
        return rec


def mutant_verdict(m, runs, seeds):
    """The verdict over a mutant's seeds: caught when any seed caught it in
    time (the fastest such seed is the one shown), late when seeds caught it
    only after LATE_SECONDS, else survived; a host error or a skip when no
    seed decided."""
    res = MutantResult(m, SURVIVED, runs=runs, seeds=seeds)

    def fastest(rs):
        return min(rs, key=lambda r: r["detect_seconds"])
    caught = [r for r in runs if r["outcome"] == "caught"]
    late = [r for r in runs if r["outcome"] == "late"]
    errors = [r for r in runs if r["outcome"] == "host_error"]
    if caught:
        res.verdict, res.best = CAUGHT, fastest(caught)
    elif late:
        res.verdict, res.best = LATE, fastest(late)
    elif errors:
        res.verdict, res.best, res.reason = HOST_ERROR, errors[0], errors[0]["why"] or errors[0]["reason"]
    elif runs and all(r["outcome"] == "skipped" for r in runs):
        res.verdict, res.best, res.reason = SKIPPED_RUN, runs[0], runs[0]["reason"]
    elif runs:
        res.best = runs[0]
    return res


# ---------------------------------------------------------------- score

def score(results, listed=()):
    """Counts over the results (and listed: equivalent mutants not run):
    the score is the share of the non-equivalent mutants that ran (caught,
    late or survived) that were caught in time."""
    counted = [r for r in results if not r.mutant.equivalent and r.verdict in SCORED]
    caught = sum(1 for r in counted if r.verdict == CAUGHT)
    s = {
        "caught": caught,
        "late": sum(1 for r in counted if r.verdict == LATE),
        "survived": sum(1 for r in counted if r.verdict == SURVIVED),
        "counted": len(counted),
        "percent": round(100.0 * caught / len(counted), 1) if counted else None,
        "equivalent": sum(1 for r in results if r.mutant.equivalent) + len(listed),
        "catalog_errors": sum(1 for r in results if r.verdict in CATALOG_ERRORS),
        "host_errors": sum(1 for r in results if r.verdict == HOST_ERROR),
        "skipped": sum(1 for r in results if r.verdict == SKIPPED_RUN),
        "late_seconds": LATE_SECONDS,
    }
    return s


def score_line(s):
    if s["percent"] is None:
        return "score: none (no non-equivalent mutant ran)"
    return ("score: %d of %d non-equivalent mutants caught within %g s: %.1f%% "
            "(%d survived, %d caught late; %d equivalent not counted)" % (
                s["caught"], s["counted"], s["late_seconds"], s["percent"], s["survived"], s["late"],
                s["equivalent"]))


# ---------------------------------------------------------------- reports

def fmt_seconds(rec):
    if not rec or rec.get("detect_seconds") is None:
        return "-"
    text = "%.2f s" % rec["detect_seconds"]
    if rec.get("detect_from") == "wall":
        text = "<= " + text + " (wall)"
    return text


def row(r):
    """The cells of a result in the printed table."""
    best = r.best or {}
    seed = "-"
    if r.seeds:
        seed = str(best.get("seed") or r.seeds[0])
    verdict = r.verdict
    if len(r.seeds) > 1 and r.verdict in SCORED:
        # Seeds boot until one catches: which one did, or how many ran.
        verdict += (" @%d/%d" % (len(r.runs), len(r.seeds)) if r.verdict in (CAUGHT, LATE)
                    else " 0/%d" % len(r.runs))
    if r.verdict in (CAUGHT, LATE):
        classes, case, when = ",".join(best.get("classes", [])) or "-", best.get("case", "-"), fmt_seconds(best)
    else:
        classes, case, when = "-", "-", "-"
    return [r.mutant.id, verdict, classes, case, when, seed]


def progress_line(r, done, total):
    cells = row(r)
    line = "[%*d/%d] %-14s %s" % (len(str(total)), done, total, cells[1], cells[0])
    if r.verdict in (CAUGHT, LATE):
        line += "  %s  %s  %s" % (cells[2], cells[3], cells[4])
    elif r.reason:
        line += "  " + one_line(r.reason, 160)
    if r.seeds:
        line += "  seed %s" % (cells[5] if len(r.seeds) == 1 else "%d..%d" % (r.seeds[0], r.seeds[-1]))
    return line


def text_table(results):
    head = ["mutant", "verdict", "class", "suite/case", "detection", "seed"]
    rows = [row(r) for r in results]
    widths = [max(len(c[i]) for c in rows + [head]) for i in range(len(head))]
    return ["  ".join(c[i].ljust(widths[i]) for i in range(len(head))).rstrip() for c in [head] + rows]


def replay_command(m, seed, catalog_arg=None):
    cmd = "python3 tools/mutate.py"
    if catalog_arg:
        cmd += " --catalog %s" % catalog_arg
    cmd += " --only %s" % m.id
    if m.equivalent:
        cmd += " --include-equivalent"
    if seed is not None:
        cmd += " --seed %d" % seed
    return cmd + " --keep"


def report_lines(results, listed, s, catalog_arg=None):
    """What is printed after the table: survivors, late ones, equivalents,
    catalog and host errors, the score."""
    out = []
    counted = [r for r in results if not r.mutant.equivalent]

    def section(title, rs, with_replay=True):
        if not rs:
            return
        out.append("")
        out.append(title)
        for r in rs:
            m = r.mutant
            out.append("  %s (%s, scenario %s): breaks %s" % (m.id, m.file, m.scenario, one_line(m.breaks)))
            if r.verdict == LATE:
                out.append("    caught only after %s: %s in %s" % (
                    fmt_seconds(r.best), ",".join(r.best.get("classes", [])), r.best.get("case")))
            if m.blind:
                out.append("    blind: " + one_line(m.blind))
            if r.reason and r.verdict not in (SURVIVED, LATE):
                out.append("    " + one_line(r.reason, 300))
            if with_replay and r.seeds:
                out.append("    replay: " + replay_command(m, (r.best or {}).get("seed", r.seeds[0]), catalog_arg))
    section("survived (the tests did not notice):", [r for r in counted if r.verdict == SURVIVED])
    section("caught late (after %g s; counted as survived):" % LATE_SECONDS,
            [r for r in counted if r.verdict == LATE])
    ran_equivalent = [r for r in results if r.mutant.equivalent]
    if listed or ran_equivalent:
        out.append("")
        out.append("equivalent (not counted in the score):")
        for r in ran_equivalent:
            note = ""
            if r.verdict in (CAUGHT, LATE):
                note = "  -- but it was CAUGHT (%s): the equivalence argument or the test is wrong" % (
                    ",".join(r.best.get("classes", [])))
            out.append("  %s: ran, %s%s" % (r.mutant.id, r.verdict, note))
            out.append("    " + one_line(r.mutant.equivalent))
        for m in listed:
            out.append("  %s: not run (--include-equivalent runs it)" % m.id)
            out.append("    " + one_line(m.equivalent))
    section("catalog errors (fix %s):" % (catalog_arg or "tools/mutants.toml"),
            [r for r in results if r.verdict in CATALOG_ERRORS],
            with_replay=False)
    section("host errors (no verdict):", [r for r in results if r.verdict == HOST_ERROR])
    section("skipped (this host cannot boot the scenario):", [r for r in results if r.verdict == SKIPPED_RUN],
            with_replay=False)
    out.append("")
    out.append(score_line(s))
    return out


def _md(text):
    return one_line(text).replace("|", "\\|")


def markdown(results, listed, s):
    """The score table for the README: a row per mutant that ran, then the
    equivalent ones and the catalog errors."""
    out = []
    if s["percent"] is not None:
        out.append("%d of %d non-equivalent mutants caught within %g s (%.1f%%); %d survived, %d caught late."
                   % (s["caught"], s["counted"], s["late_seconds"], s["percent"], s["survived"], s["late"]))
        out.append("")
    out.append("| mutant | file | what it breaks | caught by | time to detection |")
    out.append("|---|---|---|---|---|")
    for r in results:
        if r.verdict not in SCORED:
            continue
        m, best = r.mutant, r.best or {}
        name = "`%s`" % m.id
        if m.equivalent:
            name += " (equivalent)"
        if m.blind:
            name += " (blind)"
        suite = (best.get("case") or "-").split("/")[0].split(" ")[0]
        classes = ", ".join("`%s`" % c for c in best.get("classes", []))
        if r.verdict == SURVIVED:
            by = "**survived**"
            if m.blind:
                by += " (blind: %s)" % _md(m.blind)
            when = "-"
        else:
            by = "`%s` (%s)" % (suite, classes) if classes else "`%s`" % suite
            when = fmt_seconds(best)
            if r.verdict == LATE:
                when = "**late**: " + when
        if len(r.seeds) > 1:
            by += (", seed %d of up to %d" % (len(r.runs), len(r.seeds)) if r.verdict in (CAUGHT, LATE)
                   else ", %d seeds" % len(r.runs))
        out.append("| %s | `%s` | %s | %s | %s |" % (name, m.file, _md(m.breaks), by, when))
    equivalents = [r.mutant for r in results if r.mutant.equivalent and r.verdict not in SCORED] + list(listed)
    if equivalents:
        out.append("")
        out.append("Equivalent mutants (not run, not counted):")
        out.append("")
        for m in equivalents:
            out.append("- `%s` (`%s`): %s" % (m.id, m.file, _md(m.equivalent)))
    errors = [r for r in results if r.verdict not in SCORED and not r.mutant.equivalent]
    if errors:
        out.append("")
        out.append("Not scored:")
        out.append("")
        for r in errors:
            out.append("- `%s`: %s %s" % (r.mutant.id, r.verdict, _md(r.reason)))
    return "\n".join(out) + "\n"


def json_document(results, listed, s, catalog, baseline=()):
    return {
        "catalog": catalog,
        "score": s,
        "baseline": list(baseline),
        "mutants": [r.record() for r in results],
        "equivalent_not_run": [m.record() for m in listed],
    }


def write_json(path, doc):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def write_text(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
