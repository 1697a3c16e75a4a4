"""Shared by every scenario's testinfra tests: refuse to pass on an empty lab.

testinfra parametrizes tests by inventory host; with no host there would be no
test and pytest would report nothing wrong. A lab that is down must fail instead.
"""

import os
import subprocess
from pathlib import Path

import pytest
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[1]
# The lab under test: make test's own (tools/run_tests.py sets NCLAB_INVENTORY), else the default lab.
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")


def lab_hosts() -> dict:
    return read_lab_hosts(INVENTORY)


def pytest_sessionstart(session):
    if not lab_hosts():
        pytest.exit(f"{INVENTORY} lists no lab hosts: the lab is not running (nclab up)", returncode=3)


@pytest.fixture(name="lab_hosts", scope="session")
def fixture_lab_hosts() -> dict:
    """Inventory variables of every lab host, by name."""
    return lab_hosts()


@pytest.fixture(name="hostvars")
def fixture_hostvars(host, lab_hosts) -> dict:
    """Inventory variables of the host under test."""
    return lab_hosts[host.backend.get_hostname()]


def run_ansible(program: str, *args: str, inventories=(), env=None) -> subprocess.CompletedProcess:
    """Run `ansible` or `ansible-playbook` from the repo against the lab inventory (plus `inventories`).

    The result has `.output`: stdout and stderr together (Ansible 2.19 prints failures on stderr).
    """
    cmd = [program, "-i", str(INVENTORY)]
    for extra in inventories:
        cmd += ["-i", str(extra)]
    full_env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})}
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO, env=full_env, check=False)
    proc.output = proc.stdout + proc.stderr
    return proc


@pytest.fixture(name="ansible")
def fixture_ansible():
    """run_ansible, for tests that drive Ansible themselves (bad input, reboots)."""
    return run_ansible
