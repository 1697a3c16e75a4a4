"""netchannel_experiments preflight: a host without enough disk, on the wrong kernel, with a clock
far from the controller's or with a data NIC that lost the values the NIC stage applied stops the
run before anything is measured, naming host and check.

Each test runs experiments.yml (the converge's experiments stage alone) again under a run id of its
own, with one thing made wrong.
"""

import base64
import json
import os
from pathlib import Path

import pytest
import yaml
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[3]
EXPERIMENTS = REPO / "molecule" / "workloads" / "experiments.yml"
WANTED = yaml.safe_load(EXPERIMENTS.read_text())[2]["vars"]
RESULTS = Path(os.environ.get("NETCHANNEL_EXPERIMENTS_TEST_RESULTS") or "/tmp/netchannel-experiments-molecule")
RUN_ID = "molecule-preflight"
LAB_INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory/lab/hosts.yml")
DRIFT_DIR = "/var/tmp/netchannel-nic-drift-test"


def _env() -> dict:
    return {
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(REPO / "collections"),
        "NETCHANNEL_EXPERIMENTS_TEST_RESULTS": str(RESULTS),
        "NETCHANNEL_EXPERIMENTS_TEST_RESUME": "1",
    }


@pytest.fixture(name="pair", scope="module")
def fixture_pair() -> tuple[str, str]:
    """Client and server of the converge's run, from its recorded configuration."""
    run = RESULTS / WANTED["netchannel_experiments_run_id"]
    config = json.loads(next(run.rglob("config.json")).read_text())
    return config["client"], config["server"]


def _run(ansible, extra: str):
    proc = ansible(
        "ansible-playbook", str(EXPERIMENTS), "-e", f"netchannel_experiments_run_id={RUN_ID} {extra}", env=_env()
    )
    assert proc.returncode != 0, proc.output[-3000:]
    assert "Run the ncbench client" not in proc.output
    assert not list((RESULTS / RUN_ID).rglob("rep-*")), "a repetition was measured after a failed preflight"
    return proc.output


def test_too_little_disk_names_the_controller_and_each_host(ansible, pair):
    """Also: with no NIC record where the run looks (a directory that does not exist), each host is
    noted and its NIC not checked."""
    nowhere = "/var/tmp/netchannel-nic-no-such-dir"
    out = _run(
        ansible, f"netchannel_experiments_min_free_mib=1000000000 netchannel_experiments_nic_record_dir={nowhere}"
    )
    assert "preflight on the controller (localhost): only " in out
    for name in pair:
        assert f"preflight on {name}: only " in out
        assert f"preflight on {name}: no NIC values recorded under {nowhere}" in out
        assert f"preflight on {name}: the data NIC" not in out
        assert "for netchannel_experiments_host_dir=/var/tmp/netchannel-experiments" in out
    assert "want netchannel_experiments_min_free_mib=1000000000" in out


def test_the_wrong_kernel_and_a_nic_without_its_recorded_values_name_each_host(ansible, pair):
    """One run for two checks (each run of the playbook costs about a minute here): both hosts on a
    kernel the run does not want, and the server with a record (in a directory of the test's own)
    asking for an MTU its data NIC does not have, and the client with a record that is not JSON
    (a module error, reported as a failed check). Nothing on the NIC changes."""
    client, server = pair
    hosts = read_lab_hosts(LAB_INVENTORY)
    iface, client_iface = hosts[server]["netchannel_data_interface"], hosts[client]["netchannel_data_interface"]
    records = {
        server: json.dumps({"interface": iface, "host": server, "mtu": 1280}),
        client: "{not json",
    }
    for name, text in records.items():
        rec = base64.b64encode(text.encode()).decode()
        dest = f"{DRIFT_DIR}/{hosts[name]['netchannel_data_interface']}.json"
        script = f"mkdir -p {DRIFT_DIR} && echo {rec} | base64 -d > {dest}"
        put = ansible("ansible", name, "-m", "ansible.builtin.shell", "-a", script)
        assert put.returncode == 0, put.output[-2000:]
    try:
        kernel = "netchannel_experiments_kernel_release=6.1.0-nosuch-amd64"
        out = _run(ansible, f"{kernel} netchannel_experiments_nic_record_dir={DRIFT_DIR}")
    finally:
        gone = [
            ansible("ansible", name, "-m", "ansible.builtin.file", "-a", f"path={DRIFT_DIR} state=absent")
            for name in pair
        ]
        assert all(g.returncode == 0 for g in gone), [g.output[-2000:] for g in gone]
    for name in pair:
        assert f"preflight on {name}: the running kernel is " in out
    assert "the run wants netchannel_experiments_kernel_release=6.1.0-nosuch-amd64" in out
    assert (
        f"preflight on {server}: the data NIC {iface} no longer has the values the NIC stage applied "
        f"({DRIFT_DIR}/{iface}.json): mtu "
    ) in out
    assert "(recorded 1280); run the NIC stage again (ansible-playbook site.yml --tags nic)" in out
    assert (
        f"preflight on {client}: the data NIC could not be compared with the values the NIC stage applied: "
        f"compare_with={DRIFT_DIR}/{client_iface}.json: cannot read it as a NIC record"
    ) in out


def test_a_clock_an_hour_ahead_names_the_host(ansible, pair):
    """The server's clock is moved an hour ahead for the run, then an hour back (relative to its own
    reading each time, so the slow round trip to the VM does not shift it), with the lab's clock
    keeper stopped meanwhile."""

    def move_clock(seconds: int):
        script = (
            "import subprocess, time; "
            f"subprocess.run(['date', '-u', '-s', '@%.6f' % (time.time() + {seconds})], check=True)"
        )
        proc = ansible("ansible", pair[1], "-m", "ansible.builtin.command", "-a", f'python3 -c "{script}"')
        assert proc.returncode == 0, proc.output[-2000:]

    def lab_clock_keeper(action: str):  # the lab's nclab-clock.timer would put the clock right
        proc = ansible(
            "ansible", pair[1], "-m", "ansible.builtin.systemd_service", "-a", f"name=nclab-clock.timer state={action}"
        )
        assert proc.returncode == 0, proc.output[-2000:]

    lab_clock_keeper("stopped")
    try:
        move_clock(3600)
        try:
            out = _run(ansible, "")
        finally:
            move_clock(-3600)
    finally:
        lab_clock_keeper("started")
    assert f"preflight on {pair[1]}: the clock is " in out
    assert " s ahead of the controller's, more than netchannel_experiments_clock_skew_max_s=10" in out
    assert f"preflight on {pair[0]}: the clock is" not in out
