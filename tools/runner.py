#!/usr/bin/env python3
"""Host-side test runner for mmtorture.

Each scenario (tests/scenarios/NAME.scn) describes one QEMU machine and one
kernel command line.  For every selected scenario the runner wraps
build/mmtorture.elf in a GRUB rescue ISO (QEMU's -kernel cannot load
multiboot2), boots it, reads the KTAP log the kernel writes to the serial
port (COM1, or COM2 with `serial = com2`), combines
it with the isa-debug-exit status and compares the outcome with what the
scenario expects.

Standard library only, so that a fresh Debian host needs nothing beyond
python3 to run it.
"""

import argparse
import fcntl
import fnmatch
import json
import math
import os
import queue
import re
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCENARIO_DIR = os.path.join(ROOT, "tests", "scenarios")
DEFAULT_ELF = os.path.join(ROOT, "build", "mmtorture.elf")
DEFAULT_OUT = os.path.join(ROOT, "build", "runs")

QEMU = "qemu-system-x86_64"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"

# isa-debug-exit turns a write of V into the exit status (V << 1) | 1.
STATUS_SUCCESS = 33
STATUS_FAILURE = 35
STATUS_ERROR = 37
STATUS_PANIC = 39
# Written by grub.cfg itself (outb 0xf4 0x70) when 'boot' returns, i.e. GRUB
# could not load or start the kernel.  Without it GRUB would sit in its
# menu until the scenario's timeout.
STATUS_GRUB_FAILED = 225

PASS, FAIL, ERROR, PANIC = "PASS", "FAIL", "ERROR", "PANIC"
TIMEOUT, CRASH, SKIP = "TIMEOUT", "CRASH", "SKIP"
# The host could not even produce a boot (grub-mkrescue or QEMU refused to
# run).  Kept apart from ERROR so that an expect=error scenario can never be
# satisfied by a broken host.
HOSTERR = "HOSTERR"

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"

# Lines of a log or stderr shown when a run goes wrong on CI, where nobody
# can open build/runs afterwards.
CI_LOG_TAIL = 60


class UsageError(Exception):
    """A problem the user has to fix (exit status 2)."""


class Interrupted(Exception):
    """Raised inside workers once the run is being torn down."""


# --------------------------------------------------------------------------
# Scenario files

SCENARIO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SMP_RE = re.compile(r"^(?:[1-9][0-9]*|cpus=[1-9][0-9]*)(?:,[a-z_-]+=[0-9]+)*$")
MEMORY_RE = re.compile(r"^(?:size=)?[1-9][0-9]*[KMGTkmgt]?(?:,[a-z_-]+=[0-9A-Za-z]+)*$")
CPU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+,=-]*$")
# GRUB's config lexer gives these a meaning of their own; refusing them keeps
# what the kernel receives identical to what the scenario says.
GRUB_SPECIAL = set("$;{}'\"\\|&<>#`\t")


class Scenario:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.machine = "pc"
        self.firmware = "bios"
        self.cpu = "max"
        self.smp = "1"
        self.memory = "256M"
        self.accel = "tcg"
        self.cmdline = ""
        self.timeout = 120.0
        self.groups = ["default"]
        self.expect = "pass"
        self.expect_log = ""
        self.qemu_extra = []
        self.description = ""
        self.machine_opts = ""
        self.serial = "com1"
        self.spcr = None


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError("must be one of: " + ", ".join(allowed))
        return value
    return check


def _pattern(regex, what):
    def check(value):
        if not regex.match(value):
            raise ValueError("not a valid %s: %r" % (what, value))
        return value
    return check


