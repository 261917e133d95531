"""The Linux half of the comparison (README, Benchmarks): Debian's kernel,
an initramfs whose init is tests/linux-bench/bench.c (built by the
Makefile as build/linux-bench/init), and one boot of them with a bench
scenario's QEMU settings.

  fetch_kernel      the linux-image-*-amd64 that linux-image-amd64 depends
                    on: apt-get download, vmlinuz taken out of the package,
                    cached in build/linux/
  write_initramfs   a cpio (newc) archive with /init, /dev/console, /proc, /sys
  boot_linux        QEMU with -kernel/-initrd; the run directory gets
                    serial.log, cmd.txt and result.json like the runner's

Anything the host lacks (no network, no apt, no init binary) raises
Unavailable with a sentence saying what; the comparison is then skipped.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import time

from ..common import ROOT, display_path, read_text
from ..emulators.qemu import QEMU, machine_args
from ..ktap import CRASH, FAIL, PASS, TIMEOUT

CACHE_DIR = os.path.join(ROOT, "build", "linux")
INIT = os.path.join(ROOT, "build", "linux-bench", "init")
META_PACKAGE = "linux-image-amd64"
KERNEL_INFO = "kernel.json"
# mitigations=off: mmtorture has no Meltdown or Spectre workarounds (no
# page-table isolation, whose CR3 switch on every kernel entry also makes
# QEMU's TCG drop its whole software TLB); Linux goes without them too so
# that the figures compare the two memory managers.  quiet: under TCG the
# serial port is slow and the boot messages are not needed.
APPEND = "console=ttyS0 quiet panic=-1 mitigations=off"
DONE_LINE = "# linux-bench: done"
ERROR_RE = re.compile(r"#\s*linux-bench:\s*error:\s*(.*?)\s*$", re.M)
LINUX_TIMEOUT = 900


class Unavailable(Exception):
    """The host cannot boot the Linux comparison; the text says why."""


def _run(cmd, **kw):
    """(returncode, stdout, stderr) of cmd; a missing command is Unavailable."""
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, **kw)
    except OSError as e:
        raise Unavailable("cannot run %s: %s" % (cmd[0], e.strerror or e))
    return p.returncode, p.stdout, p.stderr


def _last_error(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith(("E:", "Err:", "dpkg-deb:"))]
    return (errs or lines or ["no message"])[-1]


def kernel_package(depends_output):
    """The versioned kernel image package in `apt-cache depends
    linux-image-amd64` output, or None."""
    for line in depends_output.splitlines():
        m = re.match(r"^\s*\|?Depends:\s*(linux-image-\S+)\s*$", line)
        if m and m.group(1) != META_PACKAGE:
            return m.group(1)
    return None


def cached_kernel(cache_dir):
    """The kernel.json record of the cached kernel, or None."""
    try:
        with open(os.path.join(cache_dir, KERNEL_INFO), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(os.path.join(cache_dir, info.get("vmlinuz", ""))):
        return None
    return info


def _extract_vmlinuz(deb, cache_dir):
    """Copies boot/vmlinuz-* (and the kernel's config) out of the package's
    file tree into cache_dir; the vmlinuz file name.  Only those members
    are written: the package's modules are 400 MB unpacked."""
    try:
        p = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    except OSError as e:
        raise Unavailable("cannot run dpkg-deb: %s" % (e.strerror or e))
    vmlinuz = None
    try:
        with tarfile.open(fileobj=p.stdout, mode="r|") as tar:
            for m in tar:
                base = os.path.basename(m.name)
                if not m.isfile() or not m.name.lstrip("./").startswith("boot/"):
                    continue
                if base.startswith(("vmlinuz-", "config-")):
                    src = tar.extractfile(m)
                    with open(os.path.join(cache_dir, base), "wb") as out:
                        shutil.copyfileobj(src, out)
                    if base.startswith("vmlinuz-"):
                        vmlinuz = base
    except tarfile.TarError as e:
        p.kill()
        raise Unavailable("%s: not a readable package: %s" % (display_path(deb), e))
    finally:
        p.stdout.close()
        err = p.stderr.read().decode("utf-8", "replace")
        p.stderr.close()
        rc = p.wait()
    if rc != 0:
        raise Unavailable("dpkg-deb --fsys-tarfile %s: %s" % (display_path(deb), _last_error(err)))
    if vmlinuz is None:
        raise Unavailable("%s has no boot/vmlinuz-*" % display_path(deb))
    return vmlinuz


def fetch_kernel(cache_dir=CACHE_DIR, refresh=False, say=print):
    """The kernel record {package, version, vmlinuz} with vmlinuz in
    cache_dir: the cached one, or (none cached, or refresh) the package
    linux-image-amd64 depends on, downloaded now.  Raises Unavailable."""
    cached = cached_kernel(cache_dir)
    if cached and not refresh:
        return cached
    try:
        return _download_kernel(cache_dir, say)
    except Unavailable as e:
        if not cached:
            raise
        say("bench: %s; using the cached %s %s" % (e, cached["package"], cached["version"]))
        return cached


def _download_kernel(cache_dir, say):
    os.makedirs(cache_dir, exist_ok=True)
    if os.geteuid() == 0:
        say("bench: apt-get update, to find Debian's current kernel package")
        rc, _, err = _run(["apt-get", "-qq", "-o", "DPkg::Lock::Timeout=600", "update"])
        if rc != 0:
            say("bench: apt-get update failed (%s); using the package lists as they are" % _last_error(err))
    rc, out, err = _run(["apt-cache", "depends", META_PACKAGE])
    package = kernel_package(out) if rc == 0 else None
    if not package:
        raise Unavailable("apt-cache depends %s names no kernel package (%s)" % (
            META_PACKAGE, _last_error(err) if rc else "no linux-image-* dependency"))
    say("bench: apt-get download %s (into %s)" % (package, display_path(cache_dir)))
    for old in os.listdir(cache_dir):
        if old.endswith(".deb"):
            os.remove(os.path.join(cache_dir, old))
    # As root, apt's download user cannot write here; root does it.
    rc, _, err = _run(["apt-get", "-qq", "-o", "APT::Sandbox::User=root", "download", package], cwd=cache_dir)
    debs = [f for f in os.listdir(cache_dir) if f.startswith(package + "_") and f.endswith(".deb")]
    if rc != 0 or not debs:
        raise Unavailable("apt-get download %s failed: %s" % (package, _last_error(err)))
    deb = os.path.join(cache_dir, debs[0])
    rc, version, err = _run(["dpkg-deb", "--field", deb, "Version"])
    vmlinuz = _extract_vmlinuz(deb, cache_dir)
    os.remove(deb)
    info = {"package": package, "version": version.strip() if rc == 0 else "?", "vmlinuz": vmlinuz}
    with open(os.path.join(cache_dir, KERNEL_INFO), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    return info


# --- initramfs -------------------------------------------------------------

S_IFDIR, S_IFREG, S_IFCHR = 0o040000, 0o100000, 0o020000


def _cpio_entry(ino, name, mode, data=b"", rdev=(0, 0)):
    """One cpio 'newc' member: a header of 13 hex fields, the name and the
    data, each padded to 4 bytes."""
    namez = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 2 if mode & S_IFDIR else 1, 0, len(data), 0, 0,
              rdev[0], rdev[1], len(namez), 0)
    head = b"070701" + b"".join(b"%08X" % v for v in fields)
    pad = lambda n: b"\0" * (-n % 4)
    return head + namez + pad(len(head) + len(namez)) + data + pad(len(data))


def cpio_archive(members):
    """members: [(name, mode, data or None, (major, minor) or None)] ->
    the archive's bytes, ended by the TRAILER!!! member."""
    out = []
    for ino, (name, mode, data, rdev) in enumerate(members, 1):
        out.append(_cpio_entry(ino, name, mode, data or b"", rdev or (0, 0)))
    out.append(_cpio_entry(0, "TRAILER!!!", 0))
    return b"".join(out)


def write_initramfs(init_path, out_path):
    """An initramfs with init_path as /init.  /dev/console is a device node
    in the archive (made here, so no root is needed) because the kernel
    opens it for init's standard output before any devtmpfs exists."""
    try:
        with open(init_path, "rb") as f:
            init = f.read()
    except OSError as e:
        raise Unavailable("%s: %s (make builds it from tests/linux-bench/bench.c)" % (
            display_path(init_path), e.strerror or e))
    members = [
        ("dev", S_IFDIR | 0o755, None, None),
        ("dev/console", S_IFCHR | 0o600, None, (5, 1)),
        ("proc", S_IFDIR | 0o555, None, None),
        ("sys", S_IFDIR | 0o555, None, None),
        ("init", S_IFREG | 0o755, init, None),
    ]
    with open(out_path, "wb") as f:
        f.write(cpio_archive(members))


# --- the boot ---------------------------------------------------------------

def linux_command(scn, vmlinuz, initrd, log, append=APPEND):
    """QEMU booting vmlinuz with initrd on scn's machine, accelerator, CPU
    model, CPU count and memory (and its extra options); serial to log."""
    return [QEMU] + machine_args(scn) + [
        "-display", "none", "-monitor", "none", "-serial", "file:" + log, "-no-reboot",
        "-kernel", vmlinuz, "-initrd", initrd, "-append", append] + list(scn.qemu_extra)


def judge(status, timed_out, log, timeout=LINUX_TIMEOUT):
    """(result, reason) of a Linux boot from its exit and its log."""
    if timed_out:
        return TIMEOUT, "no power-off within %d s" % timeout
    m = ERROR_RE.search(log)
    if m:
        return FAIL, m.group(1)
    if DONE_LINE in log and status == 0:
        return PASS, ""
    if "Kernel panic" in log:
        line = next(l for l in log.splitlines() if "Kernel panic" in l)
        return CRASH, line.strip()
    return CRASH, "QEMU exited with status %s before '%s'" % (status, DONE_LINE)


def boot_linux(scn, kernel, run_dir, cache_dir=CACHE_DIR, init_path=INIT, timeout=LINUX_TIMEOUT, say=print):
    """Boots the cached kernel with the bench init on scn's settings; the
    run directory gets serial.log, cmd.txt, result.json and kernel.json.
    Returns the result.  Raises Unavailable when it cannot start."""
    if os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    os.makedirs(run_dir)
    initrd = os.path.join(run_dir, "initramfs.cpio")
    write_initramfs(init_path, initrd)
    log = os.path.join(run_dir, "serial.log")
    cmd = linux_command(scn, os.path.join(cache_dir, kernel["vmlinuz"]), initrd, log)
    with open(os.path.join(run_dir, "cmd.txt"), "w", encoding="utf-8") as f:
        f.write(" ".join(shlex.quote(c) for c in cmd) + "\n")
    with open(os.path.join(run_dir, KERNEL_INFO), "w", encoding="utf-8") as f:
        json.dump(kernel, f, indent=1)
        f.write("\n")
    say("bench: booting Linux (%s %s) with the QEMU settings of %s" % (kernel["package"], kernel["version"], scn.name))
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    with open(os.path.join(run_dir, "qemu.stderr"), "w") as err:
        try:
            p = subprocess.Popen(cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        except OSError as e:
            raise Unavailable("cannot start %s: %s" % (QEMU, e.strerror or e))
        timed_out = False
        try:
            status = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.kill()
            status = p.wait()
        except KeyboardInterrupt:
            p.kill()
            p.wait()
            raise
    seconds = time.monotonic() - t0
    result, reason = judge(status, timed_out, read_text(log), timeout)
    if result != PASS and not reason.strip():
        reason = _last_error(read_text(os.path.join(run_dir, "qemu.stderr")))
    with open(os.path.join(run_dir, "result.json"), "w", encoding="utf-8") as f:
        json.dump({"result": result, "reason": reason, "seconds": round(seconds, 1), "scenario": scn.name,
                   "host_load": round(load, 2)}, f, indent=1)
        f.write("\n")
    say("bench: Linux boot %s in %.0f s%s" % (result, seconds, ": " + reason if reason else ""))
    return result
