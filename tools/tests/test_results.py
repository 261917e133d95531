"""JUnit XML and JSON results (mmtorture.results)."""

import types
import unittest

from mmtorture.ktap import FAILED, OK, parse_ktap
from mmtorture.results import junit_tree, run_record

LOG = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: unmap_torture
    1..2
    ok 1 warmup
    # error wrong_data: cpu 1 read poison at 0x1000
    # detect: wrong_data after 2.5 s
    not ok 2 unmap_torture
not ok 1 unmap_torture
--- End of test: FAILURE
"""


def fake_run(expect, verdict, why=""):
    scn = types.SimpleNamespace(name="s", expect=expect, emulator="qemu")
    job = types.SimpleNamespace(seed=3)
    return types.SimpleNamespace(name="s-seed3", scn=scn, job=job, result="FAIL", reason="",
                                 verdict=verdict, why=why, seconds=4.0, detect=2.5, log=None,
                                 problems=["not ok unmap_torture/unmap_torture"], rep=parse_ktap(LOG))


class ResultsTest(unittest.TestCase):
    def test_cases_carry_class_and_detection(self):
        rec = run_record(fake_run("fail", OK))
        names = [(c["suite"], c["name"], c["status"]) for c in rec["cases"]]
        assert names == [("unmap_torture", "warmup", "pass"),
                         ("unmap_torture", "unmap_torture", "fail")], names
        bad = rec["cases"][1]
        assert bad["findings"] == [("wrong_data", "cpu 1 read poison at 0x1000")]
        assert bad["detect_seconds"] == 2.5

    def test_expected_failure_is_green(self):
        root = junit_tree([fake_run("fail", OK)]).getroot()
        assert root.get("failures") == "0" and root.get("tests") == "3", root.attrib
        out = root.find("testsuite/testcase[@name='unmap_torture']/system-out").text
        assert out.startswith("expected failure: wrong_data:") and "2.500 s" in out, out

    def test_unexpected_failure_is_red(self):
        root = junit_tree([fake_run("pass", FAILED, "expected pass, got FAIL")]).getroot()
        fails = root.findall("testsuite/testcase/failure")
        assert [f.get("type") for f in fails] == ["wrong_data", "FAIL"], [f.attrib for f in fails]
        assert "detected after 2.500 s" in fails[0].get("message")
        assert root.get("failures") == "2"


if __name__ == "__main__":
    unittest.main()
