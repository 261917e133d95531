"""Checking logs with Linux's kunit.py: reading its output, the counting
rule (failed = fail + error), the runner's check, and, where build/kunit
has the real kunit.py, that it accepts the kernel's log formats."""

import os
import stat
import tempfile
import types
import unittest

from mmtorture.ktap import FAILED, OK, SKIPPED, parse_ktap
from mmtorture.kunit import (DEFAULT_KUNIT, Kunit, KunitResult, count_problems, expected_kunit_counts,
                             find_kunit, parse_kunit_output)
from mmtorture.runs import Job, RunResult, check_counts, write_skip_ktap

# A run that cannot start (the kernel's bail-out).
LOG_BAIL_OUT = """\

KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot bogus=1 exit=qemu
1..1
not ok 1 boot # ERROR unknown option 'bogus=1'
# Totals: pass:0 fail:0 skip:0 error:1
--- End of test: FAILURE
"""

# A panic in the third case of the first of two suites.
LOG_PANIC_IN_CASE = """\

KTAP version 1
# mmtorture 0.1.0 cmdline: tests=boot,timer crash_case=boot/each_cpu_runs_code exit=qemu
# seed: 5427665112
1..2
    KTAP version 1
    # Subtest: boot
    1..6
    # 2 CPUs online (2 MADT entries, 2 enabled), xAPIC mode
    ok 1 cpus_online
    ok 2 apic_ids_match_madt
PANIC: cpu 0: crash_case=boot/each_cpu_runs_code: a deliberate panic inside the case
  Call trace:
    [<ffffffff8011060a>] panic+0x8a
# cpu 1 (apic id 1) backtrace:
  RIP: ffffffff80114205 worker_idle_loop+0x75
    not ok 3 each_cpu_runs_code # panic: crash_case=boot/each_cpu_runs_code: a deliberate panic
    not ok 4 ipi_each_cpu # ERROR not run: panic: crash_case=boot/each_cpu_runs_code
    not ok 5 ipi_all_to_all # ERROR not run: panic: crash_case=boot/each_cpu_runs_code
    not ok 6 each_cpu_ticks # ERROR not run: panic: crash_case=boot/each_cpu_runs_code
not ok 1 boot
not ok 2 timer # ERROR not run: panic: crash_case=boot/each_cpu_runs_code
# Totals: pass:2 fail:1 skip:0 error:4
--- End of test: FAILURE
"""

# A pass with a skipped suite, after what GRUB leaves on a UEFI serial
# line (a carriage return in front of the kernel's first line).
LOG_UEFI_PASS = (
    "\x1b[0m\x1b[37m\x1b[40m  Booting `mmtorture'\r\n\r\n\r"
    "\r\nKTAP version 1\r\n"
    "# mmtorture 0.1.0 cmdline: tests=timer,spf exit=qemu\r\n"
    "1..2\r\n"
    "    KTAP version 1\r\n"
    "    # Subtest: timer\r\n"
    "    1..2\r\n"
    "    ok 1 tick_rate\r\n"
    "    ok 2 tsc_matches_hpet\r\n"
    "ok 1 timer\r\n"
    "ok 2 spf # SKIP spf=off\r\n"
    "# Totals: pass:2 fail:0 skip:1 error:0\r\n"
    "--- End of test: SUCCESS\r\n"
)

# The same without the kernel's leading empty line: kunit.py takes the
# carriage return in front of 'KTAP version 1' as a prefix and cuts one
# character from every later line, so 'ok 1 timer' becomes 'k 1 timer'.
LOG_UEFI_PREFIXED = LOG_UEFI_PASS.replace("\r\n\r\r\nKTAP", "\r\n\rKTAP")

# What kunit.py 6.1 printed for LOG_PANIC_IN_CASE, and for the old
# bail-out ('Bail out!' and no result).
KUNIT_OUT_PANIC = """\
[16:43:18] ============================================================
[16:43:18] ======================= boot (6 subtests) ==================
[16:43:18] [PASSED] cpus_online
[16:43:18] [PASSED] apic_ids_match_madt
[16:43:18] [FAILED] each_cpu_runs_code
[16:43:18] [FAILED] ipi_each_cpu
[16:43:18] [FAILED] ipi_all_to_all
[16:43:18] [FAILED] each_cpu_ticks
[16:43:18] ====================== [FAILED] boot =======================
[16:43:18] [FAILED] timer
[16:43:18] ============================================================
[16:43:18] Testing complete. Ran 7 tests: passed: 2, failed: 5
"""
KUNIT_OUT_OLD_BAIL = """\
[16:37:34] ============================================================
[16:37:34]  mmtorture 0.1.0 cmdline: tests=boot la57=on exit=qemu
[16:37:34] Bail out! la57=on: this CPU has no 5-level paging
[16:37:34] [ERROR] Test: main: 0 tests run!
[16:37:34] ============================================================
[16:37:34] Testing complete. Ran 0 tests: errors: 1
"""


