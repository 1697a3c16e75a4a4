"""Molecule writes its own ansible.cfg from .config/molecule/config.yml, so the project's ansible.cfg
settings that the lab needs must be repeated there. Without `timeout`, molecule's converge and
idempotence ran with Ansible's default 10 s, and Mitogen's first connection to a busy TCG guest
(ssh, python start, its bootstrap) failed with "Connection timed out." (the NIC scenario's
idempotence in a full run of make test)."""

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _ansible_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    return cfg


def _molecule_defaults() -> dict:
    config = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    return config["provisioner"]["config_options"]["defaults"]


def test_molecule_connects_with_the_projects_timeout():
    want = _ansible_cfg().getint("defaults", "timeout")
    assert want >= 30, f"ansible.cfg timeout = {want}: too short for TCG guests"
    assert int(_molecule_defaults().get("timeout", 10)) == want


def test_molecule_keeps_the_other_lab_settings():
    cfg, mol = _ansible_cfg(), _molecule_defaults()
    for key in ("forks", "gathering", "interpreter_python"):
        assert str(mol[key]) == cfg.get("defaults", key), key


def test_verifiers_print_a_line_per_test():
    """make test relays whole lines only: with pytest's dots (one line per file) a CI log cut short by
    the time limit showed "collected 61 items" and nothing of the tests that had passed (stop 30)."""
    options = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())["verifier"]["options"]
    assert options.get("v") is True
    assert options.get("durations") == "8"  # a string: molecule passes it on unconverted
