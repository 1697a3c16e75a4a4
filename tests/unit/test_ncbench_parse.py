"""tools/ncbench_parse.py on real ncbench output (tests/unit/data/ncbench, from
`run_vm.py --bench-dump`: one VM, each workload over TCP and NetChannel), and
on broken copies of it."""

import json
from pathlib import Path

import ncbench_parse as nb
import pytest

DATA = Path(__file__).resolve().parent / "data" / "ncbench"
TESTS = [f"{w}-{p}" for w in ("stream", "rr", "msgrate", "rr-uring") for p in ("tcp", "netchannel")]


def text(name):
    return (DATA / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", TESTS)
def test_client_and_server_agree(name):
    kind, proto = name.rsplit("-", 1)
    workload = kind.removesuffix("-uring")
    client = nb.load(DATA / f"{name}.client.txt")
    server = nb.load(DATA / f"{name}.server.txt")
    for rec, role in ((client, "client"), (server, "server")):
        assert rec.role == role
        assert rec.options["protocol"] == proto
        assert rec.options["workload"] == workload
        assert rec.options["uring"] == int(kind.endswith("-uring"))
        assert len(rec.flows) == rec.options["flows"]
    assert client.results["bytes_agree"] == "yes"
    # each end's own counts, and the copy of the server's the client holds
    assert client.results["tx_bytes"] == server.results["rx_bytes"] == client.remote["rx_bytes"]
    assert client.results["rx_bytes"] == server.results["tx_bytes"] == client.remote["tx_bytes"]
    for mine, theirs, remote in zip(client.flows, server.flows, client.remote_flows, strict=True):
        assert mine["id"] == theirs["id"] == remote["id"]
        assert mine["tx_bytes"] == theirs["rx_bytes"] == remote["rx_bytes"]
    assert client.results["tx_bytes"] == sum(f["tx_bytes"] for f in client.flows)
    assert client.cpu["local"]["host_cpus"] == 2
    assert client.cpu["remote"] == server.cpu["local"]
    assert server.cpu["remote"] is None
    assert server.notes == ["ncbench: server listening on 0.0.0.0:12865 (control, tcp)"]


@pytest.mark.parametrize("name", TESTS)
def test_latency_only_where_there_are_requests(name):
    rec = nb.load(DATA / f"{name}.client.txt")
    lat = rec.latency_us
    if name.startswith("stream"):
        assert lat is None
        return
    assert lat["count"] > 0
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"]
    assert rec.options["depth"] == (1 if name.startswith("rr") else 16)


@pytest.mark.parametrize("name", TESTS)
def test_json_record_matches_the_text(name):
    doc = nb.load(DATA / f"{name}.client.json")
    rec = nb.load(DATA / f"{name}.client.txt")
    assert doc["tool"] == "ncbench"
    assert doc["version"] == rec.options["ncbench_version"]
    assert doc["role"] == "client"
    assert doc["host"]["kernel"] == rec.results["kernel"]
    assert doc["settings"]["threads"] == rec.options["threads"]
    assert doc["total"]["tx_bytes"] == rec.results["tx_bytes"]
    assert doc["total"]["throughput_bps"] == rec.results["throughput_bps"]
    assert [f["tx_bytes"] for f in doc["flows"]] == [f["tx_bytes"] for f in rec.flows]
    assert doc["remote"]["total"]["rx_bytes"] == rec.remote["rx_bytes"]
    assert doc["cpu"]["local"]["user_s"] == rec.cpu["local"]["user_s"]
    assert doc["cpu"]["remote"]["host_busy_cores"] == rec.cpu["remote"]["host_busy_cores"]
    if rec.latency_us:
        assert doc["latency"]["p99_us"] == rec.latency_us["p99"]
    else:
        assert "latency" not in doc


def test_interval_section_on_stdout():
    rec = nb.load(DATA / "host-msgrate-tcp-interval.client.txt")
    assert len(rec.interval) >= 4
    assert {s["phase"] for s in rec.interval} == {"warmup", "measure"}
    assert all(s["interval_s"] > 0 and s["transactions"] >= 0 for s in rec.interval)
    assert [s["time_s"] for s in rec.interval] == sorted(s["time_s"] for s in rec.interval)


@pytest.mark.parametrize("name", ["stream-tcp", "stream-netchannel"])
def test_interval_csv_file(name):
    sample = f"# options\n{text(f'{name}.client.txt').split('# options', 1)[1]}"
    with_csv = sample.replace("# results", "# interval\n" + text(f"{name}.interval.csv") + "# results")
    rec = nb.parse_text(with_csv)
    assert rec.interval
    assert sum(s["tx_bytes"] for s in rec.interval) <= rec.results["tx_bytes"]


GOOD = "rr-netchannel.client.txt"


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("# options\n", "", "before the '# options' line"),
        ("# results\n", "# totals\n", "unknown section '# totals'"),
        ("# results\n", "# results\nwindow_s=1\n", "window_s given twice"),
        ("latency_p99_us=", "latency_p99_us=12x", "is not a number"),
        ("protocol=netchannel", "protocol=udp", "protocol='udp'"),
        ("workload=rr", "workload=ping", "workload='ping'"),
        ("bytes_agree=yes", "bytes_agree=maybe", "bytes_agree=yes|no"),
        ("flows=1\n", "flows=2\n", "1 flows in the results, flows=2"),
        ("cpu_user_s=", "cpu_usr_s=", "results without cpu_user_s"),
        ("threads=1\n", "", "options without threads"),
        ("window_s=", "Window_s=", "is not a key=value line"),
        ("# options\n", "# options\nncbench: error: the server refused the test: x\n", "the run failed"),
    ],
)
def test_bad_text_is_named(old, new, complaint):
    good = text(GOOD)
    assert old in good
    with pytest.raises(nb.NcbenchParseError) as exc:
        nb.parse_text(good.replace(old, new, 1), "sample")
    assert complaint in str(exc.value)
    assert str(exc.value).startswith("sample")


