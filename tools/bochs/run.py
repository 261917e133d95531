#!/usr/bin/env python3
"""Boot mmtorture once under Bochs and give the KTAP verdict.

    tools/bochs/run.py [--cpu MODEL] [--cpus N] [--memory MIB] [--ips N]
                       [--timeout S] [--expect pass|fail|error|panic]
                       [--expect-log REGEX] [--name NAME] [CMDLINE ...]

The ISO is made the way tools/runner.py makes its own (make_boot_iso():
GRUB rescue image, one menu entry with the run's command line), with
exit=poweroff added: Bochs has no isa-debug-exit device, and it ends the
simulation when the guest powers off through ACPI (S5). The kernel prints
its exit code before it powers off (`# powering off (exit code 0x10)`),
so the verdict is read from the serial log: that code, the
`--- End of test:` line and the KTAP results, classified exactly as
tools/runner.py classifies a QEMU run (a code C stands for QEMU's status
C * 2 + 1). Bochs's own exit status is 1 for every power off and says
nothing.

The machine is tools/bochs/bochsrc.in; everything a run leaves is in
build/bochs/NAME/: serial.log (the kernel's log), bochs.log (Bochs's),
bochs.stderr (Bochs's last words), bochsrc, boot.iso (removed after a run
that went as expected, unless --keep-iso).

Exit status: 0 when the run ends as --expect says (default pass), 1 when
not, 2 for a usage or host problem.
"""

import argparse
import fcntl
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
import runner  # noqa: E402  (tools/ is put on the path just above)

ROOT = runner.ROOT
TEMPLATE = os.path.join(HERE, "bochsrc.in")
DEFAULT_OUT = os.path.join(ROOT, "build", "bochs")
BOCHS = "bochs-bin"

# The kernel's last word before it halts, reboots or powers off.
EXIT_CODE_RE = re.compile(r"\(exit code 0x([0-9a-fA-F]+)\)")
# What Bochs prints on stderr when the simulation ends by itself (the
# guest powered off, a panic, a triple fault with reset_on_triple_fault=0).
BOCHS_EXIT_RE = re.compile(r"Bochs is exiting with the following message:\s*\n(.*)")

# Emulated instructions per emulated second on each CPU, and so the rate
# at which the TSC ticks: a 10 s torture suite is 500 million instructions
# on each CPU at this rate. Larger values make emulated time pass more
# slowly for the same host time; smaller ones make timeouts expire after
# fewer instructions.
DEFAULT_IPS = 50000000


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


def bochs_last_words(stderr_text):
    m = BOCHS_EXIT_RE.search(stderr_text)
    return m.group(1).strip() if m else ""


