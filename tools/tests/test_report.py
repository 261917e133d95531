"""The runner's end-of-run report."""

import unittest

from mmtorture.report import percentile, summary_line
from mmtorture.ktap import FAILED, OK, SKIPPED
from mmtorture.runs import Job, RunResult


class ReportTest(unittest.TestCase):
    def test_percentiles(self):
        v = sorted([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0])
        assert percentile(v, 90) == 9.0 and percentile(v, 100) == 10.0 and percentile([3.0], 90) == 3.0

    def test_summary_names_failures(self):
        class Scn:
            def __init__(self, name):
                self.name = name
        rs = []
        for name, seed, v in (("a", None, OK), ("b", 7, FAILED), ("c", None, FAILED), ("d", None, SKIPPED)):
            r = RunResult(Job(Scn(name), seed, name))
            r.verdict = v
            rs.append(r)
        line, failed = summary_line(rs)
        assert failed == 2
        assert line == "1 passed, 2 failed, 1 skipped\nfailed: b (seed 7), c", line
        line, failed = summary_line(rs[:1])
        assert (line, failed) == ("1 passed, 0 failed", 0)


if __name__ == "__main__":
    unittest.main()
