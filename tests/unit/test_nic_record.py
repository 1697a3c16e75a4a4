"""netchannel_nic's `record`: the values the NIC stage applied, written after a successful apply only
(not in check mode, not when the host refused a change), so netchannel_experiments' preflight can ask
later whether the NIC still has them. The engine is replaced by a stand-in: this is about main()."""

from __future__ import annotations

import json
import stat
import types
from pathlib import Path

import pytest
from nic_fake import engine as real_engine
from pathload import load_file
from test_results_modules import Done, fake_module

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"
NicError = real_engine.NicError


def _engine(changes=(), failed=(), unmet=(), rows=(), seen=None):
    def run(system, wanted, host, check):
        if seen is not None:
            seen.append((dict(wanted), host, check))
        return {
            "unmet": list(unmet),
            "changed": bool(changes),
            "changes": list(changes),
            "warnings": [],
            "failed_changes": list(failed),
            "rows": list(rows),
            "unsupported": [],
            "state": {},
        }

    return types.SimpleNamespace(
        LocalSystem=lambda: None, run=run, format_table=lambda *a: "", NicError=NicError, resolve=real_engine.resolve
    )


def call(params: dict, check_mode=False, **engine) -> Done:
    mod = load_file("_t_netchannel_nic", MODULES / "netchannel_nic.py")
    mod.engine = _engine(**engine)
    # a None in params takes the option out (not given), as a task that leaves it out
    given = {k: v for k, v in {"host": "h1", "interface": "eth1", **params}.items() if v is not None}
    if "base" in given and "interface" not in params:
        del given["interface"]
    mod.AnsibleModule = fake_module(given, check_mode)
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


def _row(setting, current, wanted, status="change"):
    return {"setting": setting, "current": current, "wanted": wanted, "status": status}


def test_compare_with_reads_the_record_and_names_each_drifted_setting(tmp_path):
    path = tmp_path / "eth1.json"
    call({"mtu": 9000, "rings": {"rx": 512}, "record": str(path)}, unmet=["rings.rx"], changes=[{"setting": "mtu"}])
    seen = []
    rows = [_row("mtu", 1500, 9000), _row("rings.rx", 256, 512), _row("features.tso", True, True, "ok")]
    got = call({"interface": None, "host": "h2", "compare_with": str(path)}, rows=rows, seen=seen)
    assert not got.failed
    assert got.result["changed"] is False
    assert got.result["missing"] is False
    # rings.rx never took when the NIC stage applied it (unmet): not news
    assert got.result["drift"] == ["mtu 1500 (recorded 9000)"]
    # the engine got the record's values, in check mode, with this play's host name
    [(wanted, host, check)] = seen
    assert check is True
    assert host == "h2"
    assert wanted == {
        "interface": "eth1",
        "host": "h2",
        "mtu": 9000,
        "rings": {"rx": 512},
        "required": [],
    }
    got = call({"compare_with": str(path)}, rows=[_row("mtu", 9000, 9000, "ok")])
    assert got.result["drift"] == []


def test_compare_with_a_missing_record_is_reported_not_failed(tmp_path):
    got = call({"compare_with": str(tmp_path / "eth1.json")})
    assert not got.failed
    assert got.result["missing"] is True
    assert got.result["drift"] == []


@pytest.mark.parametrize(
    ("text", "params", "expect"),
    [
        ("{not json", {}, "cannot read it as a NIC record"),
        ("[1, 2]", {}, "not a NIC record (a JSON object)"),
        ('{"interface": "eth1", "mtu": 9000, "colour": "red"}', {}, "unknown keys: colour"),
        ('{"interface": "eth0", "mtu": 9000}', {}, "records interface eth0, not interface=eth1"),
        ('{"mtu": 9000}', {"interface": None}, "the record names no interface"),
        ('{"interface": "eth1", "rings": [512]}', {}, "not a NIC record: "),
        ('{"interface": "eth1", "irq_mode": "sometimes"}', {}, "irq_mode"),
        ('{"interface": "eth1", "mtu": 9000, "unmet": 5}', {}, "unmet is not a list of settings: 5"),
    ],
)
def test_compare_with_bad_input_names_the_path_and_the_value(tmp_path, text, params, expect):
    path = tmp_path / "eth1.json"
    path.write_text(text)
    got = call({"compare_with": str(path), **params})
    assert got.failed
    assert f"compare_with={path}" in got.result["msg"]
    assert expect in got.result["msg"]
    # the same without the host, for callers that name it themselves
    assert got.result["msg"] == f"h1: {got.result['reason']}"


