"""Machine launch: the QEMU command line, its ACPI table, how a QEMU run
ends and is read, and the emulator interface's default wait."""

import os
import subprocess
import sys
import tempfile
import unittest

from mmtorture.common import UsageError, mkspcr
from mmtorture.emulators import EMULATORS, emulator_for
from mmtorture.emulators.base import Emulator
from mmtorture.emulators.qemu import Qemu, nested_kvm, qemu_binary, qemu_command, set_x2apic_qemu
from mmtorture.ktap import CRASH, HOSTERR, PASS, SKIP, parse_ktap
from mmtorture.netboot import make_tftp_root, missing_net_image
from mmtorture.scenario import parse_scenario

PASSING_LOG = "KTAP version 1\n1..1\nok 1 boot\n--- End of test: SUCCESS\n"


def stopper(stopped):
    """An emulator wait()'s stop(proc) that notes the processes it ends."""
    def stop(p):
        stopped.append(p)
        p.kill()
        p.wait()
    return stop


class QemuCommandTest(unittest.TestCase):
    def test_icount_single_thread(self):
        def accel(text):
            cmd = qemu_command(parse_scenario("i", text), "/r", "/r/boot.iso", None)
            return cmd[cmd.index("-accel") + 1]
        assert accel("") == "tcg,thread=multi"
        assert accel("qemu_extra = -icount shift=0\n") == "tcg,thread=single"
        assert accel("accel = kvm\n") == "kvm"

    def test_serial_spcr_machine_opts(self):
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
        table = mkspcr().build_spcr(mkspcr().parse_spec(scn.spcr))
        assert table[:4] == b"SPCR" and len(table) == 80 and sum(table) & 0xff == 0
        assert table[40:42] == bytes([1, 8]) and table[58] == 3

    def test_net_boot(self):
        def boot_args(text):
            cmd = qemu_command(parse_scenario("n", text), "/r", "/r/tftp", "/r/OVMF_VARS.fd")
            return cmd
        bios = boot_args("boot = net\n")
        assert "-cdrom" not in bios and "-boot" not in bios, bios
        assert bios[bios.index("-netdev") + 1] == "user,id=net0,tftp=/r/tftp,bootfile=/boot/grub/i386-pc/core.0"
        assert bios[bios.index("-device", bios.index("-netdev")) + 1] == "e1000,netdev=net0,bootindex=0"
        uefi = boot_args("boot = net\nfirmware = uefi\n")
        assert uefi[uefi.index("-netdev") + 1].endswith(",bootfile=/boot/grub/x86_64-efi/core.efi")
        cdrom = boot_args("")
        assert cdrom[cdrom.index("-cdrom") + 1] == "/r/tftp" and "-netdev" not in cdrom
        with self.assertRaisesRegex(UsageError, "boot = net: the Bochs machine has cdrom only"):
            parse_scenario("b", "emulator = bochs\ncpu = corei7_icelake_u\nboot = net\n")
        with self.assertRaisesRegex(UsageError, "must be one of: cdrom, net"):
            parse_scenario("b", "boot = usb\n")

    def test_tftp_root(self):
        with tempfile.TemporaryDirectory() as tmp:
            tree, run = os.path.join(tmp, "netboot"), os.path.join(tmp, "run")
            elf = os.path.join(tmp, "k.elf")
            for path in (elf, os.path.join(tree, "boot", "grub", "i386-pc", "core.0"),
                         os.path.join(tree, "boot", "grub", "i386-pc", "normal.mod")):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(path)
            assert "make netboot" in missing_net_image("uefi", tree)
            with self.assertRaises(FileNotFoundError):
                make_tftp_root(elf, "cfg", run, "uefi", tree)
            root = make_tftp_root(elf, "multiboot2 /boot/mmtorture.elf x\n", run, "bios", tree)
            assert root == os.path.join(run, "tftp")
            assert sorted(os.listdir(os.path.join(root, "boot", "grub", "i386-pc"))) == ["core.0", "normal.mod"]
            with open(os.path.join(root, "boot", "grub", "grub.cfg")) as f:
                assert f.read() == "multiboot2 /boot/mmtorture.elf x\n"
            assert os.path.isfile(os.path.join(root, "boot", "mmtorture.elf"))

    def test_tcg_x2apic_needs_a_qemu_that_has_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            def fake(name, body):
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write("#!/bin/sh\ncat > /dev/null\n" + body)
                os.chmod(path, 0o755)
                return path
            old = fake("qemu-7.2", "echo 'qemu-system-x86_64: warning: TCG lacks x2apic' >&2\n"
                                   "echo 'qemu-system-x86_64: TCG does not support requested features' >&2\nexit 1\n")
            new = fake("qemu-10", "case \"$*\" in *max,+x2apic,enforce*-qmp\\ stdio*) exit 0;; esac\n"
                                  "case \"$*\" in *-qmp*) exit 0;; esac\nexit 3\n")
            scn = parse_scenario("x", "needs = tcg-x2apic\n")
            plain = parse_scenario("p", "")
            try:
                set_x2apic_qemu(old)
                binary, why = qemu_binary(scn)
                assert binary is None and "make deps QEMU=backports" in why, why
                assert why.endswith("%s: TCG does not support requested features" % old), why
                assert Qemu().unusable(scn) == why
                assert qemu_binary(plain) == ("qemu-system-x86_64", None)
                set_x2apic_qemu(new)
                assert qemu_binary(scn) == (new, None)
                assert Qemu().unusable(scn) is None
                cmd = qemu_command(scn, "/r", "/r/boot.iso", None, binary=new)
                assert cmd[0] == new
            finally:
                set_x2apic_qemu(None)
        with self.assertRaisesRegex(UsageError, "needs are QEMU's"):
            parse_scenario("b", "emulator = bochs\ncpu = corei7_icelake_u\nneeds = tcg-x2apic\n")


