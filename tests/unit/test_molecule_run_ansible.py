"""molecule/conftest.py's run_ansible: an Ansible run that hangs fails its test after the limit,
naming the command and showing what it printed, and takes what it started with it; before the
limit existed, one hung run held make test until CI's 90 minutes were up."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]
CONFTEST = ROOT / "molecule" / "conftest.py"


def _conftest():
    return load_file("molecule_conftest", CONFTEST)


def _program(tmp_path: Path, body: str) -> str:
    prog = tmp_path / "fake-ansible"
    prog.write_text("#!/bin/sh\n" + body)
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    return str(prog)


def test_a_hung_run_fails_with_its_output_and_its_children_are_killed(tmp_path):
    conftest = _conftest()
    pidfile = tmp_path / "child.pid"
    # prints a line, leaves a child holding the pipes (as an ssh connection would), then hangs
    prog = _program(tmp_path, f"echo 'TASK [one]'\nsleep 300 & echo $! > {pidfile}\nsleep 300\n")
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest.run_ansible(prog, "play.yml", timeout=6)
    assert time.monotonic() - start < 60
    text = str(failed.value)
    assert f"{prog} -i " in text
    assert "play.yml still ran after 6 s" in text
    assert "TASK [one]" in text
    child = int(pidfile.read_text())
    assert _gone_within_10_s(child), f"the run's child {child} still runs"


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _gone_within_10_s(pid: int) -> bool:
    """A killed process's zombie waits for init to reap it: not at once."""
    for _ in range(100):
        if not _running(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_run_dies_with_the_test_process(tmp_path):
    """CI's time limit kills the test process: the run, in a session of its own, must not outlive it."""
    pidfile = tmp_path / "run.pid"
    prog = _program(tmp_path, f"echo $$ > {pidfile}\nexec sleep 300\n")
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from pathload import load_file; "
        f"load_file('c', {str(CONFTEST)!r}).run_ansible({prog!r}, 'x', timeout=300)"
    )
    test = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.1)
        run = int(pidfile.read_text())
        assert _running(run)
    finally:
        test.send_signal(signal.SIGTERM)
        test.wait(timeout=30)
    if not _gone_within_10_s(run):
        os.kill(run, signal.SIGKILL)
        pytest.fail(f"the run {run} outlived the test process")


def test_a_run_that_ends_gives_its_status_and_output(tmp_path):
    conftest = _conftest()
    prog = _program(tmp_path, "echo out; echo err >&2; exit 3\n")
    proc = conftest.run_ansible(prog, "x", timeout=30)
    assert proc.returncode == 3
    assert proc.output == "out\nerr\n"
    assert proc.args[-1] == "x"


@pytest.mark.parametrize(("value", "want"), [(None, 900), ("", 900), ("0", 900), (" 1200 ", 1200), ("30", 30)])
def test_the_limit_comes_from_the_environment(value, want):
    assert _conftest().ansible_run_timeout(value) == want


@pytest.mark.parametrize("value", ["15m", "1.5", "-5", "ten", "\u00b2"])
def test_a_limit_that_is_not_whole_seconds_is_named(value):
    with pytest.raises(pytest.UsageError) as bad:
        _conftest().ansible_run_timeout(value)
    assert f"NETCHANNEL_TEST_ANSIBLE_TIMEOUT={value!r} (environment)" in str(bad.value)
    assert "whole number of seconds" in str(bad.value)


def test_pytest_stops_with_the_message_and_no_traceback(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"_s = importlib.util.spec_from_file_location('molecule_conftest', {str(CONFTEST)!r})\n"
        "_m = importlib.util.module_from_spec(_s)\n"
        "_s.loader.exec_module(_m)\n"
        "pytest_configure = _m.pytest_configure\n"
    )
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    env = {**os.environ, "NETCHANNEL_TEST_ANSIBLE_TIMEOUT": "15m"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "NETCHANNEL_TEST_ANSIBLE_TIMEOUT='15m' (environment)" in out
    assert "Traceback" not in out


def test_a_larger_environment_limit_wins_over_at_least(tmp_path, monkeypatch):
    conftest = _conftest()
    prog = _program(tmp_path, "sleep 300\n")
    monkeypatch.setattr(conftest, "ANSIBLE_RUN_TIMEOUT_S", 3)
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest.run_ansible(prog, "reboot.yml", at_least=5)
    assert "reboot.yml still ran after 5 s (the test's limit)" in str(failed.value)
    monkeypatch.setattr(conftest, "ANSIBLE_RUN_TIMEOUT_S", 6)
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest.run_ansible(prog, "reboot.yml", at_least=5)
    assert "reboot.yml still ran after 6 s (NETCHANNEL_TEST_ANSIBLE_TIMEOUT)" in str(failed.value)
