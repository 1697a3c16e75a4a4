"""netchannel_nic engine: validation, planning, clamping, unsupported/required, check mode, idempotence."""

import pytest
from nic_fake import FakeHost, engine

LONG = {
    "interface": "ens4",
    "mtu": 9000,
    "rings": {"rx": 1024},
    "channels": {"combined": 32},
    "features": {"tso": True, "gso": True, "gro": True, "lro": False},
    "root_qdisc": "mq",
    "sysctls": {"net.core.default_qdisc": "pfifo_fast", "kernel.sched_autogroup_enabled": "0"},
    "arfs": True,
    "rfs_entries": 32768,
    "irq_cpus": [0, 1],
}


def _run(host, wanted, check=False):
    return engine.run(host, dict(wanted), "h1", check)


def test_apply_then_nothing_to_do():
    host = FakeHost()
    first = _run(host, LONG)
    assert first["changed"]
    assert not first["failed_changes"]
    assert host.mtu == 9000
    assert host.rings["rx"][0] == 1024
    assert host.sysctl["net/core/default_qdisc"] == "pfifo_fast"
    assert host.children == "pfifo_fast"
    assert host.sysctl["net/core/rps_sock_flow_entries"] == "32768"
    assert host.queue_files["rx-0/rps_flow_cnt"] == host.queue_files["rx-1/rps_flow_cnt"] == "16384"
    # One queue per CPU: input and output vector of queue M on CPU M.
    assert [host.affinity[i] for i in (27, 28, 29, 30)] == ["0", "0", "1", "1"]
    writes = len(host.writes)
    second = _run(host, LONG)
    assert not second["changed"]
    assert second["changes"] == []
    assert first["unmet"] == second["unmet"] == []
    assert len(host.writes) == writes, "a second run must write nothing"
    assert not [c for c in host.commands[-20:] if c[:2] in (["ethtool", "-G"], ["ethtool", "-K"], ["ethtool", "-L"])]


def test_over_max_is_clamped_with_a_warning():
    host = FakeHost()
    out = _run(host, {"interface": "ens4", "channels": {"combined": 32}, "rings": {"rx": 4096}})
    assert any("channels.combined 32 is above the NIC's maximum 2" in w for w in out["warnings"])
    assert any("rings.rx 4096 is above the NIC's maximum 1024" in w for w in out["warnings"])
    assert host.rings["rx"][0] == 1024
    rows = {r["setting"]: r["status"] for r in out["rows"]}
    assert rows["channels.combined"] == "clamped"


def test_arfs_on_virtio_is_unsupported_not_fatal():
    host = FakeHost()
    out = _run(host, {"interface": "ens4", "arfs": True, "rfs_entries": 4096})
    assert out["unsupported"] == ["arfs (ntuple-filters is fixed by the driver)"]
    assert host.sysctl["net/core/rps_sock_flow_entries"] == "4096", "RFS itself still applies"


def test_arfs_required_fails_before_any_change():
    host = FakeHost()
    with pytest.raises(engine.NicError, match=r"h1: interface ens4: required settings not supported .*arfs"):
        _run(host, {**LONG, "required": ["arfs"]})
    assert host.writes == []
    assert not [c for c in host.commands if c[1] in {"-G", "-K", "-L", "-C"} or c[:3] == ["ip", "link", "set"]]


def test_arfs_supported_where_ntuple_is_not_fixed():
    host = FakeHost(ntuple_fixed=False)
    out = _run(host, {"interface": "ens4", "arfs": True, "required": ["arfs"]})
    assert host.features["ntuple-filters"][0] is True
    assert out["unsupported"] == []


def test_check_mode_reports_and_touches_nothing():
    host = FakeHost()
    out = _run(host, LONG, check=True)
    assert out["changed"]
    settings = {c["setting"] for c in out["changes"]}
    assert {"mtu", "rings", "sysctl.net.core.default_qdisc", "qdisc", "irq.virtio1-input.1"} <= settings
    assert host.writes == []
    assert not [
        c
        for c in host.commands
        if c[1] in {"-G", "-K", "-L", "-C"} or c[:3] in (["ip", "link", "set"], ["tc", "qdisc", "replace"])
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"interface": "nope0"}, "h1: interface 'nope0' does not exist"),
        (
            {"irq_cpus": [0, 7]},
            "h1: interface ens4: irq_cpus=[0, 7] names CPUs 7 that this host does not have (online: 0-1)",
        ),
        ({"rps_cpus": [-1]}, "rps_cpus=[-1] names CPUs"),
        ({"mtu": -5}, "h1: interface ens4: mtu=-5 is not a whole number in 68..65536"),
        ({"rings": {"rx": 10**9}}, "rings.rx=1000000000 is not a whole number in 1..65536"),
        ({"rfs_entries": -1}, "rfs_entries=-1 is not a whole number"),
        (
            {"sysctls": {"net.ipv4.tcp_rmem": "4096 -1 6291456"}},
            "sysctl net.ipv4.tcp_rmem='4096 -1 6291456' is negative",
        ),
        ({"sysctls": {"vm.swappiness": "1"}}, "sysctl 'vm.swappiness' is not one this role manages"),
        ({"features": {"turbo": True}}, "features.turbo is not one of"),
        ({"required": ["warp"]}, "required entry 'warp' names no setting"),
    ],
)
def test_bad_input_fails_before_change(override, message):
    host = FakeHost()
    with pytest.raises(engine.NicError) as err:
        _run(host, {**LONG, **override})
    assert message in str(err.value)
    assert host.writes == []
    assert not [c for c in host.commands if c[1] in {"-G", "-K", "-L", "-C"}]


