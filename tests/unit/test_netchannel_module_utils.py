"""plugins/module_utils/netchannel_module.py: host table, validation, /proc/net/netchannel, dkms status."""

import itertools
import re
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]
nm = load_file("netchannel_module_utils", ROOT / "plugins" / "module_utils" / "netchannel_module.py")

PROC = """netchannel wire_version 1 local 198.18.0.1 port 9000 bulk 2 lat 1 peers 1
peer 198.18.0.1 (self)
  tx  0 bulk    up         cpu 0 frames 2 bytes 48 queued 0 connects 1 fails 0 last_err 0
  tx  1 bulk    up         cpu 1 frames 1 bytes 24 queued 0 connects 1 fails 0 last_err 0
  tx  2 latency up         cpu 0 frames 1 bytes 24 queued 0 connects 1 fails 0 last_err 0
peer 198.18.0.2
  tx  0 bulk    up         cpu 1 frames 260 bytes 6241 queued 0 connects 1 fails 1 last_err -110
  tx  1 bulk    backoff    cpu 0 frames 0 bytes 0 queued 0 connects 0 fails 3 last_err -111
  tx  2 latency up         cpu -1 frames 1 bytes 24 queued 2 connects 1 fails 0 last_err 0 queued_bytes 131128
rx id 1 from 198.18.0.1 chan 0 bulk frames 2 bytes 48
rx id 2 from 198.18.0.1 chan 1 bulk frames 1 bytes 24
rx id 3 from 198.18.0.1 chan 2 latency frames 1 bytes 24
rx id 5 from 198.18.0.2 chan 1 bulk frames 5123 bytes 268558408
rx id 6 from 198.18.0.2 chan 0 bulk frames 1 bytes 24 dying
sockets hashed 3 ports_in_use 2
mem pages 48 pressure 0 limits 92160 122880 184320
counter cpu0 cpu1 total
tx_frames 10 20 30
rx_bytes 100 200 300
credit_sent 202 54 256
"""


def test_parse_proc_reads_every_part():
    p = nm.parse_proc(PROC)
    assert p["config"] == {"wire_version": 1, "local": "198.18.0.1", "port": 9000, "bulk": 2, "lat": 1, "peers": 1}
    assert list(p["peers"]) == ["198.18.0.1", "198.18.0.2"]
    assert p["peers"]["198.18.0.1"]["self"] is True
    assert p["peers"]["198.18.0.2"]["self"] is False
    ch = p["peers"]["198.18.0.2"]["tx"][1]
    assert ch == {
        "index": 1,
        "cls": "bulk",
        "state": "backoff",
        "cpu": 0,
        "frames": 0,
        "bytes": 0,
        "queued": 0,
        "connects": 0,
        "fails": 3,
        "last_err": -111,
    }
    assert p["peers"]["198.18.0.2"]["tx"][2]["cpu"] == -1
    # a module with striping also shows the bytes queued on each channel
    assert p["peers"]["198.18.0.2"]["tx"][2]["queued_bytes"] == 131128
    assert p["rx"][3] == {
        "id": 5,
        "ip": "198.18.0.2",
        "index": 1,
        "cls": "bulk",
        "frames": 5123,
        "bytes": 268558408,
        "acks": False,
        "dying": False,
    }
    assert p["rx"][4]["dying"] is True
    assert p["sockets"] == {"hashed": 3, "ports_in_use": 2}
    assert p["mem"] == {"pages": 48, "pressure": False, "limits": [92160, 122880, 184320]}
    assert p["counters"] == {"tx_frames": 30, "rx_bytes": 300, "credit_sent": 256}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("peer 198.18.0.2\n", "no 'netchannel wire_version"),
        (PROC.replace("sockets hashed", "sockets hashd"), "line 15: not a /proc/net/netchannel line"),
        (PROC.replace("pressure 0 limits", "pressure 2 limits"), "line 16: not a /proc/net/netchannel line"),
        ("netchannel wire_version 1 local 1.2.3.4 port 9 bulk 1 lat 0 peers 0\n  tx  0 bulk up", "not a /proc"),
        (PROC.replace("credit_sent 202 54 256", "credit_sent 202 256"), "2 values for 3 columns"),
    ],
)
def test_parse_proc_refuses_unknown_text(text, why):
    with pytest.raises(ValueError, match=why):
        nm.parse_proc(text)


