"""Host-side tools of mmtorture: the scenario runner, the benchmarks and
mutation testing.

tools/runner.py, tools/bench.py and tools/mutate.py are the entry points;
the code is here, one module per idea:

  common      paths, UsageError, small file helpers
  scenario    the .scn format: keys, validation, loading, selection
  ktap        the KTAP log parser, classify() (exit status + log -> result)
              and verdict() (result -> what the scenario expected or not)
  emulators/  one module per emulator behind a small interface (base.py);
              qemu.py is the only one so far
  machine     one boot: the per-run GRUB ISO, the process table, timeouts
  symbolize   kernel addresses in a log -> function (file:line)
  runs        jobs, the worker pool, result.json
  report      the result table, failed logs, detection times, summary line
  runner_cli  tools/runner.py's command line
  mutate      the mutant catalog (tools/mutants.toml), edits, verdicts,
              score, reports
  mutate_cli  tools/mutate.py: tree copies, builds, boots, command line
  selftest    --selftest: the unit tests of tools/tests
  bench/      tools/bench.py: log records, quantities, targets, plots,
              summary.md, command line

Standard library only, except that plots use matplotlib when it is
importable.  The unit tests are in tools/tests/.
"""
