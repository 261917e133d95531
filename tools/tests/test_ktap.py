"""The KTAP parser, classify() and verdict()."""

import unittest

from mmtorture.ktap import (CRASH, ERROR, FAIL, FAILED, OK, PANIC, PASS, STATUS_GRUB_FAILED,
                            classify, parse_ktap, verdict)
from mmtorture.scenario import parse_scenario
from mmtorture.symbolize import ADDR_RE

SAMPLE_FAILING = """\
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot exit=qemu
# cpus: 4 online, apic ids: 0,1,2,3
# features: nx smep
# seed: 12345
1..2
    KTAP version 1
    # Subtest: boot
    1..3
    ok 1 cpus_online
    not ok 2 ipi_all # timed out waiting for cpu 3
    # some diagnostic
    ok 3 all_to_all # SKIP needs 8 cpus
not ok 1 boot
ok 2 exceptions
# Totals: pass:5 fail:1 skip:1 error:0
--- End of test: FAILURE
"""

SAMPLE_DEEP_PASS = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..2
        KTAP version 1
        # Subtest: orders
        1..2
        ok 1 order0
        ok 2 order9
    ok 1 orders
    ok 2 free_all
ok 1 page_alloc
# Totals: pass:3 fail:0 skip:0 error:0
--- End of test: SUCCESS
"""

SAMPLE_BAIL = """\
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot bogus=1 exit=qemu
Bail out! unknown option: bogus=1
--- End of test: FAILURE
"""

SAMPLE_PANIC = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..4
    ok 1 alloc_free
PANIC: page fault at ffffffff80123456 (cr2=0000000000000008)
RIP: 0xffffffff80123456 RSP: ffffffff80200f80
Backtrace:
    [<ffffffff80101234>] page_free+0x34
    [<ffffffff80100010>] kmain+0x10
"""

# The kernel's own panic path: dump, other CPUs, then it closes the KTAP
# structure with unnumbered results and a FAILURE sentinel.
SAMPLE_PANIC_CLOSED = """\
KTAP version 1
1..2
ok 1 boot
    KTAP version 1
    # Subtest: page_alloc
    1..3
    ok 1 alloc_free
PANIC: cpu 1: list corruption in free_pages
  Call trace:
    [<ffffffff80104a10>] free_pages+0x40
    [<ffffffff80100200>] kmain+0x20
# cpu 0 (apic id 0) backtrace:
    [<ffffffff80102000>] cpu_relax_loop+0x0
    not ok torture # panic: list corruption in free_pages
not ok 2 page_alloc
# Totals: pass:2 fail:1 skip:0 error:0
--- End of test: FAILURE
"""

SAMPLE_NOISE = (
    "\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001 \"UEFI QEMU DVD-ROM\"\r\n"
    "BdsDxe: starting Boot0001\r\n"
    "\x1b[0m\x1b[37m\x1b[40mKTAP version 1\r\n"
    "1..1\r\n"
    "    KTAP version 1\r\n"
    "    # Subtest: timer\r\n"
    "    1..1\r\n"
    "    ok 1 tick\r\n"
    "ok 1 timer\r\n"
    "--- End of test: SUCCESS\r\n"
)

SAMPLE_ERROR_CASE = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: boot
    1..2
    ok 1 cpus_online
    not ok 2 hpet # ERROR no HPET in ACPI tables
not ok 1 boot
--- End of test: FAILURE
"""

SAMPLE_TRUNCATED = """\
KTAP version 1
1..2
ok 1 boot
--- End of test: SUCCESS
"""

SAMPLE_SUBTEST_FIRST = """\
KTAP version 1
1..2
    # Subtest: timer
    KTAP version 1
    1..1
    ok 1 tick
ok 1 timer
    # Subtest: old_style
    1..1
    ok 1 a
ok 2 old_style
--- End of test: SUCCESS
"""

SAMPLE_DETECT = """\
KTAP version 1
# seed: 7
1..1
    KTAP version 1
    # Subtest: page_alloc
    1..1
    # running 4 threads
    # error page_double_free: pfn 0x1234 freed twice
    # detect: page_double_free after 2.75 s
    not ok 1 torture # double free of pfn 0x1234