def write(dirname, name, text, mode=None):
    path = os.path.join(dirname, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text)
    if mode:
        os.chmod(path, mode)
    return path


class KunitOutputTest(unittest.TestCase):
    def test_reads_summary_and_errors(self):
        res = parse_kunit_output(KUNIT_OUT_PANIC)
        assert res.counts == {"passed": 2, "failed": 5, "crashed": 0, "skipped": 0, "errors": 0}, res.counts
        assert res.errors == []
        res = parse_kunit_output(KUNIT_OUT_OLD_BAIL)
        assert res.counts == {"passed": 0, "failed": 0, "crashed": 0, "skipped": 0, "errors": 1}
        assert res.errors == ["Test: main: 0 tests run!"], res.errors
        res = parse_kunit_output("[10:00:00] Testing complete. Ran 3 tests: passed: 1, crashed: 1, skipped: 1\n")
        assert res.counts["crashed"] == 1 and res.counts["skipped"] == 1
        assert parse_kunit_output("nothing here\n").counts is None

    def test_summary_that_does_not_add_up_is_an_error(self):
        res = parse_kunit_output("Testing complete. Ran 4 tests: passed: 1\n")
        assert res.errors and "does not add up" in res.errors[0], res.errors

    def test_error_counts_as_failed(self):
        assert expected_kunit_counts({"pass": 2, "fail": 1, "skip": 3, "error": 4}) == {
            "passed": 2, "failed": 5, "crashed": 0, "skipped": 3, "errors": 0}


class CountProblemsTest(unittest.TestCase):
    def test_kernel_formats_agree(self):
        for log, totals in ((LOG_BAIL_OUT, {"pass": 0, "fail": 0, "skip": 0, "error": 1}),
                            (LOG_PANIC_IN_CASE, {"pass": 2, "fail": 1, "skip": 0, "error": 4}),
                            (LOG_UEFI_PASS, {"pass": 2, "fail": 0, "skip": 1, "error": 0})):
            rep = parse_ktap(log)
            assert rep.totals == totals, rep.totals
            assert rep.counts() == totals, (rep.counts(), totals)
            assert count_problems(rep) == [], count_problems(rep)
            agreeing = KunitResult(expected_kunit_counts(totals), [], "")
            assert count_problems(rep, agreeing) == []

    def test_disagreements_are_named(self):
        rep = parse_ktap(LOG_PANIC_IN_CASE.replace("error:4", "error:3"))
        problems = count_problems(rep)
        assert len(problems) == 1 and "runner's parser counts pass=2 fail=1 skip=0 error=4" in problems[0], problems
        rep = parse_ktap(LOG_PANIC_IN_CASE)
        kunit = parse_kunit_output(KUNIT_OUT_PANIC.replace("failed: 5", "failed: 4, crashed: 1"))
        problems = count_problems(rep, kunit)
        assert len(problems) == 1 and problems[0].startswith("kunit.py counts passed=2 failed=4 crashed=1"), problems
        kunit = parse_kunit_output(KUNIT_OUT_OLD_BAIL)
        problems = count_problems(parse_ktap(LOG_BAIL_OUT), kunit)
        assert "kunit.py rejects the log: Test: main: 0 tests run!" in problems, problems

    def test_log_without_totals(self):
        assert count_problems(parse_ktap("KTAP version 1\n1..1\nok 1 boot\n")) == [
            "no '# Totals:' line in the log"]
        assert count_problems(parse_ktap("")) == ["no 'KTAP version' line in the log"]
        assert "lacks error" in count_problems(parse_ktap(
            "KTAP version 1\n1..1\nok 1 boot\n# Totals: pass:1 fail:0 skip:0\n"))[0]


