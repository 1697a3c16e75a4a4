"""netchannel_preflight: what it leaves on the hosts, and how it fails on bad input."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
testinfra_hosts = ["netchannel"]


DEFAULTS = yaml.safe_load((REPO / "roles/netchannel_preflight/defaults/main.yml").read_text())


def test_packages_installed(host):
    for pkg in DEFAULTS["netchannel_preflight_packages"]:
        assert host.package(pkg).is_installed, pkg


def test_tools_the_roles_call_exist(host):
    for tool in ("/usr/sbin/ethtool", "/usr/bin/ping", "/usr/sbin/ip", "/usr/sbin/modprobe"):
        assert host.file(tool).exists, tool


def _preflight(ansible, *extra: str, inventory: Path | None = None):
    inventories = [inventory] if inventory is not None else []
    return ansible(
        "ansible-playbook", "--limit", "nclab1", str(REPO / "playbooks/preflight.yml"), *extra, inventories=inventories
    )


def test_missing_interface_is_named(ansible):
    proc = _preflight(ansible, "-e", "netchannel_data_interface=nope0")
    assert proc.returncode != 0
    assert "data interface nope0 (netchannel_preflight_data_interface) does not exist" in proc.output


def test_wrong_address_is_named(ansible):
    proc = _preflight(ansible, "-e", "netchannel_preflight_data_ip=198.18.0.99")
    assert proc.returncode != 0
    assert "does not hold 198.18.0.99 (netchannel_preflight_data_ip)" in proc.output


def test_bad_address_is_named(ansible):
    proc = _preflight(ansible, "-e", "netchannel_data_ip=300.1.1.1")
    assert proc.returncode != 0
    assert "netchannel_preflight_data_ip='300.1.1.1'" in proc.output


def test_unreachable_peer_is_named(ansible, tmp_path, lab_hosts):
    # A peer in the inventory whose data address no lab VM holds (inside the lab's own segment).
    ghost = tmp_path / "ghost.yml"
    ghost.write_text("others:\n  hosts:\n    ghost:\n      netchannel_data_ip: 198.18.0.250\n")
    proc = _preflight(
        ansible,
        "-e",
        '{"netchannel_preflight_peers": ["nclab2", "ghost"], "netchannel_preflight_ping_count": 1}',
        inventory=ghost,
    )
    assert proc.returncode != 0
    # Only the ghost is named: nclab2 (198.18.0.2) answered.
    iface = lab_hosts["nclab1"]["netchannel_data_interface"]
    assert f'nclab1: no answer over {iface} from 198.18.0.250"' in proc.output


def test_peer_without_address_is_named(ansible, tmp_path):
    ghost = tmp_path / "ghost.yml"
    ghost.write_text("others:\n  hosts:\n    ghost: {}\n")
    proc = _preflight(ansible, "-e", '{"netchannel_preflight_peers": ["ghost"]}', inventory=ghost)
    assert proc.returncode != 0
    assert "these peers have no valid netchannel_data_ip in the inventory: ghost" in proc.output
