#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Look at the NetChannel experiments' results on the controller.

    ncresults.py [--results DIR] list                  the runs, their profile and complete reps
    ncresults.py [--results DIR] query RUN EXPR        a JMESPath expression over RUN's records
    ncresults.py [--results DIR] replot RUN [--hardware]
                                                       CSV, PNG and report.md again from RUN's results
    ncresults.py [--results DIR] plan RUN [--profile P] what is left of RUN (writes nothing)
    ncresults.py [--results DIR] report [RUN]          the path of RUN's report (default: the newest run's)

RUN is a run id under DIR or the path of a run directory.  DIR defaults to $NETCHANNEL_RESULTS_DIR,
else ~/netchannel-results (the experiments role's default).  The library is
the collection's plugins/module_utils/netchannel_results.py; docs/experiments.md describes the
layout and the record.  Errors are one line and exit status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import collection_utils  # tools/, beside this script

res = collection_utils.load("netchannel_results")


def _run_path(results: str, run: str) -> tuple[str, str]:
    """(results dir, run id) of RUN: a path to a run directory, or an id under --results."""
    if os.sep in run and os.path.isdir(run):
        path = os.path.abspath(run)
        return os.path.dirname(path), os.path.basename(path)
    return results, run


REPORT = ("report", "report.md")


def default_results() -> str:
    """Where the runs are unless --results says otherwise: the experiments role's default place."""
    return os.environ.get("NETCHANNEL_RESULTS_DIR") or os.path.join(os.path.expanduser("~"), "netchannel-results")


def report_path(results: str, run: str | None) -> str:
    """The report of RUN, or the newest report of any run; ResultsError naming what is missing."""
    if run is None:
        reports = [os.path.join(results, r["run_id"], *REPORT) for r in res.list_runs(results)]
        reports = [p for p in reports if os.path.isfile(p)]
        if not reports:
            raise res.ResultsError(f"{results}: no run with a report (ansible-playbook site.yml makes one)")
        return max(reports, key=os.path.getmtime)
    results, run = _run_path(results, run)
    path = os.path.join(res.run_dir(results, run), *REPORT)
    if not os.path.isfile(path):
        raise res.ResultsError(f"{path}: no report in run {run!r} yet (no complete repetition, or replot it)")
    return path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ncresults.py", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--results",
        default=default_results(),
        help="directory of the runs (default: $NETCHANNEL_RESULTS_DIR, else ~/netchannel-results)",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the runs")
    q = sub.add_parser("query", help="a JMESPath expression over a run's records")
    q.add_argument("run")
    q.add_argument("expression")
    r = sub.add_parser("replot", help="CSV, plots and report from existing results")
    r.add_argument("run")
    r.add_argument("--hardware", action="store_true", help="measured on real servers, not the lab")
    p = sub.add_parser("plan", help="what is left of a run (writes nothing)")
    p.add_argument("run")
    p.add_argument("--profile", default=None, help="the run's profile (default: from its run.json)")
    rp = sub.add_parser("report", help="the path of a run's report (default: the newest run's)")
    rp.add_argument("run", nargs="?", default=None)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            for run in res.list_runs(args.results):
                print(f"{run['run_id']}\t{run['profile']}\t{run['created']}\t{run['reps']} complete reps")
            return 0
        if args.cmd == "report":
            print(f"report: {report_path(args.results, args.run)}")
            return 0
        results, run_id = _run_path(args.results, args.run)
        rdir = res.run_dir(results, run_id)
        if args.cmd == "query":
            print(json.dumps(res.query(rdir, args.expression), indent=2))
        elif args.cmd == "replot":
            out = res.report(rdir, "hardware" if args.hardware else "lab")
            print(f"{len(out['changed'])} of {len(out['files'])} files rewritten; report: {out['report']}")
        else:
            doc = res.load_json(os.path.join(rdir, res.RUN_FILE))
            plan = res.plan(
                results,
                run_id,
                args.profile or doc["profile"],
                figures=doc["figures"],
                seed=doc["seed"],
                reps=doc["reps"],
                check=True,
            )
            print(f"{plan['complete']} of {plan['total']} reps complete, {plan['incomplete_dirs']} incomplete dirs")
            for i, item in enumerate(plan["remaining"], plan["complete"] + 1):
                skip = f" (skipped: {item['skip']})" if item["skip"] else ""
                print(
                    f"  {i}/{plan['total']} {item['figure']} {item['variant']} {item['point']} rep {item['rep']}{skip}"
                )
    except res.ResultsError as exc:
        print(f"ncresults: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
