"""The verdict rules run_vm.py applies to the ncbench lines bench.sh prints."""

from pathlib import Path

import pytest
from pathload import load_file

run_vm = load_file("run_vm", Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py")

# from a one-VM run (make vmtest), each line as bench.sh printed it
GOOD = """\
NCVM BENCHSRV rc=0 protocol=tcp workload=stream tx_bytes=0 rx_bytes=51380224
NCVM BENCH stream-tcp rc=0 bytes_agree=yes tx_bytes=51380224 rx_bytes=0 throughput_gbps=0.262565 \
remote_throughput_gbps=0.261 \
cpu_host_busy_cores=1.376 remote_cpu_host_busy_cores=1.375 interval_rows=4
NCVM BENCHSRV rc=0 protocol=netchannel workload=stream tx_bytes=0 rx_bytes=35651584
NCVM BENCH stream-netchannel rc=0 bytes_agree=yes tx_bytes=35651584 rx_bytes=0 throughput_gbps=0.137580 \
remote_throughput_gbps=0.121 \
cpu_host_busy_cores=1.091 remote_cpu_host_busy_cores=1.099 interval_rows=4
NCVM BENCHSRV rc=0 protocol=tcp workload=rr tx_bytes=1458176 rx_bytes=1458176
NCVM BENCH rr-tcp rc=0 bytes_agree=yes tx_bytes=1458176 rx_bytes=1458176 throughput_gbps=0.011249 \
transactions_per_s=171.3 latency_p50_us=4063.231 latency_p99_us=34078.719 latency_count=250 \
cpu_host_busy_cores=1.302 remote_cpu_host_busy_cores=1.309 interval_rows=none
NCVM BENCHSRV rc=0 protocol=netchannel workload=rr tx_bytes=364544 rx_bytes=364544
NCVM BENCH rr-netchannel rc=0 bytes_agree=yes tx_bytes=364544 rx_bytes=364544 throughput_gbps=0.002094 \
transactions_per_s=32.0 latency_p50_us=23461.887 latency_p99_us=123297.010 latency_count=48 \
cpu_host_busy_cores=0.865 remote_cpu_host_busy_cores=0.866 interval_rows=none
NCVM BENCHSRV rc=0 protocol=tcp workload=msgrate tx_bytes=15998976 rx_bytes=15998976
NCVM BENCH msgrate-tcp rc=0 bytes_agree=yes tx_bytes=15998976 rx_bytes=15998976 throughput_gbps=0.129544 \
transactions_per_s=1975.7 latency_p50_us=7602.175 latency_p99_us=43778.047 latency_count=2922 \
cpu_host_busy_cores=0.649 remote_cpu_host_busy_cores=0.640 interval_rows=none
NCVM BENCHSRV rc=0 protocol=netchannel workload=msgrate tx_bytes=8200192 rx_bytes=8200192
NCVM BENCH msgrate-netchannel rc=0 bytes_agree=yes tx_bytes=8200192 rx_bytes=8200192 throughput_gbps=0.070268 \
transactions_per_s=1072.2 latency_p50_us=22937.599 latency_p99_us=218103.807 latency_count=1607 \
cpu_host_busy_cores=0.972 remote_cpu_host_busy_cores=0.978 interval_rows=none
NCVM BENCHKILL tcp rc=1 secs=1.6 lines=1 \
err=ncbench:_error:_flow_0:_recv:_Connection_reset_by_peer_(the_server_went_away?)
NCVM BENCHKILL netchannel rc=1 secs=2.3 lines=1 \
err=ncbench:_error:_the_server_ended_the_control_connection_during_the_run
"""


def test_good_run_passes():
    assert run_vm.check_bench(GOOD, kill=True) == []


def test_pair_needs_no_kill_lines():
    pair = "\n".join(line for line in GOOD.splitlines() if "BENCHKILL" not in line)
    assert run_vm.check_bench(pair, kill=False) == []
    assert any("killed server over netchannel: no result" in p for p in run_vm.check_bench(pair, kill=True))


def test_console_prefixes_are_accepted():
    prefixed = "\n".join(f"[vm2] {line}" for line in GOOD.splitlines())
    assert run_vm.check_bench(prefixed, kill=True) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        (
            "workload=stream tx_bytes=0 rx_bytes=51380224",
            "workload=stream tx_bytes=0 rx_bytes=51380000",
            "stream-tcp: client tx_bytes=51380224 but server rx_bytes=51380000",
        ),
        ("workload=rr tx_bytes=364544", "workload=rr tx_bytes=360448", "rr-netchannel: client rx_bytes=364544"),
        ("rr-tcp rc=0 bytes_agree=yes", "rr-tcp rc=0 bytes_agree=no", "rr-tcp: the client saw bytes_agree=no"),
        ("msgrate-tcp rc=0", "msgrate-tcp rc=1", "msgrate-tcp: exit status client 1 server 0"),
        (
            "NCVM BENCHSRV rc=0 protocol=netchannel workload=msgrate",
            "NCVM BENCHSRV rc=1 protocol=netchannel workload=msgrate",
            "msgrate-netchannel: exit status client 0 server 1",
        ),
        ("NCVM BENCH stream-netchannel", "NCVM BENCHX stream-netchannel", "stream-netchannel: no client result"),
        ("protocol=tcp workload=rr", "protocol=udp workload=rr", "rr-tcp: no server result"),
        ("latency_count=48", "latency_count=0", "rr-netchannel: no latency samples"),
        (
            "remote_cpu_host_busy_cores=1.375 interval_rows=4",
            "remote_cpu_host_busy_cores=1.375 interval_rows=1",
            "stream-tcp: interval_rows=1",
        ),
        ("BENCHKILL tcp rc=1", "BENCHKILL tcp rc=124", "killed server over tcp: rc=124"),
        (
            "BENCHKILL netchannel rc=1 secs=2.3 lines=1",
            "BENCHKILL netchannel rc=1 secs=2.3 lines=3",
            "killed server over netchannel: rc=1 lines=3",
        ),
        ("BENCHKILL tcp rc=1 secs=1.6", "BENCHKILL tcp rc=1 secs=8.6", "took 8.6 s to notice"),
        ("err=ncbench:_error:_flow_0", "err=Segmentation_fault", "err=Segmentation_fault"),
    ],
)
def test_bad_runs_are_named(old, new, complaint):
    assert old in GOOD
    problems = run_vm.check_bench(GOOD.replace(old, new), kill=True)
    assert any(complaint in p for p in problems), problems


