"""Bochs: a second, independent x86 implementation (per-CPU direct-mapped
TLBs that keep global entries across CR3 loads, INVPCID, CPU models from
Core 2 to Tiger Lake and Ryzen) whose CPUs interleave deterministically.

The machine is tools/bochs/bochsrc.in, filled in per run.  Bochs has no
isa-debug-exit: the kernel is booted with exit=poweroff, prints its exit
code (`# powering off (exit code 0x10)`) and powers off through ACPI S5,
which ends the simulation.  The verdict is read from the log: that code
stands for QEMU's status code * 2 + 1 and is classified the same way.
Bochs's own exit status is 1 for every power off and says nothing.

With `clock: sync=none` emulated time follows the instruction count, so a
run with the same seed and configuration repeats exactly: same log, same
detection at the same emulated time.
"""

import copy
import fcntl
import os
import re
import struct
import termios
import threading

from ..common import ROOT
from ..ktap import CRASH, classify
from .base import Emulator

BOCHS = "bochs-bin"
TEMPLATE = os.path.join(ROOT, "tools", "bochs", "bochsrc.in")
PLUGINS = "/usr/lib/x86_64-linux-gnu/bochs/plugins"

# Emulated instructions per emulated second on each CPU, and so the rate
# at which its TSC ticks: a 10 s torture suite is 500 million
# instructions on each CPU.
IPS = 50000000

# The kernel's last word before it halts, reboots or powers off.
EXIT_CODE_RE = re.compile(r"\(exit code 0x([0-9a-fA-F]+)\)")
# Bochs's stderr when the simulation ends by itself (power off, a panic,
# a triple fault with reset_on_triple_fault=0).
LAST_WORDS_RE = re.compile(r"Bochs is exiting with the following message:\s*\n(.*)")
MEMORY_RE = re.compile(r"^(?:size=)?([1-9][0-9]*)([MG]?)$", re.I)
SMP_RE = re.compile(r"^(?:cpus=)?([1-9][0-9]*)$")

# CPU models this project runs (bochs-bin -help cpu lists all).
DEFAULT_CPU = "corei7_icelake_u"


def fill_template(text, fields):
    """Replace every @NAME@ in text; a field left unfilled is an error."""
    def sub(m):
        if m.group(1) not in fields:
            raise KeyError("bochsrc.in: no value for @%s@" % m.group(1))
        return str(fields[m.group(1)])
    return re.sub(r"@([A-Z_]+)@", sub, text)


def kernel_exit_status(text):
    """The kernel's exit code as QEMU would report it (code * 2 + 1), or None."""
    codes = EXIT_CODE_RE.findall(text)
    return int(codes[-1], 16) * 2 + 1 if codes else None


def memory_mib(memory):
    m = MEMORY_RE.match(memory)
    if not m:
        raise ValueError("memory = %r: Bochs takes a size in MiB or GiB (512M, 2G)" % memory)
    return int(m.group(1)) * (1024 if m.group(2).upper() == "G" else 1)


def cpu_count(smp):
    m = SMP_RE.match(smp)
    if not m:
        raise ValueError("smp = %r: Bochs takes a CPU count only" % smp)
    return int(m.group(1))


def _drain(fd, keep_path, keep_bytes=65536):
    """Read the pseudo-terminal until Bochs closes it, so that its screen
    output never blocks it; the last keep_bytes go to keep_path."""
    tail = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        tail = (tail + chunk)[-keep_bytes:]
    with open(keep_path, "wb") as f:
        f.write(tail)


def adapt(scn, cpu=None):
    """A copy of scn (a QEMU scenario, say) that boots on Bochs: the same
    command line, CPU count and expectation; a Bochs CPU model (cpu, else
    the scenario's own if it is a Bochs one, else DEFAULT_CPU); BIOS, pc,
    COM1; a time limit for Bochs's pace."""
    b = copy.copy(scn)
    b.emulator = "bochs"
    b.cpu = cpu or (scn.cpu if scn.emulator == "bochs" else DEFAULT_CPU)
    b.smp = str(int(re.match(r"(?:cpus=)?([0-9]+)", scn.smp).group(1)))
    try:
        memory_mib(scn.memory)
    except ValueError:
        b.memory = "512M"
    b.machine, b.firmware, b.serial, b.accel, b.boot = "pc", "bios", "com1", "tcg", "cdrom"
    b.spcr, b.qemu_extra, b.machine_opts, b.needs = None, [], "", ""
    if scn.emulator != "bochs":
        b.timeout = max(scn.timeout * 20, 600.0)
    return b


class Bochs(Emulator):
    name = "bochs"
    tools = (BOCHS,)
    kernel_exit = "exit=poweroff"
    stderr_name = "bochs.stderr"

    def check(self, scn):
        memory_mib(scn.memory)
        cpu_count(scn.smp)
        if scn.cpu == "max":
            raise ValueError("cpu = max is QEMU's; name a Bochs model (bochs-bin -help cpu), e.g. "
                             + DEFAULT_CPU)
        for key, value, default in (("machine", scn.machine, "pc"), ("firmware", scn.firmware, "bios"),
                                    ("serial", scn.serial, "com1"), ("accel", scn.accel, "tcg"),
                                    ("boot", scn.boot, "cdrom")):
            if value != default:
                raise ValueError("%s = %s: the Bochs machine has %s only" % (key, value, default))
        if scn.spcr or scn.qemu_extra or scn.machine_opts or scn.needs:
            raise ValueError("spcr, qemu_extra, machine_opts and needs are QEMU's")

    def prepare(self, scn, run_dir, iso):
        with open(TEMPLATE) as f:
            rc = fill_template(f.read(), {
                "CPU": scn.cpu, "CPUS": cpu_count(scn.smp), "MEGS": memory_mib(scn.memory),
                "IPS": IPS, "ISO": os.path.abspath(iso),
                "SERIAL": os.path.abspath(self.serial_log(run_dir)),
                "LOG": os.path.abspath(os.path.join(run_dir, "bochs.log")),
            })
        with open(os.path.join(run_dir, "bochsrc"), "w") as f:
            f.write(rc)
        # Debian's Bochs is built with its debugger, which stops before
        # the first instruction: continue, and leave if it stops again.
        with open(os.path.join(run_dir, "debugger.rc"), "w") as f:
            f.write("continue\nquit\n")
        return [BOCHS, "-q", "-f", "bochsrc", "-rc", "debugger.rc"]

    def start(self, procs, cmd, run_dir, err):
        """Bochs's term display needs a terminal: a fresh pseudo-terminal
        whose output a thread reads and drops (its tail is kept in
        screen.raw)."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 25, 80, 0, 0))
        env = dict(os.environ, TERM="vt100",
                   LTDL_LIBRARY_PATH=os.environ.get("LTDL_LIBRARY_PATH", PLUGINS))
        try:
            p = procs.spawn(cmd, cwd=run_dir, env=env, stdin=slave, stdout=slave, stderr=err)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        t = threading.Thread(target=_drain, args=(master, os.path.join(run_dir, "screen.raw")),
                             daemon=True)
        t.start()

        def cleanup():
            t.join(timeout=5)
            os.close(master)
        return p, cleanup

    def outcome(self, scn, status, rep, log, stderr):
        result, reason = classify(kernel_exit_status(log), rep)
        m = LAST_WORDS_RE.search(stderr)
        if result == CRASH and m:
            reason += "; Bochs: " + m.group(1).strip()
        return result, reason
