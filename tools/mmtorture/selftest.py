"""--selftest of tools/runner.py and tools/bench.py: the unit tests in
tools/tests/, as `python3 -m unittest discover -s tools/tests -t tools`
runs them."""

import os
import unittest

from .common import TOOLS


def run_unit_tests():
    suite = unittest.defaultTestLoader.discover(os.path.join(TOOLS, "tests"), top_level_dir=TOOLS)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1
