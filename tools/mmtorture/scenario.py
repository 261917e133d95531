"""Scenario files: tests/scenarios/NAME.scn, one machine and one kernel
command line each.

    # comment
    key = value        # a comment after whitespace
    key = "value # with a hash"

Every key is checked when the file is read (SCENARIO_KEYS), so a typo
fails `runner.py --list` rather than a run.
"""

import fnmatch
import math
import os
import re
import shlex

from .common import UsageError, display_path, mkspcr
from .emulators import EMULATORS, emulator_for

# Scenario and group names.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# GRUB's config lexer gives these a meaning of their own; refusing them keeps
# what the kernel receives identical to what the scenario says.
GRUB_SPECIAL = set("$;{}'\"\\|&<>#`\t")


class Scenario:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.emulator = "qemu"
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
        self.boot = "cdrom"
        self.needs = ""


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError("must be one of: " + ", ".join(allowed))
        return value
    return check


def _pattern(pattern, what):
    regex = re.compile(pattern)

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
        if not NAME_RE.match(n):
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


def _spcr(value):
    mk = mkspcr()
    try:
        mk.parse_spec(value)
    except mk.SpecError as e:
        raise ValueError(str(e))
    return value


SCENARIO_KEYS = {
    # Which emulator boots it (emulators/: one module each).
    "emulator": _choice(*sorted(EMULATORS)),
    "machine": _choice("pc", "q35"),
    # Properties appended to -machine: "kernel-irqchip=split" gives
    # "-machine q35,kernel-irqchip=split".
    "machine_opts": _pattern(r"^[a-z0-9_-]+=[A-Za-z0-9_.-]+(?:,[a-z0-9_-]+=[A-Za-z0-9_.-]+)*$",
                             "list of machine properties"),
    # Which serial port carries the log: com1, or com2 with no COM1 at all
    # (the kernel must find COM2 through an SPCR table to print anything).
    "serial": _choice("com1", "com2"),
    # An ACPI SPCR table for the guest (tools/mkspcr.py), e.g. io:0x2f8.
    "spcr": _spcr,
    "firmware": _choice("bios", "uefi"),
    # What the firmware boots: the run's GRUB ISO (cdrom), or GRUB's network
    # image from `make netboot` over the emulator's TFTP server (net).
    "boot": _choice("cdrom", "net"),
    # What the emulator must offer beyond QEMU 7.2: tcg-x2apic boots with
    # a QEMU whose TCG has x2APIC (the runner finds one or skips the run).
    "needs": _choice("tcg-x2apic"),
    "cpu": _pattern(r"^[A-Za-z0-9][A-Za-z0-9_.+,=-]*$", "-cpu model"),
    "smp": _pattern(r"^(?:[1-9][0-9]*|cpus=[1-9][0-9]*)(?:,[a-z_-]+=[0-9]+)*$", "-smp argument"),
    "memory": _pattern(r"^(?:size=)?[1-9][0-9]*[KMGTkmgt]?(?:,[a-z_-]+=[0-9A-Za-z]+)*$", "-m argument"),
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
    if not NAME_RE.match(name):
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
    try:
        emulator_for(scn).check(scn)
    except ValueError as e:
        raise UsageError("%s: emulator %s: %s" % (path, scn.emulator, e))
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