def test_parse_proc_reads_the_cluster_key_ids():
    head = "netchannel wire_version 2 local 1.2.3.4 port 9 bulk 1 lat 0 peers 0\n"
    assert nm.parse_proc(head)["auth"] is None  # a module without authentication
    assert nm.parse_proc(head + "auth off\n")["auth"] == []
    ids = nm.parse_proc(head + "auth key_id 0123456789abcdef fedcba9876543210\n")["auth"]
    assert ids == ["0123456789abcdef", "fedcba9876543210"]
    for bad in ("auth key_id 0123", "auth on", "auth key_id 0123456789ABCDEF"):
        with pytest.raises(ValueError, match="not a /proc/net/netchannel line"):
            nm.parse_proc(head + bad + "\n")


def test_parse_proc_tx_before_peer_is_an_error():
    text = "netchannel wire_version 1 local 1.2.3.4 port 9 bulk 1 lat 0 peers 0\n"
    text += "  tx  0 bulk    up         cpu 0 frames 0 bytes 0 queued 0 connects 1 fails 0 last_err 0\n"
    with pytest.raises(ValueError, match="tx line before any peer"):
        nm.parse_proc(text)


def test_mesh_state_needs_every_outbound_up_and_enough_inbound():
    mesh = nm.mesh_state(nm.parse_proc(PROC), ["198.18.0.1", "198.18.0.2", "198.18.0.9"])
    assert mesh["expected_per_peer"] == 3
    assert mesh["peers"]["198.18.0.1"]["up"] is True
    assert mesh["peers"]["198.18.0.1"]["rx"] == 3
    peer2 = mesh["peers"]["198.18.0.2"]
    assert peer2["up"] is False  # one tx in backoff
    assert peer2["rx"] == 1
    assert mesh["peers"]["198.18.0.9"] == {"in_table": False, "up": False, "tx": [], "rx": 0, "want_rx": 0}
    assert mesh["all_up"] is False
    assert nm.mesh_state(nm.parse_proc(PROC), ["198.18.0.1"])["all_up"] is True


def test_mesh_state_counts_inbound_but_judges_outbound():
    text = PROC.replace("backoff   ", "up        ")
    mesh = nm.mesh_state(nm.parse_proc(text), ["198.18.0.2"])
    assert mesh["all_up"] is True  # the peer's own channel counts may differ from ours
    assert mesh["peers"]["198.18.0.2"]["rx"] == 1


def test_mesh_state_needs_the_peers_inbound_channels_when_given():
    text = PROC.replace("backoff   ", "up        ")
    # the peer runs 1 bulk + 0 latency channels: one live inbound channel is enough
    assert nm.mesh_state(nm.parse_proc(text), ["198.18.0.2"], {"198.18.0.2": 1})["all_up"] is True
    # it runs 3: one is missing (it rebooted, and we have not noticed our old channels died)
    mesh = nm.mesh_state(nm.parse_proc(text), ["198.18.0.2"], {"198.18.0.2": 3})
    assert mesh["all_up"] is False
    assert "peer 198.18.0.2: NOT UP, inbound live 1 (want 3)" in nm.mesh_table("vm1", mesh)


