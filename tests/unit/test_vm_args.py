"""run_vm.py refuses bad --only and --outsider values before it builds or boots anything."""

import subprocess
import sys
from pathlib import Path

RUN_VM = Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py"


def run(*args):
    # sys.executable stands in for the kernel and the module: they only have to exist
    cmd = [sys.executable, str(RUN_VM), "--kernel", sys.executable, "--module", sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_only_with_a_shell_word_is_refused():
    proc = run("--only", "live_fuzz;reboot")
    assert proc.returncode != 0
    assert "--only 'live_fuzz;reboot'" in proc.stderr


def test_only_with_pair_is_refused():
    proc = run("--only", "live_fuzz", "--pair")
    assert proc.returncode != 0
    assert "one-VM run" in proc.stderr


def test_outsider_outside_the_test_ranges_is_refused():
    proc = run("--outsider", "10.1.2.3")
    assert proc.returncode != 0
    assert "10.1.2.3" in proc.stderr
    assert "198.18.0.0/15" in proc.stderr
