"""What the bench tests share: a bench log and run directories made from
logs in temporary directories."""

import os
import shutil
import tempfile

from mmtorture.bench.logs import load_run
from mmtorture.scenario import parse_scenario

SAMPLE_LOG = """\
\x1b[2JSeaBIOS (version 1.16.2)
KTAP version 1
# mmtorture 0.1.0 cmdline: tests=bench exit=qemu
# cpus: 4 online, apic ids: 0,1,2,3
# seed: 99
1..1
    KTAP version 1
    # Subtest: bench
    1..3
    # bench exception_roundtrip 900 ns
    # bench page_clear 600 ns
    # bench tick_period 4000 us
    # bench ipi_roundtrip 10000 ns
\t# bench minor_fault 2000 ns path=spf\r
    # bench minor_fault 2100 ns path=locked
    ok 1 basics
    # bench fault_throughput 100000 faults/s cpus=1 writer=0 path=spf
    # bench fault_throughput 95000 faults/s cpus=1 writer=1 path=spf
    # bench fault_throughput 190000 faults/s cpus=2 writer=0 path=spf
    # bench fault_throughput 150000 faults/s cpus=2 writer=1 path=spf
    # bench fault_throughput 280000 faults/s cpus=3 writer=0 path=spf
    # bench fault_throughput 270000 faults/s cpus=3 writer=1 path=spf
    # bench fault_throughput 60000 faults/s cpus=3 writer=1 path=locked
    # bench shootdown 25000 ns targets=1 pages=1
    # bench shootdown 30000 ns targets=2 pages=1
    # bench shootdown 40000 ns targets=3 pages=1
    # bench shootdown 45000 ns targets=3 pages=64
    # bench rcu_gp 50 us kind=expedited stat=median
    # bench rcu_gp 9000 us kind=normal stat=median
    # bench rcu_gp 15000 us kind=normal stat=p99
    # bench map_touch_unmap 5000 ns remote=0
    # bench map_touch_unmap 12000 ns remote=1
    # bench call_rcu 1.5 callbacks/s
    ok 2 more
    ok 3 rest
ok 1 bench
# Totals: pass:3 fail:0 skip:0 error:0
--- End of test: SUCCESS
"""


class RunDirs:
    """A TestCase mixin: fake_run() writes a log as NAME/serial.log in a
    temporary runs directory and loads it; the directories go in tearDown."""

    def setUp(self):
        self.tmpdirs = []

    def tearDown(self):
        for tmp in self.tmpdirs:
            shutil.rmtree(tmp, ignore_errors=True)

    def fake_run(self, text, name="s", smp="4", extra=""):
        tmp = tempfile.mkdtemp(prefix="bench-selftest-")
        self.tmpdirs.append(tmp)
        os.makedirs(os.path.join(tmp, name))
        with open(os.path.join(tmp, name, "serial.log"), "w") as f:
            f.write(text)
        scn = parse_scenario(name, "smp = %s\ngroups = bench\n%s" % (smp, extra))
        return load_run(name, scn, tmp), tmp
