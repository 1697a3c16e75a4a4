#!/usr/bin/env python3
"""Find roles and playbooks that reach outside the collection.

A role that reads files by climbing out of itself ({{ role_path }}/../..) or a playbook
that reads or writes next to itself (playbook_dir) works from this checkout only, not
from an installed collection. Exit 1 and name every such line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"role_path\s*\}\}/\.\.|role_path\s*~\s*'/\.\.|playbook_dir")


def findings(root: Path) -> list[str]:
    files = sorted((root / "roles").rglob("*.yml")) + sorted((root / "playbooks").glob("*.yml"))
    files += [p for p in (root / "site.yml",) if p.exists()]
    return [
        f"{p.relative_to(root)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PATTERN.search(line)
    ]


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    bad = findings(root)
    print("\n".join(bad) if bad else "check_escapes: nothing reaches outside the collection")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