def test_output_cut_short():
    good = text(GOOD)
    with pytest.raises(nb.NcbenchParseError, match=r"no '# results' section"):
        nb.parse_text(good.split("# results")[0], "cut")


def test_no_latency_in_rr_client():
    good = "\n".join(line for line in text(GOOD).splitlines() if not line.startswith("latency_"))
    with pytest.raises(nb.NcbenchParseError, match="rr client results without latency"):
        nb.parse_text(good)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d.update(tool="iperf3"), "not an ncbench record"),
        (lambda d: d.pop("flows"), "member 'flows' missing"),
        (lambda d: d.update(total=[]), "member 'total' missing or not a dict"),
        (lambda d: d["flows"].append({"id": 1}), "2 flows, settings say 1"),
        (lambda d: d.pop("latency"), "rr client record without latency"),
        (lambda d: d.update(protocol="quic"), "protocol='quic'"),
    ],
)
def test_bad_json_is_named(change, complaint):
    doc = json.loads(text("rr-tcp.client.json"))
    change(doc)
    with pytest.raises(nb.NcbenchParseError) as exc:
        nb.parse_json(json.dumps(doc), "rec.json")
    assert complaint in str(exc.value)


def test_not_json():
    with pytest.raises(nb.NcbenchParseError, match=r"rec.json: not JSON"):
        nb.parse_json('{"tool": "ncbench",', "rec.json")


def test_cli_summary_and_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("# options\nrole=client\n", encoding="utf-8")
    assert nb.main([str(DATA / "rr-tcp.client.txt"), str(DATA / "stream-netchannel.client.json")]) == 0
    out = capsys.readouterr().out
    assert "tcp rr, " in out
    assert "transactions/s, p99 " in out
    assert "netchannel stream, " in out
    assert nb.main([str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("ncbench_parse: error: ")
    assert "options without" in err[0]
    assert nb.main([str(tmp_path / "missing.txt")]) == 1
    assert "No such file" in capsys.readouterr().err


def test_extract_vm_dump(tmp_path, capsys):
    log = tmp_path / "vm.log"
    body = text("rr-tcp.client.txt").splitlines()
    log.write_text(
        "[vm] NCVM BOOTED 6.1\n" + "".join(f"[vm] NCVM BENCHOUT bench-c-rr-tcp.log {line}\r\n" for line in body),
        encoding="utf-8",
    )
    assert nb.main(["--extract", str(log), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "bench-c-rr-tcp.log").read_text(encoding="utf-8") == text("rr-tcp.client.txt")
    empty = tmp_path / "empty.log"
    empty.write_text("nothing\n", encoding="utf-8")
    capsys.readouterr()
    assert nb.main(["--extract", str(empty), str(tmp_path / "o2")]) == 1
    assert "no NCVM BENCHOUT lines" in capsys.readouterr().err