class QemuOutcomeTest(unittest.TestCase):
    def outcome(self, scn_text, status, log, stderr=""):
        scn = parse_scenario("o", scn_text)
        return emulator_for(scn).outcome(scn, status, parse_ktap(log), log, stderr)

    def test_registry(self):
        assert isinstance(EMULATORS["qemu"], Qemu)
        assert emulator_for(parse_scenario("q", "")) is EMULATORS["qemu"]
        assert Qemu().serial_log("/r") == "/r/serial.log" and Qemu().stderr_log("/r") == "/r/qemu.stderr"

    def test_exit_status_is_the_verdict(self):
        assert self.outcome("", 33, PASSING_LOG) == (PASS, "")
        assert self.outcome("", 1, PASSING_LOG)[0] == CRASH

    def test_refused_to_start(self):
        got = self.outcome("", 1, "", "qemu: bad option\nmore\n")
        assert got == (HOSTERR, "QEMU refused to start: qemu: bad option"), got

    def test_kvm_start_failure_is_a_skip(self):
        got = self.outcome("accel = kvm\n", 1, "", "Could not access KVM kernel module: No such file\n")
        assert got == (SKIP, "QEMU could not use KVM: Could not access KVM kernel module: No such file"), got
        # Only for KVM scenarios, and not once the kernel has reported.
        assert self.outcome("", 1, "", "Could not access KVM kernel module\n")[0] == HOSTERR
        assert self.outcome("accel = kvm\n", 33, PASSING_LOG, "failed to initialize kvm\n") == (PASS, "")

    KVM_ERROR = ("qemu-system-x86_64: -accel kvm: warning: Number of SMP cpus requested (4) exceeds\n"
                 "KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000001\n"
                 "emulation failure\nRAX=0000000000000000 RBX=ffff800001270100\n")

    def test_kvm_internal_error_is_a_skip(self):
        got = self.outcome("accel = kvm\n", -15, "KTAP version 1\n", self.KVM_ERROR)
        assert got == (SKIP, "this host's KVM cannot run the guest: KVM internal error. Suberror: 1 "
                             "(emulation failure)"), got
        # A TCG run has no KVM to blame.
        assert self.outcome("", -15, "KTAP version 1\n", self.KVM_ERROR)[0] != SKIP

    def test_kvm_internal_error_ends_the_wait(self):
        scn = parse_scenario("k", "accel = kvm\ntimeout = 60\n")
        stopped = []
        stop = stopper(stopped)
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "qemu.stderr"), "w") as err:
                # What QEMU does: print the error, then stay paused.
                code = "import sys, time; sys.stderr.write(%r); sys.stderr.flush(); time.sleep(60)" % self.KVM_ERROR

                class Procs:
                    def spawn(self, cmd, **kw):
                        return subprocess.Popen(cmd, **kw)
                p, _ = Qemu().start(Procs(), [sys.executable, "-c", code], d, err)
                status, timed_out = Qemu().wait(p, scn, stop)
        assert not timed_out and stopped == [p], (status, timed_out)

    def test_nested_kvm(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cpuinfo")
            with open(path, "w") as f:
                f.write("processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lahf_lm\n")
            assert nested_kvm(path)
            with open(path, "w") as f:
                f.write("processor\t: 0\nflags\t\t: fpu vme sse2 vmx lahf_lm\n")
            assert not nested_kvm(path)
            assert not nested_kvm(os.path.join(d, "missing"))


class DefaultWaitTest(unittest.TestCase):
    def test_time_limit(self):
        scn = parse_scenario("w", "timeout = 0.2\n")
        stopped = []
        stop = stopper(stopped)
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        status, timed_out = Emulator().wait(p, scn, stop)
        assert timed_out and stopped == [p] and status is not None
        p = subprocess.Popen([sys.executable, "-c", "raise SystemExit(33)"])
        assert Emulator().wait(p, parse_scenario("w", ""), stop) == (33, False)


if __name__ == "__main__":
    unittest.main()
