#!/usr/bin/env python3
"""Measure the lab: image build (cold and cached), boot-to-ssh per VM, the cost of one
trivial Ansible task on a warm connection (plain ssh and Mitogen), and a full
`molecule test -s lab`. Prints one line per figure; docs/lab.md quotes them.

  .venv/bin/python tools/bench_lab.py [--cold] [--skip-molecule]

--cold also builds the image from nothing in a temporary cache (about 2 minutes).
The lab is taken down and brought up again on the way; it is left running.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
TASKS = 20


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(
            f"bench_lab: {' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return took, proc


def figure(name: str, value: str) -> None:
    print(f"{name:48} {value}", flush=True)


def playbook(path: Path, count: int) -> None:
    tasks = "\n".join(
        f"    - name: Trivial task {i}\n      ansible.builtin.command: /bin/true\n      changed_when: false"
        for i in range(count)
    )
    path.write_text(f"---\n- name: Bench\n  hosts: nclab1\n  gather_facts: false\n  tasks:\n{tasks}\n")


def task_cost(strategy: str, tmp: Path) -> float:
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_STRATEGY": strategy,
        "ANSIBLE_STRATEGY_PLUGINS": str(ROOT / ".venv" / "mitogen-strategy"),
    }
    one, many = tmp / "one.yml", tmp / "many.yml"
    playbook(one, 1)
    playbook(many, 1 + TASKS)
    timed(["ansible-playbook", str(one)], env)  # warm the ssh master / interpreter
    t_one, _ = timed(["ansible-playbook", str(one)], env)
    t_many, _ = timed(["ansible-playbook", str(many)], env)
    figure(f"ansible-playbook, 1 task ({strategy})", f"{t_one:.1f} s")
    return (t_many - t_one) / TASKS


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="also build the image from nothing")
    ap.add_argument("--skip-molecule", action="store_true")
    args = ap.parse_args()
    py = str(BIN / "python")
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="nclab-bench-") as cache:
            env = {**os.environ, "NCLAB_CACHE_DIR": cache}
            took, _ = timed([py, "-m", "nclab", "image"], env)
            figure("image build from nothing", f"{took:.0f} s")
    took, _ = timed([py, "-m", "nclab", "image"])
    figure("image from cache (recipe hash + lookup)", f"{took:.2f} s")
    timed([py, "-m", "nclab", "down"])
    if not args.skip_molecule:
        env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": str(ROOT / ".venv" / "mitogen-strategy"),
        }
        subprocess.run(["molecule", "reset", "-s", "default"], cwd=ROOT, env=env, capture_output=True, check=False)
        took, _ = timed(["molecule", "test", "-s", "lab"], env)
        figure("molecule test -s lab (boot, converge, verify, destroy)", f"{took:.0f} s")
    took, proc = timed([py, "-m", "nclab", "up"])
    for name, secs in re.findall(r"(\S+): ssh answered (\d+)s after start", proc.stderr):
        figure(f"boot to ssh, {name} (both VMs booting at once)", f"{secs} s")
    figure("nclab up, whole (cached image)", f"{took:.0f} s")
    with tempfile.TemporaryDirectory(prefix="nclab-bench-") as tmp:
        for strategy in ("linear", "mitogen_linear"):
            cost = task_cost(strategy, Path(tmp))
            figure(f"one trivial task, warm connection ({strategy})", f"{cost:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
