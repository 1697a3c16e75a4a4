"""netchannel_experiments preflight: a host without enough disk, on the wrong kernel or with a
clock far from the controller's stops the run before anything is measured, naming host and check.

Each test runs the experiments playbook again with the converge's values under a run id of its own,
with one thing made wrong.
"""

import json

import pytest
from workloads_common import RESULTS, WANTED

RUN_ID = "molecule-preflight"


@pytest.fixture(name="pair", scope="module")
def fixture_pair() -> tuple[str, str]:
    """Client and server of the converge's run, from its recorded configuration."""
    run = RESULTS / WANTED["netchannel_experiments_run_id"]
    config = json.loads(next(run.rglob("config.json")).read_text())
    return config["client"], config["server"]


def _run(experiments, extra: str):
    proc = experiments(f"netchannel_experiments_run_id={RUN_ID} {extra}")
    assert proc.returncode != 0, proc.output[-3000:]
    assert "Run the ncbench client" not in proc.output
    assert not list((RESULTS / RUN_ID).rglob("rep-*")), "a repetition was measured after a failed preflight"
    return proc.output


def test_too_little_disk_names_the_controller_and_each_host(experiments, pair):
    out = _run(experiments, "netchannel_experiments_min_free_mib=1000000000")
    assert "preflight on the controller (localhost): only " in out
    for name in pair:
        assert f"preflight on {name}: only " in out
        assert "for netchannel_experiments_host_dir=/var/tmp/netchannel-experiments" in out
    assert "want netchannel_experiments_min_free_mib=1000000000" in out


def test_the_wrong_kernel_names_each_host_and_its_kernel(experiments, pair):
    out = _run(experiments, "netchannel_experiments_kernel_release=6.1.0-nosuch-amd64")
    for name in pair:
        assert f"preflight on {name}: the running kernel is " in out
    assert "the run wants netchannel_experiments_kernel_release=6.1.0-nosuch-amd64" in out


def test_a_clock_an_hour_ahead_names_the_host(ansible, experiments, pair):
    """The server's clock is moved an hour ahead for the run, then an hour back (relative to its own
    reading each time, so the slow round trip to the VM does not shift it)."""

    def move_clock(seconds: int):
        script = (
            "import subprocess, time; "
            f"subprocess.run(['date', '-u', '-s', '@%.6f' % (time.time() + {seconds})], check=True)"
        )
        proc = ansible("ansible", pair[1], "-m", "ansible.builtin.command", "-a", f'python3 -c "{script}"')
        assert proc.returncode == 0, proc.output[-2000:]

    move_clock(3600)
    try:
        out = _run(experiments, "")
    finally:
        move_clock(-3600)
    assert f"preflight on {pair[1]}: the clock is " in out
    assert " s ahead of the controller's, more than netchannel_experiments_clock_skew_max_s=10" in out
    assert f"preflight on {pair[0]}: the clock is" not in out
