"""Mutation testing (mmtorture.mutate): the catalog, the edits, the
verdicts, the score and the reports.  No build and no boot."""

import json
import os
import shutil
import subprocess
import tempfile
import tomllib
import types
import unittest

from mmtorture import mutate as mt
from mmtorture.ktap import FAIL, FAILED, HOSTERR, OK, PANIC, PASS, SKIP, SKIPPED, TIMEOUT, parse_ktap

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mutants_fixture.toml")

SOURCE = """\
void update(struct x *x, unsigned int n)
{
	lock(l);
	x->v = n;
	unlock(l);
	flush(x);
	if (n != 0)
		invalidate_walk_cache();
	lock(l);
	unlock(l);
}
"""

LOG = """\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: mm
    1..1
    # expected error stale_tlb: provoked on purpose
    ok 1 zero_page
ok 1 mm
    KTAP version 1
    # Subtest: tlb_torture
    1..1
    # error stale_tlb: tlb_torture: cpu 1 read 1000 = 0 after munmap
    # detect: stale_tlb after 3.428 s
    # error wrong_data: tlb_torture: cpu 0 read poison
    not ok 1 torture
not ok 2 tlb_torture
# Totals: pass:1 fail:1 skip:0 error:0
--- End of test: FAILURE
"""


def make_tree(root):
    os.makedirs(os.path.join(root, "mm"))
    os.makedirs(os.path.join(root, "tests", "scenarios"))
    with open(os.path.join(root, "mm", "a.c"), "w") as f:
        f.write(SOURCE)
    with open(os.path.join(root, "tests", "scenarios", "s1.scn"), "w") as f:
        f.write("smp = 2\n")


def catalog(text):
    return mt.parse_catalog(tomllib.loads(text))


ENTRY = '''
[[mutant]]
id = "%s"
file = "mm/a.c"
find = "flush(x);"
replace = "nothing();"
scenario = "s1"
breaks = "the flush"
'''


def fake_res(verdict, result, seed=7, detect=None, seconds=30.0, log_text=LOG):
    scn = types.SimpleNamespace(name="s1", expect="pass", emulator="qemu")
    return types.SimpleNamespace(
        job=types.SimpleNamespace(seed=seed), scn=scn, verdict=verdict, result=result, reason="r",
        why="expected PASS, got %s" % result if verdict == FAILED else "", seconds=seconds,
        detect=detect, log="/nowhere/serial.log", rep=parse_ktap(log_text))


def result_of(m, verdict, detect=None):
    r = mt.MutantResult(m, verdict, seeds=[5])
    if verdict in (mt.CAUGHT, mt.LATE):
        r.runs = [{"seed": 5, "outcome": "caught" if verdict == mt.CAUGHT else "late",
                   "classes": ["stale_tlb"], "case": "tlb_torture/torture",
                   "detect_seconds": detect, "detect_from": "log"}]
        r.best = r.runs[0]
    elif verdict == mt.SURVIVED:
        r.runs = [{"seed": 5, "outcome": "survived", "classes": [], "case": "-",
                   "detect_seconds": None, "detect_from": None}]
        r.best = r.runs[0]
    return r


class CatalogTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        make_tree(self.root)
        self.scn_dir = os.path.join(self.root, "tests", "scenarios")

    def tearDown(self):
        shutil.rmtree(self.root)

    def test_fixture_parses(self):
        mutants, problems = mt.load_catalog(FIXTURE)
        assert problems == [], problems
        assert [m.id for m in mutants] == ["a-skip-flush", "a-same-test", "a-no-walk-cache", "a-gone", "a-twice"]
        first = mutants[0]
        assert first.find == "\tflush(x);\n" and first.replace == "\t/* no flush */\n"
        assert first.kind == "flush" and first.equivalent == "" and first.blind == "" and first.index == 1
        assert mutants[1].equivalent == "n is unsigned"
        assert mutants[2].blind.startswith("the emulator") and mutants[2].replace == ""

    def test_missing_and_unparsable_catalog(self):
        mutants, problems = mt.load_catalog(os.path.join(self.root, "mutants.toml"))
        assert mutants == [] and len(problems) == 1 and "does not exist" in problems[0], problems
        bad = os.path.join(self.root, "bad.toml")
        with open(bad, "w") as f:
            f.write("[[mutant]]\nid = \n")
        mutants, problems = mt.load_catalog(bad)
        assert mutants == [] and len(problems) == 1 and "bad.toml" in problems[0], problems

    def test_field_problems(self):
        text = (ENTRY % "ok-one") + (ENTRY % "ok-one") + (ENTRY % "Not_Kebab") + '''
[[mutant]]
id = "no-breaks"
file = "mm/a.c"
find = "x"
replace = "y"
scenario = "s1"
scenaro = "typo"

[[mutant]]
id = "bad-types"
file = "../outside.c"
find = ""
replace = 3
scenario = "s1"
breaks = "b"

[[mutant]]
id = "no-change"
file = "/abs/a.c"
find = "same"
replace = "same"
scenario = "s1 x"
breaks = "b"
'''
        mutants, problems = catalog(text)
        assert [m.id for m in mutants] == ["ok-one"], [m.id for m in mutants]
        text_all = "\n".join(problems)
        for needle in ("mutant 2 (ok-one): id 'ok-one' is already used by mutant 1",
                       "mutant 3 (Not_Kebab): id 'Not_Kebab' is not kebab-case",
                       "mutant 4 (no-breaks): unknown key 'scenaro'",
                       "mutant 4 (no-breaks): no breaks",
                       "mutant 5 (bad-types): replace must be a string",
                       "mutant 6 (no-change): file '/abs/a.c' must be a path from the repo root",
                       "mutant 6 (no-change): scenario 's1 x' is not a scenario name",
                       "mutant 6 (no-change): replace equals find"):
            assert needle in text_all, (needle, problems)
        _, problems = catalog(ENTRY.replace('find = "flush(x);"', 'find = ""') % "empty-find")
        assert problems == ["mutant 1 (empty-find): find is empty"], problems
        _, problems = catalog(ENTRY.replace("mm/a.c", "mm/../a.c") % "dots")
        assert len(problems) == 1 and "plain path" in problems[0], problems

    def test_top_level_shape(self):
        _, problems = catalog("")
        assert problems == ["no [[mutant]] table"], problems
        _, problems = catalog('title = "x"\n' + ENTRY % "one")
        assert len(problems) == 1 and "unknown top-level key 'title'" in problems[0], problems
        _, problems = catalog('mutant = "x"\n')
        assert len(problems) == 1 and "list of tables" in problems[0], problems

    def test_exactly_once(self):
        assert mt.count_occurrences("aaa", "aa") == 2     # overlapping ones count
        assert mt.count_occurrences("abc", "b") == 1 and mt.count_occurrences("abc", "x") == 0
        mutants, _ = mt.load_catalog(FIXTURE)
        by_id = {m.id: m for m in mutants}
        assert mt.stale_reason(by_id["a-skip-flush"], self.root) is None
        assert mt.stale_reason(by_id["a-same-test"], self.root) is None
        gone = mt.stale_reason(by_id["a-gone"], self.root)
        assert "occurs 0 times in mm/a.c" in gone, gone
        twice = mt.stale_reason(by_id["a-twice"], self.root)
        assert "occurs 2 times in mm/a.c" in twice, twice

    def test_check_catalog(self):
        mutants, _ = mt.load_catalog(FIXTURE)
        problems = mt.check_catalog(mutants, self.root, self.scn_dir)
        assert len(problems) == 2, problems
        assert problems[0].startswith("mutant a-gone: STALE:") and problems[1].startswith("mutant a-twice: STALE:")
        os.unlink(os.path.join(self.scn_dir, "s1.scn"))
        os.unlink(os.path.join(self.root, "mm", "a.c"))
        problems = mt.check_catalog(mutants[:1], self.root, self.scn_dir)
        assert problems == ["mutant a-skip-flush: no scenario s1 (tests/scenarios/s1.scn)",
                            "mutant a-skip-flush: STALE: mm/a.c does not exist"], problems

    def test_apply_edit_to_a_copy(self):
        mutants, _ = mt.load_catalog(FIXTURE)
        by_id = {m.id: m for m in mutants}
        copy = os.path.join(self.root, "copy")
        mt.copy_tree(self.root, ["mm/a.c", "tests/scenarios/s1.scn"], copy)
        diff = mt.apply_edit(by_id["a-skip-flush"], copy)
        with open(os.path.join(copy, "mm", "a.c")) as f:
            edited = f.read()
        assert edited == SOURCE.replace("\tflush(x);\n", "\t/* no flush */\n")
        with open(os.path.join(self.root, "mm", "a.c")) as f:
            assert f.read() == SOURCE               # the original is untouched
        assert diff.startswith("--- a/mm/a.c\n+++ b/mm/a.c\n") and "-\tflush(x);\n+\t/* no flush */\n" in diff
        # Applied once, the find text is gone: the same edit is now stale.
        with self.assertRaises(mt.StaleError):
            mt.apply_edit(by_id["a-skip-flush"], copy)
        for stale in ("a-gone", "a-twice"):
            with self.assertRaises(mt.StaleError):
                mt.apply_edit(by_id[stale], copy)
        with open(os.path.join(copy, "mm", "a.c")) as f:
            assert f.read() == edited               # a stale edit writes nothing

    def test_tree_files(self):
        with open(os.path.join(self.root, "notes.txt"), "w") as f:
            f.write("x\n")
        os.makedirs(os.path.join(self.root, "build"))
        with open(os.path.join(self.root, "build", "x.o"), "w") as f:
            f.write("")
        # Not a git work tree: everything but build/.
        assert mt.tree_files(self.root) == ["mm/a.c", "notes.txt", "tests/scenarios/s1.scn"]
        if shutil.which("git") is None:
            return
        with open(os.path.join(self.root, ".gitignore"), "w") as f:
            f.write("build/\n*.txt\n")
        subprocess.run(["git", "init", "-q", self.root], check=True)
        subprocess.run(["git", "-C", self.root, "add", "mm/a.c"], check=True)
        with open(os.path.join(self.root, "mm", "b.c"), "w") as f:
            f.write("int b;\n")
        # Tracked, untracked and the ignore file; not the ignored notes.txt.
        assert mt.tree_files(self.root) == [".gitignore", "mm/a.c", "mm/b.c", "tests/scenarios/s1.scn"]
        os.unlink(os.path.join(self.root, "mm", "a.c"))   # deleted but still tracked
        assert "mm/a.c" not in mt.tree_files(self.root)


