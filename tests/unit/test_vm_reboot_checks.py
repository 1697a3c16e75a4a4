"""The rules run_vm.py applies to the peer reboot run and the load loop under readers."""

from pathlib import Path

import pytest
from pathload import load_file

run_vm = load_file("run_vm", Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py")


def guest(name, stamped=(), lines=()):
    g = run_vm.Guest(name, [], False)
    g.stamps = [(t, line) for t, line in stamped]
    g.lines = list(lines)
    return g


def test_reconnect_within_the_bound_passes():
    reborn = guest("vm2r", [(100.0, "NCTEST INFO reborn listening")])
    survivor = guest("vm1", [(50.0, "NCTEST INFO survivor ready"), (101.5, "NCTEST INFO survivor connected 51 s")])
    assert run_vm.reboot_timing(survivor, reborn) == []


def test_slow_reconnect_fails():
    reborn = guest("vm2r", [(100.0, "NCTEST INFO reborn listening")])
    late = 100.0 + run_vm.REBOOT_CONNECT_MAX_S + 1
    survivor = guest("vm1", [(late, "NCTEST INFO survivor connected 99 s")])
    assert "limit" in run_vm.reboot_timing(survivor, reborn)[0]


def test_missing_reconnect_fails():
    reborn = guest("vm2r", [(100.0, "NCTEST INFO reborn listening")])
    assert "survivor connected at None" in run_vm.reboot_timing(guest("vm1"), reborn)[0]


GOOD = """\
NCVM INSMOD OK
NCVM BADPARAM refused
NCVM BADBIND refused
NCTEST SUMMARY 3 passed, 0 failed
NCVM BUSYRMMOD refused
NCVM RMMOD OK
NCVM LOADLOOP 3 ok 0 failed
NCVM HAMMERLOOP 3 ok 0 failed
NCVM DMESG_ISSUES 0
NCVM DONE
"""


def test_good_guest_has_no_problems():
    assert guest("vm", lines=GOOD.splitlines()).problems() == []


@pytest.mark.parametrize(
    "bad",
    ["NCVM HAMMERLOOP 0 ok 3 failed", "NCVM HAMMERLOOP 2 ok 1 failed", "NCVM HAMMERLOOP 0 ok 0 failed", ""],
)
def test_load_loop_under_readers_is_checked(bad):
    text = GOOD.replace("NCVM HAMMERLOOP 3 ok 0 failed", bad)
    assert any("readers" in p for p in guest("vm", lines=text.splitlines()).problems())


def test_the_verdict_names_the_failed_tests_and_the_first_kernel_report():
    """CI shows a run's last lines only: the verdict line has to say which test failed and what the
    kernel reported, or a failure that does not recur cannot be looked into."""
    text = GOOD.replace(
        "NCTEST SUMMARY 3 passed, 0 failed", "NCTEST FAIL hello_race timed out\nNCTEST SUMMARY 2 passed, 1 failed"
    )
    text = text.replace(
        "NCVM DMESG_ISSUES 0",
        "NCVM ISSUE [   29.8] WARNING: CPU: 1 PID: 7 at net/core/sock.c:1 x\nNCVM ISSUE [   29.8] Call Trace:\n"
        "NCVM DMESG_ISSUES 2",
    )
    problems = guest("vm", lines=text.splitlines()).problems()
    assert "1 in-guest tests failed: hello_race (timed out)" in problems, problems
    assert (
        "kernel log has warnings/oopses, the first: [   29.8] WARNING: CPU: 1 PID: 7 at net/core/sock.c:1 x" in problems
    )


def test_the_guest_patches_the_memcg_keys_at_boot_and_keeps_them():
    """Under TCG a vCPU once met the breakpoint of a static key being patched (an int3 oops in kfree()
    as the memory cgroup test made the first memory cgroup): /init makes that cgroup before the
    module loads, alone, and nothing removes it, so no test patches those keys again."""
    keys = ("loops", "hammer_loops", "timeout_scale", "hosts_arg", "extra_setup", "after_load", "role_cmd")
    keys += ("apps_args", "app_requests", "bench_args", "bench_dump", "bench_uring")
    init = run_vm.INIT.format_map(dict.fromkeys(keys, ""))
    warm = init.index("mkdir /sys/fs/cgroup/ncwarm")
    assert warm < init.index("insmod /netchannel.ko"), "the memory cgroup comes after the module loads"
    assert init.index("mount -t cgroup2 none /sys/fs/cgroup") < warm
    tests = (Path(run_vm.__file__).parent / "nc_vmtest.c").read_text()
    assert "ncwarm" not in tests
    assert "rmdir /sys/fs/cgroup/ncwarm" not in init
