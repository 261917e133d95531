"""LAVA: job definitions that boot mmtorture in a LAVA lab, and what a
local lava-run reported.

A LAVA lab boots a device, reads its serial console and records test
results.  mmtorture has no shell to run LAVA's test helpers in, so the
job's test action is a list of monitors (LAVA's pattern matchers for
consoles of bare-metal devices), one per KTAP suite, in the order the
kernel runs them:

    start    "# Subtest: SUITE"
    pattern  one match per case line, nested four spaces: its name is the
             test case id and its result is mapped ok -> pass,
             not ok -> fail (FAILURE and ERROR alike), # SKIP -> skip
    end      the suite's own result line

and a last one, named "mmtorture", whose one case (end_of_test) is the
run's verdict from "--- End of test: SUCCESS|FAILURE".  Each monitor's
results land in a LAVA test suite named after the monitor: the KTAP suite.
LAVA's test sets are made only by lava-test-set in a POSIX test shell,
which this kernel does not have.

The kernel must stay up after its log (exit=halt): a QEMU that exits ends
the console, and LAVA's monitor then fails the job.
"""

import json
import re

# Suites the jobs run by default: directed suites that finish in seconds
# under TCG and need no particular machine.
DEFAULT_SUITES = ("boot", "exceptions", "timer", "mm", "spf")
# Suites that skip themselves unless an option is given; a monitor would
# wait for their cases until the job times out.
SELF_SKIPPING = {"locking": "lockdep=on"}
KNOWN_SUITES = ("boot", "exceptions", "page_alloc", "timer", "locking", "rcu", "rcu_torture", "mm",
                "tlb", "spf", "fault_torture", "unmap_torture", "mprotect_torture", "thp_torture", "fork_torture",
                "mremap_torture", "stack_torture", "table_free_torture", "tlb_torture", "bench")
LAVA_EXIT = "exit=halt"
VERDICT_MONITOR = "mmtorture"
VERDICT_CASE = "end_of_test"

# A case line: the name is read ahead, then the result word is "SKIP" for
# a skipped case and the leading "ok"/"not ok" for the others.  LAVA's
# monitor takes one pattern with one 'result' group, and the skip
# directive follows the name, hence the look-ahead.  The look-ahead also
# waits for the line's end: the monitor matches the console as it
# arrives, and would otherwise take half a name, or an "ok" before its
# "# SKIP" came.
CASE_PATTERN = (r"\n {4}(?=(?:not )?ok \d+ (?P<test_case_id>[^\s#]+)[^\n]*\n)"
                r"(?:(?:not )?ok \d+ [^\s#]+ # (?=SKIP))?(?P<result>SKIP|not ok|ok)")
CASE_FIXUP = {"ok": "pass", "not ok": "fail", "SKIP": "skip"}
VERDICT_PATTERN = r"--- (?P<test_case_id>End of test): (?P<result>SUCCESS|FAILURE)"
VERDICT_FIXUP = {"SUCCESS": "pass", "FAILURE": "fail"}

# Where the PXE board's iPXE fetches GRUB's standalone network image from
# (LAVA fills in {SERVER_IP} and {KERNEL} from the tftp deploy).
IPXE_COMMANDS = ["dhcp net0", "chain tftp://{SERVER_IP}/{KERNEL}"]
DEVICE_TYPES = ("qemu", "x86")


class LavaError(Exception):
    """A job that cannot be made as asked."""


def check_suites(suites, cmdline_extra=""):
    """The suites, checked: known, each once, none that would skip itself."""
    if not suites:
        raise LavaError("no suites")
    words = cmdline_extra.split()
    for s in suites:
        if s not in KNOWN_SUITES:
            raise LavaError("unknown suite %r (suites: %s)" % (s, ", ".join(KNOWN_SUITES)))
        need = SELF_SKIPPING.get(s)
        if need and need not in words:
            raise LavaError("suite %s skips itself without %s, and its monitor would then wait "
                            "until the job times out; add %s to the command line" % (s, need, need))
    if len(set(suites)) != len(suites):
        raise LavaError("a suite is named twice")
    ordered = [s for s in KNOWN_SUITES if s in suites]
    if list(suites) != ordered:
        raise LavaError("the kernel runs suites in its own order: %s" % ",".join(ordered))
    return list(suites)


def kernel_cmdline(suites, extra=""):
    """The command line the job's image boots."""
    parts = ["tests=" + ",".join(suites)] + extra.split() + [LAVA_EXIT]
    return " ".join(parts)


def grub_cfg(cmdline, video=True):
    """The image's grub.cfg: no menu, GRUB on the serial line too (a lab
    reads only that), the kernel with cmdline.  video: load GRUB's video
    drivers, so the kernel gets a framebuffer (the BIOS network image has
    no room for them: the kernel then draws on VGA text)."""
    return ("set timeout=0\n"
            "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n"
            "terminal_input console serial\n"
            "terminal_output console serial\n"
            + ("insmod all_video\n" if video else "") +
            "menuentry \"mmtorture\" {\n"
            "    multiboot2 /boot/mmtorture.elf %s\n"
            "    boot\n"
            "}\n" % cmdline)