def test_compare_with_an_engine_error_names_the_record(tmp_path):
    path = tmp_path / "eth1.json"
    path.write_text('{"interface": "eth1", "mtu": 9000}')
    mod = load_file("_t_netchannel_nic_err", MODULES / "netchannel_nic.py")

    def run(*_):
        raise NicError("h1: interface eth1: no such interface")

    mod.engine = types.SimpleNamespace(LocalSystem=lambda: None, run=run, NicError=NicError)
    mod.AnsibleModule = fake_module({"host": "h1", "compare_with": str(path)}, False)
    with pytest.raises(Done) as got:
        mod.main()
    assert got.value.failed
    assert got.value.result["msg"] == f"h1: interface eth1: no such interface (compare_with={path})"
    assert got.value.result["reason"] == f"interface eth1: no such interface (compare_with={path})"


def test_without_compare_with_the_interface_is_required():
    got = call({"interface": None, "mtu": 9000})
    assert got.failed
    assert "one of the following is required: interface, compare_with" in got.result["msg"]


@pytest.mark.parametrize("interface", ["", None])
def test_an_empty_interface_is_refused_by_name(interface):
    """Given as "" or null (a variable that is empty), interface passes required_one_of: the module says so."""
    mod = load_file("_t_netchannel_nic_empty", MODULES / "netchannel_nic.py")
    mod.engine = _engine()
    mod.AnsibleModule = fake_module({"host": "h1", "interface": interface, "mtu": 9000}, False)
    with pytest.raises(Done) as got:
        mod.main()
    assert got.value.failed
    assert got.value.result["msg"] == "h1: interface is required (unless compare_with or base is given)"


@pytest.mark.parametrize(
    "params",
    [{"mtu": 1500}, {"record": "/x.json"}, {"persist": False}, {"irq_mode": "spread"}, {"required": []}],
)
def test_compare_with_refuses_the_options_it_reads_from_the_record(tmp_path, params):
    """Given explicitly, even at their defaults (spread, []), the tuning options, persist and record are refused:
    the values come from the record."""
    path = tmp_path / "eth1.json"
    path.write_text('{"interface": "eth1", "mtu": 9000}')
    got = call({"compare_with": str(path), **params})
    assert got.failed
    assert f"parameters are mutually exclusive: compare_with|{next(iter(params))}" in got.result["msg"]


def test_persisted_files_are_written_whole(tmp_path, monkeypatch):
    """persist writes through the same atomic helper as record: a failed write leaves the old engine
    and values in place and no temporary behind, and is named."""
    mod = load_file("_t_netchannel_nic_w", MODULES / "netchannel_nic.py")
    mod.engine = _engine(changes=[{"setting": "mtu"}])
    mod.PERSIST_DIR = str(tmp_path / "lib")
    mod.UNIT_PATH = str(tmp_path / "unit.service")
    monkeypatch.setattr("inspect.getsource", lambda _m: "# engine\n")
    fake = fake_module({"host": "h1", "interface": "eth1", "mtu": 9000, "persist": True}, False)

    class WithCommands(fake):
        def run_command(self, argv, check_rc=False):
            return 0, "", ""

    mod.AnsibleModule = WithCommands
    with pytest.raises(Done) as got:
        mod.main()
    assert not got.value.failed, got.value.result
    values = tmp_path / "lib" / "eth1.json"
    assert json.loads(values.read_text())["mtu"] == 9000
    assert stat.S_IMODE(values.stat().st_mode) == 0o644
    before = values.read_text()
    # other values, and the rename fails: the old file stays whole, no temporary is left, the error is named
    fake = fake_module({"host": "h1", "interface": "eth1", "mtu": 1500, "persist": True}, False)

    class Again(fake):
        def run_command(self, argv, check_rc=False):
            return 0, "", ""

    mod.AnsibleModule = Again
    monkeypatch.setattr(mod.os, "replace", lambda *_: (_ for _ in ()).throw(OSError("EROFS")))
    with pytest.raises(Done) as got:
        mod.main()
    assert got.value.failed
    assert f"h1: persist: cannot write {values}: EROFS" in got.value.result["msg"]
    assert values.read_text() == before
    assert not list((tmp_path / "lib").glob("*.tmp"))


