"""The module role's peer list keeps the inventory's order whatever Python's hash seed is.

Ansible's `difference` filter goes through a set for hashable inputs, so its order changed from one
ansible-playbook run to the next: with three or more hosts a host's rendered table (and so its DKMS
version) changed between runs, and an unchanged inventory rebuilt and reloaded the module.
"""

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / ".venv" / "bin" / "ansible"


def test_default_peers_keep_the_inventory_order(tmp_path):
    expr = yaml.safe_load((ROOT / "roles/netchannel_module/defaults/main.yml").read_text())["netchannel_module_peers"]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("netchannel:\n  hosts:\n" + "".join(f"    h{i}:\n" for i in range(1, 7)))
    seen = set()
    for seed in range(1, 9):
        proc = subprocess.run(
            [
                str(ANSIBLE),
                "h3",
                "-i",
                str(inventory),
                "-c",
                "local",
                "-m",
                "ansible.builtin.debug",
                "-a",
                "msg={{ peers | join(',') }}",
                "-e",
                "netchannel_module_group=netchannel",
                "-e",
                "peers=" + expr,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": str(seed), "ANSIBLE_NOCOLOR": "1"},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        seen.add(proc.stdout.split('"msg": "', 1)[1].split('"', 1)[0])
    assert seen == {"h1,h2,h4,h5,h6"}


def test_no_set_based_filter_orders_the_peers_in_the_tasks():
    tasks = (ROOT / "roles/netchannel_module/tasks/present.yml").read_text()
    peer_lines = [line for line in tasks.splitlines() if "__netchannel_module_cfg.peers" in line]
    assert peer_lines
    assert not [line for line in peer_lines if "difference(" in line], peer_lines
