"""Shared by every scenario's testinfra tests: refuse to pass on an empty lab.

testinfra parametrizes tests by inventory host; with no host there would be no
test and pytest would report nothing wrong. A lab that is down must fail instead.
"""

from pathlib import Path

import pytest
from nclab.inventory import read_lab_hosts

INVENTORY = Path(__file__).resolve().parents[1] / "inventory" / "lab" / "hosts.yml"


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
