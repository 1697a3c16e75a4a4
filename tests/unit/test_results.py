"""The experiments' results library (plugins/module_utils/netchannel_results.py): plan, resume,
storing reps, parsing recorded samples (good and bad), CSV, plots, report and JMESPath queries.

The ncbench samples are real runs (tests/unit/data/ncbench, see docs/bench-tool.md section 4);
expected values are computed from them with the standalone parser, never typed in."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import ncbench_parse as nb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def load_lib():
    name = "netchannel_results"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "plugins" / "module_utils" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


res = load_lib()
CONFIG = {"kernel": "6.1.0-57-amd64", "sysctls": {"net.core.rmem_max": 212992}, "tools": {"ncbench": "1.0.0"}}


def sample(name):
    return str(DATA / "ncbench" / name)


def outputs_for(kind, proto):
    """Both hosts' outputs of one recorded ncbench run, as the role would pass them."""
    return [
        {"host": "client", "name": "ncbench.txt", "kind": "ncbench", "src": sample(f"{kind}-{proto}.client.txt")},
        {"host": "client", "name": "ncbench.json", "kind": "ncbench", "src": sample(f"{kind}-{proto}.client.json")},
        {"host": "server", "name": "ncbench.txt", "kind": "ncbench", "src": sample(f"{kind}-{proto}.server.txt")},
    ]


def record(tmp_path, figure, variant, point, kind, proto, **kw):  # noqa: PLR0917
    return res.record_rep(
        str(tmp_path),
        "r1",
        figure=figure,
        variant=variant,
        point=point,
        outputs=outputs_for(kind, proto),
        primary="client/ncbench.txt",
        config=CONFIG,
        **kw,
    )


@pytest.fixture
def run(tmp_path):
    res.open_run(str(tmp_path), "r1", "smoke")
    return tmp_path


# --------------------------------------------------------------------------- plan


def test_profiles_expand_to_the_figures():
    smoke = res.expand("smoke")
    full = res.expand("full")
    assert {i["figure"] for i in smoke} == set(res.PROFILES["smoke"]["figures"])
    assert {i["figure"] for i in full} == set(res.FIGURES)
    assert all(i["bench"]["length"] == 3 for i in smoke)
    assert all(i["bench"]["length"] == 60 for i in full if i["tool"] == "ncbench")
    # full sweeps: channels 1..4 for NetChannel, one TCP point; redis depth 1..64; io_uring variants
    pts = {(i["variant"], i["point"]) for i in full if i["figure"] == "6c"}
    assert {p for v, p in pts if v == "netchannel"} == {f"channels-{n}" for n in (1, 2, 3, 4)}
    assert {p for v, p in pts if v == "tcp"} == {"channels-1"}
    assert {"netchannel-uring", "tcp-uring"} <= {v for v, _ in pts}
    assert sorted(i["x"] for i in full if i["figure"] == "7" and i["variant"] == "tcp" and i["rep"] == 1) == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
    ]
    assert {i["rep"] for i in full} == {1, 2, 3}
    # 6d: TCP with and without SO_PRIORITY, 8 bulk flows only next to the interference point
    d = [i for i in full if i["figure"] == "6d"]
    assert {i["variant"]: i["bench"].get("priority") for i in d} == {"netchannel": 6, "tcp-prio": 7, "tcp": None}
    assert all((i["background"] or {}).get("flows") == (8 if i["x"] == "interference" else None) for i in d)
    # a point's host setup carries its sweep value
    c4 = next(i for i in full if i["figure"] == "6c" and i["point"] == "channels-4")
    assert c4["setup"] == {"nic": {"profile": "short_flows"}, "module": {"channels": 4}}


def test_shuffle_is_seeded_and_keeps_every_item():
    items = res.expand("full")
    a, b, c = res.shuffle(items, 1), res.shuffle(items, 1), res.shuffle(items, 2)
    assert a == b
    assert a != items
    assert a != c
    key = lambda i: (i["figure"], i["variant"], i["point"], i["rep"])  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, items))


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"profile": "huge"}, "profile='huge'"),
        ({"profile": "smoke", "figures": ["6a"]}, "'6a' is not a figure"),
        ({"profile": "smoke", "reps": 0}, "reps=0"),
    ],
)
def test_bad_plan_input_is_named(tmp_path, kwargs, complaint):
    with pytest.raises(res.ResultsError, match=complaint):
        res.plan(str(tmp_path), "r1", **kwargs)
    assert not (tmp_path / "r1").exists()


