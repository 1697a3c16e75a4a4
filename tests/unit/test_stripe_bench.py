"""stripe_bench.py: its summary pairs each NetChannel figure with the TCP figure of the same run,
names every missing or failed run, and refuses bad options before it builds or boots anything."""

import subprocess
import sys
from pathlib import Path

import pytest
from pathload import load_file

SCRIPT = Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "stripe_bench.py"


def load():
    sys.path.insert(0, str(SCRIPT.parent))
    mod = load_file("stripe_bench", SCRIPT)
    return mod


sb = load()


def rec(run, bulk, wl, proto, value, *, busy="1.0", rc="0"):
    key = "throughput_gbps" if wl == "stream" else "transactions_per_s"
    return {
        "run": str(run),
        "bulk": str(bulk),
        "workload": wl,
        "protocol": proto,
        "rc": rc,
        "bytes_agree": "yes",
        key: str(value),
        "cpu_host_busy_cores": busy,
    }


def full(runs=3, chans=(1, 2)):
    out = []
    for run in range(1, runs + 1):
        for ch in chans:
            # TCP drifts between runs; NetChannel is half of it with 1 channel, 0.6 with 2
            tcp = 1.0 + run / 10
            out.append(rec(run, ch, "stream", "tcp", tcp, busy="1.0"))
            out.append(rec(run, ch, "stream", "netchannel", tcp * (0.5 if ch == 1 else 0.6), busy="2.0"))
            out.append(rec(run, ch, "msgrate", "tcp", 1000 * run))
            out.append(rec(run, ch, "msgrate", "netchannel", 500 * run))
    return out


def test_ratio_is_taken_within_each_run():
    rows = sb.summarize(full(), [1, 2])
    stream1 = next(r for r in rows if r["workload"] == "stream" and r["channels"] == 1)
    stream2 = next(r for r in rows if r["workload"] == "stream" and r["channels"] == 2)
    assert stream1["ratio"]["min"] == pytest.approx(0.5)
    assert stream1["ratio"]["max"] == pytest.approx(0.5)
    assert stream2["ratio"]["median"] == pytest.approx(0.6)
    assert stream1["netchannel"]["n"] == 3
    # per busy core: NetChannel used twice the CPU of TCP
    assert stream1["per_core_ratio"]["median"] == pytest.approx(0.25)
    g = sb.gains(rows)
    assert g["stream_2ch_over_1ch_vs_tcp"] == pytest.approx(1.2)
    assert g["msgrate_2ch_over_1ch_vs_tcp"] == pytest.approx(1.0)


def test_every_missing_or_failed_run_is_named():
    records = full()
    records = [r for r in records if not (r["run"] == "2" and r["bulk"] == "2" and r["protocol"] == "tcp")]
    records[0]["rc"] = "1"
    bad = sb.problems(records, 3, [1, 2])
    assert "run 1 bulk 1 stream tcp: rc=1 bytes_agree=yes" in bad
    assert "run 2 bulk 2 stream tcp: no result" in bad
    assert "run 2 bulk 2 msgrate tcp: no result" in bad
    assert len(bad) == 3
    assert sb.problems(full(), 3, [1, 2]) == []


def test_console_lines_are_parsed():
    lines = [
        "NCVM SB run=1 bulk=2 workload=stream protocol=netchannel rc=0 bytes_agree=yes throughput_gbps=0.9 ",
        "noise",
        "NCVM SBCOUNT run=1 bulk=2 stripe_switches=5 rx_ooo=7",
    ]
    records, counts = sb.parse(lines)
    assert records == [
        {
            "run": "1",
            "bulk": "2",
            "workload": "stream",
            "protocol": "netchannel",
            "rc": "0",
            "bytes_agree": "yes",
            "throughput_gbps": "0.9",
        }
    ]
    assert counts == [{"run": "1", "bulk": "2", "stripe_switches": "5", "rx_ooo": "7"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channels", "1,x"], "--channels '1,x'"),
        (["--channels", "0"], "--channels '0'"),
        (["--runs", "0"], "--runs 0"),
        (["--secs", "100"], "--secs 100.0"),
    ],
)
def test_bad_options_are_refused_by_name(args, message):
    cmd = [sys.executable, str(SCRIPT), "--kernel", sys.executable, "--module", sys.executable, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
