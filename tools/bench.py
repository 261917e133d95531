#!/usr/bin/env python3
"""Benchmark runs of mmtorture: runs the scenarios of group 'bench' (or
reads an earlier run's logs), checks the target ratios and plots them into
build/bench/.  `--help` lists the options; the code is the package
tools/mmtorture/bench/ (cli.py).

Plots need matplotlib (Debian: python3-matplotlib, for /usr/bin/python3);
without it plain SVG line plots are drawn.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtorture.bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