def test_bad_run_id_is_refused(tmp_path):
    with pytest.raises(res.ResultsError, match=r"run_id='\.\./x'"):
        res.plan(str(tmp_path), "../x", "smoke")


def test_resume_with_other_settings_is_refused(tmp_path):
    res.plan(str(tmp_path), "r1", "smoke", seed=3)
    with pytest.raises(res.ResultsError, match=r"run.json: run r1 was started with seed=3, not 4"):
        res.plan(str(tmp_path), "r1", "smoke", seed=4)


def test_plan_in_check_mode_writes_nothing(tmp_path):
    p = res.plan(str(tmp_path), "r1", "smoke", check=True)
    assert p["created"]
    assert p["total"] == len(res.expand("smoke"))
    assert not (tmp_path / "r1").exists()


# --------------------------------------------------------------------------- storing and resuming


def test_record_stores_raw_config_record_and_marker(run):
    got = record(run, "6d", "netchannel", "scenario-isolated", "rr", "netchannel", duration_s=4.2)
    rep = Path(got["rep_dir"])
    assert rep == run / "r1" / "6d" / "netchannel" / "scenario-isolated" / "rep-1"
    for out in outputs_for("rr", "netchannel"):
        assert (rep / "raw" / out["host"] / out["name"]).read_bytes() == Path(out["src"]).read_bytes()
    assert json.loads((rep / "config.json").read_text()) == CONFIG
    assert (rep / res.MARKER).is_file()
    rec = json.loads((rep / "record.json").read_text())
    client = nb.load(sample("rr-netchannel.client.txt"))
    assert rec["metrics"]["latency_p99_us"] == client.latency_us["p99"]
    assert rec["metrics"]["throughput_gbps"] == client.results["throughput_bps"] / 1e9
    assert rec["metrics"]["cores"] == client.results["max_host_busy_cores"]
    assert rec["x"] == "isolated"
    assert rec["outputs"]["server/ncbench.txt"]["parsed"]["results"]["rx_bytes"] == client.remote["rx_bytes"]
    assert rec["config"] == CONFIG
    assert not list(rep.rglob(".tmp-*"))


def test_stream_throughput_is_the_receivers(run):
    got = record(run, "6ab", "tcp", "flows-1", "stream", "tcp")
    client = nb.load(sample("stream-tcp.client.txt"))
    assert client.remote["throughput_bps"] != client.results["throughput_bps"]
    assert got["metrics"]["throughput_gbps"] == client.remote["throughput_bps"] / 1e9
    per_core = client.remote["throughput_bps"] / 1e9 / client.results["max_host_busy_cores"]
    assert got["metrics"]["throughput_per_core_gbps"] == pytest.approx(per_core)


def test_resume_reruns_incomplete_into_a_fresh_rep_and_skips_complete(run):
    items = res.plan(str(run), "r1", "smoke")["remaining"]
    first = next(i for i in items if i["figure"] == "6d" and i["variant"] == "tcp")
    point = run / "r1" / "6d" / "tcp" / first["point"]
    # an interrupted rep: raw output written, no marker
    (point / "rep-1" / "raw" / "client").mkdir(parents=True)
    stale = point / "rep-1" / "raw" / "client" / "ncbench.txt"
    stale.write_text("# options\ncut short")
    left = res.plan(str(run), "r1", "smoke")
    assert left["incomplete_dirs"] == 1
    assert any(
        i["figure"] == "6d" and i["variant"] == "tcp" and i["point"] == first["point"] for i in left["remaining"]
    )
    got = record(run, "6d", "tcp", first["point"], "rr", "tcp")
    assert got["rep_dir"] == str(point / "rep-2")
    assert stale.read_text() == "# options\ncut short"  # the incomplete rep is kept as it was
    after = res.plan(str(run), "r1", "smoke")
    assert after["complete"] == left["complete"] + 1
    assert len(after["remaining"]) == len(left["remaining"]) - 1
    assert not any(
        i["figure"] == "6d" and i["variant"] == "tcp" and i["point"] == first["point"] for i in after["remaining"]
    )