def test_mesh_table_names_states_and_errors():
    mesh = nm.mesh_state(nm.parse_proc(PROC), ["198.18.0.2", "198.18.0.9"])
    table = nm.mesh_table("vm1", mesh)
    assert table.splitlines()[0].startswith("vm1: channels per peer")
    assert "peer 198.18.0.2: NOT UP, inbound live 1 (want 0)" in table
    assert "tx  1 bulk    backoff    connects 0 fails 3 last_err -111 (ECONNREFUSED)" in table
    assert "last_err -110 (ETIMEDOUT)" in table
    assert "peer 198.18.0.9: NOT IN THE LOADED TABLE" in table


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("198.18.0.1", None),
        ("10.0.0.255", None),
        ("fe80::1", "not a dotted-quad"),
        ("198.18.0", "not a dotted-quad"),
        ("198.18.0.256", "not a dotted-quad"),
        ("", "not a dotted-quad"),
        (None, "not a dotted-quad"),
        ("host.example.org", "not a dotted-quad"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "240.0.0.0/4"),
    ],
)
def test_ipv4_problem(value, why):
    got = nm.ipv4_problem(value)
    assert (got is None) if why is None else (why in got)


def test_cpu_list():
    assert nm.parse_cpu_list("0-2,5,1") == [0, 1, 2, 5]
    assert nm.parse_cpu_list("") == []
    for bad in ("a", "3-1", "1,", "-1", "0-"):
        with pytest.raises(ValueError, match=r"is not N or N-M|descending"):
            nm.parse_cpu_list(bad)


def test_host_table():
    assert (
        nm.host_table("198.18.0.1", ["198.18.0.2", "198.18.0.3"], bulk=2, lat=1, port=9000, cpus="0-1")
        == "local=198.18.0.1;peers=198.18.0.2,198.18.0.3;bulk=2;lat=1;port=9000;cpus=0-1"
    )
    assert (
        nm.host_table("198.18.0.1", [], bulk="4", lat="0", port="9", cpus="")
        == "local=198.18.0.1;peers=;bulk=4;lat=0;port=9;cpus="
    )


INFO = {"interface_exists": True, "addresses": [{"address": "198.18.0.1", "prefixlen": 24}], "cpu_count": 2}
GROUP = {"vm1": {"ip": "198.18.0.1"}, "vm2": {"ip": "198.18.0.2"}}


def cfg(**over):
    base = {
        "ip": "198.18.0.1",
        "interface": "eth1",
        "prefix": None,
        "peers": ["vm2"],
        "bulk": 2,
        "lat": 1,
        "port": 9000,
        "cpus": "0-1",
        "group_name": "netchannel",
        "info": INFO,
    }
    return {**base, **over}


def test_valid_host_has_no_errors():
    assert nm.validate_all({"vm1": cfg()}, GROUP) == []
    assert nm.validate_all({"vm1": cfg(prefix=24, peers=["vm1", "vm2"])}, GROUP) == []


