"""Running the selected scenarios: one Job per run (a scenario and a seed),
a pool of workers booting them, and each run's outcome in a RunResult and
in build/runs/NAME/result.json."""

import json
import os
import queue
import shlex
import shutil
import subprocess
import threading
import traceback

from . import machine
from .common import read_text
from .kunit import count_problems
from .netboot import make_tftp_root
from .emulators import emulator_for
from .ktap import (ANSI_RE, FAILED, HOSTERR, PANIC, SKIP, SKIPPED, TIMEOUT,
                   parse_ktap, verdict)
from .symbolize import symbolize_text

# Workers must not interleave their lines with the main thread's.
print_lock = threading.Lock()


class Job:
    def __init__(self, scn, seed, run_name):
        self.scn = scn
        self.seed = seed
        self.name = run_name


class RunResult:
    def __init__(self, job):
        self.job = job
        self.name = job.name
        self.scn = job.scn
        self.result = None
        self.reason = ""
        self.verdict = None
        self.why = ""
        self.seconds = 0.0
        self.status = None
        self.dir = None
        self.log = None
        self.stderr = None
        self.sym_log = None
        self.problems = []
        self.detect = None
        self.rep = None         # the parsed KTAP log
        self.kunit = None       # kunit.KunitResult when Linux's parser read the log
        self.count_problems = []  # where the parsers and the totals disagree

    def host_error(self, reason, problems=()):
        self.result, self.reason = HOSTERR, reason
        self.problems = list(problems)
        self.verdict, self.why = FAILED, reason


def make_jobs(chosen, seeds, seed_base):
    """One job per scenario, or per scenario and seed when seeds are asked for."""
    if seeds is None and seed_base is None:
        return [Job(s, None, s.name) for s in chosen]
    base = 1 if seed_base is None else seed_base
    return [Job(s, seed, "%s-seed%d" % (s.name, seed))
            for s in chosen for seed in range(base, base + (seeds or 1))]


def timeout_reason(scn, text):
    reason = "no exit after %g s" % scn.timeout
    last = [l for l in text.splitlines() if l.strip()][-1:]
    if last:
        reason += "; last line: %s" % ANSI_RE.sub("", last[0]).strip()[:100]
    return reason


def run_job(job, opts, procs, note):
    """Boots one job and judges it.  note(text): verbose progress."""
    res = RunResult(job)
    scn = job.scn
    emu = emulator_for(scn)
    why = emu.unusable(scn)
    run_dir = res.dir = os.path.join(opts.out, job.name)
    shutil.rmtree(run_dir, ignore_errors=True)
    if why:
        os.makedirs(run_dir, exist_ok=True)
        res.result, res.reason, res.verdict = SKIP, why, SKIPPED
        res.log = emu.serial_log(run_dir)
        write_skip_ktap(res.log, job.name, why)
        check_counts(res, opts)
        write_record(res)
        return res

    try:
        cmdline = machine.build_cmdline(scn, job.seed)
        if scn.boot == "net":
            os.makedirs(run_dir)
            try:
                media = make_tftp_root(opts.elf, machine.GRUB_CFG % cmdline, run_dir, scn.firmware)
            except OSError as e:
                raise machine.HostError("cannot make the TFTP root: %s" % e)
        else:
            media = machine.make_iso(procs, opts.elf, cmdline, run_dir, note)
        cmd = emu.prepare(scn, run_dir, media)
        with open(os.path.join(run_dir, "cmd.txt"), "w") as f:
            f.write(shlex.join(cmd) + "\n")
        note("  %s: %s" % (job.name, shlex.join(cmd)))
        res.log, res.stderr = emu.serial_log(run_dir), emu.stderr_log(run_dir)
        res.status, timed_out, res.seconds = machine.boot(procs, emu, scn, cmd, run_dir)
    except machine.HostError as e:
        res.host_error(e.reason, e.problems)
        write_record(res)
        return res

    text = read_text(res.log)
    rep = res.rep = parse_ktap(text)
    if timed_out:
        res.result, res.reason = TIMEOUT, timeout_reason(scn, text)
    else:
        res.result, res.reason = emu.outcome(scn, res.status, rep, text, read_text(res.stderr))

    res.verdict, res.why = verdict(scn, res.result, ANSI_RE.sub("", text), res.reason)
    if res.verdict == SKIPPED and not text.strip():
        write_skip_ktap(res.log, job.name, res.reason)
        res.rep = None  # check_counts() reads the new log
    check_counts(res, opts)
    if res.verdict != FAILED and not opts.keep_iso:
        # A run that went as expected is not going to be rebooted by hand.
        machine.remove_iso(run_dir)
    if res.verdict == SKIPPED:
        write_record(res)
        return res
    if rep.detects:
        res.detect = rep.detects[0][1]
    if res.verdict == FAILED:
        res.problems = rep.problem_lines(6) + res.count_problems
    if (res.verdict == FAILED or res.result == PANIC) and text:
        res.sym_log = os.path.join(run_dir, "serial.sym.log")
        with open(res.sym_log, "w") as f:
            f.write(symbolize_text(text, opts.elf))
        if res.result == PANIC:
            frames = [l for l in read_text(res.sym_log).splitlines() if "->" in l and "[<" in l]
            res.problems = res.problems[:2] + [f.strip() for f in frames[:2]]
    write_record(res)
    return res


