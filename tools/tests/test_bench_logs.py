"""Reading bench run directories and logs."""

import json
import os
import time
import unittest

from mmtorture.bench.logs import load_run, parse_log
from mmtorture.emulators.qemu import icount_shift, kvm_unusable_reason
from mmtorture.ktap import ERROR, PASS, SKIP
from mmtorture.scenario import parse_scenario

from .benchdata import SAMPLE_LOG, RunDirs


class BenchLogTest(RunDirs, unittest.TestCase):
    def test_parse_lines(self):
        head, lines = parse_log(SAMPLE_LOG)
        assert head["kernel_version"] == "0.1.0" and head["cmdline"] == "tests=bench exit=qemu", head
        assert head["cpus"] == 4 and head["seed"] == 99
        assert ("minor_fault", 2000, "ns", {"path": "spf"}) in lines, lines
        assert ("call_rcu", 1.5, "callbacks/s", {}) in lines
        assert ("fault_throughput", 60000, "faults/s", {"cpus": "3", "writer": "1", "path": "locked"}) in lines
        assert len(lines) == 23, len(lines)
        assert parse_log("# tick_hz 100\n")[0]["tick_hz"] == 100

    def test_broken_runs(self):
        run, _ = self.fake_run("KTAP version 1\n# cpus: 2 online\n1..1\n    # bench page_clear 5 ns\n")
        assert run.state == "INCOMPLETE" and run.broken
        run, _ = self.fake_run("KTAP version 1\n1..1\nok 1 bench\n--- End of test: SUCCESS\n")
        assert run.state == PASS and run.broken and "no bench lines" in run.problem()
        run, _ = self.fake_run("KTAP version 1\nBail out! unknown suite 'bench'\n")
        assert run.state == ERROR and run.broken
        run, _ = self.fake_run("\nKTAP version 1\n1..1\nnot ok 1 boot # ERROR unknown suite 'bench'\n"
                               "# Totals: pass:0 fail:0 skip:0 error:1\n--- End of test: FAILURE\n")
        assert run.state == ERROR and run.broken and "unknown suite" in run.reason, run.reason
        run, tmp = self.fake_run("KTAP version 1\n")
        with open(os.path.join(tmp, "s", "result.json"), "w") as f:
            json.dump({"result": "SKIP", "verdict": "skipped", "reason": "/dev/kvm: No such file"}, f)
        run = load_run("s", run.scn, tmp)
        assert run.skipped and not run.broken
        assert load_run("nothing", None, tmp).state == "NOT RUN"
        # A directory older than this collection is an earlier run's.
        run, tmp = self.fake_run(SAMPLE_LOG)
        with open(os.path.join(tmp, "s", "result.json"), "w") as f:
            json.dump({"result": "PASS", "verdict": "ok", "reason": ""}, f)
        assert load_run("s", run.scn, tmp, since=time.time() - 60).state == PASS
        assert load_run("s", run.scn, tmp, since=time.time() + 60).state == "NOT RUN"
        kvm = parse_scenario("k", "accel = kvm\n")
        want = SKIP if kvm_unusable_reason() else "NOT RUN"
        assert load_run("k", kvm, tmp, since=time.time()).state == want

    def test_icount_args(self):
        assert icount_shift(["-icount", "shift=0"]) == 0
        assert icount_shift(["-icount", "shift=3,sleep=off"]) == 3
        assert icount_shift(["-icount", "7"]) == 7
        assert icount_shift(["-icount", "shift=auto"]) == "auto"
        assert icount_shift(["-smp", "2"]) is None


if __name__ == "__main__":
    unittest.main()