def test_nothing_is_overwritten(run):
    a = record(run, "6c", "tcp", "channels-1", "msgrate", "tcp")
    before = (Path(a["rep_dir"]) / "record.json").read_bytes()
    b = record(run, "6c", "tcp", "channels-1", "msgrate", "tcp")
    assert Path(b["rep_dir"]).name == "rep-2"
    assert (Path(a["rep_dir"]) / "record.json").read_bytes() == before


def test_record_in_check_mode_writes_nothing(run):
    got = res.record_rep(
        str(run),
        "r1",
        figure="6c",
        variant="tcp",
        point="channels-1",
        outputs=outputs_for("msgrate", "tcp"),
        primary="client/ncbench.txt",
        config=CONFIG,
        check=True,
    )
    assert got["rep"] == 1
    assert (
        got["metrics"]["transactions_per_s"] == nb.load(sample("msgrate-tcp.client.txt")).results["transactions_per_s"]
    )
    assert not (run / "r1" / "6c").exists()


def test_record_needs_a_planned_run(tmp_path):
    with pytest.raises(res.ResultsError, match=r"no run\.json"):
        record(tmp_path, "6c", "tcp", "channels-1", "msgrate", "tcp")


# --------------------------------------------------------------------------- bad samples


def broken(tmp_path, name, old, new):
    text = Path(sample(name)).read_text()
    assert old in text
    path = tmp_path / f"broken-{name}"
    path.write_text(text.replace(old, new, 1))
    return str(path)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        (
            "latency_p99_us=",
            "latency_p99_us=fast",
            r"client/ncbench.txt:\d+: latency_p99_us='fast[\d.]+' is not a number",
        ),
        ("bytes_agree=yes", "bytes_agree=no", r"client/ncbench.txt: bytes_agree='no': the two ends disagree"),
        ("# results", "# result", r"client/ncbench.txt:\d+: unknown section '# result'"),
        ("window_s=", "windows=", r"client/ncbench.txt: results without window_s"),
    ],
)
def test_bad_sample_names_file_and_field_and_leaves_the_rep_incomplete(run, old, new, complaint):
    outs = outputs_for("rr", "tcp")
    outs[0]["src"] = broken(run, "rr-tcp.client.txt", old, new)
    with pytest.raises(res.ResultsError, match=complaint) as exc:
        res.record_rep(
            str(run),
            "r1",
            figure="6d",
            variant="tcp",
            point="scenario-isolated",
            outputs=outs,
            primary="client/ncbench.txt",
            config=CONFIG,
        )
    rep = run / "r1" / "6d" / "tcp" / "scenario-isolated" / "rep-1"
    assert "rep left incomplete" in str(exc.value)
    assert (rep / "raw" / "client" / "ncbench.txt").read_text() == Path(outs[0]["src"]).read_text()
    assert not (rep / res.MARKER).exists()
    assert not (rep / "record.json").exists()
    assert (rep / "error.txt").read_text().strip() in str(exc.value)


def test_bad_json_record_among_the_outputs_is_named(run):
    outs = outputs_for("rr", "tcp")
    outs[1]["src"] = broken(run, "rr-tcp.client.json", '"tool": "ncbench"', '"tool": "iperf"')
    with pytest.raises(res.ResultsError, match=r"client/ncbench.json: not an ncbench record"):
        res.record_rep(
            str(run),
            "r1",
            figure="6d",
            variant="tcp",
            point="scenario-isolated",
            outputs=outs,
            primary="client/ncbench.txt",
            config=CONFIG,
            check=True,
        )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda o: o.__setitem__(0, dict(o[0], src="/nonexistent/x.txt")), r"outputs\[0\]: src='/nonexistent/x.txt'"),
        (lambda o: o.__setitem__(1, dict(o[1], host="../etc")), r"outputs\[1\].host='../etc'"),
        (lambda o: o.append(dict(o[0])), r"outputs\[3\]: client/ncbench.txt given twice"),
        (lambda o: o.__setitem__(0, dict(o[0], kind="iperf")), r"client/ncbench.txt: kind='iperf'"),
        (lambda o: o.__setitem__(0, {"host": "client", "name": "ncbench.txt"}), r"outputs\[0\]: neither src nor"),
    ],
)
def test_bad_outputs_are_named(run, change, complaint):
    outs = outputs_for("rr", "tcp")
    change(outs)
    with pytest.raises(res.ResultsError, match=complaint):
        res.record_rep(
            str(run),
            "r1",
            figure="6d",
            variant="tcp",
            point="scenario-isolated",
            outputs=outs,
            primary="client/ncbench.txt",
            config=CONFIG,
        )


