#!/usr/bin/env python3
"""Write the Bochs group: every seeded bug and every safety-matrix cell
(tests/scenarios/inject-*.scn and matrix-*.scn, the QEMU originals) on
each Bochs CPU model below, as tests/scenarios/bochs-MODEL-NAME.scn.

    python3 tools/bochs/scenarios.py          # (re)write them
    python3 tools/bochs/scenarios.py --check  # exit 1 if any is missing or stale

The unit tests run --check, so a seeded bug or a cell added without its
Bochs runs is noticed.  Run them with `make check-bochs`.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "scenarios")

# Short name, Bochs model, why it is here.
MODELS = (
    ("icelake", "corei7_icelake_u", "PCID, INVPCID, SMEP, SMAP, 1 GiB pages"),
    ("penryn", "core2_penryn_t9600", "no PCID, no SMEP, no SMAP, no 1 GiB pages"),
    ("ryzen", "ryzen", "AMD: SMEP, SMAP, 1 GiB pages, no PCID"),
)

# Bochs runs at roughly one fiftieth of the emulated speed QEMU has here:
# a 60 s torture suite on 4 CPUs takes several host minutes.
TIMEOUT = 2400


def originals():
    names = sorted(f[:-4] for f in os.listdir(SCENARIOS)
                   if f.endswith(".scn") and f.startswith(("inject-", "matrix-")))
    for name in names:
        with open(os.path.join(SCENARIOS, name + ".scn")) as f:
            keys = dict(line.split(" = ", 1) for line in f.read().splitlines() if " = " in line)
        # Group "open": seeded bugs not yet caught in every seed on QEMU;
        # they join the Bochs group once they are.
        if "open" in keys.get("groups", "").replace(",", " ").split():
            continue
        yield name, keys


def render(short, model, why, name, keys):
    lines = [
        "# Written by tools/bochs/scenarios.py from %s.scn: edit that, then rerun it." % name,
        "description = Bochs %s (%s): %s" % (model, why, keys["description"]),
        "emulator = bochs",
        "cpu = " + model,
        "smp = " + keys.get("smp", "4"),
        "memory = 512M",
        "cmdline = " + keys["cmdline"].strip(),
        "timeout = %d" % TIMEOUT,
        "groups = bochs",
        "expect = " + keys.get("expect", "pass"),
    ]
    if "expect_log" in keys:
        lines.append("expect_log = " + keys["expect_log"])
    return "\n".join(lines) + "\n"


def wanted():
    out = {}
    for name, keys in originals():
        for short, model, why in MODELS:
            out["bochs-%s-%s.scn" % (short, name)] = render(short, model, why, name, keys)
    return out


def main(argv):
    check = "--check" in argv
    want = wanted()
    have = {f for f in os.listdir(SCENARIOS) if f.startswith("bochs-") and
            any(f.startswith("bochs-%s-" % m[0]) for m in MODELS) and
            f[len("bochs-"):].split("-", 1)[1].startswith(("inject-", "matrix-"))}
    bad = []
    for fname, text in sorted(want.items()):
        path = os.path.join(SCENARIOS, fname)
        current = None
        if os.path.exists(path):
            with open(path) as f:
                current = f.read()
        if current != text:
            bad.append(fname)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    for fname in sorted(have - set(want)):
        bad.append(fname)
        if not check:
            os.unlink(os.path.join(SCENARIOS, fname))
    if check and bad:
        print("Bochs scenarios missing or stale (run python3 tools/bochs/scenarios.py): "
              + ", ".join(bad), file=sys.stderr)
        return 1
    if not check:
        print("%d Bochs scenarios, %d written or removed" % (len(want), len(bad)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
