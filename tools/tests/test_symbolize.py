"""Symbolization helpers."""

import unittest

from mmtorture.common import ROOT
from mmtorture.symbolize import _short_path


class SourcePathTest(unittest.TestCase):
    def test_source_paths(self):
        assert _short_path("boot//boot/trampoline.asm:110") == "boot/trampoline.asm:110"
        assert _short_path("/x/y/arch/x86//arch/x86/isr.asm:59") == "/x/y/arch/x86/isr.asm:59"
        assert _short_path(ROOT + "/./arch/x86/cpu.h:125") == "arch/x86/cpu.h:125"
        assert _short_path("??:0") == "??:0"


if __name__ == "__main__":
    unittest.main()