def test_a_profile_is_resolved_and_recorded_with_the_options_given(tmp_path):
    """The role passes the profile's name and only the variables that are set: each overrides the
    profile's value (sysctls key by key), and the record keeps both for a later switch."""
    path = tmp_path / "eth1.json"
    seen = []
    got = call(
        {"profile": "long_flows", "mtu": 1500, "sysctls": {"net.core.somaxconn": 4096}, "record": str(path)},
        changes=[{"setting": "mtu"}],
        seen=seen,
    )
    assert not got.failed, got.result
    wanted = seen[0][0]
    assert wanted["mtu"] == 1500
    assert wanted["features"] == {"tso": True, "gso": True, "gro": True, "lro": False}
    assert wanted["sysctls"]["net.core.somaxconn"] == 4096
    assert wanted["sysctls"]["net.core.default_qdisc"] == "pfifo_fast"
    rec = json.loads(path.read_text())
    assert rec["profile"] == "long_flows"
    assert rec["overrides"] == {"mtu": 1500, "sysctls": {"net.core.somaxconn": 4096}, "required": []}
    assert rec["mtu"] == 1500
    assert got.result["profile"] == "long_flows"
    assert got.result["wanted"]["features"]["tso"] is True


def test_base_switches_the_recorded_profile_and_keeps_the_options_given(tmp_path):
    """What the experiments do per figure: the NIC stage's record with another profile, then the
    record's own profile again. Neither call writes the record."""
    path = tmp_path / "eth1.json"
    call({"profile": "long_flows", "mtu": 8000, "record": str(path)}, changes=[{"setting": "mtu"}])
    before = path.read_text()
    seen = []
    got = call({"base": str(path), "profile": "short_flows"}, changes=[{"setting": "features"}], seen=seen)
    assert not got.failed, got.result
    wanted = seen[0][0]
    assert wanted["interface"] == "eth1"
    assert wanted["mtu"] == 8000  # the inventory's value wins over either profile
    assert wanted["features"]["tso"] is False
    assert got.result["profile"] == "short_flows"
    assert got.result["recorded"] == ""
    got = call({"base": str(path)}, changes=[{"setting": "features"}], seen=seen)
    assert not got.failed, got.result
    assert seen[1][0]["features"]["tso"] is True
    assert seen[1][0]["mtu"] == 8000
    assert got.result["profile"] == "long_flows"
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("record", "params", "words"),
    [
        (None, {}, "no NIC record there"),
        ({"interface": "eth1", "mtu": 9000, "unmet": []}, {}, "older collection"),
        (
            {"interface": "eth1", "mtu": 9000, "unmet": [], "profile": "", "overrides": {"mtu": 9000}},
            {},
            "without a profile",
        ),
        ({"interface": "eth1", "unmet": [], "profile": "long_flows", "overrides": {"mtu": "big"}}, {}, "mtu"),
        ({"interface": "eth1", "unmet": [], "profile": "long_flows", "overrides": {}}, {"profile": "fast"}, "'fast'"),
        ({"interface": "eth1", "unmet": [], "profile": "long_flows", "overrides": {}}, {"mtu": 1500}, "base"),
    ],
)
def test_base_refuses_what_it_cannot_switch_naming_the_file(tmp_path, record, params, words):
    path = tmp_path / "eth1.json"
    if record is not None:
        path.write_text(json.dumps(record))
    seen = []
    got = call({"base": str(path), **params}, seen=seen)
    assert got.failed
    assert words in got.result["msg"]
    assert seen == []
    if "mtu" not in params:
        assert str(path) in got.result["msg"]


def test_an_unknown_profile_is_refused_by_name():
    got = call({"profile": "fast_flows", "mtu": 1500})
    assert got.failed
    assert "profile='fast_flows'" in got.result["msg"]


def test_the_role_offers_exactly_the_engines_profiles():
    """The role's argument spec lists the profiles; the engine holds them: one source, checked."""
    import yaml

    spec = yaml.safe_load((MODULES.parents[1] / "roles/netchannel_nic/meta/argument_specs.yml").read_text())
    choices = spec["argument_specs"]["main"]["options"]["netchannel_nic_profile"]["choices"]
    assert sorted(choices) == sorted(["", *real_engine.PROFILES])


def test_the_profiles_differ_where_the_upstream_setups_do_and_resolving_changes_none():
    long, short, irq = (real_engine.PROFILES[n] for n in ("long_flows", "short_flows", "tcp_irq_baseline"))
    assert {k for k in long if long[k] != short.get(k)} == {"mtu", "features"}
    assert (short["mtu"], short["features"]["tso"], long["mtu"], long["features"]["tso"]) == (1500, False, 9000, True)
    assert {k for k in irq if irq[k] != long.get(k)} == {"arfs", "rfs_entries", "irq_cpus", "irq_mode"}
    got = real_engine.resolve("short_flows", {"sysctls": {"net.core.somaxconn": 1}, "rings": {"rx": 128}})
    got["sysctls"]["net.core.rmem_max"] = 2
    assert "net.core.somaxconn" not in short["sysctls"]
    assert "net.core.rmem_max" not in long["sysctls"]
    assert long["rings"] == {"rx": 1024}
