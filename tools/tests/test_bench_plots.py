"""The plots' data, the SVG fallback and the number formats."""

import unittest
import xml.etree.ElementTree as ET

from mmtorture.bench.plots import _nice_ticks, make_plots, svg_plot, tlb_ceiling
from mmtorture.bench.quantity import fmt_num, fmt_time

from .benchdata import SAMPLE_LOG, RunDirs


class PlotTest(RunDirs, unittest.TestCase):
    def test_svg_is_wellformed(self):
        run, _ = self.fake_run(SAMPLE_LOG)
        plots = make_plots(run)
        assert [p.name.split("-")[0] for p in plots] == ["fault_throughput", "shootdown", "rcu_gp"], \
            [p.name for p in plots]
        for p in plots:
            ET.fromstring(svg_plot(p).split("\n", 1)[1])
        fault = plots[0]
        assert [s["label"] for s in fault.series] == ["spf, writer=0", "spf, writer=1", "locked, writer=1"]
        bars = plots[2]
        assert bars.unit == "ms" and bars.series[1]["ys"] == [15.0, None], (bars.unit, bars.series[1]["ys"])

    def test_numbers(self):
        assert fmt_num(1500) == "1.5k" and fmt_num(999) == "999" and fmt_num(0.25) == "0.25"
        assert fmt_num(2.5e6) == "2.5M" and fmt_time(1500) == "1.5 us" and fmt_time(12e6) == "12 ms"
        assert _nice_ticks(0, 10.8) == [0, 2, 4, 6, 8, 10, 12], _nice_ticks(0, 10.8)
        assert tlb_ceiling("tests=bench tlb_ceiling=8 exit=qemu") == 8 and tlb_ceiling("") == 33


if __name__ == "__main__":
    unittest.main()
