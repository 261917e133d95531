"""The Bochs emulator: its scenario checks, the verdict read from the log,
and the Bochs group being in step with the QEMU scenarios it copies."""

import importlib.util
import os
import unittest

from mmtorture.common import ROOT, UsageError
from mmtorture.emulators.bochs import cpu_count, kernel_exit_status, memory_mib
from mmtorture.ktap import FAIL, PASS
from mmtorture.emulators import EMULATORS
from mmtorture.ktap import parse_ktap
from mmtorture.scenario import parse_scenario


def load_generator():
    path = os.path.join(ROOT, "tools", "bochs", "scenarios.py")
    spec = importlib.util.spec_from_file_location("bochs_scenarios", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BochsTest(unittest.TestCase):
    def test_sizes(self):
        assert memory_mib("512M") == 512 and memory_mib("2G") == 2048
        assert cpu_count("4") == 4 and cpu_count("cpus=2") == 2
        with self.assertRaises(ValueError):
            cpu_count("4,sockets=2")

    def test_scenario_checks(self):
        ok = parse_scenario("b", "emulator = bochs\ncpu = ryzen\nsmp = 2\nmemory = 512M\n")
        assert ok.emulator == "bochs"
        for bad in ("cpu = max\n", "cpu = ryzen\nfirmware = uefi\n", "cpu = ryzen\nmachine = q35\n"):
            with self.assertRaises(UsageError):
                parse_scenario("b", "emulator = bochs\n" + bad)

    def test_verdict_from_the_log(self):
        log = ("KTAP version 1\n1..1\nok 1 boot\n# Totals: pass:1 fail:0 skip:0 error:0\n"
               "--- End of test: SUCCESS\n# powering off (exit code 0x10)\n")
        assert kernel_exit_status(log) == 33
        result, _ = EMULATORS["bochs"].outcome(None, 1, parse_ktap(log), log, "")
        assert result == PASS, result
        failed = log.replace("0x10", "0x11").replace("ok 1", "not ok 1").replace("SUCCESS", "FAILURE")
        result, _ = EMULATORS["bochs"].outcome(None, 1, parse_ktap(failed), failed, "")
        assert result == FAIL, result

    def test_group_in_step_with_qemu_scenarios(self):
        assert load_generator().main(["--check"]) == 0


if __name__ == "__main__":
    unittest.main()


class AdaptTest(unittest.TestCase):
    def test_qemu_scenario_on_bochs(self):
        from mmtorture.emulators.bochs import adapt
        q = parse_scenario("q", "machine = q35\nfirmware = uefi\nsmp = 4\ncpu = Icelake-Server\n"
                                "cmdline = tests=mm\nqemu_extra = -icount shift=0\n")
        b = adapt(q)
        assert (b.emulator, b.cpu, b.smp, b.firmware, b.machine, b.qemu_extra) == \
            ("bochs", "corei7_icelake_u", "4", "bios", "pc", []), vars(b)
        assert b.cmdline == "tests=mm" and q.emulator == "qemu"
        EMULATORS["bochs"].check(b)
        assert adapt(q, "ryzen").cpu == "ryzen"

    def test_replay_lines(self):
        import types
        from mmtorture.report import replay_lines
        scn = parse_scenario("matrix-x", "smp = 4\n")
        r = types.SimpleNamespace(scn=scn, job=types.SimpleNamespace(seed=None),
                                  rep=types.SimpleNamespace(seed=77))
        lines = replay_lines(r)
        assert lines == ["replay: python3 tools/runner.py matrix-x --seed-base 77 --seeds 1",
                         "on Bochs: python3 tools/runner.py matrix-x --seed-base 77 --seeds 1 --emulator bochs"], lines
