"""The kernel build counts, and builds on, every CPU of the build host, even when the task that runs
it was pinned to one: Mitogen's affinity policy pins Ansible's workers, and every process they start,
to one CPU of a 2-CPU controller, and the build then ran `make -j1` on that CPU alone.

The role's two shell commands run here as the role would run them, under `taskset -c 0`, with a
stand-in `make` that records what it sees."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "roles" / "netchannel_kernel_build" / "tasks"

pytestmark = pytest.mark.skipif(
    shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2,
    reason="needs taskset and at least two CPUs this process may use",
)


def _cmd(tasks_file: str, name_start: str, **variables) -> str:
    tasks = yaml.safe_load((TASKS / tasks_file).read_text())
    found = [t for t in tasks if t.get("name", "").startswith(name_start)]
    assert len(found) == 1, f"{tasks_file}: {len(found)} tasks named '{name_start}...'"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (shell text, not HTML)
    env.filters["quote"] = shlex.quote
    role_vars = yaml.safe_load((TASKS.parent / "vars" / "main.yml").read_text())
    widen = role_vars["__netchannel_kernel_build_widen"]
    return env.from_string(found[0]["ansible.builtin.shell"]["cmd"]).render(
        __netchannel_kernel_build_widen=widen, **variables
    )


def _pinned(cmd: str, cwd: Path, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["taskset", "-c", "0", "/bin/sh", "-c", cmd],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_cpu_count_is_not_the_callers_pinning():
    proc = _pinned(_cmd("main.yml", "Count the build host's CPUs"), ROOT, os.environ["PATH"])
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) == len(os.sched_getaffinity(0)), proc.stdout


def test_the_build_runs_on_every_cpu(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen"
    fake = bin_dir / "make"
    fake.write_text(f'#!/bin/sh\necho 6.1.0\necho "$* cpus=$(nproc)" >> {seen}\n')
    fake.chmod(0o755)
    cmd = _cmd(
        "build.yml",
        "Start the package build",
        __netchannel_kernel_build_jobs=2,
        netchannel_kernel_build_localversion="-netchannel",
        __netchannel_kernel_build_revision="1.abc",
        __netchannel_kernel_build_log=str(tmp_path / "build.log"),
    )
    proc = _pinned(cmd, tmp_path, f"{bin_dir}:{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stderr
    runs = seen.read_text().splitlines()
    build = [r for r in runs if "bindeb-pkg" in r]
    assert len(build) == 1, runs
    assert build[0].startswith("-j2 bindeb-pkg"), build
    assert build[0].endswith(f"cpus={len(os.sched_getaffinity(0))}"), build