class SelectTest(unittest.TestCase):
    def mutants(self, n):
        text = "".join(ENTRY % ("m-%d" % i) for i in range(n))
        mutants, problems = catalog(text)
        assert problems == []
        return mutants

    def test_sample_is_fixed(self):
        ms = self.mutants(20)
        a = [m.id for m in mt.sample(ms, 5)]
        assert sorted(a) == sorted(m.id for m in mt.sample(list(reversed(ms)), 5))  # order-free
        assert a == [m.id for m in mt.sample(ms, 5)] and len(a) == 5
        assert a == [m.id for m in ms if m.id in set(a)]            # catalog order
        assert len(mt.sample(ms, 50)) == 20
        # One mutant more changes the sample by at most that one.
        b = {m.id for m in mt.sample(self.mutants(21), 5)}
        assert len(set(a) - b) <= 1, (a, b)

    def test_select(self):
        mutants, _ = mt.load_catalog(FIXTURE)
        run, listed = mt.select(mutants)
        assert [m.id for m in listed] == ["a-same-test"] and "a-same-test" not in [m.id for m in run]
        run, listed = mt.select(mutants, include_equivalent=True)
        assert len(run) == 5 and listed == []
        run, listed = mt.select(mutants, only=["a-twice", "a-skip-flush"])
        assert [m.id for m in run] == ["a-skip-flush", "a-twice"] and listed == []
        run, listed = mt.select(mutants, only=["a-same-test"])
        assert run == [] and [m.id for m in listed] == ["a-same-test"]
        with self.assertRaises(ValueError):
            mt.select(mutants, only=["nope"])
        run, _ = mt.select(mutants, sample_n=2)
        assert len(run) == 2 and all(not m.equivalent for m in run)

    def test_seeds(self):
        m = self.mutants(1)[0]
        s = mt.mutant_seeds(m, None, 1)
        assert s == mt.mutant_seeds(m, None, 1) and 0 < s[0] < 2 ** 31
        assert mt.mutant_seeds(m, None, 3) == [s[0], s[0] + 1, s[0] + 2]
        assert mt.mutant_seeds(m, 42, 2) == [42, 43]