def test_primary_must_be_a_client_text_output(run):
    for primary, complaint in (
        ("server/ncbench.txt", "role=server: the measured output must be the client's"),
        ("client/ncbench.json", "must be ncbench's key=value text"),
        ("client/nope.txt", r"primary='client/nope.txt': not one of the outputs"),
    ):
        with pytest.raises(res.ResultsError, match=complaint):
            res.record_rep(
                str(run),
                "r1",
                figure="6d",
                variant="tcp",
                point="scenario-isolated",
                outputs=outputs_for("rr", "tcp"),
                primary=primary,
                config=CONFIG,
                check=True,
            )


def _nckv(name: str) -> str:
    return (DATA / "nckv" / name).read_text()


def test_nckv_sample_recorded_as_figure_7(run):
    text = _nckv("depth-8.txt")
    doc = res.parse_nckv(text, "x")
    got = res.record_rep(
        str(run),
        "r1",
        figure="7",
        variant="tcp",
        point="depth-8",
        outputs=[{"host": "client", "name": "nckv.txt", "kind": "nckv", "content": text}],
        primary="client/nckv.txt",
        config=CONFIG,
    )
    r = doc["results"]
    assert doc["options"]["depth"] == 8
    assert doc["options"]["get_ratio"] == 0.95
    assert got["metrics"]["requests_per_s"] == r["requests_per_s"] > 0
    assert got["metrics"]["get_share"] == pytest.approx(r["gets"] / r["requests"])
    assert got["metrics"]["latency_p99_us"] == r["latency_p99_us"]
    assert got["metrics"]["cores"] == r["cpu_host_busy_cores"]
    rec = json.loads((Path(got["rep_dir"]) / "record.json").read_text())
    assert rec["outputs"]["client/nckv.txt"]["parsed"]["options"]["keys"] == 1024


@pytest.mark.parametrize("name", ["depth-1.txt", "depth-8.txt"])
def test_nckv_samples_give_plausible_figure_7_metrics(name):
    doc = res.parse_nckv(_nckv(name), name)
    m = res.metrics_of("nckv", doc, name)
    assert m["requests_per_s"] > 0
    assert 0.9 < m["get_share"] < 1  # 95 % drawn per request
    assert m["latency_p50_us"] <= m["latency_p90_us"] <= m["latency_p99_us"] <= m["latency_p999_us"]
    assert set(res.FIGURES["7"]["metrics"]) <= set(m)


def test_nckv_bad_runs_are_errors_naming_the_file_and_field():
    text = _nckv("depth-1.txt")
    r = res.parse_nckv(text, "x")["results"]

    def swap(key, value):
        return text.replace(f"\n{key}={r[key]}\n", f"\n{key}={value}\n")

    # the run failed: the error line of nckv itself, not "no results"
    with pytest.raises(
        res.ResultsError, match=r"client/nckv.txt:\d+: the run failed: nckv: error: connection 6: .*OOM"
    ):
        res.parse_nckv(_nckv("oom.txt"), "client/nckv.txt")
    with pytest.raises(res.ResultsError, match=r"x: options and no results"):
        res.parse_nckv(text.split("# results")[0], "x")
    with pytest.raises(res.ResultsError, match=r"x: no '# options' line"):
        res.parse_nckv("", "x")
    with pytest.raises(res.ResultsError, match=r"x:1: 'requests_per_s=5' is not a key=value line of a section"):
        res.parse_nckv("requests_per_s=5\n" + text, "x")
    with pytest.raises(res.ResultsError, match=r"x: results without get_misses"):
        res.parse_nckv(text.replace(f"get_misses={r['get_misses']}\n", ""), "x")
    with pytest.raises(res.ResultsError, match=r"x: results not numbers: requests='many'"):
        res.parse_nckv(swap("requests", "many"), "x")
    with pytest.raises(res.ResultsError, match=r"x:\d+: requests_per_s=nan: want a finite number"):
        res.parse_nckv(swap("requests_per_s", "nan"), "x")
    with pytest.raises(res.ResultsError, match=r"x:1: section '# results' \(want '# options' then"):
        res.parse_nckv("# results\n" + text, "x")
    with pytest.raises(res.ResultsError, match=r"x:\d+: section '# options'"):
        res.parse_nckv(text + "# options\n", "x")
    with pytest.raises(res.ResultsError, match=r"x:\d+: depth given twice"):
        res.parse_nckv(text.replace("depth=1\n", "depth=1\ndepth=2\n"), "x")
    # parsed, but not a result
    cases = [
        (swap("requests", 0), r"requests=0: no request completed"),
        (swap("get_misses", 3), r"get_misses=3 with populate=1"),
        (swap("gets", r["gets"] - 1), r"do not add up to requests="),
        (swap("latency_p50_us", 1e9), r"latency_p50_us=1e\+09 above latency_p90_us="),
        (text.replace(f"latency_p999_us={r['latency_p999_us']}\n", ""), r"latency_p999_us=None: want a number"),
        (swap("get_hits", r["get_hits"] - 1), r"get_hits=\d+ \+ get_misses=0 is not gets="),
        (swap("latency_mean_us", 1e9), r"latency_mean_us=1e\+09 outside min"),
    ]
    for bad, want in cases:
        with pytest.raises(res.ResultsError, match=want):
            res.metrics_of("nckv", res.parse_nckv(bad, "x"), "x")
    # without --no-populate a miss is an error; with it, misses are the expected answer
    missed = swap("get_misses", 3).replace(f"get_hits={r['get_hits']}\n", f"get_hits={r['get_hits'] - 3}\n")
    res.metrics_of("nckv", res.parse_nckv(missed.replace("populate=1", "populate=0"), "x"), "x")