@pytest.mark.parametrize(
    ("over", "group", "expected"),
    [
        ({"ip": "fe80::1"}, None, "vm1: netchannel_module_data_ip='fe80::1' is not a dotted-quad IPv4 address"),
        ({"ip": "127.0.0.1"}, None, "vm1: netchannel_module_data_ip='127.0.0.1' is a loopback address"),
        ({"interface": ""}, None, "vm1: netchannel_module_data_interface='' is empty"),
        (
            {"info": {**INFO, "interface_exists": False}, "interface": "nope0"},
            None,
            "vm1: netchannel_module_data_interface='nope0' does not exist on the host",
        ),
        (
            {"ip": "198.18.0.7"},
            {"vm1": {"ip": "198.18.0.7"}, "vm2": {"ip": "198.18.0.2"}},
            "vm1: netchannel_module_data_ip='198.18.0.7' is not an address of eth1 on the host (it has 198.18.0.1/24)",
        ),
        (
            {"prefix": 16},
            None,
            "vm1: netchannel_module_data_prefix=16 differs from eth1's prefix on the host (198.18.0.1/24)",
        ),
        ({"prefix": 33}, None, "vm1: netchannel_module_data_prefix=33 is not an integer in 1..32"),
        ({"bulk": 0}, None, "vm1: netchannel_module_bulk_channels=0 is not an integer in 1..16"),
        ({"bulk": "x"}, None, "vm1: netchannel_module_bulk_channels='x' is not an integer in 1..16"),
        ({"bulk": True}, None, "vm1: netchannel_module_bulk_channels=True is not an integer in 1..16"),
        ({"lat": 17}, None, "vm1: netchannel_module_lat_channels=17 is not an integer in 0..16"),
        ({"port": 0}, None, "vm1: netchannel_module_port=0 is not an integer in 1..65535"),
        ({"port": 70000}, None, "vm1: netchannel_module_port=70000 is not an integer in 1..65535"),
        ({"cpus": "0-3"}, None, "vm1: netchannel_module_cpus='0-3' names CPU 2 but the host has 2 CPUs (0-1)"),
        ({"cpus": "0;1"}, None, "vm1: netchannel_module_cpus='0;1' is not a CPU list: '0;1' is not N or N-M"),
        (
            {"cpus": "300", "info": {**INFO, "cpu_count": 512}},
            None,
            "vm1: netchannel_module_cpus='300' names CPU 300",
        ),
        (
            {"peers": ["vm2", "ghost"]},
            None,
            "vm1: netchannel_module_peers='ghost' is not a member of group 'netchannel'",
        ),
        (
            {},
            {"vm1": {"ip": "198.18.0.1"}, "vm2": {"ip": "300.1.1.1"}},
            "vm1: netchannel_module_peers='vm2' has no valid netchannel_data_ip ('300.1.1.1' is not a dotted-quad",
        ),
        (
            {},
            {"vm1": {"ip": "198.18.0.1"}, "vm2": {"ip": "198.18.0.1"}},
            "vm1: netchannel_module_data_ip='198.18.0.1' is also the data address of vm2",
        ),
        (
            {"needs_reload": True, "open_sockets": 2, "allow_drain": False},
            None,
            "vm1: netchannel_module_allow_drain=False and the module must be reloaded for the new table or build "
            "while 2 NetChannel socket(s) are open",
        ),
        (
            {"sysctls": {"default_window": 4096, "debugg": 1}},
            None,
            "vm1: netchannel_module_sysctls={'debugg': 1} names no known sysctl",
        ),
        (
            {"sysctls": {"latency_priority": 8}},
            None,
            "vm1: netchannel_module_sysctls={'latency_priority': 8} is not an integer in 0..7",
        ),
        (
            {"peers": [f"p{i}" for i in range(33)]},
            {"vm1": {"ip": "198.18.0.1"}, **{f"p{i}": {"ip": f"198.18.1.{i + 1}"} for i in range(33)}},
            "vm1: netchannel_module_peers='33 hosts' is more than the module accepts (32)",
        ),
    ],
)
def test_each_bad_value_is_named(over, group, expected):
    errors = nm.validate_all({"vm1": cfg(**over)}, group or GROUP)
    assert any(e.startswith(expected) for e in errors), errors


def test_reload_with_open_sockets_is_fine_when_draining_or_not_needed():
    assert nm.validate_all({"vm1": cfg(needs_reload=True, open_sockets=2, allow_drain=True)}, GROUP) == []
    assert nm.validate_all({"vm1": cfg(needs_reload=False, open_sockets=2, allow_drain=False)}, GROUP) == []
    assert nm.validate_all({"vm1": cfg(needs_reload=True, open_sockets=0, allow_drain=False)}, GROUP) == []


def test_duplicate_found_even_when_not_a_peer():
    group = {"vm1": {"ip": "198.18.0.1"}, "vm2": {"ip": "198.18.0.2"}, "vm3": {"ip": "198.18.0.1"}}
    errors = nm.validate_all({"vm1": cfg(), "vm3": cfg(peers=["vm1"])}, group)
    assert "vm1: netchannel_module_data_ip='198.18.0.1' is also the data address of vm3" in errors
    assert "vm3: netchannel_module_data_ip='198.18.0.1' is also the data address of vm1" in errors


def test_thirty_two_peers_fit():
    group = {"vm1": {"ip": "198.18.0.1"}, **{f"p{i}": {"ip": f"198.18.1.{i + 1}"} for i in range(32)}}
    assert nm.validate_all({"vm1": cfg(peers=list(group))}, group) == []


