"""QEMU command lines and the KVM probe."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import LabError
from .util import require_tool, say

QEMU = "qemu-system-x86_64"


def accel_args(accel: str) -> list[str]:
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def base_args(accel: str, memory_mb: int, cpus: int) -> list[str]:
    return [
        require_tool(QEMU, "qemu-system-x86"),
        *accel_args(accel),
        "-m",
        str(memory_mb),
        "-smp",
        str(cpus),
        "-nodefaults",
        # the guest's RTC reads the host's clock: nclab-clock keeps the guest's clock in step with it
        "-rtc",
        "base=utc,clock=host",
        "-display",
        "none",
        "-vga",
        "none",
    ]


def _probe_initramfs(workdir: Path) -> Path:
    """A one-file initramfs whose /init prints a marker and powers off."""
    busybox = require_tool("busybox", "busybox-static")
    root = workdir / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    init = root / "init"
    init.write_text("#!/bin/busybox sh\n/bin/busybox echo NCLAB-PROBE-OK\n/bin/busybox poweroff -f\n")
    init.chmod(0o755)
    out = workdir / "probe.cpio"
    files = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
    with out.open("wb") as fh:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root, input=files, stdout=fh, check=True)
    return out


def probe_kvm(kernel: Path, cache_file: Path) -> bool:
    """Boot a kernel with KVM once; KVM counts as working only if it reaches /init.

    /dev/kvm existing proves nothing (on this project's machines it exists and guests
    hang after the decompressor). The answer is cached per host boot.
    """
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    if cache_file.exists():
        cached_boot, _, answer = cache_file.read_text().partition(" ")
        if cached_boot == boot_id:
            return answer.strip() == "kvm"
    works = False
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        with tempfile.TemporaryDirectory(prefix="nclab-probe-") as tmp:
            initrd = _probe_initramfs(Path(tmp))
            cmd = [
                *base_args("kvm", 256, 1),
                "-no-reboot",
                "-serial",
                "stdio",
                "-kernel",
                str(kernel),
                "-initrd",
                str(initrd),
                "-append",
                "console=ttyS0 panic=-1 quiet",
            ]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout
                works = "NCLAB-PROBE-OK" in out
            except subprocess.TimeoutExpired:
                works = False
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(f"{boot_id} {'kvm' if works else 'tcg'}\n")
    return works


def choose_accel(requested: str, kernel: Path, cache_file: Path) -> str:
    if requested == "tcg":
        say("accelerator: tcg (software emulation, as requested by NCLAB_ACCEL)")
        return "tcg"
    works = probe_kvm(kernel, cache_file)
    if requested == "kvm" and not works:
        raise LabError("NCLAB_ACCEL=kvm (environment) but a probe boot with KVM did not reach /init")
    accel = "kvm" if works else "tcg"
    reason = "a probe boot with KVM succeeded" if works else "a probe boot with KVM failed or /dev/kvm is unusable"
    say(f"accelerator: {accel} ({reason})")
    return accel
