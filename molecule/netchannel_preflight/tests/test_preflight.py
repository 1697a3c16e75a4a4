"""netchannel_preflight: what it leaves on the hosts, what it checks, and how it fails on bad input."""

import json
import os
import re
from pathlib import Path

import yaml
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[3]
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory/lab/hosts.yml")
LAB = sorted(read_lab_hosts(INVENTORY))
FIRST, SECOND = LAB[0], LAB[-1]
testinfra_hosts = ["netchannel"]


DEFAULTS = yaml.safe_load((REPO / "roles/netchannel_preflight/defaults/main.yml").read_text())


def test_packages_installed(host):
    for pkg in DEFAULTS["netchannel_preflight_packages"]:
        assert host.package(pkg).is_installed, pkg


def test_tools_the_roles_call_exist(host):
    for tool in ("/usr/sbin/ethtool", "/usr/bin/ping", "/usr/sbin/ip", "/usr/sbin/modprobe"):
        assert host.file(tool).exists, tool


def test_converge_connected_as_a_non_root_admin_with_become(host):
    admin = host.user("ncadmin")
    assert admin.exists
    assert admin.uid != 0
    assert host.file("/etc/sudoers.d/ncadmin").contains("^ncadmin ALL=")


def _preflight(ansible, *extra: str, inventory: Path | None = None, limit: str = FIRST):
    inventories = [inventory] if inventory is not None else []
    return ansible(
        "ansible-playbook", "--limit", limit, str(REPO / "playbooks/preflight.yml"), *extra, inventories=inventories
    )


def _as_admin(become: bool) -> list[str]:
    """Connect as the non-root admin; --become as a user would pass it (task keywords still win)."""
    extra = ["-e", json.dumps({"ansible_user": "ncadmin", "netchannel_preflight_min_build_mb": 1})]
    return [*extra, "--become"] if become else extra


def test_role_installs_a_missing_package(ansible):
    """Only the role's own install task can bring ethtool back (the guest has no network but a local repo)."""
    proc = ansible("ansible", FIRST, "-m", "ansible.builtin.apt", "-a", "name=ethtool state=absent")
    assert proc.returncode == 0, proc.output
    gone = ansible("ansible", FIRST, "-m", "ansible.builtin.command", "-a", "dpkg-query -W -f=${Status} ethtool")
    assert "install ok installed" not in gone.output
    proc = _preflight(ansible, *_as_admin(True))
    assert proc.returncode == 0, proc.output[-3000:]
    back = ansible("ansible", FIRST, "-m", "ansible.builtin.command", "-a", "dpkg-query -W -f=${Status} ethtool")
    assert "install ok installed" in back.output, back.output


def test_without_become_the_privileges_check_names_the_user(ansible):
    proc = _preflight(ansible, *_as_admin(False))
    assert proc.returncode != 0
    assert re.search(
        rf"{FIRST}: preflight check 'privileges' failed: connected as uid [1-9]\d* without become", proc.output
    )


def test_every_failing_check_is_named_with_its_value(ansible):
    """An unsupported OS and too little space in /boot: both reported, each with host, check and value."""
    extra = {"netchannel_preflight_supported_os": ["debian 11"], "netchannel_preflight_min_boot_mb": 10**9}
    proc = _preflight(ansible, "-e", json.dumps(extra))
    assert proc.returncode != 0
    assert f"{FIRST}: preflight check 'operating system' failed: 'debian 12' (bookworm) is not one of debian 11" in (
        proc.output
    )
    assert f"{FIRST}: preflight check 'free space in /boot' failed: " in proc.output
    assert "need 1000000000 (netchannel_preflight_min_boot_mb)" in proc.output


def test_link_down_is_named(ansible):
    made = ansible(
        "ansible",
        FIRST,
        "-m",
        "ansible.builtin.shell",
        "-a",
        "ip link del ncdown0 2>/dev/null; ip link add ncdown0 type dummy && ip addr add 198.18.9.9/32 dev ncdown0",
    )
    assert made.returncode == 0, made.output
    try:
        proc = _preflight(ansible, "-e", '{"netchannel_data_interface": "ncdown0", "netchannel_data_ip": "198.18.9.9"}')
    finally:
        ansible("ansible", FIRST, "-m", "ansible.builtin.command", "-a", "ip link del ncdown0")
    assert proc.returncode != 0
    assert f"{FIRST}: preflight check 'data link' failed: ncdown0 is down with carrier False" in proc.output


def test_no_build_space_is_named(ansible):
    proc = _preflight(ansible, "-e", '{"netchannel_preflight_min_build_mb": 1000000000}')
    assert proc.returncode != 0
    assert "localhost: preflight check 'kernel build space' failed: /var/tmp/netchannel-kernel has" in proc.output


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
        json.dumps({"netchannel_preflight_peers": [SECOND, "ghost"], "netchannel_preflight_ping_count": 1}),
        inventory=ghost,
    )
    assert proc.returncode != 0
    # Only the ghost is named: the other lab VM answered.
    iface = lab_hosts[FIRST]["netchannel_data_interface"]
    assert f'{FIRST}: no answer over {iface} from 198.18.0.250"' in proc.output


def test_peer_without_address_is_named(ansible, tmp_path):
    ghost = tmp_path / "ghost.yml"
    ghost.write_text("others:\n  hosts:\n    ghost: {}\n")
    proc = _preflight(ansible, "-e", '{"netchannel_preflight_peers": ["ghost"]}', inventory=ghost)
    assert proc.returncode != 0
    assert "these peers have no valid netchannel_data_ip in the inventory: ghost" in proc.output
