from pathlib import Path

import yaml
from nclab.inventory import build_inventory, server_hosts, write_inventory


def _hosts(n):
    return [
        {"name": f"nclab{i}", "port": 10021 + i, "data_ip": f"198.18.0.{i}", "data_interface": "ens4"}
        for i in range(1, n + 1)
    ]


def test_groups_and_hostvars(tmp_path: Path):
    inv = build_inventory(_hosts(4), tmp_path / "key", tmp_path / "cm", 24)
    nc = inv["all"]["children"]["netchannel"]
    assert list(nc["hosts"]) == ["nclab1", "nclab2", "nclab3", "nclab4"]
    assert nc["hosts"]["nclab3"] == {
        "ansible_host": "127.0.0.1",
        "ansible_port": 10024,
        "netchannel_data_interface": "ens4",
        "netchannel_data_ip": "198.18.0.3",
        "netchannel_data_prefix": 24,
    }
    assert list(nc["children"]["netchannel_servers"]["hosts"]) == ["nclab1", "nclab3"]
    assert list(nc["children"]["netchannel_clients"]["hosts"]) == ["nclab2", "nclab4"]
    common = inv["all"]["vars"]["ansible_ssh_common_args"]
    assert f"ControlPath={tmp_path / 'cm'}/%C" in common
    assert "StrictHostKeyChecking=no" in common


def test_single_host_lab_has_no_clients():
    assert server_hosts(["a"]) == ["a"]
    inv = build_inventory(_hosts(1), Path("/k"), Path("/c"), 24)
    assert inv["all"]["children"]["netchannel"]["children"]["netchannel_clients"]["hosts"] == {}


def test_written_inventory_is_valid_yaml(tmp_path: Path):
    path = tmp_path / "inventory" / "lab" / "hosts.yml"
    write_inventory(path, build_inventory(_hosts(2), tmp_path / "key", tmp_path / "cm", 24))
    loaded = yaml.safe_load(path.read_text())
    assert loaded["all"]["children"]["netchannel"]["hosts"]["nclab2"]["ansible_port"] == 10023
    assert not path.with_suffix(".tmp").exists()


def test_lab_and_example_inventories_name_a_nic_profile_of_the_role(tmp_path: Path):
    """site.yml's NIC stage applies the inventory's profile: it must be one the NIC role has."""
    root = Path(__file__).resolve().parents[2]
    from nic_fake import engine

    profiles = engine.PROFILES
    lab = build_inventory(_hosts(2), tmp_path / "key", tmp_path / "cm", 24)
    example = yaml.safe_load((root / "inventory/example/hosts.yml").read_text())
    for inv in (lab, example):
        assert inv["all"]["children"]["netchannel"]["vars"]["netchannel_nic_profile"] == "long_flows"
    assert "long_flows" in profiles