def test_no_host_info_skips_host_checks_only():
    assert nm.validate_all({"vm1": cfg(info=None, cpus="0-300")}, GROUP) == [
        "vm1: netchannel_module_cpus='0-300' names CPU 256 but the host module accepts CPUs < 256"
    ]


DKMS3 = """netchannel/0.1.0-gaaaa, 6.1.0-57-amd64, x86_64: installed
netchannel/0.1.0-gbbbb: added
other/1.0, 6.1.0-57-amd64, x86_64: installed (WARNING! Diff between built and installed module!)
"""
DKMS2 = "netchannel, 0.1.0-gaaaa, 6.1.0-57-amd64, x86_64: installed\n"


def test_parse_dkms_status_both_formats():
    assert nm.parse_dkms_status(DKMS3)[0] == {
        "name": "netchannel",
        "version": "0.1.0-gaaaa",
        "kernel": "6.1.0-57-amd64",
        "arch": "x86_64",
        "state": "installed",
    }
    assert nm.parse_dkms_status(DKMS3)[1] == {
        "name": "netchannel",
        "version": "0.1.0-gbbbb",
        "kernel": "",
        "arch": "",
        "state": "added",
    }
    assert nm.parse_dkms_status(DKMS2)[0]["version"] == "0.1.0-gaaaa"
    assert nm.parse_dkms_status("") == []


def test_dkms_plan():
    entries = nm.parse_dkms_status(DKMS3)
    assert nm.dkms_plan(entries, "netchannel", "0.1.0-gaaaa", "6.1.0-57-amd64") == {
        "remove": ["0.1.0-gbbbb"],
        "add": False,
        "install": False,
    }
    assert nm.dkms_plan(entries, "netchannel", "0.1.0-gaaaa", "6.1.192-netchannel")["install"] is True
    assert nm.dkms_plan(entries, "netchannel", "0.1.0-gcccc", "6.1.0-57-amd64") == {
        "remove": ["0.1.0-gaaaa", "0.1.0-gbbbb"],
        "add": True,
        "install": True,
    }
    assert nm.dkms_plan([], "netchannel", "1", "k") == {"remove": [], "add": True, "install": True}


def test_group_addresses_prefer_the_play_then_the_inventory():
    got = nm.group_addresses(["a", "b", "c"], ["198.18.0.9", "", ""], ["198.18.0.1", "198.18.0.2", None])
    assert got == {"a": {"ip": "198.18.0.9"}, "b": {"ip": "198.18.0.2"}, "c": {"ip": ""}}


@pytest.mark.parametrize(("refcnt", "sockets"), [(0, 0), (2, 1), (5, 3), (6, 3), (4, 2), (1, 1), (-1, 0)])
def test_open_sockets_from_refcnt(refcnt, sockets):
    assert nm.open_sockets(refcnt) == sockets


# ---- the cluster key (plugins/modules/netchannel_cluster_key.py, netchannel_auth_key.py) ----

K1, K2, K3 = "11" * 32, "ab" * 32, "0f" * 32


def test_key_id_is_hmac_sha256_of_the_label():
    # the same HMAC the module computes (nc_auth.c) and the in-VM test checks on a live module
    assert nm.auth_key_id(bytes(range(32)).hex()) == "4f8dcad7c2d25bed"
    assert len(nm.auth_key_id(K1)) == 16
    assert nm.auth_key_id(K1) != nm.auth_key_id(K2)
    import hashlib
    import hmac

    assert nm.auth_key_id(K3) == hmac.new(bytes.fromhex(K3), b"nc-key-id", hashlib.sha256).hexdigest()[:16]


def test_key_file_parsing_names_the_file_and_line_never_the_key():
    assert nm.parse_key_file(f"{K1}\n", "f") == [K1]
    assert nm.parse_key_file(f"{K1.upper()}\n{K2}\n", "f") == [K1, K2]
    assert nm.parse_key_file(f"{K1}\n{K1}\n", "f") == [K1]
    for text, why in (
        ("", "f: holds 0 keys"),
        (f"{K1}\n{K2}\n{K3}\n", "f: holds 3 keys"),
        (f"{K1}\n{K2[:-1]}\n", "f: key 2 is not 64 hex digits [(]63 characters[)]"),
        ("xyz" + K1[3:], "f: key 1 is not 64 hex digits"),
    ):
        with pytest.raises(ValueError, match=why) as err:
            nm.parse_key_file(text, "f")
        assert K1 not in str(err.value)
        assert K2[:-1] not in str(err.value)


