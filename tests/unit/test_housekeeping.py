"""The README's commands from scripts (non-blocking stdin), and cache pruning."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import prune_kernels  # noqa: E402


def test_make_lab_runs_ansible_with_a_non_blocking_stdin(tmp_path):
    """`make lab` from a script whose stdin is a non-blocking pipe: Ansible must not refuse to start."""
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if "ansible-playbook site.yml" in ln)
    cmd = line.replace("ansible-playbook site.yml", "ansible-playbook -i localhost, --syntax-check site.yml")
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETFL, fcntl.fcntl(read_end, fcntl.F_GETFL) | os.O_NONBLOCK)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "ANSIBLE_STRATEGY": "linear"}
    try:
        proc = subprocess.run(
            ["sh", "-c", cmd], cwd=ROOT, stdin=read_end, capture_output=True, text=True, env=env, check=False
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert "requires blocking IO" not in proc.stderr + proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prune_kernels_keeps_the_newest(tmp_path):
    cache, work, art = tmp_path / "cache", tmp_path / "work", tmp_path / "art"
    for i, name in enumerate(["k1", "k2", "k3"]):
        for root in (cache, art):
            (root / name).mkdir(parents=True)
            os.utime(root / name, (time.time() - 100 + i, time.time() - 100 + i))
    for name in ("inputs", "abandoned", "running"):
        (work / name).mkdir(parents=True)
    (work / "abandoned" / "build.log").write_text("old")
    os.utime(work / "abandoned" / "build.log", (time.time() - 2 * 86400,) * 2)
    (work / "running" / "build.log").write_text("CC kernel/fork.o")
    rc = prune_kernels.main(["--keep", "2", "--cache", str(cache), "--work", str(work), "--artifacts", str(art)])
    assert rc == 0
    assert sorted(p.name for p in cache.iterdir()) == ["k2", "k3"]
    assert sorted(p.name for p in art.iterdir()) == ["k2", "k3"]
    # A tree whose log changed lately may be another build running now: kept.
    assert sorted(p.name for p in work.iterdir()) == ["inputs", "running"]


def test_prune_kernels_refuses_keep_zero(capsys):
    assert prune_kernels.main(["--keep", "0"]) == 2
    assert "--keep 0 must be at least 1" in capsys.readouterr().err


def _bootstrap():

    mod = load_file("bootstrap", ROOT / "tools" / "bootstrap.py")
    return mod


def test_bootstrap_refreshes_apt_lists_before_choosing_the_kernel_abi(monkeypatch, tmp_path):
    bs = _bootstrap()
    calls = []

    class Done:
        returncode = 0
        stdout = "linux-headers-6.1.0-57-amd64\nlinux-headers-6.1.0-50-amd64\nlinux-headers-6.12.111+deb12-amd64\n"

    def fake_run(cmd, **_kw):
        calls.append(cmd[:2])
        return Done()

    monkeypatch.setattr(bs.subprocess, "run", fake_run)
    monkeypatch.setattr(bs, "APT_STAMP", tmp_path / "stamp")
    monkeypatch.setattr(bs.os, "geteuid", lambda: 0)
    assert bs.apt_lists_stale()
    bs.ensure_debs()
    assert calls.index(["apt-get", "update"]) < calls.index(["apt-cache", "pkgnames"]), calls
    assert not bs.apt_lists_stale()
    # Fresh lists are not refreshed again.
    calls.clear()
    bs.refresh_apt_lists()
    assert calls == []
    # Old ones are.
    os.utime(tmp_path / "stamp", (time.time() - bs.APT_MAX_AGE_S - 10,) * 2)
    assert bs.apt_lists_stale()


def test_bootstrap_picks_the_newest_debian_612_headers():
    bs = _bootstrap()
    names = [
        "linux-headers-6.12.99+deb12-amd64",
        "linux-headers-6.12.111+deb12-amd64",
        "linux-headers-6.12.107+deb12-amd64",
        "linux-headers-6.12.200+deb12-cloud-amd64",
        "linux-headers-6.12.200+deb12-rt-amd64",
        "linux-headers-6.12.200+deb12-common",
        "linux-headers-6.1.0-57-amd64",
    ]
    # numerically newest (111 > 107 > 99), generic flavour only
    assert bs.newest_612_headers(names) == "linux-headers-6.12.111+deb12-amd64"
    assert bs.newest_612_headers(["linux-headers-6.1.0-57-amd64"]) is None


def test_bootstrap_without_612_headers_says_so(monkeypatch, capsys):
    bs = _bootstrap()

    class Done:
        returncode = 0
        stdout = "linux-headers-6.12.111+deb12-cloud-amd64\n"

    monkeypatch.setattr(bs.subprocess, "run", lambda *_a, **_k: Done())
    with pytest.raises(SystemExit, match=r"no linux-headers-6\.12\.NN\+deb12-amd64"):
        bs.kernel_612_debs()


def test_module_tier_builds_and_runs_on_612():
    # the README's test command builds the module W=1 on 6.12 too and runs its in-VM tests there (issue 13)
    tier = (ROOT / "tools" / "run_tests.py").read_text()
    makefile = (ROOT / "module_src" / "Makefile").read_text()
    for target in ("module-6.12", "vmtest-6.12"):
        assert f'"{target}"' in tier, target
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target


def test_make_lab_ends_with_the_reports_path():
    # --no-print-directory: under `make test` (MAKELEVEL set) make would add "Entering directory" lines
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "lab"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    site = next(i for i, ln in enumerate(lines) if "ansible-playbook site.yml" in ln)
    assert lines[-1].endswith("tools/ncresults.py report"), lines
    assert site == len(lines) - 2
