"""The module role ships the kernel module's sources as symlinks into module_src/netchannel, one per
file: a source file added to module_src (and named in its Kbuild) without a symlink in the role
would make every host's DKMS build fail, although the module builds fine in module_src."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOD = ROOT / "module_src" / "netchannel"
ROLE_SRC = ROOT / "roles" / "netchannel_module" / "files" / "src" / "netchannel"


def _tracked_sources() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", "module_src/netchannel"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {Path(p).name for p in out.split()}


def _kbuild_objects() -> set[str]:
    text = (MOD / "Kbuild").read_text().replace("\\\n", " ")
    objs: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"\s*netchannel-y\s*:?=\s*(.*)", line)
        if m:
            objs |= set(m.group(1).split())
    return objs


def test_every_module_source_has_its_symlink_in_the_role():
    role = {p.name: p for p in ROLE_SRC.iterdir()}
    for name in sorted(_tracked_sources()):
        assert name in role, f"{name}: in module_src/netchannel but not in {ROLE_SRC.relative_to(ROOT)}"
        link = role[name]
        assert link.is_symlink(), f"{link}: not a symlink"
        assert link.resolve() == (MOD / name).resolve(), f"{link} points to {link.readlink()}"
    stale = sorted(n for n, p in role.items() if not p.exists())
    assert not stale, f"dangling symlinks in the role: {stale}"


def test_every_kbuild_object_has_its_source_in_the_role():
    objs = _kbuild_objects()
    assert {"nc_main.o", "nc_wire.o"} <= objs, objs
    role = {p.name for p in ROLE_SRC.iterdir()}
    missing = sorted(o for o in objs if o.replace(".o", ".c") not in role)
    assert not missing, f"Kbuild objects without a source in the role: {missing}"
