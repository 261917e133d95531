"""The runner's end-of-run report."""

import unittest

from mmtorture.report import percentile


class ReportTest(unittest.TestCase):
    def test_percentiles(self):
        v = sorted([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0])
        assert percentile(v, 90) == 9.0 and percentile(v, 100) == 10.0 and percentile([3.0], 90) == 3.0


if __name__ == "__main__":
    unittest.main()
