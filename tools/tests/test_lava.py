"""LAVA jobs: the monitors' patterns on a console as it arrives, the job
definitions (and the examples in tools/lava/ in step with them), reading
lava-run's results and what they must be for a KTAP log."""

import importlib.util
import os
import re
import unittest

from mmtorture.common import TOOLS
from mmtorture.ktap import parse_ktap
from mmtorture.lava import (CASE_FIXUP, CASE_PATTERN, VERDICT_FIXUP, VERDICT_PATTERN, LavaError,
                            check_suites, expected_results, grub_cfg, job, kernel_cmdline, monitors,
                            results_from_log, to_yaml)

CONSOLE = (
    "\r\nKTAP version 1\r\n"
    "# mmtorture 0.1.0 cmdline: tests=boot,spf spf=off exit=halt\r\n"
    "1..2\r\n"
    "    KTAP version 1\r\n"
    "    # Subtest: boot\r\n"
    "    1..2\r\n"
    "    ok 1 cpus_online\r\n"
    "    # 2 CPUs online\r\n"
    "    not ok 2 ipi_each_cpu # ERROR cpu 1 did not start\r\n"
    "not ok 1 boot\r\n"
    "    KTAP version 1\r\n"
    "    # Subtest: spf\r\n"
    "    1..3\r\n"
    "    ok 1 uncontended_faults_are_speculative\r\n"
    "    ok 2 each_fallback_reason # SKIP spf=off\r\n"
    "    not ok 3 same_page_all_cpus\r\n"
    "not ok 2 spf\r\n"
    "# Totals: pass:2 fail:1 skip:1 error:1\r\n"
    "--- End of test: FAILURE\r\n"
    "# halted (exit code 0x11)\r\n"
)


def monitor_results(console, suites):
    """What LAVA's monitor (lava_dispatcher's TestMonitorAction) records
    for console, fed to it a few characters at a time as a serial line
    delivers them: for each monitor, wait for start, then take the
    earliest of end and pattern in what has arrived, until end."""
    out = []
    pos = 0
    for mon in monitors(suites):
        start = console.find(mon["start"], pos)
        assert start >= 0, mon["start"]
        pos = start + len(mon["start"])
        end_re, case_re = re.compile(mon["end"], re.DOTALL), re.compile(mon["pattern"], re.DOTALL)
        arrived = pos
        while True:
            buf = console[pos:arrived]
            hits = [(m.start(), i, m) for i, m in enumerate((end_re.search(buf), case_re.search(buf))) if m]
            if not hits:
                assert arrived < len(console), "monitor %s: no end" % mon["name"]
                arrived = min(len(console), arrived + 3)
                continue
            _, which, m = min(hits, key=lambda h: (h[0], h[1]))
            pos += m.end()
            if which == 0:
                break
            g = m.groupdict()
            case = re.sub(r"\W+", "_", g["test_case_id"].strip().lower())
            out.append((mon["name"], case, mon["fixupdict"][g["result"]]))
    return out


class MonitorTest(unittest.TestCase):
    def test_streamed_console_gives_each_case_once(self):
        got = monitor_results(CONSOLE, ["boot", "spf"])
        assert got == [
            ("boot", "cpus_online", "pass"), ("boot", "ipi_each_cpu", "fail"),
            ("spf", "uncontended_faults_are_speculative", "pass"), ("spf", "each_fallback_reason", "skip"),
            ("spf", "same_page_all_cpus", "fail"), ("mmtorture", "end_of_test", "fail")], got
        assert got == expected_results(parse_ktap(CONSOLE), ["boot", "spf"])

    def test_case_pattern_waits_for_the_line_end(self):
        case = re.compile(CASE_PATTERN, re.DOTALL)
        assert case.search("\n    ok 2 each_fall") is None
        assert case.search("\n    ok 2 each_fallback_reason # SK") is None
        m = case.search("\n    ok 2 each_fallback_reason # SKIP spf=off\r\n")
        assert m.group("test_case_id") == "each_fallback_reason" and CASE_FIXUP[m.group("result")] == "skip"
        m = case.search("\n    not ok 4 x # SKIP kunit style\r\n")
        assert CASE_FIXUP[m.group("result")] == "skip"
        assert case.search("\nok 1 boot\r\n") is None  # the suite's line is the end, not a case
        m = re.search(VERDICT_PATTERN, "--- End of test: SUCCESS\r\n")
        assert VERDICT_FIXUP[m.group("result")] == "pass"