def test_figures_compare_both_protocols():
    line = run_vm.bench_figures(GOOD)
    assert "stream NetChannel 0.121 TCP 0.261 Gbit/s ratio 0.46" in line
    assert "rr NetChannel 32 TCP 171.3 /s ratio 0.19" in line
    assert "msgrate NetChannel 1072.2 TCP 1975.7 /s ratio 0.54" in line


URING = """\
NCVM BENCHSRV rc=0 protocol=tcp workload=rr uring=1 tx_bytes=999424 rx_bytes=999424
NCVM BENCH rr-uring-tcp rc=0 bytes_agree=yes tx_bytes=999424 rx_bytes=999424 transactions_per_s=163.1 \
latency_p50_us=4235.263 latency_p99_us=30130.175 latency_count=238 interval_rows=none
NCVM BENCHSRV rc=0 protocol=netchannel workload=rr uring=1 tx_bytes=593920 rx_bytes=593920
NCVM BENCH rr-uring-netchannel rc=0 bytes_agree=yes tx_bytes=593920 rx_bytes=593920 transactions_per_s=97.0 \
latency_p50_us=8126.463 latency_p99_us=42205.183 latency_count=141 interval_rows=none
"""


def test_uring_runs_are_expected_when_built_in():
    assert run_vm.check_bench(GOOD + URING, kill=True, uring=True) == []
    problems = run_vm.check_bench(GOOD, kill=True, uring=True)
    assert any("rr-uring-tcp: no client result" in p for p in problems), problems
    assert run_vm.check_bench(GOOD, kill=True, uring=False) == []


def test_uring_server_lines_are_told_apart():
    """A plain rr server line must not stand in for the io_uring run's server."""
    text = GOOD + URING.replace("workload=rr uring=1 tx_bytes=593920", "workload=rr uring=0 tx_bytes=593920")
    problems = run_vm.check_bench(text, kill=True, uring=True)
    assert any("rr-uring-netchannel: no server result" in p for p in problems), problems


def test_uring_figures():
    assert "rr-uring NetChannel 97 TCP 163.1 /s ratio 0.59" in run_vm.bench_figures(GOOD + URING)


def test_uring_runs_skipped_on_a_kernel_without_io_uring():
    no = "[vm] NCVM BENCHURING no (this kernel has no io_uring)\n"
    assert run_vm.uring_expected("NCVM BENCHURING yes\n", built=True)
    assert not run_vm.uring_expected(no, built=True)
    assert not run_vm.uring_expected("NCVM BENCHURING yes\n", built=False)
    assert run_vm.uring_expected("NCVM BENCHLOG x NCVM BENCHURING no\n", built=True)  # only whole lines count
