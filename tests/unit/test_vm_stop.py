"""run_vm.py stopped early takes its VMs with it: a test runner's SIGTERM (its timeout) stops and
reaps every QEMU it started, and even SIGKILL leaves none behind (setpriv --pdeathsig). Before, a
stopped run_vm.py left its QEMUs running, each a busy core under TCG."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN_VM = Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py"
# A stand-in for run_vm.py's main: two "VMs" (sleep), started the way run_vm starts QEMU.
DRIVER = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("run_vm", {str(RUN_VM)!r})
run_vm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_vm)
run_vm.install_stop_handlers()
guests = [run_vm.Guest(f"vm{{i}}", ["sleep", "600"], False) for i in (1, 2)]
for g in guests:
    g.start()
print(" ".join(str(g.proc.pid) for g in guests), flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_exec(pids: list[int], name: str = "sleep", seconds: float = 10) -> None:
    """setpriv sets the death signal and then execs the VM: until it has, a parent killed at once
    (the race CI hit) leaves an orphan. A VM that QEMU started is past that point; wait for it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if all(Path(f"/proc/{p}/comm").read_text().strip() == name for p in pids):
            return
        time.sleep(0.02)
    raise AssertionError(f"{pids} never became {name!r}")


def _wait_gone(pids: list[int], seconds: float = 10) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if all(_gone(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if not _gone(p)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_run_vm_stops_its_vms(signum):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in driver.stdout.readline().split()]
        assert len(pids) == 2
        assert not any(_gone(p) for p in pids)
        _wait_exec(pids)
        driver.send_signal(signum)
        rc = driver.wait(timeout=20)
        assert rc in (128 + signum, -signum), rc
        assert _wait_gone(pids) == [], f"still running after {signum.name} to run_vm: {pids}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_commands_run_under_pdeathsig():
    spec_cmd = [
        sys.executable,
        "-c",
        f"import runpy; m = runpy.run_path({str(RUN_VM)!r}); print(m['die_with_us'](['qemu', '-x']))",
    ]
    out = subprocess.run(spec_cmd, capture_output=True, text=True, check=True).stdout
    assert "'--pdeathsig', 'KILL', '--', 'qemu', '-x'" in out


# A stand-in QEMU: silent for its first boot, then prints NCVM lines (first boot: marker file absent).
STALL_ONCE = """
import os, sys, time
mark = sys.argv[1]
if not os.path.exists(mark):
    open(mark, "w").close()
    print("SeaBIOS (stand-in)", flush=True)
    time.sleep(600)
print("NCVM BOOT ok", flush=True)
print("NCVM DONE", flush=True)
"""


def _run_vm():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_vm", RUN_VM)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_guest_stuck_before_its_init_is_booted_again(tmp_path, capsys):
    run_vm = _run_vm()
    cmd = [sys.executable, "-c", STALL_ONCE, str(tmp_path / "booted-once")]
    vm = run_vm.start_booted(lambda: run_vm.Guest("vm", cmd, False), 2)
    vm.wait(20)
    out = capsys.readouterr().out
    assert "NCVM BOOT_STALL vm: no NCVM line 2 s after QEMU started" in out
    assert "[vm] SeaBIOS (stand-in)" in out, out
    assert "NCVM DONE" in vm.lines


def test_a_guest_that_booted_is_not_booted_again(tmp_path, capsys):
    run_vm = _run_vm()
    (tmp_path / "booted-once").touch()
    cmd = [sys.executable, "-c", STALL_ONCE, str(tmp_path / "booted-once")]
    starts = []

    def make():
        starts.append(1)
        return run_vm.Guest("vm", cmd, False)

    vm = run_vm.start_booted(make, 5)
    vm.wait(20)
    assert len(starts) == 1
    assert "BOOT_STALL" not in capsys.readouterr().out
    assert "NCVM DONE" in vm.lines
