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