class FakeKunitTest(unittest.TestCase):
    """Kunit.parse() against stand-ins for kunit.py at the path it needs."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.kdir = os.path.join(self.tmp.name, "linux", "tools", "testing", "kunit")
        self.log = write(self.tmp.name, "serial.log", LOG_BAIL_OUT)

    def tearDown(self):
        self.tmp.cleanup()

    def fake(self, body):
        return write(self.kdir, "kunit.py", "import sys\nsys.stdin.read()\n" + body)

    def test_summary_through_a_process(self):
        path = self.fake("print('[10:00:00] Testing complete. Ran 1 tests: failed: 1')\nsys.exit(1)\n")
        kunit, note = find_kunit(path)
        assert note == "" and kunit.path == path
        res = kunit.parse(self.log)
        assert res.errors == [] and res.counts["failed"] == 1
        assert count_problems(parse_ktap(LOG_BAIL_OUT), res) == []

    def test_no_summary_is_a_rejection(self):
        path = self.fake("sys.exit(1)\n")
        res = Kunit(path).parse(self.log)
        assert res.counts is None and res.errors == ["kunit.py exited with status 1 and no summary"], res.errors
        assert count_problems(parse_ktap(LOG_BAIL_OUT), res) == [
            "kunit.py rejects the log: kunit.py exited with status 1 and no summary"]

    def test_bad_paths(self):
        with self.assertRaises(FileNotFoundError):
            find_kunit(os.path.join(self.tmp.name, "missing.py"))
        elsewhere = write(self.tmp.name, "kunit.py", "")
        with self.assertRaisesRegex(FileNotFoundError, "tools/testing/kunit"):
            find_kunit(elsewhere)
        self.fake("")
        assert find_kunit(self.kdir)[0].path == os.path.join(self.kdir, "kunit.py")


class RunnerCheckTest(unittest.TestCase):
    def run_result(self, log_text, verdict=OK):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        res = RunResult(Job(types.SimpleNamespace(name="s"), None, "s"))
        res.log = write(tmp.name, "serial.log", log_text)
        res.verdict = verdict
        return res

    def test_expected_run_fails_on_disagreement(self):
        res = self.run_result(LOG_PANIC_IN_CASE.replace("pass:2", "pass:3"))
        check_counts(res, types.SimpleNamespace(kunit=None))
        assert res.verdict == FAILED and "the log's totals say pass=3" in res.why, res.why

    def test_agreeing_run_stays(self):
        res = self.run_result(LOG_PANIC_IN_CASE)
        check_counts(res, types.SimpleNamespace(kunit=None))
        assert res.verdict == OK and res.count_problems == []

    def test_skip_document(self):
        res = self.run_result("", verdict=SKIPPED)
        write_skip_ktap(res.log, "kvm-host", "QEMU could not use KVM:\n  failed to set MSR")
        with open(res.log) as f:
            text = f.read()
        assert "ok 1 kvm-host # SKIP QEMU could not use KVM: failed to set MSR\n" in text, text
        check_counts(res, types.SimpleNamespace(kunit=None))
        assert res.verdict == SKIPPED and res.count_problems == [], res.count_problems
        assert parse_ktap(text).totals == {"pass": 0, "fail": 0, "skip": 1, "error": 0}


@unittest.skipUnless(os.path.isfile(DEFAULT_KUNIT),
                     "Linux's kunit.py is not in build/kunit (make kunit)")
class RealKunitTest(unittest.TestCase):
    """The real kunit.py on the kernel's formats, and on the ones it
    rejected before they changed (so that the check is seen to bite)."""

    def parse(self, text):
        with tempfile.TemporaryDirectory() as tmp:
            return Kunit(DEFAULT_KUNIT).parse(write(tmp, "serial.log", text))

    def test_accepts_the_kernel_formats(self):
        for log in (LOG_BAIL_OUT, LOG_PANIC_IN_CASE, LOG_UEFI_PASS):
            res = self.parse(log)
            assert count_problems(parse_ktap(log), res) == [], (log, res.output)

    def test_accepts_the_runner_skip_document(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "serial.log")
            write_skip_ktap(path, "kvm-host", "QEMU could not use KVM")
            res = Kunit(DEFAULT_KUNIT).parse(path)
            assert res.errors == [] and res.counts["skipped"] == 1, res.output

    def test_rejects_what_it_rejected(self):
        res = self.parse(LOG_UEFI_PREFIXED)
        assert any("missing subtest result line" in e for e in res.errors), res.output
        res = self.parse("KTAP version 1\n# mmtorture\nBail out! bogus\n--- End of test: FAILURE\n")
        assert "Test: main: 0 tests run!" in res.errors, res.output
        # A case named like its suite reads as the suite's result line.
        res = self.parse("KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: rcu\n    1..2\n"
                         "    ok 1 rcu\n    ok 2 other\nok 1 rcu\n")
        assert res.errors, res.output


if __name__ == "__main__":
    unittest.main()