def test_figure_7_plan_carries_the_key_space():
    for profile in ("smoke", "full"):
        items = list(res.expand(profile, ["7"]))
        assert items
        assert all(i["tool"] == "nckv" for i in items)
        assert {i["bench"]["keys"] for i in items} == {res.PROFILES[profile]["kv_keys"]}
        assert {i["bench"]["get_ratio"] for i in items} == {0.95}
    assert res.PROFILES["full"]["kv_keys"] == 196608  # the paper's key space


# --------------------------------------------------------------------------- CSV, plots, report, queries


@pytest.fixture
def full_run(run):
    """6ab, 6c and 6d from the recorded samples, two reps of the 6c TCP point."""
    record(run, "6ab", "netchannel", "flows-1", "stream", "netchannel")
    record(run, "6ab", "tcp", "flows-1", "stream", "tcp")
    record(run, "6c", "netchannel", "channels-1", "msgrate", "netchannel")
    record(run, "6c", "netchannel", "channels-4", "msgrate", "tcp")  # a stand-in sample for 4 channels
    record(run, "6c", "tcp", "channels-1", "msgrate", "tcp")
    record(run, "6c", "tcp", "channels-1", "rr-uring", "tcp")
    for proto in ("netchannel", "tcp"):
        record(run, "6d", proto, "scenario-isolated", "rr", proto)
        record(run, "6d", proto, "scenario-interference", "rr-uring", proto)
    return run / "r1"


def test_csv_has_one_row_per_rep_with_the_samples_metrics(full_run):
    recs = res.records(str(full_run))
    rows = list(csv.DictReader(io.StringIO(res.figure_csv(recs, "6c"))))
    assert [(r["variant"], r["point"], r["rep"]) for r in rows] == [
        ("netchannel", "channels-1", "1"),
        ("netchannel", "channels-4", "1"),
        ("tcp", "channels-1", "1"),
        ("tcp", "channels-1", "2"),
    ]
    want = [nb.load(sample(f"{s}.client.txt")).results["transactions_per_s"] for s in ("msgrate-tcp", "rr-uring-tcp")]
    assert [float(r["transactions_per_s"]) for r in rows if r["variant"] == "tcp"] == want
    assert rows[0]["x"] == "1"


def test_plot_carries_both_stacks_with_error_bars(full_run):
    recs = res.records(str(full_run))
    fig = res.plot_figure(recs, "6c")
    series = res.figure_series(fig)
    panel = series["transactions_per_s (messages/s)"]
    assert set(panel) == {"netchannel", "tcp"}
    tcp = [nb.load(sample(f"{s}.client.txt")).results["transactions_per_s"] for s in ("msgrate-tcp", "rr-uring-tcp")]
    assert panel["tcp"] == [pytest.approx(sum(tcp) / 2)]
    assert len(panel["netchannel"]) == 2
    ax = fig.axes[1]
    bars = next(c for c in ax.containers if c.get_label() == "tcp")
    assert bars.errorbar is not None
    (seg,) = bars.errorbar.lines[2][0].get_segments()
    assert seg[1][1] - seg[0][1] == pytest.approx(2 * abs(tcp[0] - tcp[1]) / 2**0.5)


