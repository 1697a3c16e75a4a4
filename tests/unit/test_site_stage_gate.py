"""site.yml stops before the experiments when a host failed a stage, naming host and stage.

The real site.yml and its stage marker and gate playbooks run against three local hosts; the
stage playbooks themselves are replaced by stubs that fail on the hosts a test names, and the
experiments stub leaves a file behind when it runs.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# the playbooks site.yml imports that do the stages' work (stubbed here)
STAGES = ["preflight", "kernel", "module", "nic"]
STAGE_PLAYBOOKS = {
    "preflight": "playbooks/preflight.yml",
    "kernel": "playbooks/kernel.yml",
    "module": "playbooks/module.yml",
    "nic": "playbooks/nic.yml",
    "experiments": "playbooks/experiments.yml",
}
KEPT = ["playbooks/inventory_check.yml", "playbooks/stage_start.yml", "playbooks/stage_gate.yml"]


def _site():
    return yaml.safe_load((ROOT / "site.yml").read_text())


def test_every_stage_is_marked_before_it_runs_with_the_same_tag():
    entries = _site()
    for stage in STAGES:
        idx = next(i for i, e in enumerate(entries) if e["ansible.builtin.import_playbook"] == STAGE_PLAYBOOKS[stage])
        mark = entries[idx - 1]
        assert mark["ansible.builtin.import_playbook"] == "playbooks/stage_start.yml", stage
        assert mark["vars"]["netchannel_stage"] == stage
        assert mark["tags"] == entries[idx]["tags"]
    gate = [i for i, e in enumerate(entries) if e["ansible.builtin.import_playbook"] == "playbooks/stage_gate.yml"]
    exp = next(
        i for i, e in enumerate(entries) if e["ansible.builtin.import_playbook"] == STAGE_PLAYBOOKS["experiments"]
    )
    assert gate == [exp - 1]
    assert entries[exp - 1]["tags"] == ["always"]


def _stub(stage: str) -> str:
    if stage == "experiments":
        task = (
            "    - name: Leave a trace\n"
            "      ansible.builtin.copy:\n"
            "        content: \"{{ ansible_play_hosts | join(',') }}\"\n"
            '        dest: "{{ trace }}"\n'
            "        mode: '0644'\n"
            "      delegate_to: localhost\n"
            "      run_once: true\n"
        )
    else:
        task = (
            f"    - name: Fail where told\n"
            f"      ansible.builtin.fail:\n"
            f"        msg: {stage} broke\n"
            f"      when: inventory_hostname in (fail_{stage} | default([]))\n"
        )
    return f"---\n- name: Stub {stage}\n  hosts: netchannel\n  gather_facts: false\n  tasks:\n{task}"


@pytest.fixture
def site(tmp_path):
    shutil.copy(ROOT / "site.yml", tmp_path / "site.yml")
    (tmp_path / "playbooks").mkdir()
    for rel in KEPT:
        shutil.copy(ROOT / rel, tmp_path / rel)
    for stage, rel in STAGE_PLAYBOOKS.items():
        (tmp_path / rel).write_text(_stub(stage))
    hosts = {
        h: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        for h in ("h1", "h2", "h3")
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"netchannel": {"hosts": hosts}}))

    def run(*extra):
        env = {
            **os.environ,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
            "ANSIBLE_STRATEGY": "linear",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
        env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
        env.pop("ANSIBLE_CONFIG", None)
        trace = tmp_path / "experiments-ran"
        proc = subprocess.run(
            ["ansible-playbook", "-i", "hosts.yml", "site.yml", "-e", f"trace={trace}", *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return proc, (trace.read_text() if trace.exists() else None)

    return run


def test_no_failure_runs_the_experiments_on_every_host(site):
    proc, ran = site()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ran == "h1,h2,h3"


def test_a_host_failing_a_stage_stops_the_run_before_the_experiments_naming_host_and_stage(site):
    proc, ran = site("-e", '{"fail_module": ["h2"], "fail_kernel": ["h3"]}')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ran is None, "the experiments ran on what was left"
    assert "2 of 3 hosts failed before the experiments" in out, out
    assert "h3 failed in stage kernel" in out
    assert "h2 failed in stage module" in out
    assert "h1 failed" not in out


def test_the_gate_runs_under_a_stage_tag_too(site):
    proc, ran = site("--tags", "nic,experiments", "-e", '{"fail_nic": ["h1"]}')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ran is None
    assert "h1 failed in stage nic" in out, out
