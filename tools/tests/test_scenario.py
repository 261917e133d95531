"""Scenario files: parsing, validation, selection."""

import unittest

from mmtorture.common import UsageError
from mmtorture.machine import build_cmdline
from mmtorture.scenario import parse_scenario, select_scenarios


def rejected(test, text):
    with test.assertRaises(UsageError, msg="accepted: %r" % text) as cm:
        parse_scenario("f", text, "f.scn")
    return str(cm.exception)


class ScenarioFileTest(unittest.TestCase):
    def test_scenario_files(self):
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

    def test_bad_files(self):
        for bad, msg in (("colour = red\n", "f.scn:1: unknown key 'colour'"),
                         ("\nmachine = pcx\n", "f.scn:2: machine: must be one of"),
                         ("timeout = -1\n", "f.scn:1: timeout"),
                         ("smp = four\n", "f.scn:1: smp"),
                         ("cmdline = a;b\n", "f.scn:1: cmdline"),
                         ("description = 'open\n", "f.scn:1: unterminated quote"),
                         ("expect_log = (\n", "f.scn:1: expect_log"),
                         ("machine = pc\nmachine = q35\n", "f.scn:2: 'machine' already set"),
                         ("just words\n", "f.scn:1: expected 'key = value'"),
                         ("emulator = vmware\n", "f.scn:1: emulator: must be one of")):
            err = rejected(self, bad)
            assert err.startswith(msg), (err, msg)

    def test_device_keys_rejected(self):
        for bad in ("spcr = com2\n", "spcr = io:0x2f8,baud=1234\n", "serial = com3\n",
                    "machine_opts = a b\n"):
            rejected(self, bad)

    def test_emulator_default(self):
        assert parse_scenario("e", "").emulator == "qemu"
        assert parse_scenario("e", "emulator = qemu\n").emulator == "qemu"


class SelectionTest(unittest.TestCase):
    def test_selection(self):
        a = parse_scenario("a", "")
        b = parse_scenario("b-soak", "groups = soak\n")
        c = parse_scenario("c-kvm", "groups = default kvm\n")

        def names(scenarios):
            return [s.name for s in scenarios]
        assert names(select_scenarios([a, b, c], [], [])) == ["a", "c-kvm"]
        assert names(select_scenarios([a, b, c], [], ["b-*"])) == ["b-soak"]
        assert names(select_scenarios([a, b, c], ["kvm"], ["a"])) == ["a", "c-kvm"]
        assert names(select_scenarios([a, b, c], ["nothing"], [])) == []
        with self.assertRaises(UsageError, msg="unknown name accepted"):
            select_scenarios([a], [], ["zzz"])


if __name__ == "__main__":
    unittest.main()
