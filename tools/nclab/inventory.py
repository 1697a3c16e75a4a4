"""The Ansible inventory that `nclab up` writes for the running lab."""

from __future__ import annotations

from pathlib import Path

import yaml


def ssh_options(key: Path, control_dir: Path) -> list[str]:
    """ssh options shared by `nclab ssh`, the readiness probe, Ansible and testinfra.

    The same ControlPath means one multiplexed connection serves all of them.
    """
    return [
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"IdentityFile={key}",
        "-o",
        "ControlMaster=auto",
        "-o",
        "ControlPersist=900",
        "-o",
        f"ControlPath={control_dir}/%C",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=8",
    ]


def server_hosts(names: list[str]) -> list[str]:
    """Odd-numbered hosts serve, even-numbered ones are their clients (1 serves 2, 3 serves 4, ...)."""
    return names[0::2]


def build_inventory(hosts: list[dict], key: Path, control_dir: Path, data_prefix: int) -> dict:
    """hosts: dicts with name, port, data_ip, data_interface (in lab order)."""
    names = [h["name"] for h in hosts]
    servers = server_hosts(names)
    hostvars = {
        h["name"]: {
            "ansible_host": "127.0.0.1",
            "ansible_port": h["port"],
            "netchannel_data_interface": h["data_interface"],
            "netchannel_data_ip": str(h["data_ip"]),
            "netchannel_data_prefix": data_prefix,
        }
        for h in hosts
    }
    common = " ".join(
        opt if opt == "-o" else f"'{opt}'" if " " in opt else opt for opt in ssh_options(key, control_dir)
    )
    return {
        "all": {
            # The controller builds the kernel; its system Python has python3-apt for the apt module.
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}},
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": common,
                "ansible_python_interpreter": "/usr/bin/python3",
                "netchannel_lab": True,
            },
            "children": {
                "netchannel": {
                    "hosts": hostvars,
                    # what site.yml's NIC stage applies: the long-flow profile (the paper's NetChannel
                    # set-up); every figure runs on it (no figure switches profiles yet)
                    "vars": {"netchannel_nic_profile": "long_flows"},
                    "children": {
                        "netchannel_servers": {"hosts": {n: {} for n in servers}},
                        "netchannel_clients": {"hosts": {n: {} for n in names if n not in servers}},
                    },
                }
            },
        }
    }


def down_inventory() -> dict:
    """What the lab inventory holds while the lab is down: no hosts (site.yml then says so)."""
    return {"all": {"vars": {"netchannel_lab": True}, "children": {"netchannel": {"hosts": {}}}}}


def read_lab_hosts(path: Path) -> dict:
    """Inventory variables of every host in group netchannel of an inventory file ({} if none)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return data.get("all", {}).get("children", {}).get("netchannel", {}).get("hosts") or {}


def write_inventory(path: Path, inventory: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `nclab up` for the running lab; `nclab down` empties it. Do not edit.\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False))
    tmp.replace(path)
