"""Kernel addresses in a log, turned into function names and source lines
with addr2line, for runs that went wrong."""

import os
import re
import struct
import subprocess

from .common import ROOT

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