class JobTest(unittest.TestCase):
    def test_qemu_and_x86_jobs(self):
        q = job("qemu", "file:///i.iso", ["boot", "mm"])
        assert q["device_type"] == "qemu" and q["context"]["arch"] == "amd64"
        deploy, boot, test = (a[k] for a, k in zip(q["actions"], ("deploy", "boot", "test")))
        assert deploy["images"]["mmtorture"] == {"image_arg": "-cdrom {mmtorture} -boot d", "url": "file:///i.iso"}
        assert boot["method"] == "qemu"
        assert [m["name"] for m in test["monitors"]] == ["boot", "mm", "mmtorture"]
        assert q["metadata"]["kernel.cmdline"] == "tests=boot,mm exit=halt"
        x = job("x86", "http://s/m.pxe", ["boot"], "seed=3")
        assert x["actions"][0]["deploy"] == {"to": "tftp", "timeout": {"minutes": 5}, "kernel": {"url": "http://s/m.pxe"}}
        assert x["actions"][1]["boot"]["commands"] == ["dhcp net0", "chain tftp://{SERVER_IP}/{KERNEL}"]
        assert x["metadata"]["kernel.cmdline"] == "tests=boot seed=3 exit=halt"
        with self.assertRaisesRegex(LavaError, "device type"):
            job("arm", "u", ["boot"])

    def test_bad_suites(self):
        with self.assertRaisesRegex(LavaError, "unknown suite 'bogus'"):
            check_suites(["bogus"])
        with self.assertRaisesRegex(LavaError, "skips itself without lockdep=on"):
            check_suites(["locking"])
        assert check_suites(["locking"], "lockdep=on") == ["locking"]
        with self.assertRaisesRegex(LavaError, "own order: boot,mm"):
            check_suites(["mm", "boot"])
        with self.assertRaisesRegex(LavaError, "no suites"):
            check_suites([])

    def test_yaml_and_grub_cfg(self):
        text = to_yaml({"a": [{"b": "x y", "c": True}], "not ok": 1, "e": []})
        assert text == 'a:\n  - b: "x y"\n    c: true\n"not ok": 1\ne: []', text
        cfg = grub_cfg(kernel_cmdline(["boot"]))
        assert "multiboot2 /boot/mmtorture.elf tests=boot exit=halt\n" in cfg and "all_video" in cfg
        assert "all_video" not in grub_cfg("x", video=False)

    def test_examples_are_in_step(self):
        spec = importlib.util.spec_from_file_location("lava_tool", os.path.join(TOOLS, "lava.py"))
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        for name in tool.EXAMPLE_JOBS:
            with open(os.path.join(TOOLS, "lava", name)) as f:
                assert f.read() == tool.example_text(name), "%s is stale: python3 tools/lava.py examples" % name

    @unittest.skipUnless(importlib.util.find_spec("lava_common"), "lava-common is not importable here")
    def test_schema(self):
        from lava_common.compat import yaml_safe_load
        from lava_common.schemas import validate
        from mmtorture.lava import job_yaml
        for device_type in ("qemu", "x86"):
            validate(yaml_safe_load(job_yaml(device_type, "http://s/i", ["boot"])), strict=True)


class ResultsTest(unittest.TestCase):
    def test_results_from_log(self):
        records = [
            {"lvl": "info", "msg": "start"},
            {"lvl": "results", "msg": {"definition": "lava", "case": "job", "result": "pass"}},
            {"lvl": "results", "msg": {"definition": "boot", "case": "cpus_online", "result": "pass"}},
            {"lvl": "results", "msg": {"definition": "mmtorture", "case": "end_of_test", "result": "fail"}},
        ]
        assert results_from_log(records) == [("boot", "cpus_online", "pass"),
                                             ("mmtorture", "end_of_test", "fail")]


if __name__ == "__main__":
    unittest.main()