not ok 1 page_alloc
--- End of test: FAILURE
"""


class KtapTest(unittest.TestCase):
    def test_nested_failure(self):
        rep = parse_ktap(SAMPLE_FAILING)
        assert rep.found and rep.version == 1
        assert rep.sentinel == "FAILURE"
        assert rep.seed == 12345
        assert [r.path for r in rep.failures()] == ["boot/ipi_all"], [r.path for r in rep.failures()]
        assert rep.failures()[0].comment == "timed out waiting for cpu 3"
        assert rep.counts() == {"pass": 2, "fail": 1, "skip": 1, "error": 0}, rep.counts()
        assert rep.totals == {"pass": 5, "fail": 1, "skip": 1, "error": 0}
        assert rep.anomalies == [], rep.anomalies
        assert classify(35, rep) == (FAIL, "not ok boot/ipi_all # timed out waiting for cpu 3")
        assert classify(33, rep)[0] == CRASH
        skip = [r for r in rep.walk() if r.name == "all_to_all"][0]
        assert skip.status == "skip" and skip.reason == "needs 8 cpus"

    def test_three_levels_pass(self):
        rep = parse_ktap(SAMPLE_DEEP_PASS)
        assert [r.path for r in rep.walk()] == [
            "page_alloc", "page_alloc/orders", "page_alloc/orders/order0",
            "page_alloc/orders/order9", "page_alloc/free_all"], [r.path for r in rep.walk()]
        assert rep.failures() == [] and rep.anomalies == []
        assert classify(33, rep) == (PASS, "")
        assert classify(35, rep)[0] == CRASH

    def test_bail_out(self):
        rep = parse_ktap(SAMPLE_BAIL)
        assert rep.bails and rep.bails[0][1] == "unknown option: bogus=1"
        assert rep.anomalies == [], rep.anomalies
        res, why = classify(37, rep)
        assert res == ERROR and why == "Bail out! unknown option: bogus=1", why
        scn = parse_scenario("x", "expect = error\nexpect_log = Bail out!.*bogus\n")
        assert verdict(scn, res, SAMPLE_BAIL) == (OK, "")
        scn = parse_scenario("x", "expect = error\nexpect_log = nomatch\n")
        assert verdict(scn, res, SAMPLE_BAIL)[0] == FAILED

    def test_bail_out_as_error_result(self):
        # The kernel's bail-out since KTAP has no 'Bail out!': a plan of one
        # and an ERROR result, which classify() reads as the reason.
        log = ("\nKTAP version 1\n# mmtorture 0.1.0 cmdline: tests=boot bogus=1 exit=qemu\n1..1\n"
               "not ok 1 boot # ERROR unknown option 'bogus=1'\n"
               "# Totals: pass:0 fail:0 skip:0 error:1\n--- End of test: FAILURE\n")
        rep = parse_ktap(log)
        assert rep.anomalies == [] and rep.counts() == rep.totals, (rep.anomalies, rep.counts())
        res, why = classify(37, rep)
        assert (res, why) == (ERROR, "not ok boot # ERROR unknown option 'bogus=1'"), why
        scn = parse_scenario("x", 'expect = error\nexpect_log = "^not ok 1 boot # ERROR .*bogus"\n')
        assert verdict(scn, res, log) == (OK, "")

    def test_panic_without_sentinel(self):
        rep = parse_ktap(SAMPLE_PANIC)
        assert rep.sentinel is None
        assert rep.panic[0].startswith("PANIC: page fault")
        assert len(rep.panic) == 5, rep.panic
        assert classify(39, rep) == (PANIC, rep.panic[0])
        assert classify(0, rep)[0] == CRASH and "PANIC" in classify(0, rep)[1]
        # Not a pass even though nothing said 'not ok'.
        assert classify(33, rep)[0] == CRASH
        found = [m.group(1) for m in ADDR_RE.finditer(SAMPLE_PANIC)]
        assert found == ["ffffffff80123456", "ffffffff80123456", "ffffffff80200f80",
                         "ffffffff80101234", "ffffffff80100010"], found
        assert not ADDR_RE.search("0000ffffffff80123456") and not ADDR_RE.search("xffffffff80123456")

    def test_panic_then_closed(self):
        rep = parse_ktap(SAMPLE_PANIC_CLOSED)
        assert rep.sentinel == "FAILURE"
        assert rep.panic[0] == "PANIC: cpu 1: list corruption in free_pages"
        assert [r.path for r in rep.failures()] == ["page_alloc/torture"], [r.path for r in rep.failures()]
        assert rep.failures()[0].number is None
        assert rep.problem_lines() == ["PANIC: cpu 1: list corruption in free_pages",
                                       "not ok page_alloc/torture # panic: list corruption in free_pages"], \
            rep.problem_lines()
        assert classify(39, rep) == (PANIC, "PANIC: cpu 1: list corruption in free_pages")
        assert classify(35, rep)[0] == FAIL

    def test_firmware_noise(self):
        rep = parse_ktap(SAMPLE_NOISE)
        assert rep.found and rep.sentinel == "SUCCESS"
        assert [r.path for r in rep.walk()] == ["timer", "timer/tick"]
        assert classify(33, rep) == (PASS, "")

    def test_error_directive(self):
        rep = parse_ktap(SAMPLE_ERROR_CASE)
        f = rep.failures()
        assert [r.path for r in f] == ["boot/hpet"] and f[0].status == "error"
        assert rep.problem_lines() == ["not ok boot/hpet # ERROR no HPET in ACPI tables"], rep.problem_lines()
        assert classify(37, rep)[0] == ERROR

    def test_subtest_header_orders(self):
        rep = parse_ktap(SAMPLE_SUBTEST_FIRST)
        assert [r.path for r in rep.walk()] == ["timer", "timer/tick", "old_style", "old_style/a"], \
            [r.path for r in rep.walk()]
        assert rep.top.results[0].sub.name == "timer" and rep.anomalies == [], rep.anomalies
        assert classify(33, rep) == (PASS, "")

    def test_missing_results(self):
        rep = parse_ktap(SAMPLE_TRUNCATED)
        assert rep.anomalies == ["top level planned 2 tests, reported 1"], rep.anomalies
        assert classify(33, rep)[0] == CRASH

    def test_detect_time(self):
        rep = parse_ktap(SAMPLE_DETECT)
        assert rep.detects == [("page_double_free", 2.75)]
        assert rep.problem_lines() == ["not ok page_alloc/torture # double free of pfn 0x1234",
                                       "  # error page_double_free: pfn 0x1234 freed twice"], rep.problem_lines()
        assert rep.seed == 7
        scn = parse_scenario("x", "expect = fail\nexpect_log = page_double_free|double free\n")
        assert verdict(scn, classify(35, rep)[0], SAMPLE_DETECT) == (OK, "")

    def test_no_ktap_at_all(self):
        rep = parse_ktap("SeaBIOS (version 1.16)\nBooting from DVD/CD...\n")
        assert not rep.found
        assert classify(33, rep)[0] == CRASH
        assert classify(0, rep)[0] == CRASH
        assert classify(-9, rep) == (CRASH, "QEMU killed by signal 9")
        assert "GRUB could not load" in classify(STATUS_GRUB_FAILED, rep)[1]


if __name__ == "__main__":
    unittest.main()
