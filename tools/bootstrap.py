#!/usr/bin/env python3
"""Install what the project needs on a Debian 12 machine; safe to run again.

- Debian packages the lab and the tests need (only the missing ones, one apt run).
- A virtual environment in .venv with requirements.lock, reinstalled only when that
  file changes; it also gets the `nclab` command and the repo's tools/ on sys.path.

Uses only the standard library, so it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
DEB_PACKAGES = [
    # the lab
    "qemu-system-x86",
    "qemu-utils",
    "mmdebstrap",
    "fdisk",
    "e2fsprogs",
    "busybox-static",
    "cpio",
    "openssh-client",
    "iproute2",
    "git",
    # the module tier
    "build-essential",
    "sparse",
]


def log(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def missing_debs(packages: list[str]) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}
    return [p for p in packages if p not in installed]


def ensure_debs() -> None:
    todo = missing_debs(DEB_PACKAGES)
    if not todo:
        log("Debian packages: all present")
        return
    if os.geteuid() != 0:
        sys.exit(f"[bootstrap] error: missing Debian packages {' '.join(todo)}; run as root or install them")
    log(f"Debian packages: installing {' '.join(todo)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *todo], check=True, env=env)


def ensure_venv() -> None:
    stamp = VENV / ".lock-sha256"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want:
        log(f"Python environment: {VENV} is up to date")
    else:
        log(f"Python environment: installing {LOCK.name} into {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(LOCK)], check=True)
        stamp.write_text(want + "\n")
    get_purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", get_purelib], capture_output=True, text=True, check=True
    ).stdout.strip()
    (Path(purelib) / "netchannel-tools.pth").write_text(str(ROOT / "tools") + "\n")
    # ansible.cfg's strategy_plugins names this link, so Mitogen can be chosen
    # with ANSIBLE_STRATEGY=mitogen_linear whatever the venv's Python version.
    link = VENV / "mitogen-strategy"
    target = Path(purelib) / "ansible_mitogen" / "plugins" / "strategy"
    if not link.is_symlink() or link.readlink() != target:
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    wrapper = VENV / "bin" / "nclab"
    wrapper.write_text(f'#!/bin/sh\nexec {VENV / "bin" / "python"} -m nclab "$@"\n')
    wrapper.chmod(0o755)


def main() -> int:
    if sysconfig.get_platform() != "linux-x86_64":
        log(f"warning: untested platform {sysconfig.get_platform()}")
    ensure_debs()
    ensure_venv()
    return 0


if __name__ == "__main__":
    sys.exit(main())
