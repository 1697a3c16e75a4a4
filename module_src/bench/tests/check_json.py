#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Parse the JSON record test_bench wrote and check every value came through."""

import json
import sys

with open(sys.argv[1], encoding="utf-8") as fh:
    doc = json.load(fh)
want = {
    "plain": "ncbench",
    "tricky": 'quote" backslash\\ nl\n tab\t bell\a del\x7f \u00e9',
    "null": None,
    "neg": -42,
    "big": 2**64 - 1,
    "pi": 3.141592653589793,
    "nan": None,
    "inf": None,
    "yes": True,
    "auto_int": 12,
    "auto_float": 1000,
    "auto_hex": "0x10",
    "auto_nan": "nan",
    "auto_word": "yes",
    "auto_empty": "",
    "auto_lead0": "007",
    "auto_neg": -0.25,
    "auto_dot": "1.",
    "tenth": 0.1,
    "flows": [{"id": 0}, {}],
    "empty": [],
    "nested": {"deeper": {"x": -0.5}},
}
bad = [f"{k}: got {doc.get(k)!r}, want {v!r}" for k, v in want.items() if doc.get(k) != v or k not in doc]
bad += [f"unexpected key {k}" for k in doc if k not in want]
for line in bad:
    print(f"  FAIL json {line}")
print(f"ncbench json: {len(want)} members checked, {len(bad)} wrong")
sys.exit(1 if bad else 0)