def test_rotation_stages_keep_every_pair_of_hosts_talking():
    keys = [K2, K1]  # new, previous
    assert nm.auth_stage_keys(keys, "old_first") == [K1, K2]
    assert nm.auth_stage_keys(keys, "new_first") == [K2, K1]
    assert nm.auth_stage_keys(keys, "final") == [K2]
    assert nm.auth_stage_keys([K1], "old_first") == [K1]
    # hosts one stage apart: what one uses, the other accepts (acceptors take every key they have)
    stages = ["final0", "old_first", "new_first", "final"]
    have = {"final0": [K1], **{s: nm.auth_stage_keys(keys, s) for s in stages[1:]}}
    for a, b in itertools.pairwise(stages):
        assert have[a][0] in have[b], (a, b)
        assert have[b][0] in have[a], (a, b)
    with pytest.raises(ValueError, match="stage 'soon' is not one of"):
        nm.auth_stage_keys(keys, "soon")


def test_cluster_key_plan():
    new = iter([K3, "cc" * 32]).__next__
    assert nm.plan_cluster_keys(None, "", False, False, new) == [K3]
    assert nm.plan_cluster_keys(None, K2, False, False, new) == [K2]
    assert nm.plan_cluster_keys([K1], "", False, False, new) == [K1]
    assert nm.plan_cluster_keys([K1], "", True, False, new) == ["cc" * 32, K1]
    # a rotation under way is resumed, not started again
    assert nm.plan_cluster_keys([K2, K1], "", True, False, new) == [K2, K1]
    assert nm.plan_cluster_keys([K2, K1], "", False, True, new) == [K2]
    # the user's own key: the same one changes nothing, another one rotates to it
    assert nm.plan_cluster_keys([K1], K1, False, False, new) == [K1]
    assert nm.plan_cluster_keys([K1], K2, False, False, new) == [K2, K1]
    assert nm.plan_cluster_keys([K2, K1], K2, False, False, new) == [K2, K1]


def _c_format(path, start):
    """The format string of the seq_printf() in module_src/netchannel/<path> whose text begins with
    start, as a Python %-format (the C conversions this file uses mapped to Python's)."""
    src = (ROOT / "module_src" / "netchannel" / path).read_text()
    m = re.search(r'seq_printf\(m, "(' + re.escape(start) + r'[^"]*)\\n"', src)
    assert m, f"no seq_printf starting {start!r} in {path}"
    return re.sub(r"%(-?\d*)(?:llu|u|d)", r"%\1d", m.group(1).replace("%pI4h", "%s"))


def test_parse_proc_reads_what_the_module_prints():
    """Lines made with the module's own seq_printf formats parse: a format change in the C code
    (as striping's queued_bytes) fails here rather than in a molecule run against the lab."""
    tx = _c_format("nc_chan.c", "  tx ")
    rx = _c_format("nc_chan.c", "rx id ")
    head = _c_format("nc_main.c", "netchannel wire_version ")
    ntx = tx.count("%")
    values = [0, "bulk", "backoff", -1, 5, 6, 7, 8, 9, -111, 4096, 8192, 3, 12][:ntx]
    assert len(values) == ntx, f"the tx line has {ntx} fields; this test knows {len(values)}"
    text = head % (2, "198.18.0.1", 9000, 2, 1, 1) + "\npeer 198.18.0.2\n"
    text += tx % tuple(values) + "\n"
    text += rx % (5, "198.18.0.2", 1, "latency", 3, 4, " acks", " dying") + "\n"
    text += rx % (6, "198.18.0.2", 0, "bulk", 3, 4, "", "") + "\n"
    p = nm.parse_proc(text)
    ch = p["peers"]["198.18.0.2"]["tx"][0]
    assert ch["state"] == "backoff"
    assert ch["last_err"] == -111
    assert ch["cpu"] == -1
    assert ch["queued_bytes"] == 4096
    assert ch["notsent_bytes"] == 8192
    assert ch["flows"] == 3
    assert ch["turns"] == 12
    assert p["rx"][0]["dying"] is True
    assert p["rx"][0]["acks"] is True
    assert (p["rx"][1]["acks"], p["rx"][1]["dying"]) == (False, False)
    assert p["rx"][0]["cls"] == "latency"


