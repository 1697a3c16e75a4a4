#!/usr/bin/env python3
"""Install what the project needs on a Debian 12 machine; safe to run again.

- Debian packages the lab and the tests need (only the missing ones, one apt run).
- A virtual environment in .venv with requirements.lock, reinstalled only when that
  file changes; it also gets the `nclab` command and the repo's tools/ on sys.path.

Uses only the standard library, so it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
DEB_PACKAGES = [
    # the lab
    "qemu-system-x86", "qemu-utils", "mmdebstrap", "fdisk", "e2fsprogs", "busybox-static", "cpio",
    "openssh-client", "iproute2", "git", "python3-apt",
    # the module tier (the kernel image/headers of the lab's ABI come from kernel_abi_debs())
    "build-essential", "sparse", "clang", "libclang-rt-14-dev", "linux-source-6.1", "perl",
    # ncbench --uring (module_src/bench; the in-VM tests link it statically)
    "liburing-dev",
    # unmodified programs the in-VM tests run through the shim (redis-tools holds the
    # redis-server binary; the redis-server package would start a daemon here, as nginx
    # and memcached would: run_vm.py unpacks those, and they need the two libraries)
    "iperf3", "redis-tools", "curl", "libevent-2.1-7", "libsasl2-2",
    # the kernel roles' build on the controller
    "bc", "bison", "flex", "libelf-dev", "libssl-dev", "dwarves", "rsync", "kmod", "debhelper", "patch", "zstd",
]  # fmt: skip


APT_STAMP = Path("/var/lib/netchannel-bootstrap/apt-lists-updated")
APT_MAX_AGE_S = 6 * 3600


def apt_lists_stale(stamp: Path | None = None, now: float | None = None) -> bool:
    """True when bootstrap has not refreshed apt's lists in the last APT_MAX_AGE_S seconds."""
    stamp = APT_STAMP if stamp is None else stamp
    now = time.time() if now is None else now
    try:
        return now - stamp.stat().st_mtime > APT_MAX_AGE_S
    except OSError:
        return True


def refresh_apt_lists(stamp: Path | None = None) -> None:
    """Refresh apt's lists before choosing anything from them (the kernel ABI of the lab and the
    module tests): stale lists chose 6.1.0-50 headers while the image, from fresh lists, got 6.1.0-57."""
    stamp = APT_STAMP if stamp is None else stamp
    if os.geteuid() != 0 or not apt_lists_stale(stamp):
        return
    log("apt: refreshing the package lists")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def kernel_abi_debs() -> list[str]:
    """Headers and image of the newest Debian 6.1 kernel ABI apt knows: the lab guests run it,
    the module is built against it and its in-VM tests boot it."""

    def known() -> list[str]:
        out = subprocess.run(
            ["apt-cache", "pkgnames", "linux-headers-6.1.0-"], capture_output=True, text=True, check=False
        ).stdout.split()
        return sorted({n.split("-")[3] for n in out if re.fullmatch(r"linux-headers-6\.1\.0-\d+-amd64", n)}, key=int)

    abis = known()
    if not abis:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        abis = known()
    if not abis:
        sys.exit("[bootstrap] error: apt knows no linux-headers-6.1.0-NN-amd64 package")
    return [f"linux-headers-6.1.0-{abis[-1]}-amd64", f"linux-image-6.1.0-{abis[-1]}-amd64"]


def newest_612_headers(names: list[str]) -> str | None:
    """The newest Debian 12 build of Linux 6.12 (bookworm-security) among apt's package names:
    the module is also built W=1 against it (`make -C module_src module-6.12`)."""
    found = [n for n in names if re.fullmatch(r"linux-headers-6\.12\.\d+\+deb12-amd64", n)]
    return max(found, key=lambda n: int(n.split(".")[2].split("+")[0]), default=None)


def kernel_612_debs() -> list[str]:
    out = subprocess.run(
        ["apt-cache", "pkgnames", "linux-headers-6.12."], capture_output=True, text=True, check=False
    ).stdout.split()
    newest = newest_612_headers(out)
    if newest is None:
        sys.exit("[bootstrap] error: apt knows no linux-headers-6.12.NN+deb12-amd64 package (bookworm-security)")
    return [newest]


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
    refresh_apt_lists()
    todo = missing_debs(DEB_PACKAGES + kernel_abi_debs() + kernel_612_debs())
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


def ensure_collection() -> None:
    """Build the collection and install it into collections/ (ansible.cfg's collections_path),
    so the playbooks, molecule and the tests resolve netchannel.deploy.* the way a user's
    installation does. Reinstalled only when the built tarball's file manifest changed."""
    out = ROOT / "build" / "collection"
    out.mkdir(parents=True, exist_ok=True)
    galaxy = str(VENV / "bin" / "ansible-galaxy")
    for old in out.glob("*.tar.gz"):
        old.unlink()
    proc = subprocess.run(
        [galaxy, "collection", "build", "--force", "--output-path", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"[bootstrap] error: ansible-galaxy collection build failed: {proc.stdout}{proc.stderr}")
    tarball = next(out.glob("*.tar.gz"))
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    want = manifest["file_manifest_file"]["chksum_sha256"]
    installed = ROOT / "collections" / "ansible_collections" / "netchannel" / "deploy" / "MANIFEST.json"
    try:
        have = json.loads(installed.read_text())["file_manifest_file"]["chksum_sha256"]
    except (OSError, ValueError, KeyError):
        have = None
    if have == want:
        log(f"collection: {tarball.name} is installed in collections/")
        return
    log(f"collection: installing {tarball.name} into collections/")
    subprocess.run(
        [galaxy, "collection", "install", "--force", "--offline", "-p", str(ROOT / "collections"), str(tarball)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def main() -> int:
    if sysconfig.get_platform() != "linux-x86_64":
        log(f"warning: untested platform {sysconfig.get_platform()}")
    ensure_debs()
    ensure_venv()
    ensure_collection()
    return 0


if __name__ == "__main__":
    sys.exit(main())
