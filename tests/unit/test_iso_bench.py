"""iso_bench.py: the latency isolation benchmark pairs NetChannel's latency-class p99 next to bulk
with TCP's from the same run, names every missing or failed run, and refuses bad options before
it builds or boots anything."""

import subprocess
import sys
from pathlib import Path

import pytest
from pathload import load_file

SCRIPT = Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "iso_bench.py"


def load():
    sys.path.insert(0, str(SCRIPT.parent))
    mod = load_file("iso_bench", SCRIPT)
    return mod


ib = load()


def rec(run, variant, load, p99, *, rc="0", bulk_rc="0"):
    r = {
        "run": str(run),
        "variant": variant,
        "load": load,
        "rc": rc,
        "bulk_rc": bulk_rc if load == "bulk" else "-",
        "bytes_agree": "yes",
        "transactions_per_s": "1000",
        "latency_p50_us": str(p99 / 4),
        "latency_p99_us": str(p99),
        "latency_p999_us": str(p99 * 2),
    }
    if load == "bulk":
        r["bulk_gbps"] = "1.5"
    return r


def full(runs=3):
    out = []
    for run in range(1, runs + 1):
        # TCP's p99 next to bulk drifts between runs; NetChannel's latency class is a quarter of it
        # without SO_PRIORITY and half of it with
        tcp = 1000.0 * run
        out += [
            rec(run, "tcp-p0", "alone", 100),
            rec(run, "tcp-p0", "bulk", tcp),
            rec(run, "tcp-p6", "alone", 100),
            rec(run, "tcp-p6", "bulk", tcp / 2),
            rec(run, "netchannel-p6", "alone", 200),
            rec(run, "netchannel-p6", "bulk", tcp / 4),
            rec(run, "netchannel-p0", "alone", 200),
            rec(run, "netchannel-p0", "bulk", tcp * 2),
            rec(run, "netchannel-fifo-p0", "alone", 200),
            rec(run, "netchannel-fifo-p0", "bulk", tcp * 8),
        ]
    return out


def test_ratios_are_taken_within_each_run():
    rat = ib.ratios(full())
    assert rat["p99_netchannel_lat_over_tcp-p0"]["min"] == pytest.approx(0.25)
    assert rat["p99_netchannel_lat_over_tcp-p0"]["max"] == pytest.approx(0.25)
    assert rat["p99_netchannel_lat_over_tcp-p6"]["median"] == pytest.approx(0.5)
    assert rat["p999_netchannel_lat_over_tcp-p0"]["n"] == 3
    # the bulk class with turns over the same class in arrival order, from the same run
    assert rat["p99_netchannel_p0_drr_over_fifo"]["min"] == pytest.approx(0.25)
    assert rat["p99_netchannel_p0_drr_over_fifo"]["max"] == pytest.approx(0.25)
    assert rat["p50_netchannel_p0_drr_over_fifo"]["n"] == 3


def test_summary_has_every_variant_and_load():
    rows = ib.summarize(full())
    assert len(rows) == 10
    nc = next(r for r in rows if r["variant"] == "netchannel-p6" and r["load"] == "bulk")
    assert nc["latency_p99_us"]["median"] == pytest.approx(500)
    assert nc["bulk_gbps"]["median"] == pytest.approx(1.5)
    alone = next(r for r in rows if r["variant"] == "tcp-p0" and r["load"] == "alone")
    assert "bulk_gbps" not in alone
    assert "| netchannel-p6 | bulk | 62 / 125 / 188 | 250 / 500 / 750 |" in ib.table(rows, "x")


def test_every_missing_or_failed_run_is_named():
    records = [r for r in full() if not (r["run"] == "2" and r["variant"] == "tcp-p6" and r["load"] == "bulk")]
    next(r for r in records if r["variant"] == "netchannel-p6" and r["load"] == "bulk")["bulk_rc"] = "1"
    bad = ib.problems(records, 3)
    assert "run 2 tcp-p6 bulk: no result" in bad
    assert "run 1 netchannel-p6 bulk: rc=0 bulk_rc=1 bytes_agree=yes" in bad
    assert len(bad) == 2
    assert ib.problems(full(), 3) == []
    # a failed run is left out of the ratios, not counted as zero
    assert ib.ratios(records)["p99_netchannel_lat_over_tcp-p6"]["n"] == 1


def test_console_lines_are_parsed():
    lines = [
        "NCVM ISO run=1 variant=tcp-p6 load=bulk rc=0 bulk_rc=0 bytes_agree=yes latency_p99_us=812.5 bulk_gbps=1.2",
        "NCVM ISOLOG run=1 tcp-p6-bulk something",
        "noise",
    ]
    assert ib.parse(lines) == [
        {
            "run": "1",
            "variant": "tcp-p6",
            "load": "bulk",
            "rc": "0",
            "bulk_rc": "0",
            "bytes_agree": "yes",
            "latency_p99_us": "812.5",
            "bulk_gbps": "1.2",
        }
    ]


@pytest.mark.parametrize(("args", "message"), [(["--runs", "0"], "--runs 0"), (["--secs", "0.1"], "--secs 0.1")])
def test_bad_options_are_refused_by_name(args, message):
    cmd = [sys.executable, str(SCRIPT), "--kernel", sys.executable, "--module", sys.executable, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "iso_bench.py" in proc.stderr
    assert "Traceback" not in proc.stderr
