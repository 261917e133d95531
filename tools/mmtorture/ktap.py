"""The KTAP log the kernel prints, and what a run's outcome means.

parse_ktap() turns a serial log into a KtapReport (nested suites, results,
bail-outs, the panic dump, detection times).  classify() combines it with
the emulator's exit status into a result (PASS, FAIL, ERROR, PANIC, CRASH);
verdict() compares that result with what the scenario expects.
"""

import re

# The kernel's exit codes as QEMU's isa-debug-exit reports them: a write of
# V becomes the exit status (V << 1) | 1.  classify() reads these; another
# emulator translates its own signal into them.
STATUS_SUCCESS = 33
STATUS_FAILURE = 35
STATUS_ERROR = 37
STATUS_PANIC = 39
# Written by grub.cfg itself (outb 0xf4 0x70) when 'boot' returns, i.e. GRUB
# could not load or start the kernel.  Without it GRUB would sit in its
# menu until the scenario's timeout.
STATUS_GRUB_FAILED = 225
KERNEL_STATUSES = (STATUS_SUCCESS, STATUS_FAILURE, STATUS_ERROR, STATUS_PANIC)

# Results of one run.
PASS, FAIL, ERROR, PANIC = "PASS", "FAIL", "ERROR", "PANIC"
TIMEOUT, CRASH, SKIP = "TIMEOUT", "CRASH", "SKIP"
# The host could not even produce a boot (grub-mkrescue or QEMU refused to
# run).  Kept apart from ERROR so that an expect=error scenario can never be
# satisfied by a broken host.
HOSTERR = "HOSTERR"

# Verdicts: the result against the scenario's expectation.
OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"

ANSI_RE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-Z\\-_])")
HEADER_RE = re.compile(r"KTAP version (\d+)\s*$")
PLAN_RE = re.compile(r"^1\.\.(\d+)\s*$")
# The number is optional so that a result printed in a hurry (the kernel's
# abort and panic paths) still counts.
RESULT_RE = re.compile(r"^(not )?ok(?:\s+(\d+)\b|(?=\s|$))\s*(.*)$")
SUBTEST_RE = re.compile(r"^#\s*Subtest:\s*(.*?)\s*$")
SENTINEL_RE = re.compile(r"^--- End of test: (SUCCESS|FAILURE)\s*$")
BAIL_RE = re.compile(r"^Bail out!\s*(.*)$")
DETECT_RE = re.compile(r"^#\s*detect:\s*(\S+)\s+after\s+([0-9]+(?:\.[0-9]*)?)\s*s\b")
TOTALS_RE = re.compile(r"^#\s*Totals:\s*(.*)$")
SEED_RE = re.compile(r"^#\s*seed:\s*(\d+)")


class Result:
    def __init__(self, ok, number, name, directive, reason, comment, line, lineno):
        self.ok = ok
        self.number = number
        self.name = name
        self.directive = directive  # "SKIP", "ERROR" or None
        self.reason = reason
        self.comment = comment      # text after ' # ' that is no directive
        self.line = line
        self.lineno = lineno
        self.sub = None             # the Suite this result closes, if any
        self.path = name
        self.diags = []             # '#' lines printed since the previous result

    @property
    def status(self):
        if self.directive == "SKIP":
            return "skip"
        if self.directive == "ERROR":
            return "error"
        return "pass" if self.ok else "fail"


class Suite:
    def __init__(self, level, name=None):
        self.level = level
        self.name = name
        self.plan = None
        self.results = []
        self.diags = []
        self.pending = []  # diagnostics not yet claimed by a result


def _parse_result(m, line, lineno):
    ok = m.group(1) is None
    number = int(m.group(2)) if m.group(2) else None
    rest = m.group(3)
    if rest.startswith("# "):
        name, tail = "", rest[2:]
    else:
        name, _, tail = rest.partition(" # ")
    name = re.sub(r"^-\s+", "", name.strip())
    directive = reason = comment = None
    tail = tail.strip()
    if tail:
        word, _, after = tail.partition(" ")
        if word.upper() in ("SKIP", "ERROR"):
            directive, reason = word.upper(), after.strip() or None
        else:
            comment = tail
    return Result(ok, number, name, directive, reason, comment, line, lineno)


