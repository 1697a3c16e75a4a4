"""tools/ncresults.py: list, query, replot and plan on a run built from the recorded samples."""

from __future__ import annotations

import json
from pathlib import Path

import ncbench_parse as nb
import ncresults
import pytest

DATA = Path(__file__).resolve().parent / "data" / "ncbench"
res = ncresults.res


@pytest.fixture
def results(tmp_path):
    res.open_run(str(tmp_path), "r1", "smoke")
    for proto in ("netchannel", "tcp"):
        res.record_rep(
            str(tmp_path),
            "r1",
            figure="6d",
            variant=proto,
            point="scenario-isolated",
            outputs=[
                {"host": "client", "name": "n.txt", "kind": "ncbench", "src": str(DATA / f"rr-{proto}.client.txt")}
            ],
            primary="client/n.txt",
            config={"kernel": "k"},
        )
    return tmp_path


def test_list_query_replot_plan(results, capsys):
    assert ncresults.main(["--results", str(results), "list"]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == ["r1", "smoke"]
    assert ncresults.main(["--results", str(results), "query", "r1", "[?figure=='6d'].metrics.latency_p99_us"]) == 0
    want = [nb.load(DATA / f"rr-{p}.client.txt").latency_us["p99"] for p in ("netchannel", "tcp")]
    assert json.loads(capsys.readouterr().out) == want
    # a run given by its path works the same
    assert ncresults.main(["query", str(results / "r1"), "length(@)"]) == 0
    assert json.loads(capsys.readouterr().out) == 2
    assert ncresults.main(["--results", str(results), "replot", "r1"]) == 0
    assert "3 of 3 files rewritten" in capsys.readouterr().out
    assert (results / "r1" / "report" / "6d.png").stat().st_size > 0
    assert ncresults.main(["--results", str(results), "plan", "r1"]) == 0
    out = capsys.readouterr().out
    total = len(res.expand("smoke"))
    assert out.startswith(f"2 of {total} reps complete, 0 incomplete dirs")
    assert len(out.splitlines()) == 1 + total - 2


def test_errors_are_one_line(results, capsys):
    assert ncresults.main(["--results", str(results), "query", "r1", "[?"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ncresults: error: expression '[?'")
    assert "Traceback" not in err
    assert ncresults.main(["--results", str(results), "replot", "nope"]) == 1
    assert "nope: no such run directory" in capsys.readouterr().err


def test_report_prints_the_path_of_a_runs_report_or_the_newest(results, capsys):
    assert ncresults.main(["--results", str(results), "report", "r1"]) == 1
    assert "no report in run 'r1' yet" in capsys.readouterr().err
    assert ncresults.main(["--results", str(results), "report"]) == 1
    assert f"{results}: no run with a report" in capsys.readouterr().err
    assert ncresults.main(["--results", str(results), "replot", "r1"]) == 0
    capsys.readouterr()
    want = results / "r1" / "report" / "report.md"
    for argv in (["report", "r1"], ["report"], ["report", str(results / "r1")]):
        assert ncresults.main(["--results", str(results), *argv]) == 0
        assert capsys.readouterr().out == f"report: {want}\n"


def test_results_default_to_the_roles_place(monkeypatch, tmp_path):
    monkeypatch.delenv("NETCHANNEL_RESULTS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ncresults.default_results() == str(tmp_path / "netchannel-results")
    monkeypatch.setenv("NETCHANNEL_RESULTS_DIR", "/srv/r")
    assert ncresults.default_results() == "/srv/r"


def test_plan_names_the_points_it_skips(tmp_path, capsys):
    res.plan(str(tmp_path), "r8", "full", figures=["8a", "6ab"], reps=1)
    assert ncresults.main(["--results", str(tmp_path), "plan", "r8"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert lines
    for line in lines:
        assert ("(skipped: needs module settings copy_workers" in line) == (" 8a " in line), line