def _headers(root: Path, release: str, config: str, symvers: str) -> None:
    build = root / "lib" / "modules" / release / "build"
    build.mkdir(parents=True)
    (build / ".config").write_text(config)
    (build / "Module.symvers").write_text(symvers)


def test_kernel_build_id_follows_config_symbols_compiler_and_release(tmp_path):
    _headers(tmp_path / "a", "6.1.0-1-amd64", "CONFIG_NET=y\n", "0x1234\tsk_free\tvmlinux\tEXPORT_SYMBOL\n")
    base = nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path / "a"))
    assert re.fullmatch(r"[0-9a-f]{20}", base)
    assert nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path / "a")) == base
    # any of the four changes it: a module kept for one must not be installed on the other
    _headers(
        tmp_path / "b", "6.1.0-1-amd64", "CONFIG_NET=y\nCONFIG_KASAN=y\n", "0x1234\tsk_free\tvmlinux\tEXPORT_SYMBOL\n"
    )
    _headers(tmp_path / "c", "6.1.0-1-amd64", "CONFIG_NET=y\n", "0x9999\tsk_free\tvmlinux\tEXPORT_SYMBOL\n")
    others = {
        nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path / "b")),
        nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path / "c")),
        nm.kernel_build_id("6.1.0-1-amd64", "gcc 13.2.0", root=str(tmp_path / "a")),
    }
    assert len(others) == 3
    assert base not in others
    # no headers (or half of them): no id, so nothing kept can match
    assert nm.kernel_build_id("6.1.0-2-amd64", "gcc 12.2.0", root=str(tmp_path / "a")) == ""
    (tmp_path / "a" / "lib" / "modules" / "6.1.0-1-amd64" / "build" / "Module.symvers").unlink()
    assert nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path / "a")) == ""


def test_kernel_build_id_takes_the_signing_certificate_where_signatures_are_enforced(tmp_path):
    _headers(tmp_path, "6.1.0-1-amd64", "CONFIG_NET=y\n", "0x1234\tsk_free\tvmlinux\tEXPORT_SYMBOL\n")
    (tmp_path / "var" / "lib" / "dkms").mkdir(parents=True)
    (tmp_path / "var" / "lib" / "dkms" / "mok.pub").write_bytes(b"cert A")
    lockdown = tmp_path / "sys" / "kernel" / "security" / "lockdown"
    lockdown.parent.mkdir(parents=True)

    def ident():
        return nm.kernel_build_id("6.1.0-1-amd64", "gcc 12.2.0", root=str(tmp_path))

    lockdown.write_text("[none] integrity confidentiality\n")
    unsigned = ident()
    (tmp_path / "var" / "lib" / "dkms" / "mok.pub").write_bytes(b"cert B")
    assert ident() == unsigned  # no enforcement: a new certificate (a reinstalled host) changes nothing
    lockdown.write_text("none [integrity] confidentiality\n")  # Secure Boot
    signed_b = ident()
    assert signed_b != unsigned
    (tmp_path / "var" / "lib" / "dkms" / "mok.pub").write_bytes(b"cert A")
    assert ident() not in {signed_b, unsigned}  # another host's signature would be refused
    lockdown.write_text("[none] integrity confidentiality\n")
    sig = tmp_path / "sys" / "module" / "module" / "parameters" / "sig_enforce"
    sig.parent.mkdir(parents=True)
    sig.write_text("Y\n")
    assert nm.signatures_enforced(str(tmp_path))
    assert ident() != unsigned
