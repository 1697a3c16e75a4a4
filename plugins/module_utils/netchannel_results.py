# SPDX-License-Identifier: GPL-2.0-only
"""Results of the NetChannel experiments: plan, store, query, tabulate, plot and report.

Everything the experiments stage keeps lives under one directory per run:

    <results>/<run-id>/run.json                               profile, seed, figures (written once)
    <results>/<run-id>/<figure>/<variant>/<point>/rep-N/
        raw/<host>/<name>      every host's raw outputs, byte for byte
        config.json            the exact configuration used (kernel, sysctls, NIC, module table, tools)
        record.json            the parsed record: figure, variant, point, params, metrics
        COMPLETE               written last (temp file + rename): without it the rep is incomplete
    <results>/<run-id>/report/                                derived: CSV, PNG, report.md (rebuilt)

A rep directory is never overwritten or deleted: an incomplete one stays as it is and the
rep is run again into the next free rep-N.  Plots need matplotlib (imported only there);
queries need jmespath; the rest is the standard library.  Every problem with the input raises
ResultsError naming the file or parameter and the field.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import random
import re
import statistics
import tempfile
import time

try:
    from ansible_collections.netchannel.deploy.plugins.module_utils import netchannel_ncbench as ncbench
except ImportError:  # outside Ansible (tools/ncresults.py, the unit tests): the file next to this one
    import importlib.util
    import sys

    _name = "netchannel_ncbench"
    if _name not in sys.modules:
        _spec = importlib.util.spec_from_file_location(
            _name, os.path.join(os.path.dirname(os.path.abspath(__file__)), "netchannel_ncbench.py")
        )
        _mod = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _mod
        _spec.loader.exec_module(_mod)
    ncbench = sys.modules[_name]

MARKER = "COMPLETE"
RECORD = "record.json"
CONFIG = "config.json"
RUN_FILE = "run.json"
REPORT_DIR = "report"
FORMAT_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_REP = re.compile(r"rep-(\d+)\Z")


class ResultsError(ValueError):
    """Bad input or a results tree that cannot be used: the message names the file/parameter and field."""


# --------------------------------------------------------------------------- the figures, as data
#
# A figure: the workload ncbench runs, the variants (protocol and per-socket options) and the
# points (one sweep parameter); `setup` says what the host profile must be for a point (applied by
# the roles before it runs, recorded in config.json): `nic.profile`, the NIC role's profile the figure
# runs on (the upstream setup scripts': offloads and jumbo frames for long flows, neither for short
# ones), and `module`, the module's settings.  `metrics` are the panels of the plot.
# Sweeps and durations differ between the profiles.

NC, TCP = "netchannel", "tcp"

FIGURES: dict[str, dict] = {
    "6ab": {
        "title": "Fig. 6a/6b: one long flow from one application thread",
        "tool": "ncbench",
        "bench": {"workload": "stream", "threads": 1, "flows": 1, "write_size": "1M"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "uring_variants": True,
        "sweep": "flows",
        "points": {"smoke": [1], "full": [1]},
        "setup": {"nic": {"profile": "long_flows"}},
        "metrics": ["throughput_gbps", "cores"],
    },
    "6c": {
        "title": "Fig. 6c: 4 KiB messages from one thread, 1 to 4 channels",
        "tool": "ncbench",
        "bench": {"workload": "msgrate", "threads": 1, "flows": 1, "request_size": "4K", "response_size": "4K"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "uring_variants": True,
        "sweep": "channels",
        # TCP has no channels: its one point is the "without NetChannel" reference.
        "points": {"smoke": {NC: [1, 4], TCP: [1]}, "full": {NC: [1, 2, 3, 4], TCP: [1]}},
        "setup": {"nic": {"profile": "short_flows"}, "module": {"channels": "{value}"}},
        "metrics": ["throughput_gbps", "transactions_per_s"],
    },
    "6d": {
        "title": "Fig. 6d: 4 KiB request/response latency, alone and next to 8 bulk flows",
        "tool": "ncbench",
        "bench": {"workload": "rr", "threads": 1, "flows": 1, "request_size": "4K", "response_size": "4K"},
        "variants": {
            NC: {"protocol": NC, "priority": 6},
            "tcp-prio": {"protocol": TCP, "priority": 7},
            TCP: {"protocol": TCP},
        },
        "sweep": "scenario",
        "points": {"smoke": ["isolated", "interference"], "full": ["isolated", "interference"]},
        "background": {"interference": {"workload": "stream", "threads": 8, "flows": 8, "write_size": "1M"}},
        "setup": {"nic": {"profile": "long_flows"}},
        "metrics": ["latency_mean_us", "latency_p50_us", "latency_p99_us", "latency_p999_us"],
    },
    "7": {
        "title": "Fig. 7: Redis, throughput and latency per queue depth",
        # the paper's load: 95 % GETs over 196,608 random keys of 4 KiB values (the smoke profile's
        # key space is smaller: kv_keys), 8 connections, each keeping `depth` requests in flight
        "tool": "nckv",
        "bench": {"threads": 8, "value_size": 4096, "get_ratio": 0.95},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "sweep": "depth",
        "points": {"smoke": [1, 8], "full": [1, 2, 4, 8, 16, 32, 64]},
        "setup": {"nic": {"profile": "short_flows"}},
        "metrics": ["requests_per_s", "latency_p99_us"],
    },
    "8a": {
        "title": "Fig. 8a: throughput per core, everything on one core",
        "tool": "ncbench",
        "bench": {"workload": "stream", "threads": 1, "flows": 1, "write_size": "1M", "pin_cpus": "0"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "sweep": "flows",
        "points": {"smoke": [1], "full": [1]},
        "setup": {"nic": {"profile": "long_flows"}, "module": {"channels": 1, "copy_workers": 0}},
        "metrics": ["throughput_per_core_gbps", "throughput_gbps", "cores"],
    },
    "8b": {
        "title": "Fig. 8b: throughput per core with one data-copy core",
        "tool": "ncbench",
        "bench": {"workload": "stream", "threads": 1, "flows": 1, "write_size": "1M"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "sweep": "flows",
        "points": {"smoke": [1], "full": [1]},
        "setup": {"nic": {"profile": "long_flows"}, "module": {"channels": 1, "copy_workers": 1}},
        "metrics": ["throughput_per_core_gbps", "throughput_gbps", "cores"],
    },
    "8c": {
        "title": "Fig. 8c: throughput per core as channels are added (4 KiB messages)",
        "tool": "ncbench",
        "bench": {"workload": "msgrate", "threads": 1, "flows": 1, "request_size": "4K", "response_size": "4K"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "sweep": "channels",
        "points": {"smoke": {NC: [1, 4], TCP: [1]}, "full": {NC: [1, 2, 3, 4], TCP: [1]}},
        "setup": {"nic": {"profile": "short_flows"}, "module": {"channels": "{value}"}},
        "metrics": ["throughput_per_core_gbps", "throughput_gbps", "cores"],
    },
    "8d": {
        "title": "Fig. 8d: 8 bulk flows, throughput per core, with and without the latency app",
        "tool": "ncbench",
        "bench": {"workload": "stream", "threads": 8, "flows": 8, "write_size": "1M"},
        "variants": {NC: {"protocol": NC}, TCP: {"protocol": TCP}},
        "sweep": "scenario",
        "points": {"smoke": ["isolated"], "full": ["isolated", "interference"]},
        "background": {"interference": {"workload": "rr", "threads": 1, "flows": 1, "request_size": "4K"}},
        "setup": {"nic": {"profile": "long_flows"}},
        "metrics": ["throughput_per_core_gbps", "throughput_gbps", "cores"],
    },
}

PROFILES: dict[str, dict] = {
    # what the lab and CI run: seconds per point, the figures the lab test looks at
    "smoke": {
        "length": 3,
        "warmup": 1,
        "reps": 1,
        "uring": False,
        "figures": ["6ab", "6c", "6d", "7"],
        "kv_keys": 1024,
    },
    # the paper's 60 s points, three repetitions for error bars
    "full": {"length": 60, "warmup": 2, "reps": 3, "uring": True, "figures": list(FIGURES), "kv_keys": 196608},
}
# Fixed cost per point beyond the measured window (start, warm-up drain, collect), for estimates
# before any point has run.
POINT_OVERHEAD_S = 10

# The paper's claims next to which the report puts the measured ratios (verified claims only:
# /work/shared/reference/netchannel-upstream-facts.md section 7; figures 7 and 8 have none).
CLAIMS = {
    "6ab": "One application thread reaches line rate (100 Gbit/s on the paper's testbed), "
    "where one Linux TCP flow does not: NetChannel/TCP throughput of one flow above 1.",
    "6c": "Small-message throughput scales near-linearly with the number of channels: "
    "throughput at N channels close to N times that at 1 channel.",
    "6d": "Microsecond-scale tail latency for the latency-sensitive app even next to bulk flows: "
    "NetChannel's p99 under interference grows much less than TCP's.",
}

UNITS = {
    "throughput_gbps": "Gbit/s",
    "cores": "cores",
    "throughput_per_core_gbps": "Gbit/s per core",
    "transactions_per_s": "messages/s",
    "requests_per_s": "requests/s",
    "latency_mean_us": "µs",
    "latency_p50_us": "µs",
    "latency_p99_us": "µs",
    "latency_p999_us": "µs",
}


def _check_name(value, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ResultsError(f"{what}={value!r}: want letters, digits, '.', '_' or '-' (1-64, no '/')")
    return value


def figure_points(figure: str, variant: str, profile: str) -> list:
    pts = FIGURES[figure]["points"][profile]
    return pts[variant] if isinstance(pts, dict) else pts


def point_name(figure: str, value) -> str:
    return f"{FIGURES[figure]['sweep']}-{value}"


def x_of(point: str):
    """The sweep value a point name carries: 'channels-4' -> 4, 'scenario-isolated' -> 'isolated'."""
    return _kv_value(point.split("-", 1)[-1])


def _setup_for(fig: dict, value) -> dict:
    out = {}
    for part, settings in fig.get("setup", {}).items():
        out[part] = {
            k: (type(value)(v.format(value=value)) if isinstance(v, str) and "{value}" in v else v)
            for k, v in settings.items()
        }
    return out


def expand(profile: str, figures: list[str] | None = None, reps: int | None = None, uring: bool | None = None):
    """The plan of a profile: every (figure, variant, point, rep) with the settings it runs with."""
    if profile not in PROFILES:
        raise ResultsError(f"profile={profile!r}: want one of {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    figures = list(prof["figures"]) if figures is None else list(figures)
    for f in figures:
        if f not in FIGURES:
            raise ResultsError(f"figures: {f!r} is not a figure (want some of {', '.join(FIGURES)})")
    reps = prof["reps"] if reps is None else reps
    if not isinstance(reps, int) or reps < 1:
        raise ResultsError(f"reps={reps!r}: want a whole number >= 1")
    uring = prof["uring"] if uring is None else uring
    items = []
    for f in figures:
        fig = FIGURES[f]
        variants = dict(fig["variants"])
        if uring and fig.get("uring_variants"):
            variants |= {f"{v}-uring": dict(s, uring=True) for v, s in fig["variants"].items()}
        for variant, vset in variants.items():
            for value in figure_points(f, variant.removesuffix("-uring"), profile):
                bench = dict(fig["bench"], **vset, length=prof["length"], warmup=prof["warmup"])
                if fig["sweep"] in ("depth", "flows"):  # ncbench / load generator options
                    bench[fig["sweep"]] = value
                if fig["tool"] == "nckv":  # the key space the load generator fills, then reads
                    bench["keys"] = prof["kv_keys"]
                background = fig.get("background", {}).get(value)
                if background:
                    background = dict(background, protocol=vset["protocol"], length=prof["length"] + prof["warmup"])
                for rep in range(1, reps + 1):
                    items.append(
                        {
                            "figure": f,
                            "variant": variant,
                            "point": point_name(f, value),
                            "x": value,
                            "rep": rep,
                            "tool": fig["tool"],
                            "bench": bench,
                            "background": background,
                            "setup": _setup_for(fig, value),
                        }
                    )
    return items


def shuffle(items: list[dict], seed: int) -> list[dict]:
    """The same items in an order that depends only on the seed."""
    out = list(items)
    random.Random(seed).shuffle(out)  # noqa: S311 - an order of experiments, not a secret
    return out


# --------------------------------------------------------------------------- the tree


def run_dir(results_dir: str, run_id: str) -> str:
    return os.path.join(results_dir, _check_name(run_id, "run_id"))


def point_dir(results_dir: str, run_id: str, figure: str, variant: str, point: str) -> str:
    return os.path.join(
        run_dir(results_dir, run_id),
        _check_name(figure, "figure"),
        _check_name(variant, "variant"),
        _check_name(point, "point"),
    )


def reps_of(pdir: str) -> list[tuple[int, str, bool]]:
    """[(N, path, complete)] for every rep-N under a point directory, by N."""
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        m = _REP.match(name)
        if m and os.path.isdir(os.path.join(pdir, name)):
            path = os.path.join(pdir, name)
            out.append((int(m.group(1)), path, os.path.isfile(os.path.join(path, MARKER))))
    return sorted(out)


def _atomic_write(path: str, data: bytes) -> None:
    """Write data to path through a temp file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_bytes(doc) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def open_run(results_dir: str, run_id: str, profile: str, *, figures=None, seed=None, reps=None, check=False):
    """run.json of a run: created on first use, afterwards the same settings are required.

    Returns (run document, created)."""
    rdir = run_dir(results_dir, run_id)
    path = os.path.join(rdir, RUN_FILE)
    expand(profile, figures, reps)  # validates profile, figures and reps
    prof = PROFILES[profile]
    wanted = {
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "profile": profile,
        "figures": list(prof["figures"] if figures is None else figures),
        "seed": seed,
        "reps": prof["reps"] if reps is None else reps,
    }
    if os.path.exists(path):
        have = load_json(path)
        for key in ("profile", "figures", "seed", "reps"):
            if have.get(key) != wanted[key]:
                raise ResultsError(
                    f"{path}: run {run_id} was started with {key}={have.get(key)!r}, not {wanted[key]!r} "
                    "(use the same settings to resume, or a new run id)"
                )
        return have, False
    doc = dict(wanted, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if not check:
        os.makedirs(rdir, exist_ok=True)
        _atomic_write(path, _json_bytes(doc))
    return doc, True


# What the experiments role runs: these tools, and points whose module settings the module role's
# table has.  Any other point stays in the plan (the report shows it missing) but is skipped, with
# its reason, and left out of the time estimate.
RUNNABLE_TOOLS = ("ncbench", "nckv")
MODULE_KEYS = ("channels",)
NIC_KEYS = ("profile",)


def skip_reason(item: dict) -> str:
    """Why the role cannot run this plan item, or '' when it can."""
    if item.get("tool") not in RUNNABLE_TOOLS:
        return f"figure {item.get('figure')} runs {item.get('tool')}: not run by this role"
    mod = (item.get("setup") or {}).get("module") or {}
    missing = sorted(k for k in mod if k not in MODULE_KEYS)
    if missing:
        return f"needs module settings {', '.join(missing)} ({mod}) that the module does not have yet"
    nic = (item.get("setup") or {}).get("nic") or {}
    missing = sorted(k for k in nic if k not in NIC_KEYS)
    if missing:
        return f"needs NIC settings {', '.join(missing)} ({nic}) that the role does not apply"
    return ""


def plan(results_dir: str, run_id: str, profile: str, *, figures=None, seed=None, reps=None, check=False) -> dict:
    """The run's plan and what is left of it: the items whose rep has no complete rep-N yet, each
    with `skip` (skip_reason()); the estimate counts only the ones that will run."""
    doc, created = open_run(results_dir, run_id, profile, figures=figures, seed=seed, reps=reps, check=check)
    items = expand(profile, doc["figures"], doc["reps"])
    if doc["seed"] is not None:
        items = shuffle(items, doc["seed"])
    complete: dict[tuple, int] = {}
    incomplete: dict[tuple, int] = {}
    for it in items:
        key = (it["figure"], it["variant"], it["point"])
        if key not in complete:
            reps = reps_of(point_dir(results_dir, run_id, *key))
            complete[key] = sum(1 for _, _, ok in reps if ok)
            incomplete[key] = sum(1 for _, _, ok in reps if not ok)
    todo = [
        dict(it, skip=skip_reason(it))
        for it in items
        if it["rep"] > complete[(it["figure"], it["variant"], it["point"])]
    ]
    skipped = sum(1 for it in todo if it["skip"])
    prof = PROFILES[profile]
    per_point = prof["length"] + prof["warmup"] + POINT_OVERHEAD_S
    return {
        "run_id": run_id,
        "run_dir": run_dir(results_dir, run_id),
        "profile": profile,
        "created": created,
        "total": len(items),
        "complete": len(items) - len(todo),
        "incomplete_dirs": sum(incomplete.values()),
        "remaining": todo,
        "skipped": skipped,
        "estimated_s": _estimate(results_dir, run_id, len(todo) - skipped, per_point),
    }


def _estimate(results_dir: str, run_id: str, left: int, default_per_point: float) -> float:
    rdir = run_dir(results_dir, run_id)
    durations = [r.get("duration_s") for r in records(rdir)] if os.path.isdir(rdir) else []
    durations = [d for d in durations if isinstance(d, (int, float)) and d > 0]
    per = statistics.mean(durations) if durations else default_per_point
    return round(per * left, 1)


def _fmt_s(s: float) -> str:
    s = round(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def progress(item: dict, index: int, total: int, elapsed_s: float, remaining_s: float) -> str:
    """One line for long runs: figure, point i of n, elapsed and estimated remaining time."""
    return (
        f"figure {item['figure']} {item['variant']} {item['point']} rep {item['rep']}: "
        f"point {index} of {total}, elapsed {_fmt_s(elapsed_s)}, about {_fmt_s(remaining_s)} left"
    )


def run_progress(results_dir: str, run_id: str, item: dict) -> str:
    """The progress line after `item` (figure, variant, point, rep) was stored: its place among the
    run's repetitions, the time the complete ones took and the estimate for the rest."""
    doc = load_json(os.path.join(run_dir(results_dir, run_id), RUN_FILE))
    now = plan(
        results_dir, run_id, doc["profile"], figures=doc["figures"], seed=doc["seed"], reps=doc["reps"], check=True
    )
    rdir = run_dir(results_dir, run_id)
    elapsed = sum(r.get("duration_s") or 0 for r in records(rdir))
    return progress(item, now["complete"], now["total"], elapsed, now["estimated_s"])


# --------------------------------------------------------------------------- parsing and metrics


def _ncbench_metrics(rec, source: str) -> dict:
    res = rec.results
    if rec.role != "client":
        raise ResultsError(f"{source}: role={rec.role}: the measured output must be the client's")
    if res.get("bytes_agree") != "yes":
        raise ResultsError(f"{source}: bytes_agree={res.get('bytes_agree')!r}: the two ends disagree, not a result")
    workload = rec.options["workload"]
    # stream: the receiver's figure (docs/bench-tool.md section 3); rr/msgrate: both directions, client view
    bps = rec.remote.get("throughput_bps") if workload == "stream" else res["throughput_bps"]
    if bps is None:
        raise ResultsError(f"{source}: stream client results without remote_throughput_bps")
    cores = res.get("max_host_busy_cores", res["cpu_host_busy_cores"])
    out = {
        "throughput_gbps": bps / 1e9,
        "cores": cores,
        "throughput_per_core_gbps": (bps / 1e9 / cores) if cores else None,
        "window_s": res["window_s"],
    }
    if "transactions_per_s" in res:
        out["transactions_per_s"] = res["transactions_per_s"]
    lat = rec.latency_us
    if lat:
        out |= {f"latency_{k}_us": lat[k] for k in ("mean", "p50", "p90", "p99", "p999", "max")}
    return out


# nckv (module_src/bench/nckv.c, figure 7's load generator): what every complete run prints
NCKV_OPTIONS = ("conns", "depth", "get_ratio", "keys", "value_size", "length", "populate")
NCKV_RESULTS = ("window_s", "requests", "requests_per_s", "gets", "sets", "get_hits", "get_misses", "latency_count")
NCKV_LATENCY = ("mean", "min", "p50", "p90", "p99", "p999", "max")


def _kv_value(raw: str):
    """An int, else a float, else the text."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_nckv(text: str, source: str) -> dict:
    """nckv's key=value output: {"options": {...}, "results": {...}}; ResultsError naming the line."""
    doc: dict[str, dict] = {}
    section = None
    for no, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{no}"
        if not line.strip():
            continue
        if line.startswith("nckv: "):  # stderr merged into the file
            raise ResultsError(f"{where}: the run failed: {line}")
        if line.startswith("#"):
            section = line[1:].strip()
            if section != ("results" if "options" in doc else "options") or section in doc:
                raise ResultsError(f"{where}: section {line!r} (want '# options' then '# results', once each)")
            doc[section] = {}
            continue
        key, eq, raw = line.partition("=")
        if section is None or not eq or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise ResultsError(f"{where}: {line[:80]!r} is not a key=value line of a section")
        if key in doc[section]:
            raise ResultsError(f"{where}: {key} given twice")
        value = _kv_value(raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise ResultsError(f"{where}: {key}={raw}: want a finite number")
        doc[section][key] = value
    if "options" not in doc:
        raise ResultsError(f"{source}: no '# options' line (not nckv output?)")
    if "results" not in doc:
        raise ResultsError(f"{source}: options and no results (the run failed or was killed?)")
    for sec, keys in (("options", NCKV_OPTIONS), ("results", NCKV_RESULTS)):
        missing = [k for k in keys if k not in doc[sec]]
        bad = [f"{k}={doc[sec][k]!r}" for k in keys if k in doc[sec] and not isinstance(doc[sec][k], int | float)]
        if missing or bad:
            raise ResultsError(
                f"{source}: {sec} {'without ' + ', '.join(missing) if missing else ''}"
                f"{'; ' if missing and bad else ''}{'not numbers: ' + ', '.join(bad) if bad else ''}"
            )
    return doc


def _nckv_metrics(doc: dict, source: str) -> dict:
    """Figure 7's metrics from nckv: requests/s over the measured window, the latency of every
    request whose reply came in it (GET and SET mixed, as the paper's load), the GET share."""
    opt, res = doc["options"], doc["results"]
    if res["requests"] <= 0 or res["requests_per_s"] <= 0:
        raise ResultsError(f"{source}: requests={res['requests']}: no request completed in the window, not a result")
    if opt["populate"] and res["get_misses"]:
        raise ResultsError(
            f"{source}: get_misses={res['get_misses']} with populate=1: GETs found no value on a filled key space"
        )
    if res["gets"] + res["sets"] != res["requests"] or res["latency_count"] != res["requests"]:
        raise ResultsError(
            f"{source}: gets={res['gets']} + sets={res['sets']}, latency_count={res['latency_count']}: "
            f"do not add up to requests={res['requests']}"
        )
    if res["get_hits"] + res["get_misses"] != res["gets"]:
        raise ResultsError(
            f"{source}: get_hits={res['get_hits']} + get_misses={res['get_misses']} is not gets={res['gets']}"
        )
    lat = {k: res.get(f"latency_{k}_us") for k in NCKV_LATENCY}
    for k, v in lat.items():
        if not isinstance(v, int | float):
            raise ResultsError(f"{source}: latency_{k}_us={v!r}: want a number")
    order = [(k, v) for k, v in lat.items() if k != "mean"]
    for (lo_name, lo), (hi_name, hi) in itertools.pairwise(order):
        if lo > hi:
            raise ResultsError(f"{source}: latency_{lo_name}_us={lo:g} above latency_{hi_name}_us={hi:g}: out of order")
    if not lat["min"] <= lat["mean"] <= lat["max"]:
        raise ResultsError(
            f"{source}: latency_mean_us={lat['mean']:g} outside min {lat['min']:g} .. max {lat['max']:g}"
        )
    out = {"requests_per_s": res["requests_per_s"], "get_share": res["gets"] / res["requests"]}
    out |= {f"latency_{k}_us": v for k, v in lat.items() if k != "min"}
    if isinstance(res.get("cpu_host_busy_cores"), int | float):
        out["cores"] = res["cpu_host_busy_cores"]
    return out


def parse_output(kind: str, text: str, source: str):
    """Parse one raw output by kind; ResultsError naming the file and field on anything wrong."""
    if kind == "ncbench":
        try:
            if text.lstrip().startswith("{"):
                return ncbench.parse_json(text, source)
            return ncbench.parse_text(text, source)
        except ncbench.NcbenchParseError as exc:
            raise ResultsError(str(exc)) from None
    if kind == "nckv":
        return parse_nckv(text, source)
    if kind == "text":
        return None
    raise ResultsError(f"{source}: kind={kind!r}, want ncbench, nckv or text")


def metrics_of(kind: str, parsed, source: str) -> dict:
    if kind == "ncbench":
        if isinstance(parsed, dict):
            raise ResultsError(f"{source}: the measured output must be ncbench's key=value text, not its JSON record")
        return _ncbench_metrics(parsed, source)
    if kind == "nckv":
        return _nckv_metrics(parsed, source)
    raise ResultsError(f"{source}: kind={kind!r} has no metrics (the measured output must be ncbench or nckv)")


def _summary(kind: str, parsed):
    """What the record keeps of a parsed output (JSON-able)."""
    if parsed is None:
        return None
    if kind == "ncbench" and not isinstance(parsed, dict):
        return {"options": parsed.options, "results": parsed.results, "interval": parsed.interval}
    return parsed


# --------------------------------------------------------------------------- storing one rep


def _read_output(out: dict, where: str) -> bytes:
    if "content" in out and out["content"] is not None:
        return out["content"].encode() if isinstance(out["content"], str) else out["content"]
    src = out.get("src")
    if not src:
        raise ResultsError(f"{where}: neither src nor content given")
    try:
        with open(src, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ResultsError(f"{where}: src={src!r}: {exc.strerror}") from None


def check_outputs(outputs: list[dict], primary: str) -> list[dict]:
    """Validate the outputs' descriptions: [{host, name, kind, data}]."""
    if not outputs:
        raise ResultsError("outputs: empty, want every host's raw outputs")
    seen = set()
    got = []
    for i, out in enumerate(outputs):
        where = f"outputs[{i}]"
        host = _check_name(out.get("host"), f"{where}.host")
        name = _check_name(out.get("name"), f"{where}.name")
        kind = out.get("kind") or "text"
        if (host, name) in seen:
            raise ResultsError(f"{where}: {host}/{name} given twice")
        seen.add((host, name))
        got.append({"host": host, "name": name, "kind": kind, "data": _read_output(out, where)})
    prim = [o for o in got if f"{o['host']}/{o['name']}" == primary]
    if not prim:
        raise ResultsError(f"primary={primary!r}: not one of the outputs (want HOST/NAME of the measured output)")
    return got


def record_rep(
    results_dir: str,
    run_id: str,
    *,
    figure: str,
    variant: str,
    point: str,
    outputs: list[dict],
    primary: str,
    config: dict,
    params: dict | None = None,
    duration_s: float | None = None,
    check: bool = False,
) -> dict:
    """Store one repetition: raw outputs and config first, then the parsed record, the marker last.

    The rep goes into the next free rep-N of the point (never an existing directory).  If an
    output does not parse, the raw files stay (no marker: the rep counts as incomplete) and
    ResultsError says which file and field."""
    pdir = point_dir(results_dir, run_id, figure, variant, point)
    if not os.path.isfile(os.path.join(run_dir(results_dir, run_id), RUN_FILE)):
        raise ResultsError(f"run_id={run_id!r}: no {RUN_FILE} under {results_dir} (plan the run first)")
    if not isinstance(config, dict):
        raise ResultsError(f"config: want a dict (kernel, sysctls, nic, module, tools), got {type(config).__name__}")
    outs = check_outputs(outputs, primary)
    # parse before writing anything in check mode; in real mode the raw files are kept even if this fails
    parsed, error = {}, None
    try:
        for o in outs:
            src = f"{o['host']}/{o['name']}"
            parsed[src] = (o["kind"], parse_output(o["kind"], o["data"].decode("utf-8", errors="replace"), src))
        kind, prim = parsed[primary]
        metrics = metrics_of(kind, prim, primary)
    except ResultsError as exc:
        error = exc
    existing = reps_of(pdir)
    n = (existing[-1][0] + 1) if existing else 1
    rdir = os.path.join(pdir, f"rep-{n}")
    if check:
        if error:
            raise error
        return {"rep_dir": rdir, "rep": n, "metrics": metrics, "changed": True}
    os.makedirs(pdir, exist_ok=True)
    try:
        os.mkdir(rdir)  # fails if a concurrent writer took it: never write into an existing rep
    except FileExistsError:
        raise ResultsError(f"{rdir}: already exists (another writer?); nothing written") from None
    for o in outs:
        hdir = os.path.join(rdir, "raw", o["host"])
        os.makedirs(hdir, exist_ok=True)
        _atomic_write(os.path.join(hdir, o["name"]), o["data"])
    _atomic_write(os.path.join(rdir, CONFIG), _json_bytes(config))
    if error:
        _atomic_write(os.path.join(rdir, "error.txt"), f"{error}\n".encode())
        raise ResultsError(f"{error} (raw outputs kept in {rdir}, rep left incomplete)")
    rec = {
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "figure": figure,
        "variant": variant,
        "point": point,
        "x": x_of(point),
        "rep": n,
        "params": params or {},
        "primary": primary,
        "metrics": metrics,
        "duration_s": duration_s,
        "outputs": {src: {"kind": k, "parsed": _summary(k, p)} for src, (k, p) in parsed.items()},
        "config": config,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _atomic_write(os.path.join(rdir, RECORD), _json_bytes(rec))
    _atomic_write(os.path.join(rdir, MARKER), f"complete {rec['time']}\n".encode())
    return {"rep_dir": rdir, "rep": n, "metrics": metrics, "changed": True}


# --------------------------------------------------------------------------- reading a run


def load_json(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise ResultsError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not JSON: {exc}") from None


def records(rdir: str) -> list[dict]:
    """Every complete rep's record of a run directory, in figure/variant/point/rep order."""
    if not os.path.isdir(rdir):
        raise ResultsError(f"{rdir}: no such run directory")
    out = []
    for root, dirs, files in os.walk(rdir):
        dirs[:] = sorted(d for d in dirs if d != REPORT_DIR)
        if MARKER in files and RECORD in files:
            rec = load_json(os.path.join(root, RECORD))
            for key in ("figure", "variant", "point", "rep", "metrics"):
                if key not in rec:
                    raise ResultsError(f"{os.path.join(root, RECORD)}: no {key!r} member")
            out.append(rec)
    return sorted(out, key=lambda r: (r["figure"], r["variant"], r["point"], r["rep"]))


def query(rdir: str, expression: str):
    """A JMESPath expression over the list of a run's records."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        raise ResultsError(f"expression {expression!r}: {exc}") from None
    return compiled.search(records(rdir))


def list_runs(results_dir: str) -> list[dict]:
    out = []
    if not os.path.isdir(results_dir):
        return out
    for name in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, name, RUN_FILE)
        if os.path.isfile(path):
            doc = load_json(path)
            recs = records(os.path.join(results_dir, name))
            out.append(
                {"run_id": name, "profile": doc.get("profile"), "created": doc.get("created"), "reps": len(recs)}
            )
    return out


# --------------------------------------------------------------------------- tables, plots, report


def _x_order(figure: str):
    """Sort key for a figure's points: the order the figure declares them in, numbers by value."""
    pts = FIGURES.get(figure, {}).get("points", {}).get("full", [])
    declared = [x for per in pts.values() for x in per] if isinstance(pts, dict) else list(pts)

    def key(x):
        if isinstance(x, (int, float)):
            return (0, x, "")
        return (1, declared.index(x) if x in declared else len(declared), str(x))

    return key


def aggregate(recs: list[dict], figure: str) -> dict:
    """{metric: {variant: {x: (mean, stdev, n)}}} for one figure."""
    fig = FIGURES.get(figure, {})
    out: dict = {}
    for r in recs:
        if r["figure"] != figure:
            continue
        x = r.get("x", x_of(r["point"]))
        for m in fig.get("metrics", sorted(r["metrics"])):
            v = r["metrics"].get(m)
            if isinstance(v, (int, float)) and not math.isnan(v):
                out.setdefault(m, {}).setdefault(r["variant"], {}).setdefault(x, []).append(v)
    for per_variant in out.values():
        for per_x in per_variant.values():
            for x, vals in per_x.items():
                per_x[x] = (statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))
    return out


def figure_csv(recs: list[dict], figure: str) -> str:
    """One row per complete rep: figure, variant, point, x, rep, then every metric of the figure."""
    rows = [r for r in recs if r["figure"] == figure]
    metrics = FIGURES.get(figure, {}).get("metrics") or sorted({m for r in rows for m in r["metrics"]})
    extra = sorted({m for r in rows for m in r["metrics"]} - set(metrics))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["figure", "variant", "point", "x", "rep", *metrics, *extra])
    for r in rows:
        x = r.get("x", x_of(r["point"]))
        w.writerow(
            [r["figure"], r["variant"], r["point"], x, r["rep"], *(r["metrics"].get(m, "") for m in metrics + extra)]
        )
    return buf.getvalue()


def plot_figure(recs: list[dict], figure: str):
    """A matplotlib Figure: one panel per metric, the variants' bars side by side per point,
    error bars = standard deviation of the repetitions.  Needs matplotlib (Agg backend)."""
    try:
        import matplotlib
    except ImportError:
        raise ResultsError("plots need matplotlib on the controller (pip install matplotlib)") from None
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    agg = aggregate(recs, figure)
    if not agg:
        raise ResultsError(f"figure {figure}: no complete results to plot")
    metrics = [m for m in FIGURES.get(figure, {}).get("metrics", sorted(agg)) if m in agg]
    fig = Figure(figsize=(4.5 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        per_variant = agg[metric]
        variants = sorted(per_variant, key=lambda v: (not v.startswith(NC), v))
        xs = sorted({x for pv in per_variant.values() for x in pv}, key=_x_order(figure))
        width = 0.8 / max(len(variants), 1)
        for i, variant in enumerate(variants):
            pos, means, errs = [], [], []
            for j, x in enumerate(xs):
                if x in per_variant[variant]:
                    mean, sd, _ = per_variant[variant][x]
                    pos.append(j - 0.4 + width * (i + 0.5))
                    means.append(mean)
                    errs.append(sd)
            ax.bar(pos, means, width, yerr=errs, capsize=3, label=variant)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_xlabel(FIGURES.get(figure, {}).get("sweep", "point"))
        ax.set_ylabel(f"{metric} ({UNITS.get(metric, '')})")
        ax.legend(fontsize="small")
    fig.suptitle(FIGURES.get(figure, {}).get("title", figure), fontsize="medium")
    return fig


def figure_series(fig) -> dict:
    """{panel y label: {series label: [bar heights]}} of a plotted figure (what the PNG shows)."""
    out = {}
    for ax in fig.axes:
        panel = {}
        for container in ax.containers:
            label = container.get_label()
            if hasattr(container, "patches"):
                panel[label] = [p.get_height() for p in container.patches]
        out[ax.get_ylabel()] = panel
    return out


def png_bytes(fig) -> bytes:
    """The PNG of a figure, with the series it shows in its metadata (Description, JSON)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Description": json.dumps(figure_series(fig))})
    return buf.getvalue()


def save_png(fig, path: str) -> None:
    _atomic_write(path, png_bytes(fig))


def _differs(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read() != data
    except FileNotFoundError:
        return True


def _mean(agg: dict, metric: str, variant: str, x):
    try:
        return agg[metric][variant][x][0]
    except KeyError:
        return None


def _ratio(a, b):
    return a / b if (a is not None and b not in (None, 0)) else None


def verdicts(recs: list[dict], environment: str) -> list[dict]:
    """Each claim's measured ratio and whether it holds in this run (None: not measured)."""
    out = []
    emulated = environment == "lab"
    agg = aggregate(recs, "6ab")
    if agg:
        r = _ratio(_mean(agg, "throughput_gbps", NC, 1), _mean(agg, "throughput_gbps", TCP, 1))
        out.append(
            {
                "figure": "6ab",
                "claim": CLAIMS["6ab"],
                "measured": "NetChannel/TCP throughput, one flow",
                "ratio": r,
                "holds": None if r is None else r > 1.0,
            }
        )
    agg = aggregate(recs, "6c")
    if agg:
        per = agg.get("throughput_gbps", {}).get(NC, {})
        n_max = max(per) if per else None
        r = _ratio(per.get(n_max, (None,))[0] if per else None, per.get(1, (None,))[0])
        eff = r / n_max if (r is not None and n_max) else None
        out.append(
            {
                "figure": "6c",
                "claim": CLAIMS["6c"],
                "measured": f"NetChannel throughput at {n_max} channels / at 1 channel (ideal {n_max})"
                if n_max and n_max > 1
                else "NetChannel at one channel count only: no scaling measured",
                "ratio": r,
                "holds": None if eff is None or n_max == 1 else eff >= 0.7,
            }
        )
    agg = aggregate(recs, "6d")
    if agg:
        nc_infl = _ratio(_mean(agg, "latency_p99_us", NC, "interference"), _mean(agg, "latency_p99_us", NC, "isolated"))
        tcp_infl = _ratio(
            _mean(agg, "latency_p99_us", TCP, "interference"), _mean(agg, "latency_p99_us", TCP, "isolated")
        )
        r = _ratio(_mean(agg, "latency_p99_us", NC, "interference"), _mean(agg, "latency_p99_us", TCP, "interference"))
        out.append(
            {
                "figure": "6d",
                "claim": CLAIMS["6d"],
                "measured": "NetChannel/TCP p99 under interference"
                + (
                    f" (p99 growth from isolated: NetChannel {nc_infl:.2f}x, TCP {tcp_infl:.2f}x)"
                    if nc_infl and tcp_infl
                    else ""
                ),
                "ratio": r,
                "holds": None if nc_infl is None or tcp_infl is None or r is None else (nc_infl < tcp_infl and r < 1),
            }
        )
    for v in out:
        v["emulated"] = emulated
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_report(rdir: str, recs: list[dict], environment: str, images: dict[str, str]) -> str:
    run = load_json(os.path.join(rdir, RUN_FILE))
    lines = [
        f"# NetChannel experiments: run {run.get('run_id')}",
        "",
        f"Profile `{run.get('profile')}`, {len(recs)} complete repetitions, created {run.get('created')}, "
        f"environment: {environment}.",
        "",
    ]
    if environment == "lab":
        lines += [
            "**On the lab**: software emulation (QEMU TCG on shared cores), so trends only. Absolute numbers "
            "say nothing about real NICs; only the direction of a difference means anything, and weakly.",
            "",
        ]
    lines += [
        "## The paper's claims",
        "",
        "| figure | claim | measured | ratio | holds here |",
        "|---|---|---|---|---|",
    ]
    vs = verdicts(recs, environment)
    for v in vs:
        holds = {None: "not measured", True: "yes", False: "no"}[v["holds"]]
        if v["holds"] is not None and v["emulated"]:
            holds += " (trend only, emulated)"
        lines.append(f"| {v['figure']} | {v['claim']} | {v['measured']} | {_fmt(v['ratio'])} | {holds} |")
    if not vs:
        lines.append("| - | no figure with a claim was measured | | | |")
    lines += [
        "",
        "Figures 7 and 8 have no verified claim to compare with (the paper's values were not at hand); "
        "their NetChannel/TCP ratios are listed below.",
        "",
    ]
    for figure in sorted({r["figure"] for r in recs}):
        agg = aggregate(recs, figure)
        lines += [f"## {FIGURES.get(figure, {}).get('title', figure)}", ""]
        if figure in images:
            lines += [f"![{figure}]({images[figure]})", ""]
        lines += [f"Data: `{figure}.csv`.", ""]
        lines += ["| metric | point | " + " | ".join(_variants(agg)) + " | NetChannel/TCP |"]
        lines += ["|---|---|" + "---|" * (len(_variants(agg)) + 1)]
        for metric, per_variant in agg.items():
            xs = sorted({x for pv in per_variant.values() for x in pv}, key=_x_order(figure))
            for x in xs:
                cells = []
                for v in _variants(agg):
                    got = per_variant.get(v, {}).get(x)
                    cells.append("-" if got is None else f"{got[0]:.4g} ± {got[1]:.2g} (n={got[2]})")
                ratio = _ratio(_mean(agg, metric, NC, x), _mean(agg, metric, TCP, x))
                lines.append(f"| {metric} | {x} | " + " | ".join(cells) + f" | {_fmt(ratio)} |")
        lines.append("")
    return "\n".join(lines)


def _variants(agg: dict) -> list[str]:
    vs = {v for pv in agg.values() for v in pv}
    return sorted(vs, key=lambda v: (not v.startswith(NC), v))


def report(rdir: str, environment: str = "lab", check: bool = False) -> dict:
    """CSV per figure, PNG per figure and report.md under <run>/report/ from the complete reps
    (also the replot-only mode: nothing is measured)."""
    if environment not in ("lab", "hardware"):
        raise ResultsError(f"environment={environment!r}: want lab or hardware")
    recs = records(rdir)
    if not recs:
        raise ResultsError(f"{rdir}: no complete repetition to report on")
    out_dir = os.path.join(rdir, REPORT_DIR)
    figures = sorted({r["figure"] for r in recs})
    files = [os.path.join(out_dir, f"{f}.csv") for f in figures]
    files += [os.path.join(out_dir, f"{f}.png") for f in figures]
    files.append(os.path.join(out_dir, "report.md"))
    images = {f: f"{f}.png" for f in figures}
    content = {}
    for f in figures:
        content[os.path.join(out_dir, f"{f}.csv")] = figure_csv(recs, f).encode()
        content[os.path.join(out_dir, f"{f}.png")] = png_bytes(plot_figure(recs, f))
    content[files[-1]] = render_report(rdir, recs, environment, images).encode()
    changed = [path for path in files if _differs(path, content[path])]
    if not check:
        os.makedirs(out_dir, exist_ok=True)
        for path in changed:
            _atomic_write(path, content[path])
    return {
        "report": files[-1],
        "files": files,
        "changed": changed,
        "figures": figures,
        "records": len(recs),
        "verdicts": verdicts(recs, environment),
    }
