"""Shared by every scenario's testinfra tests: refuse to pass on an empty lab.

testinfra parametrizes tests by inventory host; with no host there would be no
test and pytest would report nothing wrong. A lab that is down must fail instead.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
from pathlib import Path

import pytest
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[1]
# The lab under test: make test's own (tools/run_tests.py sets NCLAB_INVENTORY), else the default lab.
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")


def lab_hosts() -> dict:
    return read_lab_hosts(INVENTORY)


def pytest_sessionstart(session):
    if not lab_hosts():
        pytest.exit(f"{INVENTORY} lists no lab hosts: the lab is not running (nclab up)", returncode=3)


@pytest.fixture(name="lab_hosts", scope="session")
def fixture_lab_hosts() -> dict:
    """Inventory variables of every lab host, by name."""
    return lab_hosts()


@pytest.fixture(name="hostvars")
def fixture_hostvars(host, lab_hosts) -> dict:
    """Inventory variables of the host under test."""
    return lab_hosts[host.backend.get_hostname()]


# One Ansible run of a test: the longest (a converge run again, a reboot) take a few minutes under
# emulation. A run that outlives this fails its test with what it printed, instead of holding the
# whole test command until CI's time limit.
ANSIBLE_RUN_TIMEOUT_DEFAULT_S = 900


def ansible_run_timeout(value: str | None) -> int:
    """The limit NETCHANNEL_TEST_ANSIBLE_TIMEOUT sets (unset, empty or 0: the default); a value that
    is not a whole number of seconds stops the tests with a message naming it (pytest_configure)."""
    text = (value or "").strip()
    if not text:
        return ANSIBLE_RUN_TIMEOUT_DEFAULT_S
    if not (text.isascii() and text.isdigit()):
        raise pytest.UsageError(
            f"NETCHANNEL_TEST_ANSIBLE_TIMEOUT={value!r} (environment): want a whole number of seconds, "
            f"0 for the default of {ANSIBLE_RUN_TIMEOUT_DEFAULT_S}"
        )
    return int(text) or ANSIBLE_RUN_TIMEOUT_DEFAULT_S


ANSIBLE_RUN_TIMEOUT_S = ANSIBLE_RUN_TIMEOUT_DEFAULT_S


def pytest_configure(config):
    global ANSIBLE_RUN_TIMEOUT_S  # noqa: PLW0603 - read once, before any test runs
    ANSIBLE_RUN_TIMEOUT_S = ansible_run_timeout(os.environ.get("NETCHANNEL_TEST_ANSIBLE_TIMEOUT"))


def _die_with_the_test():
    """In the child, before exec: SIGKILL when the test process dies (CI's time limit sends SIGTERM to
    make's group, which no longer holds the run: it has a session of its own)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_group(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def run_ansible(
    program: str, *args: str, inventories=(), env=None, timeout=None, at_least=None
) -> subprocess.CompletedProcess:
    """Run `ansible` or `ansible-playbook` from the repo against the lab inventory (plus `inventories`).

    The result has `.output`: stdout and stderr together (Ansible 2.19 prints failures on stderr).
    After `timeout` seconds (ANSIBLE_RUN_TIMEOUT_S by default, or `at_least` when that is larger)
    the run and everything it started (its ssh connections) are killed and the test fails, naming
    the command and showing its output.
    """
    cmd = [program, "-i", str(INVENTORY)]
    for extra in inventories:
        cmd += ["-i", str(extra)]
    cmd += list(args)
    limit = timeout or max(at_least or 0, ANSIBLE_RUN_TIMEOUT_S)
    own = timeout or (at_least or 0) > ANSIBLE_RUN_TIMEOUT_S
    where = "the test's limit" if own else "NETCHANNEL_TEST_ANSIBLE_TIMEOUT"
    full_env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})}
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        cwd=REPO,
        env=full_env,
        start_new_session=True,  # its own process group, so a timeout kills its ssh children too
        preexec_fn=_die_with_the_test,  # noqa: PLW1509 (pytest runs no threads here)
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            try:  # a process that left the group may still hold the pipes: do not wait for it long
                stdout, stderr = child.communicate(timeout=30)
            except subprocess.TimeoutExpired as late:
                stdout = _text(late.stdout)
                stderr = _text(late.stderr) + "\n(the rest could not be read: something it started holds its output)"
            pytest.fail(
                f"{' '.join(cmd)} still ran after {limit} s ({where}); killed it. "
                f"Its last output:\n{(stdout + stderr)[-4000:]}",
                pytrace=False,
            )
        except BaseException:  # Ctrl-C: the run is in a session of its own and would not get it
            _kill_group(child)
            raise
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    proc.output = proc.stdout + proc.stderr
    return proc


@pytest.fixture(name="ansible")
def fixture_ansible():
    """run_ansible, for tests that drive Ansible themselves (bad input, reboots)."""
    return run_ansible
