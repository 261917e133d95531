#!/usr/bin/env python3
"""LAVA for mmtorture (README: LAVA).

  tools/lava.py job --device-type qemu|x86 --image-url URL [--suites a,b] [--cmdline "k=v"]
      print a job definition (the image must boot the same command line:
      tools/lava.py images builds such images)
  tools/lava.py images [--suites ...] [--cmdline ...] [--out DIR]
      the images a job boots: a GRUB ISO (QEMU) and GRUB's standalone
      network images for iPXE to chain (BIOS: .pxe, UEFI: .efi)
  tools/lava.py validate FILE...
      check job definitions against lava-common's schema
  tools/lava.py run [--suites ...]
      make lava: build the images, validate the jobs, run the QEMU job under
      lava-dispatcher's lava-run with tools/lava/devices/qemu-local.yaml,
      print the LAVA test cases and check them against the KTAP log
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mmtorture.common import ROOT, display_path  # noqa: E402
from mmtorture.ktap import parse_ktap  # noqa: E402
from mmtorture.lava import (DEFAULT_SUITES, LavaError, check_suites, expected_results,  # noqa: E402
                            grub_cfg, job_yaml, kernel_cmdline, results_from_log)

LAVA_DIR = os.path.join(ROOT, "tools", "lava")
DEVICE = os.path.join(LAVA_DIR, "devices", "qemu-local.yaml")
OUT = os.path.join(ROOT, "build", "lava")
ELF = os.path.join(ROOT, "build", "mmtorture.elf")
IMAGES = {"iso": "mmtorture-lava.iso", "bios": "mmtorture-lava-bios.pxe", "uefi": "mmtorture-lava-uefi.efi"}
# The BIOS network image must fit GRUB's PXE limit (480 KiB): it carries
# these modules only (and their dependencies), and the kernel without its
# debug information (the .ksyms table that backtraces use stays).
BIOS_PXE_MODULES = ("multiboot2 serial terminal normal configfile memdisk tar boot extcmd crypto "
                    "gettext terminfo video relocator mmap net pxe")
PRELOAD_MODULES = "multiboot2 serial terminal configfile memdisk tar"


def suites_arg(text):
    return [s for s in text.split(",") if s] if text else list(DEFAULT_SUITES)


def run_checked(cmd, log):
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        with open(log) as f:
            sys.stderr.write(f.read()[-3000:])
        raise LavaError("%s failed (status %d); see %s" % (cmd[0], p.returncode, display_path(log)))


def build_images(suites, extra, out):
    """The three images, all booting the same command line; their paths."""
    if not os.path.isfile(ELF):
        raise LavaError("%s does not exist; build it first (make)" % display_path(ELF))
    cmdline = kernel_cmdline(suites, extra)
    os.makedirs(out, exist_ok=True)
    cfg, cfg_text = os.path.join(out, "grub.cfg"), os.path.join(out, "grub-text.cfg")
    with open(cfg, "w") as f:
        f.write(grub_cfg(cmdline))
    with open(cfg_text, "w") as f:
        f.write(grub_cfg(cmdline, video=False))
    stripped = os.path.join(out, "mmtorture-stripped.elf")
    run_checked(["objcopy", "--strip-debug", ELF, stripped], os.path.join(out, "objcopy.log"))
    root = os.path.join(out, "iso-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "boot", "grub"))
    shutil.copyfile(ELF, os.path.join(root, "boot", "mmtorture.elf"))
    shutil.copyfile(cfg, os.path.join(root, "boot", "grub", "grub.cfg"))
    paths = {k: os.path.join(out, v) for k, v in IMAGES.items()}
    run_checked(["grub-mkrescue", "-o", paths["iso"], root], os.path.join(out, "grub-mkrescue.log"))
    # A standalone image carries grub.cfg and the kernel in its memdisk,
    # so it needs nothing else from the TFTP server that served it.
    for key, fmt, extra_args, config in (
            ("bios", "i386-pc-pxe", ["--install-modules=" + BIOS_PXE_MODULES], cfg_text),
            ("uefi", "x86_64-efi", [], cfg)):
        run_checked(["grub-mkstandalone", "-O", fmt, "-o", paths[key], "--modules=" + PRELOAD_MODULES,
                     "--locales=", "--fonts=", "--themes="] + extra_args +
                    ["boot/grub/grub.cfg=" + config, "boot/mmtorture.elf=" + stripped],
                    os.path.join(out, "grub-mkstandalone-%s.log" % key))
    return paths, cmdline


def validate_jobs(paths):
    """Each job file against lava-common's schema; raises LavaError."""
    try:
        from lava_common.schemas import validate
        from lava_common.compat import yaml_safe_load
    except ImportError:
        raise LavaError("lava-common cannot be imported by %s (Debian: sudo apt-get install -y "
                        "lava-common, and run this with /usr/bin/python3)" % sys.executable)
    for path in paths:
        with open(path) as f:
            data = yaml_safe_load(f)
        try:
            validate(data, strict=True)
        except Exception as e:  # voluptuous.Invalid and friends
            raise LavaError("%s: not a valid LAVA job: %s" % (display_path(path), e))
        print("valid LAVA job: %s" % display_path(path))


def read_log_records(path):
    """lava-run's log: a JSON object per line (dt, lvl, msg)."""
    records = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def serial_text(records):
    """The device's console as lava-run logged it (level 'target')."""
    return "\n".join(str(r.get("msg", "")) for r in records if r.get("lvl") == "target")