class KtapReport:
    def __init__(self):
        self.found = False
        self.version = None
        self.top = None
        self.sentinel = None
        self.bails = []       # (suite path, reason, line)
        self.panic = []       # the first 'PANIC:' line and what follows it
        self.detects = []     # (class, seconds)
        self.totals = {}
        self.seed = None
        self.anomalies = []   # structural problems (missing results, ...)

    def walk(self):
        """Yield every Result, parents before their subtests' results."""
        def rec(suite, prefix):
            for r in suite.results:
                r.path = prefix + (r.name or "#%s" % (r.number or "?"))
                yield r
                if r.sub is not None:
                    yield from rec(r.sub, r.path + "/")
        if self.top is not None:
            yield from rec(self.top, "")

    def failures(self):
        """The innermost failing or erroring results.

        A suite that failed because one of its cases failed is represented by
        that case; a suite that failed with all cases passing (plan mismatch,
        suite-level check) is reported itself.
        """
        out = []

        def bad(r):
            return r.status in ("fail", "error")

        def rec(suite):
            for r in suite.results:
                if not bad(r):
                    continue
                if r.sub is not None and any(bad(c) for c in r.sub.results):
                    rec(r.sub)
                else:
                    out.append(r)
        list(self.walk())  # fills in paths
        if self.top is not None:
            rec(self.top)
        return out

    def counts(self):
        """Counts over leaf results, i.e. the actual test cases."""
        c = {"pass": 0, "fail": 0, "skip": 0, "error": 0}
        for r in self.walk():
            if r.sub is None or not r.sub.results:
                c[r.status] += 1
        return c

    def problem_lines(self, limit=3):
        """Short human-readable lines saying what the kernel reported as
        going wrong first, each failing case with the diagnostic most likely
        to say why.  Structural anomalies are left out: after a panic or a
        hang they are a consequence, not news."""
        lines = []
        if self.panic:
            lines.append(self.panic[0].strip())
        for path, reason, _ in self.bails:
            lines.append("Bail out! %s%s" % (reason, " (in %s)" % path if path else ""))
        for r in self.failures():
            extra = ""
            if r.directive == "ERROR":
                extra = " # ERROR" + (" " + r.reason if r.reason else "")
            elif r.comment:
                extra = " # " + r.comment
            lines.append("not ok %s%s" % (r.path, extra))
            why = [d for d in r.diags if not DETECT_RE.match(d)]
            telling = [d for d in why if re.search(r"fail|error|expected|mismatch|bad|leak", d, re.I)]
            if telling or why:
                lines.append("  " + (telling or why)[0])
        return lines[:limit]


def parse_ktap(text):
    rep = KtapReport()
    stack = []
    in_panic = False

    def suite_at(level):
        # Subtests may legally start with just '# Subtest:' or a plan, and a
        # malformed log may skip a level; either way results land somewhere.
        while len(stack) <= level:
            stack.append(Suite(len(stack)))
        return stack[level]

    def fresh(suite):
        return not suite.results and suite.plan is None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = ANSI_RE.sub("", raw).replace("\r", "").rstrip()
        if not rep.found:
            # Firmware may leave escape sequences or half a line in front of
            # the header, so it is searched for rather than matched.
            m = HEADER_RE.search(line)
            if m:
                rep.found = True
                rep.version = int(m.group(1))
                rep.top = Suite(0)
                stack = [rep.top]
            continue
        expanded = line.expandtabs(8)
        s = expanded.lstrip(" ")
        if not s:
            continue
        level = (len(expanded) - len(s)) // 4

        m = SENTINEL_RE.match(s)
        if m:
            if rep.sentinel is None:
                rep.sentinel = m.group(1)
            in_panic = False
            continue
        if "PANIC:" in s and not rep.panic:
            in_panic = True
        if in_panic and len(rep.panic) < 200:
            # Kept for the report; the kernel may still close the KTAP
            # structure after its dump, so parsing goes on.
            rep.panic.append(line)

        if HEADER_RE.match(s):
            if level == 0:
                continue
            suite_at(level - 1)
            if len(stack) > level and fresh(stack[level]):
                del stack[level + 1:]  # '# Subtest:' came first
                continue
            if len(stack) > level:
                rep.anomalies.append("subtest %s has no result line" % (stack[level].name or "?"))
            del stack[level:]
            stack.append(Suite(level))
            continue
        m = SUBTEST_RE.match(s)
        if m:
            if level == 0:
                continue
            if len(stack) > level and stack[level].name is None and fresh(stack[level]):
                stack[level].name = m.group(1)
            else:
                if len(stack) > level:
                    rep.anomalies.append("subtest %s has no result line" % (stack[level].name or "?"))
                del stack[level:]
                suite_at(level - 1)
                stack.append(Suite(level, m.group(1)))
            continue
        m = PLAN_RE.match(s)
        if m:
            suite_at(level).plan = int(m.group(1))
            continue
        m = RESULT_RE.match(s)
        if m:
            r = _parse_result(m, s, lineno)
            owner = suite_at(level)
            if len(stack) > level + 1:
                r.sub = stack[level + 1]
                if r.sub.name is None:
                    r.sub.name = r.name
            del stack[level + 1:]
            r.diags, owner.pending = owner.pending, []
            owner.results.append(r)
            continue
        m = BAIL_RE.match(s)
        if m:
            path = "/".join(x.name for x in stack[1:level + 1] if x.name)
            rep.bails.append((path, m.group(1).strip(), s))
            continue
        if s.startswith("#"):
            owner = suite_at(min(level, len(stack) - 1))
            owner.diags.append(s)
            owner.pending.append(s)
            m = DETECT_RE.match(s)
            if m:
                rep.detects.append((m.group(1), float(m.group(2))))
            m = TOTALS_RE.match(s)
            if m and level == 0:
                for key, value in re.findall(r"(\w+):(\d+)", m.group(1)):
                    rep.totals[key] = int(value)
            m = SEED_RE.match(s)
            if m and level == 0 and rep.seed is None:
                rep.seed = int(m.group(1))
            continue
        # Anything else (stray kernel prints) is not KTAP and carries no
        # result; it stays visible in the log itself.

    if rep.found:
        if len(stack) > 1:
            rep.anomalies.append("subtest %s has no result line" % (stack[1].name or "?"))
        _check_plans(rep)
    return rep


