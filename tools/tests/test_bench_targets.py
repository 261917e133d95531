"""The target ratios of a bench run."""

import unittest

from mmtorture.bench.targets import MISSED, NOT_MEASURED, OK, evaluate
from mmtorture.ktap import PASS

from .benchdata import SAMPLE_LOG, RunDirs


class TargetTest(RunDirs, unittest.TestCase):
    def rows_by_check(self, run):
        return {r.check: r for r in evaluate(run)}

    def test_checks_four_cpus(self):
        run, _ = self.fake_run(SAMPLE_LOG)
        assert run.state == PASS and not run.broken and run.cpus == 4
        rows = self.rows_by_check(run)
        r = rows["minor_fault path=spf / (exception_roundtrip + page_clear)"]
        assert r.result == OK and r.measured.startswith("1.33 "), r.measured
        assert rows["fault_throughput path=spf writer=1 / writer=0, cpus=1"].result == OK
        r = rows["fault_throughput path=spf writer=1 / writer=0, cpus=2"]
        assert r.result == MISSED and r.measured.startswith("0.79 "), r.measured
        r = rows["fault_throughput writer=1 path=spf / path=locked, at the most CPUs"]
        assert r.result == OK and "cpus=3" in r.measured, r.measured
        assert rows["shootdown targets=1 pages=1 / ipi_roundtrip"].result == OK
        assert rows["shootdown pages=1, targets=2 minus targets=1 / targets=1"].result == OK
        r = rows["shootdown pages=1, targets=3 minus targets=2 / targets=1"]
        assert r.result == MISSED and r.measured.startswith("0.40 "), r.measured
        r = rows["rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))"]
        assert r.result == OK and r.measured.startswith("1.67 "), r.measured
        r = rows["rcu_gp kind=normal stat=median / tick period"]
        assert r.result == OK and r.measured.startswith("2.25 ticks"), r.measured
        assert "bench tick_period" in r.target
        r = rows["map_touch_unmap remote=1 / remote=0"]
        assert r.result == MISSED and r.measured.startswith("2.40 "), r.measured
        assert not any(x.result == "note" for x in rows.values())

    def test_missing_inputs(self):
        text = "\n".join(l for l in SAMPLE_LOG.splitlines()
                         if "page_clear" not in l and "ipi_roundtrip" not in l and "tick_period" not in l
                         and "remote=1" not in l)
        run, _ = self.fake_run(text)
        rows = self.rows_by_check(run)
        assert rows["minor_fault path=spf / (exception_roundtrip + page_clear)"].result == NOT_MEASURED
        assert rows["shootdown targets=1 pages=1 / ipi_roundtrip"].result == NOT_MEASURED
        assert rows["map_touch_unmap remote=1 / remote=0"].result == NOT_MEASURED
        r = rows["rcu_gp kind=normal stat=median / tick period"]
        assert "assumed" in r.target and r.measured.startswith("2.25"), (r.target, r.measured)

    def test_one_cpu_icount(self):
        text = ("KTAP version 1\n# mmtorture 0.1.0 cmdline: tests=bench exit=qemu\n# cpus: 1 online, apic ids: 0\n"
                "1..1\n    # bench exception_roundtrip 137 ns\n    # bench rcu_gp 1 us kind=normal stat=median\n"
                "ok 1 bench\n--- End of test: SUCCESS\n")
        run, _ = self.fake_run(text, smp="1", extra="qemu_extra = -icount shift=0\n")
        assert run.icount == 0 and run.cpus == 1
        rows = evaluate(run)
        res = {r.check: r.result for r in rows}
        assert res["rcu_gp kind=expedited stat=median / (ipi_roundtrip x (CPUs-1))"] == "skipped (1 CPU)"
        assert res["shootdown targets=1 pages=1 / ipi_roundtrip"].startswith("skipped")
        assert res["fault_throughput writer=1 path=spf / path=locked, at the most CPUs"].startswith("skipped")
        assert rows[-1].result == "note" and "instruction counts" in rows[-1].check
        assert "shift=0" in rows[-1].check


if __name__ == "__main__":
    unittest.main()
