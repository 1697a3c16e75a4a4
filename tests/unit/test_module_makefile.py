"""module_src/Makefile: every rule whose recipe reads bash's PIPESTATUS (directly or through
KBUILD_FAIL_ON_WARN) must run under bash. Under make's default /bin/sh (dash) the recipe dies with
"Bad substitution" and the check fails for no reason of its own (sparse did, in a CI run)."""

from __future__ import annotations

import re
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[2] / "module_src" / "Makefile"


def _rules(text: str) -> dict[str, list[str]]:
    """target -> recipe lines (tab-indented lines after a 'target:' line)."""
    rules: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            rules[current].append(line)
            continue
        m = re.match(r"^([A-Za-z0-9_.$()/-]+):(?!=)(?!\s*SHELL\b)", line)
        current = m.group(1) if m else None
        if current is not None:
            rules.setdefault(current, [])
    return rules


def test_rules_that_read_pipestatus_run_under_bash():
    text = MAKEFILE.read_text()
    bash_targets = set(re.findall(r"^([A-Za-z0-9_.-]+): SHELL := /bin/bash$", text, re.M))
    needs_bash = {
        target
        for target, recipe in _rules(text).items()
        if any("PIPESTATUS" in line or "KBUILD_FAIL_ON_WARN" in line for line in recipe)
    }
    assert needs_bash, "no rule reads PIPESTATUS: the parser above found no recipes"
    assert {"module", "sparse", "module-6.12"} <= needs_bash, needs_bash
    missing = sorted(needs_bash - bash_targets)
    assert not missing, f"rules that read PIPESTATUS without 'SHELL := /bin/bash': {missing}"


def _fake_apt(tmp: Path, have: str) -> Path:
    """A stand-in apt-get on PATH that can download only the package named `have`: a real .deb
    holding ./boot/vmlinuz-<version>, built with dpkg-deb."""
    import subprocess

    pkg = tmp / "pkgroot"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "boot").mkdir()
    (pkg / "boot" / "vmlinuz-6.12.999+deb12-amd64").write_text("not really a kernel\n")
    (pkg / "DEBIAN" / "control").write_text(
        f"Package: {have}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: t\n"
    )
    deb = tmp / f"{have}_1_amd64.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(pkg), str(deb)], check=True, capture_output=True)
    bin_ = tmp / "bin"
    bin_.mkdir()
    apt = bin_ / "apt-get"
    apt.write_text(
        "#!/bin/sh\n"
        f'[ "$1 $2 $3" = "download -q {have}" ] || {{ echo "E: no candidate for $3" >&2; exit 100; }}\n'
        f"cp {deb} .\n"
    )
    apt.chmod(0o755)
    return bin_


def test_612_image_falls_back_to_the_unsigned_build(tmp_path):
    """bookworm-security had linux-headers-6.12.118 with only linux-image-6.12.118+deb12-amd64-unsigned
    for a while: the vmtest-6.12 kernel must then come from the unsigned package (same kernel)."""
    import os
    import subprocess

    version = "6.12.999+deb12-amd64"
    bin_ = _fake_apt(tmp_path, f"linux-image-{version}-unsigned")
    cache = tmp_path / "cache"
    target = cache / "boot" / f"vmlinuz-{version}"
    proc = subprocess.run(
        [
            "make",
            "-C",
            str(MAKEFILE.parent),
            f"KDIR_612={tmp_path}/linux-headers-{version}",
            f"K612_DIR={cache}",
            str(target),
        ],
        env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert target.read_text() == "not really a kernel\n"
