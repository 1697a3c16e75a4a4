# SPDX-License-Identifier: GPL-2.0-only
"""Read ncbench's output: the key=value text it prints and its --json record.

Part of the collection so that the experiments stage (plugins/module_utils/netchannel_results.py)
and users of the installed collection read ncbench output with the same code as the project's
tools; tools/ncbench_parse.py is a thin command-line wrapper around it.  The format is described
in docs/bench-tool.md.

    rec = load("run.txt")                    # Record for text, dict for a JSON record
    rec.options["protocol"], rec.results["throughput_bps"]
    rec.flows[0]["tx_bytes"], rec.latency_us["p99"], rec.cpu["remote"]

Standard library only.  Every problem raises NcbenchParseError naming the file, the line and the
value; nothing is guessed.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("options", "interval", "results")
# values that stay text even when they look like numbers
TEXT_KEYS = {
    "ncbench_version",
    "role",
    "host",
    "protocol",
    "workload",
    "pin_cpus",
    "json",
    "hostname",
    "kernel",
    "bytes_agree",
}
REQUIRED_OPTIONS = ("ncbench_version", "role", "protocol", "workload", "threads", "flows", "length", "warmup")
REQUIRED_RESULTS = (
    "window_s",
    "tx_bytes",
    "rx_bytes",
    "throughput_bps",
    "cpu_user_s",
    "cpu_sys_s",
    "cpu_host_busy_cores",
)
LATENCY_KEYS = ("count", "mean_us", "min_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us")
INTERVAL_COLUMNS = ("time_s", "phase", "interval_s", "tx_bytes", "rx_bytes", "transactions", "throughput_bps")
PROTOCOLS = ("tcp", "netchannel")
WORKLOADS = ("stream", "rr", "msgrate")
_KEY = re.compile(r"[a-z][a-z0-9_]*\Z")
_FLOW = re.compile(r"(remote_)?flow(\d+)_(\w+)\Z")


class NcbenchParseError(ValueError):
    """Input that is not ncbench output."""


def _value(key: str, raw: str, where: str):
    if key.removeprefix("remote_") in TEXT_KEYS:
        return raw
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        raise NcbenchParseError(f"{where}: {key}={raw!r} is not a number") from None


@dataclass
class Record:
    """One ncbench run as one side printed it."""

    options: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    interval: list = field(default_factory=list)
    source: str = "<text>"
    notes: list = field(default_factory=list)  # "ncbench: ..." lines from stderr

    @property
    def role(self) -> str:
        return self.options["role"]

    def _flows(self, remote: bool) -> list[dict]:
        flows: dict[int, dict] = {}
        for key, val in self.results.items():
            m = _FLOW.match(key)
            if m and bool(m.group(1)) == remote:
                flows.setdefault(int(m.group(2)), {})[m.group(3)] = val
        return [dict(id=i, **flows[i]) for i in sorted(flows)]

    @property
    def flows(self) -> list[dict]:
        """Per-flow results of this side: [{"id": 0, "tx_bytes": ..., ...}]."""
        return self._flows(remote=False)

    @property
    def remote_flows(self) -> list[dict]:
        """Per-flow results the server reported (client output only)."""
        return self._flows(remote=True)

    @property
    def remote(self) -> dict:
        """The server's results without the remote_ prefix, per-flow keys left out."""
        return {
            k.removeprefix("remote_"): v
            for k, v in self.results.items()
            if k.startswith("remote_") and not _FLOW.match(k)
        }

    @property
    def latency_us(self) -> dict | None:
        """{"count", "mean", "min", "p50", "p90", "p99", "p999", "max"} or None (stream, server)."""
        if "latency_count" not in self.results:
            return None
        return {k.removesuffix("_us"): self.results[f"latency_{k}"] for k in LATENCY_KEYS}

    @property
    def cpu(self) -> dict:
        """{"local": {...}, "remote": {...} or None} with the cpu_ prefix removed."""

        def pick(d):
            got = {k[4:]: v for k, v in d.items() if k.startswith("cpu_")}
            return got or None

        return {"local": pick(self.results), "remote": pick(self.remote)}


def parse_text(text: str, source: str = "<text>") -> Record:
    """The key=value output of ncbench (client or server)."""
    rec = Record(source=source)
    section = None
    header = None
    for no, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{no}"
        if not line.strip():
            continue
        if line.startswith("ncbench: "):  # stderr merged into the file (2>&1)
            if line.startswith("ncbench: error:"):
                raise NcbenchParseError(f"{where}: the run failed: {line}")
            rec.notes.append(line)
            continue
        if line.startswith("#"):
            name = line[1:].strip()
            if name not in SECTIONS:
                raise NcbenchParseError(f"{where}: unknown section {line!r} (want # {', # '.join(SECTIONS)})")
            if SECTIONS.index(name) < (SECTIONS.index(section) if section else -1):
                raise NcbenchParseError(f"{where}: section {name} after {section}")
            section = name
            continue
        if section is None:
            raise NcbenchParseError(f"{where}: {line[:80]!r} before the '# options' line")
        if section == "interval":
            row = next(csv.reader([line]))
            if header is None:
                if tuple(row) != INTERVAL_COLUMNS:
                    raise NcbenchParseError(f"{where}: interval header {line!r}, want {','.join(INTERVAL_COLUMNS)}")
                header = row
                continue
            if len(row) != len(header):
                raise NcbenchParseError(f"{where}: interval row has {len(row)} fields, want {len(header)}")
            sample = {k: (v if k == "phase" else _value(k, v, where)) for k, v in zip(header, row, strict=True)}
            if sample["phase"] not in ("warmup", "measure"):
                raise NcbenchParseError(f"{where}: interval phase {sample['phase']!r}")
            rec.interval.append(sample)
            continue
        key, eq, raw = line.partition("=")
        if not eq or not _KEY.match(key):
            raise NcbenchParseError(f"{where}: {line[:80]!r} is not a key=value line")
        target = rec.options if section == "options" else rec.results
        if key in target:
            raise NcbenchParseError(f"{where}: {key} given twice")
        target[key] = _value(key, raw, where)
    _validate(rec)
    return rec


