"""Small helpers shared by the lab modules: running commands, logging, timing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .errors import LabError

_T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[nclab {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def require_tool(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LabError(
            f"required program {tool!r} is not installed",
            hint=f"apt-get install {package} (or run the README's commands, which install it)",
        )
    return path


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run(cmd: list[str], what: str, log: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; on failure raise LabError naming it and, if logged, the log's tail."""
    if log is not None:
        with log.open("a") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n")
            fh.flush()
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False, **kwargs)
        if proc.returncode != 0:
            raise LabError(f"{what} failed (exit {proc.returncode}); log: {log}\n--- log tail ---\n{tail(log)}")
        return proc
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def parse_cpu_list(text: str) -> set[int]:
    """'0-3,6' (the kernel's CPU list format) -> {0, 1, 2, 3, 6}; ValueError on anything else."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def widen_cpu_affinity(online: Path = Path("/sys/devices/system/cpu/online")) -> str:
    """Let this process, and the QEMU it starts, run on every online CPU; what changed ('' if nothing).

    The caller may have pinned it: Mitogen's affinity policy pins Ansible's workers, and every
    process they start, to one CPU of a 2-CPU controller. A lab started from such a task (molecule's
    create step) put every vCPU of every VM on that one core, with the other idle. The kernel keeps
    the new mask inside the cgroup's cpuset; where that is impossible nothing changes."""
    try:
        now = os.sched_getaffinity(0)
        want = parse_cpu_list(online.read_text())
        if want <= now:
            return ""
        os.sched_setaffinity(0, want)
        return f"CPU affinity {sorted(now)} -> {sorted(os.sched_getaffinity(0))}"
    except (OSError, ValueError):
        return ""