def lava_run(job_path, out):
    """lava-run the job; (records of its log, status)."""
    if shutil.which("lava-run") is None:
        raise LavaError("lava-run not found (sudo apt-get install -y lava-dispatcher)")
    run_dir = os.path.join(out, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    log = os.path.join(out, "lava-run.log")
    cmd = ["lava-run", "--job-id", "1", "--output-dir", run_dir, "--device", DEVICE, job_path]
    print("running: %s" % " ".join(display_path(c) if os.path.isabs(c) else c for c in cmd), flush=True)
    with open(log, "w") as f:
        status = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT).returncode
    print("lava-run exited with status %d; its log: %s" % (status, display_path(log)))
    return read_log_records(log), status


def cmd_run(opts):
    suites = check_suites(suites_arg(opts.suites), opts.cmdline)
    out = os.path.abspath(opts.out)
    paths, cmdline = build_images(suites, opts.cmdline, out)
    print("images (command line: %s):" % cmdline)
    for p in paths.values():
        print("  " + display_path(p))
    jobs = {}
    for device_type, url in (("qemu", "file://" + paths["iso"]),
                             ("x86", "http://lava.example/mmtorture/" + IMAGES["bios"])):
        jobs[device_type] = os.path.join(out, "job-%s.yaml" % device_type)
        with open(jobs[device_type], "w") as f:
            f.write(job_yaml(device_type, url, suites, opts.cmdline))
    validate_jobs(list(jobs.values()) + [os.path.join(LAVA_DIR, n) for n in EXAMPLE_JOBS])
    records, status = lava_run(jobs["qemu"], out)
    got = results_from_log(records)
    job_result = [r for r in records if r.get("lvl") == "results"
                  and (r.get("msg") or {}).get("definition") == "lava" and (r.get("msg") or {}).get("case") == "job"]
    print()
    print("LAVA test cases (suite / case: result):")
    for suite, case, result in got:
        print("  %-12s %-40s %s" % (suite, case, result))
    verdict = job_result[-1]["msg"].get("result") if job_result else "missing"
    print("LAVA job: %s" % verdict)

    text = serial_text(records)
    with open(os.path.join(out, "serial.log"), "w") as f:
        f.write(text + "\n")
    want = expected_results(parse_ktap(text), suites)
    problems = []
    if not want:
        problems.append("no KTAP results in the console log")
    if got != want:
        missing = [w for w in want if w not in got]
        extra = [g for g in got if g not in want]
        problems.append("LAVA's test cases differ from the KTAP log: missing %s, unexpected %s" % (
            missing[:5], extra[:5]))
    if verdict != "pass":
        problems.append("the LAVA job did not complete (lava/job: %s)" % verdict)
    if status != 0:
        problems.append("lava-run exited with status %d" % status)
    if problems:
        for p in problems:
            print("lava: " + p, file=sys.stderr)
        return 1
    print("%d LAVA test cases, one per KTAP case and the verdict, as the KTAP log says" % len(got))
    return 0


# Job definitions kept in tools/lava/ as examples to submit (their image
# URLs are placeholders): regenerated by `tools/lava.py examples`.
EXAMPLE_JOBS = {
    "mmtorture-qemu.yaml": ("qemu", "https://lava.example/mmtorture/" + IMAGES["iso"]),
    "mmtorture-x86-pxe.yaml": ("x86", "https://lava.example/mmtorture/" + IMAGES["bios"]),
}


def example_text(name):
    device_type, url = EXAMPLE_JOBS[name]
    return job_yaml(device_type, url, list(DEFAULT_SUITES))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/lava.py", description="LAVA jobs for mmtorture.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    j = sub.add_parser("job", help="print a job definition")
    j.add_argument("--device-type", required=True, choices=("qemu", "x86"))
    j.add_argument("--image-url", required=True)
    j.add_argument("--name")
    for p in (j, sub.add_parser("images", help="build the images a job boots"),
              sub.add_parser("run", help="make lava: run the QEMU job under lava-run")):
        p.add_argument("--suites", help="comma list (default: %s)" % ",".join(DEFAULT_SUITES))
        p.add_argument("--cmdline", default="", help="more kernel options, e.g. 'lockdep=on seed=1'")
        if p is not j:
            p.add_argument("--out", default=OUT, help="where images and logs go (default: build/lava)")
    v = sub.add_parser("validate", help="check job files against lava-common's schema")
    v.add_argument("files", nargs="+")
    sub.add_parser("examples", help="rewrite the example jobs in tools/lava/")
    opts = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if opts.cmd == "job":
            sys.stdout.write(job_yaml(opts.device_type, opts.image_url, suites_arg(opts.suites),
                                      opts.cmdline, opts.name))
        elif opts.cmd == "images":
            paths, cmdline = build_images(check_suites(suites_arg(opts.suites), opts.cmdline),
                                          opts.cmdline, os.path.abspath(opts.out))
            print("command line: " + cmdline)
            for p in paths.values():
                print(display_path(p))
        elif opts.cmd == "validate":
            validate_jobs(opts.files)
        elif opts.cmd == "examples":
            for name in EXAMPLE_JOBS:
                with open(os.path.join(LAVA_DIR, name), "w") as f:
                    f.write(example_text(name))
        elif opts.cmd == "run":
            return cmd_run(opts)
    except LavaError as e:
        print("lava: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
