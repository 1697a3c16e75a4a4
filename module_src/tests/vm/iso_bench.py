#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Latency isolation benchmark: a 4 KiB request/response flow alone and next
to 4 bulk flows, over TCP with SO_PRIORITY 0 and 6 and over NetChannel in the
latency class (priority 6) and the bulk class (priority 0; with the channel's
connections taking turns, and as netchannel-fifo-p0 with net.netchannel.drr 0
on the client), in one VM (its own data address) or between two VMs (--pair);
every variant in every run.

usage: iso_bench.py [--kernel VMLINUZ] [--module KO] [--runs 3] [--secs 3]
                    [--pair] [--json OUT] [--log OUT]

Prints, per variant and load, min/median/max over the runs of p50, p99 and
p99.9 latency and of the bulk flows' throughput, and per run the ratio of
NetChannel's latency-class p99 next to bulk to TCP's p99 next to bulk (with
and without SO_PRIORITY), each from the same run.  Exits 1 if a run failed:
the figures are then incomplete.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import stripe_bench  # noqa: E402

VARIANTS = ("tcp-p0", "tcp-p6", "netchannel-p6", "netchannel-p0", "netchannel-fifo-p0")
LOADS = ("alone", "bulk")
FIGURES = ("latency_p50_us", "latency_p99_us", "latency_p999_us", "transactions_per_s")
LINE = re.compile(r"^NCVM ISO (run=.*)$")


def parse(lines):
    """The client's records, from a guest's console lines."""
    return [stripe_bench.kv(m.group(1)) for m in map(LINE.match, lines) if m]


def _good(r):
    return (
        r.get("rc") == "0"
        and r.get("bytes_agree") in ("1", "yes")
        and all(k in r for k in FIGURES)
        and (r.get("load") != "bulk" or (r.get("bulk_rc") == "0" and r.get("bulk_gbps")))
    )


def problems(records, runs):
    """What is missing or failed: every (run, variant, load) must be there with rc 0, both flows."""
    seen = {(r.get("run"), r.get("variant"), r.get("load")): r for r in records}
    bad = []
    for run in range(1, runs + 1):
        for v in VARIANTS:
            for load in LOADS:
                r = seen.get((str(run), v, load))
                what = f"run {run} {v} {load}"
                if r is None:
                    bad.append(f"{what}: no result")
                elif not _good(r):
                    bad.append(
                        f"{what}: rc={r.get('rc')} bulk_rc={r.get('bulk_rc')} bytes_agree={r.get('bytes_agree')}"
                    )
    return bad


def summarize(records):
    """Per (variant, load): min/median/max of each figure over the good runs."""
    rows = []
    for v in VARIANTS:
        for load in LOADS:
            good = [r for r in records if r.get("variant") == v and r.get("load") == load and _good(r)]
            if not good:
                continue
            row = {"variant": v, "load": load, "n": len(good)}
            for k in FIGURES:
                row[k] = stripe_bench.mmm([float(r[k]) for r in good])
            if load == "bulk":
                row["bulk_gbps"] = stripe_bench.mmm([float(r["bulk_gbps"]) for r in good])
            rows.append(row)
    return rows


def _per_run(by, num, den, k):
    """Figure k of variant num over the same figure of variant den, run by run, where both are good."""
    return [
        float(r[k]) / float(d[k])
        for (run, v), r in by.items()
        if v == num and (d := by.get((run, den))) and float(d[k]) > 0
    ]


def ratios(records):
    """Per run, NetChannel's latency-class p99 next to bulk over TCP's p99 next to bulk, without and
    with SO_PRIORITY (the issue's goal: at most 0.5), and the same for p99.9; and what the turns do
    for a connection in the bulk class next to bulk flows (p50 and p99 over arrival order's);
    min/median/max."""
    by = {(r["run"], r["variant"]): r for r in records if r.get("load") == "bulk" and _good(r)}
    wanted = [
        (k, "netchannel-p6", tcp, f"netchannel_lat_over_{tcp}")
        for tcp in ("tcp-p0", "tcp-p6")
        for k in ("latency_p99_us", "latency_p999_us")
    ]
    wanted += [
        (k, "netchannel-p0", "netchannel-fifo-p0", "netchannel_p0_drr_over_fifo")
        for k in ("latency_p50_us", "latency_p99_us")
    ]
    out = {}
    for k, num, den, name in wanted:
        if vals := _per_run(by, num, den, k):
            out[f"{k.removeprefix('latency_').removesuffix('_us')}_{name}"] = stripe_bench.mmm(vals)
    return out


def table(rows, setting):
    lines = [
        f"{setting}: min / median / max over the runs (microseconds; bulk: Gbit/s of the 4 bulk flows)",
        "| variant | load | p50 | p99 | p99.9 | transactions/s | bulk |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bulk = stripe_bench.fmt(r["bulk_gbps"], 3) if "bulk_gbps" in r else "-"
        lines.append(
            f"| {r['variant']} | {r['load']} | {stripe_bench.fmt(r['latency_p50_us'], 0)} | "
            f"{stripe_bench.fmt(r['latency_p99_us'], 0)} | {stripe_bench.fmt(r['latency_p999_us'], 0)} | "
            f"{stripe_bench.fmt(r['transactions_per_s'], 0)} | {bulk} |"
        )
    return "\n".join(lines)


def main():
    ap = stripe_bench.parser(__doc__)
    args = ap.parse_args()
    stripe_bench.check(args, "iso_bench.py")
    per_test = args.secs + 0.5 + 6
    timeout = args.timeout or int(120 + args.runs * len(VARIANTS) * len(LOADS) * (per_test + 5))
    guests = stripe_bench.boot(
        args, "iso_bench.sh", lambda role, me, peer: f"{args.runs} {args.secs} {me} {peer}", timeout
    )
    records = parse(guests[-1].lines)
    rows = summarize(records)
    rat = ratios(records)
    bad = problems(records, args.runs)
    setting = "two VMs" if args.pair else "one VM, its own data address"
    print(table(rows, setting))
    for k, m in rat.items():
        print(f"{k}={stripe_bench.fmt(m, 2)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "setting": setting,
                    "kernel": os.path.basename(args.kernel),
                    "runs": args.runs,
                    "secs": args.secs,
                    "records": records,
                    "summary": rows,
                    "ratios": rat,
                    "problems": bad,
                },
                fh,
                indent=1,
            )
    for p in bad:
        print(f"iso_bench: {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
