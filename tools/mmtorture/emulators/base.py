"""The interface between the runner and an emulator.

The runner does the same for every emulator: it builds the run's GRUB ISO
(machine.py), starts the emulator's command in the process table, reads
the serial log as KTAP (ktap.py) and judges the result against the
scenario.  What differs is here: which host commands are needed, how the
command line is made, how the boot ends and how its exit status is read.

A new emulator is a module in this package with a subclass of Emulator,
and its instance in EMULATORS (__init__.py); a scenario picks it with
`emulator = NAME`.
"""

import os
import subprocess

from ..ktap import classify


class Emulator:
    name = None                 # the scenario's `emulator =` value
    tools = ()                  # host commands it needs, checked before any run
    kernel_exit = "exit=qemu"   # the exit= word added to the kernel's command line
    serial_name = "serial.log"  # the log, in the run directory
    stderr_name = None          # the emulator's own output, in the run directory

    def check(self, scn):
        """Raise ValueError for a scenario setting this emulator cannot honour
        (called when the scenario file is read)."""

    def unusable(self, scn):
        """None, or why this host cannot boot scn (the run is then skipped)."""
        return None

    def prepare(self, scn, run_dir, iso):
        """Write what the boot needs into run_dir (firmware variables, ACPI
        tables) and return the command that boots iso, as a list."""
        raise NotImplementedError

    def start(self, procs, cmd, run_dir, err):
        """Start cmd under procs (a ProcessTable) with its output going to
        err; (process, cleanup) where cleanup() runs once it has ended.
        This one: no input, nothing to clean up."""
        return procs.spawn(cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=err, stderr=err), (lambda: None)

    def wait(self, proc, scn, stop):
        """Wait for the boot to end; (exit status, timed out).  stop(proc)
        ends the emulator and its helpers.  This one: the emulator exits by
        itself within the scenario's time limit."""
        try:
            return proc.wait(timeout=scn.timeout), False
        except subprocess.TimeoutExpired:
            stop(proc)
            return proc.returncode, True

    def outcome(self, scn, status, rep, log, stderr):
        """(result, reason) of a boot that ended in time: status from wait(),
        rep the parsed log, log and stderr the texts.  This one: status is
        the kernel's isa-debug-exit code (ktap.classify)."""
        return classify(status, rep)

    def serial_log(self, run_dir):
        return os.path.join(run_dir, self.serial_name)

    def stderr_log(self, run_dir):
        return os.path.join(run_dir, self.stderr_name)
