"""QEMU: the machine (pc or q35), firmware (SeaBIOS, or OVMF with a copy of
its variable store per run), accelerator (TCG, or KVM when /dev/kvm can
create a VM), serial port, ACPI SPCR table.  The kernel ends the run
through the isa-debug-exit device, so QEMU's exit status is its verdict."""

import fcntl
import os
import re
import shutil
import subprocess
import threading
import time

from ..common import ROOT, mkspcr, read_text
from ..ktap import HOSTERR, KERNEL_STATUSES, SKIP, classify
from ..netboot import net_image
from .base import Emulator

QEMU = "qemu-system-x86_64"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"

KVM_START_FAILURE_RE = re.compile(
    r"failed to initialize kvm|could not access kvm|kvm.*(?:not supported|permission denied|"
    r"no such file|unavailable)|requires kvm|-accel kvm", re.I)

# What QEMU prints when KVM stops the guest because it cannot go on with
# it: a nested KVM whose instruction emulator lacks an instruction the
# kernel runs (seen: CLAC) says "KVM internal error. Suberror: 1" and
# "emulation failure". QEMU then keeps the guest paused and never exits.
KVM_INTERNAL_ERROR = "KVM internal error"

_kvm_lock = threading.Lock()
_kvm_state = None

# A newer QEMU beside the system's, for scenarios whose TCG needs x2APIC
# (`needs = tcg-x2apic`): make deps QEMU=backports puts bookworm-backports'
# QEMU here, --qemu-x2apic names another.
BACKPORTS_QEMU = os.path.join(ROOT, "build", "qemu-backports", "qemu-system-x86_64")
NEEDS_HINT = "make deps QEMU=backports, or tools/runner.py --qemu-x2apic PATH"
_x2apic_lock = threading.Lock()
_x2apic_given = [None]
_x2apic_probes = {}     # binary -> None (TCG has x2APIC) or why not


def set_x2apic_qemu(path):
    """The QEMU --qemu-x2apic names (None: look for one)."""
    _x2apic_given[0] = path


def probe_tcg_x2apic(binary):
    """None when binary's TCG offers x2APIC (-cpu max,+x2apic,enforce
    starts, then quits through QMP), else why not.  Probed once per
    binary."""
    with _x2apic_lock:
        if binary not in _x2apic_probes:
            _x2apic_probes[binary] = _probe_tcg_x2apic(binary)
        return _x2apic_probes[binary]