def monitors(suites):
    """The test action's monitors for these suites (see the module's
    description)."""
    out = []
    for s in suites:
        out.append({
            "name": s,
            "start": "# Subtest: %s" % s,
            "end": r"\n(?:not )?ok \d+ %s\s" % re.escape(s),
            "pattern": CASE_PATTERN,
            "fixupdict": dict(CASE_FIXUP),
        })
    out.append({
        "name": VERDICT_MONITOR,
        "start": "# Totals: ",
        "end": r"# halted \(exit code 0x1[0-3]\)",
        "pattern": VERDICT_PATTERN,
        "fixupdict": dict(VERDICT_FIXUP),
    })
    return out


def job(device_type, image_url, suites, cmdline_extra="", job_name=None):
    """The job definition as a dict.  qemu: LAVA's QEMU device type boots
    the GRUB ISO (image_url) from a CD-ROM; x86: a PXE board whose
    firmware runs iPXE fetches GRUB's standalone network image (image_url)
    from the dispatcher's TFTP server."""
    suites = check_suites(suites, cmdline_extra)
    cmdline = kernel_cmdline(suites, cmdline_extra)
    name = job_name or "mmtorture %s on %s" % (",".join(suites), device_type)
    if device_type == "qemu":
        deploy = {
            "to": "tmpfs",
            "timeout": {"minutes": 5},
            "images": {"mmtorture": {"image_arg": "-cdrom {mmtorture} -boot d", "url": image_url}},
        }
        boot = {"method": "qemu", "media": "tmpfs", "timeout": {"minutes": 2}}
        context = {"arch": "amd64", "no_kvm": True, "memory": 512,
                   "extra_options": ["-cpu max", "-smp 2", "-no-reboot"]}
    elif device_type == "x86":
        deploy = {"to": "tftp", "timeout": {"minutes": 5}, "kernel": {"url": image_url}}
        boot = {"method": "ipxe", "commands": list(IPXE_COMMANDS), "timeout": {"minutes": 5}}
        context = None
    else:
        raise LavaError("device type %r: not one of %s" % (device_type, ", ".join(DEVICE_TYPES)))
    definition = {
        "device_type": device_type,
        "job_name": name,
        "timeouts": {"job": {"minutes": 20}, "action": {"minutes": 10},
                     "connection": {"minutes": 2}},
        "priority": "medium",
        "visibility": "public",
        "metadata": {"kernel.cmdline": cmdline},
    }
    if context:
        definition["context"] = context
    definition["actions"] = [
        {"deploy": deploy},
        {"boot": boot},
        {"test": {"timeout": {"minutes": 10}, "monitors": monitors(suites)}},
    ]
    return definition


def to_yaml(value, indent=0):
    """YAML text for a job: block mappings and sequences, every string
    double-quoted (JSON's escapes are YAML's), so no value is read as
    another type."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            key = json.dumps(str(k)) if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", str(k)) else k
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, key))
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append("%s%s: %s" % (pad, key, _scalar(v)))
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for v in value:
            if isinstance(v, dict) and v:
                inner = to_yaml(v, indent + 1).splitlines()
                lines.append("%s- %s" % (pad, inner[0].lstrip()))
                lines.extend(inner[1:])
            else:
                lines.append("%s- %s" % (pad, _scalar(v)))
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, list) and not v:
        return "[]"
    return json.dumps(str(v))


def job_yaml(*args, **kw):
    header = ("# Made by tools/lava.py job; the monitors follow the suites of the image's\n"
              "# command line (metadata kernel.cmdline).\n")
    return header + to_yaml(job(*args, **kw)) + "\n"


def results_from_log(records):
    """LAVA test results from lava-run's log records (dicts with 'lvl' and
    'msg'): [(suite, case, result)] in log order, LAVA's own 'lava' suite
    left out."""
    out = []
    for rec in records:
        if rec.get("lvl") != "results":
            continue
        msg = rec.get("msg") or {}
        suite = msg.get("definition")
        if suite and suite != "lava" and "case" in msg:
            out.append((suite, msg["case"], msg.get("result")))
    return out


def lava_case_id(name):
    """The case id LAVA's monitor makes of a KTAP case name."""
    return re.sub(r"\W+", "_", name.strip().lower())


def expected_results(rep, suites):
    """What the monitors must report for a parsed KTAP log (rep): every
    case of each suite with its mapped result, then the verdict."""
    want = []
    top = {r.name: r for r in (rep.top.results if rep.top else [])}
    for s in suites:
        r = top.get(s)
        cases = r.sub.results if r is not None and r.sub is not None else []
        for c in cases:
            result = {"pass": "pass", "skip": "skip"}.get(c.status, "fail")
            want.append((s, lava_case_id(c.name), result))
    if rep.sentinel:
        want.append((VERDICT_MONITOR, VERDICT_CASE, "pass" if rep.sentinel == "SUCCESS" else "fail"))
    return want
