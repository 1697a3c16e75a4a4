"""The collection's tarball leaves out what an in-tree build of the kernel module leaves behind
(module_src/.gitignore): an object file, .ko or .cmd file in the tarball changed its manifest on
every build (bootstrap reinstalled the collection) and shipped a few MB of binaries to every user."""

import fnmatch
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _build_ignore() -> list[str]:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"]


def _ignored(path: str) -> bool:
    # ansible-galaxy matches each pattern with fnmatch against the path relative to the collection
    return any(fnmatch.fnmatch(path, pattern) for pattern in _build_ignore())


def _module_build_outputs() -> list[str]:
    """One example path per pattern of module_src/.gitignore ('*' made into a name)."""
    paths = []
    for raw in (ROOT / "module_src" / ".gitignore").read_text().splitlines():
        pattern = raw.strip()
        if pattern and not pattern.startswith("#"):
            paths.append("module_src/" + pattern.strip("/").replace("*", "nc_sock"))
    return paths


def test_every_kernel_build_output_is_left_out():
    outputs = _module_build_outputs()
    assert "module_src/netchannel/.nc_sock.cmd" in outputs
    kept = [p for p in outputs if not _ignored(p)]
    assert kept == [], f"in the tarball although module_src/.gitignore ignores them: {kept}"


def test_the_module_sources_stay_in():
    for name in ("nc_sock.c", "nc_impl.h", "Kbuild"):
        assert not _ignored(f"module_src/netchannel/{name}"), name