def test_profile_switch_changes_only_what_differs():
    host = FakeHost()
    _run(host, LONG)
    short = {**LONG, "mtu": 1500, "features": {"tso": False, "gso": False, "gro": False, "lro": False}}
    out = _run(host, short)
    assert sorted(c["setting"] for c in out["changes"]) == ["features", "mtu"]
    assert host.features["tcp-segmentation-offload"][0] is False


def test_fewer_channels_replans_queue_settings():
    host = FakeHost(cpus=4, max_queues=4)
    out = _run(host, {"interface": "ens4", "channels": {"combined": 2}, "rfs_entries": 32768, "irq_cpus": [2, 3]})
    assert host.combined == 2
    assert sorted(k for k in host.queue_files if k.endswith("rps_flow_cnt")) == [
        "rx-0/rps_flow_cnt",
        "rx-1/rps_flow_cnt",
    ]
    assert host.queue_files["rx-0/rps_flow_cnt"] == "16384"
    assert host.affinity[27] == "2"
    assert host.affinity[29] == "3"
    # The queue 2-3 vectors of the now unused queues are left alone.
    assert host.affinity[31] == "0-3"
    assert not out["warnings"]


def test_rps_and_xps_masks():
    host = FakeHost(cpus=4, max_queues=2)
    _run(host, {"interface": "ens4", "rps_cpus": [1, 2], "xps_cpus": [0, 1, 2, 3]})
    assert host.queue_files["rx-0/rps_cpus"] == host.queue_files["rx-1/rps_cpus"] == "6"
    assert host.queue_files["tx-0/xps_cpus"] == "5"
    assert host.queue_files["tx-1/xps_cpus"] == "a"


def test_kernel_without_rfs_is_unsupported():
    host = FakeHost(rfs=False)
    out = _run(host, {"interface": "ens4", "rfs_entries": 32768})
    assert out["unsupported"] == ["rfs (the kernel has no RFS (CONFIG_RFS))"]
    with pytest.raises(engine.NicError, match="rfs"):
        _run(host, {"interface": "ens4", "rfs_entries": 32768, "required": ["rfs"]})


def test_coalescing_where_supported():
    host = FakeHost(coalesce={"rx-usecs": 8, "rx-frames": 128})
    out = _run(host, {"interface": "ens4", "coalesce": {"rx-usecs": 16, "adaptive-rx": False}})
    assert host.coalesce["rx-usecs"] == 16
    assert "coalesce.adaptive-rx (ethtool -c reports it n/a)" in out["unsupported"]
    virtio = FakeHost()
    out = _run(virtio, {"interface": "ens4", "coalesce": {"rx-usecs": 16}})
    assert out["unsupported"] == ["coalesce.rx-usecs (ethtool -c reports it n/a)"]


def test_refused_write_is_a_failure():
    host = FakeHost()
    host.sysctl["net/core/rps_sock_flow_entries"] = "0"
    del host.queue_files["rx-1/rps_flow_cnt"]  # listed by the check, gone when written
    host.queue_files["rx-1/rps_flow_cnt"] = "0"
    original = host.write

    def refuse(path, text):
        return "Permission denied" if path.endswith("rx-1/rps_flow_cnt") else original(path, text)

    host.write = refuse
    out = _run(host, {"interface": "ens4", "rfs_entries": 64})
    assert [c["setting"] for c in out["failed_changes"]] == ["rfs.rx-1.rps_flow_cnt"]
    assert out["failed_changes"][0]["error"] == "Permission denied"


def test_change_the_driver_does_not_support_becomes_unsupported():
    host = FakeHost()
    host.refuse["ethtool -G"] = "netlink error: Operation not supported"
    out = _run(host, {"interface": "ens4", "rings": {"rx": 512}})
    assert not any("still" in w for w in out["warnings"]), "a refused setting is listed once, as unsupported"
    assert out["failed_changes"] == []
    assert out["unsupported"] == ["rings (the driver refused: netlink error: Operation not supported)"]
    assert not out["changed"]
    # what the record keeps aside: check mode with the same values still plans it, so the
    # experiments' preflight must not take it for a NIC that lost its profile
    assert out["unmet"] == ["rings.rx"]
    assert [
        r["setting"]
        for r in _run(host, {"interface": "ens4", "rings": {"rx": 512}}, check=True)["rows"]
        if r["status"] == "change"
    ] == ["rings.rx"]
    with pytest.raises(engine.NicError, match=r"h1: interface ens4: required settings not supported.*rings"):
        _run(host, {"interface": "ens4", "rings": {"rx": 512}, "required": ["rings.rx"]})


def test_irq_spread_follows_the_list_order():
    host = FakeHost(cpus=4, max_queues=2)
    _run(host, {"interface": "ens4", "irq_cpus": [3, 1], "xps_cpus": [2, 0]})
    assert [host.affinity[i] for i in (27, 28, 29, 30)] == ["3", "3", "1", "1"]
    assert host.queue_files["tx-0/xps_cpus"] == "4"
    assert host.queue_files["tx-1/xps_cpus"] == "1"


def test_irq_single_and_hint_modes():
    host = FakeHost(cpus=4, max_queues=2)
    _run(host, {"interface": "ens4", "irq_cpus": [3], "irq_mode": "single"})
    assert {host.affinity[i] for i in (27, 28, 29, 30)} == {"3"}
    out = _run(host, {"interface": "ens4", "irq_mode": "hint"})
    assert out["unsupported"][0].endswith("(the driver sets no affinity hint)")


def test_report_table_lists_every_setting():
    host = FakeHost()
    out = _run(host, LONG, check=True)
    table = engine.format_table("h1", "ens4", out["rows"])
    assert table.splitlines()[0] == "h1 ens4"
    assert "mtu" in table
    assert "arfs" in table
    assert "unsupported" in table
