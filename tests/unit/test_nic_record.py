"""netchannel_nic's `record`: the values the NIC stage applied, written after a successful apply only
(not in check mode, not when the host refused a change), so netchannel_experiments' preflight can ask
later whether the NIC still has them. The engine is replaced by a stand-in: this is about main()."""

from __future__ import annotations

import importlib.util
import json
import stat
import types
from pathlib import Path

import pytest
from test_results_modules import Done, fake_module

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


class NicError(Exception):
    pass


def _engine(changes=(), failed=(), unmet=()):
    def run(system, wanted, host, check):
        return {
            "unmet": list(unmet),
            "changed": bool(changes),
            "changes": list(changes),
            "warnings": [],
            "failed_changes": list(failed),
            "rows": [],
            "unsupported": [],
            "state": {},
        }

    return types.SimpleNamespace(LocalSystem=lambda: None, run=run, format_table=lambda *a: "", NicError=NicError)


def call(params: dict, check_mode=False, **engine) -> Done:
    spec = importlib.util.spec_from_file_location("_t_netchannel_nic", MODULES / "netchannel_nic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.engine = _engine(**engine)
    mod.AnsibleModule = fake_module({"host": "h1", "interface": "eth1", **params}, check_mode)
    with pytest.raises(Done) as got:
        mod.main()
    return got.value


def test_record_written_after_apply_and_unchanged_again(tmp_path):
    path = tmp_path / "nic" / "eth1.json"
    got = call({"mtu": 9000, "record": str(path)}, changes=[{"setting": "mtu"}])
    assert not got.failed
    assert got.result["recorded"] == str(path)
    assert got.result["changed"]
    rec = json.loads(path.read_text())
    assert rec["interface"] == "eth1"
    assert rec["mtu"] == 9000
    assert rec["host"] == "h1"
    assert "record" not in rec
    assert "persist" not in rec
    assert rec["unmet"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # the same values again, nothing to change on the NIC: no change at all
    got = call({"mtu": 9000, "record": str(path)})
    assert got.result["recorded"] == ""
    assert not got.result["changed"]
    # other values: the record follows them
    got = call({"mtu": 1500, "record": str(path)}, changes=[{"setting": "mtu"}])
    assert got.result["recorded"] == str(path)
    assert json.loads(path.read_text())["mtu"] == 1500


def test_check_mode_says_it_would_record_and_writes_nothing(tmp_path):
    path = tmp_path / "eth1.json"
    got = call({"mtu": 9000, "record": str(path)}, check_mode=True)
    assert got.result["recorded"] == str(path)
    assert got.result["changed"]
    assert not path.exists()


def test_nothing_recorded_when_the_host_refused_a_change(tmp_path):
    path = tmp_path / "eth1.json"
    got = call({"mtu": 9000, "record": str(path)}, failed=[{"setting": "mtu", "error": "EPERM"}])
    assert got.failed
    assert "the host refused: mtu (EPERM)" in got.result["msg"]
    assert not path.exists()


def test_no_record_without_the_option(tmp_path):
    got = call({"mtu": 9000})
    assert got.result["recorded"] == ""
    assert not list(tmp_path.iterdir())


def test_an_unwritable_record_names_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    got = call({"mtu": 9000, "record": str(blocker / "eth1.json")})
    assert got.failed
    assert f"h1: record={blocker / 'eth1.json'}: cannot write it" in got.result["msg"]


def test_settings_that_did_not_take_are_recorded_as_unmet(tmp_path):
    path = tmp_path / "eth1.json"
    got = call({"rings": {"rx": 512}, "record": str(path)}, unmet=["rings.rx"])
    assert not got.failed
    assert json.loads(path.read_text())["unmet"] == ["rings.rx"]
