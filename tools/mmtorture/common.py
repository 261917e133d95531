"""What every part of the tools shares: where things are, the usage error,
and reading files that may not be there."""

import os
import signal
import sys

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TOOLS)
DEFAULT_SCENARIO_DIR = os.path.join(ROOT, "tests", "scenarios")
DEFAULT_ELF = os.path.join(ROOT, "build", "mmtorture.elf")
DEFAULT_OUT = os.path.join(ROOT, "build", "runs")


class UsageError(Exception):
    """A problem the user has to fix (exit status 2)."""


def display_path(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def read_text(path):
    """The file as text (bad bytes replaced), or '' when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail_lines(path, n):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def mkspcr():
    """tools/mkspcr.py, which stays a script of its own; tools/ is on
    sys.path when an entry point or the tests run, added here for an import
    from anywhere else."""
    if TOOLS not in sys.path:
        sys.path.insert(0, TOOLS)
    import mkspcr as module
    return module


def interrupt_on_signals():
    """SIGTERM and SIGHUP end the run as Ctrl-C does (KeyboardInterrupt),
    so that every child is stopped on the way out."""
    def handler(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
