"""netchannel_dkms: a kept build (binaries-only DKMS tarball) is installed only where the kernel
id matches, and any failure on the way falls back to compiling with nothing half-loaded left."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))  # the collection, as bootstrap installs it
dkms_mod = load_file("netchannel_dkms_kept", ROOT / "plugins" / "modules" / "netchannel_dkms.py")

VERSION = "0.1.0-gabc"
KERNEL = "6.1.0-57-amd64"


class FakeModule:
    def __init__(self, binaries: str, their_id: str, answers: dict[str, tuple[int, str, str]]):
        self.params = {"name": "netchannel", "version": VERSION, "binaries": binaries, "binaries_kernel_id": their_id}
        self.answers = answers
        self.calls: list[list[str]] = []

    def run_command(self, args):
        self.calls.append(args[1:])
        return self.answers.get(args[1], (0, "", ""))


def _run(module):
    def run(*args):
        rc, out, _err = module.run_command(["dkms", *args])
        assert rc == 0
        return out

    return run


def _result(kernel_id="1234"):
    return {"kernel": KERNEL, "kernel_id": kernel_id, "binaries_refused": "", "build_seconds": 0.0}


INSTALLED = (0, f"netchannel/{VERSION}, {KERNEL}, x86_64: installed\n", "")


def test_a_matching_kept_build_is_loaded_and_installed(tmp_path):
    tarball = tmp_path / "kept.tar.gz"
    tarball.write_bytes(b"x")
    module = FakeModule(str(tarball), "1234", {"status": INSTALLED})
    result = _result()
    assert dkms_mod.install_binaries(module, _run(module), "dkms", result) is True
    assert [c[0] for c in module.calls] == ["ldtarball", "install", "status"]
    assert module.calls[1] == ["install", "-m", "netchannel", "-v", VERSION, "-k", KERNEL]
    assert result["binaries_refused"] == ""


@pytest.mark.parametrize(
    ("their_id", "kernel_id", "exists", "why"),
    [
        ("9999", "1234", True, f"built for kernel id 9999, this host's {KERNEL} is 1234"),
        ("", "1234", True, "built for kernel id (none given)"),
        ("1234", "", True, f"no kernel headers for {KERNEL}"),
        ("1234", "1234", False, "does not exist"),
    ],
)
def test_a_kept_build_for_another_kernel_is_refused_before_dkms_runs(tmp_path, their_id, kernel_id, exists, why):
    tarball = tmp_path / "kept.tar.gz"
    if exists:
        tarball.write_bytes(b"x")
    module = FakeModule(str(tarball), their_id, {})
    result = _result(kernel_id)
    assert dkms_mod.install_binaries(module, _run(module), "dkms", result) is False
    assert why in result["binaries_refused"]
    assert module.calls == []


@pytest.mark.parametrize(
    ("answers", "why"),
    [
        ({"ldtarball": (1, "", "bad tarball")}, "dkms ldtarball failed (exit 1): bad tarball"),
        ({"install": (6, "", "no such module")}, "dkms install failed (exit 6): no such module"),
        ({"status": (0, f"netchannel/{VERSION}, {KERNEL}, x86_64: built\n", "")}, "left netchannel/"),
    ],
)
def test_a_failed_load_is_undone_so_the_caller_compiles(tmp_path, answers, why):
    tarball = tmp_path / "kept.tar.gz"
    tarball.write_bytes(b"x")
    # DKMS's remove exits 3 when the tarball never registered the version: still no failure
    module = FakeModule(str(tarball), "1234", {"status": INSTALLED, "remove": (3, "", "not located"), **answers})
    result = _result()
    assert dkms_mod.install_binaries(module, _run(module), "dkms", result) is False
    assert why in result["binaries_refused"]
    assert module.calls[-1] == ["remove", "-m", "netchannel", "-v", VERSION, "--all"]


@pytest.mark.parametrize("asked", [False, True])
def test_module_info_computes_the_kernel_id_only_when_asked(monkeypatch, asked):
    """The kernel id costs a `gcc -v` and a read of the headers: the role asks for it where it picks a
    kept build, and every other call (the channel waits, the experiments) leaves it out."""
    from test_results_modules import Done, fake_module

    info = load_file("netchannel_module_info_kid", ROOT / "plugins" / "modules" / "netchannel_module_info.py")
    calls = []
    monkeypatch.setattr(info, "compiler_id", lambda module: calls.append("gcc -v") or "gcc 12")
    monkeypatch.setattr(info, "kernel_build_id", lambda release, compiler: f"id-of-{release}-{compiler}")
    real_isfile = info.os.path.isfile
    monkeypatch.setattr(info.os.path, "isfile", lambda p: p.endswith("/build/Makefile") or real_isfile(p))
    base = fake_module({"name": "nosuchmodule", "kernel_id": asked}, True)

    class Module(base):
        def get_bin_path(self, tool):
            return None

    info.AnsibleModule = Module
    with pytest.raises(Done) as got:
        info.main()
    assert not got.value.failed, got.value.result
    assert got.value.result["headers"] is True
    if asked:
        assert calls == ["gcc -v"]
        assert got.value.result["kernel_id"].startswith("id-of-")
    else:
        assert calls == []
        assert got.value.result["kernel_id"] == ""
