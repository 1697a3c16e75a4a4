"""Shared by every scenario's testinfra tests: refuse to pass on an empty lab.

testinfra parametrizes tests by inventory host; with no host there would be no
test and pytest would report nothing wrong. A lab that is down must fail instead.
"""

from pathlib import Path

import pytest
import yaml

INVENTORY = Path(__file__).resolve().parents[1] / "inventory" / "lab" / "hosts.yml"


def lab_hosts() -> dict:
    if not INVENTORY.exists():
        return {}
    data = yaml.safe_load(INVENTORY.read_text()) or {}
    return data.get("all", {}).get("children", {}).get("netchannel", {}).get("hosts") or {}


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
