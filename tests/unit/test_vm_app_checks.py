"""The verdict rules run_vm.py applies to the application lines apps.sh prints."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "run_vm", Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py"
)
run_vm = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run_vm)

GOOD_CLIENT = """\
NCVM APP iperf3-nc client_rc=0 tcp_sockets=0 nc_tx_bytes=219279143 mbytes=208 mbits=433
NCVM APP iperf3-tcp client_rc=0 tcp_sockets=5 nc_tx_bytes=0 mbytes=619 mbits=1296
NCVM APP redis-nc bench_rc=0 tcp_sockets=0 nc_tx_bytes=195110 commands=2003 roundtrip=ok bench_key=1 \
rps=SET=2544.53,GET=2564.10
NCVM APP redis-tcp bench_rc=0 tcp_sockets=43 nc_tx_bytes=0 commands=2003 roundtrip=ok bench_key=1 \
rps=SET=2631.58,GET=2932.55
"""


def test_good_client_passes():
    assert run_vm.check_apps(GOOD_CLIENT, "client", 1000) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("iperf3-nc client_rc=0 tcp_sockets=0", "iperf3-nc client_rc=0 tcp_sockets=2", "shim not used"),
        ("iperf3-tcp client_rc=0 tcp_sockets=5", "iperf3-tcp client_rc=0 tcp_sockets=0", "sees nothing"),
        ("nc_tx_bytes=219279143", "nc_tx_bytes=1000", "less than the 208 MiB"),
        ("mbytes=208 mbits=433", "mbytes=0.5 mbits=1", "at least 1 MiB"),
        ("nc_tx_bytes=219279143", "nc_tx_bytes=21927[  81.2] BUG", "not a number"),
        ("nc_tx_bytes=195110 commands=2003", "nc_tx_bytes=195110 commands=1003", "want >= 2000"),
        ("195110 commands=2003 roundtrip=ok", "195110 commands=2003 roundtrip=x", "random value"),
        ("roundtrip=ok bench_key=1 rps=SET=2544", "roundtrip=ok bench_key=0 rps=SET=2544", "key is missing"),
        ("redis-nc bench_rc=0", "redis-nc bench_rc=1", "bench_rc=1"),
    ],
)
def test_bad_client_lines_fail(old, new, complaint):
    assert old in GOOD_CLIENT
    problems = run_vm.check_apps(GOOD_CLIENT.replace(old, new, 1), "client", 1000)
    assert any(complaint in p for p in problems), problems


def test_missing_result_fails():
    text = GOOD_CLIENT.replace("NCVM APP redis-tcp", "NCVM XXX redis-tcp")
    assert run_vm.check_apps(text, "client", 1000) == ["redis-tcp: no result"]


def test_server_exit_status_is_checked():
    lines = "\n".join(f"NCVM APP {n} server_rc=0" for n in run_vm.APP_SERVERS)
    assert run_vm.check_apps(lines, "serve", 1000) == []
    bad = lines.replace("redis-nc-server server_rc=0", "redis-nc-server server_rc=143")
    assert run_vm.check_apps(bad, "serve", 1000) == ["redis-nc-server: server_rc=143"]


def test_figures_compare_netchannel_with_tcp():
    figures = run_vm.app_figures(GOOD_CLIENT)
    assert "iperf3 NetChannel 433 Mbit/s TCP 1296 Mbit/s ratio 0.33" in figures
    assert "redis GET NetChannel 2564/s TCP 2933/s ratio 0.87" in figures