class VerdictTest(unittest.TestCase):
    def test_log_findings(self):
        assert mt.finding_classes(LOG) == ["stale_tlb", "wrong_data"]
        rep = parse_ktap(LOG)
        assert mt.failed_case(rep, LOG) == "tlb_torture/torture"
        cut = LOG.split("    # error stale_tlb")[0]
        assert mt.failed_case(parse_ktap(cut), cut) == "tlb_torture (running)"
        assert mt.outcome_classes(TIMEOUT, cut) == ["timeout"]
        assert mt.outcome_classes(PANIC, LOG) == ["stale_tlb", "wrong_data", "panic"]
        check = "    # tests/mm_test.c:12: check failed: a == b: 1 != 2\n"
        assert mt.outcome_classes(FAIL, check) == ["check"]
        assert mt.outcome_classes(FAIL, "") == ["fail"]
        assert mt.finding_classes("    # error (test environment): no memory\n") == []

    def test_judge_run(self):
        rec = mt.judge_run(fake_res(OK, PASS), "")
        assert rec["outcome"] == "survived" and rec["classes"] == [] and rec["seed"] == 7
        rec = mt.judge_run(fake_res(FAILED, FAIL, detect=3.428), LOG)
        assert rec["outcome"] == "caught" and rec["classes"] == ["stale_tlb", "wrong_data"]
        assert rec["case"] == "tlb_torture/torture" and rec["detect_seconds"] == 3.428 and rec["detect_from"] == "log"
        rec = mt.judge_run(fake_res(FAILED, FAIL, detect=61.0), LOG)
        assert rec["outcome"] == "late"
        # No detect line: the wall time bounds it.
        rec = mt.judge_run(fake_res(FAILED, TIMEOUT, seconds=180.0), LOG)
        assert rec["outcome"] == "late" and rec["detect_from"] == "wall" and rec["detect_seconds"] == 180.0
        rec = mt.judge_run(fake_res(FAILED, PANIC, seconds=20.0), LOG)
        assert rec["outcome"] == "caught" and rec["detect_from"] == "wall" and "panic" in rec["classes"]
        assert mt.judge_run(fake_res(FAILED, HOSTERR), "")["outcome"] == "host_error"
        assert mt.judge_run(fake_res(SKIPPED, SKIP), "")["outcome"] == "skipped"

    def test_after_earlier_seeds(self):
        # A later seed's detection counts the earlier boots: 23 s + 30 s
        # is within 60 s, 23 s + 40 s is not.
        rec = mt.after_earlier_seeds(mt.judge_run(fake_res(FAILED, FAIL, detect=30.0), LOG), 23.0)
        assert rec["outcome"] == "caught" and rec["detect_seconds"] == 53.0 and rec["after_seconds"] == 23.0
        rec = mt.after_earlier_seeds(mt.judge_run(fake_res(FAILED, FAIL, detect=40.0), LOG), 23.0)
        assert rec["outcome"] == "late" and rec["detect_seconds"] == 63.0
        # The first seed, and runs that caught nothing, are left as they are.
        rec = mt.after_earlier_seeds(mt.judge_run(fake_res(FAILED, FAIL, detect=3.0), LOG), 0.0)
        assert rec["detect_seconds"] == 3.0 and "after_seconds" not in rec
        rec = mt.after_earlier_seeds(mt.judge_run(fake_res(OK, PASS), ""), 23.0)
        assert rec["outcome"] == "survived" and rec["detect_seconds"] is None

    def test_mutant_verdict(self):
        m = catalog(ENTRY % "one")[0][0]

        def run(outcome, detect=None, seed=1):
            return {"seed": seed, "outcome": outcome, "detect_seconds": detect, "classes": [], "case": "-",
                    "why": "w", "reason": "r"}
        r = mt.mutant_verdict(m, [run("survived"), run("late", 70, 2), run("caught", 9, 3), run("caught", 4, 4)],
                              [1, 2, 3, 4])
        assert r.verdict == mt.CAUGHT and r.best["seed"] == 4 and len(r.caught_runs) == 3
        r = mt.mutant_verdict(m, [run("survived"), run("late", 90, 2), run("late", 65, 3)], [1, 2, 3])
        assert r.verdict == mt.LATE and r.best["seed"] == 3
        assert mt.mutant_verdict(m, [run("survived"), run("survived")], [1, 2]).verdict == mt.SURVIVED
        assert mt.mutant_verdict(m, [run("survived"), run("host_error")], [1, 2]).verdict == mt.HOST_ERROR
        assert mt.mutant_verdict(m, [run("skipped")], [1]).verdict == mt.SKIPPED_RUN

    def test_first_build_error(self):
        log = ("make: Entering directory '/x'\n  CC      mm/tlb.c\n"
               "mm/tlb.c: In function 'f':\nmm/tlb.c:217:3: error: 'y' undeclared (first use in this function)\n"
               "make: *** [Makefile:120: build/mm/tlb.o] Error 1\n")
        assert mt.first_build_error(log) == "mm/tlb.c:217:3: error: 'y' undeclared (first use in this function)"
        assert mt.first_build_error("ld: a.o: undefined reference to `g'\nmake: *** [x] Error 1\n") == \
            "ld: a.o: undefined reference to `g'"
        assert mt.first_build_error("") == "the build failed with no output"