def _timeout(value):
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("not a number of seconds: %r" % value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError("must be a positive number of seconds")
    return seconds


def _groups(value):
    names = value.split()
    if not names:
        raise ValueError("needs at least one group name")
    for n in names:
        if not GROUP_RE.match(n):
            raise ValueError("bad group name %r" % n)
    return names


def _cmdline(value):
    bad = sorted(set(value) & GRUB_SPECIAL)
    if bad:
        raise ValueError("characters GRUB would interpret: %s" % " ".join(repr(c) for c in bad))
    return " ".join(value.split())


def _regex(value):
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError("bad regular expression: %s" % e)
    return value


def _qemu_extra(value):
    try:
        return shlex.split(value)
    except ValueError as e:
        raise ValueError("cannot split into arguments: %s" % e)


MACHINE_OPTS_RE = re.compile(r"^[a-z0-9_-]+=[A-Za-z0-9_.-]+(?:,[a-z0-9_-]+=[A-Za-z0-9_.-]+)*$")


def _mkspcr():
    # tools/ is on sys.path when runner.py or bench.py runs as a script;
    # added here for an import from anywhere else.
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import mkspcr
    return mkspcr


def _spcr(value):
    mk = _mkspcr()
    try:
        mk.parse_spec(value)
    except mk.SpecError as e:
        raise ValueError(str(e))
    return value


SCENARIO_KEYS = {
    "machine": _choice("pc", "q35"),
    # Properties appended to -machine: "kernel-irqchip=split" gives
    # "-machine q35,kernel-irqchip=split".
    "machine_opts": _pattern(MACHINE_OPTS_RE, "list of machine properties"),
    # Which serial port carries the log: com1, or com2 with no COM1 at all
    # (the kernel must find COM2 through an SPCR table to print anything).
    "serial": _choice("com1", "com2"),
    # An ACPI SPCR table for the guest (tools/mkspcr.py), e.g. io:0x2f8.
    "spcr": _spcr,
    "firmware": _choice("bios", "uefi"),
    "cpu": _pattern(CPU_RE, "-cpu model"),
    "smp": _pattern(SMP_RE, "-smp argument"),
    "memory": _pattern(MEMORY_RE, "-m argument"),
    "accel": _choice("tcg", "kvm"),
    "cmdline": _cmdline,
    "timeout": _timeout,
    "groups": _groups,
    "expect": _choice("pass", "fail", "error", "panic"),
    "expect_log": _regex,
    "qemu_extra": _qemu_extra,
    "description": lambda v: v,
}


def _scenario_value(raw, where):
    """Strip comments and optional quotes from the text after '='.

    '#' only starts a comment at the beginning or after whitespace, so values
    such as 'a#b' survive.  Quoting is there for the rare value that needs
    ' #' inside it (a regex matching a KTAP directive, say).
    """
    text = raw.strip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise UsageError("%s: unterminated quote" % where)
        rest = text[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise UsageError("%s: text after closing quote: %r" % (where, rest))
        return text[1:end]
    return re.sub(r"(?:^|\s)#.*$", "", text).strip()


def parse_scenario(name, text, path="<string>"):
    if not SCENARIO_NAME_RE.match(name):
        raise UsageError("%s: bad scenario name %r (use letters, digits, '.', '_', '-')" % (path, name))
    scn = Scenario(name, path)
    seen = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        where = "%s:%d" % (path, lineno)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, eq, raw = line.partition("=")
        key = key.strip()
        if not eq:
            raise UsageError("%s: expected 'key = value', got %r" % (where, stripped))
        if key not in SCENARIO_KEYS:
            raise UsageError("%s: unknown key %r (known: %s)" % (where, key, ", ".join(sorted(SCENARIO_KEYS))))
        if key in seen:
            raise UsageError("%s: %r already set on line %d" % (where, key, seen[key]))
        seen[key] = lineno
        value = _scenario_value(raw, where)
        try:
            parsed = SCENARIO_KEYS[key](value)
        except ValueError as e:
            raise UsageError("%s: %s: %s" % (where, key, e))
        setattr(scn, key, parsed)
    return scn


def load_scenarios(directory):
    if not os.path.isdir(directory):
        raise UsageError("scenario directory %s does not exist" % directory)
    scenarios = []
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".scn"):
            continue
        path = os.path.join(directory, fname)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        scenarios.append(parse_scenario(fname[:-4], text, display_path(path)))
    return scenarios


def select_scenarios(scenarios, groups, patterns):
    """Union of the named/globbed scenarios and the members of the groups.

    The 'default' group applies only when nothing at all was asked for, so
    that 'runner.py foo' runs just foo.
    """
    if not groups and not patterns:
        groups = ["default"]
    chosen = []
    for pat in patterns:
        hits = [s for s in scenarios if fnmatch.fnmatchcase(s.name, pat)]
        if not hits:
            raise UsageError("no scenario matches %r (see --list)" % pat)
        chosen.extend(hits)
    for g in groups:
        chosen.extend(s for s in scenarios if g == "all" or g in s.groups)
    unique, seen = [], set()
    for s in chosen:
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    return unique


# --------------------------------------------------------------------------
# KTAP

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


# --------------------------------------------------------------------------
# Classification


def classify(status, rep):
    """Turn QEMU's exit status and the parsed log into (result, reason)."""
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


# --------------------------------------------------------------------------
# Symbolizing

ADDR_RE = re.compile(r"(?<![0-9A-Za-z_])(?:0x)?(ffffffff8[0-9a-f]{7})(?![0-9A-Za-z_])", re.I)


def _short_path(loc):
    path, colon, line = loc.rpartition(":")
    if not colon or path.startswith("??"):
        return loc
    # NASM records the source directory and the path relative to the build
    # directory, which addr2line glues into .../boot//boot/x.asm.
    left, sep, right = path.partition("//")
    if sep:
        for i in [-1] + [i for i, ch in enumerate(left) if ch == "/"]:
            tail = left[i + 1:]
            if tail and right.startswith(tail + "/"):
                path = left[:i + 1] + right
                break
    path = os.path.normpath(path)
    if path.startswith(ROOT + os.sep):
        path = path[len(ROOT) + 1:]
    return path + ":" + line


def code_ranges(elf):
    """[(start, end)] of the ELF's executable sections, or None if unreadable.

    Register dumps are full of stack and data addresses in the kernel's
    range; only addresses inside code are worth a function name.
    """
    try:
        with open(elf, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF":
            return None
        wide = data[4] == 2
        end = "<" if data[5] == 1 else ">"
        if wide:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
            fmt = end + "IIQQQQ"
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
            fmt = end + "IIIIII"
        ranges = []
        for i in range(shnum):
            _, _, flags, addr, _, size = struct.unpack_from(fmt, data, shoff + i * shentsize)
            if flags & 0x6 == 0x6 and size:  # SHF_ALLOC | SHF_EXECINSTR
                ranges.append((addr, addr + size))
        return ranges
    except (OSError, struct.error, IndexError):
        return None


def addr2line(elf, addrs):
    """{address int: [(function, 'file:line'), ...innermost first]}."""
    if not addrs:
        return {}
    addrs = sorted(addrs)
    cmd = ["addr2line", "-a", "-f", "-i", "-C", "-e", elf] + ["0x%x" % a for a in addrs]
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table, current, pending = {}, None, None
    for line in out.splitlines():
        if re.match(r"^0x[0-9a-f]+$", line):
            current = int(line, 16)
            table[current] = []
            pending = None
        elif current is None:
            continue
        elif pending is None:
            pending = line.strip()
        else:
            loc = line.strip()
            loc = re.sub(r" \(discriminator \d+\)$", "", loc)
            table[current].append((pending, _short_path(loc)))
            pending = None
    return table


def describe_frames(frames):
    known = [(f, loc) for f, loc in frames if f != "??" or not loc.startswith("??")]
    if not known:
        return None
    parts = ["%s (%s)" % known[0]]
    parts += ["inlined into %s (%s)" % fl for fl in known[1:]]
    return " <- ".join(parts)


FRAME_RE = re.compile(r"^\s*\[<(?:0x)?[0-9a-fA-F]+>\]")


def symbolize_text(text, elf):
    lines = text.splitlines()
    ranges = code_ranges(elf)

    def is_code(a):
        return ranges is None or any(lo <= a < hi for lo, hi in ranges)

    # The first frame of a call trace is where the CPU was; the ones after
    # it are return addresses, which point past the call and may even land
    # in the next (inlined) statement.  One byte back is the call itself.
    lookups = []
    prev_frame = False
    for line in lines:
        frame = bool(FRAME_RE.match(line))
        bias = 1 if frame and prev_frame else 0
        prev_frame = frame
        lookups.append([(int(m.group(1), 16), bias) for m in ADDR_RE.finditer(line)])
    table = addr2line(elf, {a - b for row in lookups for a, b in row if is_code(a)})
    out = []
    for line, row in zip(lines, lookups):
        found = []
        distinct = {a for a, _ in row}
        for a, bias in row:
            if not is_code(a):
                continue
            desc = describe_frames(table.get(a - bias, []))
            if desc and (a, desc) not in found:
                found.append((a, desc))
        if len(found) == 1 and len(distinct) == 1:
            line += "    -> " + found[0][1]
        elif found:
            line += "    -> " + "; ".join("%x: %s" % f for f in found)
        out.append(line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Host checks

_kvm_lock = threading.Lock()
_kvm_state = None


def kvm_unusable_reason():
    """None when KVM can create a VM, else why not (probed once)."""
    global _kvm_state
    with _kvm_lock:
        if _kvm_state is None:
            _kvm_state = [_probe_kvm()]
        return _kvm_state[0]


def _probe_kvm():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "/dev/kvm: %s" % (e.strerror or e)
    try:
        version = fcntl.ioctl(fd, 0xAE00, 0)  # KVM_GET_API_VERSION
        if version != 12:
            return "/dev/kvm: unexpected API version %d" % version
        vm = fcntl.ioctl(fd, 0xAE01, 0)  # KVM_CREATE_VM
        if vm < 0:
            return "/dev/kvm: KVM_CREATE_VM failed"
        os.close(vm)
    except OSError as e:
        return "/dev/kvm: %s" % (e.strerror or e)
    finally:
        os.close(fd)
    return None


KVM_START_FAILURE_RE = re.compile(
    r"failed to initialize kvm|could not access kvm|kvm.*(?:not supported|permission denied|"
    r"no such file|unavailable)|requires kvm|-accel kvm", re.I)


def display_path(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


# --------------------------------------------------------------------------
# Running


class ProcessTable:
    """Every child the runner started, so that none outlives it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()
        self.stopping = False

    def spawn(self, cmd, **kw):
        with self.lock:
            if self.stopping:
                raise Interrupted()
            # setsid keeps a terminal Ctrl-C from reaching the child
            # directly, so that teardown happens in one place, and makes
            # the child a process group that can be killed whole (QEMU and
            # grub-mkrescue start helpers of their own).
            p = subprocess.Popen(cmd, start_new_session=True, **kw)
            self.procs.add(p)
            return p

    def release(self, p):
        with self.lock:
            self.procs.discard(p)

    @staticmethod
    def kill(p, grace=3.0):
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def kill_all(self):
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for p in procs:
            self.kill(p, grace=1.0)


class Job:
    def __init__(self, scn, seed, run_name):
        self.scn = scn
        self.seed = seed
        self.name = run_name


class RunResult:
    def __init__(self, job):
        self.job = job
        self.name = job.name
        self.scn = job.scn
        self.result = None
        self.reason = ""
        self.verdict = None
        self.why = ""
        self.seconds = 0.0
        self.status = None
        self.dir = None
        self.log = None
        self.sym_log = None
        self.problems = []
        self.detect = None


def build_cmdline(scn, seed):
    parts = [scn.cmdline] if scn.cmdline else []
    parts.append("exit=qemu")
    if seed is not None:
        parts.append("seed=%d" % seed)
    return " ".join(parts)


# all_video as in boot/grub.cfg: the kernel gets a framebuffer where the
# firmware has one (OVMF always does), so runs exercise the screen console
# as a user's boot does.
GRUB_CFG = """set timeout=0
set default=0
insmod all_video
menuentry "mmtorture" {
    multiboot2 /boot/mmtorture.elf %s
    boot
    # Reached only if GRUB could not load or start the kernel: end QEMU
    # (isa-debug-exit) or, where there is no such device, power off (ACPI).
    outb 0xf4 0x70
    halt
}
"""


def make_boot_iso(procs, elf, run_dir, cmdline, log=lambda msg: None):
    """Make run_dir/boot.iso: GRUB booting elf with cmdline (GRUB_CFG).

    The tree it is made from is left in run_dir/iso.  grub-mkrescue runs
    under procs (a ProcessTable).  Returns (iso_root, iso, rc, output):
    rc is grub-mkrescue's status (0, a number or "timeout") and output
    what it printed.  Raises Interrupted if procs is being torn down.
    """
    iso_root = os.path.join(run_dir, "iso")
    os.makedirs(os.path.join(iso_root, "boot", "grub"))
    shutil.copyfile(elf, os.path.join(iso_root, "boot", "mmtorture.elf"))
    with open(os.path.join(iso_root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write(GRUB_CFG % cmdline)

    iso = os.path.join(run_dir, "boot.iso")
    # xorriso (under grub-mkrescue) has been seen to crash now and then
    # on this host with nothing wrong in its input; a host tool's crash
    # says nothing about the kernel, so it gets two more tries.
    for attempt in range(3):
        with open(os.path.join(run_dir, "grub-mkrescue.log"), "w+") as glog:
            p = procs.spawn(["grub-mkrescue", "-o", iso, iso_root],
                            stdin=subprocess.DEVNULL, stdout=glog, stderr=subprocess.STDOUT)
            try:
                rc = p.wait(timeout=300)
            except subprocess.TimeoutExpired:
                procs.kill(p)
                rc = "timeout"
            finally:
                procs.release(p)
            glog.seek(0)
            gout = glog.read()
        if (rc == 0 and os.path.exists(iso)) or procs.stopping:
            break
        log("grub-mkrescue failed (%s), attempt %d of 3" % (rc, attempt + 1))
    if procs.stopping:
        raise Interrupted()
    return iso_root, iso, rc, gout


def uses_icount(scn):
    return any(a in ("-icount", "--icount") or a.startswith(("-icount=", "--icount="))
               for a in scn.qemu_extra)


def qemu_command(scn, run_dir, iso, vars_copy):
    if scn.accel == "kvm":
        accel = ["-accel", "kvm"]
    elif uses_icount(scn):
        # QEMU refuses -icount with multi-threaded TCG ("No MTTCG when
        # icount is enabled"); one thread runs every vCPU in turn.
        accel = ["-accel", "tcg,thread=single"]
    else:
        accel = ["-accel", "tcg,thread=multi"]
    machine = scn.machine + ("," + scn.machine_opts if scn.machine_opts else "")
    log = os.path.join(run_dir, "serial.log")
    if scn.serial == "com1":
        serial = ["-serial", "file:" + log]
    else:
        # No COM1 device at all (the port reads 0xff); the log's UART at
        # 0x2f8 is isa-serial index 1.
        serial = ["-serial", "none", "-chardev", "file,id=log,path=" + log,
                  "-device", "isa-serial,index=1,chardev=log"]
    cmd = [QEMU, "-machine", machine] + accel + [
        "-cpu", scn.cpu, "-smp", scn.smp, "-m", scn.memory,
        "-display", "none", "-monitor", "none"] + serial + [
        "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-cdrom", iso, "-boot", "d",
    ]
    if scn.firmware == "uefi":
        cmd += ["-drive", "if=pflash,format=raw,readonly=on,file=" + OVMF_CODE,
                "-drive", "if=pflash,format=raw,file=" + vars_copy]
    if scn.spcr:
        cmd += ["-acpitable", "file=" + os.path.join(run_dir, "spcr.bin")]
    return cmd + list(scn.qemu_extra)


def write_acpi_tables(scn, run_dir):
    """The table blobs that qemu_command() points -acpitable at."""
    if scn.spcr:
        mk = _mkspcr()
        with open(os.path.join(run_dir, "spcr.bin"), "wb") as f:
            f.write(mk.build_spcr(mk.parse_spec(scn.spcr)))


def _tail(path, n):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class Runner:
    def __init__(self, opts, procs):
        self.opts = opts
        self.procs = procs

    def log(self, msg):
        if self.opts.verbose:
            # Workers must not interleave with the main thread's lines.
            with _print_lock:
                print(msg, flush=True)

    def run(self, job):
        res = RunResult(job)
        scn = job.scn
        if scn.accel == "kvm":
            why = kvm_unusable_reason()
            if why:
                res.result, res.reason = SKIP, why
                res.verdict = SKIPPED
                return res

        run_dir = os.path.join(self.opts.out, job.name)
        res.dir = run_dir
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.monotonic()
        iso_root, iso, rc, gout = make_boot_iso(self.procs, self.opts.elf, run_dir,
                                                build_cmdline(scn, job.seed),
                                                lambda m: self.log("  %s: %s" % (job.name, m)))
        self.log("  %s: grub-mkrescue took %.1f s" % (job.name, time.monotonic() - t0))
        if rc != 0 or not os.path.exists(iso):
            res.result = HOSTERR
            res.reason = "grub-mkrescue failed (%s)" % rc
            res.problems = ["grub-mkrescue: " + l for l in gout.strip().splitlines()[-8:]]
            res.verdict, res.why = FAILED, res.reason
            self._write_record(res)
            return res

        vars_copy = None
        if scn.firmware == "uefi":
            vars_copy = os.path.join(run_dir, "OVMF_VARS.fd")
            shutil.copyfile(OVMF_VARS, vars_copy)
        write_acpi_tables(scn, run_dir)
        cmd = qemu_command(scn, os.path.abspath(run_dir), os.path.abspath(iso),
                           vars_copy and os.path.abspath(vars_copy))
        with open(os.path.join(run_dir, "cmd.txt"), "w") as f:
            f.write(shlex.join(cmd) + "\n")
        self.log("  %s: %s" % (job.name, shlex.join(cmd)))

        serial = os.path.join(run_dir, "serial.log")
        stderr_path = os.path.join(run_dir, "qemu.stderr")
        res.log = serial
        timed_out = False
        with open(stderr_path, "w") as qerr:
            t0 = time.monotonic()
            try:
                p = self.procs.spawn(cmd, stdin=subprocess.DEVNULL, stdout=qerr, stderr=qerr)
            except OSError as e:
                res.result, res.reason = HOSTERR, "cannot start %s: %s" % (QEMU, e)
                res.verdict, res.why = FAILED, res.reason
                return res
            try:
                status = p.wait(timeout=scn.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.procs.kill(p)
                status = p.returncode
            finally:
                self.procs.release(p)
            res.seconds = time.monotonic() - t0
        if self.procs.stopping:
            raise Interrupted()
        res.status = status

        text = _read(serial)
        rep = parse_ktap(text)
        qstderr = _read(stderr_path)
        if timed_out:
            res.result = TIMEOUT
            last = [l for l in text.splitlines() if l.strip()][-1:]
            res.reason = "no exit after %g s" % scn.timeout
            if last:
                res.reason += "; last line: %s" % ANSI_RE.sub("", last[0]).strip()[:100]
        elif (scn.accel == "kvm" and status not in (STATUS_SUCCESS, STATUS_FAILURE, STATUS_ERROR, STATUS_PANIC)
              and KVM_START_FAILURE_RE.search(qstderr)):
            res.result = SKIP
            res.reason = "QEMU could not use KVM: " + next(
                l.strip() for l in qstderr.splitlines() if KVM_START_FAILURE_RE.search(l))
        elif status == 1 and not text.strip() and qstderr.strip():
            # isa-debug-exit cannot be what produced this: nothing ran.
            res.result = HOSTERR
            res.reason = "QEMU refused to start: " + qstderr.strip().splitlines()[0]
        else:
            res.result, res.reason = classify(status, rep)

        res.verdict, res.why = verdict(scn, res.result, ANSI_RE.sub("", text), res.reason)
        if res.verdict != FAILED and not self.opts.keep_iso:
            # ~20 MB per run adds up quickly with --seeds; a run that went
            # as expected is not going to be rebooted by hand.
            shutil.rmtree(iso_root, ignore_errors=True)
            os.unlink(iso)
        if res.verdict == SKIPPED:
            self._write_record(res)
            return res
        if rep.detects:
            res.detect = rep.detects[0][1]
        if res.verdict == FAILED:
            res.problems = rep.problem_lines(6)
        if (res.verdict == FAILED or res.result == PANIC) and text:
            res.sym_log = os.path.join(run_dir, "serial.sym.log")
            with open(res.sym_log, "w") as f:
                f.write(symbolize_text(text, self.opts.elf))
            if res.result == PANIC:
                frames = [l for l in _read(res.sym_log).splitlines() if "->" in l and "[<" in l]
                res.problems = res.problems[:2] + [f.strip() for f in frames[:2]]
        self._write_record(res)
        return res

    @staticmethod
    def _write_record(res):
        record = {
            "name": res.name, "scenario": res.scn.name, "seed": res.job.seed,
            "expect": res.scn.expect, "result": res.result, "reason": res.reason,
            "verdict": res.verdict, "why": res.why, "status": res.status,
            "seconds": round(res.seconds, 3), "detect_seconds": res.detect,
        }
        try:
            with open(os.path.join(res.dir, "result.json"), "w") as f:
                json.dump(record, f, indent=1)
                f.write("\n")
        except OSError:
            pass


_print_lock = threading.Lock()


def run_all(jobs, opts):
    procs = ProcessTable()
    runner = Runner(opts, procs)
    # Longest timeouts first: a 300 s scenario started last would otherwise
    # dominate the wall time of the whole run.
    pending = queue.Queue()
    for job in sorted(jobs, key=lambda j: (-j.scn.timeout, j.scn.firmware != "uefi", j.name)):
        pending.put(job)
    done = queue.Queue()
    halt = threading.Event()

    def worker():
        while not halt.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                res = runner.run(job)
            except Interrupted:
                return
            except Exception as e:  # keep the pool alive; report as host error
                with _print_lock:
                    traceback.print_exc()
                res = RunResult(job)
                res.result, res.reason = HOSTERR, "runner: %s: %s" % (type(e).__name__, e)
                res.verdict, res.why = FAILED, res.reason
            if res.verdict == FAILED and not opts.keep_going:
                # Set before reporting, so that no worker picks up another
                # job in the meantime.
                halt.set()
            done.put(res)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(opts.jobs, len(jobs)))]
    for t in threads:
        t.start()

    results = []
    width = len(str(len(jobs)))
    try:
        while len(results) < len(jobs):
            try:
                res = done.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    break
                continue
            results.append(res)
            note = ""
            if res.verdict == SKIPPED:
                note = "  skipped: " + res.reason
            elif res.verdict == FAILED:
                note = "  UNEXPECTED (%s)" % res.why
            with _print_lock:
                print("[%*d/%d] %-7s %s  (%.1f s)%s" % (width, len(results), len(jobs), res.result,
                                                       res.name, res.seconds, note), flush=True)
    except KeyboardInterrupt:
        halt.set()
        procs.kill_all()
        for t in threads:
            t.join(timeout=15)
        raise

    finished = {r.name for r in results}
    for job in jobs:
        if job.name not in finished:
            res = RunResult(job)
            res.result, res.verdict = "-", SKIPPED
            res.reason = "not run: stopped after the first failure (use --keep-going)"
            results.append(res)
    return results


# --------------------------------------------------------------------------
# Reporting


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
            if r.sym_log:
                print("    symbolized: " + display_path(r.sym_log))
        elif r.verdict == SKIPPED and r.reason:
            print("    " + r.reason)
        elif r.result == PANIC and r.sym_log:
            print("    symbolized: " + display_path(r.sym_log))


def print_failed_logs(results):
    for r in results:
        if r.verdict != FAILED or not r.dir:
            continue
        for path in (r.sym_log or r.log, os.path.join(r.dir, "qemu.stderr")):
            if not path:
                continue
            lines = _tail(path, CI_LOG_TAIL)
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
    return line, failed


def list_scenarios(scenarios):
    rows = [(s.name, ",".join(s.groups), s.expect, s.description) for s in scenarios]
    head = ("name", "groups", "expect", "description")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    for r in [head] + rows:
        print(("%-*s  %-*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], r[3])).rstrip())


# --------------------------------------------------------------------------
# Self-test

SAMPLE_FAILING = """\
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot exit=qemu
# cpus: 4 online, apic ids: 0,1,2,3
# features: nx smep
# seed: 12345
1..2
    KTAP version 1
    # Subtest: boot
    1..3
    ok 1 cpus_online
    not ok 2 ipi_all # timed out waiting for cpu 3
    # some diagnostic
    ok 3 all_to_all # SKIP needs 8 cpus
not ok 1 boot
ok 2 exceptions
# Totals: pass:5 fail:1 skip:1 error:0
--- End of test: FAILURE
"""

SAMPLE_DEEP_PASS = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..2
        KTAP version 1
        # Subtest: orders
        1..2
        ok 1 order0
        ok 2 order9
    ok 1 orders
    ok 2 free_all
ok 1 page_alloc
# Totals: pass:3 fail:0 skip:0 error:0
--- End of test: SUCCESS
"""

SAMPLE_BAIL = """\
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot bogus=1 exit=qemu
Bail out! unknown option: bogus=1
--- End of test: FAILURE
"""

SAMPLE_PANIC = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..4
    ok 1 alloc_free
PANIC: page fault at ffffffff80123456 (cr2=0000000000000008)
RIP: 0xffffffff80123456 RSP: ffffffff80200f80
Backtrace:
    [<ffffffff80101234>] page_free+0x34
    [<ffffffff80100010>] kmain+0x10
"""

# The kernel's own panic path: dump, other CPUs, then it closes the KTAP
# structure with unnumbered results and a FAILURE sentinel.
SAMPLE_PANIC_CLOSED = """\
KTAP version 1
1..2
ok 1 boot
    KTAP version 1
    # Subtest: page_alloc
    1..3
    ok 1 alloc_free
PANIC: cpu 1: list corruption in free_pages
  Call trace:
    [<ffffffff80104a10>] free_pages+0x40
    [<ffffffff80100200>] kmain+0x20
# cpu 0 (apic id 0) backtrace:
    [<ffffffff80102000>] cpu_relax_loop+0x0
    not ok torture # panic: list corruption in free_pages
not ok 2 page_alloc
# Totals: pass:2 fail:1 skip:0 error:0
--- End of test: FAILURE
"""

SAMPLE_NOISE = (
    "\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001 \"UEFI QEMU DVD-ROM\"\r\n"
    "BdsDxe: starting Boot0001\r\n"
    "\x1b[0m\x1b[37m\x1b[40mKTAP version 1\r\n"
    "1..1\r\n"
    "    KTAP version 1\r\n"
    "    # Subtest: timer\r\n"
    "    1..1\r\n"
    "    ok 1 tick\r\n"
    "ok 1 timer\r\n"
    "--- End of test: SUCCESS\r\n"
)

SAMPLE_ERROR_CASE = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: boot
    1..2
    ok 1 cpus_online
    not ok 2 hpet # ERROR no HPET in ACPI tables
not ok 1 boot
--- End of test: FAILURE
"""

SAMPLE_TRUNCATED = """\
KTAP version 1
1..2
ok 1 boot
--- End of test: SUCCESS
"""

SAMPLE_SUBTEST_FIRST = """\
KTAP version 1
1..2
    # Subtest: timer
    KTAP version 1
    1..1
    ok 1 tick
ok 1 timer
    # Subtest: old_style
    1..1
    ok 1 a
ok 2 old_style
--- End of test: SUCCESS
"""

SAMPLE_DETECT = """\
KTAP version 1
# seed: 7
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..1
    # running 4 threads
    # error page_double_free: pfn 0x1234 freed twice
    # detect: page_double_free after 2.75 s
    not ok 1 torture # double free of pfn 0x1234
not ok 1 page_alloc
--- End of test: FAILURE
"""


def _selftests():
    tests = []

    def test(fn):
        tests.append(fn)
        return fn

    @test
    def nested_failure():
        rep = parse_ktap(SAMPLE_FAILING)
        assert rep.found and rep.version == 1
        assert rep.sentinel == "FAILURE"
        assert rep.seed == 12345
        assert [r.path for r in rep.failures()] == ["boot/ipi_all"], [r.path for r in rep.failures()]
        assert rep.failures()[0].comment == "timed out waiting for cpu 3"
        assert rep.counts() == {"pass": 2, "fail": 1, "skip": 1, "error": 0}, rep.counts()
        assert rep.totals == {"pass": 5, "fail": 1, "skip": 1, "error": 0}
        assert rep.anomalies == [], rep.anomalies
        assert classify(35, rep) == (FAIL, "not ok boot/ipi_all # timed out waiting for cpu 3")
        assert classify(33, rep)[0] == CRASH
        skip = [r for r in rep.walk() if r.name == "all_to_all"][0]
        assert skip.status == "skip" and skip.reason == "needs 8 cpus"

    @test
    def three_levels_pass():
        rep = parse_ktap(SAMPLE_DEEP_PASS)
        assert [r.path for r in rep.walk()] == [
            "page_alloc", "page_alloc/orders", "page_alloc/orders/order0",
            "page_alloc/orders/order9", "page_alloc/free_all"], [r.path for r in rep.walk()]
        assert rep.failures() == [] and rep.anomalies == []
        assert classify(33, rep) == (PASS, "")
        assert classify(35, rep)[0] == CRASH

    @test
    def bail_out():
        rep = parse_ktap(SAMPLE_BAIL)
        assert rep.bails and rep.bails[0][1] == "unknown option: bogus=1"
        assert rep.anomalies == [], rep.anomalies
        res, why = classify(37, rep)
        assert res == ERROR and why == "Bail out! unknown option: bogus=1", why
        scn = parse_scenario("x", "expect = error\nexpect_log = Bail out!.*bogus\n")
        assert verdict(scn, res, SAMPLE_BAIL) == (OK, "")
        scn = parse_scenario("x", "expect = error\nexpect_log = nomatch\n")
        assert verdict(scn, res, SAMPLE_BAIL)[0] == FAILED

    @test
    def panic_without_sentinel():
        rep = parse_ktap(SAMPLE_PANIC)
        assert rep.sentinel is None
        assert rep.panic[0].startswith("PANIC: page fault")
        assert len(rep.panic) == 5, rep.panic
        assert classify(39, rep) == (PANIC, rep.panic[0])
        assert classify(0, rep)[0] == CRASH and "PANIC" in classify(0, rep)[1]
        # Not a pass even though nothing said 'not ok'.
        assert classify(33, rep)[0] == CRASH
        found = [m.group(1) for m in ADDR_RE.finditer(SAMPLE_PANIC)]
        assert found == ["ffffffff80123456", "ffffffff80123456", "ffffffff80200f80",
                         "ffffffff80101234", "ffffffff80100010"], found
        assert not ADDR_RE.search("0000ffffffff80123456") and not ADDR_RE.search("xffffffff80123456")

    @test
    def panic_then_closed():
        rep = parse_ktap(SAMPLE_PANIC_CLOSED)
        assert rep.sentinel == "FAILURE"
        assert rep.panic[0] == "PANIC: cpu 1: list corruption in free_pages"
        assert [r.path for r in rep.failures()] == ["page_alloc/torture"], [r.path for r in rep.failures()]
        assert rep.failures()[0].number is None
        assert rep.problem_lines() == ["PANIC: cpu 1: list corruption in free_pages",
                                       "not ok page_alloc/torture # panic: list corruption in free_pages"], \
            rep.problem_lines()
        assert classify(39, rep) == (PANIC, "PANIC: cpu 1: list corruption in free_pages")
        assert classify(35, rep)[0] == FAIL

    @test
    def firmware_noise():
        rep = parse_ktap(SAMPLE_NOISE)
        assert rep.found and rep.sentinel == "SUCCESS"
        assert [r.path for r in rep.walk()] == ["timer", "timer/tick"]
        assert classify(33, rep) == (PASS, "")

    @test
    def error_directive():
        rep = parse_ktap(SAMPLE_ERROR_CASE)
        f = rep.failures()
        assert [r.path for r in f] == ["boot/hpet"] and f[0].status == "error"
        assert rep.problem_lines() == ["not ok boot/hpet # ERROR no HPET in ACPI tables"], rep.problem_lines()
        assert classify(37, rep)[0] == ERROR

    @test
    def subtest_header_orders():
        rep = parse_ktap(SAMPLE_SUBTEST_FIRST)
        assert [r.path for r in rep.walk()] == ["timer", "timer/tick", "old_style", "old_style/a"], \
            [r.path for r in rep.walk()]
        assert rep.top.results[0].sub.name == "timer" and rep.anomalies == [], rep.anomalies
        assert classify(33, rep) == (PASS, "")

    @test
    def missing_results():
        rep = parse_ktap(SAMPLE_TRUNCATED)
        assert rep.anomalies == ["top level planned 2 tests, reported 1"], rep.anomalies
        assert classify(33, rep)[0] == CRASH

    @test
    def detect_time():
        rep = parse_ktap(SAMPLE_DETECT)
        assert rep.detects == [("page_double_free", 2.75)]
        assert rep.problem_lines() == ["not ok page_alloc/torture # double free of pfn 0x1234",
                                       "  # error page_double_free: pfn 0x1234 freed twice"], rep.problem_lines()
        assert rep.seed == 7
        scn = parse_scenario("x", "expect = fail\nexpect_log = page_double_free|double free\n")
        assert verdict(scn, classify(35, rep)[0], SAMPLE_DETECT) == (OK, "")

    @test
    def no_ktap_at_all():
        rep = parse_ktap("SeaBIOS (version 1.16)\nBooting from DVD/CD...\n")
        assert not rep.found
        assert classify(33, rep)[0] == CRASH
        assert classify(0, rep)[0] == CRASH
        assert classify(-9, rep) == (CRASH, "QEMU killed by signal 9")
        assert "GRUB could not load" in classify(STATUS_GRUB_FAILED, rep)[1]

    @test
    def scenario_files():
        scn = parse_scenario("s", (
            "# full-line comment\n"
            "machine = q35   # trailing\n"
            "smp = 6,sockets=2,cores=3\n"
            "cmdline = tests=boot  inject=x\n"
            "description = issue#12 is kept   # but this is not\n"
            "expect_log = \"ok 1 x # SKIP\"  # quoted keeps ' #'\n"
            "groups = default kvm\n"
            "timeout = 300\n"
            "qemu_extra = -d int -D '/tmp/a b.log'\n"))
        assert scn.machine == "q35" and scn.smp == "6,sockets=2,cores=3"
        assert scn.cmdline == "tests=boot inject=x", scn.cmdline
        assert scn.description == "issue#12 is kept", scn.description
        assert scn.expect_log == "ok 1 x # SKIP"
        assert scn.groups == ["default", "kvm"] and scn.timeout == 300.0
        assert scn.qemu_extra == ["-d", "int", "-D", "/tmp/a b.log"]
        assert scn.firmware == "bios" and scn.memory == "256M" and scn.expect == "pass"
        assert build_cmdline(scn, None) == "tests=boot inject=x exit=qemu"
        assert build_cmdline(parse_scenario("t", ""), 4) == "exit=qemu seed=4"
        for bad, msg in (("colour = red\n", "f.scn:1: unknown key 'colour'"),
                         ("\nmachine = pcx\n", "f.scn:2: machine: must be one of"),
                         ("timeout = -1\n", "f.scn:1: timeout"),
                         ("smp = four\n", "f.scn:1: smp"),
                         ("cmdline = a;b\n", "f.scn:1: cmdline"),
                         ("description = 'open\n", "f.scn:1: unterminated quote"),
                         ("expect_log = (\n", "f.scn:1: expect_log"),
                         ("machine = pc\nmachine = q35\n", "f.scn:2: 'machine' already set"),
                         ("just words\n", "f.scn:1: expected 'key = value'")):
            try:
                parse_scenario("f", bad, "f.scn")
            except UsageError as e:
                assert str(e).startswith(msg), (str(e), msg)
            else:
                raise AssertionError("accepted: %r" % bad)

    @test
    def icount_single_thread():
        def accel(text):
            cmd = qemu_command(parse_scenario("i", text), "/r", "/r/boot.iso", None)
            return cmd[cmd.index("-accel") + 1]
        assert accel("") == "tcg,thread=multi"
        assert accel("qemu_extra = -icount shift=0\n") == "tcg,thread=single"
        assert accel("accel = kvm\n") == "kvm"

    @test
    def serial_spcr_machine_opts():
        scn = parse_scenario("c2", "machine = q35\nmachine_opts = kernel-irqchip=split\n"
                             "serial = com2\nspcr = io:0x2f8,baud=9600\n")
        cmd = qemu_command(scn, "/r", "/r/boot.iso", None)
        assert cmd[cmd.index("-machine") + 1] == "q35,kernel-irqchip=split"
        assert cmd[cmd.index("-serial") + 1] == "none"
        assert "isa-serial,index=1,chardev=log" in cmd
        assert cmd[cmd.index("-acpitable") + 1] == "file=/r/spcr.bin"
        plain = qemu_command(parse_scenario("c1", ""), "/r", "/r/boot.iso", None)
        assert plain[plain.index("-serial") + 1] == "file:/r/serial.log"
        assert "-acpitable" not in plain
        table = _mkspcr().build_spcr(_mkspcr().parse_spec(scn.spcr))
        assert table[:4] == b"SPCR" and len(table) == 80 and sum(table) & 0xff == 0
        assert table[40:42] == bytes([1, 8]) and table[58] == 3
        for bad in ("spcr = com2\n", "spcr = io:0x2f8,baud=1234\n", "serial = com3\n",
                    "machine_opts = a b\n"):
            try:
                parse_scenario("f", bad, "f.scn")
            except UsageError:
                pass
            else:
                raise AssertionError("accepted: %r" % bad)

    @test
    def selection():
        a = parse_scenario("a", "")
        b = parse_scenario("b-soak", "groups = soak\n")
        c = parse_scenario("c-kvm", "groups = default kvm\n")
        names = lambda l: [s.name for s in l]
        assert names(select_scenarios([a, b, c], [], [])) == ["a", "c-kvm"]
        assert names(select_scenarios([a, b, c], [], ["b-*"])) == ["b-soak"]
        assert names(select_scenarios([a, b, c], ["kvm"], ["a"])) == ["a", "c-kvm"]
        assert names(select_scenarios([a, b, c], ["nothing"], [])) == []
        try:
            select_scenarios([a], [], ["zzz"])
        except UsageError:
            pass
        else:
            raise AssertionError("unknown name accepted")

    @test
    def source_paths():
        assert _short_path("boot//boot/trampoline.asm:110") == "boot/trampoline.asm:110"
        assert _short_path("/x/y/arch/x86//arch/x86/isr.asm:59") == "/x/y/arch/x86/isr.asm:59"
        assert _short_path(ROOT + "/./arch/x86/cpu.h:125") == "arch/x86/cpu.h:125"
        assert _short_path("??:0") == "??:0"

    @test
    def percentiles():
        v = sorted([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0])
        assert percentile(v, 90) == 9.0 and percentile(v, 100) == 10.0 and percentile([3.0], 90) == 3.0

    passed = failed = 0
    for fn in tests:
        try:
            fn()
        except Exception as e:
            failed += 1
            print("not ok %s: %s: %s" % (fn.__name__, type(e).__name__, e))
        else:
            passed += 1
            print("ok %s" % fn.__name__)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


# --------------------------------------------------------------------------
# Command line


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
    ap.add_argument("--selftest", action="store_true", help="test the log parser and exit")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show commands and timings; print failing logs")
    opts = ap.parse_args(argv)
    if opts.jobs < 1:
        ap.error("--jobs must be at least 1")
    if opts.seeds is not None and opts.seeds < 1:
        ap.error("--seeds must be at least 1")
    return opts


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt()


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.selftest:
        return _selftests()
    try:
        scenarios = load_scenarios(opts.scenario_dir)
        if opts.list:
            chosen = select_scenarios(scenarios, opts.group, opts.names) if (opts.group or opts.names) else scenarios
            list_scenarios(chosen)
            return 0
        chosen = select_scenarios(scenarios, opts.group, opts.names)
        if not chosen:
            raise UsageError("no scenario selected (groups: %s)" % ", ".join(opts.group or ["default"]))
        if not os.path.isfile(opts.elf):
            raise UsageError("%s does not exist; build it first (make)" % display_path(opts.elf))
        if "," in os.path.abspath(opts.out):
            raise UsageError("--out must not contain ',' (QEMU option syntax)")
        for tool in ("grub-mkrescue", QEMU):
            if shutil.which(tool) is None:
                raise UsageError("%s not found; run tools/deps.sh" % tool)
        check = subprocess.run(["grub-file", "--is-x86-multiboot2", opts.elf],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check.returncode != 0:
            raise UsageError("%s is not a multiboot2 kernel (grub-file --is-x86-multiboot2)" % display_path(opts.elf))
    except UsageError as e:
        print("runner: error: %s" % e, file=sys.stderr)
        return 2

    opts.elf = os.path.abspath(opts.elf)
    opts.out = os.path.abspath(opts.out)
    os.makedirs(opts.out, exist_ok=True)

    seeded = opts.seeds is not None or opts.seed_base is not None
    if seeded:
        base = 1 if opts.seed_base is None else opts.seed_base
        count = opts.seeds or 1
        jobs = [Job(s, seed, "%s-seed%d" % (s.name, seed))
                for s in chosen for seed in range(base, base + count)]
        if count > 1:
            opts.keep_going = True
    else:
        jobs = [Job(s, None, s.name) for s in chosen]

    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
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
    line, failed = summary_line(results)
    print()
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
