#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Look at the NetChannel experiments' results on the controller.

    ncresults.py [--results DIR] list                  the runs, their profile and complete reps
    ncresults.py [--results DIR] query RUN EXPR        a JMESPath expression over RUN's records
    ncresults.py [--results DIR] replot RUN [--hardware]
                                                       CSV, PNG and report.md again from RUN's results
    ncresults.py [--results DIR] plan RUN [--profile P] what is left of RUN (writes nothing)

RUN is a run id under DIR (default: ./results) or the path of a run directory.  The library is
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


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ncresults.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results", help="directory of the runs (default: ./results)")
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
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            for run in res.list_runs(args.results):
                print(f"{run['run_id']}\t{run['profile']}\t{run['created']}\t{run['reps']} complete reps")
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
                print(f"  {i}/{plan['total']} {item['figure']} {item['variant']} {item['point']} rep {item['rep']}")
    except res.ResultsError as exc:
        print(f"ncresults: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