def _check_plans(rep):
    def rec(suite, label):
        if suite.plan is None:
            if suite is rep.top and not rep.bails:
                rep.anomalies.append("no test plan (1..N) at top level")
        elif suite.plan != len(suite.results) and not rep.bails:
            rep.anomalies.append("%s planned %d tests, reported %d" % (label, suite.plan, len(suite.results)))
        for r in suite.results:
            if r.sub is not None:
                rec(r.sub, "subtest " + (r.sub.name or r.name))
    rec(rep.top, "top level")


def classify(status, rep):
    """Turn the exit status (isa-debug-exit's, above; None when there was
    none, negative for a signal) and the parsed log into (result, reason)."""
    if status == STATUS_PANIC:
        return PANIC, rep.panic[0].strip() if rep.panic else "exit status 39 without a PANIC: line"
    if status == STATUS_ERROR:
        if rep.sentinel == "SUCCESS":
            return CRASH, "exit status 37 (error) but the log ends with SUCCESS"
        lines = rep.problem_lines(1)
        return ERROR, lines[0] if lines else "exit status 37"
    if status == STATUS_SUCCESS:
        if not rep.found:
            return CRASH, "exit status 33 but no 'KTAP version' line in the log"
        if rep.sentinel != "SUCCESS":
            return CRASH, "exit status 33 but sentinel is %s" % (rep.sentinel or "missing")
        lines = rep.problem_lines(1) + rep.anomalies
        if lines:
            return CRASH, "exit status 33 but " + lines[0]
        return PASS, ""
    if status == STATUS_FAILURE:
        if rep.sentinel != "FAILURE":
            return CRASH, "exit status 35 but sentinel is %s" % (rep.sentinel or "missing")
        lines = rep.problem_lines(1)
        return FAIL, lines[0] if lines else "kernel reported FAILURE"
    if status is None:
        return CRASH, "no exit status"
    if status < 0:
        return CRASH, "QEMU killed by signal %d" % -status
    why = "exit status %d" % status
    if status == STATUS_GRUB_FAILED:
        return CRASH, "GRUB could not load or start the kernel (exit status %d)" % status
    if status == 0:
        why += " (triple fault or shutdown without isa-debug-exit)"
    if rep.panic:
        why += "; " + rep.panic[0].strip()
    return CRASH, why


def verdict(scn, result, log_text, reason=""):
    """(verdict, reason) for a classified run of scn."""
    if result == SKIP:
        return SKIPPED, ""
    want = {"pass": PASS, "fail": FAIL, "error": ERROR, "panic": PANIC}[scn.expect]
    if result != want:
        return FAILED, "expected %s, got %s" % (want, result) + (": " + reason if reason else "")
    # A pass may name a line it needs too (the SPCR scenario's console line).
    if scn.expect_log and not re.search(scn.expect_log, log_text, re.MULTILINE):
        return FAILED, "%s as expected, but the log does not match /%s/" % (result, scn.expect_log)
    return OK, ""
