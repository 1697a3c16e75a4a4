"""The experiments role reads the NIC the netchannel_nic role configured: a host's
netchannel_nic_interface, else its netchannel_data_interface. The per-figure NIC readings read
netchannel_data_interface alone, so on a host whose two differ they read another NIC than the one
the record (and the profile switch) is about.

The role's own expressions are rendered by Ansible against a local inventory."""

import json
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / ".venv" / "bin" / "ansible"
ROLE = ROOT / "roles" / "netchannel_experiments"


def _render(tmp_path, host_vars: dict, expr: str) -> str:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"h1": host_vars, "h2": {}}}}))
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    extra = tmp_path / "extra.json"
    extra.write_text(
        json.dumps(
            {
                "__netchannel_experiments_nic_interface": variables["__netchannel_experiments_nic_interface"],
                "__netchannel_experiments_nic_record": variables["__netchannel_experiments_nic_record"],
                "netchannel_experiments_nic_record_dir": "/var/lib/netchannel-nic",
                "__netchannel_experiments_host": "h1",
            }
        )
    )
    cmd = [str(ANSIBLE), "h2", "-o", "-i", str(inventory), "-c", "local", "-m", "ansible.builtin.debug"]
    proc = subprocess.run(
        [*cmd, "-a", "msg=" + expr, "-e", f"@{extra}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.split("=>", 1)[1])["msg"]


def _read_task_interface() -> str:
    tasks = yaml.safe_load((ROLE / "tasks" / "nic_read.yml").read_text())
    return tasks[0]["vars"]["__if"]


def test_the_nic_readings_read_the_nic_interface_where_it_differs(tmp_path):
    host = {"netchannel_data_interface": "vlan7", "netchannel_nic_interface": "ens1f0"}
    assert _render(tmp_path, host, _read_task_interface()) == "ens1f0"
    assert _render(tmp_path, host, "{{ __netchannel_experiments_nic_record }}") == "/var/lib/netchannel-nic/ens1f0.json"


def test_the_nic_readings_fall_back_to_the_data_interface(tmp_path):
    host = {"netchannel_data_interface": "ens4"}
    assert _render(tmp_path, host, _read_task_interface()) == "ens4"
    assert _render(tmp_path, host, "{{ __netchannel_experiments_nic_record }}") == "/var/lib/netchannel-nic/ens4.json"