def drain(fd, keep_path, keep_bytes=65536):
    """Read the pseudo-terminal until Bochs closes it, so that its curses
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


def start_bochs(procs, run_dir):
    """Start Bochs on a fresh pseudo-terminal (the term display library
    needs one); returns (process, drain thread, the terminal's master fd,
    which the caller closes)."""
    master, slave = os.openpty()
    # 80x25: the size of the text screen, so curses draws it as it is.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 25, 80, 0, 0))
    env = dict(os.environ, TERM="vt100")
    cmd = [BOCHS, "-q", "-f", "bochsrc", "-rc", "debugger.rc"]
    with open(os.path.join(run_dir, "cmd.txt"), "w") as f:
        f.write("cd %s && %s\n" % (shlex.quote(run_dir), shlex.join(cmd)))
    with open(os.path.join(run_dir, "bochs.stderr"), "w") as err:
        try:
            p = procs.spawn(cmd, cwd=run_dir, env=env, stdin=slave, stdout=slave, stderr=err)
        finally:
            os.close(slave)
    t = threading.Thread(target=drain, args=(master, os.path.join(run_dir, "screen.raw")), daemon=True)
    t.start()
    return p, t, master


def run(opts):
    procs = runner.ProcessTable()
    run_dir = os.path.join(opts.out, opts.name)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    cmdline = " ".join(opts.cmdline + ["exit=poweroff"])
    iso_root, iso, rc, gout = runner.make_boot_iso(procs, opts.elf, run_dir, cmdline)
    if rc != 0 or not os.path.exists(iso):
        print("bochs: grub-mkrescue failed (%s):\n%s" % (rc, gout), file=sys.stderr)
        return 2

    serial = os.path.join(run_dir, "serial.log")
    with open(TEMPLATE) as f:
        bochsrc = fill_template(f.read(), {
            "CPU": opts.cpu, "CPUS": opts.cpus, "MEGS": opts.memory, "IPS": opts.ips,
            "ISO": iso, "SERIAL": serial, "LOG": os.path.join(run_dir, "bochs.log"),
        })
    with open(os.path.join(run_dir, "bochsrc"), "w") as f:
        f.write(bochsrc)
    # Bochs is built with its debugger, which stops before the first
    # instruction: continue, and leave if it ever stops again.
    with open(os.path.join(run_dir, "debugger.rc"), "w") as f:
        f.write("continue\nquit\n")

    print("bochs: %s, %d CPUs, %d MiB, cmdline: %s" % (opts.cpu, opts.cpus, opts.memory, cmdline),
          flush=True)
    t0 = time.monotonic()
    p, drainer, master = start_bochs(procs, run_dir)
    timed_out = False
    try:
        try:
            status = p.wait(timeout=opts.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            procs.kill(p)
            status = p.returncode
    except KeyboardInterrupt:
        procs.kill(p)
        print("\nbochs: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.release(p)
        drainer.join(timeout=5)
        os.close(master)
    seconds = time.monotonic() - t0

    text = runner._read(serial)
    rep = runner.parse_ktap(text)
    last_words = bochs_last_words(runner._read(os.path.join(run_dir, "bochs.stderr")))
    if timed_out:
        result, reason = runner.TIMEOUT, "no power off after %g s" % opts.timeout
    else:
        result, reason = runner.classify(kernel_exit_status(text), rep)
        if result == runner.CRASH and last_words:
            reason += "; Bochs: " + last_words
    scn = runner.Scenario(opts.name, "<command line>")
    scn.expect, scn.expect_log = opts.expect, opts.expect_log or ""
    verdict, why = runner.verdict(scn, result, runner.ANSI_RE.sub("", text), reason)

    if verdict != runner.FAILED and not opts.keep_iso:
        shutil.rmtree(iso_root, ignore_errors=True)
        os.unlink(iso)
    print("bochs: %s %s (%.1f s; Bochs exit status %s%s)" % (
        result, opts.name, seconds, status, "; " + last_words if last_words else ""))
    if verdict == runner.FAILED:
        print("    " + why)
        for line in rep.problem_lines(6):
            if line not in why:
                print("    " + line)
    print("    log: " + runner.display_path(serial))
    return 1 if verdict == runner.FAILED else 0


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/bochs/run.py",
        description="Boot build/mmtorture.elf under Bochs once and check the KTAP verdict.")
    ap.add_argument("cmdline", nargs="*", metavar="OPTION",
                    help="kernel command line words (exit=poweroff is added)")
    ap.add_argument("--cpu", default="corei7_icelake_u",
                    help="Bochs CPU model (bochs -help cpu lists them; default corei7_icelake_u)")
    ap.add_argument("--cpus", type=int, default=4, help="CPU count (default 4)")
    ap.add_argument("--memory", type=int, default=512, metavar="MIB", help="memory in MiB (default 512)")
    ap.add_argument("--ips", type=int, default=DEFAULT_IPS,
                    help="emulated instructions per second and CPU, the TSC rate (default %d)" % DEFAULT_IPS)
    ap.add_argument("--timeout", type=float, default=1800, help="host seconds before the run is killed")
    ap.add_argument("--expect", choices=("pass", "fail", "error", "panic"), default="pass")
    ap.add_argument("--expect-log", metavar="REGEX", help="a pattern the log must match")
    ap.add_argument("--name", default="run", help="run directory under --out (default 'run')")
    ap.add_argument("--elf", default=runner.DEFAULT_ELF, help="kernel (default build/mmtorture.elf)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="where run directories go (default build/bochs)")
    ap.add_argument("--keep-iso", action="store_true", help="keep boot.iso after a run that went as expected")
    opts = ap.parse_args(argv)
    if opts.cpus < 1:
        ap.error("--cpus must be at least 1")
    if not runner.SCENARIO_NAME_RE.match(opts.name):
        ap.error("--name: use letters, digits, '.', '_', '-'")
    for word in opts.cmdline:
        try:
            runner._cmdline(word)
        except ValueError as e:
            ap.error("%r: %s" % (word, e))
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    for tool in ("grub-mkrescue", BOCHS):
        if shutil.which(tool) is None:
            print("bochs: %s not found (apt-get install bochs bochsbios seabios grub-pc-bin xorriso)" % tool,
                  file=sys.stderr)
            return 2
    if not os.path.isfile(opts.elf):
        print("bochs: %s does not exist; build it first (make)" % runner.display_path(opts.elf), file=sys.stderr)
        return 2
    opts.elf = os.path.abspath(opts.elf)
    opts.out = os.path.abspath(opts.out)
    signal.signal(signal.SIGTERM, runner._raise_interrupt)
    return run(opts)


if __name__ == "__main__":
    sys.exit(main())
