"""tools/bench.py: the bench scenarios' '# bench' lines, the targets they
are checked against, plots and build/bench/summary.md.

  logs      a run directory -> Run: state, header, bench records
  quantity  measured quantities, medians over lines, units, number format
  targets   the target ratios, each a small function -> summary rows
  plots     the plots' data, drawn by matplotlib (or a plain SVG fallback)
  linux_boot     Debian's kernel (downloaded, cached), the initramfs with
                 the Linux bench init, one Linux boot with a scenario's settings
  linux_compare  the Linux run read back and checked against mmtorture's
  summary   summary.md
  cli       the command line: run the scenarios, collect, write, report
"""
