"""The command line: errors are one clear line and exit 2, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def nclab(*args, env=None, tmp_path=None):
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TOOLS), "HOME": str(tmp_path or "/tmp")}
    if tmp_path is not None:
        full_env["NCLAB_STATE_DIR"] = str(tmp_path / "state")
        full_env["NCLAB_INVENTORY"] = str(tmp_path / "hosts.yml")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nclab", *args], capture_output=True, text=True, env=full_env, check=False
    )


def test_status_when_down(tmp_path):
    proc = nclab("status", tmp_path=tmp_path)
    assert proc.returncode == 0
    assert "not running" in proc.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ssh", "nclab1"], {}, "the lab is not running"),
        (["console", "nclab1"], {}, "the lab is not running"),
        (["up", "--count", "0"], {}, "--count=0: a lab needs at least 1 VM"),
        (["status"], {"NCLAB_COUNT": "x"}, "NCLAB_COUNT='x' (environment) is not a whole number"),
        (["up"], {"NCLAB_DATA_SUBNET": "10.1.0.0/24"}, "outside the benchmarking range"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, args, env, message):
    proc = nclab(*args, env=env, tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_program_is_named(tmp_path, monkeypatch):
    from nclab.errors import LabError
    from nclab.util import require_tool

    monkeypatch.setenv("PATH", str(tmp_path))
    expected = r"(?s)required program 'qemu-system-x86_64' is not installed.*apt-get install qemu-system-x86"
    with pytest.raises(LabError, match=expected):
        require_tool("qemu-system-x86_64", "qemu-system-x86")


def test_unknown_subcommand_is_usage_error(tmp_path):
    proc = nclab("fly", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
