"""module_src/Makefile: every rule whose recipe reads bash's PIPESTATUS (directly or through
KBUILD_FAIL_ON_WARN) must run under bash. Under make's default /bin/sh (dash) the recipe dies with
"Bad substitution" and the check fails for no reason of its own (sparse did, in a CI run)."""

from __future__ import annotations

import re
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[2] / "module_src" / "Makefile"


def _rules(text: str) -> dict[str, list[str]]:
    """target -> recipe lines (tab-indented lines after a 'target:' line)."""
    rules: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            rules[current].append(line)
            continue
        m = re.match(r"^([A-Za-z0-9_.$()/-]+):(?!=)(?!\s*SHELL\b)", line)
        current = m.group(1) if m else None
        if current is not None:
            rules.setdefault(current, [])
    return rules


def test_rules_that_read_pipestatus_run_under_bash():
    text = MAKEFILE.read_text()
    bash_targets = set(re.findall(r"^([A-Za-z0-9_.-]+): SHELL := /bin/bash$", text, re.M))
    needs_bash = {
        target
        for target, recipe in _rules(text).items()
        if any("PIPESTATUS" in line or "KBUILD_FAIL_ON_WARN" in line for line in recipe)
    }
    assert needs_bash, "no rule reads PIPESTATUS: the parser above found no recipes"
    assert {"module", "sparse", "module-6.12"} <= needs_bash, needs_bash
    missing = sorted(needs_bash - bash_targets)
    assert not missing, f"rules that read PIPESTATUS without 'SHELL := /bin/bash': {missing}"
