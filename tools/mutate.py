#!/usr/bin/env python3
"""Mutation testing of mmtorture's tests: builds each mutant of
tools/mutants.toml (one edit that breaks a safety step) in a copy of the
tree, boots its scenario, and scores the share the tests catch.
`--help` lists the options; the code is tools/mmtorture/mutate.py (the
catalog, verdicts, score, reports) and mutate_cli.py (builds, boots,
command line).

Standard library only (tomllib: Python 3.11 or newer).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtorture.mutate_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