def write_skip_ktap(path, name, reason):
    """A run the host could not boot leaves no kernel log.  Its log is then
    this KTAP document, which says so and reads like the kernel's own: one
    skipped test named after the run, totals and the last line."""
    reason = " ".join(reason.split()) or "the host cannot boot this scenario"
    with open(path, "w") as f:
        f.write("KTAP version 1\n"
                "# mmtorture runner: the kernel did not run; this log is the runner's\n"
                "1..1\n"
                "ok 1 %s # SKIP %s\n"
                "# Totals: pass:0 fail:0 skip:1 error:0\n"
                "--- End of test: SUCCESS\n" % (name.replace("#", "_"), reason))


def check_counts(res, opts):
    """Linux's parser (when the runner has one, opts.kunit) reads the log
    as a user would, and the runner's parser, kunit.py and the log's totals
    must agree (kunit.py's rules).  A run that went as expected fails when
    they do not."""
    kunit = getattr(opts, "kunit", None)
    if not res.log or not os.path.isfile(res.log):
        return
    if kunit is not None:
        try:
            res.kunit = kunit.parse(res.log)
        except (OSError, subprocess.SubprocessError) as e:
            res.count_problems.append("kunit.py could not be run: %s" % e)
    rep = res.rep if res.rep is not None else parse_ktap(read_text(res.log))
    res.count_problems += count_problems(rep, res.kunit)
    if res.count_problems and res.verdict != FAILED:
        res.verdict, res.why = FAILED, res.count_problems[0]
        res.problems = res.count_problems[1:]


def write_record(res):
    record = {
        "name": res.name, "scenario": res.scn.name, "seed": res.job.seed,
        "expect": res.scn.expect, "result": res.result, "reason": res.reason,
        "verdict": res.verdict, "why": res.why, "status": res.status,
        "seconds": round(res.seconds, 3), "detect_seconds": res.detect,
        "kunit": res.kunit.counts if res.kunit is not None else None,
        "count_problems": res.count_problems,
    }
    try:
        with open(os.path.join(res.dir, "result.json"), "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    except OSError:
        pass


def progress_line(res, done, total):
    note = ""
    if res.verdict == SKIPPED:
        note = "  skipped: " + res.reason
    elif res.verdict == FAILED:
        note = "  UNEXPECTED (%s)" % res.why
    return "[%*d/%d] %-7s %s  (%.1f s)%s" % (len(str(total)), done, total, res.result,
                                            res.name, res.seconds, note)


def run_all(jobs, opts):
    """Runs the jobs, opts.jobs at a time; a line per finished run.  Without
    opts.keep_going nothing new starts after the first unexpected result."""
    procs = machine.ProcessTable()

    def note(msg):
        if opts.verbose:
            with print_lock:
                print(msg, flush=True)

    # Longest timeouts first: a 300 s scenario started last would otherwise
    # dominate the wall time of the whole run.
    pending = queue.Queue()
    for job in sorted(jobs, key=lambda j: (-j.scn.timeout, j.scn.firmware != "uefi", j.name)):
        pending.put(job)
    done = queue.Queue()
    halt = threading.Event()

    def worker():
        while not halt.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                res = run_job(job, opts, procs, note)
            except machine.Interrupted:
                return
            except Exception as e:  # keep the pool alive; report as host error
                with print_lock:
                    traceback.print_exc()
                res = RunResult(job)
                res.host_error("runner: %s: %s" % (type(e).__name__, e))
            if res.verdict == FAILED and not opts.keep_going:
                # Set before reporting, so that no worker picks up another
                # job in the meantime.
                halt.set()
            done.put(res)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(opts.jobs, len(jobs)))]
    for t in threads:
        t.start()

    results = []
    try:
        while len(results) < len(jobs):
            try:
                res = done.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    break
                continue
            results.append(res)
            with print_lock:
                print(progress_line(res, len(results), len(jobs)), flush=True)
    except KeyboardInterrupt:
        halt.set()
        procs.kill_all()
        for t in threads:
            t.join(timeout=15)
        raise

    finished = {r.name for r in results}
    for job in jobs:
        if job.name not in finished:
            res = RunResult(job)
            res.result, res.verdict = "-", SKIPPED
            res.reason = "not run: stopped after the first failure (use --keep-going)"
            results.append(res)
    return results
