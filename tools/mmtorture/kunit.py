"""Checking a run's log with Linux's own KTAP parser, and the counts every
parser must agree on.

Linux's parser is tools/testing/kunit/kunit.py of a Linux source tree;
`make kunit` (tools/deps.sh kunit) takes that directory out of Debian's
linux-source package into build/kunit/tools/testing/kunit.  The runner feeds it each serial
log as a user would (`python3 kunit.py parse < serial.log`) and reads the
summary it prints.

A log passes when kunit.py reports no parse error and no crashed test,
and its counts are the kernel's `# Totals:` line.  kunit.py (6.1) has no
ERROR directive: a `not ok ... # ERROR` line is a failure to it.  So

    passed = pass      failed = fail + error      skipped = skip

and the runner's own parser (ktap.py) must count exactly the totals.
"""

import os
import re
import subprocess
import sys

from .common import ROOT

# kunit.py runs only from tools/testing/kunit of a tree (it changes to
# the tree's top directory first).
DEFAULT_KUNIT = os.path.join(ROOT, "build", "kunit", "tools", "testing", "kunit", "kunit.py")
# What gets the parser onto a Debian machine (tools/deps.sh does this as
# root); printed when it is missing.
INSTALL_HINT = "sudo apt-get install -y linux-source && make kunit"

KUNIT_KEYS = ("passed", "failed", "crashed", "skipped", "errors")
SUMMARY_RE = re.compile(r"Testing complete\. Ran (\d+) tests:?(.*)$")
COUNT_RE = re.compile(r"(passed|failed|crashed|skipped|errors): (\d+)")
ERROR_RE = re.compile(r"\[ERROR\] (.*)$")
TIMESTAMP_RE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
TOTALS_KEYS = ("pass", "fail", "skip", "error")


class KunitResult:
    """What kunit.py said about one log: its counts (None when it printed
    no summary) and its [ERROR] lines."""

    def __init__(self, counts, errors, output):
        self.counts = counts
        self.errors = errors
        self.output = output

    def summary(self):
        if self.counts is None:
            return "no summary"
        return " ".join("%s=%d" % (k, self.counts[k]) for k in KUNIT_KEYS)


def parse_kunit_output(text):
    """KunitResult from the text `kunit.py parse` printed."""
    counts, errors = None, []
    for raw in text.splitlines():
        line = TIMESTAMP_RE.sub("", raw.rstrip())
        m = ERROR_RE.search(line)
        if m:
            errors.append(m.group(1))
            continue
        m = SUMMARY_RE.search(line)
        if m:
            counts = dict.fromkeys(KUNIT_KEYS, 0)
            for key, value in COUNT_RE.findall(m.group(2)):
                counts[key] = int(value)
            ran = int(m.group(1))
            if ran != counts["passed"] + counts["failed"] + counts["crashed"] + counts["skipped"]:
                errors.append("summary does not add up (a kunit.py this code does not know?): " + line)
    return KunitResult(counts, errors, text)


def expected_kunit_counts(totals):
    """The counts kunit.py must print for a log with these `# Totals:`."""
    return {
        "passed": totals.get("pass", 0),
        "failed": totals.get("fail", 0) + totals.get("error", 0),
        "crashed": 0,
        "skipped": totals.get("skip", 0),
        "errors": 0,
    }


class Kunit:
    """A kunit.py to run; path is the script."""

    def __init__(self, path, python=None):
        self.path = path
        self.python = python or sys.executable or "python3"

    def parse(self, log_path, timeout=120):
        """KunitResult of `kunit.py parse < log_path`.  kunit.py exits 1
        whenever a test failed, so its status says nothing about the
        parse; the summary and the [ERROR] lines do.  OSError or
        subprocess.TimeoutExpired when it cannot be run."""
        with open(log_path, "rb") as log:
            proc = subprocess.run([self.python, self.path, "parse"], stdin=log,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  cwd=os.path.dirname(self.path), timeout=timeout)
        text = proc.stdout.decode("utf-8", errors="replace")
        res = parse_kunit_output(text)
        if res.counts is None:
            tail = [l for l in text.splitlines() if l.strip()][-1:]
            res.errors.append("kunit.py exited with status %d and no summary%s" % (
                proc.returncode, ": " + tail[0] if tail else ""))
        return res


def find_kunit(path=None):
    """(Kunit or None, note).  path: what --kunit gave (must exist), else
    build/kunit/kunit.py when it is there.  note says why there is none."""
    if path:
        if os.path.isdir(path):
            path = os.path.join(path, "kunit.py")
        if not os.path.isfile(path):
            raise FileNotFoundError("%s: no kunit.py there" % path)
        if "/tools/testing/kunit/" not in os.path.realpath(path):
            raise FileNotFoundError("%s: kunit.py runs only from tools/testing/kunit of a "
                                    "Linux tree (it exits without a word elsewhere)" % path)
        return Kunit(os.path.abspath(path)), ""
    if os.path.isfile(DEFAULT_KUNIT):
        return Kunit(DEFAULT_KUNIT), ""
    return None, ("Linux's kunit.py is not in build/kunit, so the logs are not checked with it; "
                  "to check them: %s" % INSTALL_HINT)


def count_problems(rep, kunit_result=None):
    """Where the counts of a parsed log (rep, a KtapReport) disagree: the
    runner's parser against the `# Totals:` line, and kunit.py's result
    (when given) against the same line.  [] when they all agree."""
    problems = []
    if not rep.found:
        problems.append("no 'KTAP version' line in the log")
    elif not rep.totals:
        problems.append("no '# Totals:' line in the log")
    else:
        missing = [k for k in TOTALS_KEYS if k not in rep.totals]
        if missing:
            problems.append("the '# Totals:' line lacks %s" % ", ".join(missing))
        ours = rep.counts()
        if any(ours[k] != rep.totals.get(k, 0) for k in TOTALS_KEYS):
            problems.append("the runner's parser counts %s; the log's totals say %s" % (
                _fmt(ours, TOTALS_KEYS), _fmt(rep.totals, TOTALS_KEYS)))
    if kunit_result is not None:
        for e in kunit_result.errors[:3]:
            problems.append("kunit.py rejects the log: " + e)
        if kunit_result.counts is not None and rep.totals:
            want = expected_kunit_counts(rep.totals)
            if kunit_result.counts != want:
                problems.append("kunit.py counts %s; the totals (%s) make %s" % (
                    _fmt(kunit_result.counts, KUNIT_KEYS), _fmt(rep.totals, TOTALS_KEYS),
                    _fmt(want, KUNIT_KEYS)))
    return problems


def _fmt(counts, keys):
    return " ".join("%s=%d" % (k, counts.get(k, 0)) for k in keys)
