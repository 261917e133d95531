#!/usr/bin/env python3
"""Host-side test runner for mmtorture: boots the kernel once per scenario
(tests/scenarios/NAME.scn) and checks the KTAP results.  `--help` lists
the options; the code is the package tools/mmtorture/ (runner_cli.py).

Standard library only, so that a fresh Debian host needs nothing beyond
python3 to run it.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtorture.runner_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