class ScoreTest(unittest.TestCase):
    def setUp(self):
        mutants, _ = mt.load_catalog(FIXTURE)
        self.m = {m.id: m for m in mutants}
        extra, _ = catalog((ENTRY % "late-one") + (ENTRY % "caught-two").replace("the flush", "a | pipe"))
        self.m.update({m.id: m for m in extra})
        self.results = [
            result_of(self.m["a-skip-flush"], mt.CAUGHT, 3.4),
            result_of(self.m["caught-two"], mt.CAUGHT, 0.5),
            result_of(self.m["a-no-walk-cache"], mt.SURVIVED),
            result_of(self.m["late-one"], mt.LATE, 75.0),
            result_of(self.m["a-same-test"], mt.CAUGHT, 1.0),     # equivalent, run: not counted
            mt.MutantResult(self.m["a-gone"], mt.STALE, "occurs 0 times"),
            mt.MutantResult(self.m["a-twice"], mt.BUILD_FAILED, "mm/a.c:3:1: error: x"),
        ]

    def test_score(self):
        s = mt.score(self.results)
        assert (s["caught"], s["late"], s["survived"], s["counted"]) == (2, 1, 1, 4), s
        assert s["percent"] == 50.0 and s["equivalent"] == 1 and s["catalog_errors"] == 2
        assert mt.score(self.results, [self.m["a-same-test"]])["equivalent"] == 2
        assert mt.score([])["percent"] is None
        assert mt.score([result_of(self.m["a-skip-flush"], mt.CAUGHT, 1.0)])["percent"] == 100.0
        two_of_three = mt.score([result_of(self.m["a-skip-flush"], mt.CAUGHT, 1.0),
                                 result_of(self.m["caught-two"], mt.CAUGHT, 1.0),
                                 result_of(self.m["late-one"], mt.SURVIVED)])
        assert two_of_three["percent"] == 66.7
        assert "2 of 4 non-equivalent mutants caught within 60 s: 50.0%" in mt.score_line(s)

    def test_markdown(self):
        md = mt.markdown(self.results, [], mt.score(self.results))
        lines = md.splitlines()
        assert lines[0].startswith("2 of 4 non-equivalent mutants caught within 60 s (50.0%)")
        assert "| mutant | file | what it breaks | caught by | time to detection |" in lines
        assert "| `a-skip-flush` | `mm/a.c` | the flush after the update | `tlb_torture` (`stale_tlb`) | 3.40 s |" \
            in lines, md
        assert "a \\| pipe" in md                               # a pipe does not split a cell
        walk = [l for l in lines if l.startswith("| `a-no-walk-cache` (blind)")]
        assert walk and "**survived** (blind: the emulator keeps no paging-structure caches)" in walk[0], md
        late = [l for l in lines if l.startswith("| `late-one`")]
        assert late and late[0].endswith("| **late**: 75.00 s |"), late
        assert "- `a-same-test` (`mm/a.c`): n is unsigned" not in md  # it ran: a row, not the list
        assert "Not scored:" in md and "- `a-gone`: STALE occurs 0 times" in md
        listed = mt.markdown([], [self.m["a-same-test"]], mt.score([]))
        assert "- `a-same-test` (`mm/a.c`): n is unsigned" in listed

    def test_json_and_text(self):
        s = mt.score(self.results)
        doc = json.loads(json.dumps(mt.json_document(self.results, [self.m["a-same-test"]], s, "cat.toml",
                                                     [{"scenario": "s1"}])))
        assert sorted(doc) == ["baseline", "catalog", "equivalent_not_run", "mutants", "score"]
        first = doc["mutants"][0]
        for key in ("id", "file", "scenario", "breaks", "kind", "equivalent", "blind", "verdict", "seed", "seeds",
                    "caught_seeds", "classes", "case", "detect_seconds", "detect_from", "runs"):
            assert key in first, key
        assert first["verdict"] == "CAUGHT" and first["classes"] == ["stale_tlb"] and first["seed"] == 5
        assert doc["equivalent_not_run"][0]["id"] == "a-same-test" and doc["score"]["percent"] == 50.0
        table = mt.text_table(self.results)
        assert table[0].split() == ["mutant", "verdict", "class", "suite/case", "detection", "seed"]
        assert table[1].split() == ["a-skip-flush", "CAUGHT", "stale_tlb", "tlb_torture/torture", "3.40", "s", "5"]
        line = mt.progress_line(self.results[0], 1, 7)
        assert line.startswith("[1/7] CAUGHT") and "a-skip-flush" in line and "seed 5" in line
        text = "\n".join(mt.report_lines(self.results, [], s))
        assert "survived (the tests did not notice):" in text and "blind: the emulator" in text
        assert "replay: python3 tools/mutate.py --only a-no-walk-cache --seed 5 --keep" in text
        assert "caught late (after 60 s; counted as survived):" in text
        assert "-- but it was CAUGHT" in text                     # an equivalent mutant that was caught
        assert "catalog errors" in text and "a-twice" in text


if __name__ == "__main__":
    unittest.main()