def test_report_writes_csv_png_and_markdown(full_run):
    from PIL import Image

    out = res.report(str(full_run), "lab")
    assert out["figures"] == ["6ab", "6c", "6d"]
    for f in out["files"]:
        assert os.path.getsize(f) > 0
    png = Image.open(full_run / "report" / "6d.png")
    shown = json.loads(png.info["Description"])
    assert set(shown["latency_p99_us (µs)"]) == {"netchannel", "tcp"}
    md = (full_run / "report" / "report.md").read_text()
    assert "![6d](6d.png)" in md
    assert "trends only" in md
    recs = res.records(str(full_run))
    agg = res.aggregate(recs, "6ab")
    ratio = agg["throughput_gbps"]["netchannel"][1][0] / agg["throughput_gbps"]["tcp"][1][0]
    holds = "yes" if ratio > 1 else "no"
    assert (
        f"| 6ab | {res.CLAIMS['6ab']} | NetChannel/TCP throughput, one flow | {ratio:.4g} | {holds} (trend only" in md
    )
    v6d = next(v for v in out["verdicts"] if v["figure"] == "6d")
    p99 = {
        (p, s): nb.load(sample(f"{s}-{p}.client.txt")).latency_us["p99"]
        for p in ("netchannel", "tcp")
        for s in ("rr", "rr-uring")
    }
    nc_growth = p99[("netchannel", "rr-uring")] / p99[("netchannel", "rr")]
    tcp_growth = p99[("tcp", "rr-uring")] / p99[("tcp", "rr")]
    ratio = p99[("netchannel", "rr-uring")] / p99[("tcp", "rr-uring")]
    assert v6d["ratio"] == pytest.approx(ratio)
    assert v6d["holds"] == (nc_growth < tcp_growth and ratio < 1)


def test_replot_from_existing_results_only(full_run):
    res.report(str(full_run), "hardware")
    md1 = (full_run / "report" / "report.md").read_text()
    assert "trends only" not in md1
    before = sorted(p.relative_to(full_run) for p in full_run.rglob("*") if "report" not in p.parts)
    out = res.report(str(full_run), "hardware")
    assert out["changed"] == []  # up to date: nothing rewritten
    (full_run / "report" / "6c.csv").write_text("edited\n")
    assert res.report(str(full_run), "hardware", check=True)["changed"] == [str(full_run / "report" / "6c.csv")]
    assert (full_run / "report" / "6c.csv").read_text() == "edited\n"
    assert res.report(str(full_run), "hardware")["changed"] == [str(full_run / "report" / "6c.csv")]
    after = sorted(p.relative_to(full_run) for p in full_run.rglob("*") if "report" not in p.parts)
    assert before == after
    assert (full_run / "report" / "report.md").read_text() == md1
    assert out["records"] == 10


def test_report_check_mode_and_empty_run(run):
    with pytest.raises(res.ResultsError, match="no complete repetition"):
        res.report(str(run / "r1"))
    record(run, "6ab", "tcp", "flows-1", "stream", "tcp")
    out = res.report(str(run / "r1"), check=True)
    assert out["report"].endswith("report/report.md")
    assert not (run / "r1" / "report").exists()
    with pytest.raises(res.ResultsError, match="environment='cloud'"):
        res.report(str(run / "r1"), "cloud")


def test_jmespath_p99_of_every_6d_point(full_run):
    got = res.query(str(full_run), "[?figure=='6d'].{variant: variant, point: point, p99: metrics.latency_p99_us}")
    want = [
        {"variant": p, "point": f"scenario-{pt}", "p99": nb.load(sample(f"{s}-{p}.client.txt")).latency_us["p99"]}
        for p in ("netchannel", "tcp")
        for pt, s in (("interference", "rr-uring"), ("isolated", "rr"))
    ]
    assert got == want
    assert res.query(str(full_run), "length([?figure=='6c' && variant=='tcp'])") == 2
    with pytest.raises(res.ResultsError, match=r"expression '\[\?figure=='"):
        res.query(str(full_run), "[?figure==")