def _probe_tcg_x2apic(binary):
    cmd = [binary, "-machine", "pc", "-accel", "tcg", "-cpu", "max,+x2apic,enforce", "-display", "none",
           "-monitor", "none", "-nodefaults", "-S", "-qmp", "stdio"]
    try:
        p = subprocess.run(cmd, input=b'{"execute":"qmp_capabilities"}{"execute":"quit"}',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s: %s" % (binary, e)
    if p.returncode == 0:
        return None
    lines = [re.sub(r"^\S*qemu-system-\S*: ", "", l.strip())
             for l in p.stderr.decode("utf-8", "replace").splitlines() if l.strip() and "module" not in l]
    return "%s: %s" % (binary, lines[-1] if lines else "exit status %d" % p.returncode)


def qemu_binary(scn):
    """(the QEMU that boots scn, None) or (None, why none can)."""
    if scn.needs != "tcg-x2apic":
        return QEMU, None
    given = _x2apic_given[0]
    candidates = [given] if given else [b for b in (BACKPORTS_QEMU,) if os.path.exists(b)] + [QEMU]
    why = []
    for binary in candidates:
        problem = probe_tcg_x2apic(binary)
        if problem is None:
            return binary, None
        why.append(problem)
    return None, "needs a QEMU whose TCG has x2APIC (%s): %s" % (NEEDS_HINT, "; ".join(why))


def kvm_internal_error(stderr):
    """None, or what QEMU said when KVM stopped the guest with an internal
    error (its error line and the kind, such as 'emulation failure')."""
    lines = [l.strip() for l in stderr.splitlines()]
    for i, l in enumerate(lines):
        if l.startswith(KVM_INTERNAL_ERROR):
            kind = next((k for k in lines[i + 1:] if k and not k.startswith("extra data")), "")
            return l + (" (" + kind + ")" if kind else "")
    return None


def kvm_unusable_reason():
    """None when KVM can create a VM, else why not (probed once)."""
    global _kvm_state
    with _kvm_lock:
        if _kvm_state is None:
            _kvm_state = [_probe_kvm()]
        return _kvm_state[0]


# Set to "nested" to run KVM scenarios on a host that is itself a guest.
KVM_ENV = "MMTORTURE_KVM"


def nested_kvm(cpuinfo_path="/proc/cpuinfo"):
    """True when this host is itself a guest (its CPUs have the
    'hypervisor' flag), so /dev/kvm is a nested KVM."""
    try:
        with open(cpuinfo_path) as f:
            return any(l.startswith("flags") and " hypervisor" in l for l in f)
    except OSError:
        return False


def _probe_kvm():
    if nested_kvm() and os.environ.get(KVM_ENV) != "nested":
        # A nested KVM may create VMs and still fail the guest: one seen
        # booted the kernel for minutes without a line of output, then
        # stopped it at its first CLAC (KVM internal error, emulation
        # failure). Its verdicts would be the outer hypervisor's.
        return ("/dev/kvm is a nested KVM (this host is a guest: 'hypervisor' in /proc/cpuinfo); "
                "%s=nested runs KVM scenarios anyway" % KVM_ENV)
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


def icount_shift(args):
    """The -icount shift in a QEMU argument list: an int, 'auto', or None
    when icount is off."""
    for i, a in enumerate(args):
        if a in ("-icount", "--icount"):
            value = args[i + 1] if i + 1 < len(args) else ""
        elif a.startswith(("-icount=", "--icount=")):
            value = a.partition("=")[2]
        else:
            continue
        for part in value.split(","):
            k, eq, v = part.partition("=")
            if not eq and k:
                k, v = "shift", k
            if k == "shift":
                return int(v) if v.isdigit() else v
        return "auto"
    return None


def boot_media(scn, media):
    """QEMU's arguments for what the firmware boots: media is the ISO, or
    for a net boot the TFTP root, served by QEMU's user-mode network with
    the DHCP bootfile that the firmware's PXE client loads (SeaBIOS: iPXE's
    option ROM of the e1000; OVMF: its own network stack).  The NIC comes
    first in the boot order."""
    if scn.boot != "net":
        return ["-cdrom", media, "-boot", "d"]
    _, bootfile = net_image(scn.firmware)
    return ["-netdev", "user,id=net0,tftp=%s,bootfile=/%s" % (media, bootfile),
            "-device", "e1000,netdev=net0,bootindex=0"]


def accel_args(scn):
    """The -accel option of scn's boots."""
    if scn.accel == "kvm":
        return ["-accel", "kvm"]
    if icount_shift(scn.qemu_extra) is not None:
        # QEMU refuses -icount with multi-threaded TCG ("No MTTCG when
        # icount is enabled"); one thread runs every vCPU in turn.
        return ["-accel", "tcg,thread=single"]
    return ["-accel", "tcg,thread=multi"]


def machine_args(scn):
    """What the guest runs on: machine, accelerator, CPU model, CPUs, memory."""
    machine = scn.machine + ("," + scn.machine_opts if scn.machine_opts else "")
    return ["-machine", machine] + accel_args(scn) + ["-cpu", scn.cpu, "-smp", scn.smp, "-m", scn.memory]


def qemu_command(scn, run_dir, iso, vars_copy, binary=QEMU):
    log = os.path.join(run_dir, Qemu.serial_name)
    if scn.serial == "com1":
        serial = ["-serial", "file:" + log]
    else:
        # No COM1 device at all (the port reads 0xff); the log's UART at
        # 0x2f8 is isa-serial index 1.
        serial = ["-serial", "none", "-chardev", "file,id=log,path=" + log,
                  "-device", "isa-serial,index=1,chardev=log"]
    cmd = [binary] + machine_args(scn) + [
        "-display", "none", "-monitor", "none"] + serial + [
        "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ] + boot_media(scn, iso)
    if scn.firmware == "uefi":
        cmd += ["-drive", "if=pflash,format=raw,readonly=on,file=" + OVMF_CODE,
                "-drive", "if=pflash,format=raw,file=" + vars_copy]
    if scn.spcr:
        cmd += ["-acpitable", "file=" + os.path.join(run_dir, "spcr.bin")]
    return cmd + list(scn.qemu_extra)


def write_acpi_tables(scn, run_dir):
    """The table blobs that qemu_command() points -acpitable at."""
    if scn.spcr:
        mk = mkspcr()
        with open(os.path.join(run_dir, "spcr.bin"), "wb") as f:
            f.write(mk.build_spcr(mk.parse_spec(scn.spcr)))


class Qemu(Emulator):
    name = "qemu"
    tools = (QEMU,)
    kernel_exit = "exit=qemu"
    stderr_name = "qemu.stderr"

    def unusable(self, scn):
        if scn.accel == "kvm":
            return kvm_unusable_reason()
        return qemu_binary(scn)[1]

    def prepare(self, scn, run_dir, iso):
        vars_copy = None
        if scn.firmware == "uefi":
            vars_copy = os.path.abspath(os.path.join(run_dir, "OVMF_VARS.fd"))
            shutil.copyfile(OVMF_VARS, vars_copy)
        write_acpi_tables(scn, run_dir)
        return qemu_command(scn, os.path.abspath(run_dir), os.path.abspath(iso), vars_copy,
                            binary=qemu_binary(scn)[0] or QEMU)

    def start(self, procs, cmd, run_dir, err):
        proc, cleanup = super().start(procs, cmd, run_dir, err)
        proc.mmt_stderr_path = err.name
        return proc, cleanup

    def wait(self, proc, scn, stop):
        if scn.accel != "kvm":
            return super().wait(proc, scn, stop)
        # A KVM internal error leaves QEMU paused for good: watch its
        # output rather than wait out the scenario's whole time limit.
        deadline = time.monotonic() + scn.timeout
        while True:
            try:
                return proc.wait(timeout=0.5), False
            except subprocess.TimeoutExpired:
                pass
            if kvm_internal_error(read_text(proc.mmt_stderr_path)):
                stop(proc)
                return proc.returncode, False
            if time.monotonic() > deadline:
                stop(proc)
                return proc.returncode, True

    def outcome(self, scn, status, rep, log, stderr):
        why = kvm_internal_error(stderr) if scn.accel == "kvm" else None
        if why:
            # The host's KVM gave up on the guest, not the kernel on
            # itself: no verdict either way.
            return SKIP, "this host's KVM cannot run the guest: " + why
        if scn.accel == "kvm" and status not in KERNEL_STATUSES and KVM_START_FAILURE_RE.search(stderr):
            return SKIP, "QEMU could not use KVM: " + next(
                l.strip() for l in stderr.splitlines() if KVM_START_FAILURE_RE.search(l))
        if status == 1 and not log.strip() and stderr.strip():
            # isa-debug-exit cannot be what produced this: nothing ran.
            return HOSTERR, "QEMU refused to start: " + stderr.strip().splitlines()[0]
        return classify(status, rep)
