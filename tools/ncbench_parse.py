#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read ncbench's output: the key=value text it prints and its --json record.

The parser itself lives in the collection, plugins/module_utils/netchannel_ncbench.py, so the
experiments stage of an installed collection uses the same code; this file is the command and
keeps the old import name.  The format is described in docs/bench-tool.md.

    python3 tools/ncbench_parse.py FILE...      one summary line per file
    python3 tools/ncbench_parse.py --extract VM_LOG DIR
        write the outputs a run_vm.py --bench-dump console log holds

    >>> rec = ncbench_parse.load("run.txt")     # text or JSON, by content
    >>> rec.options["protocol"], rec.results["throughput_bps"]
    >>> rec.flows[0]["tx_bytes"], rec.latency_us["p99"], rec.cpu["remote"]
"""

from __future__ import annotations

import sys
from pathlib import Path

import collection_utils  # tools/, beside this script

_lib = collection_utils.load("netchannel_ncbench")
NcbenchParseError = _lib.NcbenchParseError
Record = _lib.Record
parse_text = _lib.parse_text
parse_json = _lib.parse_json
load = _lib.load
summary = _lib.summary
extract_vm_dump = _lib.extract_vm_dump
SECTIONS, INTERVAL_COLUMNS, LATENCY_KEYS = _lib.SECTIONS, _lib.INTERVAL_COLUMNS, _lib.LATENCY_KEYS


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: ncbench_parse.py FILE... | --extract VM_LOG DIR", file=sys.stderr)
        return 2
    if argv[0] == "--extract":
        if len(argv) != 3:
            print("usage: ncbench_parse.py --extract VM_LOG DIR", file=sys.stderr)
            return 2
        try:
            files = extract_vm_dump(Path(argv[1]).read_text(encoding="utf-8", errors="replace"))
            Path(argv[2]).mkdir(parents=True, exist_ok=True)
            for name, content in sorted(files.items()):
                (Path(argv[2]) / name).write_text(content, encoding="utf-8")
        except OSError as exc:
            print(f"ncbench_parse: error: {exc}", file=sys.stderr)
            return 1
        if not files:
            print(
                f"ncbench_parse: error: {argv[1]} has no NCVM BENCHOUT lines (want a --bench-dump log)", file=sys.stderr
            )
            return 1
        print(f"{len(files)} files written to {argv[2]}")
        return 0
    rc = 0
    for name in argv:
        try:
            print(f"{name}: {summary(load(name))}")
        except (OSError, NcbenchParseError) as exc:
            print(f"ncbench_parse: error: {exc}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