def test_incomplete_reps_are_not_reported(full_run):
    rep = full_run / "6ab" / "tcp" / "flows-1" / "rep-1"
    (rep / res.MARKER).rename(rep / "was-complete")
    assert [r["variant"] for r in res.records(str(full_run)) if r["figure"] == "6ab"] == ["netchannel"]


def test_progress_line():
    item = res.expand("smoke")[2]
    line = res.progress(item, 3, 20, 62, 3725)
    assert line == (
        f"figure {item['figure']} {item['variant']} {item['point']} rep 1: "
        "point 3 of 20, elapsed 1m02s, about 1h02m05s left"
    )


def test_estimate_uses_measured_durations(run):
    fresh = res.plan(str(run), "r1", "smoke")
    prof = res.PROFILES["smoke"]
    per = prof["length"] + prof["warmup"] + res.POINT_OVERHEAD_S
    assert fresh["estimated_s"] == pytest.approx(per * len(fresh["remaining"]))
    record(run, "6ab", "tcp", "flows-1", "stream", "tcp", duration_s=40.0)
    after = res.plan(str(run), "r1", "smoke")
    assert after["estimated_s"] == pytest.approx(40.0 * len(after["remaining"]))


def test_points_are_plotted_in_the_figures_order(full_run):
    fig = res.plot_figure(res.records(str(full_run)), "6d")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["isolated", "interference"]
    fig = res.plot_figure(res.records(str(full_run)), "6c")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "4"]


def test_skipped_points_are_named_and_left_out_of_the_estimate(tmp_path):
    # the full profile plans 8a and 8b, which need data-copy workers the module does not have: the
    # plan names why they are skipped, and the estimate is for the repetitions that will run
    full = res.plan(str(tmp_path), "r1", "full", check=True)
    skips = {(it["figure"], it["skip"]) for it in full["remaining"] if it["skip"]}
    assert {f for f, _ in skips} == {"8a", "8b"}
    assert all("copy_workers" in why and "channels" not in why.split("(")[0] for _, why in skips)
    runs = len(full["remaining"]) - full["skipped"]
    assert full["skipped"] == sum(1 for it in full["remaining"] if it["figure"] in {"8a", "8b"}) > 0
    prof = res.PROFILES["full"]
    per = prof["length"] + prof["warmup"] + res.POINT_OVERHEAD_S
    assert full["estimated_s"] == pytest.approx(per * runs)
    # the smoke profile runs everything it plans
    smoke = res.plan(str(tmp_path), "r2", "smoke", check=True)
    assert smoke["skipped"] == 0
    assert not any(it["skip"] for it in smoke["remaining"])


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"figure": "2", "tool": "perf"}, "figure 2 runs perf: not run by this role"),
        ({"figure": "6c", "tool": "ncbench", "setup": {"module": {"channels": 4}}}, ""),
        ({"figure": "6ab", "tool": "ncbench", "setup": None}, ""),
        (
            {"figure": "8b", "tool": "ncbench", "setup": {"module": {"channels": 1, "copy_workers": 1}}},
            "needs module settings copy_workers ({'channels': 1, 'copy_workers': 1}) that the module does not have yet",
        ),
        ({"figure": "7", "tool": "nckv", "setup": {"nic": {"profile": "short_flows"}}}, ""),
        (
            {"figure": "7", "tool": "nckv", "setup": {"nic": {"profile": "short_flows", "mtu": 1500}}},
            "needs NIC settings mtu ({'profile': 'short_flows', 'mtu': 1500}) that the role does not apply",
        ),
    ],
)
def test_skip_reason(item, reason):
    assert res.skip_reason(item) == reason


def test_every_figure_names_a_nic_profile_the_nic_module_has():
    """Each figure runs on a NIC profile of the netchannel_nic engine (the experiments role switches the
    NICs to it): short flows for 6c, 7 and 8c, long flows for the others. The name reaches every plan
    item as it is (a sweep value is substituted only where the setting says {value})."""
    from nic_fake import engine

    short = {"6c", "7", "8c"}
    for profile in ("smoke", "full"):
        for item in res.expand(profile, list(res.FIGURES)):
            want = "short_flows" if item["figure"] in short else "long_flows"
            assert item["setup"]["nic"] == {"profile": want}, item
            assert want in engine.PROFILES
            if item["figure"] == "6c" and item["variant"] == "netchannel":
                assert item["setup"]["module"]["channels"] == res.x_of(item["point"])
