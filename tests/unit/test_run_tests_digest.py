"""tools/run_tests.py repeats what failed just before its summary, so that a CI log that keeps only
its end still names the failure (the workloads scenario failed in CI with nothing of it in view)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]


def load():
    return load_file("run_tests", ROOT / "tools" / "run_tests.py")


MOLECULE_LOG = """\
INFO     workloads ➜ converge: Executing
PLAY [Converge] ****
TASK [netchannel.deploy.netchannel_experiments : Run the ncbench client for 6d lat 1 rep 2] ****
changed: [nctest1 -> nctest2]
TASK [netchannel.deploy.netchannel_experiments : Show the failure] ****
ok: [nctest1] => {
    "msg": "6d netchannel 1 rep 2: no JSON record (client exit 1)"
}
TASK [netchannel.deploy.netchannel_experiments : Fail if any repetition failed] ****
fatal: [nctest1]: FAILED! => {"changed": false, "msg": "1 repetitions failed: %s"}
PLAY RECAP ****
nctest1 : ok=80 changed=20 unreachable=0 failed=1 skipped=3 rescued=1 ignored=0
workloads                 : actions=2  successful=0  disabled=0  skipped=0  missing=1  failed=1
"""


def test_digest_names_the_failed_task_and_its_message():
    rt = load()
    lines = rt.failure_digest(MOLECULE_LOG % ("x" * 1000))
    text = "\n".join(lines)
    assert "TASK [netchannel.deploy.netchannel_experiments : Fail if any repetition failed]" in text
    assert 'fatal: [nctest1]: FAILED! => {"changed": false, "msg": "1 repetitions failed: xxx' in text
    assert "6d netchannel 1 rep 2: no JSON record" in text
    assert "changed: [nctest1 -> nctest2]" not in text  # what went well stays out
    assert all(len(line) <= rt.DIGEST_WIDTH for line in lines)


def test_digest_is_bounded():
    rt = load()
    log = "".join(f"TASK [t{i}] ****\nfatal: [h]: FAILED! => {{}}\n" for i in range(500))
    lines = rt.failure_digest(log)
    assert len(lines) <= rt.DIGEST_LINES + 1
    assert any("lines left out" in line for line in lines)
    assert lines[-1] == "fatal: [h]: FAILED! => {}"  # the end of the log stays in view


def test_failed_check_keeps_its_last_lines(capsys):
    rt = load()
    t = rt.Tier("demo")
    script = "for i in $(seq 30); do echo line$i; done; exit 3"
    proc = t.check("a check that fails", ["sh", "-c", script])
    assert proc.returncode == 3
    assert t.failed == 1
    assert t.passed == 0
    assert t.digest[0] == "--- a check that fails (exit 3), its last lines:"
    assert t.digest[1:] == [f"line{i}" for i in range(31 - rt.DIGEST_TAIL, 31)]
    assert "line1\n" in capsys.readouterr().out  # still echoed whole as it ran
    ok = t.check("a check that passes", [sys.executable, "-c", "print('fine')"])
    assert ok.returncode == 0
    assert t.passed == 1
    assert len(t.digest) == 1 + rt.DIGEST_TAIL  # nothing added for a pass


def test_step_clock_times_each_molecule_step():
    rt = load()
    now = iter([0.0, 10.0, 12.0, 70.0, 75.0, 200.0]).__next__
    clock = rt.StepClock(now=now)
    assert clock.see("INFO     [lab > converge] Executing") is None
    assert clock.see("TASK [something] ***") is None  # its time shows when the next line ends it
    assert clock.see("INFO     [lab > converge] Executed: Successful") == (
        "[time]   task something: 58 s (lab > converge)\n[time] molecule lab > converge: 60 s (at 70 s)"
    )
    assert clock.see("INFO     [lab > verify] Executing") is None
    assert clock.see("INFO     [lab > verify] Executed: Failed") == "[time] molecule lab > verify: 125 s (at 200 s)"
    # molecule's other INFO lines (the Testinfra one after "Executing") are not steps
    assert clock.see("INFO     [lab > verify] Executing Testinfra tests found in /x/...") is None


def test_step_clock_times_a_failed_step_logged_as_a_coloured_error():
    rt = load()
    clock = rt.StepClock(now=iter([0.0, 5.0, 47.0]).__next__)
    assert clock.see("INFO     [nic > verify] Executing") is None
    line = "ERROR    [nic > verify] \x1b[31mExecuted: Failed\x1b[0m"
    assert clock.see(line) == "[time] molecule nic > verify: 42 s (at 47 s)"


def test_step_clock_names_each_task_that_took_long():
    rt = load()
    now = iter([0.0, 1.0, 2.0, 2.5, 3.0, 101.0, 191.0, 195.0]).__next__
    clock = rt.StepClock(now=now)
    assert clock.see("INFO     [workloads > converge] Executing") is None
    assert clock.see("PLAY [Build] ****") is None
    assert clock.see("TASK [quick one] *****") is None
    # a task under SLOW_TASK gets no line; one over it is named with its step when the next starts
    assert clock.see("TASK [netchannel.deploy.netchannel_kernel_install : Reboot into x] ***") is None
    assert clock.see("RUNNING HANDLER [netchannel.deploy.netchannel_module : reload] ***") == (
        "[time]   task netchannel.deploy.netchannel_kernel_install : Reboot into x: 98 s (workloads > converge)"
    )
    assert clock.see("ok: [nctest1]") is None  # host lines neither start nor end a task
    assert clock.see("PLAY RECAP *****") == (
        "[time]   task netchannel.deploy.netchannel_module : reload: 90 s (workloads > converge)"
    )
    assert clock.see("INFO     [workloads > converge] Executed: Successful") == (
        "[time] molecule workloads > converge: 194 s (at 195 s)"
    )


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_state(pid: int, states: str) -> str:
    for _ in range(200):
        if _state(pid) in states:
            break
        time.sleep(0.01)
    return _state(pid)


@pytest.mark.parametrize("users_lab_running", [False, True])
def test_witness_we_started_is_paused_until_the_check_a_users_lab_never(monkeypatch, users_lab_running):
    rt = load()
    vm = subprocess.Popen(["sleep", "60"])
    try:
        monkeypatch.setattr(rt, "lab_running", lambda e: users_lab_running)
        monkeypatch.setattr(rt, "lab_fingerprint", lambda e: {"vms": {}})
        monkeypatch.setattr(rt, "witness_pids", lambda e: [vm.pid])
        tier = rt.Tier("molecule")
        monkeypatch.setattr(tier, "check", lambda what, cmd, **kw: subprocess.CompletedProcess(cmd, 0))
        w = rt.witness_start(tier)
        assert w["started"] is (not users_lab_running)
        if users_lab_running:
            assert w["paused"] == []
            assert _wait_state(vm.pid, "T") != "T"
        else:
            assert w["paused"] == [vm.pid]
            assert _wait_state(vm.pid, "T") == "T"
        rt.witness_resume(w)
        assert _wait_state(vm.pid, "SR") in "SR"
    finally:
        vm.kill()
        vm.wait()
