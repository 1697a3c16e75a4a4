"""The cluster key modules' main(): the controller's key file (created private, refused when others can
read it, rotated and finished), the host's hand-over to the module's write-only sysctl (only when the
ids the module shows differ, by stage), and errors that name the file or variable but never a key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pathload import load_file
from test_results_modules import Done, fake_module

ROOT = Path(__file__).resolve().parents[2]
K1, K2 = "11" * 32, "ab" * 32


def _load(path: Path, name: str):
    mod = load_file(name, path)
    return mod


NM = _load(ROOT / "plugins" / "module_utils" / "netchannel_module.py", "_t_nm_utils")


def call(name: str, params: dict, check_mode: bool = False, proc: Path | None = None) -> Done:
    mod = _load(ROOT / "plugins" / "modules" / f"{name}.py", f"_t_{name}")
    mod.nm = NM
    if proc is not None:
        mod.PROC = str(proc)
        mod.SYS = str(proc.parent / "sys")
        params = {"boot_path": str(proc.parent / "boot.key"), **params}
    mod.AnsibleModule = fake_module(params, check_mode)
    with pytest.raises(Done) as got:
        mod.main()
    return got.value


def keys_in(path: Path) -> list[str]:
    return path.read_text().split()


def test_controller_key_created_private_and_kept(tmp_path):
    path = tmp_path / "cfg" / "netchannel.key"
    got = call("netchannel_cluster_key", {"path": str(path)}, check_mode=True)
    assert got.result["changed"]
    assert not got.result["exists"]
    assert not path.exists()
    got = call("netchannel_cluster_key", {"path": str(path)})
    assert got.result["changed"]
    assert got.result["exists"]
    assert not got.result["rotating"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    (key,) = keys_in(path)
    assert got.result["key_ids"] == [NM.auth_key_id(key)]
    assert key not in repr(got.result)
    again = call("netchannel_cluster_key", {"path": str(path)})
    assert not again.result["changed"]
    assert keys_in(path) == [key]


def test_controller_rotation_resumes_and_finishes(tmp_path):
    path = tmp_path / "k"
    path.write_text(K1 + "\n")
    path.chmod(0o600)
    got = call("netchannel_cluster_key", {"path": str(path), "rotate": True})
    new, old = keys_in(path)
    assert got.result["rotating"]
    assert old == K1
    assert new != K1
    # run again with rotate (an interrupted run): the same rotation, no third key
    assert not call("netchannel_cluster_key", {"path": str(path), "rotate": True}).result["changed"]
    assert call("netchannel_cluster_key", {"path": str(path), "finish": True}).result["key_ids"] == [
        NM.auth_key_id(new)
    ]
    assert keys_in(path) == [new]
    # the user's own key rotates to it
    got = call("netchannel_cluster_key", {"path": str(path), "key": K2.upper()})
    assert keys_in(path) == [K2, new]
    assert got.result["rotating"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_controller_refuses_a_key_file_others_can_reach(tmp_path, mode):
    path = tmp_path / "k"
    path.write_text(K1 + "\n")
    path.chmod(mode)
    got = call("netchannel_cluster_key", {"path": str(path)})
    assert got.failed
    assert str(path) in got.result["msg"]
    assert f"mode {mode:04o}" in got.result["msg"]
    assert K1 not in got.result["msg"]


def test_controller_makes_no_new_key_while_the_hosts_hold_one(tmp_path):
    got = call("netchannel_cluster_key", {"path": str(tmp_path / "k"), "host_ids": ["0123456789abcdef"]})
    assert got.failed
    assert "does not exist, yet the hosts hold cluster key id(s) 0123456789abcdef" in got.result["msg"]
    assert not (tmp_path / "k").exists()
    # the user's own key is taken
    got = call("netchannel_cluster_key", {"path": str(tmp_path / "k"), "key": K1, "host_ids": [NM.auth_key_id(K1)]})
    assert not got.failed
    assert keys_in(tmp_path / "k") == [K1]


def test_controller_bad_user_key_is_named_not_shown(tmp_path):
    got = call("netchannel_cluster_key", {"path": str(tmp_path / "k"), "key": K1[:-2] + "zz"})
    assert got.failed
    assert "netchannel_module_auth_key: key 1 is not 64 hex digits" in got.result["msg"]
    assert K1[:-2] not in got.result["msg"]
    assert not (tmp_path / "k").exists()


def fake_host(tmp_path: Path, auth_line: str | None, keys: list[str], mode: int = 0o600):
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "sys" / "net" / "netchannel").mkdir(parents=True)
    head = "netchannel wire_version 2 local 198.18.0.1 port 9000 bulk 2 lat 1 peers 1\n"
    (proc / "net" / "netchannel").write_text(head + (auth_line + "\n" if auth_line else ""))
    sysctl = proc / "sys" / "net" / "netchannel" / "auth_key"
    sysctl.write_text("")
    param = tmp_path / "sys" / "module" / "netchannel" / "parameters"
    param.mkdir(parents=True)
    (param / "auth_required").write_text("N\n")
    keyfile = tmp_path / "auth.keys"
    keyfile.write_text("".join(k + "\n" for k in keys))
    keyfile.chmod(mode)
    return proc, sysctl, keyfile


def test_host_writes_only_when_the_module_shows_other_ids(tmp_path):
    proc, sysctl, keyfile = fake_host(tmp_path, "auth off", [K1])
    required, boot = tmp_path / "sys/module/netchannel/parameters/auth_required", tmp_path / "boot.key"
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc, check_mode=True)
    assert got.result["changed"]
    assert sysctl.read_text() == ""
    assert not boot.exists()
    assert required.read_text() == "N\n"
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc)
    # the module requires the key from now on, and the unit gives it this value at boot (root only)
    assert required.read_text() == "1\n"
    assert boot.read_text() == K1 + "\n"
    assert stat.S_IMODE(boot.stat().st_mode) == 0o600
    required.write_text("Y\n")
    assert got.result["changed"]
    assert got.result["before"] == []
    assert sysctl.read_text() == K1 + "\n"
    assert K1 not in repr(got.result)
    (proc / "net" / "netchannel").write_text(
        (proc / "net" / "netchannel").read_text().replace("auth off", f"auth key_id {NM.auth_key_id(K1)}")
    )
    sysctl.write_text("")
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc)
    assert not got.result["changed"]
    assert sysctl.read_text() == ""
    got = call("netchannel_auth_key", {"path": str(keyfile), "state": "absent"}, proc=proc, check_mode=True)
    assert got.result["changed"]
    assert sysctl.read_text() == ""
    got = call("netchannel_auth_key", {"path": str(keyfile), "state": "absent"}, proc=proc)
    assert got.result["changed"]
    assert sysctl.read_text() == "off\n"
    assert required.read_text() == "0\n"
    assert not boot.exists()


def test_host_rotation_stages(tmp_path):
    proc, sysctl, keyfile = fake_host(tmp_path, f"auth key_id {NM.auth_key_id(K1)}", [K2, K1])
    for stage, want in (("old_first", f"{K1},{K2}"), ("new_first", f"{K2},{K1}"), ("final", K2)):
        call("netchannel_auth_key", {"path": str(keyfile), "stage": stage}, proc=proc)
        assert sysctl.read_text() == want + "\n", stage
        # a reboot in the middle of a rotation comes back at the step the host had reached
        assert (tmp_path / "boot.key").read_text() == want + "\n", stage


def test_host_refusals_name_the_cause(tmp_path):
    proc, _, keyfile = fake_host(tmp_path, None, [K1])
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc)
    assert got.failed
    assert "has no channel authentication" in got.result["msg"]
    proc, _, keyfile = fake_host(tmp_path / "b", "auth off", [K1], mode=0o644)
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc)
    assert got.failed
    assert "must be owned by root and mode 0600" in got.result["msg"]
    assert K1 not in got.result["msg"]
    os.unlink(keyfile)
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=proc)
    assert got.failed
    assert "does not exist: no cluster key" in got.result["msg"]
    got = call("netchannel_auth_key", {"path": str(keyfile)}, proc=tmp_path / "nowhere")
    assert got.failed
    assert "module is not loaded" in got.result["msg"]
