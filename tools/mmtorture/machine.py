"""One boot of a scenario: the run's GRUB ISO, the emulator's process and
its time limit.  Every child process goes through a ProcessTable, so that
none outlives the runner."""

import os
import shutil
import signal
import subprocess
import threading
import time

from .emulators import emulator_for
from .netboot import TFTP_ROOT

# QEMU's -kernel cannot load multiboot2, so every run boots a GRUB rescue
# ISO of its own with the scenario's command line.  all_video as in
# boot/grub.cfg: the kernel gets a framebuffer where the firmware has one
# (OVMF always does), so runs exercise the screen console as a user's boot
# does.
GRUB_CFG = """set timeout=0
set default=0
insmod all_video
menuentry "mmtorture" {
    multiboot2 /boot/mmtorture.elf %s
    boot
    # Reached only if GRUB could not load or start the kernel: end QEMU
    # (isa-debug-exit) or, where there is no such device, stop here.
    outb 0xf4 0x70
    halt
}
"""
ISO_ROOT = "iso"        # in the run directory: what grub-mkrescue packs
ISO = "boot.iso"


class Interrupted(Exception):
    """Raised inside workers once the run is being torn down."""


class HostError(Exception):
    """The host could not produce the boot: reason, and lines that show why."""

    def __init__(self, reason, problems=()):
        super().__init__(reason)
        self.reason = reason
        self.problems = list(problems)


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

    def check_stopping(self):
        if self.stopping:
            raise Interrupted()


def build_cmdline(scn, seed):
    """The kernel's command line: the scenario's, the emulator's exit= word
    and the seed."""
    parts = [scn.cmdline] if scn.cmdline else []
    parts.append(emulator_for(scn).kernel_exit)
    if seed is not None:
        parts.append("seed=%d" % seed)
    return " ".join(parts)


def make_iso(procs, elf, cmdline, run_dir, note):
    """Builds run_dir/boot.iso booting elf with cmdline; returns its path.
    note(text) is for verbose progress lines."""
    iso_root = os.path.join(run_dir, ISO_ROOT)
    os.makedirs(os.path.join(iso_root, "boot", "grub"))
    shutil.copyfile(elf, os.path.join(iso_root, "boot", "mmtorture.elf"))
    with open(os.path.join(iso_root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write(GRUB_CFG % cmdline)

    iso = os.path.join(run_dir, ISO)
    t0 = time.monotonic()
    name = os.path.basename(run_dir)
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
        note("  %s: grub-mkrescue failed (%s), attempt %d of 3" % (name, rc, attempt + 1))
    note("  %s: grub-mkrescue took %.1f s" % (name, time.monotonic() - t0))
    procs.check_stopping()
    if rc != 0 or not os.path.exists(iso):
        raise HostError("grub-mkrescue failed (%s)" % rc,
                        ["grub-mkrescue: " + l for l in gout.strip().splitlines()[-8:]])
    return iso


def remove_iso(run_dir):
    """~20 MB per run adds up quickly with --seeds (the TFTP root of a net
    boot goes the same way)."""
    shutil.rmtree(os.path.join(run_dir, ISO_ROOT), ignore_errors=True)
    shutil.rmtree(os.path.join(run_dir, TFTP_ROOT), ignore_errors=True)
    try:
        os.unlink(os.path.join(run_dir, ISO))
    except FileNotFoundError:
        pass


def boot(procs, emu, scn, cmd, run_dir):
    """Runs cmd until emu says the boot is over; (status, timed out, seconds)."""
    with open(emu.stderr_log(run_dir), "w") as err:
        t0 = time.monotonic()
        try:
            p, cleanup = emu.start(procs, cmd, run_dir, err)
        except OSError as e:
            raise HostError("cannot start %s: %s" % (cmd[0], e))
        try:
            status, timed_out = emu.wait(p, scn, procs.kill)
        finally:
            procs.release(p)
            cleanup()
        seconds = time.monotonic() - t0
    procs.check_stopping()
    return status, timed_out, seconds