def _validate(rec: Record) -> None:
    src = rec.source
    missing = [k for k in REQUIRED_OPTIONS if k not in rec.options]
    if missing:
        raise NcbenchParseError(f"{src}: options without {', '.join(missing)} (not ncbench output?)")
    if rec.options["protocol"] not in PROTOCOLS:
        raise NcbenchParseError(f"{src}: protocol={rec.options['protocol']!r}, want one of {PROTOCOLS}")
    if rec.options["workload"] not in WORKLOADS:
        raise NcbenchParseError(f"{src}: workload={rec.options['workload']!r}, want one of {WORKLOADS}")
    if not rec.results:
        raise NcbenchParseError(f"{src}: no '# results' section (the run failed or the output is cut short)")
    missing = [k for k in REQUIRED_RESULTS if k not in rec.results]
    if missing:
        raise NcbenchParseError(f"{src}: results without {', '.join(missing)}")
    if len(rec.flows) != rec.options["flows"]:
        raise NcbenchParseError(f"{src}: {len(rec.flows)} flows in the results, flows={rec.options['flows']}")
    if rec.options["role"] == "client":
        if rec.results.get("bytes_agree") not in ("yes", "no"):
            raise NcbenchParseError(f"{src}: client results without bytes_agree=yes|no")
        if rec.options["workload"] != "stream" and rec.latency_us is None:
            raise NcbenchParseError(f"{src}: {rec.options['workload']} client results without latency_*")


def parse_json(text: str, source: str = "<json>") -> dict:
    """The --json record, checked for the members docs/bench-tool.md promises."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NcbenchParseError(f"{source}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("tool") != "ncbench":
        raise NcbenchParseError(f'{source}: not an ncbench record (no "tool": "ncbench")')
    for key, kind in (
        ("version", str),
        ("host", dict),
        ("settings", dict),
        ("workload", str),
        ("protocol", str),
        ("flows", list),
        ("total", dict),
        ("cpu", dict),
    ):
        if not isinstance(doc.get(key), kind):
            raise NcbenchParseError(f"{source}: member {key!r} missing or not a {kind.__name__}")
    if doc["workload"] not in WORKLOADS or doc["protocol"] not in PROTOCOLS:
        raise NcbenchParseError(f"{source}: workload={doc['workload']!r} protocol={doc['protocol']!r}")
    if len(doc["flows"]) != doc["settings"].get("flows"):
        raise NcbenchParseError(f"{source}: {len(doc['flows'])} flows, settings say {doc['settings'].get('flows')}")
    if doc.get("role") == "client" and doc["workload"] != "stream" and not isinstance(doc.get("latency"), dict):
        raise NcbenchParseError(f"{source}: {doc['workload']} client record without latency")
    return doc


def load(path: str | Path) -> Record | dict:
    """A file of either kind: a dict for JSON records, a Record for text."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return parse_json(text, str(path))
    return parse_text(text, str(path))


def summary(rec: Record | dict) -> str:
    """One line: protocol, workload, throughput, rate and p99 where there are some."""
    if isinstance(rec, dict):
        proto, wl, total, lat = rec["protocol"], rec["workload"], rec["total"], rec.get("latency") or {}
        p99 = lat.get("p99_us")
    else:
        proto, wl, total = rec.options["protocol"], rec.options["workload"], rec.results
        p99 = (rec.latency_us or {}).get("p99")
    parts = [f"{proto} {wl}", f"{total['throughput_bps'] / 1e9:.3f} Gbit/s"]
    if "transactions_per_s" in total:
        parts.append(f"{total['transactions_per_s']:.0f} transactions/s")
    if p99 is not None:
        parts.append(f"p99 {p99:g} us")
    return ", ".join(parts)


_DUMP = re.compile(r"^(?:\[\w+\] )?NCVM BENCHOUT ([\w.-]+) ?(.*)$")


def extract_vm_dump(text: str) -> dict[str, str]:
    """{file name: content} from the "NCVM BENCHOUT <file> <line>" lines of a
    run_vm.py --bench-dump console log (tests/vm/bench.sh prints them)."""
    files: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _DUMP.match(line.rstrip("\r"))
        if m:
            files.setdefault(m.group(1), []).append(m.group(2))
    return {name: "\n".join(lines) + "\n" for name, lines in files.items()}
